# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nat resource: the per-network policy, its record, and the firewall it is rendered to.

The objects the planner sees are networks, kept in a record on the host
(``/var/lib/netplumb/nat.json`` by default: flock-ed, written by atomic
rename + fsync). The firewall is derived from the WHOLE recorded set after
merging, so one run changes the ruleset in one transaction per backend, and
only when the kernel's ruleset differs from the rendering (which also
restores rules after a firewall reload or flush). Order of a run: sysctls,
firewall, record.
"""

from __future__ import annotations

from typing import Any, Hashable

from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import backend as bk
from ansible_collections.netplumb.container.plugins.module_utils._firewall import iptables, nftables
from ansible_collections.netplumb.container.plugins.module_utils._firewall.model import (
    Network,
    check_network_name,
    check_policy,
    derive_rules,
    families,
    merge_network,
    network_from_dict,
    network_to_dict,
    parse_network,
    sysctls_needed,
)
from ansible_collections.netplumb.container.plugins.module_utils._model import Action
from ansible_collections.netplumb.container.plugins.module_utils._netlink import Netlink
from ansible_collections.netplumb.container.plugins.module_utils._plan import NamedResource
from ansible_collections.netplumb.container.plugins.module_utils._store import JsonStore, StoreLock
from ansible_collections.netplumb.container.plugins.module_utils._validate import check_unique

BACKENDS = ("auto", "nftables", "iptables")


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


class NatEngine:
    resource = NatResource()
    check_mode = False  # set by converge(): in check mode a bridge that does not exist yet is a warning

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self._lock: StoreLock | None = None
        self._store = record_store(bk.DEFAULT_RECORD)
        self._pending: dict[str, Any] = {}
        self._after: list[Network] = []
        self._record_written = False
        self._chosen: dict[str, Any] = {}

    def validate(self, params: dict[str, Any]) -> list[Network]:
        if params.get("backend", "auto") not in BACKENDS:
            raise ValidationError(f"nat backend must be one of {', '.join(BACKENDS)}")
        config = params.get("config") or []
        if params["state"] in ("merged", "replaced") and not config:
            raise ValidationError(f"state={params['state']} needs a non-empty config")
        self._store = record_store(params.get("record_path") or bk.DEFAULT_RECORD)
        if params["state"] == "deleted":  # only the names matter when deleting
            return [Network(name=check_network_name(e.get("network")), bridge="-", subnets=()) for e in config]
        want = [parse_network(entry) for entry in config]
        check_unique(want, lambda n: n.name, "nat network")
        check_policy(want)
        return want

    def read(self, nl: Netlink, want: list[Network], params: dict[str, Any]) -> dict[Hashable, Network]:
        # Held from reading the record until it is written back (extra_result), so that concurrent runs
        # keep each other's networks. Check mode changes nothing, so it need not wait (nor create the lock file).
        if not self.check_mode:
            self._lock = self._store.locked(write=True)
        try:
            record = self._store.read() or {"backend": None, "variant": None}
            record.setdefault("networks", [])
            self._record = record
            return {n["name"]: network_from_dict(n) for n in record["networks"]}
        except BaseException:
            self._release()
            raise

    def derive(self, nl: Netlink, have: dict, after: dict, params: dict[str, Any]) -> list[Action]:
        """The firewall and sysctl actions that follow from the whole policy ``after``. Read-only."""
        try:
            return self._derive(nl, have, after, params)
        except BaseException:
            self._release()
            raise

    def _derive(self, nl: Netlink, have: dict, after: dict, params: dict[str, Any]) -> list[Action]:
        networks = sorted(after.values(), key=lambda n: n.name)
        check_policy(networks)  # the merged set: clashes with recorded networks fail here, before any change
        self._after = networks
        recorded = self._record.get("backend") if self._record["networks"] else None
        name, variant, why = bk.choose(params.get("backend") or "auto", recorded)
        self._chosen = {"backend": name, "backend_reason": why}
        if variant:
            self._chosen["iptables_variant"] = variant
        actions = self._sysctl_actions(nl, networks)
        actions += self._other_backend_teardown(name, variant)
        actions += self._firewall_actions(name, variant, networks)
        switched = recorded is not None and (recorded != name or self._record.get("variant") != variant)
        if switched and networks and have == after:  # otherwise a network action writes the record
            actions.append(Action("update", "nat record", self._store.path, params={"backend": name}, phase=3))
        return actions

    def _sysctl_actions(self, nl: Netlink, networks: list[Network]) -> list[Action]:
        actions = []
        for key, value in sysctls_needed(networks).items():
            current = nl.read_sysctl(None, key)
            if current is None and self.check_mode and key.startswith("net.ipv4.conf."):
                self.warnings.append(f"nat: sysctl {key} does not exist (yet): its bridge is missing")
            elif current is None:
                hint = " (load br_netfilter: modprobe br_netfilter)" if key.startswith("net.bridge.") else ""
                if ".conf." in key and "route_localnet" in key:
                    hint = " (create the bridge first)"
                raise ValidationError(f"nat: sysctl {key} does not exist in this namespace{hint}")
            if current != value:
                actions.append(Action("update", "sysctl", key, params={"value": value, "was": current}, phase=1))
        return actions

    def _other_backend_teardown(self, name: str, variant: str | None) -> list[Action]:
        """Switching backends: remove what the collection left in the other one."""
        actions = []
        if name == "iptables" and bk.shutil.which("nft"):
            have = bk.nft_read()
            batch = nftables.teardown(have) if have and not _nft_only_user(have) else None
            if batch:
                self._pending["nft-teardown"] = batch
                actions.append(Action("delete", "nftables", "nft-teardown", params={"table": "inet netplumb"}, phase=2))
        for other in ("nft", "legacy"):
            if name == "iptables" and other == variant:
                continue
            if not bk._variant_available(other):
                continue
            for fam in (4, 6):
                have = bk.ipt_read(other, fam)
                text = iptables.teardown_payload(have) if not iptables.empty(have) else None
                if text:
                    key = f"iptables-{other}/ipv{fam}-teardown"
                    self._pending[key] = (other, fam, text)
                    actions.append(Action("delete", "iptables", key, params={"chains": "NETPLUMB*"}, phase=2))
        return actions

    def _firewall_actions(self, name: str, variant: str | None, networks: list[Network]) -> list[Action]:
        rules = derive_rules(networks)
        if name == "nftables":
            have = bk.nft_read()
            if not networks:
                batch = nftables.teardown(have) if have and not _nft_only_user(have) else None
                if batch:
                    self._pending["netplumb"] = batch
                    return [Action("delete", "nftables", "netplumb", params={"table": "inet netplumb"}, phase=2)]
                return []
            if have is not None and self._record.get("backend") != "nftables" and not nftables.marked(have):
                raise ConflictError(
                    "nat: table inet netplumb exists but was not made by netplumb.container (no ownership mark, "
                    "not in the record); refusing to rewrite it (delete it, or use backend: iptables)"
                )
            want = nftables.render(rules)
            stale = nftables.differs(want, have)
            if not stale:
                return []
            self._pending["netplumb"] = nftables.transaction(want, have)
            op = "create" if have is None else "update"
            count = sum(len(v) for v in want.values())
            return [
                Action(
                    op,
                    "nftables",
                    "netplumb",
                    params={"table": "inet netplumb", "chains": stale, "rules": count},
                    phase=2,
                )
            ]
        actions = []
        for fam in (4, 6):
            have = bk.ipt_read(variant, fam)
            key = f"iptables-{variant}/ipv{fam}"
            if fam not in families(networks):
                text = iptables.teardown_payload(have) if not iptables.empty(have) else None
                if text:
                    self._pending[key] = (variant, fam, text)
                    actions.append(Action("delete", "iptables", key, params={"chains": "NETPLUMB*"}, phase=2))
                continue
            want = iptables.render(rules, fam)
            stale = iptables.differs(want, have)
            if stale:
                self._pending[key] = (variant, fam, iptables.payload(want, have))
                count = sum(len(v) for t in want["chains"].values() for v in t.values())
                actions.append(Action("update", "iptables", key, params={"chains": stale, "rules": count}, phase=2))
        return actions

    def apply(self, nl: Netlink, action: Action) -> None:
        try:
            self._apply(action, nl)
        except BaseException:
            self._release()
            raise

    def _apply(self, action: Action, nl: Netlink) -> None:
        if action.kind == "sysctl":
            nl.write_sysctl(None, action.name, action.params["value"])
        elif action.kind == "nftables":
            bk.nft_apply(self._pending[action.name])
        elif action.kind == "iptables":
            variant, fam, text = self._pending[action.name]
            bk.ipt_apply(variant, fam, text)
        elif not self._record_written:
            self._record_written = True
            self._store.write(
                {
                    "backend": self._chosen["backend"] if self._after else None,
                    "variant": self._chosen.get("iptables_variant") if self._after else None,
                    "networks": [network_to_dict(n) for n in self._after],
                },
            )

    def render(self, obj: Network) -> dict[str, Any]:
        return network_to_dict(obj)

    def extra_result(self) -> dict[str, Any]:
        """Called by converge() when the run is done: also the end of the record lock."""
        self._release()
        return dict(self._chosen)

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def record_store(path: str) -> JsonStore:
    """The policy record: no format marker (its format predates the shared store); lock on <path>.lock."""
    return JsonStore(path, None, "nat record")


def _nft_only_user(have: dict[str, Any]) -> bool:
    """The table holds nothing but the user's chain (with rules) and the jump to it."""
    extra = set(have["chains"]) - {"forward", nftables.USER_CHAIN}
    fwd = have["rules"].get("forward", [])
    return bool(have["rules"].get(nftables.USER_CHAIN)) and not extra and len(fwd) == 1
