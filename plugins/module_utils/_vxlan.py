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

The entries are written in batches of netlink requests on one raw socket (EntryBatch), not one pyroute2
call each: a mesh of hundreds of peers is hundreds of requests (bench/bench_vxlan.py).

``vtep_mac(vni, local)`` is the MAC a device gets when none is given; it is
pure, so a controller can compute every host's MAC without asking the host.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import ipaddress
import os
import socket
import struct
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
    read_view,
)
from ansible_collections.netplumb.container.plugins.module_utils._model import OWNER_MARK, Action
from ansible_collections.netplumb.container.plugins.module_utils._netlink import Netlink, netns_exists
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_ifname,
    check_netns_name,
    check_unique,
    config_list,
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
NETLINK_ROUTE = 0
AF_UNSPEC = 0
NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_NEWNEIGH = 28
RTM_DELNEIGH = 29
RTM_GETNEIGH = 30
NLM_F_DUMP = 0x300
NDA_DST = 1
NDA_LLADDR = 2
NDA_IFINDEX = 8
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_REPLACE = 0x100
NLM_F_CREATE = 0x400
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
    addresses = check_addresses(entry.get("addresses"), f"{where} addresses")
    fdb, neigh = _parse_peers(entry.get("peers"), where, local, mac)
    own = {cidr.split("/")[0] for cidr in addresses or ()} & {entry[0] for entry in neigh or ()}
    if own:
        raise ValidationError(f"{where} peer address {sorted(own)[0]} is an address of this device (addresses)")
    return Vxlan(
        name=name,
        netns=netns,
        vni=vni,
        port=None if entry.get("port") is None else parse_port(entry["port"], f"{where} port"),
        local=str(local),
        dev=dev,
        mac=mac,
        mtu=None if entry.get("mtu") is None else parse_mtu(entry["mtu"], f"{where} mtu"),
        addresses=addresses,
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
    """Check mode, force and warnings come in the cycle's ``params``; ``resource.default_mtu`` is the one
    thing read hands to the planner (what an omitted mtu becomes, from the underlay it found)."""

    def __init__(self) -> None:
        self.resource = VxlanResource()

    def validate(self, params: dict[str, Any]) -> list[Vxlan]:
        state = params["state"]
        config = config_list(params.get("config"), params["state"])
        parse_bool(params.get("force"), "force", default=False)  # refused here, before any change; read uses it
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
        """Per namespace: one link dump and one address dump; per selected device, one FDB and one neighbour dump."""
        self.resource.default_mtu = {}
        state = params["state"]
        everything = state == "overridden" or (state == "deleted" and not want)
        namespaces = {v.netns for v in want} | ({None} if everything else set())
        have: dict[Hashable, Vxlan] = {}
        for netns in sorted(namespaces, key=lambda n: n or ""):
            mine = [v for v in want if v.netns == netns]
            if netns is not None and not netns_exists(netns):
                _missing(f"netns {netns} does not exist", mine, params)
                continue
            view = read_view(nl.reader, netns)
            if any(link.kind == "vxlan" for link in view.by_index.values()):
                with raw_socket(nl, netns) as sock:
                    have.update(self._read_devices(sock, netns, view, mine, everything))
            for obj in mine:
                link = view.by_name.get(obj.name)
                _check_link(obj, link, params)
                if state != "deleted":
                    kept = link.info.get("IFLA_VXLAN_LINK") if link is not None and state == "merged" else None
                    self._check_underlay(obj, view, params, view.by_index.get(kept or 0) if obj.dev is None else None)
                if link is not None and link.kind != "vxlan":
                    have[obj.key] = Vxlan(name=obj.name, netns=netns, kind=link.kind or "unknown", owned=False)
            if state != "deleted":
                self._check_vni_clash(mine, view, {v.name for v in mine}, params)
        return have

    def _read_devices(self, sock, netns: str | None, view: NamespaceView, mine: list[Vxlan], everything: bool) -> dict:
        """The listed vxlan devices (or, for overridden and deleted without config, all) with their entries."""
        listed = {v.name for v in mine}
        have: dict[Hashable, Vxlan] = {}
        for link in view.by_name.values():
            if link.kind != "vxlan" or not (everything or link.name in listed):
                continue
            fdb = [(mac, dst) for dst, mac in dump_entries(sock, AF_BRIDGE, link.index)]
            neigh = [(dst, mac) for dst, mac in dump_entries(sock, AF_UNSPEC, link.index) if mac and dst]
            have[(netns or "", link.name)] = _from_link(link, netns, view, fdb, neigh)
        return have

    def _check_underlay(self, obj: Vxlan, view: NamespaceView, params: dict[str, Any], kept=None) -> None:
        """dev must exist; local should be an address here; mtu must fit (also the ``kept`` dev, merged keeps it).

        Sets the default MTU.
        """
        where = label(obj.key)
        local = obj.local or ""
        holder = next((x for x in view.by_index.values() if _holds(x, local)), None)
        if holder is None:
            params["warnings"].append(
                f"vxlan {where}: local {local} is not an address of "
                + (f"netns {obj.netns}" if obj.netns else "this host")
                + "; the tunnel carries nothing until it is"
            )
        dev = holder
        if obj.dev is not None:
            dev = view.by_name.get(obj.dev)
            if dev is None:
                where_ns = f" in netns {obj.netns}" if obj.netns else ""
                _missing(f"underlay dev {obj.dev}{where_ns} does not exist", [obj], params)
                return
        underlay_mtu = dev.mtu if dev is not None else FALLBACK_UNDERLAY_MTU
        self.resource.default_mtu[obj.key] = vxlan_mtu(underlay_mtu, local)
        bound = view.by_name.get(obj.dev) if obj.dev is not None else kept
        if bound is not None and obj.mtu is not None and obj.mtu > vxlan_mtu(bound.mtu, local):
            raise ValidationError(
                f"vxlan {where}: mtu {obj.mtu} is more than dev {bound.name} carries ({bound.mtu} minus "
                f"{OVERHEAD[ipaddress.ip_address(local).version]} bytes of VXLAN overhead = "
                f"{vxlan_mtu(bound.mtu, local)})"
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
        entries = EntryBatch(index)
        for address in p.get("del_neigh", []):
            entries.delete(_family(address), dst=address)
        for mac in p.get("del_fdb", []):
            entries.delete(AF_BRIDGE, lladdr=mac)
        for mac, underlay in p.get("fdb", []) + p.get("add_fdb", []):
            # replace: a unicast MAC has one remote, so a new underlay for it takes the old one's place
            entries.replace(AF_BRIDGE, dst=underlay, lladdr=mac)
        for address, mac in p.get("neigh", []) + p.get("add_neigh", []):
            entries.replace(_family(address), dst=address, lladdr=mac)
        if entries.requests:
            with raw_socket(nl, action.netns) as sock:
                failed = entries.send(sock)
            if failed:
                where = f" in netns {action.netns}" if action.netns else ""
                raise KernelError(f"vxlan {action.name}{where}: {action.op} failed: {failed}")

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


def _missing(problem: str, objs: list[Vxlan], params: dict[str, Any]) -> None:
    """A netns or underlay dev the devices need: an error, or in check mode a warning (an earlier task of the
    same check run would create it)."""
    if params["state"] == "deleted" or not objs:
        return  # a device in a namespace that is gone is gone too
    names = ", ".join(sorted(v.name for v in objs))
    if not params["check_mode"]:
        raise ValidationError(f"vxlan {names}: {problem}; create it first (this module never creates it)")
    params["warnings"].append(f"{problem} (yet); needed by vxlan {names}; assuming an earlier task creates it")


def _check_link(obj: Vxlan, link, params: dict[str, Any]) -> None:
    if link is None:
        return
    state, force = params["state"], parse_bool(params.get("force"), "force", default=False)
    where = label(obj.key)
    if link.kind != "vxlan":
        if state == "deleted" or not force:
            raise ConflictError(
                f"vxlan {where}: an interface of that name already exists and is not a vxlan "
                f"(kind {link.kind or 'unknown'}); nothing was changed"
                + ("" if state == "deleted" else " (set force: true to replace it)")
            )
    elif link.alias != OWNER_MARK and state != "deleted" and _half_made(link, obj):
        params["warnings"].append(
            f"vxlan {where}: taking over a device an interrupted run left half made "
            "(down, without the ownership mark, with exactly this VNI, port, local address and MAC)"
        )
    elif link.alias != OWNER_MARK and state != "deleted" and not force:
        raise ConflictError(
            f"vxlan {where} exists but was not created by netplumb.container; nothing was changed "
            "(set force: true to take it over)"
        )


def _from_link(link, netns: str | None, view: NamespaceView, fdb: list, neigh: list) -> Vxlan:
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
        fdb=tuple(sorted(fdb, key=lambda e: (e[0], e[1] or ""))),
        neigh=tuple(sorted(neigh, key=lambda e: _ip_key(e[0]))),
        up=link.up,
        owned=link.alias == OWNER_MARK,
        group=_canonical(group),
    )


def _half_made(link, obj: Vxlan) -> bool:
    """A run killed between creating a device and marking it leaves exactly this: recognise it as ours."""
    info = link.info
    local = _canonical(info.get("IFLA_VXLAN_LOCAL6") or info.get("IFLA_VXLAN_LOCAL"))
    return (
        not link.alias
        and not link.up
        and not link.addresses
        and link.mac == obj.mac
        and (info.get("IFLA_VXLAN_ID"), info.get("IFLA_VXLAN_PORT"), local)
        == (obj.vni, obj.port or DEFAULT_PORT, obj.local)
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


def raw_socket(nl: Netlink, netns: str | None) -> socket.socket:
    """A plain rtnetlink socket in the namespace (opened there, as Netlink.ipr does), bound, with a timeout."""
    with nl.entered(netns):
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    sock.settimeout(30)
    sock.bind((0, 0))
    return sock


def dump_entries(sock: socket.socket, family: int, index: int) -> list[tuple[str | None, str | None]]:
    """The permanent FDB (AF_BRIDGE) or neighbour (AF_UNSPEC: IPv4 and IPv6) entries of one device: (dst, lladdr).

    The kernel filters by device (for the FDB an ifinfomsg-sized request with the ifindex, as ``bridge fdb show
    dev`` sends; for neighbours NDA_IFINDEX), so a host's many container entries are never sent, and the few
    fields needed are unpacked here rather than by pyroute2, which costs a millisecond or more per message.
    """
    if family == AF_BRIDGE:
        body = struct.pack("=BxHiII", AF_BRIDGE, 0, index, 0, 0)
    else:
        body = struct.pack("=BxxxiHBB", family, 0, 0, 0, 0) + struct.pack("=HHI", 8, NDA_IFINDEX, index)
    sock.sendall(struct.pack("=LHHLL", 16 + len(body), RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + body)
    entries: list[tuple[str | None, str | None]] = []
    while True:
        data = sock.recv(1 << 16)
        offset = 0
        while offset + 16 <= len(data):
            length, kind = struct.unpack_from("=LH", data, offset)
            if kind == NLMSG_DONE:
                return entries
            if kind == NLMSG_ERROR:
                code = -struct.unpack_from("=i", data, offset + 16)[0]
                what = "FDB" if family == AF_BRIDGE else "neighbour"
                raise KernelError(f"reading the {what} entries of interface {index} failed: {os.strerror(code)}")
            if kind == RTM_NEWNEIGH and length >= 28:
                ifindex, state = struct.unpack_from("=iH", data, offset + 20)
                if ifindex == index and state & NUD_PERMANENT:
                    entries.append(_entry(data[offset + 28 : offset + length]))
            offset += (max(length, 16) + 3) & ~3


def _entry(attrs: bytes) -> tuple[str | None, str | None]:
    dst = lladdr = None
    offset = 0
    while offset + 4 <= len(attrs):
        length, kind = struct.unpack_from("=HH", attrs, offset)
        value = attrs[offset + 4 : offset + length]
        if kind == NDA_DST and len(value) in (4, 16):
            dst = socket.inet_ntop(socket.AF_INET if len(value) == 4 else socket.AF_INET6, value)
        elif kind == NDA_LLADDR and len(value) == 6:
            lladdr = ":".join(f"{b:02x}" for b in value)
        offset += (max(length, 4) + 3) & ~3
    return dst, lladdr


class EntryBatch:
    """FDB and neighbour entries of one device, written as batches of netlink requests on one raw socket.

    pyroute2 costs milliseconds per request (0.9 runs an asyncio round trip for each); a peer is two
    requests and a mesh has hundreds. The kernel takes many requests in one send and acks each in order.
    pyroute2 still encodes the messages (ndmsg), the same in 0.7 and 0.9.
    """

    IN_FLIGHT = 64  # every ack is an skb of its own in the receive buffer: keep them well under its size

    def __init__(self, index: int) -> None:
        self.index = index
        self.requests: list[tuple[bytes, str, tuple[int, ...]]] = []  # (message, what it is, errnos that are fine)

    def replace(self, family: int, dst: str, lladdr: str) -> None:
        text = f"fdb {lladdr} dst {dst}" if family == AF_BRIDGE else f"neighbour {dst} lladdr {lladdr}"
        self._add(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, family, text, (), dst=dst, lladdr=lladdr)

    def delete(self, family: int, dst: str | None = None, lladdr: str | None = None) -> None:
        """Delete an entry; one that is already gone is success. An FDB entry by MAC goes with all its remotes."""
        text = f"delete fdb {lladdr}" if family == AF_BRIDGE else f"delete neighbour {dst}"
        self._add(RTM_DELNEIGH, 0, family, text, (errno.ENOENT, errno.ESRCH), dst=dst, lladdr=lladdr)

    def _add(self, kind: int, flags: int, family: int, text: str, fine: tuple[int, ...], **attrs: str | None) -> None:
        # Imported here: the fleet filters import this file on the controller, where pyroute2 is not needed.
        from pyroute2.netlink.rtnl.ndmsg import ndmsg

        msg = ndmsg()
        msg["family"] = family
        msg["ifindex"] = self.index
        msg["state"] = NUD_PERMANENT
        msg["flags"] = NTF_SELF if family == AF_BRIDGE else 0
        msg["attrs"] = [[f"NDA_{name.upper()}", value] for name, value in attrs.items() if value is not None]
        msg["header"]["type"] = kind
        msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | flags
        msg["header"]["sequence_number"] = len(self.requests) + 1
        msg.encode()
        self.requests.append((bytes(msg.data), text, fine))

    def send(self, sock: socket.socket) -> str | None:
        """Send every request in order; the first failure as text ("fdb ... dst ...: File exists"), else None."""
        failed: list[str] = []
        for start in range(0, len(self.requests), self.IN_FLIGHT):
            chunk = self.requests[start : start + self.IN_FLIGHT]
            sock.sendall(b"".join(request[0] for request in chunk))
            waiting = set(range(start + 1, start + len(chunk) + 1))
            while waiting:
                data = sock.recv(65536)
                offset = 0
                while offset + 20 <= len(data):
                    length, kind = struct.unpack_from("=LH", data, offset)
                    seq = struct.unpack_from("=L", data, offset + 8)[0]
                    if kind == NLMSG_ERROR and seq in waiting:
                        waiting.discard(seq)
                        code = -struct.unpack_from("=i", data, offset + 16)[0]
                        text, fine = self.requests[seq - 1][1:]
                        if code and code not in fine:
                            failed.append(f"{text}: {os.strerror(code)}")
                    offset += (max(length, 16) + 3) & ~3
        return failed[0] if failed else None
