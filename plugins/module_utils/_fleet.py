# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet: one cluster range, a slice per host, and the mesh that joins the slices (pure planning).

Input: each host's role variables, what one read of each host found (routes, addresses, MTUs) and the
leases of the ipam module's cluster mode. Output: per host the slice network for the bridge_network
role, the VXLAN device with its peers, the routes to every peer slice and the fleet routes to remove.

Backends per pair of hosts, like flannel: host-gw routes a peer's slice via the peer's underlay
address (needs one L2 segment: here, the same underlay subnet); vxlan routes it onlink via the peer's
VTEP address (the slice's network address) on one VXLAN device; auto picks host-gw on the same
segment and vxlan across segments (flannel's DirectRouting).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
from typing import Any, Callable, Union

from ansible_collections.netplumb.container.plugins.module_utils._docker import address_pools, daemon_settings
from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._networks import DOCKER_DEFAULT
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_abs_path,
    check_ifname,
    check_network_name,
    parse_bool,
    parse_host_address,
    parse_int,
    parse_port,
    parse_subnet,
    parse_vni,
)

BACKENDS = ("host-gw", "vxlan", "auto")
STATES = ("present", "absent")
# Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14).
VXLAN_OVERHEAD = 50
DEVICE_PREFIX = "fleet."
RTPROT_NETPLUMB = 78
DOCKER_BRIDGE = DOCKER_DEFAULT["bridge"]  # the bridge dockerd makes for bip
_OWN_PROTOCOLS = ("78", "netplumb")
# Route types that carry traffic somewhere (local/broadcast/multicast entries are addresses, checked as such).
_ROUTING_TYPES = ("unicast", "blackhole", "unreachable", "prohibit", "throw")
MAX_COLLISIONS_SHOWN = 10

Net = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def device_name(vni: int) -> str:
    return f"{DEVICE_PREFIX}{vni}"


# ---------------------------------------------------------------- variables


def parse_vars(raw: dict[str, Any], host: str) -> dict[str, Any]:
    """One host's fleet_* variables, checked; raises ValidationError naming the variable and the value."""
    where = f"fleet on {host}: "

    def fail(msg: str) -> ValidationError:
        return ValidationError(where + msg)

    try:
        state = raw.get("fleet_state", "present")
        if state not in STATES:
            raise fail(f"fleet_state {state!r} must be present or absent")
        cluster = parse_subnet(raw.get("fleet_cluster_cidr", "10.244.0.0/16"), "fleet_cluster_cidr", 4)
        prefix = parse_int(raw.get("fleet_host_prefix", 24), "fleet_host_prefix", cluster.prefixlen, 30)
        cluster6 = raw.get("fleet_cluster_cidr6")
        prefix6 = None
        if cluster6 not in (None, ""):
            net6 = parse_subnet(cluster6, "fleet_cluster_cidr6", 6)
            prefix6 = parse_int(raw.get("fleet_host_prefix6", 64), "fleet_host_prefix6", net6.prefixlen, 126)
            cluster6 = str(net6)
        else:
            cluster6 = None
        name = check_network_name(raw.get("fleet_network_name", DOCKER_DEFAULT["name"]), "fleet_network_name")
        bridge = check_ifname(raw.get("fleet_bridge", DOCKER_BRIDGE), "fleet_bridge")
        backend = raw.get("fleet_backend", "auto")
        if backend not in BACKENDS:
            raise fail(f"fleet_backend {backend!r} must be one of {', '.join(BACKENDS)}")
        vni = parse_vni(raw.get("fleet_vxlan_vni", 1), "fleet_vxlan_vni")
        port = parse_port(raw.get("fleet_vxlan_port", 4789), "fleet_vxlan_port")
        if bridge.startswith(DEVICE_PREFIX):
            raise fail(
                f"fleet_bridge {bridge!r} starts with {DEVICE_PREFIX!r}, the prefix of the fleet's VXLAN devices"
            )
        underlay = raw.get("fleet_underlay_address")
        address = prefixlen = None
        if underlay not in (None, ""):
            parsed = parse_host_address(underlay, "fleet_underlay_address")
            if parsed.version != 4:
                raise fail(f"fleet_underlay_address {underlay!r} is not an IPv4 address (the underlay is IPv4)")
            if isinstance(parsed, ipaddress.IPv4Interface):
                address, prefixlen = str(parsed.ip), parsed.network.prefixlen
            else:
                address = str(parsed)
        interface = raw.get("fleet_underlay_interface")
        if interface in (None, ""):
            interface = None
        else:
            check_ifname(interface, "fleet_underlay_interface")
        lease_file = raw.get("fleet_lease_file")
        if not isinstance(lease_file, str) or not os.path.isabs(lease_file):
            raise fail(f"fleet_lease_file must be an absolute path on the controller, got {lease_file!r}")
        pinned = raw.get("fleet_pinned") or {}
        if not isinstance(pinned, dict):
            raise fail(f"fleet_pinned must be a mapping of host to subnet, got {pinned!r}")
        pins = {}
        for pin_host, value in sorted(pinned.items()):
            net = parse_subnet(value, f"fleet_pinned[{pin_host}]", 4)
            if not net.subnet_of(cluster) or net.prefixlen != prefix:
                raise fail(f"fleet_pinned[{pin_host}]: {net} is not a /{prefix} inside fleet_cluster_cidr {cluster}")
            pins[str(pin_host)] = str(net)
        release = raw.get("fleet_release") or []
        if not isinstance(release, list) or not all(isinstance(h, str) and h for h in release):
            raise fail(f"fleet_release must be a list of inventory hostnames, got {release!r}")
        docker = _docker_vars(raw, bridge)
    except ValidationError as exc:
        if exc.msg.startswith(where):
            raise
        raise ValidationError(where + exc.msg) from None
    return {
        "host": host,
        "state": state,
        "underlay_address": address,
        "underlay_prefix": prefixlen,
        "underlay_interface": interface,
        "docker": docker,
        "fleet": {
            "cluster": str(cluster),
            "prefix": prefix,
            "cluster6": cluster6,
            "prefix6": prefix6,
            "network_name": name,
            "bridge": bridge,
            "backend": backend,
            "vni": vni,
            "port": port,
            "lease_file": os.path.normpath(lease_file),
            "lease_file6": _v6_path(os.path.normpath(lease_file)),
            "pinned": pins,
            "release": sorted(set(release)),
        },
    }


def _docker_vars(raw: dict[str, Any], bridge: str) -> dict[str, Any] | None:
    """fleet_docker and its options (per host: a fleet may mix Docker hosts and the collection's bridges)."""
    if not parse_bool(raw.get("fleet_docker"), "fleet_docker", False):
        return None
    if bridge != DOCKER_BRIDGE:
        raise ValidationError(
            f"fleet_docker needs fleet_bridge {DOCKER_BRIDGE} (Docker's bridge holds the slice), got {bridge!r}"
        )
    config = check_abs_path(raw.get("fleet_docker_config") or "/etc/docker/daemon.json", "fleet_docker_config")
    pools = raw.get("fleet_docker_address_pools")
    address_pools(pools, [], "fleet_docker_address_pools")  # checked here; cut to the cluster when planned
    return {
        "config": os.path.normpath(config),
        "restart": parse_bool(raw.get("fleet_docker_restart"), "fleet_docker_restart", True),
        "pools": pools,
    }


def _v6_path(path: str) -> str:
    root, ext = os.path.splitext(path)
    return f"{root}-ipv6{ext or '.json'}"


def fleet_settings(per_host: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The fleet-wide settings, which every host must agree on (they are one mesh)."""
    first = None
    for host in sorted(per_host):
        settings = per_host[host]["fleet"]
        if first is None:
            first = (host, settings)
            continue
        for key, value in settings.items():
            if value != first[1][key]:
                raise ValidationError(
                    f"fleet: the hosts disagree on fleet_{_VAR_OF.get(key, key)}: {first[0]} has {first[1][key]!r}, "
                    f"{host} has {value!r}; set it once for the whole fleet (group_vars)"
                )
    if first is None:
        raise ValidationError("fleet: no host in the play")
    settings = first[1]
    released = set(settings["release"])
    present = {h for h, v in per_host.items() if v["state"] == "present"}
    both = sorted(released & (present | set(settings["pinned"])))
    if both:
        raise ValidationError(
            f"fleet: fleet_release names {', '.join(both)}, which still "
            f"{'is' if len(both) == 1 else 'are'} in the fleet (fleet_state present or pinned); "
            "a lease is only released for a host that left"
        )
    return settings


_VAR_OF = {
    "cluster": "cluster_cidr",
    "prefix": "host_prefix",
    "cluster6": "cluster_cidr6",
    "prefix6": "host_prefix6",
    "vni": "vxlan_vni",
    "port": "vxlan_port",
}


# ---------------------------------------------------------------- what a host holds


@dataclasses.dataclass(frozen=True)
class SeenRoute:
    dst: Net
    text: str  # as a user would recognise it: "10.0.0.0/8 via 192.0.2.1 dev eth0 table 100"
    dev: str | None
    protocol: str
    table: str
    type: str
    metric: int | None

    @property
    def owned(self) -> bool:
        return self.protocol in _OWN_PROTOCOLS


@dataclasses.dataclass(frozen=True)
class SeenAddress:
    ifname: str
    interface: ipaddress.IPv4Interface | ipaddress.IPv6Interface


@dataclasses.dataclass(frozen=True)
class HostState:
    routes: tuple[SeenRoute, ...]
    addresses: tuple[SeenAddress, ...]
    mtus: dict[str, int]


READ_COMMAND = (
    "echo '#routes4'; ip -j -4 route show table all; echo '#routes6'; ip -j -6 route show table all; "
    "echo '#links'; ip -j address show"
)
_SECTIONS = ("#routes4", "#routes6", "#links")


def parse_read(stdout: str, host: str) -> HostState:
    """The output of READ_COMMAND (one raw task per host) as routes, addresses and MTUs."""
    parts: dict[str, Any] = {}
    current = None
    for line in stdout.splitlines():
        line = line.strip()
        if line in _SECTIONS:
            current = line[1:]
        elif line and current:
            try:
                parts[current] = json.loads(line)
            except ValueError:
                raise ValidationError(
                    f"fleet on {host}: cannot read the output of 'ip -j' ({line[:80]!r}); iproute2 with JSON "
                    "output (4.14 or newer) is needed on the host"
                ) from None
    if any(section[1:] not in parts for section in _SECTIONS):
        raise ValidationError(f"fleet on {host}: reading routes and addresses gave no output: {stdout[:200]!r}")
    routes = []
    for version, section in ((4, "routes4"), (6, "routes6")):
        for entry in parts[section]:
            route = _seen_route(entry, version)
            if route is not None:
                routes.append(route)
    addresses = []
    mtus = {}
    for link in parts["links"]:
        name = link.get("ifname")
        if not name:
            continue
        mtus[name] = int(link.get("mtu") or 0)
        for info in link.get("addr_info") or []:
            if info.get("scope") != "global" or "local" not in info:
                continue
            iface = ipaddress.ip_interface(f"{info['local']}/{info.get('prefixlen', 32)}")
            addresses.append(SeenAddress(name, iface))
    return HostState(tuple(routes), tuple(addresses), mtus)


def _seen_route(entry: dict[str, Any], version: int) -> SeenRoute | None:
    raw = entry.get("dst")
    if not raw:
        return None
    if raw == "default":
        raw = "0.0.0.0/0" if version == 4 else "::/0"
    try:
        dst = ipaddress.ip_network(raw, strict=False)
    except ValueError:
        return None
    table = str(entry.get("table") or "main")
    text = str(dst)
    if entry.get("gateway"):
        text += f" via {entry['gateway']}"
    if entry.get("dev"):
        text += f" dev {entry['dev']}"
    if table != "main":
        text += f" table {table}"
    kind = str(entry.get("type") or "unicast")
    if kind != "unicast":
        text = f"{kind} {text}"
    protocol = str(entry.get("protocol") or "boot")
    if protocol not in ("kernel", "boot"):
        text += f" proto {protocol}"
    metric = entry.get("metric")
    return SeenRoute(dst, text, entry.get("dev"), protocol, table, kind, metric if isinstance(metric, int) else None)


# ---------------------------------------------------------------- underlay


@dataclasses.dataclass(frozen=True)
class Underlay:
    address: ipaddress.IPv4Address
    network: ipaddress.IPv4Network
    interface: str
    mtu: int


def resolve_underlay(host_vars: dict[str, Any], state: HostState) -> Underlay:
    """The underlay address, subnet, interface and MTU: as given, else the default route's interface."""
    host = host_vars["host"]
    want_addr = host_vars["underlay_address"]
    want_if = host_vars["underlay_interface"]
    v4 = [a for a in state.addresses if a.interface.version == 4]
    if want_addr is not None:
        held = [a for a in v4 if str(a.interface.ip) == want_addr]
        if not held:
            raise ValidationError(f"fleet on {host}: fleet_underlay_address {want_addr} is not an address of the host")
        chosen = held[0]
        if want_if is not None and chosen.ifname != want_if:
            raise ValidationError(
                f"fleet on {host}: fleet_underlay_address {want_addr} is on {chosen.ifname}, "
                f"not on fleet_underlay_interface {want_if}"
            )
        prefixlen = host_vars["underlay_prefix"]
        network = ipaddress.ip_network(f"{want_addr}/{prefixlen or chosen.interface.network.prefixlen}", strict=False)
        return Underlay(chosen.interface.ip, network, chosen.ifname, state.mtus.get(chosen.ifname, 1500))
    if want_if is None:
        defaults = [
            r for r in state.routes if r.dst.prefixlen == 0 and r.dst.version == 4 and r.table == "main" and r.dev
        ]
        if not defaults:
            raise ValidationError(
                f"fleet on {host}: the host has no IPv4 default route to take the underlay from; "
                "set fleet_underlay_address (or fleet_underlay_interface)"
            )
        want_if = min(defaults, key=lambda r: r.metric or 0).dev
    on_if = [a for a in v4 if a.ifname == want_if]
    if not on_if:
        raise ValidationError(
            f"fleet on {host}: the underlay interface {want_if} has no IPv4 address; set fleet_underlay_address"
        )
    chosen = on_if[0]
    return Underlay(chosen.interface.ip, chosen.interface.network, want_if, state.mtus.get(want_if, 1500))


# ---------------------------------------------------------------- the plan


@dataclasses.dataclass(frozen=True)
class Member:
    host: str
    underlay: Underlay
    slice: ipaddress.IPv4Network
    slice6: ipaddress.IPv6Network | None = None

    @property
    def vtep(self) -> str:
        return str(self.slice.network_address)

    @property
    def vtep6(self) -> str | None:
        return str(self.slice6.network_address) if self.slice6 is not None else None


def pair_backend(backend: str, a: Member, b: Member) -> str:
    if backend != "auto":
        return backend
    return "host-gw" if a.underlay.network == b.underlay.network else "vxlan"


def vxlan_used(settings: dict[str, Any], members: list[Member]) -> bool:
    """Forced vxlan always (so the MTU does not move when a second host joins); auto across segments."""
    if settings["backend"] == "vxlan":
        return True
    if settings["backend"] == "auto":
        return len({m.underlay.network for m in members}) > 1
    return False


def fleet_mtu(settings: dict[str, Any], members: list[Member]) -> int | None:
    if not members:
        return None
    smallest = min(m.underlay.mtu for m in members)
    return smallest - VXLAN_OVERHEAD if vxlan_used(settings, members) or settings["cluster6"] else smallest


@dataclasses.dataclass(frozen=True)
class Collision:
    host: str  # where the route or address is
    what: str  # the route or address
    slice: str
    owner: str  # whose slice

    def __str__(self) -> str:
        return f"the slice {self.slice} of {self.owner} collides with {self.what} on {self.host}"


def is_fleet_route(route: SeenRoute, settings: dict[str, Any]) -> bool:
    """A mesh route: this collection's protocol, main table, inside the cluster range."""
    if not route.owned or route.table != "main" or route.type != "unicast":
        return False
    return any(route.dst.version == c.version and route.dst.subnet_of(c) for c in _clusters(settings))


def _clusters(settings: dict[str, Any]) -> list[Net]:
    out: list[Net] = [ipaddress.ip_network(settings["cluster"])]
    if settings["cluster6"]:
        out.append(ipaddress.ip_network(settings["cluster6"]))
    return out


def _own_ifnames(settings: dict[str, Any]) -> set[str]:
    return {settings["bridge"], device_name(settings["vni"])}


def collisions(
    settings: dict[str, Any],
    slices: dict[str, list[Net]],
    states: dict[str, HostState],
    underlays: dict[str, Underlay],
) -> list[Collision]:
    """Every slice against every host's routes (all tables, not only on-link) and addresses, and every underlay.

    The fleet's own objects are not collisions: its mesh routes, and on a slice's own host the bridge's
    connected route and the gateway and VTEP addresses."""
    found: list[Collision] = []
    own_ifs = _own_ifnames(settings)
    for owner, nets in sorted(slices.items()):
        for net in nets:
            for host, state in sorted(states.items()):
                for route in state.routes:
                    if route.type not in _ROUTING_TYPES or route.table == "local":
                        continue
                    if route.dst.version != net.version or route.dst.prefixlen == 0 or not route.dst.overlaps(net):
                        continue
                    if is_fleet_route(route, settings):
                        continue
                    if host == owner and route.dst == net and route.dev in own_ifs:
                        continue
                    found.append(Collision(host, f"the route {route.text}", str(net), owner))
                for addr in state.addresses:
                    if addr.interface.version != net.version or addr.interface.ip not in net:
                        continue
                    if host == owner and addr.ifname in own_ifs:
                        continue
                    found.append(Collision(host, f"the address {addr.interface} on {addr.ifname}", str(net), owner))
            for host, underlay in sorted(underlays.items()):
                if net.version == 4 and underlay.network.overlaps(net):
                    found.append(Collision(host, f"the underlay network {underlay.network}", str(net), owner))
    return found


def collision_error(found: list[Collision]) -> ConflictError:
    shown = "; ".join(str(c) for c in found[:MAX_COLLISIONS_SHOWN])
    more = f" (and {len(found) - MAX_COLLISIONS_SHOWN} more)" if len(found) > MAX_COLLISIONS_SHOWN else ""
    return ConflictError(
        f"fleet: {shown}{more}. Nothing was changed on any host. Choose another fleet_cluster_cidr or "
        "fleet_pinned subnet, or remove the route"
    )


def exclude_ranges(settings: dict[str, Any], states: dict[str, HostState], underlays: dict[str, Underlay]) -> list[str]:
    """What no new lease may overlap: every foreign route and address inside the cluster ranges, the underlays."""
    clusters = _clusters(settings)
    out: set[str] = set()
    own_ifs = _own_ifnames(settings)
    for state in states.values():
        for route in state.routes:
            if route.type not in _ROUTING_TYPES or route.table == "local" or route.dst.prefixlen == 0:
                continue
            if is_fleet_route(route, settings) or route.dev in own_ifs:
                continue
            if any(route.dst.version == c.version and route.dst.overlaps(c) for c in clusters):
                out.add(str(route.dst))
        for addr in state.addresses:
            if addr.ifname in own_ifs:
                continue
            if any(addr.interface.version == c.version and addr.interface.ip in c for c in clusters):
                out.add(str(addr.interface.ip))
    for underlay in underlays.values():
        out.add(str(underlay.network))
    return sorted(out, key=lambda t: (":" in t, ipaddress.ip_network(t, strict=False)))


def plan_host(
    settings: dict[str, Any],
    host: str,
    state: HostState,
    me: Member | None,
    members: list[Member],
    mac_of: Callable[[int, str], str],
    slice_held: tuple[str | None, str | None] = (None, None),
    docker: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What one host needs: the slice network, the VXLAN device and peers, routes, fleet routes to remove."""
    vni = settings["vni"]
    dev = device_name(vni)
    mtu = fleet_mtu(settings, members)
    routes: list[dict[str, Any]] = []
    peers_out: dict[str, dict[str, Any]] = {}
    vx_peers: list[dict[str, Any]] = []
    if me is not None:
        for peer in members:
            if peer.host == me.host:
                continue
            backend = pair_backend(settings["backend"], me, peer)
            if backend == "host-gw":
                routes.append(
                    {
                        "dst": str(peer.slice),
                        "via": str(peer.underlay.address),
                        "dev": me.underlay.interface,
                        "onlink": False,
                    }
                )
            else:
                routes.append({"dst": str(peer.slice), "via": peer.vtep, "dev": dev, "onlink": True})
            needs_tunnel = backend == "vxlan" or peer.slice6 is not None
            if needs_tunnel:
                mac = mac_of(vni, str(peer.underlay.address))
                if backend == "vxlan":
                    vx_peers.append({"underlay": str(peer.underlay.address), "mac": mac, "address": peer.vtep})
                if peer.slice6 is not None:
                    # An IPv4 underlay cannot be an IPv6 gateway: IPv6 slices always cross the tunnel.
                    vx_peers.append({"underlay": str(peer.underlay.address), "mac": mac, "address": peer.vtep6})
                    routes.append({"dst": str(peer.slice6), "via": peer.vtep6, "dev": dev, "onlink": True})
            peers_out[peer.host] = {
                "backend": backend,
                "underlay": str(peer.underlay.address),
                "subnet": str(peer.slice),
                "subnet6": str(peer.slice6) if peer.slice6 is not None else None,
            }
    vxlan: list[dict[str, Any]] = []
    if vx_peers and me is not None:
        addresses = [f"{me.vtep}/32"] + ([f"{me.vtep6}/128"] if me.vtep6 else [])
        vxlan.append(
            {
                "name": dev,
                "vni": vni,
                "port": settings["port"],
                "local": str(me.underlay.address),
                "dev": me.underlay.interface,
                "mac": mac_of(vni, str(me.underlay.address)),
                "mtu": mtu,
                "addresses": addresses,
                "learning": False,
                "peers": vx_peers,
            }
        )
    wanted = {r["dst"] for r in routes}
    stale = []
    for route in state.routes:
        if is_fleet_route(route, settings) and str(route.dst) not in wanted:
            entry: dict[str, Any] = {"dst": str(route.dst)}
            if route.metric is not None:
                entry["metric"] = route.metric
            stale.append(entry)
    stale.sort(key=lambda e: (":" in e["dst"], ipaddress.ip_network(e["dst"])))
    devices = sorted(name for name in state.mtus if name.startswith(DEVICE_PREFIX))
    if me is not None:
        subnet = str(me.slice)
        subnet6 = str(me.slice6) if me.slice6 is not None else None
    else:
        # A host that left: its lease, or (released already) the slice its bridge still holds.
        subnet = slice_held[0] or _bridge_slice(settings, state, 4)
        subnet6 = slice_held[1] or _bridge_slice(settings, state, 6)
    network = slice_network(settings, subnet, subnet6, mtu) if subnet else None
    docker_part = None
    if docker is not None:
        # Docker owns docker0 on the slice: no bridge_network network; daemon.json and the cluster's rules.
        docker_part = docker_plan(settings, docker, network if me is not None else None, members)
        network = None
    return {
        "member": me is not None,
        "subnet": subnet,
        "subnet6": subnet6,
        "mtu": mtu,
        "underlay": {
            "address": str(me.underlay.address),
            "network": str(me.underlay.network),
            "interface": me.underlay.interface,
            "mtu": me.underlay.mtu,
        }
        if me
        else None,
        "network": network,
        "docker": docker_part,
        "routes": routes,
        "stale_routes": stale,
        "vxlan": vxlan,
        # Call the vxlan module only when there is something to build, keep or remove.
        "vxlan_call": bool(vxlan or devices),
        "vxlan_scope": DEVICE_PREFIX,
        "bridge_exists": settings["bridge"] in state.mtus,
        "peers": peers_out,
        "backends": {peer: info["backend"] for peer, info in peers_out.items()},
    }


def _bridge_slice(settings: dict[str, Any], state: HostState, version: int) -> str | None:
    clusters = [c for c in _clusters(settings) if c.version == version]
    for addr in state.addresses:
        if addr.ifname == settings["bridge"] and any(
            addr.interface.version == version and addr.interface.network.subnet_of(c) for c in clusters
        ):
            return str(addr.interface.network)
    return None


def docker_plan(
    settings: dict[str, Any], docker: dict[str, Any], network: dict[str, Any] | None, members: list[Member]
) -> dict[str, Any]:
    """A Docker host's part: daemon.json keys and the nat network of docker0 (None when the host leaves)."""
    out: dict[str, Any] = {"config": docker["config"], "restart": docker["restart"], "settings": None, "nat": None}
    if network is None:
        return out
    exclude = [c for c in (settings["cluster"], settings["cluster6"]) if c]
    exclude += sorted({str(m.underlay.network) for m in members})
    pools = address_pools(docker["pools"], exclude, "fleet_docker_address_pools")
    out["settings"] = daemon_settings(network["subnet"], network.get("subnet6"), network.get("mtu"), pools)
    out["nat"] = {
        "network": network["name"],
        "bridge": network["bridge"],
        "subnets": [network["subnet"]] + ([network["subnet6"]] if network.get("subnet6") else []),
        "cluster_subnets": network["cluster_subnets"],
        "foreign_bridge": True,
    }
    return out


def slice_network(settings: dict[str, Any], subnet: str, subnet6: str | None, mtu: int | None) -> dict[str, Any]:
    """The host's slice as a bridge_network network (gateway: the first address, as Docker's)."""
    net: dict[str, Any] = {
        "name": settings["network_name"],
        "bridge": settings["bridge"],
        "subnet": subnet,
        "icc": True,
        "masquerade": True,
        "internal": False,
        # Traffic between the fleet's slices is neither masqueraded nor dropped (the nat module's option).
        "cluster_subnets": [c for c in (settings["cluster"], settings["cluster6"]) if c],
    }
    if mtu is not None:
        net["mtu"] = mtu
    if subnet6:
        net["subnet6"] = subnet6
    return net


def plan_fleet(
    per_host: dict[str, dict[str, Any]],
    reads: dict[str, str],
    subnets: dict[str, str],
    subnets6: dict[str, str] | None,
    mac_of: Callable[[int, str], str],
) -> dict[str, Any]:
    """The whole fleet: per-host plans, or a ConflictError naming every collision before anything changes."""
    settings = fleet_settings(per_host)
    states = {host: parse_read(reads[host], host) for host in sorted(per_host)}
    present = [h for h in sorted(per_host) if per_host[h]["state"] == "present"]
    underlays = {h: resolve_underlay(per_host[h], states[h]) for h in present}
    seen: dict[str, str] = {}
    for host in present:
        address = str(underlays[host].address)
        if address in seen:
            raise ValidationError(f"fleet: {seen[address]} and {host} have the same underlay address {address}")
        seen[address] = host
    cluster = ipaddress.ip_network(settings["cluster"])
    for host, underlay in underlays.items():
        if underlay.network.overlaps(cluster):
            raise ConflictError(
                f"fleet: the underlay network {underlay.network} of {host} overlaps fleet_cluster_cidr {cluster}"
            )
    members = []
    for host in present:
        if host not in subnets:
            raise ValidationError(f"fleet: no lease for {host} (the ipam cluster call did not list it)")
        slice6 = ipaddress.ip_network(subnets6[host]) if subnets6 else None
        members.append(Member(host, underlays[host], ipaddress.ip_network(subnets[host]), slice6))
    slices = {m.host: [m.slice] + ([m.slice6] if m.slice6 is not None else []) for m in members}
    found = collisions(settings, slices, {h: states[h] for h in present}, underlays)
    if found:
        raise collision_error(found)
    by_host = {m.host: m for m in members}
    hosts = {}
    for host in sorted(per_host):
        held = (subnets.get(host), (subnets6 or {}).get(host))
        docker = per_host[host].get("docker")
        hosts[host] = plan_host(settings, host, states[host], by_host.get(host), members, mac_of, held, docker)
    mtu = fleet_mtu(settings, members)
    return {
        "settings": settings,
        "mtu": mtu,
        "vxlan": vxlan_used(settings, members),
        "members": [m.host for m in members],
        "hosts": hosts,
    }


def preflight(per_host: dict[str, dict[str, Any]], reads: dict[str, str], leases: dict[str, Any]) -> dict[str, Any]:
    """Before any lease is written: the leases the fleet would hold, checked against every host.

    ``leases`` is the ipam cluster result of a check-mode call without exclusions. A collision of a lease that
    exists or is pinned fails (naming host, route and slice); a new lease that would collide is re-planned with
    ``exclude`` (every foreign route, address and underlay inside the range), which the caller passes to ipam."""
    settings = fleet_settings(per_host)
    states = {host: parse_read(reads[host], host) for host in sorted(per_host)}
    present = [h for h in sorted(per_host) if per_host[h]["state"] == "present"]
    underlays = {h: resolve_underlay(per_host[h], states[h]) for h in present}
    new = {
        a["name"] for a in leases.get("actions") or [] if a.get("op") == "create" and a.get("kind") == "subnet lease"
    }
    new -= set(settings["pinned"])
    subnets = leases.get("subnets") or {}
    slices = {h: [ipaddress.ip_network(subnets[h])] for h in present if h in subnets}
    found = collisions(settings, slices, {h: states[h] for h in present}, underlays)
    fatal = [c for c in found if c.owner not in new]
    if fatal:
        raise collision_error(fatal)
    return {
        "exclude": exclude_ranges(settings, {h: states[h] for h in present}, underlays),
        "replan": any(c.owner in new for c in found),
        "hosts": present,
    }
