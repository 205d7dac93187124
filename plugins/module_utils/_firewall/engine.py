# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nat resource: the per-network policy, its record, and the firewall it is rendered to.

The objects the planner sees are networks, kept in a record on the host
(``/var/lib/netplumb/nat.json`` by default: flock-ed, written by atomic
rename + fsync). The firewall is derived from the WHOLE recorded set after
merging, so one run changes the ruleset in one transaction per backend, and
only when the kernel's ruleset differs from the rendering (which also
restores rules after a firewall reload or flush).

One cycle (``run``): validate all input -> take the record lock (a context,
held to the end) -> read the record and the firewall once (a Snapshot) ->
plan (pure; every step carries what it applies) -> apply unless in check mode,
in the order sysctls, firewall, record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from typing import Any, Hashable

from ansible_collections.netplumb.container.plugins.module_utils._errors import (
    ConflictError,
    NetplumbError,
    ValidationError,
)
from ansible_collections.netplumb.container.plugins.module_utils._firewall import backend as bk
from ansible_collections.netplumb.container.plugins.module_utils._firewall import iptables, nftables
from ansible_collections.netplumb.container.plugins.module_utils._firewall.model import (
    Network,
    Publish,
    check_in_subnets,
    check_policy,
    derive_rules,
    merge_network,
    network_from_dict,
    network_to_dict,
    parse_network,
    parse_publish,
    rendered_families,
    sort_publish,
    sysctls_needed,
)
from ansible_collections.netplumb.container.plugins.module_utils._model import STATES, Action
from ansible_collections.netplumb.container.plugins.module_utils._plan import (
    NamedResource,
    Scope,
    diff_view,
    plan,
    target_state,
)
from ansible_collections.netplumb.container.plugins.module_utils._store import JsonStore
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_netns_name,
    check_network_name,
    check_unique,
    config_list,
    parse_bool,
)

BACKENDS = ("auto", "nftables", "iptables")
RECORD_PATH_MAX = 120
_RECORD_PATH_RE = re.compile(r"^/[A-Za-z0-9_./+-]+$")


class NatResource(NamedResource):
    kind = "nat network"

    def owned(self, obj: Network) -> bool:
        return True  # only what the collection recorded is ever seen

    def merge(self, have: Network | None, want: Network, replace: bool) -> Network:
        if have is None or replace:
            return want
        return merge_network(have, want)

    def create(self, obj: Network) -> list[Action]:
        return [Action("create", self.kind, obj.name, params={"bridge": obj.bridge}, phase=3)]

    def update(self, have: Network, want: Network) -> list[Action]:
        a, b = network_to_dict(have), network_to_dict(want)
        changed = {k: b[k] for k in b if a[k] != b[k]}
        return [Action("update", self.kind, want.name, params=changed, phase=3)]

    def delete(self, obj: Network) -> list[Action]:
        return [Action("delete", self.kind, obj.name, phase=3)]


RESOURCE = NatResource()


@dataclasses.dataclass(frozen=True)
class Request:
    """The validated input. ``endpoints`` set: only these endpoints' ports (``ports``: network -> ports)."""

    state: str
    backend: str
    store: JsonStore
    want: list[Network]
    scope: Scope | None
    force: bool
    endpoints: frozenset[str] | None = None
    ports: dict[str, list[Publish]] = dataclasses.field(default_factory=dict)

    @property
    def listed(self) -> set[str]:
        return {n.name for n in self.want} | set(self.ports)


@dataclasses.dataclass(frozen=True)
class Record:
    backend: str | None
    variant: str | None
    networks: dict[Hashable, Network]


# --- what each step applies ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SysctlWrite:
    key: str
    value: str

    def apply(self) -> None:
        bk.write_sysctl(self.key, self.value)


@dataclasses.dataclass(frozen=True)
class NftBatch:
    batch: dict[str, Any]

    def apply(self) -> None:
        bk.nft_apply(self.batch)


@dataclasses.dataclass(frozen=True)
class IptRestore:
    variant: str
    family: int
    text: str

    def apply(self) -> None:
        bk.ipt_apply(self.variant, self.family, self.text)


@dataclasses.dataclass(frozen=True)
class RecordWrite:
    store: JsonStore
    data: dict[str, Any]

    def apply(self) -> None:
        if self.data.get("networks"):
            self.store.write(self.data)
            return
        # No network left: the record goes, with its lock and the directory once empty (teardown leaves nothing).
        for path in (self.store.path, self.store.lock_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        with contextlib.suppress(OSError):
            os.rmdir(self.store.directory)


@dataclasses.dataclass(frozen=True)
class Step:
    action: Action
    payload: SysctlWrite | NftBatch | IptRestore | RecordWrite


# --- the cycle ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Plan:
    after: dict[Hashable, Network]
    steps: list[Step]
    backend: str
    variant: str | None
    why: str
    warnings: list[str]


def run(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """The whole nat cycle in the namespace the calling thread is in; returns the result, raises NetplumbError."""
    req = validate(params)
    # Held from reading the record until it is written back, so concurrent runs keep each other's
    # networks. Check mode changes nothing: a shared lock, and none (no lock file) if nothing was recorded.
    with req.store.locked(write=not check_mode):
        record = read_record(req.store)
        todo = plan_run(req, record, bk.read_snapshot(), check_mode)
        if not check_mode:
            apply_steps(todo.steps)
    have, after = record.networks, todo.after
    shown = sorted(k for k in set(have) | set(after) if k in req.listed or have.get(k) != after.get(k))
    result: dict[str, Any] = {
        "backend": todo.backend,
        "backend_reason": todo.why,
        "changed": bool(todo.steps),
        "actions": [s.action.to_result() for s in todo.steps],
        "before": [network_to_dict(have[k]) for k in shown if k in have],
        "after": [network_to_dict(after[k]) for k in shown if k in after],
        "diff": diff_view(RESOURCE, have, after, network_to_dict),
    }
    if todo.variant:
        result["iptables_variant"] = todo.variant
    if todo.warnings:
        result["warnings"] = todo.warnings
    return result


def plan_run(req: Request, record: Record, snap: bk.Snapshot, check_mode: bool) -> Plan:
    """Every step of the run, in the order applied: sysctls, firewall, record (reads only sysctls)."""
    have = record.networks
    warnings: list[str] = []
    after = target(req, have, check_mode, warnings)
    networks = sorted(after.values(), key=lambda n: n.name)
    check_policy(networks)  # the merged set: clashes with recorded networks fail here, before any change
    recorded = record.backend if have else None
    backend, variant, why = bk.choose(snap, req.backend, recorded)
    steps = sysctl_steps(networks, check_mode, warnings)
    steps += other_backend_steps(snap, backend, variant, req.store.path)
    steps += firewall_steps(snap, backend, variant, networks, record, req.store.path)
    data = {
        "backend": backend if networks else None,
        "variant": variant if networks else None,
        "networks": [network_to_dict(n) for n in networks],
    }
    write = RecordWrite(req.store, data)
    net_actions = plan(RESOURCE, have, after)
    steps += [Step(a, write) for a in net_actions]
    switched = recorded is not None and (recorded != backend or record.variant != variant)
    if switched and networks and not net_actions:
        action = Action("update", "nat record", req.store.path, params={"backend": backend}, phase=3)
        steps.append(Step(action, write))
    steps.sort(key=lambda s: s.action.phase)
    return Plan(after, steps, backend, variant, why, warnings)


def apply_steps(steps: list[Step]) -> None:
    """Apply in order; a payload shared by several steps (the record) is applied once."""
    done: list[Action] = []
    applied: list[Any] = []
    for step in steps:
        try:
            if not any(step.payload is p for p in applied):
                step.payload.apply()
                applied.append(step.payload)
        except NetplumbError as exc:
            exc.done = done
            raise
        done.append(step.action)


def validate(params: dict[str, Any]) -> Request:
    backend = params.get("backend") or "auto"
    if backend not in BACKENDS:
        raise ValidationError(f"nat backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    state = params.get("state") or "merged"
    if state not in STATES:
        raise ValidationError(f"nat state must be one of {', '.join(STATES)}, got {state!r}")
    store = record_store(params.get("record_path") or bk.DEFAULT_RECORD)
    scope = Scope(prefix=params["scope"]["prefix"]) if params.get("scope") else None
    force = parse_bool(params.get("force"), "nat force", False)
    common = {"state": state, "backend": backend, "store": store, "scope": scope, "force": force}
    if params.get("endpoints") is not None:
        return validate_endpoints(params, params.get("config") or [], common)
    config = config_list(params.get("config"), state, "nat: ")
    if state == "deleted":  # only the names matter when deleting
        names = [check_network_name(e.get("network"), "nat network") for e in config]
        return Request(want=[Network(name=n, bridge="-", subnets=()) for n in names], **common)
    want = [parse_network(entry) for entry in config]
    check_unique(want, lambda n: n.name, "nat network")
    check_policy(want)
    return Request(want=want, **common)


def validate_endpoints(params: dict[str, Any], config: list[dict[str, Any]], common: dict[str, Any]) -> Request:
    """``endpoints`` given: the call manages only the published ports of these endpoints."""
    if common["state"] != "merged":
        raise ValidationError(
            f"nat: endpoints works only with state=merged (got state={common['state']}); "
            "withdraw an endpoint's ports by listing it in endpoints with no ports in config"
        )
    raw = params["endpoints"]
    if not isinstance(raw, list):
        raise ValidationError(f"nat: endpoints must be a list of endpoint names, got {raw!r}")
    endpoints = [check_netns_name(e, "nat endpoints: endpoint") for e in raw]
    check_unique(endpoints, lambda e: e, "nat endpoints: endpoint")
    ports: dict[str, list[Publish]] = {}
    for entry in config:
        name = check_network_name(entry.get("network"), "nat network")
        where = f"nat network {name}"
        extra = sorted(k for k, v in entry.items() if v is not None and k not in ("network", "publish"))
        if extra:
            raise ValidationError(
                f"{where}: with endpoints, config entries take only network and publish "
                f"(the network's other options stay as recorded), got {', '.join(extra)}"
            )
        if name in ports:
            raise ValidationError(f"nat network {name} is listed more than once in config")
        ports[name] = []
        for item in entry.get("publish") or []:
            for pub in parse_publish(item, where, None):
                if pub.endpoint is None or pub.endpoint not in endpoints:
                    raise ValidationError(
                        f"{where}: publish {pub.label()} names endpoint {pub.endpoint!r}, which is not in "
                        f"endpoints ({', '.join(endpoints) or 'empty'}); with endpoints every port needs its endpoint"
                    )
                ports[name].append(pub)
    return Request(want=[], endpoints=frozenset(endpoints), ports=ports, **common)


def target(
    req: Request, have: dict[Hashable, Network], check_mode: bool = False, warnings: list[str] | None = None
) -> dict[Hashable, Network]:
    """The recorded networks when the run is done.

    In check mode a network that is not recorded yet may be one an earlier task of the same run records
    (the bridge_network role's nat call): its endpoint ports are then a warning, as the other modules do.
    """
    if req.endpoints is None:
        return target_state(RESOURCE, have, req.want, req.state, req.scope, req.force)
    after = dict(have)
    for name in sorted(set(have) | set(req.ports)):
        given = req.ports.get(name, [])
        net = have.get(name)
        if net is None:
            if given:
                owners = ", ".join(sorted({p.endpoint or "" for p in given}))
                if check_mode and warnings is not None:
                    warnings.append(
                        f"nat network {name} is not recorded (yet); check mode assumes an earlier task records it "
                        f"(endpoint ports of {owners})"
                    )
                    continue
                raise ValidationError(
                    f"nat network {name} is not recorded, so endpoint ports cannot be published on it "
                    f"({owners}); the network must exist first (a nat call with its definition)"
                )
            continue  # withdrawing from a network that is not there: nothing to do
        for pub in given:
            check_in_subnets(pub, f"nat network {name} (endpoint {pub.endpoint})", list(net.subnets))
        if given and net.internal:
            raise ValidationError(f"nat network {name} is internal: it cannot publish ports")
        kept = [p for p in net.publish if p.endpoint not in req.endpoints]
        publish = sort_publish(kept + given)
        if publish != net.publish:
            after[name] = dataclasses.replace(net, publish=publish)
    return after


def read_record(store: JsonStore) -> Record:
    data = store.read() or {}
    try:
        networks = {n["name"]: network_from_dict(n) for n in data.get("networks") or []}
    except (KeyError, TypeError, ValidationError) as exc:
        raise store.corrupt(f"a recorded network is unreadable ({exc})") from None
    return Record(data.get("backend"), data.get("variant"), networks)


def sysctl_steps(networks: list[Network], check_mode: bool, warnings: list[str]) -> list[Step]:
    steps = []
    for key, value in sysctls_needed(networks).items():
        current = bk.read_sysctl(key)
        if current is None and check_mode and key.startswith("net.ipv4.conf."):
            warnings.append(f"nat: sysctl {key} does not exist (yet): its bridge is missing")
            # A bridge made later in the play starts with the namespace's default.
            current = bk.read_sysctl("net.ipv4.conf.default." + key.rsplit(".", 1)[1])
        elif current is None:
            hint = " (load br_netfilter: modprobe br_netfilter)" if key.startswith("net.bridge.") else ""
            if "route_localnet" in key:
                hint = " (create the bridge first)"
            raise ValidationError(f"nat: sysctl {key} does not exist in this namespace{hint}")
        if current != value:
            action = Action("update", "sysctl", key, params={"value": value, "was": current}, phase=1)
            steps.append(Step(action, SysctlWrite(key, value)))
    return steps


def _delete_ipt(variant: str, fam: int, text: str, suffix: str = "") -> Step:
    key = f"iptables-{variant}/ipv{fam}{suffix}"
    return Step(
        Action("delete", "iptables", key, params={"chains": "NETPLUMB*"}, phase=2), IptRestore(variant, fam, text)
    )


def check_owner(found: str | None, path: str, where: str) -> None:
    """One firewall table holds the rules of one record: another record's rules are never replaced."""
    if found is not None and found != path:
        raise ConflictError(
            f"nat: {where} holds the rules of the record {found}, but this run's record_path is {path}; "
            f"one table holds one record (use record_path: {found}, or delete that policy with it first)"
        )


def other_backend_steps(snap: bk.Snapshot, backend: str, variant: str | None, path: str) -> list[Step]:
    """Switching backends: remove what the collection left in the other one."""
    steps = []
    if backend == "iptables" and snap.nft is not None and not _nft_only_user(snap.nft):
        check_owner(nftables.owner(snap.nft), path, "table inet netplumb")
        batch = nftables.teardown(snap.nft)
        if batch:
            action = Action("delete", "nftables", "nft-teardown", params={"table": "inet netplumb"}, phase=2)
            steps.append(Step(action, NftBatch(batch)))
    for other in snap.variants:
        if backend == "iptables" and other == variant:
            continue
        for fam in (4, 6):
            have = snap.ipt[(other, fam)]
            text = iptables.teardown_payload(have) if not iptables.empty(have) else None
            if text:
                check_owner(iptables.owner(have), path, f"the iptables-{other} NETPLUMB chains")
                steps.append(_delete_ipt(other, fam, text, "-teardown"))
    return steps


def firewall_steps(
    snap: bk.Snapshot, backend: str, variant: str | None, networks: list[Network], record: Record, path: str
) -> list[Step]:
    rules = derive_rules(networks, owner=path)
    if backend == "nftables":
        have = snap.nft
        check_owner(nftables.owner(have), path, "table inet netplumb")
        if not networks:
            if have is None or _nft_only_user(have):
                return []
            action = Action("delete", "nftables", "netplumb", params={"table": "inet netplumb"}, phase=2)
            return [Step(action, NftBatch(nftables.teardown(have) or {}))]
        if have is not None and record.backend != "nftables" and not nftables.marked(have):
            raise ConflictError(
                "nat: table inet netplumb exists but was not made by netplumb.container (no ownership mark, "
                "not in the record); refusing to rewrite it (delete it, or use backend: iptables)"
            )
        want = nftables.render(rules)
        stale = nftables.differs(want, have)
        if not stale:
            return []
        count = sum(len(v) for v in want.values())
        params = {"table": "inet netplumb", "chains": stale, "rules": count}
        action = Action("create" if have is None else "update", "nftables", "netplumb", params=params, phase=2)
        return [Step(action, NftBatch(nftables.transaction(want, have)))]
    if variant is None:
        raise AssertionError("iptables steps need the iptables variant in use")
    steps = []
    for fam in (4, 6):
        have = snap.ipt[(variant, fam)]
        check_owner(iptables.owner(have), path, f"the iptables-{variant} NETPLUMB chains")
        if fam not in rendered_families(networks, "iptables"):
            text = iptables.teardown_payload(have) if not iptables.empty(have) else None
            if text:
                steps.append(_delete_ipt(variant, fam, text))
            continue
        want = iptables.render(rules, fam)
        stale = iptables.differs(want, have)
        if stale:
            count = sum(len(v) for t in want["chains"].values() for v in t.values())
            key = f"iptables-{variant}/ipv{fam}"
            action = Action("update", "iptables", key, params={"chains": stale, "rules": count}, phase=2)
            steps.append(Step(action, IptRestore(variant, fam, iptables.payload(want, have))))
    return steps


def record_store(path: str) -> JsonStore:
    """The policy record: no format marker (its format predates the shared store); lock on <path>.lock.

    The path is written into a rule comment (nft keeps at most 128 bytes), hence its limits.
    """
    if not isinstance(path, str) or not os.path.isabs(path):
        raise ValidationError(f"nat record_path {path!r} must be an absolute path (nothing was written)")
    if not _RECORD_PATH_RE.match(path) or len(path) > RECORD_PATH_MAX or "/../" in path + "/":
        raise ValidationError(
            f"nat record_path {path!r} must be at most {RECORD_PATH_MAX} characters of letters, digits and _./+- "
            "without '..' (it is written into a rule comment)"
        )
    return JsonStore(path, None, "nat record")


def _nft_only_user(have: dict[str, Any]) -> bool:
    """The table holds nothing but the user's chain (with rules) and the jump to it."""
    extra = set(have["chains"]) - {"forward", nftables.USER_CHAIN}
    fwd = have["rules"].get("forward", [])
    return bool(have["rules"].get(nftables.USER_CHAIN)) and not extra and len(fwd) == 1
