# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netns resource: named network namespaces, their loopback and sysctls.

Ownership: a namespace the collection creates gets OWNER_MARK as the alias of
its ``lo``. The mark lives inside the namespace, so it dies with it and
cannot be left behind or forged by reusing a name.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Hashable

from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._model import OWNER_MARK, Action, as_dict
from ansible_collections.netplumb.container.plugins.module_utils._netlink import (
    Netlink,
    list_netns,
    netns_exists,
    normalise_sysctl,
    per_device_default,
    sysctl_path,
)
from ansible_collections.netplumb.container.plugins.module_utils._plan import NamedResource
from ansible_collections.netplumb.container.plugins.module_utils._validate import check_netns_name, check_unique


@dataclasses.dataclass(frozen=True)
class Netns:
    name: str
    loopback_up: bool | None = True
    sysctls: tuple[tuple[str, str], ...] = ()
    owned: bool = True

    @property
    def sysctl_map(self) -> dict[str, str]:
        return dict(self.sysctls)


class NetnsResource(NamedResource):
    kind = "netns"
    # A namespace of the same name made by someone else (Docker, ip netns add) is not silently taken over.
    adopts_foreign = False

    def merge(self, have: Netns | None, want: Netns, replace: bool) -> Netns:
        # sysctls are only ever set, never reset: the kernel has no "unset".
        sysctls = dict(have.sysctls) if have else {}
        sysctls.update(want.sysctls)
        return Netns(
            name=want.name,
            loopback_up=want.loopback_up,
            sysctls=tuple(sorted(sysctls.items())),
            owned=have.owned if have else True,
        )

    def create(self, obj: Netns) -> list[Action]:
        params: dict[str, Any] = {"loopback_up": obj.loopback_up}
        if obj.sysctls:
            params["sysctls"] = obj.sysctl_map
        return [Action("create", self.kind, obj.name, params=params, phase=1)]

    def update(self, have: Netns, want: Netns) -> list[Action]:
        params: dict[str, Any] = {}
        if have.loopback_up != want.loopback_up:
            params["loopback_up"] = want.loopback_up
        changed = {k: v for k, v in want.sysctls if have.sysctl_map.get(k) != v}
        if changed:
            params["sysctls"] = changed
        return [Action("update", self.kind, want.name, params=params, phase=1)] if params else []

    def delete(self, obj: Netns) -> list[Action]:
        return [Action("delete", self.kind, obj.name, phase=0)]


class NetnsEngine:
    resource = NetnsResource()

    def validate(self, params: dict[str, Any]) -> list[Netns]:
        config = params.get("config") or []
        if params["state"] in ("merged", "replaced") and not config:
            raise ValidationError(f"state={params['state']} needs a non-empty config")
        if params.get("scope"):
            check_netns_name(params["scope"]["prefix"] or "x", "scope.prefix")
        want = []
        for entry in config:
            name = check_netns_name(entry.get("name"))
            sysctls = {}
            for key, value in (entry.get("sysctls") or {}).items():
                sysctls[check_sysctl_key(key, name)] = sysctl_value(value, key, name)
            loopback = entry.get("loopback_up")
            want.append(
                Netns(
                    name=name,
                    loopback_up=True if loopback is None else bool(loopback),
                    sysctls=tuple(sorted(sysctls.items())),
                )
            )
        check_unique(want, lambda n: n.name, "netns")
        return want

    def read(self, nl: Netlink, want: list[Netns], params: dict[str, Any]) -> dict[Hashable, Netns]:
        # The kernel is the only judge of a sysctl value: try each in a scratch namespace before any change.
        nl.trial_sysctls(sorted({(key, value) for ns in want for key, value in ns.sysctls}))
        keys = sorted({key for ns in want for key in ns.sysctl_map})
        everything = params["state"] == "overridden" or (params["state"] == "deleted" and not want)
        names = list_netns() if everything else [n.name for n in want if netns_exists(n.name)]
        have = {}
        for name in names:
            have[name] = self.read_one(nl, name, keys)
        return have

    def read_one(self, nl: Netlink, name: str, sysctl_keys: list[str]) -> Netns:
        # One link dump through the reader's socket (by netnsid): no socket opened in the namespace.
        lo = next((link for link in nl.reader.links(name) if link["index"] == 1), None)
        if lo is None:
            raise KernelError(f"netns {name}: has no loopback interface")
        values = []
        for key in sysctl_keys:
            value = nl.read_sysctl(name, key)
            if value is not None:
                values.append((key, value))
        return Netns(
            name=name,
            loopback_up=lo["up"],
            sysctls=tuple(values),
            owned=lo["alias"] == OWNER_MARK,
        )

    def apply(self, nl: Netlink, action: Action) -> None:
        name = action.name
        if action.op == "delete":
            nl.delete_netns(name)
            return
        if action.op == "create":
            nl.create_netns(name)
        try:
            ipr = nl.ipr(name)
            if action.op == "create":
                ipr.link("set", index=1, ifalias=OWNER_MARK)
            if "loopback_up" in action.params:
                ipr.link("set", index=1, state="up" if action.params["loopback_up"] else "down")
            for key, value in (action.params.get("sysctls") or {}).items():
                nl.write_sysctl(name, key, value)
        except Exception as exc:
            # The namespace exists now, whatever failed after: the run has changed the host.
            exc.started = True  # type: ignore[attr-defined]
            raise

    def render(self, obj: Netns) -> dict[str, Any]:
        data = as_dict(obj)
        data["sysctls"] = obj.sysctl_map
        return data


def check_sysctl_key(key: Any, netns: str) -> str:
    """Only per-namespace (net.*) sysctls that exist on this kernel."""
    if not isinstance(key, str) or not key.startswith("net.") or "/" in key or ".." in key:
        raise ValidationError(
            f"netns {netns}: sysctl {key!r} is not a per-namespace sysctl (it must start with 'net.')"
        )
    probe = per_device_default(key)
    if not os.path.exists(sysctl_path(probe)):
        raise ValidationError(f"netns {netns}: unknown sysctl {key!r} (no {sysctl_path(probe)} on this kernel)")
    return key


def sysctl_value(value: Any, key: str, netns: str) -> str:
    """A sysctl value as the kernel reads it: a number, or printable ASCII text (fields separated by blanks)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) or (isinstance(value, str) and value.strip()):
        text = normalise_sysctl(value)
        if len(text) <= 256 and all(" " <= ch <= "~" for ch in text):
            return text
    raise ValidationError(
        f"netns {netns}: sysctl {key}: {value!r} is not a valid value (a number, or printable ASCII text of "
        "at most 256 characters)"
    )
