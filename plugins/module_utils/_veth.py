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

from ansible_collections.netplumb.container.plugins.module_utils import _rtnl as rtnl
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
    read_view,
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
)
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_ifname,
    check_netns_name,
    check_unique,
    config_list,
    parse_bool,
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
    force: bool = dataclasses.field(default=False, compare=False)  # the run's force: recreate a foreign pair
    # Left half made by a run killed between creating the pair and marking it: the next run takes it over.
    half_made: bool = dataclasses.field(default=False, compare=False)

    @property
    def peer_at(self) -> tuple[str | None, str | None]:
        return (self.peer_netns, self.peer_name)


class VethResource(NamedResource):
    kind = "veth"

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
            owned=(have.owned or have.half_made) if have else True,
            force=want.force,
        )

    def create(self, obj: Veth) -> list[Action]:
        return [Action("create", self.kind, obj.name, params=changes(None, obj), phase=1, after=obj)]

    def update(self, have: Veth, want: Veth) -> list[Action]:
        if have.peer_netns != want.peer_netns:
            if not have.owned and not want.force:
                raise ConflictError(
                    f"veth {have.name}: its peer is in netns {have.peer_netns or '(the host)'}, not "
                    f"{want.peer_netns}; that means recreating the pair, but it was not created by "
                    "netplumb.container (set force: true to recreate it anyway)"
                )
            return self.delete(have) + self.create(want)
        params = changes(have, want)
        if want.owned and not have.owned:
            params["owned"] = True
        if not params:
            return []
        return [Action("update", self.kind, want.name, params=params, phase=1, before=have, after=want)]

    def delete(self, obj: Veth) -> list[Action]:
        # Deleting one end deletes the pair.
        return [Action("delete", self.kind, obj.name, phase=0, before=obj)]


_SCALARS = ("peer_name", "peer_netns", "bridge", "host_mtu", "hairpin", "peer_mac", "peer_mtu", "peer_up", "up")
_LISTS = {
    "addresses": cidr_sort_key,
    "gateway": lambda g: (ipaddress.ip_address(g).version, g),
    "routes": lambda r: r,
}


def changes(have: Veth | None, want: Veth) -> dict[str, Any]:
    """What an action sets, in one vocabulary for create (from nothing) and update: each scalar field that
    changes (its new value), and for each list what is added and removed (``add_addresses``, ``del_routes``)."""
    params: dict[str, Any] = {}
    for field in _SCALARS:
        new = getattr(want, field)
        old = getattr(have, field) if have is not None else None
        # None in the target means "not managed", except for the bridge (None there is "no bridge").
        if new != old and (new is not None or (field == "bridge" and have is not None)):
            params[field] = new
    for field, key in _LISTS.items():
        old = set(getattr(have, field) or ()) if have is not None else set()
        new = set(getattr(want, field) or ())
        for prefix, items in (("add", new - old), ("del", old - new)):
            if items:
                params[f"{prefix}_{field}"] = [list(x) if isinstance(x, tuple) else x for x in sorted(items, key=key)]
    return params


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


class VethEngine:
    """validate -> read -> apply for veth pairs. Keeps nothing between the phases: the cycle's check mode
    and warnings travel in ``params`` (set by converge), and each action carries its typed before/after."""

    resource = VethResource()

    # ---- validate -------------------------------------------------------
    def validate(self, params: dict[str, Any]) -> list[Veth]:
        config = config_list(params.get("config"), params["state"])
        force = parse_bool(params.get("force"), "force", default=False)
        want = [self._validate_one(entry, params["state"], force) for entry in config]
        check_unique(want, lambda v: v.name, "veth")
        if params["state"] != "deleted":
            check_unique(want, lambda v: f"peer {v.peer_name} in netns {v.peer_netns}", "veth")
        return want

    def _validate_one(self, entry: dict[str, Any], state: str, force: bool) -> Veth:
        name = check_ifname(entry.get("name"), "veth name")
        where = f"veth {name}:"
        peer = entry.get("peer") or {}
        if state == "deleted":
            # Deleting needs only the host-side name; deleting either end deletes the pair.
            return Veth(name=name, peer_name=None, peer_netns=None, force=force)
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
        peer_up = parse_bool(peer.get("up"), f"{where} peer up", default=True)
        if not peer_up and (gateway or routes):
            raise ValidationError(f"{where} the kernel routes only through an interface that is up; peer up is false")
        return Veth(
            name=name,
            peer_name=peer_name,
            peer_netns=netns,
            bridge=bridge,
            host_mtu=check_mtu(entry.get("host_mtu"), f"{where} host_mtu"),
            hairpin=None if hairpin is None else parse_bool(hairpin, f"{where} hairpin"),
            peer_mac=check_mac(peer.get("mac"), f"{where} peer mac"),
            peer_mtu=check_mtu(peer.get("mtu"), f"{where} peer mtu"),
            addresses=addresses,
            gateway=gateway,
            routes=routes,
            peer_up=peer_up,
            force=force,
        )

    # ---- read -----------------------------------------------------------
    def read(self, nl: Netlink, want: list[Veth], params: dict[str, Any]) -> dict[Hashable, Veth]:
        check_mode = bool(params.get("check_mode"))
        warnings = params.setdefault("warnings", [])
        force = parse_bool(params.get("force"), "force", default=False)
        reader = nl.reader
        host = read_view(reader, None, addresses=False)
        everything = params["state"] == "overridden" or (params["state"] == "deleted" and not want)
        listed = {v.name for v in want}
        for obj in want:
            link = host.by_name.get(obj.name)
            if link is not None and link.kind != "veth":
                raise ConflictError(
                    f"veth {obj.name}: an interface of that name already exists and is not a veth "
                    f"(kind {link.kind or 'unknown'}); nothing was changed"
                )
            _check_bridge(host, obj, check_mode, warnings)
        # Each peer namespace is read once, from the one socket (links always: the peer's name must be free
        # and lo says who made the namespace; addresses and routes where a listed veth already exists).
        wanted_ns = sorted({v.peer_netns for v in want if v.peer_netns})
        views: dict[str, NamespaceView] = {}
        routes: dict[str, list] = {}
        existing = {v.peer_netns for v in want if v.name in host.by_name}
        for ns in wanted_ns:
            users = ", ".join(sorted(v.name for v in want if v.peer_netns == ns))
            if not netns_exists(ns):
                if not check_mode:
                    raise ValidationError(
                        f"veth {users}: peer netns {ns} does not exist; create it first "
                        "(netplumb.container.netns); this module does not create namespaces"
                    )
                warnings.append(
                    f"netns {ns} does not exist; check mode assumes an earlier task creates it (veth {users})"
                )
                continue
            full = ns in existing or everything
            views[ns] = read_view(reader, ns, addresses=full)
            if not force and not netns_owned(views[ns]):
                raise ConflictError(
                    f"veth {users}: netns {ns} was not created by netplumb.container; refusing to put a peer "
                    "into it (set force: true to use it anyway); nothing was changed"
                )
            if full:
                routes[ns] = reader.routes(ns)
        selected = [x for x in host.by_name.values() if x.kind == "veth" and (everything or x.name in listed)]
        nsids = _nsids(nl, wanted_ns, {x.peer_nsid for x in selected if x.peer_nsid is not None})
        have: dict[Hashable, Veth] = {}
        wanted = {v.name: v for v in want} if params["state"] != "deleted" else {}
        for link in selected:
            have[link.name] = _read_one(host, link, nsids, views, routes)
            if _half_made(have[link.name], wanted.get(link.name), views):
                have[link.name] = dataclasses.replace(have[link.name], half_made=True)
                warnings.append(
                    f"veth {link.name}: taking over a pair an interrupted run left half made (without the ownership "
                    "mark, its peer down and without addresses in a namespace netplumb.container made, with exactly "
                    "this peer's name, MAC, MTU and bridge)"
                )
        _check_peer_names(want, have, views)
        return have

    # ---- apply ----------------------------------------------------------
    def apply(self, nl: Netlink, action: Action) -> None:
        """One path for every op: from ``action.before`` to ``action.after`` (either may be None)."""
        before, after = action.before, action.after
        if after is None:
            delete_link(nl.ipr(None), action.name)
            return
        if before is None:
            _create_pair(nl, after)
            _set_new_peer(nl, after)
        else:
            _set_host_end(nl, before, after)
            _set_peer(nl, before, after)

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


def _check_bridge(host: NamespaceView, obj: Veth, check_mode: bool, warnings: list[str]) -> None:
    if not obj.bridge:
        return
    bridge = host.by_name.get(obj.bridge)
    if bridge is None:
        if not check_mode:
            raise ValidationError(
                f"veth {obj.name}: bridge {obj.bridge} does not exist; create it first (netplumb.container.bridge)"
            )
        warnings.append(
            f"bridge {obj.bridge} does not exist; check mode assumes an earlier task creates it (veth {obj.name})"
        )
    elif bridge.kind != "bridge":
        raise ConflictError(f"veth {obj.name}: {obj.bridge} is not a bridge (kind {bridge.kind or 'unknown'})")


def _nsids(nl: Netlink, first: list[str], needed: set[int]) -> dict[int, str]:
    """nsid (as the host namespace numbers them) -> name: the wanted namespaces first, then the others."""
    found: dict[int, str] = {}
    for names in (first, None):
        todo = [ns for ns in (names if names is not None else list_netns()) if ns not in found.values()]
        if not needed - set(found):
            break
        found.update(nl.reader.nsid_names(todo))
    return found


def _read_one(host: NamespaceView, link, nsids, views, routes) -> Veth:
    bridge = host.by_index.get(link.master) if link.master else None
    hairpin = None
    if bridge is not None and bridge.kind == "bridge":
        hairpin = bool(link.slave.get("IFLA_BRPORT_MODE"))
    if link.peer_nsid is None:
        netns = None  # both ends in the host namespace
        peer = host.by_index.get(link.peer_index)
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


def _half_made(have: Veth, want: Veth | None, views: dict[str, NamespaceView]) -> bool:
    """What a run killed between creating the pair and marking it leaves (the kernel ignores IFLA_IFALIAS on
    creation): an unmarked pair exactly as this run would create it, its peer untouched yet inside a namespace
    the collection made. A foreign pair is not born with our peer's name and MAC in our namespace."""
    if want is None or have.owned or have.peer_netns != want.peer_netns or have.peer_name != want.peer_name:
        return False
    view = views.get(want.peer_netns or "")
    peer = view.by_name.get(want.peer_name or "") if view is not None else None
    if peer is None or not netns_owned(view) or peer.alias or peer.up or peer.addresses:
        return False
    expected = (want.peer_mac, want.peer_mtu, want.host_mtu)
    found = (have.peer_mac, have.peer_mtu, have.host_mtu)
    return have.bridge == want.bridge and all(w is None or w == f for w, f in zip(expected, found))


def _check_peer_names(want: list[Veth], have: dict, views: dict[str, NamespaceView]) -> None:
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


def _create_pair(nl: Netlink, after: Veth) -> None:
    """One RTM_NEWLINK: the peer is born inside its namespace with its final name, MAC and MTU."""
    sock = nl.reader.socket(None)
    master = _link_index(nl, None, after.bridge, f"veth {after.name}: bridge") if after.bridge else None
    fd = os.open(netns_path(after.peer_netns), os.O_RDONLY | os.O_CLOEXEC)
    try:
        rtnl.create_veth(sock, after.name, after.peer_name, fd, after.peer_mac, after.peer_mtu, after.host_mtu, master)
    finally:
        os.close(fd)
    # The kernel ignores IFLA_IFALIAS on creation.
    rtnl.set_link(sock, 0, name=after.name, alias=OWNER_MARK)
    if after.hairpin:
        rtnl.set_bridge_port_mode(sock, after.name, 1)


def _set_new_peer(nl: Netlink, after: Veth) -> None:
    """A peer just born (MAC and MTU set at birth): its mark, state, addresses, gateway and routes."""
    sock = nl.reader.socket(after.peer_netns)
    index = _link_index(nl, after.peer_netns, after.peer_name, f"veth {after.name}: peer")
    rtnl.set_link(sock, index, up=after.peer_up, alias=OWNER_MARK)
    for cidr in after.addresses or ():
        rtnl.add_address(sock, index, cidr, nodad=True)
    # Through the peer explicitly: an IPv6 link-local gateway needs the device, and any route must leave here.
    for gw in after.gateway or ():
        rtnl.replace_route(sock, DEFAULT_DST[family_of(gw)], gw, index, MAIN_TABLE)
    for dst, via in after.routes or ():
        rtnl.replace_route(sock, dst, via, index, MAIN_TABLE)


def _set_host_end(nl: Netlink, before: Veth, after: Veth) -> None:
    ipr = nl.ipr(None)
    link: dict[str, Any] = {}
    if after.bridge != before.bridge:
        link["master"] = _link_index(nl, None, after.bridge, f"veth {after.name}: bridge") if after.bridge else 0
    if after.host_mtu is not None and after.host_mtu != before.host_mtu:
        link["mtu"] = after.host_mtu
    if not before.up:
        link["state"] = "up"
    if after.owned and not before.owned:
        link["ifalias"] = OWNER_MARK
    if link:
        ipr.link("set", ifname=after.name, **link)
    if after.hairpin is not None and (after.hairpin != before.hairpin or "master" in link):
        ipr.link("set", ifname=after.name, kind="bridge_slave", mode=1 if after.hairpin else 0)


def _set_peer(nl: Netlink, before: Veth, after: Veth) -> None:
    """The peer's name, MAC, MTU, state, then its addresses, gateway and routes (removed ones first)."""
    netns = after.peer_netns
    pipr = nl.ipr(netns)
    where = f"veth {after.name}: peer"
    link: dict[str, Any] = {}
    up = after.peer_up
    if after.owned and not before.owned:  # a half-made pair taken over
        link["ifalias"] = OWNER_MARK
    if before.peer_name != after.peer_name:
        # A rename needs the link down; addresses and routes survive it.
        index = _link_index(nl, netns, before.peer_name, where)
        pipr.link("set", index=index, state="down")
        pipr.link("set", index=index, ifname=after.peer_name)
        up = True if up is None else up
    elif up == before.peer_up:
        up = None
    if after.peer_mac is not None and after.peer_mac != before.peer_mac:
        link["address"] = after.peer_mac
    if after.peer_mtu is not None and after.peer_mtu != before.peer_mtu:
        link["mtu"] = after.peer_mtu
    if up is not None:
        link["state"] = "up" if up else "down"
    fields = ("addresses", "gateway", "routes")
    lists = {f: (set(getattr(before, f) or ()), list(getattr(after, f) or ())) for f in fields}
    if not link and all(set(new) == gone for gone, new in lists.values()):
        return
    index = _link_index(nl, netns, after.peer_name, where)
    if link:
        pipr.link("set", index=index, **link)
    (old_addrs, addrs), (old_gws, gws), (old_routes, routes) = lists.values()
    removed = old_addrs - set(addrs)
    for cidr in sorted(removed, key=cidr_sort_key):
        del_address(pipr, index, cidr)
    # Removing a primary IPv4 address also removes its secondaries and the routes through it:
    # after a removal the whole target set is asserted again.
    for cidr in addrs if removed else [a for a in addrs if a not in old_addrs]:
        add_address(pipr, index, cidr, nodad=True)
    for dst, via in sorted(old_routes - set(routes)):
        _route(pipr, "del", dst, via, index)
    for gw in sorted(old_gws - set(gws)):
        _route(pipr, "del", DEFAULT_DST[family_of(gw)], gw, index)
    # Through the peer explicitly: an IPv6 link-local gateway needs the device, and any route must leave here.
    for gw in gws if removed else [g for g in gws if g not in old_gws]:
        _route(pipr, "replace", DEFAULT_DST[family_of(gw)], gw, index)
    for dst, via in routes if removed else [r for r in routes if r not in old_routes]:
        _route(pipr, "replace", dst, via, index)


def _link_index(nl: Netlink, netns: str | None, name: str, what: str) -> int:
    index = nl.reader.index(netns, name)
    if index is None:
        raise KernelError(f"{what} {name} not found" + (f" in netns {netns}" if netns else ""))
    return index


def _route(ipr, op: str, dst: str, via: str, oif: int | None) -> None:
    # No proto: these routes belong to the veth, not to the route module (whose overridden removes proto 78 only).
    extra = {"oif": oif} if oif else {}
    change_route(ipr, op, dst=dst, gateway=via, family=family_of(via), table=MAIN_TABLE, **extra)


def _peer_routes(found: list[dict[str, Any]], index: int) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The default gateways and the gateway routes that leave through the peer (main table, as _rtnl reads it)."""
    gateway: dict[int, str] = {}  # by address family: AF_INET sorts before AF_INET6
    routes = []
    for route in found:
        via = route["gateway"]
        if via is None or route["oif"] != index or route["proto"] == RTPROT_KERNEL:
            continue
        if route["dst_len"] == 0:
            gateway.setdefault(route["family"], canonical_ip(via))
        else:
            routes.append((rtnl.route_network(route), canonical_ip(via)))
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
