"""Default address pools end to end on a lab: networks without a subnet get Docker's next free /16 on the
host, avoiding a route added by hand; check mode writes nothing; a second run keeps them (no change);
exhausted pools fail naming the variable before any change; absent removes the bridges and the records."""

from __future__ import annotations

import json

from .sitelab import changed_tasks, failures, start_site_lab

PLAYBOOK = """\
- name: The bridge_network role alone
  hosts: lab_hosts
  gather_facts: false
  roles:
    - role: netplumb.container.bridge_network
"""
NETWORKS = [{"name": "pool-a", "bridge": "br-pa"}, {"name": "pool-b", "bridge": "br-pb", "mtu": "1400"}]
RECORD = "/var/lib/netplumb/ipam/_default_pools.json"


def bridge_addresses(site, host: str) -> dict[str, list[str]]:
    out = {}
    for bridge in ("br-pa", "br-pb"):
        shown = site.sh(host, f"ip -j -4 addr show dev {bridge}", check=False).strip()
        data = json.loads(shown)[0] if shown else {"addr_info": []}
        out[bridge] = [f"{a['local']}/{a['prefixlen']}" for a in data["addr_info"]]
    return out


def test_networks_without_subnet(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=2, outside=False)
    playbook = tmp_path / "pools.yml"
    playbook.write_text(PLAYBOOK)
    # h2 already routes 172.17.0.0/16 (as if docker0 or a VPN had it): its first network skips it.
    site.sh("h2", "ip route add blackhole 172.17.0.0/16")
    site.set_vars({"bridge_network_networks": NETWORKS})

    checked = site.play(str(playbook), "--check")
    assert checked["rc"] == 0, failures(checked)
    for host in ("h1", "h2"):
        assert site.sh(host, f"test -e {RECORD} && echo yes || echo no").strip() == "no", host
        assert bridge_addresses(site, host) == {"br-pa": [], "br-pb": []}, host

    first = site.play(str(playbook))
    assert first["rc"] == 0, failures(first)
    assert bridge_addresses(site, "h1") == {"br-pa": ["172.17.0.1/16"], "br-pb": ["172.18.0.1/16"]}
    assert bridge_addresses(site, "h2") == {"br-pa": ["172.18.0.1/16"], "br-pb": ["172.19.0.1/16"]}
    assert "mtu 1400" in site.sh("h1", "ip link show br-pb")
    assert "ip saddr 172.18.0.0/16" in site.sh("h1", "nft list ruleset") + site.sh("h1", "iptables-save")
    record = json.loads(site.sh("h2", f"cat {RECORD}"))
    assert record["subnets"] == {"pool-a": "172.18.0.0/16", "pool-b": "172.19.0.0/16"}

    # Their own routes exist now, and h2's hand-made route is gone: nothing moves.
    site.sh("h2", "ip route del blackhole 172.17.0.0/16")
    second = site.play(str(playbook))
    assert second["rc"] == 0, failures(second)
    for host in ("h1", "h2"):
        assert changed_tasks(second, host) == [], host
    assert bridge_addresses(site, "h2") == {"br-pa": ["172.18.0.1/16"], "br-pb": ["172.19.0.1/16"]}

    # A third network when the only pool is routed already: refused naming the variable, nothing changed.
    site.sh("h1", "ip route add blackhole 10.77.0.0/24")
    before = site.snapshot("h1")
    site.set_vars(
        {
            "bridge_network_networks": [*NETWORKS, {"name": "pool-c", "bridge": "br-pc"}],
            "bridge_network_default_pools": [{"base": "10.77.0.0/24", "size": 24}],
        }
    )
    refused = site.play(str(playbook), "--limit", "h1", check=False)
    assert refused["rc"] != 0
    message = failures(refused)["h1"]
    assert "bridge_network_default_pools" in message and "pool-c" in message and "10.77.0.0/24" in message, message
    assert site.snapshot("h1") == before

    site.set_vars({"bridge_network_networks": NETWORKS, "bridge_network_state": "absent"})
    gone = site.play(str(playbook))
    assert gone["rc"] == 0, failures(gone)
    for host in ("h1", "h2"):
        assert bridge_addresses(site, host) == {"br-pa": [], "br-pb": []}, host
        assert "172.1" not in site.sh(host, "ip route"), host
        # their subnets went back to the pools: no record, and the state directory is gone with the stores
        assert site.sh(host, "test -e /var/lib/netplumb && echo left || echo gone").strip() == "gone", host
