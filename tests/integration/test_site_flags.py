"""Booleans as they come from -e or quoted YAML ("false", "no") read with Ansible's rules, end to end:
icc "false" isolates containers (real traffic), internal "no" lets them out, -e endpoints_purge=false
keeps unlisted containers, an unreadable boolean is refused naming the variable before any change."""

from __future__ import annotations

from .sitelab import failures, netns_list, start_site_lab

NETWORK = {"name": "iso", "bridge": "br-iso", "subnet": "10.31.0.0/24", "icc": "false", "internal": "no"}


def ping(site, netns: str, address: str) -> bool:
    out = site.lab.sh("h1", f"ip netns exec {netns} ping -c1 -W2 {address}", check=False)
    return out.returncode == 0


def outside_address(site) -> str:
    return site.lab.state()["hosts"]["outside"]["address"]


def test_string_booleans_are_read_with_ansibles_rules(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=1, outside=True)
    outside = outside_address(site)
    site.set_vars({"bridge_network_networks": [NETWORK], "endpoints_containers": [{"name": "a"}, {"name": "b"}]})
    site.play("site.yml")

    assert ping(site, "a", "10.31.0.1"), "a reaches its gateway"
    assert not ping(site, "a", "10.31.0.3"), 'icc "false" must isolate a from b'
    assert ping(site, "a", outside), 'internal "no" is not internal: a reaches the outside host'

    # -e endpoints_purge=false is a string on the command line: it must not purge.
    site.set_vars({"bridge_network_networks": [NETWORK], "endpoints_containers": [{"name": "a"}]})
    site.play("site.yml", "-e", "endpoints_purge=false")
    assert netns_list(site, "h1") == {"a", "b"}, "b was purged although endpoints_purge=false"
    assert ping(site, "b", "10.31.0.1"), "b keeps its link and address"

    # An unreadable boolean is an error naming the variable and the value, and changes nothing.
    before = site.snapshot("h1")
    refused = site.play("site.yml", "-e", "endpoints_purge=maybe", check=False)
    assert refused["rc"] != 0
    message = failures(refused)["h1"]
    assert "endpoints_purge" in message and "maybe" in message, message
    assert "Finalization" not in message and "filter plugin" not in message, message
    assert site.snapshot("h1") == before

    # -e endpoints_purge=true (a string too) purges.
    site.play("site.yml", "-e", "endpoints_purge=true")
    assert netns_list(site, "h1") == {"a"}
