# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bridge_network role's network list, checked and completed before any change."""

from __future__ import annotations

import ipaddress
from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._validate import check_ifname, parse_subnet

DOCKER_DEFAULT = {
    "name": "docker0",
    "bridge": "docker0",
    "subnet": "172.17.0.0/16",
    "gateway": "172.17.0.1",
    "mtu": 1500,
    "icc": True,
    "masquerade": True,
    "internal": False,
}


def normalise_networks(networks: list[dict[str, Any]], var: str = "bridge_network_networks") -> list[dict[str, Any]]:
    """Complete each network with Docker's defaults; raise naming the variable on bad input."""
    out: list[dict[str, Any]] = []
    for index, raw in enumerate(networks or []):
        where = f"{var}[{index}]"
        if not isinstance(raw, dict) or not raw.get("name"):
            raise ValidationError(f"{where}: each network needs a name")
        net = {
            "name": str(raw["name"]),
            "bridge": str(raw.get("bridge") or raw["name"]),
            "mtu": int(raw.get("mtu") or 1500),
            "icc": bool(raw.get("icc", True)),
            "masquerade": bool(raw.get("masquerade", True)),
            "internal": bool(raw.get("internal", False)),
            "ip_range": raw.get("ip_range"),
            "aux_addresses": dict(raw.get("aux_addresses") or {}),
        }
        check_ifname(net["bridge"], f"{where}.bridge")
        if not 68 <= net["mtu"] <= 65535:
            raise ValidationError(f"{where}.mtu: {net['mtu']} is outside 68-65535")
        subnet = _subnet(raw.get("subnet"), f"{where}.subnet", 4)
        net["subnet"] = str(subnet)
        net["gateway"] = _gateway(raw.get("gateway"), subnet, f"{where}.gateway")
        net["gateway_cidr"] = f"{net['gateway']}/{subnet.prefixlen}"
        pools = [{"subnet": net["subnet"], "gateway": net["gateway"]}]
        if net["ip_range"]:
            rng = _subnet(net["ip_range"], f"{where}.ip_range", 4)
            if not rng.subnet_of(subnet):
                raise ValidationError(f"{where}.ip_range: {rng} is not inside the subnet {subnet}")
            pools[0]["ip_range"] = str(rng)
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
        net["addresses"] = [net["gateway_cidr"]] + ([net["gateway6_cidr"]] if raw.get("subnet6") else [])
        # Ready-made entries for the modules' config lists.
        net["bridge_config"] = {"name": net["bridge"], "addresses": net["addresses"], "mtu": net["mtu"]}
        net["nat_config"] = {
            "network": net["name"],
            "bridge": net["bridge"],
            "subnets": net["subnets"],
            "masquerade": net["masquerade"],
            "icc": net["icc"],
            "internal": net["internal"],
        }
        if raw.get("cluster_subnets"):
            # The fleet's other slices: forwarded in and not masqueraded to (the nat module's option).
            net["nat_config"]["cluster_subnets"] = [
                str(parse_subnet(c, f"{where}.cluster_subnets")) for c in raw["cluster_subnets"]
            ]
        out.append(net)
    _check_distinct(out, var)
    return out


def _subnet(value: Any, where: str, family: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not value:
        raise ValidationError(f"{where} is required")
    try:
        net = ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        raise ValidationError(f"{where}: {value!r} is not a subnet in CIDR form ({exc})") from None
    if net.version != family:
        raise ValidationError(f"{where}: {value} is not an IPv{family} subnet")
    if net.num_addresses < 4:
        raise ValidationError(f"{where}: {value} is too small for a gateway and containers")
    return net


def _gateway(value: Any, subnet, where: str) -> str:
    if not value:
        return str(next(subnet.hosts()))
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError:
        raise ValidationError(f"{where}: {value!r} is not an IP address") from None
    if address not in subnet or address in (subnet.network_address, subnet.broadcast_address):
        raise ValidationError(f"{where}: {value} is not a usable address of {subnet}")
    return str(address)


def _check_distinct(networks: list[dict[str, Any]], var: str) -> None:
    for i, a in enumerate(networks):
        for b in networks[i + 1 :]:
            for field in ("name", "bridge"):
                if a[field] == b[field]:
                    raise ValidationError(f"{var}: two networks have the {field} {a[field]!r}")
            for sa in a["subnets"]:
                for sb in b["subnets"]:
                    na, nb = ipaddress.ip_network(sa), ipaddress.ip_network(sb)
                    if na.version == nb.version and na.overlaps(nb):
                        raise ValidationError(f"{var}: subnets of {a['name']} ({sa}) and {b['name']} ({sb}) overlap")
