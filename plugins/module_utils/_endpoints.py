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
from ansible_collections.netplumb.container.plugins.module_utils._firewall.model import PROTOS
from ansible_collections.netplumb.container.plugins.module_utils._ipam import parse_pool, parse_requests
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_netns_name,
    parse_ip,
    parse_port,
)

MODES = ("bridge", "none", "host", "container")
HOST_VETH_PREFIX = "vnp"
_PUBLISH_RE = re.compile(
    r"^(?:(?P<ip>\[[0-9A-Fa-f:.]+\]|[0-9.]+):)?(?P<host>\d+(?:-\d+)?):(?P<ctr>\d+(?:-\d+)?)(?:/(?P<proto>\w+))?$"
)


@dataclasses.dataclass(frozen=True)
class Publish:
    host_ip: str
    host_port: int
    container_port: int
    proto: str


@dataclasses.dataclass(frozen=True)
class Endpoint:
    name: str
    mode: str  # bridge | none | host | container
    networks: tuple[tuple[str, str | None], ...] = ()  # (network, fixed address or None)
    shares: str | None = None  # for mode container: the owner's name
    publish: tuple[Publish, ...] = ()


def parse_publish(spec: Any, where: str) -> list[Publish]:
    """Docker's -p syntax ("8080:80", "127.0.0.1:5353:53/udp", "[::1]:8080:80", "8000-8001:80-81") or a dict."""
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
    return [Publish(host_ip, parse_port(h, what), parse_port(c, what), proto) for h, c in ports]


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
        if mode != "bridge" and (raw.get("networks") or raw.get("publish") or raw.get("address")):
            raise ValidationError(f"{where}: networks, address and publish only apply to mode bridge")
        publish = tuple(p for spec in raw.get("publish") or [] for p in parse_publish(spec, where))
        endpoints.append(Endpoint(name, mode, networks, shares or None, publish))
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
    """The nat module's rule for host ports (model.host_ports_clash: the same address, or either a wildcard),
    checked here before anything changes; indexed by port, so 45,000 ports cost one pass."""
    seen: dict[tuple[int, str, int], dict[str, str]] = {}
    for endpoint in endpoints:
        for pub in endpoint.publish:
            addr = ipaddress.ip_address(pub.host_ip)
            holders = seen.setdefault((pub.host_port, pub.proto, addr.version), {})
            wildcards = [ip for ip in holders if ipaddress.ip_address(ip).is_unspecified]
            if pub.host_ip in holders:
                clash = pub.host_ip
            elif wildcards:
                clash = wildcards[0]
            elif addr.is_unspecified and holders:
                clash = next(iter(holders))
            else:
                holders[pub.host_ip] = endpoint.name
                continue
            raise ValidationError(
                f"host port {pub.host_ip}:{pub.host_port}/{pub.proto} of {endpoint.name} "
                f"is already published by {holders[clash]}"
            )


def check_against_networks(endpoints: list[Endpoint], networks: dict[str, dict[str, Any]]) -> None:
    """What needs the networks' definitions: fixed addresses (by the ipam module's own rules: not the
    network, broadcast, gateway or an aux address), publish on internal or single-stack networks."""
    for net, requests in ipam_requests(endpoints).items():
        pools = [parse_pool(p, f"network {net}") for p in networks[net]["pools"]]
        fixed = [r for r in requests if r.get("address")]
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


def wiring(
    endpoints: list[Endpoint],
    networks: dict[str, dict[str, Any]],
    allocations: dict[str, dict[str, dict[str, Any]]],
) -> dict[str, Any]:
    """Module inputs for netns, veth and nat from validated endpoints and ipam results.

    ``networks`` maps a network name to its definition (bridge, mtu, nat_config);
    every network gets a nat entry whose publish list is complete, so that ports
    no longer published are withdrawn;
    ``allocations`` maps network -> endpoint -> the ipam module's allocation.
    """
    netns = [{"name": e.name} for e in endpoints if e.mode in ("bridge", "none")]
    veths: list[dict[str, Any]] = []
    publish: dict[str, list[dict[str, Any]]] = {name: [] for name in networks}
    for endpoint in endpoints:
        for position, (net, _fixed) in enumerate(endpoint.networks):
            alloc = allocations.get(net, {}).get(endpoint.name)
            if alloc is None:
                raise ValidationError(f"container {endpoint.name}: no address allocated on network {net}")
            definition = networks[net]
            peer: dict[str, Any] = {
                "name": f"eth{position}",
                "netns": endpoint.name,
                "addresses": list(alloc["addresses"]),
            }
            if alloc.get("mac"):
                peer["mac"] = alloc["mac"]
            if definition.get("mtu"):
                peer["mtu"] = definition["mtu"]
            if position == 0:
                gateways = [g for g in (alloc.get("gateway"), alloc.get("gateway6")) if g]
                if gateways:
                    peer["gateway"] = gateways
            veth: dict[str, Any] = {
                "name": host_veth_name(endpoint.name, net),
                "bridge": definition["bridge"],
                "peer": peer,
            }
            if definition.get("mtu"):
                veth["host_mtu"] = definition["mtu"]
            if endpoint.publish and position == 0:
                veth["hairpin"] = True  # so the container reaches its own published ports via the host
            veths.append(veth)
        if endpoint.publish:
            net = endpoint.networks[0][0]
            alloc = allocations[net][endpoint.name]
            for pub in endpoint.publish:
                family = ipaddress.ip_address(pub.host_ip).version
                target = alloc.get("ipv6") if family == 6 else alloc.get("ipv4")
                if not target:
                    raise ValidationError(
                        f"container {endpoint.name}: publishes on {pub.host_ip} (IPv{family}) "
                        f"but has no IPv{family} address on network {net}"
                    )
                publish[net].append({**dataclasses.asdict(pub), "container_address": target})
    nat = [{**networks[name].get("nat_config", {"network": name}), "publish": publish[name]} for name in networks]
    return {"netns": netns, "veth": veths, "publish": publish, "nat": nat}


def removal(endpoints: list[Endpoint], network_names: list[str], unlisted: list[str]) -> dict[str, Any]:
    """What endpoints_state=absent removes: the listed containers' namespaces and addresses, plus the
    ``unlisted`` names (recorded earlier, no longer listed; for teardown) on every network."""
    names = [e.name for e in endpoints if e.mode in ("bridge", "none")] + list(unlisted)
    requests = ipam_requests(endpoints)
    for net in network_names:
        for name in unlisted:
            requests.setdefault(net, []).append({"endpoint": name})
    return {"netns": [{"name": name} for name in dict.fromkeys(names)], "ipam": requests}


def kept_publish(
    recorded: list[dict[str, Any]], networks: dict[str, dict[str, Any]], removed: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """nat entries for the recorded networks, keeping only the ports of containers that stay.

    ``recorded`` is the nat record's network list; ``removed`` maps network -> endpoint -> allocation of
    the containers being removed.
    """
    gone = {
        alloc.get(family)
        for allocations in removed.values()
        for alloc in allocations.values()
        for family in ("ipv4", "ipv6")
        if alloc.get(family)
    }
    out = []
    for entry in recorded:
        definition = networks.get(entry.get("name"))
        if definition is None:
            continue
        publish = [p for p in entry.get("publish") or [] if p.get("container_address") not in gone]
        out.append({**definition.get("nat_config", {"network": definition["name"]}), "publish": publish})
    return out
