# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Link helpers shared by the bridge and veth engines.

A namespace is read with one link dump and one address dump (see _rtnl: for
other namespaces, through one socket by netnsid), indexed by name and
ifindex; engines then look things up in those indexes instead of asking the
kernel once per object. Only stable fields are kept: ifindex is used for
joining but never enters a model; operstate and counters are never read.
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils import _netlink
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._model import OWNER_MARK
from ansible_collections.netplumb.container.plugins.module_utils._validate import parse_ip, parse_mac

IFA_F_NODAD = 0x02


@dataclasses.dataclass
class LinkState:
    """What one RTM_NEWLINK message says about a link (stable fields only)."""

    index: int
    name: str
    kind: str | None
    alias: str | None
    mtu: int
    mac: str | None
    master: int | None
    up: bool
    peer_index: int | None = None  # IFLA_LINK: the peer's ifindex in its namespace
    peer_nsid: int | None = None  # IFLA_LINK_NETNSID: None when the peer is in the same namespace
    info: dict[str, Any] = dataclasses.field(default_factory=dict)  # IFLA_INFO_DATA
    slave: dict[str, Any] = dataclasses.field(default_factory=dict)  # IFLA_INFO_SLAVE_DATA
    addresses: list[str] = dataclasses.field(default_factory=list)


class NamespaceView:
    """One namespace, read once: links by name and by index, addresses per link."""

    def __init__(self, links: list[LinkState]) -> None:
        self.by_name = {link.name: link for link in links}
        self.by_index = {link.index: link for link in links}

    def ports_of(self, master: LinkState) -> list[LinkState]:
        return sorted((x for x in self.by_index.values() if x.master == master.index), key=lambda x: x.name)


def read_view(reader, netns: str | None = None, addresses: bool = True) -> NamespaceView:
    """One link dump (and one address dump) of a namespace, from the reader's one socket where the kernel allows."""
    view = NamespaceView([LinkState(**fields) for fields in reader.links(netns)])
    if addresses:
        for index, cidr in reader.addresses(netns):
            link = view.by_index.get(index)
            if link is not None:
                link.addresses.append(cidr)
        for link in view.by_index.values():
            link.addresses.sort(key=cidr_sort_key)
    return view


def netns_owned(view: NamespaceView) -> bool:
    """Whether the collection created this namespace: its lo carries OWNER_MARK as alias."""
    lo = view.by_name.get("lo")
    return lo is not None and lo.alias == OWNER_MARK


def canonical_cidr(value: Any, what: str = "address") -> str:
    """'172.17.0.1/16' or '2001:db8::1/64' in canonical text; a bare address is refused."""
    if not isinstance(value, str) or "/" not in value:
        raise ValidationError(f"{what} {value!r} must be an address with a prefix length, e.g. 172.17.0.1/16")
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError as exc:
        raise ValidationError(f"{what} {value!r} is not a valid IPv4 or IPv6 address/prefix: {exc}") from None
    return iface.with_prefixlen


def canonical_ip(value: Any, what: str = "address") -> str:
    return str(parse_ip(value, what))


def canonical_net(value: Any, what: str = "destination") -> str:
    if value == "default":
        raise ValidationError(f"{what} 'default' is set with gateway, not as a route")
    try:
        return ipaddress.ip_network(value, strict=True).with_prefixlen
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"{what} {value!r} is not a valid network (e.g. 10.1.0.0/16): {exc}") from None


def cidr_sort_key(cidr: str) -> tuple:
    iface = ipaddress.ip_interface(cidr)
    return (iface.version, iface.ip, iface.network.prefixlen)


def check_addresses(values: Any, what: str) -> tuple[str, ...] | None:
    """A list of CIDRs, canonical, sorted, unique; None stays None (not managed)."""
    if values is None:
        return None
    if not isinstance(values, (list, tuple)):
        raise ValidationError(f"{what} must be a list of addresses with prefix length")
    out = {canonical_cidr(v, f"{what} entry") for v in values}
    if len({c.split("/")[0] for c in out}) != len(out):
        raise ValidationError(f"{what} lists the same address twice with different prefix lengths")
    return tuple(sorted(out, key=cidr_sort_key))


def check_mac(value: Any, what: str) -> str | None:
    return None if value is None else parse_mac(value, what)


def check_mtu(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 68 <= value <= 65535:
        raise ValidationError(f"{what} {value!r} must be an integer between 68 and 65535")
    return value


def add_address(ipr, index: int, cidr: str, nodad: bool = False) -> None:
    """Add an address; an address that is already there is success (EEXIST means done)."""
    iface = ipaddress.ip_interface(cidr)
    kwargs: dict[str, Any] = {}
    if iface.version == 6 and nodad:
        kwargs["flags"] = IFA_F_NODAD
    try:
        ipr.addr("add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen, **kwargs)
    except _netlink.NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise


def del_address(ipr, index: int, cidr: str) -> None:
    """Delete an address; one that is already gone is success."""
    iface = ipaddress.ip_interface(cidr)
    try:
        ipr.addr("del", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen)
    except _netlink.NetlinkError as exc:
        if exc.code not in (errno.EADDRNOTAVAIL, errno.ENODEV, errno.ENOENT):
            raise


def delete_link(ipr, name: str) -> bool:
    """Delete a link by name; False when it was already gone (ENODEV)."""
    try:
        ipr.link("del", ifname=name)
    except _netlink.NetlinkError as exc:
        if exc.code in (errno.ENODEV, errno.ENOENT):
            return False
        raise
    return True
