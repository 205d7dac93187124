"""Who made what (issue 10, items 4, 5, 9, 10): without purge nothing of an unlisted container changes
(its published ports keep answering); two definitions applied at once on one host each record their own
containers, and tearing one down leaves the other's namespaces, addresses and ports intact; teardown takes
-e endpoints_purge as a string; a hand-made namespace of a container's name is refused unless
endpoints_force."""

from __future__ import annotations

import json
import threading

from .conftest import run_playbook
from .sitelab import PLAYBOOKS, failures, fetch, netns_list, serve, start_site_lab

PER_DEFINITION = 20


def outside_fetch(site, port: int) -> str:
    address = site.lab.state()["hosts"]["h1"]["address"]
    return fetch(site, "outside", None, address, port)


def test_unlisted_containers_keep_their_ports(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=1, outside=True)
    web = [{"name": "web1", "publish": ["8080:80"]}, {"name": "web2", "publish": ["8081:80"]}]
    site.set_vars({"endpoints_containers": web})
    site.play("site.yml")
    # The servers outlive a site.yml run on a loaded machine; killed at the end.
    pids = [serve(site, "h1", name, 80, f"hello-{name}", seconds=1800) for name in ("web1", "web2")]
    try:
        assert outside_fetch(site, 8080) == "hello-web1" and outside_fetch(site, 8081) == "hello-web2"
        # A list of one new container, without purge: web1 and web2 stay exactly as they are.
        site.set_vars({"endpoints_containers": [{"name": "web3", "publish": ["8082:80"]}]})
        site.play("site.yml")
        assert netns_list(site, "h1") == {"web1", "web2", "web3"}
        rules = site.sh("h1", "nft list ruleset")
        assert all(f"dport {port}" in rules for port in (8080, 8081, 8082)), rules
        assert outside_fetch(site, 8080) == "hello-web1", "web1 lost its published port"
        assert outside_fetch(site, 8081) == "hello-web2", "web2 lost its published port"
    finally:
        site.sh("h1", f"kill {' '.join(pids)}", check=False)


def definition_vars(tmp_path, name: str, first_port: int) -> str:
    containers = [{"name": f"{name}{i:02d}", "publish": [f"{first_port + i}:80"]} for i in range(1, PER_DEFINITION + 1)]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"endpoints_definition": name, "endpoints_containers": containers}))
    return f"@{path}"


def test_two_definitions_at_once_and_teardown_of_one(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=1, outside=True)
    runs = {"teama": definition_vars(tmp_path, "teama", 9000), "teamb": definition_vars(tmp_path, "teamb", 9100)}
    reports: dict[str, dict] = {}

    def apply(name: str) -> None:
        reports[name] = run_playbook(PLAYBOOKS / "site.yml", "-e", runs[name], inventory=site.inv, check=False)

    threads = [threading.Thread(target=apply, args=(name,)) for name in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, report in reports.items():
        assert report["rc"] == 0, f"{name}: {failures(report)} {report['stderr'][-2000:]}"

    a_names = {f"teama{i:02d}" for i in range(1, PER_DEFINITION + 1)}
    b_names = {f"teamb{i:02d}" for i in range(1, PER_DEFINITION + 1)}
    assert netns_list(site, "h1") == a_names | b_names
    store = json.loads(site.sh("h1", "cat /var/lib/netplumb/ipam/docker0.json"))["endpoints"]
    assert set(store) == a_names | b_names
    addresses = [rec["addresses"][0] for rec in store.values()]
    assert len(set(addresses)) == len(addresses), "an address was handed out twice"
    for name in ("teama", "teamb"):
        record = json.loads(site.sh("h1", f"cat /var/lib/netplumb/ipam/definitions/{name}.json"))
        assert set(record["endpoints"]) == (a_names if name == "teama" else b_names)
    b_before = {n: site.sh("h1", f"ip -n {n} -br addr show dev eth0") for n in sorted(b_names)}

    pid = serve(site, "h1", "teamb07", 80, "hello-b07", seconds=1800)
    try:
        assert outside_fetch(site, 9107) == "hello-b07"
        # teama's teardown (with -e endpoints_purge as a string): only teama's containers and ports go.
        down = site.play("teardown.yml", "-e", runs["teama"], "-e", "endpoints_purge=true")
        assert netns_list(site, "h1") == b_names
        assert {n: site.sh("h1", f"ip -n {n} -br addr show dev eth0") for n in sorted(b_names)} == b_before
        store = json.loads(site.sh("h1", "cat /var/lib/netplumb/ipam/docker0.json"))["endpoints"]
        assert set(store) == b_names
        assert outside_fetch(site, 9107) == "hello-b07", "teamb's port went with teama's teardown"
        rules = site.sh("h1", "nft list ruleset")
        assert "dport 9001" not in rules and "dport 9107" in rules
        assert "docker0" in site.sh("h1", "ip -br link show type bridge"), "teamb still uses docker0"
        assert "network docker0 is kept" in down["stderr"] + json.dumps(down.get("plays", []))
    finally:
        site.sh("h1", f"kill {pid}", check=False)

    site.play("teardown.yml", "-e", runs["teamb"])
    assert netns_list(site, "h1") == set()
    assert "docker0" not in site.sh("h1", "ip -br link show type bridge")


def test_a_hand_made_namespace_is_refused_unless_forced(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=1, outside=False)
    site.sh("h1", "ip netns add handmade")
    site.set_vars({"endpoints_containers": [{"name": "ok"}, {"name": "handmade"}]})
    refused = site.play("site.yml", check=False)
    assert refused["rc"] != 0
    assert "handmade" in failures(refused)["h1"], failures(refused)
    assert site.sh("h1", "ip -n handmade -br link").split()[0] == "lo", "nothing was put into it"
    assert not site.sh("h1", "ls /var/lib/netplumb/ipam 2>/dev/null || true").strip(), "no address was handed out"
    # The teardown refuses it as well, and leaves it.
    site.play("teardown.yml", check=False)
    assert "handmade" in netns_list(site, "h1")

    site.play("site.yml", "-e", "endpoints_force=true")
    assert "eth0" in site.sh("h1", "ip -n handmade -br link")


def test_teardown_next_to_a_foreign_bridge_port_removes_its_own_and_keeps_the_bridge(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=1, outside=False)
    site.set_vars({"endpoints_containers": [{"name": "web", "publish": ["8080:80"]}]})
    site.play("site.yml")
    # A port someone else made (as a CNI plugin would): the collection does not own it.
    site.sh("h1", "ip link add fgn0 type veth peer name fgn1 && ip link set fgn0 master docker0")
    down = site.play("teardown.yml")
    assert netns_list(site, "h1") == set()
    assert "dport 8080" not in site.sh("h1", "nft list ruleset"), "the firewall policy goes"
    assert "master docker0" in site.sh("h1", "ip -o link show fgn0"), "the foreign port stays on its bridge"
    assert "bridge docker0 still has ports that netplumb.container does not own (fgn0); kept" in json.dumps(down)
    assert "docker0" in site.lab.links("h1"), "the bridge stays"
    again = site.play("teardown.yml")
    assert again["stats"]["h1"]["failures"] == 0
