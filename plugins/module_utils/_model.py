# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Normalised objects shared by every resource: actions, names, ownership."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError

# Written into what the collection creates (link alias, the alias of a
# namespace's lo, nft table comment) so that ownership can be proven later.
OWNER_MARK = "netplumb.container"

IFNAMSIZ = 15  # bytes, without the trailing NUL
NETNS_NAME_MAX = 64
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.@:+-]+$")
_NETNS_RE = re.compile(r"^[A-Za-z0-9_.+-]+$")

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


def check_ifname(name: Any, what: str = "interface name") -> str:
    """Linux interface names: 1-15 bytes, no '/', no whitespace, not '.' or '..'."""
    if not isinstance(name, str) or not name:
        raise ValidationError(f"{what} must be a non-empty string, got {name!r}")
    if len(name.encode()) > IFNAMSIZ:
        raise ValidationError(f"{what} {name!r} is {len(name.encode())} bytes long; Linux allows at most {IFNAMSIZ}")
    if name in (".", "..") or not _IFNAME_RE.match(name):
        raise ValidationError(f"{what} {name!r} has characters Linux does not allow (letters, digits and _.@:+- only)")
    return name


def check_netns_name(name: Any, what: str = "netns name") -> str:
    """Namespace names become files in /run/netns: no '/', no leading dot, bounded length."""
    if not isinstance(name, str) or not name:
        raise ValidationError(f"{what} must be a non-empty string, got {name!r}")
    if "/" in name or name.startswith(".") or not _NETNS_RE.match(name):
        raise ValidationError(f"{what} {name!r} is not allowed: use letters, digits and _.+- (no '/', no leading '.')")
    if len(name) > NETNS_NAME_MAX:
        raise ValidationError(f"{what} {name!r} is longer than {NETNS_NAME_MAX} characters")
    return name


def parse_ip(value: Any, what: str = "address") -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IPv4 or IPv6 address without prefix length (route via/src, veth gateway, ipam addresses)."""
    try:
        return ipaddress.ip_address(str(value).strip())
    except ValueError:
        raise ValidationError(
            f"{what} {value!r} is not a valid IP address (IPv4 or IPv6, without prefix length)"
        ) from None


def check_unique(items: list[Any], key, what: str) -> None:
    seen: set = set()
    for item in items:
        k = key(item)
        if k in seen:
            raise ValidationError(f"{what} {k} is listed more than once in config")
        seen.add(k)


def as_dict(obj: Any, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A dataclass as a plain dict for diffs and results, without volatile fields."""
    data = dataclasses.asdict(obj)
    for key in drop:
        data.pop(key, None)
    return data
