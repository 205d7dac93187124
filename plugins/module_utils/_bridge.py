# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bridge resource: Linux bridges (docker0-style) in the namespace the module runs in.

Ownership: a bridge the collection creates gets OWNER_MARK as its link alias.
A bridge the collection owns has a fixed MAC (addr_assign_type SET): left to
itself the kernel gives a bridge its lowest port's MAC, so the gateway's MAC
would move whenever that container leaves (stale ARP entries in the others
for tens of seconds). Without ``mac``, the stable MAC is Docker's scheme for
the bridge's first IPv4 address (02:42 + its 4 bytes), or one derived from the
name when it has none.

Timers (forward_delay, ageing_time) are given in seconds; the kernel keeps
them in centiseconds (IFLA_BR_*, USER_HZ), and the model compares in
centiseconds so that 15 and 15.0 are the same value.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import ipaddress
from typing import Any, Hashable

from ansible_collections.netplumb.container.plugins.module_utils import _netlink
from ansible_collections.netplumb.container.plugins.module_utils._errors import (
    ConflictError,
    KernelError,
    ValidationError,
)
from ansible_collections.netplumb.container.plugins.module_utils._links import (
    add_address,
    check_addresses,
    check_mac,
    check_mtu,
    cidr_sort_key,
    del_address,
    delete_link,
    read_view,
)
from ansible_collections.netplumb.container.plugins.module_utils._model import OWNER_MARK, Action, docker_mac
from ansible_collections.netplumb.container.plugins.module_utils._netlink import Netlink
from ansible_collections.netplumb.container.plugins.module_utils._plan import NamedResource
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_ifname,
    check_unique,
    config_list,
    parse_bool,
)

# What ``replaced`` returns an option to when it is left out (the kernel's defaults).
DEFAULTS = {"stp": False, "forward_delay": 1500, "ageing_time": 30000, "vlan_filtering": False, "up": True}
_TIMERS = ("forward_delay", "ageing_time")
# What state=deleted does with a listed bridge it must not delete (foreign ports, or not the collection's).
FOREIGN_PORTS = ("refuse", "keep")
_BR_ATTRS = {
    "stp": "br_stp_state",
    "forward_delay": "br_forward_delay",
    "ageing_time": "br_ageing_time",
    "vlan_filtering": "br_vlan_filtering",
}


@dataclasses.dataclass(frozen=True)
class Bridge:
    """A bridge. None means "not managed": the kernel's value stays as it is."""

    name: str
    addresses: tuple[str, ...] | None = None
    mtu: int | None = None
    mac: str | None = None
    stp: bool | None = None
    forward_delay: int | None = None  # centiseconds
    ageing_time: int | None = None  # centiseconds
    vlan_filtering: bool | None = None
    up: bool | None = True
    owned: bool = True
    # Read from the kernel, never compared: the veth module attaches and detaches ports.
    ports: tuple[tuple[str, bool], ...] = dataclasses.field(default=(), compare=False)
    # Left half made by a run killed between creating it and marking it: the next run takes it over.
    half_made: bool = dataclasses.field(default=False, compare=False)
    # The run's force, on bridges as read: deleting one with foreign ports is refused without it.
    force: bool = dataclasses.field(default=False, compare=False)


class BridgeResource(NamedResource):
    kind = "bridge"

    def merge(self, have: Bridge | None, want: Bridge, replace: bool) -> Bridge:
        values: dict[str, Any] = {}
        for field in ("addresses", "mtu", "mac", "stp", "forward_delay", "ageing_time", "vlan_filtering", "up"):
            wanted = getattr(want, field)
            current = getattr(have, field) if have else None
            if wanted is None:
                wanted = DEFAULTS.get(field) if replace else None
                if field == "addresses" and replace:
                    wanted = ()
                if wanted is None:
                    wanted = current
            elif field == "addresses" and not replace and current:
                wanted = tuple(sorted(set(current) | set(wanted), key=cidr_sort_key))
            values[field] = wanted
        owned = (have.owned or have.half_made) if have else True
        if want.mac is None and owned:
            values["mac"] = _keep_stable_mac(want.name, have, values["addresses"])
        return Bridge(name=want.name, owned=owned, ports=have.ports if have else (), **values)

    def create(self, obj: Bridge) -> list[Action]:
        params = {k: v for k, v in _settable(obj).items() if v is not None and v != ()}
        if "addresses" in params:
            params["addresses"] = list(params["addresses"])
        return [Action("create", self.kind, obj.name, params=params, phase=1)]

    def update(self, have: Bridge, want: Bridge) -> list[Action]:
        params: dict[str, Any] = {}
        for field, value in _settable(want).items():
            if field == "addresses" or value is None or value == getattr(have, field):
                continue
            params[field] = value
        old, new = set(have.addresses or ()), set(want.addresses or ())
        if new - old:
            params["add_addresses"] = sorted(new - old, key=cidr_sort_key)
        if old - new:
            params["del_addresses"] = sorted(old - new, key=cidr_sort_key)
        if want.owned and not have.owned:
            params["owned"] = True
        return [Action("update", self.kind, want.name, params=params, phase=1)] if params else []

    def delete(self, obj: Bridge) -> list[Action]:
        foreign = [name for name, owned in obj.ports if not owned]
        if foreign and not obj.force:
            raise ConflictError(
                f"bridge {obj.name} still has ports that netplumb.container does not own ({', '.join(foreign)}); "
                "refusing to delete it (set force: true to delete it anyway)"
            )
        params = {"ports": [port[0] for port in obj.ports]} if obj.ports else {}
        return [Action("delete", self.kind, obj.name, params=params, phase=0)]


def _keep_foreign(have: dict[Hashable, Bridge], want: list[Bridge], params: dict[str, Any]) -> None:
    """foreign_ports=keep: a listed bridge that still has ports the collection does not own, or that the
    collection did not make, is left as it is: out of the plan (and so out of before/after), named in the
    result's ``kept`` and in a warning. What state=deleted would refuse, without failing the others."""
    kept = params["report"].setdefault("kept", [])
    for obj in want:
        bridge = have.get(obj.name)
        if bridge is None:
            continue
        foreign = [name for name, owned in bridge.ports if not owned]
        if foreign:
            why = f"still has ports that netplumb.container does not own ({', '.join(foreign)})"
        elif not bridge.owned:
            why = "exists but was not created by netplumb.container"
        else:
            continue
        del have[obj.name]
        kept.append(obj.name)
        params["warnings"].append(f"bridge {obj.name} {why}; kept (foreign_ports=keep)")


def stable_mac(name: str, addresses: tuple[str, ...] | None) -> str:
    """02:42 + the first IPv4 address (Docker's scheme); without one, 02 + 5 bytes of a hash of the name."""
    for cidr in addresses or ():
        ip = ipaddress.ip_interface(cidr).ip
        if ip.version == 4:
            return docker_mac(ip)
    digest = hashlib.sha256(name.encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def half_made(link: Any, want: Bridge | None) -> bool:
    """What a run killed between creating the bridge and marking it leaves: down, unmarked, without addresses
    or ports, with the stable MAC (and MTU) that this run would give it. A foreign bridge has another MAC."""
    if want is None or link.alias or link.up or link.addresses or link.master:
        return False
    mac = want.mac or stable_mac(want.name, want.addresses)
    return link.mac == mac and (want.mtu is None or link.mtu == want.mtu)


def _keep_stable_mac(name: str, have: Bridge | None, addresses: tuple[str, ...] | None) -> str:
    """The current MAC if it is one of the stable MACs this bridge can have, else the stable MAC of its target."""
    if have is not None and have.mac:
        known = [*(have.addresses or ()), *(addresses or ())]
        candidates = {stable_mac(name, (cidr,)) for cidr in known} | {stable_mac(name, ())}
        if have.mac in candidates:
            return have.mac
    return stable_mac(name, addresses)


def _settable(obj: Bridge) -> dict[str, Any]:
    return {
        "addresses": obj.addresses,
        "mtu": obj.mtu,
        "mac": obj.mac,
        "stp": obj.stp,
        "forward_delay": obj.forward_delay,
        "ageing_time": obj.ageing_time,
        "vlan_filtering": obj.vlan_filtering,
        "up": obj.up,
    }


def seconds_to_cs(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValidationError(f"{what} {value!r} must be a number of seconds (0 or more)")
    return round(value * 100)


class BridgeEngine:
    def __init__(self) -> None:
        self.resource = BridgeResource()

    def validate(self, params: dict[str, Any]) -> list[Bridge]:
        config = config_list(params.get("config"), params["state"])
        force = parse_bool(params.get("force"), "force", default=False)
        foreign_ports = "refuse" if params.get("foreign_ports") is None else params["foreign_ports"]
        if foreign_ports not in FOREIGN_PORTS:
            raise ValidationError(f"foreign_ports must be one of {', '.join(FOREIGN_PORTS)}, got {foreign_ports!r}")
        if foreign_ports == "keep" and (params["state"] != "deleted" or not config or force):
            raise ValidationError(
                "foreign_ports=keep applies to state=deleted with a config and without force: it keeps a listed "
                "bridge that still has ports the collection does not own, or that the collection did not make"
            )
        want = []
        for entry in config:
            name = check_ifname(entry.get("name"), "bridge name")
            where = f"bridge {name}:"
            delay = seconds_to_cs(entry.get("forward_delay"), f"{where} forward_delay")
            stp = None if entry.get("stp") is None else parse_bool(entry["stp"], f"{where} stp")
            if stp and delay is not None and not 200 <= delay <= 3000:
                raise ValidationError(f"{where} with stp on, the kernel needs forward_delay between 2 and 30 seconds")
            ageing = seconds_to_cs(entry.get("ageing_time"), f"{where} ageing_time")
            if ageing is not None and ageing != 0 and not 10 <= ageing <= 100000000:
                raise ValidationError(f"{where} ageing_time must be 0 or between 0.1 and 1000000 seconds")
            want.append(
                Bridge(
                    name=name,
                    addresses=check_addresses(entry.get("addresses"), f"{where} addresses"),
                    mtu=check_mtu(entry.get("mtu"), f"{where} mtu"),
                    mac=check_mac(entry.get("mac"), f"{where} mac"),
                    stp=stp,
                    forward_delay=delay,
                    ageing_time=ageing,
                    vlan_filtering=None
                    if entry.get("vlan_filtering") is None
                    else parse_bool(entry["vlan_filtering"], f"{where} vlan_filtering"),
                    up=parse_bool(entry.get("up"), f"{where} up", default=True),
                )
            )
        check_unique(want, lambda b: b.name, "bridge")
        return want

    def read(self, nl: Netlink, want: list[Bridge], params: dict[str, Any]) -> dict[Hashable, Bridge]:
        force = parse_bool(params.get("force"), "force", default=False)
        view = read_view(nl.reader, None)
        for obj in want:
            link = view.by_name.get(obj.name)
            if link is not None and link.kind != "bridge":
                raise ConflictError(
                    f"bridge {obj.name}: an interface of that name already exists and is not a bridge "
                    f"(kind {link.kind or 'unknown'}); nothing was changed"
                )
        wanted = {obj.name: obj for obj in want}
        have = {}
        for link in view.by_name.values():
            if link.kind != "bridge":
                continue
            info = link.info
            ports = tuple((p.name, p.alias == OWNER_MARK) for p in view.ports_of(link))
            taken = params["state"] != "deleted" and not ports and half_made(link, wanted.get(link.name))
            if taken:
                params.setdefault("warnings", []).append(
                    f"bridge {link.name}: taking over a bridge an interrupted run left half made (down, without "
                    "the ownership mark, addresses or ports, with exactly the MAC this run gives it)"
                )
            bridge = Bridge(
                name=link.name,
                addresses=tuple(link.addresses),
                mtu=link.mtu,
                mac=link.mac,
                stp=bool(info.get("IFLA_BR_STP_STATE")),
                forward_delay=info.get("IFLA_BR_FORWARD_DELAY"),
                ageing_time=info.get("IFLA_BR_AGEING_TIME"),
                vlan_filtering=bool(info.get("IFLA_BR_VLAN_FILTERING")),
                up=link.up,
                owned=link.alias == OWNER_MARK,
                ports=ports,
                half_made=taken,
                force=force,
            )
            have[link.name] = _absorb_rounding(bridge, wanted.get(link.name))
        if params.get("foreign_ports") == "keep":
            _keep_foreign(have, want, params)
        return have

    def apply(self, nl: Netlink, action: Action) -> None:
        ipr = nl.ipr(None)
        p = action.params
        if action.op == "delete":
            delete_link(ipr, action.name)
            return
        link: dict[str, Any] = {}
        for field, attr in _BR_ATTRS.items():
            if field in p:
                link[attr] = int(p[field])
        if "mtu" in p:
            link["mtu"] = p["mtu"]
        if "mac" in p:
            link["address"] = p["mac"]
        if action.op == "create" and not p.get("vlan_filtering"):
            # Off is the kernel's default; kernels without VLAN filtering refuse the attribute even when 0.
            link.pop("br_vlan_filtering", None)
        if action.op == "create":
            try:
                ipr.link("add", ifname=action.name, kind="bridge", **link)
            except _netlink.NetlinkError as exc:
                raise _explain(exc, action) from None
            # The kernel ignores IFLA_IFALIAS on creation: set it (and the admin state) afterwards.
            ipr.link("set", ifname=action.name, ifalias=OWNER_MARK, state="up" if p.get("up", True) else "down")
        else:
            if p.get("owned"):
                ipr.link("set", ifname=action.name, ifalias=OWNER_MARK)
            if link:
                if any(attr in link for attr in _BR_ATTRS.values()):
                    link["kind"] = "bridge"
                try:
                    ipr.link("set", ifname=action.name, **link)
                except _netlink.NetlinkError as exc:
                    raise _explain(exc, action) from None
            if "up" in p:
                ipr.link("set", ifname=action.name, state="up" if p["up"] else "down")
        index = None
        for cidr in p.get("del_addresses", []):
            index = index or ipr.link_lookup(ifname=action.name)[0]
            del_address(ipr, index, cidr)
        for cidr in p.get("addresses", []) + p.get("add_addresses", []):
            index = index or ipr.link_lookup(ifname=action.name)[0]
            add_address(ipr, index, cidr, nodad=True)

    def render(self, obj: Bridge) -> dict[str, Any]:
        return {
            "name": obj.name,
            "addresses": list(obj.addresses or []),
            "mtu": obj.mtu,
            "mac": obj.mac,
            "stp": obj.stp,
            "forward_delay": None if obj.forward_delay is None else obj.forward_delay / 100,
            "ageing_time": None if obj.ageing_time is None else obj.ageing_time / 100,
            "vlan_filtering": obj.vlan_filtering,
            "up": obj.up,
            "owned": obj.owned,
            "ports": [port[0] for port in obj.ports],
        }


def _explain(exc: Exception, action: Action) -> Exception:
    """Kernels built without CONFIG_BRIDGE_VLAN_FILTERING answer EOPNOTSUPP: say so."""
    if exc.code == errno.EOPNOTSUPP and action.params.get("vlan_filtering"):
        return KernelError(
            f"bridge {action.name}: {action.op} failed: this kernel does not support bridge vlan_filtering "
            "(built without CONFIG_BRIDGE_VLAN_FILTERING)"
        )
    return exc


def _absorb_rounding(have: Bridge, want: Bridge | None) -> Bridge:
    """The kernel stores timers in jiffies: 2.01 s may read back as 2.00 s. Within 1 cs counts as equal."""
    if want is None:
        return have
    fixes = {}
    for field in _TIMERS:
        wanted, current = getattr(want, field), getattr(have, field)
        if wanted is not None and current is not None and abs(wanted - current) <= 1:
            fixes[field] = wanted
    return dataclasses.replace(have, **fixes) if fixes else have
