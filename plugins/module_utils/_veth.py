# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The veth resource: the wire between the host (or its bridge) and a container's namespace.

Identity is the host-side name, in the namespace the module runs in. The peer
is born in its target namespace under its final name (one RTM_NEWLINK, no
move, no rename) and is then configured through a netlink socket opened inside
that namespace. Both ends carry OWNER_MARK as their link alias.

When a veth exists with its peer under another name in the same namespace,
the peer is renamed in place (addresses and routes survive a rename). When
the peer is in another namespace, the pair is deleted and created again: the
old namespace may be gone or unnamed, a move would flush the peer's addresses
and routes anyway, and creating the peer in place is what the fast path does.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from typing import Any, Hashable

from ansible_collections.netplumb.container.plugins.module_utils._errors import (
    ConflictError,
    KernelError,
    ValidationError,
)
from ansible_collections.netplumb.container.plugins.module_utils._links import (
    NamespaceView,
    add_address,
    canonical_ip,
    canonical_net,
    check_addresses,
    check_mac,
    check_mtu,
    cidr_sort_key,
    del_address,
    delete_link,
    netns_owned,
    probe_names,
    read_namespace,
)
from ansible_collections.netplumb.container.plugins.module_utils._model import OWNER_MARK, Action
from ansible_collections.netplumb.container.plugins.module_utils._netlink import (
    Netlink,
    list_netns,
    netns_exists,
    netns_path,
)
from ansible_collections.netplumb.container.plugins.module_utils._plan import NamedResource
from ansible_collections.netplumb.container.plugins.module_utils._route import (
    DEFAULT_DST,
    MAIN_TABLE,
    change_route,
    family_of,
    msg_dst,
)
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_ifname,
    check_netns_name,
    check_unique,
)

RTPROT_KERNEL = 2


@dataclasses.dataclass(frozen=True)
class Veth:
    """A veth pair. None means "not managed" (left as the kernel has it)."""

    name: str
    peer_name: str | None
    peer_netns: str | None
    bridge: str | None = None
    host_mtu: int | None = None
    hairpin: bool | None = None
    peer_mac: str | None = None
    peer_mtu: int | None = None
    addresses: tuple[str, ...] | None = None
    gateway: tuple[str, ...] | None = None  # at most one per IP version, IPv4 first
    routes: tuple[tuple[str, str], ...] | None = None  # (dst, via), sorted
    peer_up: bool | None = True
    up: bool = True  # the host end; always brought up
    owned: bool = True

    @property
    def peer_at(self) -> tuple[str | None, str | None]:
        return (self.peer_netns, self.peer_name)


_PEER_FIELDS = ("peer_mac", "peer_mtu", "addresses", "gateway", "routes", "peer_up")


class VethResource(NamedResource):
    kind = "veth"

    def __init__(self) -> None:
        self.force = False

    def merge(self, have: Veth | None, want: Veth, replace: bool) -> Veth:
        # A peer that lands somewhere else starts from nothing: the kernel drops what it had.
        peer_have = have if have is not None and have.peer_at == want.peer_at else None
        bridge = want.bridge if want.bridge is not None or replace else (have.bridge if have else None)
        hairpin = want.hairpin
        if hairpin is None:
            hairpin = (False if bridge else None) if replace else (have.hairpin if have and bridge else None)
        return Veth(
            name=want.name,
            peer_name=want.peer_name,
            peer_netns=want.peer_netns,
            bridge=bridge,
            host_mtu=_pick(want.host_mtu, have.host_mtu if have else None),
            hairpin=hairpin,
            peer_mac=_pick(want.peer_mac, peer_have.peer_mac if peer_have else None),
            peer_mtu=_pick(want.peer_mtu, peer_have.peer_mtu if peer_have else None),
            addresses=_merge_list(peer_have, want, "addresses", replace, _union_addresses),
            gateway=_merge_list(peer_have, want, "gateway", replace, _union_gateway),
            routes=_merge_list(peer_have, want, "routes", replace, _union_routes),
            peer_up=want.peer_up,
            owned=have.owned if have else True,
        )

    def create(self, obj: Veth) -> list[Action]:
        params: dict[str, Any] = {}
        for field in ("bridge", "host_mtu", "hairpin"):
            if getattr(obj, field) is not None:
                params[field] = getattr(obj, field)
        peer: dict[str, Any] = {"name": obj.peer_name, "netns": obj.peer_netns, "up": obj.peer_up}
        for field, key in (("peer_mac", "mac"), ("peer_mtu", "mtu")):
            if getattr(obj, field) is not None:
                peer[key] = getattr(obj, field)
        if obj.addresses:
            peer["addresses"] = list(obj.addresses)
        if obj.gateway:
            peer["gateway"] = list(obj.gateway)
        if obj.routes:
            peer["routes"] = [list(r) for r in obj.routes]
        params["peer"] = peer
        return [Action("create", self.kind, obj.name, params=params, phase=1)]

    def update(self, have: Veth, want: Veth) -> list[Action]:
        if have.peer_netns != want.peer_netns:
            if not have.owned and not self.force:
                raise ConflictError(
                    f"veth {have.name}: its peer is in netns {have.peer_netns or '(the host)'}, not "
                    f"{want.peer_netns}; that means recreating the pair, but it was not created by "
                    "netplumb.container (set force: true to recreate it anyway)"
                )
            return self.delete(have) + self.create(want)
        params: dict[str, Any] = {}
        if have.peer_name != want.peer_name:
            params["rename_peer"] = [have.peer_name, want.peer_name]
        if have.bridge != want.bridge:
            params["bridge"] = want.bridge
        for field in ("host_mtu", "hairpin", "peer_mac", "peer_mtu", "peer_up"):
            value = getattr(want, field)
            if value is not None and value != getattr(have, field):
                params[field] = value
        if not have.up:
            params["up"] = True
        _set_diff(params, "addresses", have.addresses, want.addresses, cidr_sort_key)
        _set_diff(params, "gateway", have.gateway, want.gateway, lambda g: ipaddress.ip_address(g).version)
        _set_diff(params, "routes", have.routes, want.routes, lambda r: r)
        if not params:
            return []
        params["peer"] = {"name": want.peer_name, "netns": want.peer_netns}
        if "del_addresses" in params:
            # Removing a primary IPv4 address also removes its secondaries and the routes through it:
            # the whole target set of addresses, the gateway and the routes are asserted again.
            for field in ("addresses", "gateway", "routes"):
                if getattr(want, field):
                    params["peer"][field] = [list(x) if isinstance(x, tuple) else x for x in getattr(want, field)]
        return [Action("update", self.kind, want.name, params=params, phase=1)]

    def delete(self, obj: Veth) -> list[Action]:
        # Deleting one end deletes the pair.
        return [Action("delete", self.kind, obj.name, phase=0)]


def _pick(wanted, current):
    return wanted if wanted is not None else current


def _merge_list(have: Veth | None, want: Veth, field: str, replace: bool, union):
    """A peer list (addresses, gateway, routes): left out, it is kept (merged) or emptied (replaced);
    given, it is exactly that (replaced, or nothing there yet) or ``union(current, wanted)`` (merged)."""
    current = getattr(have, field) if have else None
    wanted = getattr(want, field)
    if wanted is None:
        return () if replace else (current or ())
    if replace or not current:
        return wanted
    return union(current, wanted)


def _union_addresses(current, wanted):
    return tuple(sorted(set(current) | set(wanted), key=cidr_sort_key))


def _union_gateway(current, wanted):
    """One gateway per IP version: a wanted one replaces the current one of its version."""
    kept = {ipaddress.ip_address(g).version: g for g in current}
    kept.update({ipaddress.ip_address(g).version: g for g in wanted})
    return tuple(kept[v] for v in sorted(kept))


def _union_routes(current, wanted):
    """One via per destination: a wanted route replaces the current one to the same dst."""
    merged = dict(current)
    merged.update(dict(wanted))
    return tuple(sorted(merged.items()))


def _set_diff(params: dict[str, Any], field: str, old, new, sort_key) -> None:
    old_set, new_set = set(old or ()), set(new or ())
    for prefix, items in (("add", new_set - old_set), ("del", old_set - new_set)):
        if items:
            params[f"{prefix}_{field}"] = [list(x) if isinstance(x, tuple) else x for x in sorted(items, key=sort_key)]


class VethEngine:
    def __init__(self) -> None:
        self.resource = VethResource()
        self.check_mode = False  # set by converge(); check mode simulates missing dependencies
        self.warnings: list[str] = []
        self._host: NamespaceView | None = None

    # ---- validate -------------------------------------------------------
    def validate(self, params: dict[str, Any]) -> list[Veth]:
        config = params.get("config") or []
        self.resource.force = bool(params.get("force"))
        if params["state"] in ("merged", "replaced") and not config:
            raise ValidationError(f"state={params['state']} needs a non-empty config")
        want = [self._validate_one(entry, params["state"]) for entry in config]
        check_unique(want, lambda v: v.name, "veth")
        if params["state"] != "deleted":
            check_unique(want, lambda v: f"peer {v.peer_name} in netns {v.peer_netns}", "veth")
        return want

    def _validate_one(self, entry: dict[str, Any], state: str) -> Veth:
        name = check_ifname(entry.get("name"), "veth name")
        where = f"veth {name}:"
        peer = entry.get("peer") or {}
        if state == "deleted":
            # Deleting needs only the host-side name; deleting either end deletes the pair.
            return Veth(name=name, peer_name=None, peer_netns=None)
        if not isinstance(peer, dict) or not peer.get("name") or not peer.get("netns"):
            raise ValidationError(f"{where} peer needs a name (e.g. eth0) and a netns")
        peer_name = check_ifname(peer["name"], f"{where} peer name")
        netns = check_netns_name(peer["netns"], f"{where} peer netns")
        bridge = entry.get("bridge")
        if bridge is not None:
            bridge = check_ifname(bridge, f"{where} bridge name")
        hairpin = entry.get("hairpin")
        if hairpin is not None and not bridge:
            raise ValidationError(f"{where} hairpin is a bridge port setting and needs bridge")
        addresses = check_addresses(peer.get("addresses"), f"{where} peer addresses")
        gateway = _check_gateway(peer.get("gateway"), addresses, where)
        routes = _check_routes(peer.get("routes"), where)
        if peer.get("up") is False and (gateway or routes):
            raise ValidationError(f"{where} the kernel routes only through an interface that is up; peer up is false")
        return Veth(
            name=name,
            peer_name=peer_name,
            peer_netns=netns,
            bridge=bridge,
            host_mtu=check_mtu(entry.get("host_mtu"), f"{where} host_mtu"),
            hairpin=None if hairpin is None else bool(hairpin),
            peer_mac=check_mac(peer.get("mac"), f"{where} peer mac"),
            peer_mtu=check_mtu(peer.get("mtu"), f"{where} peer mtu"),
            addresses=addresses,
            gateway=gateway,
            routes=routes,
            peer_up=True if peer.get("up") is None else bool(peer["up"]),
        )

    # ---- read -----------------------------------------------------------
    def read(self, nl: Netlink, want: list[Veth], params: dict[str, Any]) -> dict[Hashable, Veth]:
        self.warnings = []
        host = read_namespace(nl.ipr(None))
        self._host = host
        everything = params["state"] == "overridden" or (params["state"] == "deleted" and not want)
        listed = {v.name for v in want}
        for obj in want:
            link = host.by_name.get(obj.name)
            if link is not None and link.kind != "veth":
                raise ConflictError(
                    f"veth {obj.name}: an interface of that name already exists and is not a veth "
                    f"(kind {link.kind or 'unknown'}); nothing was changed"
                )
            self._check_bridge(host, obj)
        # The peer namespaces that matter, read once each; missing ones are errors (or, in check mode, notes).
        wanted_ns = sorted({v.peer_netns for v in want if v.peer_netns})
        views: dict[str, NamespaceView] = {}
        routes: dict[str, list] = {}
        # Namespaces where a listed veth already has its host end are read in full (to compare); in the
        # others only the peer names are looked up (one GET each), which is what a first run needs.
        existing = {v.peer_netns for v in want if v.name in host.by_name}
        for ns in wanted_ns:
            if not netns_exists(ns):
                users = ", ".join(sorted(v.name for v in want if v.peer_netns == ns))
                if not self.check_mode:
                    raise ValidationError(
                        f"veth {users}: peer netns {ns} does not exist; create it first "
                        "(netplumb.container.netns); this module does not create namespaces"
                    )
                self.warnings.append(
                    f"netns {ns} does not exist; check mode assumes an earlier task creates it (veth {users})"
                )
                continue
            if not self.resource.force and not netns_owned(nl.reader, ns):
                users = ", ".join(sorted(v.name for v in want if v.peer_netns == ns))
                raise ConflictError(
                    f"veth {users}: netns {ns} was not created by netplumb.container; refusing to put a peer "
                    "into it (set force: true to use it anyway); nothing was changed"
                )
            ipr = nl.ipr(ns)
            if ns in existing or everything:
                views[ns] = read_namespace(ipr)
                routes[ns] = ipr.get_routes(table=MAIN_TABLE)
            else:
                views[ns] = probe_names(ipr, [v.peer_name for v in want if v.peer_netns == ns])
        selected = [x for x in host.by_name.values() if x.kind == "veth" and (everything or x.name in listed)]
        nsids = self._nsids(nl, wanted_ns, {x.peer_nsid for x in selected if x.peer_nsid is not None})
        have: dict[Hashable, Veth] = {}
        for link in selected:
            have[link.name] = self._read_one(link, nsids, views, routes)
        self._check_peer_names(want, have, views)
        return have

    def _check_bridge(self, host: NamespaceView, obj: Veth) -> None:
        if not obj.bridge:
            return
        bridge = host.by_name.get(obj.bridge)
        if bridge is None:
            if not self.check_mode:
                raise ValidationError(
                    f"veth {obj.name}: bridge {obj.bridge} does not exist; create it first (netplumb.container.bridge)"
                )
            self.warnings.append(
                f"bridge {obj.bridge} does not exist; check mode assumes an earlier task creates it (veth {obj.name})"
            )
        elif bridge.kind != "bridge":
            raise ConflictError(f"veth {obj.name}: {obj.bridge} is not a bridge (kind {bridge.kind or 'unknown'})")

    def _nsids(self, nl: Netlink, first: list[str], needed: set[int]) -> dict[int, str]:
        """nsid (as the host namespace numbers them) -> name: the wanted namespaces first, then the others."""
        ipr = nl.ipr(None)
        found: dict[int, str] = {}
        for names in (first, None):
            for ns in names if names is not None else list_netns():
                if not needed - set(found):
                    return found
                if ns in found.values() or not netns_exists(ns):
                    continue
                fd = os.open(netns_path(ns), os.O_RDONLY | os.O_CLOEXEC)
                try:
                    nsid = (ipr.get_netnsid(fd=fd) or {}).get("nsid")
                finally:
                    os.close(fd)
                if nsid is not None and nsid >= 0:
                    found[nsid] = ns
        return found

    def _read_one(self, link, nsids, views, routes) -> Veth:
        bridge = self._host.by_index.get(link.master) if link.master else None
        hairpin = None
        if bridge is not None and bridge.kind == "bridge":
            hairpin = bool(link.slave.get("IFLA_BRPORT_MODE"))
        if link.peer_nsid is None:
            netns = None  # both ends in the host namespace
            peer = self._host.by_index.get(link.peer_index)
        else:
            netns = nsids.get(link.peer_nsid, f"nsid {link.peer_nsid}")
            view = views.get(netns)
            peer = view.by_index.get(link.peer_index) if view else None
        base = dict(
            name=link.name,
            bridge=bridge.name if bridge else None,
            host_mtu=link.mtu,
            hairpin=hairpin,
            up=link.up,
            owned=link.alias == OWNER_MARK,
        )
        if peer is None or netns is None:
            return Veth(peer_name=peer.name if peer else None, peer_netns=netns, peer_up=None, **base)
        gateway, extra = _peer_routes(routes.get(netns, []), peer.index)
        return Veth(
            peer_name=peer.name,
            peer_netns=netns,
            peer_mac=peer.mac,
            peer_mtu=peer.mtu,
            addresses=tuple(peer.addresses),
            gateway=gateway,
            routes=extra,
            peer_up=peer.up,
            **base,
        )

    def _check_peer_names(self, want: list[Veth], have: dict, views: dict[str, NamespaceView]) -> None:
        """The peer's final name must be free in its namespace (or already be this veth's peer)."""
        listed = {v.name for v in want}
        ours = {(h.peer_netns, h.peer_name) for k, h in have.items() if k in listed}
        for obj in want:
            view = views.get(obj.peer_netns)
            if view is None or obj.peer_name not in view.by_name:
                continue
            if (obj.peer_netns, obj.peer_name) in ours:
                continue
            raise ConflictError(
                f"veth {obj.name}: netns {obj.peer_netns} already has an interface {obj.peer_name} "
                "that is not the peer of a listed veth; nothing was changed"
            )

    # ---- apply ----------------------------------------------------------
    def apply(self, nl: Netlink, action: Action) -> None:
        ipr = nl.ipr(None)
        p = action.params
        if action.op == "delete":
            delete_link(ipr, action.name)
            return
        peer = p["peer"]
        pipr = nl.ipr(peer["netns"])
        pname = peer["name"]
        link: dict[str, Any] = {}
        if action.op == "create":
            self._create(ipr, action.name, p)
            link["ifalias"] = OWNER_MARK  # mac and mtu were set when the peer was born
            up = peer["up"]
        else:
            self._update_host(ipr, action.name, p)
            if p.get("peer_mac"):
                link["address"] = p["peer_mac"]
            if p.get("peer_mtu"):
                link["mtu"] = p["peer_mtu"]
            up = p.get("peer_up")
            if "rename_peer" in p:
                # A rename needs the link down; addresses and routes survive it.
                old = p["rename_peer"][0]
                pipr.link("set", ifname=old, state="down")
                pipr.link("set", index=_index(pipr, old, action.name, peer["netns"]), ifname=pname)
                up = True if up is None else up
        if up is not None:
            link["state"] = "up" if up else "down"
        if link:
            pipr.link("set", ifname=pname, **link)
        adds = list(dict.fromkeys(peer.get("addresses", []) + p.get("add_addresses", [])))
        gateways = peer.get("gateway", []) + p.get("add_gateway", [])
        routes = peer.get("routes", []) + p.get("add_routes", [])
        if not (adds or gateways or routes or p.get("del_addresses")):
            for dst, via in p.get("del_routes", []):
                _route(pipr, "del", dst, via, None)
            for gw in p.get("del_gateway", []):
                _route(pipr, "del", DEFAULT_DST[family_of(gw)], gw, None)
            return
        index = _index(pipr, pname, action.name, peer["netns"])
        for cidr in p.get("del_addresses", []):
            del_address(pipr, index, cidr)
        for cidr in adds:
            add_address(pipr, index, cidr, nodad=True)
        for dst, via in p.get("del_routes", []):
            _route(pipr, "del", dst, via, index)
        for gw in p.get("del_gateway", []):
            _route(pipr, "del", DEFAULT_DST[family_of(gw)], gw, index)
        # Through the peer explicitly: an IPv6 link-local gateway needs the device, and any route must leave here.
        for gw in gateways:
            _route(pipr, "replace", DEFAULT_DST[family_of(gw)], gw, index)
        for dst, via in routes:
            _route(pipr, "replace", dst, via, index)

    def _create(self, ipr, name: str, p: dict[str, Any]) -> None:
        peer = p["peer"]
        peer_link: dict[str, Any] = {"ifname": peer["name"]}
        if peer.get("mac"):
            peer_link["address"] = peer["mac"]
        if peer.get("mtu"):
            peer_link["mtu"] = peer["mtu"]
        host: dict[str, Any] = {"state": "up"}
        if p.get("host_mtu"):
            host["mtu"] = p["host_mtu"]
        if p.get("bridge"):
            host["master"] = self._bridge_index(ipr, p["bridge"])
        fd = os.open(netns_path(peer["netns"]), os.O_RDONLY | os.O_CLOEXEC)
        try:
            # The peer is born inside its namespace with its final name: no move, no rename.
            peer_link["net_ns_fd"] = fd
            ipr.link("add", ifname=name, kind="veth", peer=peer_link, **host)
        finally:
            os.close(fd)
        # The kernel ignores IFLA_IFALIAS on creation.
        ipr.link("set", ifname=name, ifalias=OWNER_MARK)
        if p.get("hairpin"):
            ipr.link("set", ifname=name, kind="bridge_slave", mode=1)

    def _update_host(self, ipr, name: str, p: dict[str, Any]) -> None:
        link: dict[str, Any] = {}
        if "bridge" in p:
            link["master"] = self._bridge_index(ipr, p["bridge"]) if p["bridge"] else 0
        if p.get("host_mtu"):
            link["mtu"] = p["host_mtu"]
        if p.get("up"):
            link["state"] = "up"
        if link:
            ipr.link("set", ifname=name, **link)
        if "hairpin" in p:
            ipr.link("set", ifname=name, kind="bridge_slave", mode=1 if p["hairpin"] else 0)

    def _bridge_index(self, ipr, bridge: str) -> int:
        link = self._host.by_name.get(bridge) if self._host else None
        if link is not None:
            return link.index
        found = ipr.link_lookup(ifname=bridge)
        if not found:
            raise KernelError(f"bridge {bridge}: does not exist")
        return found[0]

    def render(self, obj: Veth) -> dict[str, Any]:
        return {
            "name": obj.name,
            "bridge": obj.bridge,
            "host_mtu": obj.host_mtu,
            "hairpin": obj.hairpin,
            "owned": obj.owned,
            "peer": {
                "name": obj.peer_name,
                "netns": obj.peer_netns,
                "mac": obj.peer_mac,
                "mtu": obj.peer_mtu,
                "addresses": list(obj.addresses or []),
                "gateway": list(obj.gateway or []),
                "routes": [{"dst": d, "via": v} for d, v in obj.routes or ()],
                "up": obj.peer_up,
            },
        }


def _index(ipr, name: str, veth: str, netns: str) -> int:
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise KernelError(f"veth {veth}: peer {name} not found in netns {netns}")
    return found[0]


def _route(ipr, op: str, dst: str, via: str, oif: int | None) -> None:
    # No proto: these routes belong to the veth, not to the route module (whose overridden removes proto 78 only).
    extra = {"oif": oif} if oif else {}
    change_route(ipr, op, dst=dst, gateway=via, family=family_of(via), table=MAIN_TABLE, **extra)


def _peer_routes(messages, index: int) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The default gateways and the gateway routes that leave through the peer."""
    gateway: dict[int, str] = {}  # by address family: AF_INET sorts before AF_INET6
    routes = []
    for msg in messages:
        via = msg.get_attr("RTA_GATEWAY")
        if via is None or msg.get_attr("RTA_OIF") != index or msg["proto"] == RTPROT_KERNEL:
            continue
        if msg["dst_len"] == 0:
            gateway.setdefault(msg["family"], canonical_ip(via))
        else:
            routes.append((msg_dst(msg), canonical_ip(via)))
    return tuple(gateway[f] for f in sorted(gateway)), tuple(sorted(routes))


def _check_gateway(value: Any, addresses: tuple[str, ...] | None, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    by_version: dict[int, str] = {}
    for item in values:
        ip = ipaddress.ip_address(canonical_ip(item, f"{where} peer gateway"))
        if ip.version in by_version:
            raise ValidationError(f"{where} peer gateway lists two IPv{ip.version} addresses; one default route each")
        same = [ipaddress.ip_interface(a) for a in addresses or () if ipaddress.ip_interface(a).version == ip.version]
        if same and not ip.is_link_local and not any(ip in a.network for a in same):
            raise ValidationError(
                f"{where} peer gateway {ip} is not inside any of the peer's IPv{ip.version} networks "
                f"({', '.join(str(a.network) for a in same)})"
            )
        by_version[ip.version] = str(ip)
    return tuple(by_version[v] for v in sorted(by_version))


def _check_routes(value: Any, where: str) -> tuple[tuple[str, str], ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValidationError(f"{where} peer routes must be a list of {{dst, via}}")
    out: dict[str, str] = {}
    for item in value:
        if not isinstance(item, dict) or "dst" not in item or "via" not in item:
            raise ValidationError(f"{where} each peer route needs dst and via, got {item!r}")
        dst = canonical_net(item["dst"], f"{where} route dst")
        via = canonical_ip(item["via"], f"{where} route via")
        if ipaddress.ip_network(dst).version != ipaddress.ip_address(via).version:
            raise ValidationError(f"{where} route {dst} via {via} mixes IPv4 and IPv6")
        if dst in out:
            raise ValidationError(f"{where} route {dst} is listed twice")
        out[dst] = via
    return tuple(sorted(out.items()))
