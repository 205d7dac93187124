"""Networks without a subnet through site.yml, verify.yml and teardown.yml on a lab host, like Docker's `docker network
create x` without --subnet: two such networks get different slices of the default pools (the first one,
covered by a route added by hand, is skipped), containers get addresses in them and reach their gateway,
check mode changes nothing, a rerun changes nothing, and teardown leaves nothing behind. What needs the subnet
before the run (a fixed container address), a bad pool and a bad boolean are refused before any change."""

from __future__ import annotations

import json

from .conftest import task_results
from .sitelab import changed_tasks, failures, link, netns_list, refused_before_any_change, start_site_lab

RECORD = "/var/lib/netplumb/ipam/_default_pools.json"
NETWORKS = [
    # strings where booleans belong, read with Ansible's rules
    {"name": "pool-a", "bridge": "br-pa", "icc": "yes"},
    {"name": "pool-b", "bridge": "br-pb", "internal": "no", "masquerade": "false"},
]
CONTAINERS = [
    {"name": "pa1", "networks": ["pool-a"]},
    {"name": "pb1", "networks": ["pool-b"]},
    {"name": "pab", "networks": ["pool-a", "pool-b"]},
]


def bridge_address(site, bridge: str) -> list[str]:
    shown = site.sh("h1", f"ip -j -4 addr show dev {bridge}", check=False).strip()
    data = json.loads(shown)[0] if shown else {"addr_info": []}
    return [f"{a['local']}/{a['prefixlen']}" for a in data["addr_info"]]


def ping(site, netns: str, address: str) -> bool:
    out = site.lab.sh("h1", f"ip netns exec {netns} ping -c 2 -W 5 {address}", check=False)
    return out.returncode == 0


def test_site_networks_without_subnet(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=1, outside=False)
    before = site.snapshot("h1")
    # As if a VPN (or a Docker daemon) had 172.17.0.0/16: the first Docker pool is skipped.
    site.sh("h1", "ip route add blackhole 172.17.0.0/16")
    site.set_vars({"bridge_network_networks": NETWORKS, "endpoints_containers": CONTAINERS, "endpoints_purge": "no"})
    routed = site.snapshot("h1")

    checked = site.play("site.yml", "--check", "--diff")
    assert checked["rc"] == 0, failures(checked)
    assert site.snapshot("h1") == routed
    chosen = task_results(checked, "Choose subnets from the default pools for the networks without one")["h1"]
    assert chosen["subnets"] == {"pool-a": "172.18.0.0/16", "pool-b": "172.19.0.0/16"}
    assert chosen["diff"]["after"] == chosen["subnets"] and chosen["diff"]["before"] == {}
    # the containers' addresses are planned in the chosen subnets, not handed out
    planned = task_results(checked, "Addresses on every network, and the record of this definition")["h1"]
    assert planned["changed"] and planned["allocations"]["pool-b"]["pb1"]["addresses"] == ["172.19.0.2/16"]

    first = site.play("site.yml")
    assert first["rc"] == 0, failures(first)
    assert bridge_address(site, "br-pa") == ["172.18.0.1/16"]
    assert bridge_address(site, "br-pb") == ["172.19.0.1/16"]
    assert json.loads(site.sh("h1", f"cat {RECORD}"))["subnets"] == {
        "pool-a": "172.18.0.0/16",
        "pool-b": "172.19.0.0/16",
    }
    assert netns_list(site, "h1") >= {"pa1", "pb1", "pab"}
    assert link(site, "h1", "pa1", "eth0")["addresses"] == ["172.18.0.2/16"]
    assert link(site, "h1", "pb1", "eth0")["addresses"] == ["172.19.0.2/16"]
    assert link(site, "h1", "pab", "eth0")["addresses"] == ["172.18.0.3/16"]
    assert link(site, "h1", "pab", "eth1")["addresses"] == ["172.19.0.3/16"]
    assert ping(site, "pa1", "172.18.0.1") and ping(site, "pb1", "172.19.0.1") and ping(site, "pab", "172.19.0.1")
    assert ping(site, "pa1", "172.18.0.3")  # icc "yes"
    # pool-a masquerades its chosen subnet; pool-b's masquerade is the string "false"
    firewall = site.sh("h1", "nft list ruleset")
    assert 'ip saddr 172.18.0.0/16 oifname != "br-pa" masquerade' in firewall, firewall
    assert "172.19.0.0/16" not in firewall, firewall
    # verify.yml finds the chosen subnets on the host: every path as expected
    verify = site.play("verify.yml")
    rows = task_results(verify, "Print it")["localhost"]["msg"]
    assert any("gateway pool-b" in row for row in rows) and all(row.endswith(" ok") for row in rows), rows

    # The hand-made route goes: the networks keep their subnets (recorded), so nothing changes.
    site.sh("h1", "ip route del blackhole 172.17.0.0/16")
    for args in (("--check", "--diff"), ()):
        again = site.play("site.yml", *args)
        assert again["rc"] == 0, failures(again)
        assert again["stats"]["h1"]["changed"] == 0, (args, changed_tasks(again, "h1"))
    assert bridge_address(site, "br-pa") == ["172.18.0.1/16"]
    assert ping(site, "pab", "172.18.0.1")

    site.play("teardown.yml")
    assert site.snapshot("h1") == before
    again = site.play("teardown.yml")
    assert again["stats"]["h1"]["changed"] == 0, changed_tasks(again, "h1")


POOL_A = {"name": "pool-a", "bridge": "br-pa"}
CASES = {
    # Docker: "user specified IP address is supported only when connecting to networks with user configured subnets"
    "h1": (
        {"endpoints_containers": [{"name": "c1", "networks": ["pool-a"], "address": "172.17.0.9"}]},
        "container c1: address 172.17.0.9 on network pool-a: user specified IP address is supported only when "
        "connecting to networks with user configured subnets",
    ),
    "h2": (
        {"bridge_network_default_pools": [{"base": "10.99.0.1/16", "size": 24}]},
        "bridge_network_default_pools[0].base '10.99.0.1/16' is not a valid subnet",
    ),
    "h3": (
        {"bridge_network_default_pools": [{"base": "10.99.0.0/16", "size": 8}]},
        "bridge_network_default_pools[0].size: 8 is out of range (16-30)",
    ),
    "h4": (
        {"bridge_network_networks": [{**POOL_A, "masquerade": "maybe"}]},
        "The value 'maybe' is not a valid boolean",
    ),
    "h5": (
        {"bridge_network_networks": [{**POOL_A, "gateway": "172.17.0.1"}]},
        "bridge_network_networks[0].gateway needs bridge_network_networks[0].subnet",
    ),
    # The containers' networks are not the bridge_network role's: nothing would choose this one's subnet.
    "h6": (
        {"endpoints_networks": [{"name": "other", "bridge": "br-ot"}]},
        "endpoints_networks: network other has no subnet, and no subnet is chosen for it on the host",
    ),
}


def test_site_refuses_what_needs_a_subnet_before_any_change(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=len(CASES), outside=False)
    host_vars = {
        host: {
            "bridge_network_networks": [POOL_A],
            "endpoints_containers": [
                {"name": "ok", "networks": [(variables.get("endpoints_networks") or [POOL_A])[0]["name"]]}
            ],
            **variables,
        }
        for host, (variables, _message) in CASES.items()
    }
    refused_before_any_change(site, host_vars, {host: message for host, (_variables, message) in CASES.items()})
