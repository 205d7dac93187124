# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vxlan resource: flannel-style VXLAN tunnel endpoints (VTEPs) with static peers.

Identity is (netns, name). A device never has a multicast group or a default
remote: every peer is two static kernel entries on it, an FDB entry (peer VTEP
MAC -> peer underlay address, ``bridge fdb ... self permanent``) and a
permanent neighbour (peer VTEP address -> peer VTEP MAC). For a listed device
the peers given are the complete set. Only permanent entries are read and
managed: what the kernel learns (with learning on) or resolves stays its own.

vni, port, local and dev are fixed when the kernel creates a vxlan device, so
a change of one of them deletes the device and creates it again (the delete
action says why). Devices carry OWNER_MARK as their link alias.

``vtep_mac(vni, local)`` is the MAC a device gets when none is given; it is
pure, so a controller can compute every host's MAC without asking the host.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import ipaddress
import socket
from typing import Any, Hashable

from ansible_collections.netplumb.container.plugins.module_utils._errors import (
    ConflictError,
    KernelError,
    ValidationError,
)
from ansible_collections.netplumb.container.plugins.module_utils._links import (
    NamespaceView,
    add_address,
    check_addresses,
    cidr_sort_key,
    del_address,
    delete_link,
    read_namespace,
)
from ansible_collections.netplumb.container.plugins.module_utils._model import OWNER_MARK, Action
from ansible_collections.netplumb.container.plugins.module_utils._netlink import Netlink, NetlinkError, netns_exists
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_ifname,
    check_netns_name,
    check_unique,
    parse_bool,
    parse_ip,
    parse_mac,
    parse_mtu,
    parse_port,
    parse_vni,
)

DEFAULT_PORT = 4789  # IANA's; the kernel's own default (8472) is Linux's pre-standard one
# Outer IP + UDP + VXLAN header + inner Ethernet header, by the underlay's IP version.
OVERHEAD = {4: 50, 6: 70}
FALLBACK_UNDERLAY_MTU = 1500
NUD_PERMANENT = 0x80
NTF_SELF = 0x02
AF_BRIDGE = 7
_RECREATE = ("kind", "vni", "port", "local", "dev", "group")


def vtep_mac(vni: int, local: str) -> str:
    """The VTEP MAC of a device with this VNI and underlay address, when none is given.

    Locally administered unicast, first byte 0e. For an IPv4 underlay it is
    0e:<VNI's low byte>:<the four address bytes> (VNI 1 on 198.18.0.11 ->
    0e:01:c6:12:00:0b), unique by construction among the VTEPs of one VNI;
    for IPv6, 0e and five bytes of SHA-256 over "<vni>/<address>".
    """
    ip = ipaddress.ip_address(local)
    tail = bytes([vni & 0xFF]) + ip.packed if ip.version == 4 else hashlib.sha256(f"{vni}/{ip}".encode()).digest()[:5]
    return ":".join(f"{b:02x}" for b in b"\x0e" + tail)


def vxlan_mtu(underlay_mtu: int, local: str) -> int:
    """The largest MTU of a VXLAN device over an underlay link of this MTU (1500 -> 1450 over IPv4)."""
    return underlay_mtu - OVERHEAD[ipaddress.ip_address(local).version]


@dataclasses.dataclass(frozen=True)
class Vxlan:
    """A VXLAN device. None (in want) means "not given"; read from the kernel every field is known."""

    name: str
    netns: str | None = None
    vni: int | None = None
    port: int | None = None
    local: str | None = None
    dev: str | None = None
    mac: str | None = None
    mtu: int | None = None
    addresses: tuple[str, ...] | None = None
    learning: bool | None = None
    fdb: tuple[tuple[str, str | None], ...] | None = None  # (peer VTEP MAC, underlay address), sorted
    neigh: tuple[tuple[str, str], ...] | None = None  # (peer VTEP address, its MAC), sorted
    up: bool = True
    owned: bool = True
    kind: str = "vxlan"  # a link of another kind with this name (only read with force, to replace it)
    group: str | None = None  # a multicast group or default remote: ours never have one

    @property
    def key(self) -> tuple[str, str]:
        return (self.netns or "", self.name)


def label(key: Hashable) -> str:
    netns, name = key  # type: ignore[misc]
    return f"{name} in netns {netns}" if netns else name


class VxlanResource:
    kind = "vxlan"

    def __init__(self) -> None:
        # What an omitted mtu becomes, per key: the underlay's MTU minus the overhead (set by the engine's read).
        self.default_mtu: dict[Hashable, int] = {}

    def key(self, obj: Vxlan) -> Hashable:
        return obj.key

    def label(self, key: Hashable) -> str:
        return label(key)

    def owned(self, obj: Vxlan) -> bool:
        return obj.owned and obj.kind == "vxlan"

    def merge(self, have: Vxlan | None, want: Vxlan, replace: bool) -> Vxlan:
        """Omitted options keep their value (merged) or return to the default (replaced); peers given are exact."""
        keep = have if have is not None and have.kind == "vxlan" and not replace else None

        def pick(field: str, default: Any) -> Any:
            value = getattr(want, field)
            if value is not None:
                return value
            return getattr(keep, field) if keep is not None else default

        addresses = want.addresses
        if addresses is None:
            addresses = keep.addresses if keep is not None else ()
        elif keep is not None and keep.addresses:
            addresses = tuple(sorted(set(keep.addresses) | set(addresses), key=cidr_sort_key))
        return Vxlan(
            name=want.name,
            netns=want.netns,
            vni=want.vni,
            port=pick("port", DEFAULT_PORT),
            local=want.local,
            dev=pick("dev", None),
            mac=want.mac or vtep_mac(want.vni or 0, want.local or "0.0.0.0"),
            mtu=pick("mtu", self.default_mtu.get(want.key)),
            addresses=addresses,
            learning=pick("learning", False),
            fdb=pick("fdb", ()),
            neigh=pick("neigh", ()),
        )

    def create(self, obj: Vxlan) -> list[Action]:
        params: dict[str, Any] = {"vni": obj.vni, "port": obj.port, "local": obj.local}
        for field in ("dev", "mac", "mtu"):
            if getattr(obj, field) is not None:
                params[field] = getattr(obj, field)
        params["learning"] = bool(obj.learning)
        if obj.addresses:
            params["addresses"] = list(obj.addresses)
        if obj.fdb:
            params["fdb"] = [list(entry) for entry in obj.fdb]
        if obj.neigh:
            params["neigh"] = [list(entry) for entry in obj.neigh]
        return [Action("create", self.kind, obj.name, obj.netns, params, phase=1)]

    def update(self, have: Vxlan, want: Vxlan) -> list[Action]:
        reasons = [
            f"{field} {_text(getattr(have, field))} -> {_text(getattr(want, field))}"
            for field in _RECREATE
            if getattr(have, field) != getattr(want, field)
        ]
        if reasons:
            delete = Action("delete", self.kind, have.name, have.netns, {"recreate": ", ".join(reasons)}, phase=0)
            return [delete, *self.create(want)]
        params: dict[str, Any] = {}
        for field in ("mac", "mtu", "learning"):
            value = getattr(want, field)
            if value is not None and value != getattr(have, field):
                params[field] = value
        if not have.up:
            params["up"] = True
        if not have.owned:
            params["owned"] = True
        _set_diff(params, "addresses", have.addresses, want.addresses)
        old_fdb, new_fdb = dict(have.fdb or ()), dict(want.fdb or ())
        if set(old_fdb) - set(new_fdb):
            params["del_fdb"] = sorted(set(old_fdb) - set(new_fdb))
        added = sorted(set(new_fdb.items()) - set(old_fdb.items()))
        if added:
            params["add_fdb"] = [list(entry) for entry in added]
        old_neigh, new_neigh = dict(have.neigh or ()), dict(want.neigh or ())
        if set(old_neigh) - set(new_neigh):
            params["del_neigh"] = sorted(set(old_neigh) - set(new_neigh), key=_ip_key)
        added = sorted(set(new_neigh.items()) - set(old_neigh.items()), key=lambda e: _ip_key(e[0]))
        if "mac" in params:
            # A new device MAC makes the kernel flush the device's neighbours, permanent ones too.
            added = sorted(new_neigh.items(), key=lambda e: _ip_key(e[0]))
        if added:
            params["add_neigh"] = [list(entry) for entry in added]
        return [Action("update", self.kind, want.name, want.netns, params, phase=1)] if params else []

    def delete(self, obj: Vxlan) -> list[Action]:
        return [Action("delete", self.kind, obj.name, obj.netns, phase=0)]


def _text(value: Any) -> str:
    return "none" if value is None else str(value)


def _ip_key(text: str) -> tuple:
    ip = ipaddress.ip_address(text)
    return (ip.version, ip)


def _set_diff(params: dict[str, Any], name: str, old, new) -> None:
    old_set, new_set = set(old or ()), set(new or ())
    if new_set - old_set:
        params[f"add_{name}"] = sorted(new_set - old_set, key=cidr_sort_key)
    if old_set - new_set:
        params[f"del_{name}"] = sorted(old_set - new_set, key=cidr_sort_key)


def parse_vxlan(entry: dict[str, Any], identity_only: bool = False) -> Vxlan:
    """A config entry as a Vxlan; every error names the device, the option and the value."""
    name = check_ifname(entry.get("name"), "vxlan name")
    netns = entry.get("netns")
    if netns is not None:
        check_netns_name(netns, f"vxlan {name}: netns")
    where = f"vxlan {name}" + (f" in netns {netns}" if netns else "") + ":"
    if identity_only:
        return Vxlan(name=name, netns=netns)
    for option in ("vni", "local"):
        if entry.get(option) is None:
            raise ValidationError(f"{where} {option} is required")
    vni = parse_vni(entry["vni"], f"{where} vni")
    local = parse_ip(entry["local"], f"{where} local")
    if local.is_multicast or local.is_unspecified or local.is_loopback:
        raise ValidationError(f"{where} local {local} must be a unicast address of the underlay")
    mac = parse_mac(entry["mac"], f"{where} mac") if entry.get("mac") is not None else vtep_mac(vni, str(local))
    dev = entry.get("dev")
    if dev is not None:
        check_ifname(dev, f"{where} dev")
    learning = entry.get("learning")
    fdb, neigh = _parse_peers(entry.get("peers"), where, local, mac)
    return Vxlan(
        name=name,
        netns=netns,
        vni=vni,
        port=None if entry.get("port") is None else parse_port(entry["port"], f"{where} port"),
        local=str(local),
        dev=dev,
        mac=mac,
        mtu=None if entry.get("mtu") is None else parse_mtu(entry["mtu"], f"{where} mtu"),
        addresses=check_addresses(entry.get("addresses"), f"{where} addresses"),
        learning=None if learning is None else parse_bool(learning, f"{where} learning"),
        fdb=fdb,
        neigh=neigh,
    )


def _parse_peers(peers: Any, where: str, local, mac: str) -> tuple[tuple | None, tuple | None]:
    """(fdb, neigh) from the peers list; None when peers is left out (merged then keeps the entries)."""
    if peers is None:
        return None, None
    if not isinstance(peers, list):
        raise ValidationError(f"{where} peers must be a list of {{underlay, mac, address}}, got {peers!r}")
    fdb: dict[str, str] = {}
    neigh: dict[str, str] = {}
    for i, peer in enumerate(peers):
        what = f"{where} peers[{i}]"
        if not isinstance(peer, dict):
            raise ValidationError(f"{what} must be a dict with underlay, mac and address, got {peer!r}")
        for option in ("underlay", "mac"):
            if peer.get(option) is None:
                raise ValidationError(f"{what}: {option} is required")
        underlay = parse_ip(peer["underlay"], f"{what}.underlay")
        if underlay.version != local.version:
            raise ValidationError(
                f"{what}.underlay {underlay} is IPv{underlay.version}, but local {local} is IPv{local.version}"
            )
        if underlay == local or underlay.is_multicast or underlay.is_unspecified:
            raise ValidationError(f"{what}.underlay {underlay} must be another host's unicast address, not {local}")
        peer_mac = parse_mac(peer["mac"], f"{what}.mac")
        if peer_mac == mac:
            raise ValidationError(f"{what}.mac {peer_mac} is this device's own MAC")
        if fdb.setdefault(peer_mac, str(underlay)) != str(underlay):
            raise ValidationError(
                f"{what}.mac {peer_mac} is listed with underlay {fdb[peer_mac]} and {underlay}; "
                "a VTEP MAC has one underlay address"
            )
        if peer.get("address") is not None:
            address = str(parse_ip(peer["address"], f"{what}.address"))
            if neigh.setdefault(address, peer_mac) != peer_mac:
                raise ValidationError(
                    f"{what}.address {address} is listed twice, with MACs {neigh[address]} and {peer_mac}"
                )
    return tuple(sorted(fdb.items())), tuple(sorted(neigh.items(), key=lambda e: _ip_key(e[0])))


def peers_view(fdb, neigh) -> list[dict[str, Any]]:
    """The FDB and neighbour entries as peers, joined by MAC (an entry without its partner shows null there)."""
    by_mac: dict[str, list[str]] = {}
    for address, mac in neigh or ():
        by_mac.setdefault(mac, []).append(address)
    peers = []
    for mac, underlay in fdb or ():
        for address in by_mac.pop(mac, [None]):
            peers.append({"underlay": underlay, "mac": mac, "address": address})
    for mac in sorted(by_mac):
        for address in by_mac[mac]:
            peers.append({"underlay": None, "mac": mac, "address": address})
    return peers


class VxlanEngine:
    check_mode = False  # set by converge(): in check mode a missing netns or dev is a warning

    def __init__(self) -> None:
        self.resource = VxlanResource()
        self.warnings: list[str] = []
        self.force = False

    def validate(self, params: dict[str, Any]) -> list[Vxlan]:
        state = params["state"]
        config = params.get("config") or []
        self.force = parse_bool(params.get("force"), "force", default=False)
        if state in ("merged", "replaced") and not config:
            raise ValidationError(f"state={state} needs a non-empty config")
        if not isinstance(config, list) or not all(isinstance(e, dict) for e in config):
            raise ValidationError(f"config must be a list of dicts, got {config!r}")
        want = [parse_vxlan(entry, identity_only=state == "deleted") for entry in config]
        check_unique(want, lambda v: label(v.key), "vxlan")
        if state != "deleted":
            check_unique(
                want,
                lambda v: (
                    f"with vni {v.vni} and port {v.port or DEFAULT_PORT}"
                    + (f" in netns {v.netns}" if v.netns else " in one namespace")
                ),
                "a vxlan device",
            )
        return want

    # ---- read -----------------------------------------------------------
    def read(self, nl: Netlink, want: list[Vxlan], params: dict[str, Any]) -> dict[Hashable, Vxlan]:
        """Per namespace: one link dump, one address dump and, if a device of ours is there, two neighbour dumps."""
        self.warnings = []
        self.resource.default_mtu = {}
        state = params["state"]
        everything = state == "overridden" or (state == "deleted" and not want)
        namespaces = {v.netns for v in want} | ({None} if everything else set())
        have: dict[Hashable, Vxlan] = {}
        for netns in sorted(namespaces, key=lambda n: n or ""):
            mine = [v for v in want if v.netns == netns]
            if netns is not None and not netns_exists(netns):
                self._missing(f"netns {netns} does not exist", mine, state)
                continue
            ipr = nl.ipr(netns)
            view = read_namespace(ipr)
            for obj in mine:
                link = view.by_name.get(obj.name)
                self._check_link(obj, link, state)
                if state != "deleted":
                    self._check_underlay(obj, view)
                if link is not None and link.kind != "vxlan":
                    have[obj.key] = Vxlan(name=obj.name, netns=netns, kind=link.kind or "unknown", owned=False)
            listed = {v.name for v in mine}
            selected = [x for x in view.by_name.values() if x.kind == "vxlan" and (everything or x.name in listed)]
            if state != "deleted":
                self._check_vni_clash(mine, view, listed, params)
            if not selected:
                continue
            indexes = {link.index for link in selected}
            fdb: dict[int, list] = {}
            for msg in ipr.get_neighbours(family=AF_BRIDGE):
                if msg["ifindex"] in indexes and msg["state"] & NUD_PERMANENT:
                    mac = (msg.get_attr("NDA_LLADDR") or "").lower()
                    fdb.setdefault(msg["ifindex"], []).append((mac, _canonical(msg.get_attr("NDA_DST"))))
            neigh: dict[int, list] = {}
            for msg in ipr.get_neighbours():
                if msg["ifindex"] in indexes and msg["state"] & NUD_PERMANENT and msg.get_attr("NDA_LLADDR"):
                    entry = (_canonical(msg.get_attr("NDA_DST")), msg.get_attr("NDA_LLADDR").lower())
                    neigh.setdefault(msg["ifindex"], []).append(entry)
            for link in selected:
                have[(netns or "", link.name)] = _from_link(link, netns, view, fdb, neigh)
        return have

    def _missing(self, problem: str, objs: list[Vxlan], state: str) -> None:
        if state == "deleted" or not objs:
            return  # a device in a namespace that is gone is gone too
        names = ", ".join(sorted(v.name for v in objs))
        if not self.check_mode:
            raise ValidationError(f"vxlan {names}: {problem}; create it first (this module never creates it)")
        self.warnings.append(f"{problem} (yet); needed by vxlan {names}; assuming an earlier task creates it")

    def _check_link(self, obj: Vxlan, link, state: str) -> None:
        if link is None:
            return
        where = label(obj.key)
        if link.kind != "vxlan":
            if state == "deleted" or not self.force:
                raise ConflictError(
                    f"vxlan {where}: an interface of that name already exists and is not a vxlan "
                    f"(kind {link.kind or 'unknown'}); nothing was changed"
                    + ("" if state == "deleted" else " (set force: true to replace it)")
                )
        elif link.alias != OWNER_MARK and state != "deleted" and not self.force:
            raise ConflictError(
                f"vxlan {where} exists but was not created by netplumb.container; nothing was changed "
                "(set force: true to take it over)"
            )

    def _check_underlay(self, obj: Vxlan, view: NamespaceView) -> None:
        """dev must exist; local should be an address here; mtu must fit. Sets the default MTU."""
        where = label(obj.key)
        local = obj.local or ""
        holder = next((x for x in view.by_index.values() if _holds(x, local)), None)
        if holder is None:
            self.warnings.append(
                f"vxlan {where}: local {local} is not an address of "
                + (f"netns {obj.netns}" if obj.netns else "this host")
                + "; the tunnel carries nothing until it is"
            )
        dev = holder
        if obj.dev is not None:
            dev = view.by_name.get(obj.dev)
            if dev is None:
                where_ns = f" in netns {obj.netns}" if obj.netns else ""
                self._missing(f"underlay dev {obj.dev}{where_ns} does not exist", [obj], "")
                return
        underlay_mtu = dev.mtu if dev is not None else FALLBACK_UNDERLAY_MTU
        largest = vxlan_mtu(underlay_mtu, local)
        self.resource.default_mtu[obj.key] = largest
        if obj.dev is not None and obj.mtu is not None and obj.mtu > largest:
            raise ValidationError(
                f"vxlan {where}: mtu {obj.mtu} is more than dev {obj.dev} carries ({underlay_mtu} minus "
                f"{OVERHEAD[ipaddress.ip_address(local).version]} bytes of VXLAN overhead = {largest})"
            )

    def _check_vni_clash(self, mine: list[Vxlan], view: NamespaceView, listed: set[str], params) -> None:
        """The kernel allows one device per VNI, port and IP version in a namespace: say so before any change."""
        scope = params.get("scope") or {}
        for obj in mine:
            port = obj.port or DEFAULT_PORT
            version = ipaddress.ip_address(obj.local).version
            for link in view.by_name.values():
                if link.kind != "vxlan" or link.name in listed:
                    continue
                info = link.info
                if info.get("IFLA_VXLAN_ID") != obj.vni or (info.get("IFLA_VXLAN_PORT") or 8472) != port:
                    continue
                if (6 if info.get("IFLA_VXLAN_LOCAL6") or info.get("IFLA_VXLAN_GROUP6") else 4) != version:
                    continue
                goes = (
                    params["state"] == "overridden"
                    and link.alias == OWNER_MARK
                    and link.name.startswith(scope.get("prefix") or "")
                )
                if not goes:
                    raise ConflictError(
                        f"vxlan {label(obj.key)}: vni {obj.vni} with port {port} is already used by vxlan "
                        f"{link.name} (the kernel allows one device per VNI and port); nothing was changed"
                    )

    # ---- apply ----------------------------------------------------------
    def apply(self, nl: Netlink, action: Action) -> None:
        ipr = nl.ipr(action.netns)
        p = action.params
        if action.op == "delete":
            delete_link(ipr, action.name)
            return
        if action.op == "create":
            index = self._create(ipr, action, p)
        else:
            index = _index(ipr, action)
            link: dict[str, Any] = {}
            if "mac" in p:
                link["address"] = p["mac"]
            if "mtu" in p:
                link["mtu"] = p["mtu"]
            if p.get("owned"):
                link["ifalias"] = OWNER_MARK
            if p.get("up"):
                link["state"] = "up"
            if link:
                ipr.link("set", index=index, **link)
            if "learning" in p:
                ipr.link("set", index=index, kind="vxlan", vxlan_learning=int(p["learning"]))
        for cidr in p.get("del_addresses", []):
            del_address(ipr, index, cidr)
        for cidr in p.get("addresses", []) + p.get("add_addresses", []):
            add_address(ipr, index, cidr, nodad=True)
        for address in p.get("del_neigh", []):
            _forget(ipr, family=_family(address), ifindex=index, dst=address)
        for mac in p.get("del_fdb", []):
            _forget(ipr, family=AF_BRIDGE, ifindex=index, lladdr=mac, flags=NTF_SELF, state=NUD_PERMANENT)
        for mac, underlay in p.get("fdb", []) + p.get("add_fdb", []):
            # replace: a unicast MAC has one remote, so a new underlay for it takes the old one's place
            ipr.neigh(
                "replace",
                family=AF_BRIDGE,
                ifindex=index,
                lladdr=mac,
                dst=underlay,
                flags=NTF_SELF,
                state=NUD_PERMANENT,
            )
        for address, mac in p.get("neigh", []) + p.get("add_neigh", []):
            ipr.neigh("replace", family=_family(address), ifindex=index, dst=address, lladdr=mac, state=NUD_PERMANENT)

    def _create(self, ipr, action: Action, p: dict[str, Any]) -> int:
        link: dict[str, Any] = {
            "ifname": action.name,
            "kind": "vxlan",
            "vxlan_id": p["vni"],
            "vxlan_port": p["port"],
            "vxlan_learning": int(p["learning"]),
        }
        link["vxlan_local6" if _family(p["local"]) == socket.AF_INET6 else "vxlan_local"] = p["local"]
        if "dev" in p:
            found = ipr.link_lookup(ifname=p["dev"])
            if not found:
                where = f" in netns {action.netns}" if action.netns else ""
                raise KernelError(f"vxlan {action.name}{where}: create failed: underlay dev {p['dev']} does not exist")
            link["vxlan_link"] = found[0]
        if "mac" in p:
            link["address"] = p["mac"]
        if "mtu" in p:
            link["mtu"] = p["mtu"]
        ipr.link("add", **link)
        index = _index(ipr, action)
        # The kernel ignores IFLA_IFALIAS on creation.
        ipr.link("set", index=index, ifalias=OWNER_MARK, state="up")
        return index

    def render(self, obj: Vxlan) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": obj.name,
            "netns": obj.netns,
            "vni": obj.vni,
            "port": obj.port,
            "local": obj.local,
            "dev": obj.dev,
            "mac": obj.mac,
            "mtu": obj.mtu,
            "addresses": list(obj.addresses or []),
            "learning": obj.learning,
            "peers": peers_view(obj.fdb, obj.neigh),
            "up": obj.up,
            "owned": obj.owned,
        }
        if obj.kind != "vxlan":
            out["kind"] = obj.kind
        if obj.group is not None:
            out["group"] = obj.group
        return out


def _from_link(link, netns: str | None, view: NamespaceView, fdb: dict, neigh: dict) -> Vxlan:
    info = link.info
    lower = view.by_index.get(info.get("IFLA_VXLAN_LINK") or 0)
    local = info.get("IFLA_VXLAN_LOCAL6") or info.get("IFLA_VXLAN_LOCAL")
    group = info.get("IFLA_VXLAN_GROUP6") or info.get("IFLA_VXLAN_GROUP")
    if group in ("0.0.0.0", "::"):
        group = None
    return Vxlan(
        name=link.name,
        netns=netns,
        vni=info.get("IFLA_VXLAN_ID"),
        port=info.get("IFLA_VXLAN_PORT"),
        local=_canonical(local),
        dev=lower.name if lower is not None else None,
        mac=link.mac,
        mtu=link.mtu,
        addresses=tuple(link.addresses),
        learning=bool(info.get("IFLA_VXLAN_LEARNING")),
        fdb=tuple(sorted(fdb.get(link.index, []), key=lambda e: (e[0], e[1] or ""))),
        neigh=tuple(sorted(neigh.get(link.index, []), key=lambda e: _ip_key(e[0]))),
        up=link.up,
        owned=link.alias == OWNER_MARK,
        group=_canonical(group),
    )


def _canonical(address: str | None) -> str | None:
    return None if not address else str(ipaddress.ip_address(address))


def _holds(link, address: str) -> bool:
    return any(cidr.split("/")[0] == address for cidr in link.addresses)


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _index(ipr, action: Action) -> int:
    found = ipr.link_lookup(ifname=action.name)
    if not found:
        where = f" in netns {action.netns}" if action.netns else ""
        raise KernelError(f"vxlan {action.name}{where}: {action.op} failed: the device is gone")
    return found[0]


def _forget(ipr, **entry: Any) -> None:
    """Delete an FDB or neighbour entry; one that is already gone is success."""
    try:
        ipr.neigh("del", **entry)
    except NetlinkError as exc:
        if exc.code not in (errno.ENOENT, errno.ESRCH, errno.ENODEV):
            raise
