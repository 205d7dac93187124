# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Containers -> module inputs: what the endpoints role hands to netns, ipam, veth and nat.

Pure and Ansible-free, so that 250 containers cost one pass here and one
call per module, never a task per container.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import re
from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._firewall.model import PROTOS, Publish, first_clash
from ansible_collections.netplumb.container.plugins.module_utils._ipam import parse_pool, parse_requests
from ansible_collections.netplumb.container.plugins.module_utils._links import check_mac
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_netns_name,
    parse_ip,
    parse_port,
    parse_sysctl,
)

MODES = ("bridge", "none", "host", "container")
HOST_VETH_PREFIX = "vnp"
_PUBLISH_RE = re.compile(
    r"^(?:(?P<ip>\[[0-9A-Fa-f:.]+\]|[0-9.]+):)?(?P<host>\d+(?:-\d+)?):(?P<ctr>\d+(?:-\d+)?)(?:/(?P<proto>\w+))?$"
)


@dataclasses.dataclass(frozen=True)
class Endpoint:
    name: str
    mode: str  # bridge | none | host | container
    networks: tuple[tuple[str, str | None], ...] = ()  # (network, fixed address or None)
    shares: str | None = None  # for mode container: the owner's name
    publish: tuple[Publish, ...] = ()
    gateway_network: str | None = None  # explicit choice of the default route's network
    mac: str | None = None  # fixed MAC of eth0 instead of Docker's 02:42:<IPv4>
    sysctls: tuple[tuple[str, str], ...] = ()


def parse_publish(spec: Any, endpoint: str) -> list[Publish]:
    """Docker's -p syntax ("8080:80", "127.0.0.1:5353:53/udp", "[::1]:8080:80", "8000-8001:80-81") or a dict:
    the ports of one container, without its address yet (ipam gives it)."""
    where = f"container {endpoint}"
    if isinstance(spec, dict):
        host_ip = str(spec.get("host_ip") or "0.0.0.0")
        ports = [(spec.get("host_port"), spec.get("container_port"))]
        proto = str(spec.get("proto") or "tcp")
    else:
        match = _PUBLISH_RE.match(str(spec).strip())
        if not match:
            raise ValidationError(
                f"{where}: publish {spec!r} is not of the form [host_ip:]host_port:container_port[/proto] "
                "(a host port is required: published ports are deterministic here)"
            )
        host_ip = (match["ip"] or "0.0.0.0").strip("[]")
        proto = match["proto"] or "tcp"
        hosts, ctrs = _port_range(match["host"], where, spec), _port_range(match["ctr"], where, spec)
        if len(hosts) != len(ctrs):
            raise ValidationError(f"{where}: publish {spec!r} maps {len(hosts)} host ports to {len(ctrs)} ports")
        ports = list(zip(hosts, ctrs))
    if proto not in PROTOS:
        raise ValidationError(f"{where}: publish {spec!r} has protocol {proto!r}; use one of {', '.join(PROTOS)}")
    host_ip = str(parse_ip(host_ip, f"{where}: publish {spec!r}: host address"))
    what = f"{where}: publish {spec!r}: port"
    return [Publish(host_ip, parse_port(h, what), None, parse_port(c, what), proto, endpoint) for h, c in ports]


def _port_range(text: str, where: str, spec: Any) -> range:
    first, _dash, last = text.partition("-")
    what = f"{where}: publish {spec!r}: port"
    lo, hi = parse_port(first, what), parse_port(last or first, what)
    if hi < lo:
        raise ValidationError(f"{where}: publish {spec!r} has a reversed port range {text}")
    return range(lo, hi + 1)


def parse_containers(containers: list[dict[str, Any]], network_names: list[str]) -> list[Endpoint]:
    """Validate the role's container list against the known networks; nothing is touched."""
    if not isinstance(containers, (list, type(None))):
        raise ValidationError(f"endpoints_containers: {containers!r} is not a list of containers")
    if containers and not network_names:
        raise ValidationError("endpoints_containers: no networks are defined (bridge_network_networks is empty)")
    endpoints: list[Endpoint] = []
    seen: set[str] = set()
    for index, raw in enumerate(containers or []):
        if not isinstance(raw, dict) or not raw.get("name"):
            raise ValidationError(f"endpoints_containers[{index}]: each container needs a name")
        name = check_netns_name(raw["name"], f"endpoints_containers[{index}].name")
        where = f"container {name}"
        if name in seen:
            raise ValidationError(f"{where} is listed more than once in endpoints_containers")
        seen.add(name)
        mode, _colon, shares = str(raw.get("mode") or "bridge").partition(":")
        if mode not in MODES or (mode == "container") != bool(shares):
            raise ValidationError(
                f"{where}: mode {raw.get('mode')!r} is not one of bridge, none, host, container:<name>"
            )
        networks = _networks(raw, network_names, where) if mode == "bridge" else ()
        bridge_only = ("networks", "publish", "address", "gateway_network", "mac")
        if mode != "bridge" and any(raw.get(key) for key in bridge_only):
            raise ValidationError(f"{where}: {', '.join(bridge_only)} only apply to mode bridge")
        if mode in ("host", "container") and raw.get("sysctls"):
            raise ValidationError(f"{where}: sysctls need a namespace of its own (mode bridge or none)")
        publish = tuple(p for spec in raw.get("publish") or [] for p in parse_publish(spec, name))
        gateway = raw.get("gateway_network")
        if gateway is not None and gateway not in [net for net, _address in networks]:
            raise ValidationError(f"{where}: gateway_network {gateway!r} is not one of its networks")
        if not isinstance(raw.get("sysctls") or {}, dict):
            raise ValidationError(f"{where}: sysctls {raw['sysctls']!r} is not a dict")
        sysctls = tuple(sorted(parse_sysctl(k, v, f"{where}") for k, v in (raw.get("sysctls") or {}).items()))
        mac = check_mac(raw.get("mac"), f"{where}: mac")
        endpoints.append(Endpoint(name, mode, networks, shares or None, publish, gateway, mac, sysctls))
    by_name = {e.name: e for e in endpoints}
    for endpoint in endpoints:
        if endpoint.mode != "container":
            continue
        owner = by_name.get(endpoint.shares)
        if owner is None:
            raise ValidationError(
                f"container {endpoint.name} shares the namespace of {endpoint.shares}, which is not listed: "
                f"remove {endpoint.name} (or its mode) before removing {endpoint.shares}"
            )
        if owner.mode not in ("bridge", "none"):
            raise ValidationError(
                f"container {endpoint.name} shares {owner.name}, which is in mode {owner.mode} and has no namespace"
            )
    _check_host_ports(endpoints)
    return endpoints


def _networks(raw: dict[str, Any], known: list[str], where: str) -> tuple[tuple[str, str | None], ...]:
    entries = raw.get("networks") or [known[0]]
    out: list[tuple[str, str | None]] = []
    for position, entry in enumerate(entries):
        net, address = (entry.get("name"), entry.get("address")) if isinstance(entry, dict) else (entry, None)
        if position == 0 and address is None:
            address = raw.get("address")
        if net not in known:
            raise ValidationError(f"{where}: unknown network {net!r} (known: {', '.join(known)})")
        if any(net == joined for joined, _address in out):
            raise ValidationError(f"{where}: joins network {net} twice")
        out.append((net, str(address) if address else None))
    return tuple(out)


def _check_host_ports(endpoints: list[Endpoint]) -> None:
    """The nat module's rule for host ports (model.first_clash), checked here before anything changes."""
    clash = first_clash((endpoint.name, pub) for endpoint in endpoints for pub in endpoint.publish)
    if clash is not None:
        (holder, _first), (name, pub) = clash
        raise ValidationError(
            f"host port {pub.host_ip}:{pub.host_port}/{pub.proto} of {name} is already published by {holder}"
        )


def check_against_networks(endpoints: list[Endpoint], networks: dict[str, dict[str, Any]]) -> None:
    """What needs the networks' definitions: fixed addresses (by the ipam module's own rules: not the
    network, broadcast, gateway or an aux address), publish on internal or single-stack networks."""
    for net, requests in ipam_requests(endpoints).items():
        pools = [parse_pool(p, f"network {net}") for p in networks[net]["pools"]]
        fixed = [r for r in requests if r.get("address")]
        if networks[net].get("pending"):
            _refuse_fixed_ipv4(net, fixed)
        try:
            parse_requests(fixed, pools, need_pools=True)
        except ValidationError as exc:
            raise ValidationError(f"endpoints_containers: network {net}: {exc.msg}") from None
    for endpoint in endpoints:
        if endpoint.publish:
            first = networks[endpoint.networks[0][0]]
            if first.get("internal"):
                raise ValidationError(
                    f"container {endpoint.name} publishes ports, but its first network {first['name']} is internal"
                )
            for pub in endpoint.publish:
                if ":" in pub.host_ip and not first.get("subnet6"):
                    raise ValidationError(
                        f"container {endpoint.name}: publishes on {pub.host_ip} (IPv6) but network "
                        f"{first['name']} has no IPv6 subnet"
                    )


def _refuse_fixed_ipv4(net: str, fixed: list[dict[str, Any]]) -> None:
    """Docker's rule: no fixed address on a subnet the user did not configure (here: not chosen before the run)."""
    for request in fixed:
        where = f"container {request['endpoint']}: address"
        address = parse_ip(str(request["address"]).split("/", maxsplit=1)[0], where)
        if address.version == 4:
            raise ValidationError(
                f"container {request['endpoint']}: address {address} on network {net}: user specified IP address "
                "is supported only when connecting to networks with user configured subnets (network "
                f"{net} has no subnet: it is chosen from bridge_network_default_pools on the host; give it one)"
            )


def host_veth_name(container: str, network: str) -> str:
    """Stable, unique, 13 bytes: the host end of a container's link into a network."""
    digest = hashlib.sha1(f"{container}\0{network}".encode()).hexdigest()[:10]
    return HOST_VETH_PREFIX + digest


def ipam_requests(endpoints: list[Endpoint]) -> dict[str, list[dict[str, Any]]]:
    """Per network, the ipam module's config: one entry per container on it."""
    out: dict[str, list[dict[str, Any]]] = {}
    for endpoint in endpoints:
        for net, address in endpoint.networks:
            entry: dict[str, Any] = {"endpoint": endpoint.name}
            if address:
                entry["address"] = address
            out.setdefault(net, []).append(entry)
    return out


IPV6_OFF = (("net.ipv6.conf.all.disable_ipv6", "1"), ("net.ipv6.conf.default.disable_ipv6", "1"))


def gateway_position(endpoint: Endpoint, networks: dict[str, dict[str, Any]]) -> int | None:
    """Which of its links takes the default route: the chosen network, else Docker's rule (the first
    network that is not internal); none when every network is internal."""
    names = [net for net, _address in endpoint.networks]
    if endpoint.gateway_network is not None:
        return names.index(endpoint.gateway_network)
    return next((i for i, net in enumerate(names) if not networks[net].get("internal")), None)


def role_plan(
    endpoints: list[Endpoint], networks: dict[str, dict[str, Any]], disable_ipv6: bool = True
) -> dict[str, Any]:
    """Everything the endpoints role hands to the modules that does not need addresses, from containers
    parsed once: ipam's arguments, the namespaces, link templates and port templates (filled by
    ``links`` and ``ports`` from ipam's allocations)."""
    ipam_endpoints = []
    for e in endpoints:
        entry: dict[str, Any] = {"name": e.name, "mode": e.mode}
        if e.networks:
            entry["networks"] = [{"name": n, **({"address": a} if a else {})} for n, a in e.networks]
        ipam_endpoints.append(entry)
    netns = []
    for e in endpoints:
        if e.mode not in ("bridge", "none"):
            continue
        sysctls = dict(e.sysctls)
        v6 = any(networks[n].get("subnet6") for n, _address in e.networks)
        if disable_ipv6 and not v6:
            # Docker's way for IPv4-only networks; set before the links exist, so they inherit it
            sysctls = {**dict(IPV6_OFF), **sysctls}
        netns.append({"name": e.name, **({"sysctls": sysctls} if sysctls else {})})
    veths = []
    for e in endpoints:
        gw = gateway_position(e, networks)
        for position, (net, _fixed) in enumerate(e.networks):
            definition = networks[net]
            veths.append(
                {
                    "endpoint": e.name,
                    "network": net,
                    "gateway": position == gw,
                    "mac": e.mac if position == 0 else None,
                    "hairpin": bool(e.publish) and position == 0,
                    "name": host_veth_name(e.name, net),
                    "bridge": definition["bridge"],
                    "mtu": definition.get("mtu"),
                    "ifname": f"eth{position}",
                }
            )
    ports = [
        {
            "endpoint": e.name,
            "network": e.networks[0][0],
            "host_ip": pub.host_ip,
            "host_port": pub.host_port,
            "container_port": pub.container_port,
            "proto": pub.proto,
        }
        for e in endpoints
        for pub in e.publish
    ]
    return {
        "ipam": {
            "networks": [{"name": n, "pools": d["pools"]} for n, d in networks.items()],
            "endpoints": ipam_endpoints,
        },
        "netns": netns,
        "veth": veths,
        "ports": ports,
        "names": [e.name for e in endpoints],
        "networks": list(networks.values()),
    }


def links(templates: list[dict[str, Any]], allocations: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The veth module's config from the link templates and ipam's allocations (network -> endpoint -> ...)."""
    out = []
    for t in templates:
        alloc = allocations.get(t["network"], {}).get(t["endpoint"])
        if alloc is None:
            raise ValidationError(f"container {t['endpoint']}: no address allocated on network {t['network']}")
        peer: dict[str, Any] = {"name": t["ifname"], "netns": t["endpoint"], "addresses": list(alloc["addresses"])}
        mac = t["mac"] or alloc.get("mac")
        if mac:
            peer["mac"] = mac
        if t["mtu"]:
            peer["mtu"] = t["mtu"]
        if t["gateway"]:
            gateways = [g for g in (alloc.get("gateway"), alloc.get("gateway6")) if g]
            if gateways:
                peer["gateway"] = gateways
        veth: dict[str, Any] = {"name": t["name"], "bridge": t["bridge"], "peer": peer}
        if t["mtu"]:
            veth["host_mtu"] = t["mtu"]
        if t["hairpin"]:
            veth["hairpin"] = True  # so the container reaches its own published ports via the host
        out.append(veth)
    return out


def ports(templates: list[dict[str, Any]], allocations: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The nat module's config (network + publish, each port owned by its endpoint) from the port templates."""
    by_network: dict[str, list[dict[str, Any]]] = {}
    held6 = {(t["host_port"], t["proto"]) for t in templates if ipaddress.ip_address(t["host_ip"]).version == 6}
    for t in templates:
        alloc = allocations.get(t["network"], {}).get(t["endpoint"]) or {}
        family = ipaddress.ip_address(t["host_ip"]).version
        target = alloc.get("ipv6") if family == 6 else alloc.get("ipv4")
        if not target:
            raise ValidationError(
                f"container {t['endpoint']}: publishes on {t['host_ip']} (IPv{family}) "
                f"but has no IPv{family} address on network {t['network']}"
            )
        item = {
            "endpoint": t["endpoint"],
            "host_ip": t["host_ip"],
            "host_port": t["host_port"],
            "container_address": target,
            "container_port": t["container_port"],
            "proto": t["proto"],
        }
        if t["host_ip"] == "0.0.0.0" and alloc.get("ipv6") and (t["host_port"], t["proto"]) not in held6:
            # Docker's proxy listens on :: too; an explicit IPv6 publish of the same port keeps its own target
            item["container_address6"] = alloc["ipv6"]
        by_network.setdefault(t["network"], []).append(item)
    return [{"network": net, "publish": publish} for net, publish in by_network.items()]


def leftovers(removed: list[dict[str, Any]], released: dict[str, list[str]], listed: list[str]) -> dict[str, Any]:
    """What goes after ipam dropped it: namespaces of the removed endpoints, and the links of listed
    endpoints into networks they left (released there, still listed)."""
    kept = set(listed)
    return {
        "netns": [{"name": r["name"]} for r in removed if r["mode"] in ("bridge", "none")],
        "veth": [
            {"name": host_veth_name(name, net)}
            for net, names in sorted(released.items())
            for name in names
            if name in kept
        ],
        "names": [r["name"] for r in removed],
    }
