# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Normalised objects shared by every resource: actions, names, ownership."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

# Written into what the collection creates (link alias, the alias of a
# namespace's lo, nft table comment) so that ownership can be proven later.
OWNER_MARK = "netplumb.container"

STATES = ("merged", "replaced", "overridden", "deleted")


@dataclasses.dataclass(frozen=True)
class Action:
    """One change to the kernel. ``params`` says what is set; ``phase`` orders the plan."""

    op: str  # create | update | delete
    kind: str  # netns, veth, bridge, route, ...
    name: str
    netns: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    phase: int = 0
    # The typed objects the action turns one into the other (None: absent), for engines that apply from
    # them instead of from ``params`` (which is then only the summary shown to the user).
    before: Any = dataclasses.field(default=None, compare=False, repr=False)
    after: Any = dataclasses.field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        where = f" in netns {self.netns}" if self.netns else ""
        what = ""
        if self.params:
            what = ": " + ", ".join(f"{k}={_short(v)}" for k, v in sorted(self.params.items()))
        return f"{self.op} {self.kind} {self.name}{where}{what}"

    def to_result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "kind": self.kind, "name": self.name}
        if self.netns:
            out["netns"] = self.netns
        if self.params:
            out["params"] = dict(self.params)
        out["summary"] = str(self)
        return out


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in sorted(value.items())) + "}"
    return str(value)


def as_dict(obj: Any, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A dataclass as a plain dict for diffs and results, without volatile fields."""
    data = dataclasses.asdict(obj)
    for key in drop:
        data.pop(key, None)
    return data


def docker_mac(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Docker's MAC for an endpoint or a bridge: 02:42 + the IPv4 address (for IPv6-only, its last four bytes).
    Here, not in _ipam, so that the bridge module does not load the allocator for it."""
    return "02:42:" + ":".join(f"{b:02x}" for b in addr.packed[-4:])
