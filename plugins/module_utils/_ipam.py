# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IPAM: addresses for endpoints (a store per network on the host) and subnets for hosts (a lease file).

Two layers, one allocator:

- ``free_blocks`` walks the sorted taken intervals once and yields the lowest
  free aligned blocks; it never enumerates a pool (a /8 or an IPv6 /64 costs
  what its allocations cost). Size 1 = endpoint addresses, size 2**k = host subnets.
- ``JsonStore`` (_store.py, shared with nat) is a JSON file with a format
  marker, read and written under an exclusive flock on a lock file beside it,
  replaced atomically (tmp + fsync + rename + fsync of the directory): a reader
  sees the old or the new file, never a torn one, and two runs never hand out
  the same address.

Planning (``plan_endpoints``, ``plan_cluster``) is pure: it takes the loaded
state and returns the new state plus actions, or raises before anything is
written.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import ipaddress
import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any, Union

from ansible_collections.netplumb.container.plugins.module_utils._errors import (
    ConflictError,
    ValidationError,
)
from ansible_collections.netplumb.container.plugins.module_utils._model import Action, docker_mac
from ansible_collections.netplumb.container.plugins.module_utils._store import JsonStore
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_abs_path,
    check_definition_name,
    check_netns_name,
    check_network_name,
    check_unique,
    config_list,
    first_overlap,
    parse_int,
    parse_ip,
)

FORMAT = "netplumb.container/ipam"
CLUSTER_FORMAT = "netplumb.container/ipam-cluster"
DEFAULT_STATE_DIR = "/var/lib/netplumb/ipam"
DEFAULT_DEFINITION = "default"
DEFINITION_FORMAT = "netplumb.container/ipam-definition"
MODES = ("bridge", "none", "host", "container")
ENDPOINT_STATES = ("merged", "replaced", "overridden", "deleted")

Net = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
Addr = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
# (netns or None for the module's own, interface, "address/prefix"), as _rtnl.live_owned_addresses lists them
LiveReader = Callable[[], "list[tuple[str | None, str, str]]"]


# ---------------------------------------------------------------- allocator


def free_blocks(lo: int, hi: int, size: int, blocked: list[tuple[int, int]]) -> Iterator[int]:
    """Ascending starts of free ``size``-aligned blocks inside [lo, hi].

    ``blocked`` holds inclusive (start, end) intervals sorted by start (they may
    overlap). Each yielded block counts as taken from then on, so a caller
    takes the next free block with ``next()``: n allocations cost O(n + len(blocked)).
    """
    cand = -(-lo // size) * size
    i, n = 0, len(blocked)
    while cand + size - 1 <= hi:
        while i < n and blocked[i][1] < cand:
            i += 1
        if i < n and blocked[i][0] <= cand + size - 1:
            cand = -(-(blocked[i][1] + 1) // size) * size
            continue
        yield cand
        cand += size


def lowest_free(net: Net, size: int, blocked: list[tuple[int, int]], count: int) -> list[int]:
    """Starts of the ``count`` lowest free ``size``-aligned blocks of ``net``; fewer when it runs out."""
    lo, hi = int(net.network_address), int(net.broadcast_address)
    return list(itertools.islice(free_blocks(lo, hi, size, blocked), count))


def _intervals(values: list[int]) -> list[tuple[int, int]]:
    return [(v, v) for v in sorted(values)]


# ---------------------------------------------------------------- pools


@dataclasses.dataclass(frozen=True)
class Pool:
    """One subnet of a network, Docker's way: gateway, ip_range for dynamic allocation, aux addresses."""

    subnet: Net
    gateway: Addr
    ip_range: Net
    aux_addresses: tuple[tuple[str, Addr], ...] = ()

    @property
    def family(self) -> int:
        return self.subnet.version

    def reserved(self) -> dict[int, str]:
        """Addresses never handed out, with why."""
        out: dict[int, str] = {}
        net = self.subnet
        if net.version == 4 and net.prefixlen <= 30:
            out[int(net.network_address)] = "the network address"
            out[int(net.broadcast_address)] = "the broadcast address"
        elif net.version == 6 and net.prefixlen <= 126:
            out[int(net.network_address)] = "the subnet-router anycast address"
        for name, addr in self.aux_addresses:
            out[int(addr)] = f"the aux address {name!r}"
        out.setdefault(int(self.gateway), "the gateway")
        return out

    def to_store(self) -> dict[str, Any]:
        return {
            "subnet": str(self.subnet),
            "gateway": str(self.gateway),
            "ip_range": str(self.ip_range),
            "aux_addresses": {k: str(v) for k, v in self.aux_addresses},
        }


def parse_net(value: Any, what: str) -> Net:
    try:
        return ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        hint = ""
        with contextlib.suppress(ValueError):
            hint = f" (did you mean {ipaddress.ip_network(str(value), strict=False)}?)"
        raise ValidationError(f"{what} {value!r} is not a valid subnet: {exc}{hint}") from None


def _first_usable(net: Net) -> Addr:
    if (net.num_addresses <= 2 and net.version == 4) or net.num_addresses == 1:
        return net.network_address
    return net.network_address + 1


def parse_pool(spec: dict[str, Any], where: str) -> Pool:
    if not spec.get("subnet"):
        raise ValidationError(f"{where}: subnet is required")
    subnet = parse_net(spec["subnet"], f"{where}: subnet")
    what = f"{where} {subnet}"
    gateway = parse_ip(spec["gateway"], f"{what}: gateway") if spec.get("gateway") else _first_usable(subnet)
    if gateway not in subnet:
        raise ValidationError(f"{what}: gateway {gateway} is outside the subnet")
    ip_range = subnet
    if spec.get("ip_range"):
        ip_range = parse_net(spec["ip_range"], f"{what}: ip_range")
        if ip_range.version != subnet.version or not ip_range.subnet_of(subnet):
            raise ValidationError(f"{what}: ip_range {ip_range} is not inside the subnet")
    aux = []
    for name, value in sorted((spec.get("aux_addresses") or {}).items()):
        addr = parse_ip(value, f"{what}: aux address {name!r}")
        if addr not in subnet:
            raise ValidationError(f"{what}: aux address {name!r} ({addr}) is outside the subnet")
        aux.append((str(name), addr))
    pool = Pool(subnet, gateway, ip_range, tuple(aux))
    bad = pool.reserved()
    if gateway != _first_usable(subnet) and bad.get(int(gateway)) not in (
        None,
        "the gateway",
    ):
        raise ValidationError(f"{what}: gateway {gateway} is {bad[int(gateway)]}")
    return pool


def parse_pools(params: dict[str, Any]) -> list[Pool]:
    """The flat subnet/gateway/ip_range/aux_addresses options, or a ``pools`` list (one per family)."""
    if params.get("pools"):
        specs = [(spec, f"pools[{i}]") for i, spec in enumerate(params["pools"])]
    elif params.get("subnet"):
        specs = [
            (
                {k: params.get(k) for k in ("subnet", "gateway", "ip_range", "aux_addresses")},
                "pool",
            )
        ]
    else:
        for key in ("gateway", "ip_range", "aux_addresses"):
            if params.get(key):
                raise ValidationError(f"{key} needs a subnet")
        return []
    pools = [parse_pool(spec, where) for spec, where in specs]
    families = [p.family for p in pools]
    if len(set(families)) != len(families):
        raise ValidationError("pools: at most one IPv4 and one IPv6 pool per network")
    return sorted(pools, key=lambda p: p.family)


# ---------------------------------------------------------------- live addresses


def read_live_owned() -> list[tuple[str | None, str, str]]:
    """The addresses live on owned interfaces of this host (imported here: cluster mode runs on the controller)."""
    from ansible_collections.netplumb.container.plugins.module_utils._rtnl import live_owned_addresses

    return live_owned_addresses()


class LiveAddresses:
    """Addresses live on interfaces this collection owns, anywhere on the host: read once, on first need.

    A hand-added address on an owned eth0 recorded in no store must not be handed out again (duplicate IP).
    """

    def __init__(self, read: LiveReader | None = None) -> None:
        self._read = read
        self._found: dict[Addr, str] | None = None
        self.error: str | None = None

    def get(self) -> dict[Addr, str]:
        if self._found is None:
            self._found = {}
            try:
                rows = (self._read or read_live_owned)()
            except OSError as exc:
                self.error = str(exc)
                rows = []
            for netns, ifname, cidr in rows:
                where = f"{ifname} in netns {netns}" if netns else f"{ifname} in the host namespace"
                self._found.setdefault(ipaddress.ip_interface(cidr).ip, where)
        return self._found

    def warnings(self) -> list[str]:
        if self.error is None:
            return []
        return [f"addresses live on owned interfaces could not be read, new addresses were not checked: {self.error}"]


def skipped_warning(network: str, skipped: list[tuple[Addr, str]]) -> str:
    shown = ", ".join(f"{addr} (on {where})" for addr, where in skipped[:10])
    more = f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
    return (
        f"network {network}: skipped {shown}{more}: live on interfaces netplumb.container owns but held by no "
        "endpoint of this network (added by hand?); remove them, or they stay out of the pool"
    )


# ---------------------------------------------------------------- endpoint addresses


@dataclasses.dataclass(frozen=True)
class Record:
    netns: str
    addresses: tuple[Addr, ...]  # at most one per family, sorted by family
    definition: str = DEFAULT_DEFINITION  # who made it: only that definition releases it

    def by_family(self) -> dict[int, Addr]:
        return {a.version: a for a in self.addresses}


@dataclasses.dataclass(frozen=True)
class Request:
    endpoint: str
    netns: str
    fixed: tuple[Addr, ...] = ()
    definition: str = DEFAULT_DEFINITION


@dataclasses.dataclass
class NetworkState:
    pools: list[Pool]
    endpoints: dict[str, Record]


def store_path(state_dir: str, network: str) -> str:
    return os.path.join(state_dir, network + ".json")


def parse_requests(
    config: list[dict[str, Any]] | None, pools: list[Pool], need_pools: bool, definition: str = DEFAULT_DEFINITION
) -> list[Request]:
    families = {p.family: p for p in pools}
    out: list[Request] = []
    seen: set[str] = set()
    for item in config or []:
        name = check_netns_name(item.get("endpoint"), "endpoint")
        if name in seen:
            raise ValidationError(f"endpoint {name} is listed more than once in config")
        seen.add(name)
        netns = check_netns_name(item.get("netns") or name, f"endpoint {name}: netns")
        raw = ([item["address"]] if item.get("address") else []) + list(item.get("addresses") or [])
        fixed: dict[int, Addr] = {}
        for value in raw:
            text = str(value)
            addr = parse_ip(text.split("/", maxsplit=1)[0], f"endpoint {name}: address")
            if addr.version in fixed:
                raise ValidationError(f"endpoint {name}: more than one IPv{addr.version} address requested")
            pool = families.get(addr.version)
            if pool is None:
                if not need_pools:
                    continue
                raise ValidationError(f"endpoint {name}: address {addr} has no IPv{addr.version} pool in this network")
            if addr not in pool.subnet:
                raise ValidationError(f"endpoint {name}: address {addr} is outside the subnet {pool.subnet}")
            if "/" in text and text.split("/", 1)[1] != str(pool.subnet.prefixlen):
                raise ValidationError(f"endpoint {name}: {text} does not match the subnet {pool.subnet}")
            why = pool.reserved().get(int(addr))
            if why:
                raise ValidationError(f"endpoint {name}: address {addr} is {why} of {pool.subnet}")
            fixed[addr.version] = addr
        out.append(Request(name, netns, tuple(fixed[f] for f in sorted(fixed)), definition))
    return out


def load_network(data: dict[str, Any] | None, store: JsonStore, network: str) -> NetworkState | None:
    """Validate a loaded endpoint store: every claim is checked, a bad one is an error naming the file."""
    if data is None:
        return None
    try:
        if data.get("network") != network:
            raise ValidationError(f"it belongs to network {data.get('network')!r}, not {network!r}")
        if not isinstance(data.get("pools"), list) or not isinstance(data.get("endpoints"), dict):
            raise ValidationError("pools or endpoints missing")
        pools = [parse_pool(p, "stored pool") for p in data["pools"]]
        by_family = {p.family: p for p in pools}
        if len(by_family) != len(pools):
            raise ValidationError("two pools of one family")
        endpoints: dict[str, Record] = {}
        held: dict[Addr, str] = {}
        for name, rec in data["endpoints"].items():
            check_netns_name(name, "endpoint")
            if not isinstance(rec, dict) or not isinstance(rec.get("addresses"), list):
                raise ValidationError(f"endpoint {name}: no address list")
            addrs = sorted(
                (parse_ip(a, f"endpoint {name}") for a in rec["addresses"]),
                key=lambda a: a.version,
            )
            for addr in addrs:
                pool = by_family.get(addr.version)
                if pool is None or addr not in pool.subnet:
                    raise ValidationError(f"endpoint {name}: {addr} is in no stored pool")
                if addr in held:
                    raise ValidationError(f"{addr} is held by both {held[addr]} and {name}")
                held[addr] = name
            if len({a.version for a in addrs}) != len(addrs):
                raise ValidationError(f"endpoint {name}: two addresses of one family")
            definition = check_definition_name(rec.get("definition") or DEFAULT_DEFINITION, "definition")
            endpoints[name] = Record(check_netns_name(rec.get("netns") or name), tuple(addrs), definition)
    except (ValidationError, AttributeError, TypeError) as exc:
        raise store.corrupt(getattr(exc, "msg", str(exc))) from None
    return NetworkState(pools, endpoints)


def dump_network(network: str, state: NetworkState) -> dict[str, Any]:
    return {
        "network": network,
        "pools": [p.to_store() for p in state.pools],
        "endpoints": {
            name: {"netns": rec.netns, "addresses": [str(a) for a in rec.addresses], "definition": rec.definition}
            for name, rec in sorted(state.endpoints.items())
        },
    }


@dataclasses.dataclass
class EndpointOutcome:
    state: NetworkState
    actions: list[Action]
    released: list[str]
    reconciled: list[str]
    allocations: dict[str, dict[str, Any]]
    write: bool
    skipped: list[tuple[Addr, str]] = dataclasses.field(default_factory=list)


def plan_endpoints(
    network: str,
    current: NetworkState | None,
    pools: list[Pool],
    requests: list[Request],
    state: str,
    alive: Callable[[str], bool] | None = None,
    listed: bool = True,
    scope: str | None = None,
    live: Callable[[], dict[Addr, str]] | None = None,
) -> EndpointOutcome:
    """The new store content for a run. Pure; raises before anything would be written.

    ``alive(netns)`` is given when reconciling: unlisted endpoints whose namespace
    is gone are released. ``listed`` is False for ``deleted`` without config (= all).
    ``scope`` (a definition) limits what ``overridden`` and ``deleted`` release to that
    definition's endpoints; addresses released in a scoped run are not handed out again in it,
    since the namespaces that held them go only after this run. ``live()`` (called only when an address
    must be picked) maps addresses live on owned interfaces to where they live: none is picked.
    """
    have = dict(current.endpoints) if current else {}
    old_pools = current.pools if current else []
    if not pools:
        pools = old_pools
    names = [r.endpoint for r in requests]
    wanted = set(names)
    actions: list[Action] = []
    for req in requests:
        held = have.get(req.endpoint)
        if held is not None and held.definition != req.definition and state != "deleted":
            raise ConflictError(
                f"network {network}: endpoint {req.endpoint} belongs to the definition {held.definition!r}, "
                f"not {req.definition!r}; remove it there first (or rename it)"
            )

    def mine(name: str) -> bool:
        return scope is None or have[name].definition == scope

    released: list[str] = []
    if state == "deleted":
        released = [n for n in (names if listed else sorted(have)) if n in have and mine(n)]
    elif state == "overridden":
        released = sorted(n for n in have if n not in wanted and mine(n))
    reconciled: list[str] = []
    if alive is not None:
        reconciled = sorted(n for n in have if n not in wanted and n not in released and not alive(have[n].netns))
    after = {n: r for n, r in have.items() if n not in released and n not in reconciled}
    for n in released + reconciled:
        actions.append(
            Action(
                "delete",
                "ipam",
                n,
                params={"addresses": [str(a) for a in have[n].addresses]},
                phase=0,
            )
        )

    _check_pool_change(network, old_pools, pools, after)

    skipped: list[tuple[Addr, str]] = []
    if state != "deleted":
        hold = {a for n in released for a in have[n].addresses} if scope is not None else set()
        skipped = _allocate(
            network, pools, requests, after, moving=state in ("replaced", "overridden"), hold=hold, live=live
        )
        for req in requests:
            old, new = have.get(req.endpoint), after[req.endpoint]
            if old == new:
                continue
            params = {"addresses": [str(a) for a in new.addresses]}
            if old is not None and old.netns != new.netns:
                params["netns"] = new.netns
            actions.append(
                Action(
                    "update" if old else "create",
                    "ipam",
                    req.endpoint,
                    params=params,
                    phase=1,
                )
            )

    new_state = NetworkState(pools, after)
    # Looking at a network that has no store creates nothing (deleted on an empty host).
    creates_nothing = current is None and state == "deleted"
    if not creates_nothing and [p.to_store() for p in old_pools] != [p.to_store() for p in pools]:
        old_families = {p.family for p in old_pools}
        for p in reversed(pools):
            if p not in old_pools:
                op = "update" if p.family in old_families else "create"
                actions.insert(
                    0,
                    Action(op, "ipam pool", str(p.subnet), params={"network": network}),
                )
    allocations = {} if state == "deleted" else {n: describe(pools, after[n]) for n in names}
    write = bool(actions) and not creates_nothing
    return EndpointOutcome(new_state, actions if write else [], released, reconciled, allocations, write, skipped)


def _check_pool_change(network: str, old: list[Pool], new: list[Pool], after: dict[str, Record]) -> None:
    """A pool may change only where no remaining allocation would be stranded or collide."""
    new_by = {p.family: p for p in new}
    old_by = {p.family: p for p in old}
    for name, rec in sorted(after.items()):
        for addr in rec.addresses:
            pool = new_by.get(addr.version)
            if pool is None or addr not in pool.subnet:
                was = old_by.get(addr.version)
                now = pool.subnet if pool else "no pool"
                raise ConflictError(
                    f"network {network}: the IPv{addr.version} subnet changed from {was.subnet if was else '?'} "
                    f"to {now} while endpoints still hold addresses in it (e.g. {name}: {addr}); "
                    "release them first (state=deleted or overridden)"
                )
            why = pool.reserved().get(int(addr))
            if why:
                raise ConflictError(f"network {network}: {addr}, {why} of {pool.subnet}, is held by endpoint {name}")


def _allocate(
    network: str,
    pools: list[Pool],
    requests: list[Request],
    after: dict[str, Record],
    moving: bool,
    hold: set[Addr] | frozenset[Addr] = frozenset(),
    live: Callable[[], dict[Addr, str]] | None = None,
) -> list[tuple[Addr, str]]:
    """Give every listed endpoint one address per pool: keep, fixed request, or lowest free.

    ``hold``: addresses nobody may take in this run (just released, still live in a namespace).
    ``live()``: addresses live on owned interfaces -> where; lowest free passes over those held by no endpoint.
    Returns the (address, where) passed over.
    """
    holder = {a: n for n, r in after.items() for a in r.addresses}
    holder.update((a, "(released in this run)") for a in hold if a not in holder)
    pending: dict[int, list[str]] = {p.family: [] for p in pools}
    chosen: dict[str, dict[int, Addr]] = {}
    for req in requests:
        mine = after[req.endpoint].by_family() if req.endpoint in after else {}
        for addr in req.fixed:
            current = mine.get(addr.version)
            if current == addr:
                continue
            if current is not None and not moving:
                raise ConflictError(
                    f"network {network}: endpoint {req.endpoint} holds {current}, not the requested {addr}; "
                    "use state=replaced to move it"
                )
            other = holder.get(addr)
            if other is not None and other != req.endpoint:
                raise ConflictError(f"network {network}: endpoint {req.endpoint} requests {addr}, held by {other}")
            if current is not None:
                del holder[current]
            holder[addr] = req.endpoint
            mine[addr.version] = addr
        for pool in pools:
            if pool.family not in mine:
                pending[pool.family].append(req.endpoint)
        chosen[req.endpoint] = mine
    skipped: list[tuple[Addr, str]] = []
    for pool in pools:
        need = pending[pool.family]
        if not need:
            continue
        reserved = pool.reserved()
        taken = list(reserved) + [int(a) for a in holder if a.version == pool.family]
        foreign = {
            int(a): (a, where)
            for a, where in (live() if live is not None else {}).items()
            if a.version == pool.family and a in pool.ip_range and a not in holder and int(a) not in reserved
        }
        starts = lowest_free(pool.ip_range, 1, _intervals(taken + list(foreign)), len(need))
        if starts:
            skipped += [foreign[v] for v in sorted(foreign) if v < starts[-1]]
        if len(starts) < len(need):
            live_note = f" ({len(foreign)} of its addresses are live on owned interfaces)" if foreign else ""
            raise ConflictError(
                f"network {network}: pool {pool.ip_range} is exhausted{live_note}: {len(need) - len(starts)} of "
                f"{len(need)} endpoints got no IPv{pool.family} address ({need[len(starts)]} first); "
                "nothing was changed"
            )
        for name, value in zip(need, starts):
            chosen[name][pool.family] = (
                ipaddress.ip_address(value) if pool.family == 4 else ipaddress.IPv6Address(value)
            )
    for req in requests:
        mine = chosen[req.endpoint]
        after[req.endpoint] = Record(req.netns, tuple(mine[f] for f in sorted(mine)), req.definition)
    return skipped


def describe(pools: list[Pool], rec: Record) -> dict[str, Any]:
    by = {p.family: p for p in pools}
    out: dict[str, Any] = {"netns": rec.netns, "addresses": []}
    for addr in rec.addresses:
        pool = by[addr.version]
        out["addresses"].append(f"{addr}/{pool.subnet.prefixlen}")
        sfx = "" if addr.version == 4 else "6"
        out[f"ipv{addr.version}"] = str(addr)
        out[f"prefixlen{sfx}"] = pool.subnet.prefixlen
        out[f"gateway{sfx}"] = str(pool.gateway)
    if rec.addresses:
        out["mac"] = docker_mac(rec.by_family().get(4) or rec.addresses[0])
    return out


def run_endpoints(
    params: dict[str, Any],
    check_mode: bool,
    alive: Callable[[str], bool] | None = None,
    live: LiveReader | None = None,
) -> dict:
    """The endpoint mode, pure of Ansible: validate, lock, load, plan, write unless check mode.

    ``live`` reads the addresses live on owned interfaces (default: this host's kernel, once, when needed).
    """
    network = check_network_name(params.get("network"), "network")
    state = params.get("state") or "merged"
    if state not in ENDPOINT_STATES:
        raise ValidationError(f"state must be one of {', '.join(ENDPOINT_STATES)}")
    pools = parse_pools(params)
    if state != "deleted" and not pools:
        raise ValidationError(f"network {network}: state={state} needs a pool (subnet, or pools)")
    config_list(params.get("config"), state, f"network {network}: ")
    requests = parse_requests(params.get("config"), pools, need_pools=state != "deleted")
    if params.get("reconcile") and alive is None:
        from ansible_collections.netplumb.container.plugins.module_utils._netlink import (
            netns_exists as alive,
        )
    store = JsonStore(
        store_path(check_abs_path(params.get("state_dir") or DEFAULT_STATE_DIR, "state_dir"), network),
        FORMAT,
        "IPAM store",
    )
    # Releasing from a network that has no store has nothing to write: take no
    # exclusive lock, which would create the state dir and the lock file.
    nothing_to_release = state == "deleted" and not os.path.exists(store.path)
    seen = LiveAddresses(live)
    with store.locked(write=not check_mode and not nothing_to_release):
        current = load_network(store.read(), store, network)
        out = plan_endpoints(
            network,
            current,
            pools,
            requests,
            state,
            alive=alive if params.get("reconcile") else None,
            listed=bool(params.get("config")),
            live=seen.get,
        )
        if out.write and not check_mode:
            store.write(dump_network(network, out.state))
    before = dump_network(network, current)["endpoints"] if current else {}
    after = dump_network(network, out.state)["endpoints"] if out.write else before
    return {
        "changed": bool(out.actions),
        "actions": [a.to_result() for a in out.actions],
        "allocations": out.allocations,
        "released": out.released + out.reconciled,
        "reconciled": out.reconciled,
        "store": store.path,
        "warnings": seen.warnings() + ([skipped_warning(network, out.skipped)] if out.skipped else []),
        "diff": _diff(before, after, store.path),
    }


def _diff(before: dict, after: dict, path: str) -> dict[str, Any]:
    keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return {
        "before": {k: before[k] for k in keys if k in before},
        "after": {k: after[k] for k in keys if k in after},
        "before_header": path,
        "after_header": path,
    }


# ---------------------------------------------------------------- definitions: many networks in one call


@dataclasses.dataclass(frozen=True)
class Member:
    """One endpoint a definition lists: its mode and, per network it joins, its ipam config entry."""

    name: str
    mode: str
    joins: tuple[tuple[str, dict[str, Any]], ...] = ()


def parse_members(raw: list[dict[str, Any]] | None, networks: dict[str, list[Pool]], need: bool) -> list[Member]:
    out: list[Member] = []
    for index, item in enumerate(raw or []):
        where = f"endpoints[{index}]"
        name = check_netns_name(item.get("name"), f"{where}.name")
        mode = item.get("mode") or "bridge"
        if mode not in MODES:
            raise ValidationError(f"{where}.mode: {mode!r} is not one of {', '.join(MODES)}")
        joins = []
        for position, entry in enumerate(item.get("networks") or []):
            net = check_network_name(entry.get("name"), f"{where}.networks[{position}].name")
            if need and net not in networks:
                raise ValidationError(f"endpoint {name}: network {net} is not in networks")
            config = {"endpoint": name, "netns": item.get("netns") or name}
            config.update((k, entry[k]) for k in ("address", "addresses") if entry.get(k))
            joins.append((net, config))
        if mode != "bridge" and joins:
            raise ValidationError(f"endpoint {name}: mode {mode} joins no network")
        out.append(Member(name, mode, tuple(joins)))
    check_unique(out, lambda m: m.name, "endpoint")
    return out


def load_definition(data: dict[str, Any] | None, store: JsonStore, definition: str) -> dict[str, dict[str, Any]]:
    """name -> {"mode", "networks"} of what the definition made; {} when it made nothing."""
    if data is None:
        return {}
    try:
        if data.get("definition") != definition or not isinstance(data.get("endpoints"), dict):
            raise ValidationError(f"it is not the record of the definition {definition!r}")
        out = {}
        for name, rec in data["endpoints"].items():
            check_netns_name(name, "endpoint")
            if rec.get("mode") not in MODES or not isinstance(rec.get("networks"), list):
                raise ValidationError(f"endpoint {name}: bad mode or networks")
            out[name] = {"mode": rec["mode"], "networks": [check_network_name(n) for n in rec["networks"]]}
    except (ValidationError, AttributeError, TypeError) as exc:
        raise store.corrupt(getattr(exc, "msg", str(exc))) from None
    return out


def definition_path(state_dir: str, definition: str) -> str:
    return os.path.join(state_dir, "definitions", definition + ".json")


def foreign_namespaces(names: list[str]) -> list[str]:
    """Which of these namespaces exist but were not made by this collection (no mark on their lo)."""
    from ansible_collections.netplumb.container.plugins.module_utils._model import OWNER_MARK
    from ansible_collections.netplumb.container.plugins.module_utils._netlink import netns_exists
    from ansible_collections.netplumb.container.plugins.module_utils._rtnl import RtnlReader

    existing = [n for n in names if netns_exists(n)]
    if not existing:
        return []
    with RtnlReader() as reader:
        return [n for n in existing if not any(k["index"] == 1 and k["alias"] == OWNER_MARK for k in reader.links(n))]


def run_definition(
    params: dict[str, Any],
    check_mode: bool,
    live: LiveReader | None = None,
    foreign: Callable[[list[str]], list[str]] | None = None,
) -> dict[str, Any]:
    """Many networks, one definition's endpoints, one call: allocate, purge (overridden) or release (deleted).

    The definition's record (its endpoints and their modes) lives beside the stores; each store records which
    definition holds an address, so one definition never releases another's.
    """
    state = params.get("state") or "merged"
    definition = check_definition_name(params.get("definition") or DEFAULT_DEFINITION)
    state_dir = check_abs_path(params.get("state_dir") or DEFAULT_STATE_DIR, "state_dir")
    nets: dict[str, list[Pool]] = {}
    for index, entry in enumerate(params.get("networks") or []):
        name = check_network_name(entry.get("name"), f"networks[{index}].name")
        if name in nets:
            raise ValidationError(f"network {name} is listed more than once in networks")
        nets[name] = parse_pools({"pools": entry.get("pools")}) if entry.get("pools") else []
        if state != "deleted" and not nets[name]:
            raise ValidationError(f"network {name}: state={state} needs its pools")
    listed = params.get("endpoints")
    if state != "deleted" and listed is None:
        raise ValidationError(f"state={state} needs the definition's endpoints (an empty list for none)")
    members = parse_members(listed, nets, need=state != "deleted")
    configs: dict[str, list[dict[str, Any]]] = {}
    for member in members:
        for net, config in member.joins:
            configs.setdefault(net, []).append(config)
    # Every fixed address is checked against its pool before anything is locked or written.
    requests = {
        net: parse_requests(configs.get(net), pools, state != "deleted", definition) for net, pools in nets.items()
    }

    def_store = JsonStore(definition_path(state_dir, definition), DEFINITION_FORMAT, "endpoint definition record")
    if params.get("foreign_netns") == "refuse" and state != "deleted":
        # Before any lock (a lock file is a change): only endpoints new to the definition, which made the others.
        known = load_definition(def_store.read(), def_store, definition)
        news = [
            (dict(m.joins[0][1]).get("netns") if m.joins else m.name)
            for m in members
            if m.mode in ("bridge", "none") and m.name not in known
        ]
        taken = (foreign or foreign_namespaces)(sorted(set(news)))
        if taken:
            raise ConflictError(
                f"namespace {', '.join(taken)} exists but was not made by netplumb.container (ip netns add, "
                "Docker, another tool); refusing to hand out addresses for it (force takes it over). "
                "Nothing was changed"
            )
    with contextlib.ExitStack() as locks:
        locks.enter_context(def_store.locked(write=not check_mode))
        recorded = load_definition(def_store.read(), def_store, definition)
        names = set(nets) | {n for rec in recorded.values() for n in rec["networks"]}
        stores = {net: JsonStore(store_path(state_dir, net), FORMAT, "IPAM store") for net in sorted(names)}
        for store in stores.values():  # sorted: two runs never wait on each other's locks crosswise
            locks.enter_context(store.locked(write=not check_mode))
        targets = [m.name for m in members] if listed is not None else sorted(recorded)
        outcomes: dict[str, EndpointOutcome] = {}
        currents: dict[str, NetworkState | None] = {}
        seen = LiveAddresses(live)  # one read for every network of the run
        for net, store in stores.items():
            currents[net] = current = load_network(store.read(), store, net)
            if current is None and not nets.get(net):
                continue  # recorded, never stored: nothing to release
            deleting = [Request(n, n, (), definition) for n in targets]
            want = deleting if state == "deleted" else requests.get(net, [])
            outcomes[net] = plan_endpoints(
                net,
                current,
                nets.get(net) or [],
                want,
                state,
                listed=listed is not None,
                scope=definition,
                live=seen.get,
            )
        if state == "deleted":
            after = {n: rec for n, rec in recorded.items() if n not in targets}
        else:
            after = {} if state == "overridden" else dict(recorded)
            for member in members:
                after[member.name] = {"mode": member.mode, "networks": [net for net, _config in member.joins]}
        modes = {**{m.name: m.mode for m in members}, **{n: r["mode"] for n, r in recorded.items()}}
        held = {n for out in outcomes.values() for n in out.released}
        removed = sorted((set(recorded) - set(after)) | (held & set(targets) if state == "deleted" else set()))
        emptied = [
            net
            for net, out in outcomes.items()
            if params.get("remove_stores") and state == "deleted" and not out.state.endpoints
        ]
        actions = [
            dataclasses.replace(a, params={**a.params, "network": net})
            for net, o in outcomes.items()
            for a in o.actions
        ]
        actions += [Action("delete", "ipam store", net, params={"path": stores[net].path}) for net in emptied]
        record_changed = after != recorded
        if record_changed:
            actions.append(
                Action(
                    "update" if recorded else "create",
                    "endpoint definition",
                    definition,
                    params={"endpoints": sorted(after)},
                )
            )
        if not check_mode:
            for net, out in outcomes.items():
                if out.write and net not in emptied:
                    stores[net].write(dump_network(net, out.state))
            if record_changed:
                if after:
                    def_store.write({"definition": definition, "endpoints": after})
                else:
                    _remove(def_store)
            for net in emptied:
                _remove(stores[net])
            if params.get("remove_stores") and state == "deleted":
                for net, store in stores.items():
                    if currents[net] is None:
                        _remove(store)  # never stored: only the lock this run made (no container used it)
    if not check_mode and not after:
        _remove(def_store)  # also the lock this run may have made for a definition that made nothing
        for directory in (os.path.dirname(def_store.path), state_dir):
            with contextlib.suppress(OSError):
                os.rmdir(directory)  # only when empty: another definition's or network's files keep it
    in_use = {
        net: sorted(o.state.endpoints)
        for net, o in outcomes.items()
        if state == "deleted" and o.state.endpoints and net in nets
    }
    warnings = [
        f"network {net} is kept: endpoints still hold addresses on it ({', '.join(holders[:5])}"
        f"{', ...' if len(holders) > 5 else ''})"
        for net, holders in in_use.items()
        if params.get("remove_stores")
    ]
    warnings += seen.warnings() + [skipped_warning(net, o.skipped) for net, o in outcomes.items() if o.skipped]
    before = {net: dump_network(net, c)["endpoints"] for net, c in currents.items() if c is not None}
    after_stores = {net: dump_network(net, o.state)["endpoints"] for net, o in outcomes.items() if net not in emptied}
    return {
        "changed": bool(actions),
        "actions": [a.to_result() for a in actions],
        "allocations": {net: o.allocations for net, o in outcomes.items() if o.allocations},
        "released": {net: o.released for net, o in outcomes.items() if o.released},
        "removed": [{"name": n, "mode": modes.get(n, "bridge")} for n in removed],
        "recorded": sorted(after),
        "in_use": in_use,
        "warnings": warnings,
        "definition_record": def_store.path,
        "diff": _diff(before, {**before, **after_stores}, state_dir),
    }


def _remove(store: JsonStore) -> None:
    for path in (store.path, store.lock_path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


# ---------------------------------------------------------------- host subnets (controller)


@dataclasses.dataclass(frozen=True)
class ClusterSpec:
    range: Net
    prefixlen: int
    hosts: tuple[str, ...]
    pinned: tuple[tuple[str, Net], ...]
    exclude: tuple[Net, ...]
    release: tuple[str, ...]


@dataclasses.dataclass
class Leases:
    range: Net
    prefixlen: int
    leases: dict[str, Net]


def _check_host(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"cluster: {what} must be a non-empty inventory hostname, got {name!r}")
    return name


def parse_cluster(spec: dict[str, Any]) -> ClusterSpec:
    if not spec.get("range"):
        raise ValidationError("cluster: range is required (e.g. 10.244.0.0/16)")
    rng = parse_net(spec["range"], "cluster: range")
    length = spec.get("prefixlen")
    if length is None:
        length = 24 if rng.version == 4 else 64
    if not isinstance(length, int) or not rng.prefixlen <= length <= rng.max_prefixlen:
        raise ValidationError(
            f"cluster: prefixlen {length!r} must be between {rng.prefixlen} (the range's) and {rng.max_prefixlen}"
        )
    hosts = tuple(_check_host(h, "a host") for h in spec.get("hosts") or [])
    if len(set(hosts)) != len(hosts):
        dup = next(h for h in hosts if hosts.count(h) > 1)
        raise ValidationError(f"cluster: host {dup} is listed more than once in hosts")
    pinned = []
    for host, value in sorted((spec.get("pinned") or {}).items()):
        net = parse_net(value, f"cluster: pinned subnet of {host}")
        if net.version != rng.version or not net.subnet_of(rng) or net.prefixlen != length:
            raise ValidationError(f"cluster: pinned subnet {net} of {host} is not a /{length} inside {rng}")
        pinned.append((_check_host(host, "a pinned host"), net))
    seen: dict[Net, str] = {}
    for host, net in pinned:
        if net in seen:
            raise ValidationError(f"cluster: {host} and {seen[net]} are both pinned to {net}")
        seen[net] = host
    exclude = tuple(
        parse_net(c, "cluster: exclude") if "/" in str(c) else _host_net(c) for c in spec.get("exclude") or []
    )
    release = tuple(_check_host(h, "a released host") for h in spec.get("release") or [])
    both = sorted(set(release) & (set(hosts) | {h for h, _net in pinned}))
    if both:
        raise ValidationError(f"cluster: {', '.join(both)} both released and listed in hosts/pinned")
    return ClusterSpec(rng, length, hosts, tuple(pinned), exclude, release)


def _host_net(value: Any) -> Net:
    addr = parse_ip(value, "cluster: exclude")
    return ipaddress.ip_network(addr)


def load_leases(data: dict[str, Any] | None, store: JsonStore) -> Leases | None:
    if data is None:
        return None
    try:
        rng = parse_net(data.get("range"), "range")
        length = data.get("prefixlen")
        if not isinstance(length, int) or not isinstance(data.get("leases"), dict):
            raise ValidationError("prefixlen or leases missing")
        leases = {}
        for host, value in data["leases"].items():
            net = parse_net(value, f"lease of {host}")
            if net.version != rng.version or not net.subnet_of(rng) or net.prefixlen != length:
                raise ValidationError(f"lease {net} of {host} is not a /{length} inside {rng}")
            leases[host] = net
        overlap = first_overlap(leases.items())
        if overlap is not None:
            (h1, n1), (h2, n2) = overlap
            raise ValidationError(f"{h1} and {h2} hold overlapping leases {n1} and {n2}")
    except (ValidationError, AttributeError, TypeError) as exc:
        raise store.corrupt(getattr(exc, "msg", str(exc))) from None
    return Leases(rng, length, leases)


def plan_cluster(current: Leases | None, spec: ClusterSpec) -> tuple[Leases, list[Action]]:
    """Leases after this run. Pure; raises before anything would be written."""
    have = dict(current.leases) if current else {}
    actions: list[Action] = []
    leases = dict(have)
    for host in spec.release:
        if host in leases:
            actions.append(
                Action(
                    "delete",
                    "subnet lease",
                    host,
                    params={"subnet": str(leases.pop(host))},
                )
            )
    for host, net in sorted(leases.items()):
        if net.prefixlen != spec.prefixlen or not net.subnet_of(spec.range):
            raise ConflictError(
                f"cluster: the range or prefixlen changed to {spec.range} /{spec.prefixlen} but {host} holds "
                f"{net}; release it first (cluster.release)"
            )
    excludes = [x for x in spec.exclude if x.version == spec.range.version]
    pinned = dict(spec.pinned)
    # Leases are aligned blocks of one size: an exclude at least as long lies inside one block (free, or
    # that lease's own route); a shorter one overlaps exactly the leases that start inside it.
    starts = sorted((int(n.network_address), h) for h, n in leases.items() if pinned.get(h, n) == n)
    keys = [k for k, _host in starts]
    for x in excludes:
        if x.prefixlen >= spec.prefixlen:
            continue
        i = bisect.bisect_left(keys, int(x.network_address))
        if i < len(keys) and keys[i] <= int(x.broadcast_address):
            host = starts[i][1]
            raise ConflictError(f"cluster: the lease {leases[host]} of {host} overlaps the excluded {x}")
    for host, net in spec.pinned:
        if leases.get(host) == net:
            continue
        for x in excludes:
            if net.overlaps(x):
                raise ConflictError(f"cluster: the subnet {net} pinned for {host} overlaps the excluded {x}")
        for other, held in sorted(leases.items()):
            if other != host and held.overlaps(net):
                raise ConflictError(f"cluster: the subnet {net} pinned for {host} is leased to {other}")
        op = "update" if host in leases else "create"
        leases[host] = net
        actions.append(Action(op, "subnet lease", host, params={"subnet": str(net), "pinned": True}))
    need = [h for h in spec.hosts if h not in leases]
    if need:
        size = 1 << (spec.range.max_prefixlen - spec.prefixlen)
        blocked = sorted(
            [(int(n.network_address), int(n.broadcast_address)) for n in leases.values()]
            + [(int(x.network_address), int(x.broadcast_address)) for x in excludes if x.overlaps(spec.range)]
        )
        starts = lowest_free(spec.range, size, blocked, len(need))
        if len(starts) < len(need):
            raise ConflictError(
                f"cluster: the range {spec.range} has no free /{spec.prefixlen} left for {len(need) - len(starts)} "
                f"of {len(need)} new hosts ({need[len(starts)]} first); nothing was changed"
            )
        for host, start in zip(need, starts):
            net = ipaddress.ip_network((start, spec.prefixlen))
            leases[host] = net
            actions.append(Action("create", "subnet lease", host, params={"subnet": str(net)}))
    return Leases(spec.range, spec.prefixlen, leases), actions


def run_cluster(spec_params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """The host-subnet mode, pure of Ansible (runs on the controller)."""
    path = spec_params.get("lease_file")
    if not path or not os.path.isabs(str(path)):
        raise ValidationError(
            f"cluster: lease_file must be an absolute path (e.g. '{{{{ inventory_dir }}}}/subnets.json'), got {path!r}"
        )
    spec = parse_cluster(spec_params)
    store = JsonStore(str(path), CLUSTER_FORMAT, "subnet lease file")
    with store.locked(write=not check_mode):
        current = load_leases(store.read(), store)
        new, actions = plan_cluster(current, spec)
        if current is not None and (current.range, current.prefixlen) != (
            new.range,
            new.prefixlen,
        ):
            actions.insert(
                0,
                Action(
                    "update",
                    "subnet range",
                    str(new.range),
                    params={"prefixlen": new.prefixlen},
                ),
            )
        rewrite = bool(actions)
        if rewrite and not check_mode:
            store.write(dump_leases(new))
    before = dump_leases(current)["leases"] if current else {}
    after = dump_leases(new)["leases"]
    listed = set(spec.hosts) | {h for h, _net in spec.pinned}
    return {
        "changed": rewrite,
        "actions": [a.to_result() for a in actions],
        "subnets": after,
        "unlisted": sorted(h for h in after if h not in listed),
        "released": [a.name for a in actions if a.op == "delete"],
        "lease_file": store.path,
        "diff": _diff(before, after, store.path),
    }


def dump_leases(leases: Leases) -> dict[str, Any]:
    return {
        "range": str(leases.range),
        "prefixlen": leases.prefixlen,
        "leases": {h: str(n) for h, n in sorted(leases.leases.items())},
    }


# ---------------------------------------------------------------- default address pools (host)

POOLS_FORMAT = "netplumb.container/ipam-default-pools"
# Docker's default-address-pools: 172.17.0.0/16 .. 172.31.0.0/16, then the /20 slices of 192.168.0.0/16.
DOCKER_POOLS: tuple[dict[str, Any], ...] = (
    {"base": "172.17.0.0/16", "size": 16},
    {"base": "172.18.0.0/15", "size": 16},
    {"base": "172.20.0.0/14", "size": 16},
    {"base": "172.24.0.0/13", "size": 16},
    {"base": "192.168.0.0/16", "size": 20},
)
POOLS_VAR = "bridge_network_default_pools"


@dataclasses.dataclass(frozen=True)
class DefaultPool:
    base: ipaddress.IPv4Network
    size: int


def parse_default_pools(raw: Any, what: str = "subnets.pools") -> list[DefaultPool]:
    """Docker's default-address-pools entries ({base, size}), IPv4 only."""
    if raw is None:
        raw = list(DOCKER_POOLS)
    if not isinstance(raw, list) or not raw:
        raise ValidationError(f"{what}: {raw!r} is not a non-empty list of {{base, size}} pools")
    out = []
    for index, spec in enumerate(raw):
        where = f"{what}[{index}]"
        if not isinstance(spec, dict) or not spec.get("base"):
            raise ValidationError(f"{where}: {spec!r} needs a base (e.g. 172.17.0.0/16) and a size")
        base = parse_net(spec["base"], f"{where}.base")
        if base.version != 4:
            raise ValidationError(f"{where}.base: {base} is not an IPv4 subnet (default pools are IPv4)")
        size = parse_int(spec.get("size"), f"{where}.size", base.prefixlen, 30)
        out.append(DefaultPool(base, size))
    return out


def choose_subnets(
    pools: list[DefaultPool],
    networks: list[str],
    records: dict[str, Net],
    routes: list[Net],
    exclude: list[Net],
) -> tuple[dict[str, Net], list[Action]]:
    """Each network's subnet: its record, or the lowest pool slice that overlaps no route, no other
    network's subnet (recorded or given) and no earlier choice. Pure; raises before anything is written."""
    chosen: dict[str, Net] = {}
    actions: list[Action] = []
    for name in networks:
        held = records.get(name)
        if held is None:
            continue
        for other in exclude:
            if held.overlaps(other):
                raise ConflictError(
                    f"subnets: network {name} holds {held} (recorded), which overlaps the subnet {other} of another "
                    "network; give one of them another subnet"
                )
        chosen[name] = held
    taken = [n for n in routes if n.version == 4 and n.prefixlen > 0] + [n for n in exclude if n.version == 4]
    taken += records.values()
    blocked = sorted((int(n.network_address), int(n.broadcast_address)) for n in taken)
    for name in networks:
        if name in chosen:
            continue
        found = None
        for pool in pools:
            starts = lowest_free(pool.base, 1 << (32 - pool.size), blocked, 1)
            if starts:
                found = ipaddress.ip_network((starts[0], pool.size))
                break
        if found is None:
            bases = ", ".join(f"{p.base} /{p.size}" for p in pools)
            raise ConflictError(
                f"{POOLS_VAR}: the default pools ({bases}) have no free subnet left for network {name} (every slice "
                "overlaps a route of the host or another network); add a pool or give the network a subnet; "
                "nothing was changed"
            )
        chosen[name] = found
        bisect.insort(blocked, (int(found.network_address), int(found.broadcast_address)))
        actions.append(Action("create", "default pool subnet", name, params={"subnet": str(found)}))
    return chosen, actions


def pools_path(state_dir: str) -> str:
    # Network names start with a letter or digit, so no network store can be called this.
    return os.path.join(state_dir, "_default_pools.json")


def load_pool_records(data: dict[str, Any] | None, store: JsonStore) -> dict[str, Net]:
    if data is None:
        return {}
    try:
        if not isinstance(data.get("subnets"), dict):
            raise ValidationError("no subnets")
        return {
            check_network_name(name): parse_net(value, f"subnet of {name}") for name, value in data["subnets"].items()
        }
    except (ValidationError, AttributeError, TypeError) as exc:
        raise store.corrupt(getattr(exc, "msg", str(exc))) from None


def host_routes() -> list[Net]:
    """Every IPv4 route destination of the host, in all tables (main and local included)."""
    from ansible_collections.netplumb.container.plugins.module_utils._rtnl import RtnlReader

    with RtnlReader() as reader:
        found = reader.routes(table=None)
    return [
        ipaddress.ip_network((r["dst"], r["dst_len"]), strict=False)
        for r in found
        if r["family"] == 2 and r["dst"] is not None
    ]


def run_default_pools(
    spec: dict[str, Any],
    state_dir: str,
    check_mode: bool,
    routes: Callable[[], list[Net]] = host_routes,
    state: str = "merged",
) -> dict[str, Any]:
    """The default-pools mode: a subnet for each listed network, recorded on the host so that it stays.

    ``deleted`` forgets the listed networks' subnets instead (their networks are gone) and returns them.
    """
    check_abs_path(state_dir, "state_dir")
    pools = parse_default_pools(spec.get("pools"))
    raw_names = spec.get("networks") or []
    names = [check_network_name(n, "subnets.networks") for n in raw_names]
    check_unique(names, lambda n: n, "subnets.networks")
    exclude = [parse_net(c, "subnets.exclude") for c in spec.get("exclude") or []]
    store = JsonStore(pools_path(state_dir), POOLS_FORMAT, "default pool record")
    # Forgetting what was never recorded must not leave a lock file (and a directory) behind.
    with store.locked(write=not check_mode and (state != "deleted" or os.path.exists(store.path))):
        records = load_pool_records(store.read(), store)
        if state == "deleted":
            chosen = {n: records[n] for n in names if n in records}
            actions = [Action("delete", "default pool subnet", n, params={"subnet": str(s)}) for n, s in chosen.items()]
            kept = {n: s for n, s in records.items() if n not in chosen}
        else:
            chosen, actions = choose_subnets(pools, names, records, routes() if names else [], exclude)
            kept = {**records, **chosen}
        if actions and not check_mode:
            if kept:
                store.write({"subnets": {n: str(s) for n, s in sorted(kept.items())}})
            else:
                _remove(store)
    if state == "deleted" and not check_mode and not kept:
        with contextlib.suppress(OSError):
            os.rmdir(state_dir)  # only when empty, as the stores' own removal does
    before = {n: str(s) for n, s in sorted(records.items()) if n in chosen}
    after = {} if state == "deleted" else {n: str(s) for n, s in sorted(chosen.items())}
    return {
        "changed": bool(actions),
        "actions": [a.to_result() for a in actions],
        "subnets": {n: str(s) for n, s in sorted(chosen.items())},
        "store": store.path,
        "diff": _diff(before, after, store.path),
    }


def run_ipam(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    if params.get("subnets") is not None:
        if params["state"] not in ("merged", "deleted"):
            raise ValidationError(f"subnets: state {params['state']!r} is not merged or deleted")
        return run_default_pools(params["subnets"], params["state_dir"], check_mode, state=params["state"])
    if params.get("cluster"):
        return run_cluster(params["cluster"], check_mode)
    if params.get("networks") is not None or params.get("endpoints") is not None:
        return run_definition(params, check_mode)
    return run_endpoints(params, check_mode)


_POOL_OPTIONS = {
    "subnet": {"type": "str", "required": True},
    "gateway": {"type": "str"},
    "ip_range": {"type": "str"},
    "aux_addresses": {"type": "dict"},
}

ARGUMENT_SPEC: dict[str, Any] = {
    "network": {"type": "str"},
    "subnet": {"type": "str"},
    "gateway": {"type": "str"},
    "ip_range": {"type": "str"},
    "aux_addresses": {"type": "dict"},
    "pools": {"type": "list", "elements": "dict", "options": _POOL_OPTIONS},
    "config": {
        "type": "list",
        "elements": "dict",
        "options": {
            "endpoint": {"type": "str", "required": True},
            "netns": {"type": "str"},
            "address": {"type": "str"},
            "addresses": {"type": "list", "elements": "str"},
        },
    },
    "state": {"type": "str", "choices": list(ENDPOINT_STATES), "default": "merged"},
    "networks": {
        "type": "list",
        "elements": "dict",
        "options": {
            "name": {"type": "str", "required": True},
            "pools": {"type": "list", "elements": "dict", "options": _POOL_OPTIONS},
        },
    },
    "endpoints": {
        "type": "list",
        "elements": "dict",
        "options": {
            "name": {"type": "str", "required": True},
            "mode": {"type": "str", "choices": list(MODES), "default": "bridge"},
            "netns": {"type": "str"},
            "networks": {
                "type": "list",
                "elements": "dict",
                "options": {
                    "name": {"type": "str", "required": True},
                    "address": {"type": "str"},
                    "addresses": {"type": "list", "elements": "str"},
                },
            },
        },
    },
    "definition": {"type": "str", "default": DEFAULT_DEFINITION},
    "remove_stores": {"type": "bool", "default": False},
    "reconcile": {"type": "bool", "default": False},
    "foreign_netns": {"type": "str", "choices": ["allow", "refuse"], "default": "allow"},
    "state_dir": {"type": "path", "default": DEFAULT_STATE_DIR},
    "subnets": {
        "type": "dict",
        "options": {
            "networks": {"type": "list", "elements": "str", "required": True},
            "pools": {
                "type": "list",
                "elements": "dict",
                "options": {"base": {"type": "str", "required": True}, "size": {"type": "int", "required": True}},
            },
            "exclude": {"type": "list", "elements": "str"},
        },
    },
    "cluster": {
        "type": "dict",
        "options": {
            "range": {"type": "str", "required": True},
            "prefixlen": {"type": "int"},
            "lease_file": {"type": "path", "required": True},
            "hosts": {"type": "list", "elements": "str"},
            "pinned": {"type": "dict"},
            "exclude": {"type": "list", "elements": "str"},
            "release": {"type": "list", "elements": "str"},
        },
    },
}

MODULE_KWARGS: dict[str, Any] = {
    "argument_spec": ARGUMENT_SPEC,
    "mutually_exclusive": [
        ("network", "cluster"),
        ("pools", "subnet"),
        ("pools", "gateway"),
        ("pools", "ip_range"),
        ("pools", "aux_addresses"),
        ("cluster", "config"),
        ("cluster", "reconcile"),
        *(("networks", other) for other in ("network", "subnet", "pools", "config", "cluster", "reconcile")),
        ("endpoints", "config"),
        ("endpoints", "network"),
        *(("subnets", other) for other in ("network", "networks", "endpoints", "config", "cluster", "pools")),
    ],
    "required_one_of": [("network", "cluster", "networks", "subnets")],
    "supports_check_mode": True,
}
