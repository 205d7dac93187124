"""The main job end to end on a lab of its own: site.yml with the example variables, verify.yml, a second
site.yml (no change), teardown.yml (the hosts as they were, and again no change); Docker parity on the
default network with both firewall backends (h1 nftables, h2 iptables)."""

from __future__ import annotations

import re

import yaml

from .conftest import REPO, task_results
from .sitelab import changed_tasks, default_route, link, netns_list, start_site_lab

EXAMPLE = yaml.safe_load((REPO / "inventories" / "lab" / "group_vars" / "lab_hosts.yml").read_text())
BACKENDS = {"h1": "nftables", "h2": "iptables"}
NAMESPACES = {"web", "api", "db", "worker", "batch"}  # bridge and none; host and container:web have none


def assert_docker_parity(site, host: str) -> None:
    """Docker's default network, as `docker run` shows it for the first container (web)."""
    assert link(site, host, "web", "eth0") == {
        "mac": "02:42:ac:11:00:02",
        "mtu": 1500,
        "addresses": ["172.17.0.2/16"],
    }
    assert default_route(site, host, "web") == "172.17.0.1 dev eth0"
    bridge = site.sh(host, "ip -br -4 addr show dev docker0").split()
    assert bridge[0] == "docker0" and bridge[2:] == ["172.17.0.1/16"]
    assert "master docker0" in site.sh(host, "ip -br link show master docker0 && ip -o link show master docker0")
    # api joins docker0 then backend: eth0 and eth1, default route via the first network only.
    api0, api1 = link(site, host, "api", "eth0"), link(site, host, "api", "eth1")
    assert api0["addresses"] == ["172.17.0.3/16"] and api0["mac"] == "02:42:ac:11:00:03"
    assert api1["addresses"] == ["172.18.0.2/24"] and api1["mac"] == "02:42:ac:12:00:02"
    assert default_route(site, host, "api") == "172.17.0.1 dev eth0"
    # mode none: only lo.
    assert site.sh(host, "ip -n batch -br link").split()[0] == "lo"
    assert len(site.sh(host, "ip -n batch -br link").splitlines()) == 1


def assert_firewall(site, host: str, backend: str) -> None:
    nft = site.sh(host, "nft list ruleset")
    ipt = site.sh(host, "iptables-save")
    if backend == "nftables":
        assert re.search(r'ip saddr 172\.17\.0\.0/16 oifname != "docker0" masquerade', nft)
        assert re.search(r"tcp dport 8080 dnat ip to 172\.17\.0\.2:80", nft)
        assert re.search(r"ip daddr 127\.0\.0\.1 tcp dport 9090 dnat ip to 172\.17\.0\.3:9090", nft)
        assert re.search(r"udp dport 5353 dnat ip to 172\.17\.0\.3:53", nft)
        assert "NETPLUMB" not in ipt
    else:
        assert '-A POSTROUTING -m comment --comment "netplumb.container" -j NETPLUMB-POSTROUTING' in ipt
        assert re.search(r"^-A NETPLUMB-POSTROUTING -s 172\.17\.0\.0/16 ! -o docker0 .*-j MASQUERADE$", ipt, re.M)
        assert re.search(r"^-A PREROUTING -m addrtype --dst-type LOCAL .*-j NETPLUMB$", ipt, re.M)
        assert re.search(
            r"^-A NETPLUMB -p tcp -m tcp --dport 8080 .*-j DNAT --to-destination 172\.17\.0\.2:80$", ipt, re.M
        )
        assert "table inet netplumb" not in nft


def test_site_verify_idempotent_teardown(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=2)
    hosts = sorted(BACKENDS)
    site.set_vars(EXAMPLE, {h: {"bridge_network_firewall_backend": b} for h, b in BACKENDS.items()})
    before = {host: site.snapshot(host) for host in hosts}

    first = site.play("site.yml")
    for host in hosts:
        assert changed_tasks(first, host), host
        assert netns_list(site, host) >= NAMESPACES and not {"agent", "web-sidecar"} & netns_list(site, host)
        assert_docker_parity(site, host)
        assert_firewall(site, host, BACKENDS[host])

    verify = site.play("verify.yml")
    rows = task_results(verify, "Print it")["localhost"]["msg"]
    assert rows and all(row.endswith(" ok") for row in rows), rows
    for host in hosts:
        mine = [row for row in rows if row.startswith(host)]
        assert sum("blocked  ok" in row for row in mine) >= 6, "icc=false on backend and isolation block paths"
        assert any("outside (masquerade)" in row and "reached" in row for row in mine)
        assert any(row.startswith("outside") and f"{host}:8080 -> web:80" in row and "reached" in row for row in rows)

    second = site.play("site.yml")
    assert second["stats"][hosts[0]]["changed"] == 0 and second["stats"][hosts[1]]["changed"] == 0
    assert not changed_tasks(second, hosts[0]) and not changed_tasks(second, hosts[1])

    # verify.yml fails when an expected path breaks: web's link down on h1.
    site.sh("h1", "ip -n web link set eth0 down")
    broken = site.play("verify.yml", check=False)
    assert broken["rc"] != 0
    unexpected = task_results(broken, "Every path is as expected")["localhost"]["msg"]
    assert re.search(r"h1\s+web\s+-> gateway docker0", unexpected) and not re.search(r"h2\s+\w", unexpected), unexpected

    site.play("teardown.yml")
    for host in hosts:
        after = site.snapshot(host)
        for key in before[host]:
            assert after[key] == before[host][key], f"{host}: {key} differs after teardown"

    again = site.play("teardown.yml")
    for host in hosts:
        assert again["stats"][host]["changed"] == 0, changed_tasks(again, host)
