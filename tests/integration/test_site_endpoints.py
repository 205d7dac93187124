"""The endpoints role through site.yml: scale (250 containers, a constant number of tasks), purge,
container:<name> mode, and containers on several networks."""

from __future__ import annotations

import ipaddress
import json
import time

from .conftest import run_playbook
from .sitelab import changed_tasks, default_route, failures, host_tasks, link, netns_list, start_site_lab

MANY = 250


def test_250_endpoints_in_one_run_with_as_many_tasks_as_3(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=2, outside=False)
    names = [f"c{i:03d}" for i in range(1, MANY + 1)]
    site.set_vars(
        {},
        {
            "h1": {"endpoints_containers": [{"name": n} for n in names[:3]]},
            "h2": {"endpoints_containers": [{"name": n} for n in names]},
        },
    )
    start = time.monotonic()
    report = site.play("site.yml")
    seconds = time.monotonic() - start
    print(f"site.yml: 3 containers on h1 and {MANY} on h2 in one run: {seconds:.1f} s")

    # The same tasks per host (a run_once task reports on h1 only) and no more for 250 containers than for 3.
    assert host_tasks(report, "h2", play_once=False) == host_tasks(report, "h1", play_once=False)
    once = len(host_tasks(report, "h1")) - len(host_tasks(report, "h1", play_once=False))
    assert report["stats"]["h2"] == {**report["stats"]["h1"], "ok": report["stats"]["h1"]["ok"] - once}
    assert netns_list(site, "h2") == set(names)
    # Every container's eth0, in one pass inside the host: "name address mac".
    out = site.sh(
        "h2",
        "for n in $(ip netns list | cut -d' ' -f1); do echo $n "
        "$(ip -n $n -o -4 addr show dev eth0 | awk '{print $4}') $(ip -n $n -br link show dev eth0 | awk '{print $3}');"
        " done",
    )
    seen = {line.split()[0]: tuple(line.split()[1:]) for line in out.splitlines()}
    first = ipaddress.ip_address("172.17.0.2")
    expected = {
        n: (f"{first + i}/16", "02:42:" + ":".join(f"{b:02x}" for b in (first + i).packed)) for i, n in enumerate(names)
    }
    assert seen == expected
    bridge_ports = site.sh("h2", "ip -br link show master docker0").splitlines()
    assert len(bridge_ports) == MANY


def owned_netns_playbook(tmp_path, name: str):
    """A namespace made by the netns module, outside the roles: purge must keep it."""
    path = tmp_path / "other.yml"
    path.write_text(
        json.dumps(
            [
                {
                    "name": "A namespace of the collection, not of the endpoints role",
                    "hosts": "h1",
                    "gather_facts": False,
                    "tasks": [{"name": "Make it", "netplumb.container.netns": {"config": [{"name": name}]}}],
                }
            ]
        )
    )
    return path


def test_purge_container_mode_and_several_networks(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=1, outside=False)
    networks = [
        {"name": "docker0", "subnet": "172.17.0.0/16", "gateway": "172.17.0.1"},
        {"name": "two", "bridge": "br-two", "subnet": "172.20.0.0/24"},
    ]
    a = {"name": "a", "networks": ["docker0", "two"]}
    b, c, s = {"name": "b"}, {"name": "c"}, {"name": "s", "mode": "container:a"}
    site.set_vars({"bridge_network_networks": networks, "endpoints_containers": [a, b, c, s]})
    site.sh("h1", "ip netns add handmade")
    run_playbook(owned_netns_playbook(tmp_path, "other"), inventory=site.inv)

    site.play("site.yml")
    assert netns_list(site, "h1") == {"a", "b", "c", "handmade", "other"}, "container:a makes no namespace"
    # a on two networks: eth0 and eth1, the default route via the first network's gateway.
    a_eth0, a_eth1 = link(site, "h1", "a", "eth0"), link(site, "h1", "a", "eth1")
    assert a_eth0["addresses"] == ["172.17.0.2/16"] and a_eth1["addresses"] == ["172.20.0.2/24"]
    assert default_route(site, "h1", "a") == "172.17.0.1 dev eth0"
    site.sh("h1", "ip netns exec a ping -c1 -W2 172.20.0.1 && ip netns exec a ping -c1 -W2 172.17.0.3")
    kept = {name: link(site, "h1", name, "eth0") for name in ("a", "c")}
    b_host_end = site.sh("h1", "ip -br link show master docker0 | cut -d@ -f1").split()
    assert len(b_host_end) == 3  # a, b, c on docker0
    before_b = set(b_host_end)

    # Removing the owner while its sharer stays is refused before anything changes.
    site.set_vars({"bridge_network_networks": networks, "endpoints_containers": [b, c, s], "endpoints_purge": True})
    snapshot = site.snapshot("h1")
    refused = site.play("site.yml", check=False)
    assert "container s shares the namespace of a, which is not listed" in failures(refused)["h1"]
    assert site.snapshot("h1") == snapshot

    # Purge: b goes (namespace, veth, address); a and c stay as they were; others' namespaces stay.
    site.set_vars({"bridge_network_networks": networks, "endpoints_containers": [a, c, s], "endpoints_purge": True})
    purged = site.play("site.yml")
    assert changed_tasks(purged, "h1")
    assert netns_list(site, "h1") == {"a", "c", "handmade", "other"}
    assert {name: link(site, "h1", name, "eth0") for name in ("a", "c")} == kept
    ports = set(site.sh("h1", "ip -br link show master docker0 | cut -d@ -f1").split())
    assert len(ports) == 2 and ports < before_b
    store = json.loads(site.sh("h1", "cat /var/lib/netplumb/ipam/docker0.json"))
    assert set(store["endpoints"]) == {"a", "c"}, "b's address is released"
    record = json.loads(site.sh("h1", "cat /var/lib/netplumb/ipam/definitions/default.json"))
    assert sorted(record["endpoints"]) == ["a", "c", "s"]
    assert record["endpoints"]["s"] == {"mode": "container", "networks": []}

    again = site.play("site.yml")
    assert again["stats"]["h1"]["changed"] == 0, changed_tasks(again, "h1")


def test_absent_withdraws_only_the_removed_containers_ports_and_teardown_removes_the_rest(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=1, outside=False)
    before = site.snapshot("h1")
    both = [{"name": "web1", "publish": ["8080:80"]}, {"name": "web2", "publish": ["8081:80"]}]
    site.set_vars({"endpoints_containers": both})
    site.play("site.yml")
    rules = site.sh("h1", "nft list ruleset")
    assert "8080" in rules and "8081" in rules

    site.set_vars({"endpoints_containers": both[:1], "endpoints_state": "absent"})
    site.play("site.yml")
    rules = site.sh("h1", "nft list ruleset")
    assert "8080" not in rules, "web1's port stays published after web1 was removed"
    assert "8081" in rules, "removing web1 withdrew web2's port too"
    assert netns_list(site, "h1") == {"web2"}

    # web2 is no longer listed anywhere, but it is recorded: teardown removes it too.
    site.set_vars({"endpoints_containers": []})
    site.play("teardown.yml")
    after = site.snapshot("h1")
    for key in before:
        assert after[key] == before[key], f"{key} differs after teardown"
