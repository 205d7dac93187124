# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The route resource: IPv4/IPv6 unicast routes in the host or in a named namespace.

Identity is (netns, table, dst, metric), as the kernel's: two routes that
differ only in gateway or device are the same route, changed by replace.

Ownership: every route the collection creates carries the routing protocol
number RTPROT_NETPLUMB (``ip route`` shows ``proto 78``). Deletes pass that
protocol to the kernel too, which then refuses to remove any other route, so
not even a race between read and apply can remove a route we do not own.
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
from typing import Any, Hashable

from ansible_collections.netplumb.container.plugins.module_utils import _netlink
from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._model import Action
from ansible_collections.netplumb.container.plugins.module_utils._netlink import (
    Netlink,
    netns_exists,
)
from ansible_collections.netplumb.container.plugins.module_utils._plan import Scope
from ansible_collections.netplumb.container.plugins.module_utils._rtnl import route_network
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_ifname,
    check_netns_name,
    check_unique,
    config_list,
    parse_ip,
)

# Protocols >= RTPROT_STATIC (4) are opaque to the kernel; 78 (0x4e, "N") is
# not in iproute2's rt_protos, nor used by bird, FRR, keepalived or Calico.
RTPROT_NETPLUMB = 78
AF_INET = 2
AF_INET6 = 10
FAMILIES = {"ipv4": AF_INET, "ipv6": AF_INET6}
DEFAULT_DST = {AF_INET: "0.0.0.0/0", AF_INET6: "::/0"}
# IPv6 has no metric 0: the kernel stores a route added with 0 as 1024.
DEFAULT_METRIC = {AF_INET: 0, AF_INET6: 1024}
TABLES = {"default": 253, "main": 254, "local": 255}
MAIN_TABLE = 254
SCOPES = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254}
SCOPE_NAMES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
RT_SCOPE_NOWHERE = 255
RTN_UNICAST = 1
RTN_NAMES = {
    1: "unicast",
    2: "local",
    3: "broadcast",
    4: "anycast",
    5: "multicast",
    6: "blackhole",
    7: "unreachable",
    8: "prohibit",
    9: "throw",
    10: "nat",
}
RTNH_F_ONLINK = 0x4
RTM_F_CLONED = 0x200
U32_MAX = 2**32 - 1


@dataclasses.dataclass(frozen=True)
class Route:
    dst: str  # normalised network, 0.0.0.0/0 or ::/0 for default
    netns: str | None = None
    table: int = MAIN_TABLE
    metric: int = 0
    via: str | None = None
    dev: str | None = None
    onlink: bool | None = None  # None (in want only): not given
    scope: str | None = None
    src: str | None = None
    protocol: int = RTPROT_NETPLUMB
    type: str = "unicast"

    @property
    def family(self) -> int:
        return family_of(self.dst)

    @property
    def key(self) -> tuple:
        return (self.netns or "", self.table, self.dst, self.metric)


def family_of(text: str) -> int:
    """AF_INET or AF_INET6 of an address or network that is already in canonical text."""
    return AF_INET6 if ":" in text else AF_INET


def route_name(dst: str, table: int, metric: int) -> str:
    """The route as actions name it: dst, plus table and metric when not the defaults."""
    name = dst
    if table != MAIN_TABLE:
        name += f" table {table}"
    if metric != DEFAULT_METRIC[family_of(dst)]:
        name += f" metric {metric}"
    return name


class RouteResource:
    kind = "route"

    def key(self, obj: Route) -> Hashable:
        return obj.key

    def label(self, key: Hashable) -> str:
        netns, table, dst, metric = key  # type: ignore[misc]
        return route_name(dst, table, metric) + (f" in netns {netns}" if netns else "")

    def owned(self, obj: Route) -> bool:
        return obj.protocol == RTPROT_NETPLUMB

    def merge(self, have: Route | None, want: Route, replace: bool) -> Route:
        """Omitted options keep the route's value (merged) or return to the default (replaced)."""
        keep = have if (have is not None and not replace) else None
        via = want.via if want.via is not None or keep is None else keep.via
        dev = want.dev
        if dev is None and have is not None and have.via == via:
            dev = have.dev  # the device the kernel chose for this gateway
        onlink = want.onlink if want.onlink is not None else bool(keep.onlink if keep else False)
        scope = want.scope
        if scope is None:
            if keep is not None and keep.type == "unicast" and (keep.via is None) == (via is None):
                scope = keep.scope
            else:
                scope = default_scope(want.family, via)
        src = want.src if want.src is not None or keep is None else keep.src
        return Route(
            dst=want.dst,
            netns=want.netns,
            table=want.table,
            metric=want.metric,
            via=via,
            dev=dev,
            onlink=onlink,
            scope=scope,
            src=src,
            # A route someone else made stays theirs, also when we change it.
            protocol=have.protocol if have is not None else RTPROT_NETPLUMB,
        )

    def create(self, obj: Route) -> list[Action]:
        return [Action("create", self.kind, obj.dst, obj.netns, route_params(obj), phase=3 if obj.via else 2)]

    def update(self, have: Route, want: Route) -> list[Action]:
        return [Action("update", self.kind, want.dst, want.netns, route_params(want), phase=3 if want.via else 2)]

    def delete(self, obj: Route) -> list[Action]:
        params = {"table": obj.table, "metric": obj.metric, "protocol": obj.protocol}
        return [Action("delete", self.kind, obj.dst, obj.netns, params, phase=0 if obj.via else 1)]


def route_params(route: Route) -> dict[str, Any]:
    """Everything apply needs to write the whole route (replace rewrites all of it)."""
    params: dict[str, Any] = {
        "table": route.table,
        "metric": route.metric,
        "protocol": route.protocol,
        "scope": route.scope,
    }
    for name in ("via", "dev", "src"):
        if getattr(route, name) is not None:
            params[name] = getattr(route, name)
    if route.onlink:
        params["onlink"] = True
    return params


def preflight(
    want: list[Route], params: dict[str, Any], links_of: dict[str | None, dict[str, int] | None]
) -> list[str]:
    """A namespace or device the config needs must exist (``links_of``: each namespace's links by name, None for a
    namespace that does not exist). In check mode an earlier task may create it: a warning, not an error."""
    check_mode = bool(params.get("check_mode"))
    if params["state"] == "deleted":
        return []  # a route in a missing namespace or on a missing device is gone already
    missing: dict[str, list[str]] = {}  # one message per missing namespace or device
    for route in want:
        where = f" in netns {route.netns}" if route.netns else ""
        links = links_of.get(route.netns)
        if links is None:
            problem = f"netns {route.netns} does not exist"
        elif route.dev is not None and route.dev not in links:
            problem = f"device {route.dev}{where} does not exist"
        else:
            continue
        missing.setdefault(problem, []).append(route_name(route.dst, route.table, route.metric) + where)
    problems = []
    for problem, names in missing.items():
        more = f" and {len(names) - 1} more" if len(names) > 1 else ""
        problems.append(f"{problem}{' (yet)' if check_mode else ''}; needed by route {names[0]}{more}")
    if problems and not check_mode:
        raise ValidationError("; ".join(problems))
    return [p + "; assuming an earlier task creates it" for p in problems]


def default_scope(family: int, via: str | None) -> str:
    """As ip-route(8): link for a route without gateway; IPv6 routes have no scope."""
    return "link" if family == AF_INET and via is None else "global"


class RouteEngine:
    resource = RouteResource()

    def validate(self, params: dict[str, Any]) -> list[Route]:
        state = params["state"]
        config = config_list(params.get("config"), params["state"])
        scope = params.get("scope")
        if (state == "overridden" or (state == "deleted" and not config)) and scope is None:
            raise ValidationError(
                f"state={state}{' without config' if state == 'deleted' else ''} removes routes that are not listed, "
                "so it needs an explicit scope: {netns: ..., table: ...} (both optional; netns omitted = the namespace "
                f"the module runs in, table omitted = every table); it only ever removes routes with protocol "
                f"{RTPROT_NETPLUMB}, the ones netplumb.container created"
            )
        if scope:
            if scope.get("netns") is not None:
                check_netns_name(scope["netns"], "scope.netns")
            if scope.get("table") is not None:
                parse_table(scope["table"], "scope.table")
        want = [parse_route(entry, identity_only=state == "deleted") for entry in config]
        check_unique(want, lambda r: self.resource.label(r.key), "route")
        return want

    def scope_from(self, params: dict[str, Any]) -> Scope | None:
        scope = params.get("scope")
        if scope is None:
            return None
        netns = scope.get("netns") or None
        table = parse_table(scope["table"], "scope.table") if scope.get("table") is not None else None
        return Scope(match=lambda r: r.netns == netns and (table is None or r.table == table))

    def read(self, nl: Netlink, want: list[Route], params: dict[str, Any]) -> dict[Hashable, Route]:
        """One link dump and one route dump for each namespace involved, through the raw reader (no pyroute2:
        a run that changes nothing never imports it)."""
        families: dict[str | None, set[int]] = {}
        for route in want:
            families.setdefault(route.netns, set()).add(route.family)
        scope = params.get("scope")
        if params["state"] == "overridden" or (params["state"] == "deleted" and not want):
            families.setdefault(scope.get("netns") or None, set()).update((AF_INET, AF_INET6))
        links_of: dict[str | None, dict[str, int] | None] = {}  # None: the namespace does not exist
        have: dict[Hashable, Route] = {}
        for netns in sorted(families, key=lambda n: n or ""):
            if netns is not None and not netns_exists(netns):
                links_of[netns] = None
                continue
            links = {link["name"]: link["index"] for link in nl.reader.links(netns)}
            links_of[netns] = links
            names = {index: name for name, index in links.items()}
            for found in nl.reader.routes(netns, table=None):
                if found["family"] in families[netns]:
                    route = route_from_dump(found, netns, names)
                    if route is not None:
                        have.setdefault(route.key, route)  # a second nexthop appended to it: keep the first
        params["warnings"].extend(preflight(want, params, links_of))
        return have

    def apply(self, nl: Netlink, action: Action) -> None:
        p = action.params
        ipr = nl.ipr(action.netns)
        spec: dict[str, Any] = {
            "family": family_of(action.name),
            "dst": action.name,
            "table": p["table"],
            "priority": p["metric"],
            "proto": p["protocol"],
        }
        if action.op == "delete":
            # scope nowhere matches any scope; proto makes the kernel refuse a route not ours.
            change_route(ipr, "del", scope=RT_SCOPE_NOWHERE, **spec)
            return
        spec.update(type="unicast", scope=SCOPES[p["scope"]])
        if "via" in p:
            spec["gateway"] = p["via"]
        if "dev" in p:
            index = ipr.link_lookup(ifname=p["dev"])
            if not index:
                where = f" in netns {action.netns}" if action.netns else ""
                raise KernelError(f"route {action.name}{where}: {action.op} failed: device {p['dev']} does not exist")
            spec["oif"] = index[0]
        if p.get("onlink"):
            spec["flags"] = RTNH_F_ONLINK
        if "src" in p:
            spec["prefsrc"] = p["src"]
        change_route(ipr, "add" if action.op == "create" else "replace", **spec)

    def render(self, obj: Route) -> dict[str, Any]:
        return {
            "netns": obj.netns,
            "table": obj.table,
            "dst": obj.dst,
            "metric": obj.metric,
            "via": obj.via,
            "dev": obj.dev,
            "onlink": bool(obj.onlink),
            "scope": obj.scope,
            "src": obj.src,
            "protocol": obj.protocol,
            "type": obj.type,
        }


def change_route(ipr, op: str, **spec: Any) -> None:
    """add, replace or del one route; deleting a route that is already gone is success (ESRCH/ENOENT)."""
    try:
        ipr.route(op, **spec)
    except _netlink.NetlinkError as exc:
        if op != "del" or exc.code not in (errno.ESRCH, errno.ENOENT):
            raise


def route_from_dump(found: dict[str, Any], netns: str | None, names: dict[int, str]) -> Route | None:
    """A kernel route (``_rtnl.decode_route``) as a Route; None for what no config entry can name (cache, tos,
    source prefix)."""
    if found["flags"] & RTM_F_CLONED or found["tos"] or found["src_len"]:
        return None
    family = found["family"]
    if family not in (AF_INET, AF_INET6):
        return None
    oif = found["oif"]
    return Route(
        dst=route_network(found),
        netns=netns,
        table=found["table"],
        metric=found["priority"] or 0,
        via=found["gateway"],
        dev=names.get(oif, str(oif)) if oif else None,
        onlink=bool(found["flags"] & RTNH_F_ONLINK),
        scope=SCOPE_NAMES.get(found["scope"], str(found["scope"])),
        src=found["prefsrc"],
        protocol=found["proto"],
        type=RTN_NAMES.get(found["type"], str(found["type"])),
    )


def parse_route(entry: dict[str, Any], identity_only: bool = False) -> Route:
    """A config entry as a Route. For state=deleted only the identity matters."""
    raw_dst = entry.get("dst")
    netns = entry.get("netns")
    where = f" in netns {netns}" if netns else ""
    what = f"route {raw_dst}{where}"
    if netns is not None:
        check_netns_name(netns, f"{what}: netns")
    if not isinstance(raw_dst, str) or not raw_dst.strip():
        raise ValidationError(f"route{where}: dst must be a network in CIDR notation or 'default', got {raw_dst!r}")

    family = entry.get("family")
    if family is not None and family not in FAMILIES:
        raise ValidationError(f"{what}: family must be ipv4 or ipv6, got {family!r}")
    via = parse_address(entry.get("via"), f"{what}: via")
    src = parse_address(entry.get("src"), f"{what}: src")
    dst = parse_dst(raw_dst.strip(), what, FAMILIES.get(family) if family else None, via or src)
    fam = family_of(dst)
    fam_name = "ipv6" if fam == AF_INET6 else "ipv4"
    if family is not None and FAMILIES[family] != fam:
        raise ValidationError(f"{what}: family {family} does not match dst {dst}")
    for name, addr in (("via", via), ("src", src)):
        if addr is not None and family_of(addr) != fam:
            raise ValidationError(f"{what}: {name} {addr} is not an {fam_name} address like dst {dst}")

    table = parse_table(entry.get("table"), f"{what}: table") if entry.get("table") is not None else MAIN_TABLE
    metric = entry.get("metric")
    if metric is None:
        metric = DEFAULT_METRIC[fam]
    elif isinstance(metric, bool) or not isinstance(metric, int) or not 0 <= metric <= U32_MAX:
        raise ValidationError(f"{what}: metric must be an integer from 0 to {U32_MAX}, got {metric!r}")
    elif fam == AF_INET6 and metric == 0:
        metric = DEFAULT_METRIC[AF_INET6]
    if identity_only:
        return Route(dst=dst, netns=netns, table=table, metric=metric)

    dev = entry.get("dev")
    if dev is not None:
        check_ifname(dev, f"{what}: dev")
    if via is None and dev is None:
        raise ValidationError(f"{what}: needs via (a gateway), dev (a device), or both")
    if via is not None and dev is None and ipaddress.ip_address(via).is_link_local:
        raise ValidationError(f"{what}: the link-local gateway {via} needs dev (the link it is on)")
    scope = entry.get("scope")
    if scope is not None:
        if scope not in SCOPES:
            raise ValidationError(f"{what}: scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        scope = SCOPE_NAMES[SCOPES[scope]]
        if fam == AF_INET6 and scope != "global":
            raise ValidationError(f"{what}: IPv6 routes have no scope (the kernel keeps every one global)")
        if via is not None and scope in ("link", "host"):
            raise ValidationError(f"{what}: a route via a gateway cannot have scope {scope}")
    onlink = entry.get("onlink")
    if onlink and via is None:
        raise ValidationError(f"{what}: onlink needs via (it says the gateway is on the link of dev)")
    if onlink and dev is None:
        raise ValidationError(f"{what}: onlink needs dev (the kernel cannot find the link of an onlink gateway)")
    return Route(
        dst=dst,
        netns=netns,
        table=table,
        metric=metric,
        via=via,
        dev=dev,
        onlink=None if onlink is None else bool(onlink),
        scope=scope,
        src=src,
    )


def parse_dst(raw: str, what: str, family: int | None, hint: str | None) -> str:
    if raw == "default":
        if family is None and hint is None:
            raise ValidationError(f"{what}: dst default needs via, src or family to tell IPv4 from IPv6")
        return DEFAULT_DST[family or family_of(hint)]  # type: ignore[arg-type]
    try:
        net = ipaddress.ip_network(raw, strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            fixed = ipaddress.ip_network(raw, strict=False)
            raise ValidationError(f"{what}: dst has host bits set; the network is {fixed}") from None
        raise ValidationError(f"{what}: dst is not a network in CIDR notation ({exc})") from None
    return str(net)


def parse_address(value: Any, what: str) -> str | None:
    return None if value is None else str(parse_ip(value, what))


def parse_table(value: Any, what: str) -> int:
    """A routing table: main, default, local or a number from 1 to 2**32-1."""
    if isinstance(value, str) and value.strip() in TABLES:
        return TABLES[value.strip()]
    if isinstance(value, bool):
        raise ValidationError(f"{what} must be main, default, local or a number, got {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationError(f"{what} must be main, default, local or a number, got {value!r}") from None
    if not 1 <= number <= U32_MAX:
        raise ValidationError(f"{what} must be a number from 1 to {U32_MAX}, got {value!r}")
    return number
