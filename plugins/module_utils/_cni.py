# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CNI on the fleet's slices: the variables, the address split and the network configuration list (pure).

The slice is split in two so that the collection's IPAM and CNI's host-local never hand out the same
address: the collection's network keeps the lower half (its ``ip_range``; the gateway is the slice's
first address), CNI's host-local takes the last block of ``/fleet_cni_prefix`` (by default the upper
half), without the slice's broadcast address. CNI's ``bridge`` plugin attaches to the fleet bridge,
whose gateway address it finds there already; ``ipMasq`` stays off, because the collection's
masquerade already covers the whole slice and exempts the cluster range (cross-host traffic keeps
its real source address), and a second masquerade would hide it.
"""

from __future__ import annotations

import ipaddress
import json
import os
from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_abs_path,
    check_network_name,
    parse_bool,
    parse_int,
)

CNI_VERSION = "1.0.0"
# A top-level key the CNI libraries ignore; it proves that the collection wrote the file.
OWNER_KEY = "netplumb.container"
OWNER_VALUE = "fleet role (fleet_cni); edits are overwritten"
SUFFIX = ".conflist"
DEFAULTS = {"fleet_cni": False, "fleet_cni_dir": "/etc/cni/net.d", "fleet_cni_name": "netplumb-fleet"}


def parse_cni_vars(raw: dict[str, Any], host: str, host_prefix: int) -> dict[str, Any]:
    """One host's fleet_cni_* variables, checked; the message names the variable and the value."""
    where = f"fleet on {host}: "
    try:
        enabled = parse_bool(raw.get("fleet_cni"), "fleet_cni", DEFAULTS["fleet_cni"])
        folder = raw.get("fleet_cni_dir") or DEFAULTS["fleet_cni_dir"]
        check_abs_path(folder, "fleet_cni_dir")
        name = check_network_name(raw.get("fleet_cni_name") or DEFAULTS["fleet_cni_name"], "fleet_cni_name")
        value = raw.get("fleet_cni_prefix")
        # Above the slice's prefix (CNI gets at most half), at most /30 (two usable addresses).
        prefix = host_prefix + 1 if value in (None, "") else parse_int(value, "fleet_cni_prefix", host_prefix + 1, 30)
    except ValidationError as exc:
        raise ValidationError(where + exc.msg) from None
    if host_prefix + 1 > 30:
        if enabled:
            raise ValidationError(
                f"{where}fleet_cni needs slices of /29 or larger to share with CNI; fleet_host_prefix is {host_prefix}"
            )
        prefix = 30
    return {
        "host": host,
        "enabled": enabled,
        "dir": os.path.normpath(folder),
        "name": name,
        "prefix": prefix,
        "path": os.path.join(os.path.normpath(folder), name + SUFFIX),
    }


def split(subnet: str, prefix: int) -> dict[str, str]:
    """The slice's addresses: the collection's ip_range (lower half) and CNI's block and range (the last /prefix)."""
    net = ipaddress.ip_network(subnet)
    if net.version != 4 or not net.prefixlen < prefix <= 30:
        raise ValidationError(f"fleet_cni_prefix {prefix} must be longer than the slice {subnet} and at most 30")
    lower = next(net.subnets(new_prefix=net.prefixlen + 1))
    block = ipaddress.ip_network(f"{net.broadcast_address}/{prefix}", strict=False)
    return {
        "ip_range": str(lower),
        "cni_block": str(block),
        "range_start": str(block.network_address),
        "range_end": str(net.broadcast_address - 1),
        "gateway": str(net.network_address + 1),
    }


def conflist(settings: dict[str, Any], subnet: str, bridge: str, mtu: int | None) -> dict[str, Any]:
    """The network configuration list of one host: bridge + host-local on the slice, portmap, loopback."""
    parts = split(subnet, settings["prefix"])
    bridge_conf: dict[str, Any] = {
        "type": "bridge",
        "bridge": bridge,
        "isGateway": True,
        "ipMasq": False,
        "hairpinMode": True,
        "ipam": {
            "type": "host-local",
            "ranges": [
                [
                    {
                        "subnet": subnet,
                        "rangeStart": parts["range_start"],
                        "rangeEnd": parts["range_end"],
                        "gateway": parts["gateway"],
                    }
                ]
            ],
            "routes": [{"dst": "0.0.0.0/0", "gw": parts["gateway"]}],
        },
    }
    if mtu is not None:
        bridge_conf["mtu"] = mtu
    return {
        "cniVersion": CNI_VERSION,
        "name": settings["name"],
        OWNER_KEY: OWNER_VALUE,
        "plugins": [
            bridge_conf,
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
            {"type": "loopback"},
        ],
    }


def host_cni(settings: dict[str, Any], host_plan: dict[str, Any]) -> dict[str, Any]:
    """What the role does for CNI on one host, from its fleet plan.

    ``network`` is the slice network for bridge_network (with the ip_range and the DNAT-reachable
    block when CNI is on); ``write`` the conflist to write (a member with fleet_cni), ``remove`` whether
    the collection's file goes (the host leaves the fleet)."""
    network = host_plan.get("network")
    out: dict[str, Any] = {
        "enabled": settings["enabled"],
        "path": settings["path"],
        "dir": settings["dir"],
        "network": network,
        "conflist": None,
        "split": None,
        "write": False,
        "remove": settings["enabled"] and not host_plan.get("member"),
    }
    if not settings["enabled"] or not host_plan.get("member"):
        return out
    if not network:
        # fleet_docker: Docker's own IPAM holds docker0, and host-local's half of the slice is not kept from it.
        raise ValidationError(
            f"fleet on {settings['host']}: fleet_cni needs the slice network that the collection makes on "
            "fleet_bridge; it cannot be combined with fleet_docker (Docker owns that bridge and its addresses)"
        )
    parts = split(network["subnet"], settings["prefix"])
    out["split"] = parts
    out["network"] = dict(network, ip_range=parts["ip_range"], dnat_subnets=[parts["cni_block"]])
    out["conflist"] = conflist(settings, network["subnet"], network["bridge"], host_plan.get("mtu"))
    out["write"] = True
    return out


def owned(text: str | None) -> bool:
    """The file's content carries the collection's mark (the only file teardown removes)."""
    try:
        data = json.loads(text or "")
    except ValueError:
        return False
    return isinstance(data, dict) and OWNER_KEY in data
