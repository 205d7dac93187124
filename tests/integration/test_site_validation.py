"""Bad variables fail site.yml before any change, with a message naming the variable or the container.

One lab host per case, all in one playbook run: each host fails on its own input and its links,
namespaces, routes, firewall and state directory are exactly as before."""

from __future__ import annotations

from .sitelab import refused_before_any_change, start_site_lab

DOCKER0 = {"name": "docker0", "subnet": "172.17.0.0/16"}
CASES = {
    "h1": (
        {"bridge_network_networks": [{"name": "docker0", "subnet": "172.17.0.0/33"}]},
        "bridge_network_networks[0].subnet",
    ),
    "h2": ({"endpoints_containers": [{"name": "a", "networks": ["nope"]}]}, "container a: unknown network 'nope'"),
    "h3": (
        {"endpoints_containers": [{"name": "a", "publish": ["80"]}]},
        "container a: publish '80' is not of the form",
    ),
    "h4": ({"endpoints_containers": [{"name": "a", "mode": "bridged"}]}, "container a: mode 'bridged' is not one of"),
    "h5": ({"endpoints_containers": [{"name": "a"}, {"name": "a"}]}, "container a is listed more than once"),
    "h6": ({"bridge_network_state": "gone"}, "bridge_network_state"),
    "h7": (
        {"bridge_network_networks": [DOCKER0, {"name": "two", "subnet": "172.16.0.0/12"}]},
        "bridge_network_networks: subnets of two (172.16.0.0/12) and docker0 (172.17.0.0/16) overlap",
    ),
    # Network names follow one rule everywhere: refused by the pre-flight, before the bridge exists.
    **{
        f"h{8 + i}": (
            {"bridge_network_networks": [{"name": name, "bridge": "br-bad", "subnet": "172.17.0.0/16"}]},
            f"bridge_network_networks[0].name {name!r} is not allowed",
        )
        for i, name in enumerate(["-web", "a/b", "a b", "nét", "../../../../etc/fz"])
    },
    "h13": (
        {"bridge_network_networks": [{**DOCKER0, "icc": "maybe"}]},
        # The role's argument spec refuses it first; its message names the key and the value too.
        "argument 'icc' is of type str found in 'bridge_network_networks'. and we were unable to convert to bool: "
        "The value 'maybe' is not a valid boolean",
    ),
    "h14": (
        {"bridge_network_networks": [{**DOCKER0, "internal": "sometimes"}]},
        "argument 'internal' is of type str found in 'bridge_network_networks'. and we were unable to convert to "
        "bool: The value 'sometimes' is not a valid boolean",
    ),
    # A fixed address the ipam module would refuse is refused before the bridge exists.
    "h15": (
        {"endpoints_containers": [{"name": "a", "address": "172.17.255.255"}]},
        "network docker0: endpoint a: address 172.17.255.255 is the broadcast address of 172.17.0.0/16",
    ),
    "h16": (
        {"endpoints_containers": [{"name": "a", "address": "172.17.0.0"}]},
        "address 172.17.0.0 is the network address of 172.17.0.0/16",
    ),
}


def test_bad_variables_change_nothing(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=len(CASES), outside=False)
    host_vars = {
        host: {**variables, "endpoints_containers": variables.get("endpoints_containers", [{"name": "ok"}])}
        for host, (variables, _msg) in CASES.items()
    }
    failed = refused_before_any_change(
        site, host_vars, {host: message for host, (_variables, message) in CASES.items()}
    )
    for host in CASES:
        assert "Finalization" not in failed[host] and "filter plugin" not in failed[host], failed[host]
