# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bridge_network role's network list, checked and completed before any change."""

from __future__ import annotations

import ipaddress
from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_ifname,
    check_network_name,
    check_no_overlap,
    parse_flags,
    parse_ip,
    parse_mtu,
    parse_subnet,
)

# The only copy of Docker's default network: the roles' default (a null network list) means this.
DOCKER_DEFAULT: dict[str, Any] = {
    "name": "docker0",
    "bridge": "docker0",
    "subnet": "172.17.0.0/16",
    "gateway": "172.17.0.1",
    "mtu": 1500,
    "icc": True,
    "masquerade": True,
    "internal": False,
}
FLAGS = {"icc": True, "masquerade": True, "internal": False}


def normalise_networks(
    networks: list[dict[str, Any]] | None,
    var: str = "bridge_network_networks",
    assigned: dict[str, str] | None = None,
    pending_ok: bool = False,
) -> list[dict[str, Any]]:
    """Complete each network with Docker's defaults; raise naming the variable on bad input.

    ``None`` (the roles' default) is Docker's default network; ``[]`` is no network. A network without
    ``subnet`` takes its subnet from ``assigned`` (chosen on the host from the default pools); with
    ``pending_ok`` one that has none there yet is checked as far as it can be and marked ``pending``.
    """
    assigned = assigned or {}
    if networks is None:
        networks = [DOCKER_DEFAULT]
    if not isinstance(networks, list):
        raise ValidationError(f"{var}: {networks!r} is not a list of networks")
    out: list[dict[str, Any]] = []
    for index, raw in enumerate(networks):
        where = f"{var}[{index}]"
        if not isinstance(raw, dict) or not raw.get("name"):
            raise ValidationError(f"{where}: each network needs a name")
        name = check_network_name(raw["name"], f"{where}.name")
        net: dict[str, Any] = {
            "name": name,
            "bridge": check_ifname(raw.get("bridge") or name, f"{where}.bridge"),
            "mtu": 1500 if raw.get("mtu") is None else parse_mtu(raw["mtu"], f"{where}.mtu"),
            **parse_flags(raw, FLAGS, where),
            "ip_range": raw.get("ip_range"),
            "aux_addresses": dict(raw.get("aux_addresses") or {}),
        }
        pools: list[dict[str, Any]] = []
        value = raw.get("subnet") or assigned.get(name)
        if not value and pending_ok:
            for key in ("gateway", "ip_range", "aux_addresses"):
                if raw.get(key):
                    raise ValidationError(
                        f"{where}.{key} needs {where}.subnet (a subnet from the default pools is chosen on the host)"
                    )
            net["subnet"], net["pending"] = None, True
        else:
            subnet = _subnet(value, f"{where}.subnet", 4)
            net["subnet"] = str(subnet)
            net["gateway"] = _gateway(raw.get("gateway"), subnet, f"{where}.gateway")
            net["gateway_cidr"] = f"{net['gateway']}/{subnet.prefixlen}"
            pools.append({"subnet": net["subnet"], "gateway": net["gateway"]})
            if net["ip_range"]:
                rng = _subnet(net["ip_range"], f"{where}.ip_range", 4)
                if not rng.subnet_of(subnet):
                    raise ValidationError(f"{where}.ip_range: {rng} is not inside the subnet {subnet}")
                pools[0]["ip_range"] = net["ip_range"] = str(rng)
            for aux, value in net["aux_addresses"].items():
                if parse_ip(value, f"{where}.aux_addresses.{aux}") not in subnet:
                    raise ValidationError(f"{where}.aux_addresses.{aux}: {value} is outside the subnet {subnet}")
            if net["aux_addresses"]:
                pools[0]["aux_addresses"] = net["aux_addresses"]
        if raw.get("subnet6"):
            subnet6 = _subnet(raw["subnet6"], f"{where}.subnet6", 6)
            net["subnet6"] = str(subnet6)
            net["gateway6"] = _gateway(raw.get("gateway6"), subnet6, f"{where}.gateway6")
            net["gateway6_cidr"] = f"{net['gateway6']}/{subnet6.prefixlen}"
            pools.append({"subnet": net["subnet6"], "gateway": net["gateway6"]})
        net["pools"] = pools
        net["subnets"] = [p["subnet"] for p in pools]
        net["addresses"] = [net[k] for k in ("gateway_cidr", "gateway6_cidr") if k in net]
        # Ready-made entries for the modules' config lists.
        net["bridge_config"] = {"name": net["bridge"], "addresses": net["addresses"], "mtu": net["mtu"]}
        net["nat_config"] = {
            "network": net["name"],
            "bridge": net["bridge"],
            "subnets": net["subnets"],
            "masquerade": net["masquerade"],
            "icc": net["icc"],
            "internal": net["internal"],
            **parse_flags(raw, {"publish_to_other_networks": False}, where),
        }
        if raw.get("outbound_address"):
            # Docker's host_ipv4: SNAT to this host address instead of masquerading
            outbound = parse_ip(raw["outbound_address"], f"{where}.outbound_address")
            if outbound.version != 4:
                raise ValidationError(f"{where}.outbound_address: {outbound} is not an IPv4 address")
            net["nat_config"]["outbound_address"] = net["outbound_address"] = str(outbound)
        if raw.get("cluster_subnets"):
            # The fleet's other slices: forwarded in and not masqueraded to (the nat module's option).
            net["nat_config"]["cluster_subnets"] = [
                str(parse_subnet(c, f"{where}.cluster_subnets")) for c in raw["cluster_subnets"]
            ]
        if raw.get("dnat_subnets"):
            # Addresses another tool publishes with its own DNAT (the fleet role's CNI block).
            net["nat_config"]["dnat_subnets"] = [
                str(parse_subnet(c, f"{where}.dnat_subnets")) for c in raw["dnat_subnets"]
            ]
        if net.get("pending"):
            # Incomplete until the host has chosen the subnet: nothing may be built from it.
            del net["bridge_config"], net["nat_config"]
        out.append(net)
    _check_distinct(out, var)
    return out


def _subnet(value: Any, where: str, family: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not value:
        raise ValidationError(f"{where} is required")
    net = parse_subnet(value, where, family)
    if net.num_addresses < 4:
        raise ValidationError(f"{where}: {value} is too small for a gateway and containers")
    return net


def _gateway(value: Any, subnet, where: str) -> str:
    if not value:
        return str(next(subnet.hosts()))
    address = parse_ip(value, where)
    if address not in subnet or address in (subnet.network_address, subnet.broadcast_address):
        raise ValidationError(f"{where}: {value} is not a usable address of {subnet}")
    return str(address)


def _check_distinct(networks: list[dict[str, Any]], var: str) -> None:
    for field in ("name", "bridge"):
        seen: set[str] = set()
        for net in networks:
            if net[field] in seen:
                raise ValidationError(f"{var}: two networks have the {field} {net[field]!r}")
            seen.add(net[field])
    check_no_overlap([(net["name"], subnet) for net in networks for subnet in net["subnets"]], var)
