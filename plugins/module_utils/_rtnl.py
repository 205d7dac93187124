# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading links, addresses and routes straight from rtnetlink, for every namespace from one socket.

The kernel dumps another namespace's links and addresses when the request
names it by its netnsid (IFLA_TARGET_NETNSID, IFA_TARGET_NETNSID; Linux 4.20+,
with strict checking), so reading 250 container namespaces needs neither a
setns nor a socket per namespace. Routes have no such attribute: they are
dumped through a plain socket opened inside the namespace (setns there and
back, no fork). Messages are decoded here, only the attributes the engines
compare: decoding every attribute with pyroute2 cost most of a no-change run.
No pyroute2 import, so ipam can use ``live_owned_addresses`` cheaply.

The few writes of the hot path (a new veth pair and its peer's first address and routes) are
encoded here too: pyroute2 0.9 runs an asyncio round trip and a generic encoder per request,
which was most of a converge's module time.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import ipaddress
import os
import socket
import struct
from typing import Any, Iterator

from ansible_collections.netplumb.container.plugins.module_utils._model import OWNER_MARK

NETNS_RUN_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_GET_STRICT_CHK = 12
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
RTM_GETNSID = 90
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_LINKINFO, IFLA_IFALIAS, IFLA_EXT_MASK, IFLA_LINK_NETNSID, IFLA_TARGET_NETNSID = 18, 20, 29, 37, 46
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
IFLA_NET_NS_FD, VETH_INFO_PEER, IFLA_BRPORT_MODE = 28, 1, 4
IFA_ADDRESS, IFA_LOCAL, IFA_TARGET_NETNSID = 1, 2, 10
IFA_F_NODAD = 0x02
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC, RTA_TABLE = 1, 4, 5, 6, 7, 15
RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST = 4, 0, 1
NETNSA_NSID, NETNSA_FD = 1, 3
RTEXT_FILTER_SKIP_STATS = 1 << 3
IFF_UP = 0x1
RT_TABLE_MAIN = 254
# Attributes kept from IFLA_INFO_DATA (bridge) and IFLA_INFO_SLAVE_DATA (bridge port), by pyroute2's names.
_BR_INFO = {1: ("IFLA_BR_FORWARD_DELAY", "I"), 4: ("IFLA_BR_AGEING_TIME", "I"), 5: ("IFLA_BR_STP_STATE", "I")}
_BR_INFO[7] = ("IFLA_BR_VLAN_FILTERING", "B")
_BRPORT_INFO = {4: ("IFLA_BRPORT_MODE", "B")}
_VXLAN_INFO = {1: ("IFLA_VXLAN_ID", "I"), 3: ("IFLA_VXLAN_LINK", "I"), 7: ("IFLA_VXLAN_LEARNING", "B")}
# Addresses of a vxlan device (group, local; IPv4 and IPv6) and its port, which is in network byte order.
_VXLAN_ADDRESSES = {2: "IFLA_VXLAN_GROUP", 4: "IFLA_VXLAN_LOCAL", 16: "IFLA_VXLAN_GROUP6", 17: "IFLA_VXLAN_LOCAL6"}
IFLA_VXLAN_PORT = 15

_libc = ctypes.CDLL(None, use_errno=True)


class RtnlError(OSError):
    """A netlink request the kernel refused; ``code`` is the errno (as pyroute2's NetlinkError has it)."""

    def __init__(self, code: int, what: str) -> None:
        super().__init__(code, f"{what}: {os.strerror(code)}")
        self.code = code


class RtnlSocket:
    """One NETLINK_ROUTE socket, bound to the namespace it was opened in; requests run one at a time."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((0, 0))
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
            self.strict = True
        except OSError:
            self.strict = False  # before Linux 4.20: no strict checking, and no IFA_TARGET_NETNSID either
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def request(self, msg_type: int, flags: int, body: bytes, what: str) -> list[tuple[int, memoryview]]:
        """Send one request; the (type, payload) of every answer until the dump (or the ACK) ends."""
        self.seq += 1
        seq = self.seq
        self.sock.send(struct.pack("=IHHII", 16 + len(body), msg_type, NLM_F_REQUEST | flags, seq, 0) + body)
        out: list[tuple[int, memoryview]] = []
        while True:
            data = memoryview(self.sock.recv(1 << 20))
            offset = 0
            while offset + 16 <= len(data):
                length, kind, _flags, got_seq, _pid = struct.unpack_from("=IHHII", data, offset)
                if length < 16:
                    raise RtnlError(errno.EBADMSG, what)
                payload = data[offset + 16 : offset + length]
                offset += (length + 3) & ~3
                if got_seq != seq:
                    continue
                if kind == NLMSG_DONE:
                    return out
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code:
                        raise RtnlError(code, what)
                    return out  # the ACK
                out.append((kind, payload))
                if not flags & NLM_F_DUMP and not flags & NLM_F_ACK:
                    return out


def attributes(data: memoryview, offset: int) -> dict[int, memoryview]:
    """The netlink attributes from ``offset`` on, by type (the nested flag stripped)."""
    out = {}
    end = len(data)
    while offset + 4 <= end:
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return out


def _text(value: memoryview | None) -> str | None:
    return None if value is None else bytes(value).split(b"\0", 1)[0].decode("utf-8", "replace")


def _u32(value: memoryview | None) -> int | None:
    return None if value is None or len(value) < 4 else struct.unpack_from("=I", value)[0]


def _picked(value: memoryview | None, table: dict[int, tuple[str, str]]) -> dict[str, Any]:
    if value is None:
        return {}
    out = {}
    for kind, raw in attributes(value, 0).items():
        if kind in table and len(raw) >= struct.calcsize(table[kind][1]):
            name, fmt = table[kind]
            out[name] = struct.unpack_from("=" + fmt, raw)[0]
    return out


def decode_link(payload: memoryview) -> dict[str, Any]:
    """An RTM_NEWLINK message as the fields LinkState keeps."""
    _family, _type, index, flags, _change = struct.unpack_from("=BxHiII", payload)
    attrs = attributes(payload, 16)
    info = attributes(attrs[IFLA_LINKINFO], 0) if IFLA_LINKINFO in attrs else {}
    mac = attrs.get(IFLA_ADDRESS)
    nsid = attrs.get(IFLA_LINK_NETNSID)
    kind = _text(info.get(IFLA_INFO_KIND))
    bridge_port = _text(info.get(IFLA_INFO_SLAVE_KIND)) == "bridge"
    return {
        "index": index,
        "name": _text(attrs.get(IFLA_IFNAME)),
        "kind": kind,
        "alias": _text(attrs.get(IFLA_IFALIAS)) or None,
        "mtu": _u32(attrs.get(IFLA_MTU)),
        "mac": ":".join(f"{b:02x}" for b in bytes(mac)) if mac is not None and len(mac) == 6 else None,
        "master": _u32(attrs.get(IFLA_MASTER)) or None,
        "up": bool(flags & IFF_UP),  # admin state, not operstate
        "peer_index": _u32(attrs.get(IFLA_LINK)),
        "peer_nsid": None if nsid is None else struct.unpack_from("=i", nsid)[0],
        "info": _link_info(kind, info.get(IFLA_INFO_DATA)),
        "slave": _picked(info.get(IFLA_INFO_SLAVE_DATA), _BRPORT_INFO) if bridge_port else {},
    }


def _link_info(kind: str | None, data: memoryview | None) -> dict[str, Any]:
    """IFLA_INFO_DATA of the kinds the engines read back (bridge, vxlan), under pyroute2's attribute names."""
    if kind == "bridge":
        return _picked(data, _BR_INFO)
    if kind != "vxlan" or data is None:
        return {}
    out = _picked(data, _VXLAN_INFO)
    attrs = attributes(data, 0)
    for number, name in _VXLAN_ADDRESSES.items():
        raw = attrs.get(number)
        if raw is not None and len(raw) in (4, 16):
            out[name] = str(ipaddress.ip_address(bytes(raw)))
    port = attrs.get(IFLA_VXLAN_PORT)
    if port is not None and len(port) >= 2:
        out["IFLA_VXLAN_PORT"] = struct.unpack_from(">H", port)[0]
    return out


def decode_addr(payload: memoryview) -> tuple[int, str] | None:
    """(ifindex, 'address/prefix') of an RTM_NEWADDR message; None for the kernel's own IPv6 link-local."""
    family, prefixlen, _flags, _scope, index = struct.unpack_from("=BBBBI", payload)
    attrs = attributes(payload, 8)
    # IPv4: IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point links).
    raw = attrs.get(IFA_LOCAL) if family == socket.AF_INET else None
    raw = raw if raw is not None else attrs.get(IFA_ADDRESS)
    if raw is None:
        return None
    ip = ipaddress.ip_address(bytes(raw))
    if ip.version == 6 and ip.is_link_local:
        return None
    return index, ipaddress.ip_interface(f"{ip}/{prefixlen}").with_prefixlen


def decode_route(payload: memoryview) -> dict[str, Any]:
    """An RTM_NEWROUTE message: the rtmsg header and the attributes the route and veth engines compare."""
    family, dst_len, src_len, tos, table, proto, scope, kind, flags = struct.unpack_from("=BBBBBBBBI", payload)
    attrs = attributes(payload, 12)
    return {
        "family": family,
        "dst_len": dst_len,
        "src_len": src_len,
        "tos": tos,
        # The rtmsg table field is 8 bits (252 for every table above 255); RTA_TABLE has it all.
        "table": _u32(attrs.get(RTA_TABLE)) or table,
        "proto": proto,
        "scope": scope,
        "type": kind,
        "flags": flags,
        "dst": _ip(attrs.get(RTA_DST)),
        "gateway": _ip(attrs.get(RTA_GATEWAY)),
        "prefsrc": _ip(attrs.get(RTA_PREFSRC)),
        "oif": _u32(attrs.get(RTA_OIF)),
        "priority": _u32(attrs.get(RTA_PRIORITY)),
    }


def route_network(found: dict[str, Any]) -> str:
    """A decoded route's destination as a network: 0.0.0.0/0 or ::/0 for a default route (no RTA_DST)."""
    zero = "0.0.0.0" if found["family"] == socket.AF_INET else "::"
    return str(ipaddress.ip_network(f"{found['dst'] or zero}/{found['dst_len']}", strict=False))


def _ip(data: memoryview | None) -> str | None:
    return str(ipaddress.ip_address(bytes(data))) if data is not None else None


def _attr(kind: int, fmt: str, value: int) -> bytes:
    data = struct.pack("=" + fmt, value)
    return struct.pack("=HH", 4 + len(data), kind) + data


def _attr_text(kind: int, text: str) -> bytes:
    data = text.encode() + b"\0"
    return struct.pack("=HH", 4 + len(data), kind) + data + b"\0" * (-len(data) % 4)


class RtnlReader:
    """Dumps of the home namespace and of named namespaces, through one socket where the kernel allows it.

    ``home_fd`` is the namespace the reader returns to after opening a socket elsewhere
    (a fallback for kernels without target netnsids, and for routes).
    """

    use_netnsid = True  # False: always read through a socket inside each namespace (the fallback)

    def __init__(self, home_fd: int | None = None) -> None:
        self._own_home = home_fd is None
        self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC) if home_fd is None else home_fd
        self.home = RtnlSocket()
        self.by_netnsid = self.home.strict and self.use_netnsid
        self._inside: dict[str, RtnlSocket] = {}
        self._nsids: dict[str, int] = {}

    def __enter__(self) -> RtnlReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def home_fd(self) -> int:
        return self._home

    def close(self) -> None:
        for sock in [self.home, *self._inside.values()]:
            with contextlib.suppress(OSError):
                sock.close()
        self._inside.clear()
        if self._own_home:
            with contextlib.suppress(OSError):
                os.close(self._home)

    def forget(self, netns: str) -> None:
        sock = self._inside.pop(netns, None)
        if sock is not None:
            sock.close()
        self._nsids.pop(netns, None)

    def nsid(self, netns: str) -> int | None:
        """The id the home namespace knows ``netns`` by (None: it has none; reading never assigns one)."""
        if netns not in self._nsids:
            fd = _open_netns(netns)
            try:
                body = struct.pack("=Bxxx", socket.AF_UNSPEC) + _attr(NETNSA_FD, "I", fd)
                for _kind, payload in self.home.request(RTM_GETNSID, 0, body, f"netns {netns}: get its nsid"):
                    value = attributes(payload, 4).get(NETNSA_NSID)
                    if value is not None and struct.unpack_from("=i", value)[0] >= 0:
                        self._nsids[netns] = struct.unpack_from("=i", value)[0]
            finally:
                os.close(fd)
        return self._nsids.get(netns)

    def nsid_names(self, names: list[str]) -> dict[int, str]:
        """nsid -> name for these namespaces (those that have an id)."""
        out = {}
        for name in names:
            with contextlib.suppress(OSError):
                nsid = self.nsid(name)
                if nsid is not None:
                    out[nsid] = name
        return out

    def links(self, netns: str | None = None) -> list[dict[str, Any]]:
        body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0) + _attr(IFLA_EXT_MASK, "I", RTEXT_FILTER_SKIP_STATS)
        return [decode_link(p) for _k, p in self._dump(netns, RTM_GETLINK, body, IFLA_TARGET_NETNSID, "links")]

    def index(self, netns: str | None, name: str) -> int | None:
        """The ifindex of one link by name (one RTM_GETLINK, no dump); None when there is none."""
        body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0) + _attr_text(IFLA_IFNAME, name)
        body += _attr(IFLA_EXT_MASK, "I", RTEXT_FILTER_SKIP_STATS)
        try:
            found = self._request(netns, RTM_GETLINK, 0, body, IFLA_TARGET_NETNSID, f"link {name}")
        except RtnlError as exc:
            if exc.code == errno.ENODEV:
                return None
            raise
        return struct.unpack_from("=i", found[0][1], 4)[0] if found else None

    def addresses(self, netns: str | None = None) -> list[tuple[int, str]]:
        body = struct.pack("=BBBBI", socket.AF_UNSPEC, 0, 0, 0, 0)
        found = (decode_addr(p) for _k, p in self._dump(netns, RTM_GETADDR, body, IFA_TARGET_NETNSID, "addresses"))
        return [item for item in found if item is not None]

    def routes(self, netns: str | None = None, table: int | None = RT_TABLE_MAIN) -> list[dict[str, Any]]:
        """The routes of one table (None: of every table)."""
        body = struct.pack("=BBBBBBBBI", socket.AF_UNSPEC, 0, 0, 0, 0, 0, 0, 0, 0)
        sock = self.home if netns is None else self._socket_in(netns)
        found = (decode_route(p) for _k, p in sock.request(RTM_GETROUTE, NLM_F_DUMP, body, _what(netns, "routes")))
        return [route for route in found if table is None or route["table"] == table]

    def set_link(self, netns: str | None, index: int, up: bool | None = None, alias: str | None = None) -> None:
        """Set a link's admin state and/or alias (one RTM_NEWLINK with an ACK), from inside its namespace."""
        flags = IFF_UP if up else 0
        body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, flags, 0 if up is None else IFF_UP)
        if alias is not None:
            body += _attr_text(IFLA_IFALIAS, alias)
        sock = self.home if netns is None else self._socket_in(netns)
        sock.request(RTM_NEWLINK, NLM_F_ACK, body, _what(netns, "set link").replace("read ", ""))

    def socket(self, netns: str | None) -> RtnlSocket:
        """The plain socket of a namespace (the home one for None), for writes that have no target netnsid."""
        return self.home if netns is None else self._socket_in(netns)

    def adopt_socket(self, netns: str) -> None:
        """Open the socket of ``netns`` now: the calling thread is inside it (just created)."""
        self._inside.setdefault(netns, RtnlSocket())

    def _dump(self, netns: str | None, msg_type: int, body: bytes, target: int, what: str):
        return self._request(netns, msg_type, NLM_F_DUMP, body, target, what)

    def _request(self, netns: str | None, msg_type: int, flags: int, body: bytes, target: int, what: str):
        if netns is None:
            return self.home.request(msg_type, flags, body, _what(None, what))
        if self.by_netnsid:
            # Reading assigns nothing: a namespace without an id yet (nothing linked to it) is read from inside.
            nsid = self.nsid(netns)
            if nsid is not None:
                return self.home.request(msg_type, flags, body + _attr(target, "i", nsid), _what(netns, what))
        return self._socket_in(netns).request(msg_type, flags, body, _what(netns, what))

    def _socket_in(self, netns: str) -> RtnlSocket:
        if netns not in self._inside:
            with _entered(netns, self._home):
                self._inside[netns] = RtnlSocket()
        return self._inside[netns]


def _nest(kind: int, *parts: bytes) -> bytes:
    data = b"".join(parts)
    return struct.pack("=HH", 4 + len(data), kind) + data


def _attr_bytes(kind: int, data: bytes) -> bytes:
    return struct.pack("=HH", 4 + len(data), kind) + data + b"\0" * (-len(data) % 4)


def _mac(text: str) -> bytes:
    return bytes(int(part, 16) for part in text.split(":"))


def _write(sock: RtnlSocket, msg_type: int, flags: int, body: bytes) -> None:
    """One request with an ACK; a refusal is a plain OSError (errno and its text), as pyroute2's was."""
    try:
        sock.request(msg_type, NLM_F_ACK | flags, body, "write")
    except RtnlError as exc:
        raise OSError(exc.code, os.strerror(exc.code)) from None


def create_veth(
    sock: RtnlSocket,
    name: str,
    peer: str,
    peer_netns_fd: int,
    peer_mac: str | None = None,
    peer_mtu: int | None = None,
    mtu: int | None = None,
    master: int | None = None,
) -> None:
    """One RTM_NEWLINK: the pair, its host end up (in ``master``), the peer born in its namespace as ``peer``."""
    peer_attrs = _attr_text(IFLA_IFNAME, peer) + _attr(IFLA_NET_NS_FD, "I", peer_netns_fd)
    if peer_mac:
        peer_attrs += _attr_bytes(IFLA_ADDRESS, _mac(peer_mac))
    if peer_mtu:
        peer_attrs += _attr(IFLA_MTU, "I", peer_mtu)
    info = _nest(
        IFLA_LINKINFO,
        _attr_text(IFLA_INFO_KIND, "veth"),
        _nest(IFLA_INFO_DATA, _nest(VETH_INFO_PEER, _ifinfo(0) + peer_attrs)),
    )
    body = _ifinfo(0, up=True) + _attr_text(IFLA_IFNAME, name)
    if mtu:
        body += _attr(IFLA_MTU, "I", mtu)
    if master:
        body += _attr(IFLA_MASTER, "I", master)
    _write(sock, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body + info)


def set_link(sock: RtnlSocket, index: int, name: str | None = None, up: bool | None = None, alias: str | None = None):
    """Admin state and/or alias of a link, by index (or by name with index 0)."""
    body = _ifinfo(index, up=up)
    if name is not None:
        body += _attr_text(IFLA_IFNAME, name)
    if alias is not None:
        body += _attr_text(IFLA_IFALIAS, alias)
    _write(sock, RTM_NEWLINK, 0, body)


def set_bridge_port_mode(sock: RtnlSocket, name: str, mode: int) -> None:
    """The bridge port's mode (1: hairpin), through its slave data."""
    info = _nest(
        IFLA_LINKINFO,
        _attr_text(IFLA_INFO_SLAVE_KIND, "bridge"),
        _nest(IFLA_INFO_SLAVE_DATA, _attr_bytes(IFLA_BRPORT_MODE, bytes([mode]))),
    )
    _write(sock, RTM_NEWLINK, 0, _ifinfo(0) + _attr_text(IFLA_IFNAME, name) + info)


def add_address(sock: RtnlSocket, index: int, cidr: str, nodad: bool = False) -> None:
    """Add an address; one that is already there is success (EEXIST means done)."""
    iface = ipaddress.ip_interface(cidr)
    family = socket.AF_INET if iface.version == 4 else socket.AF_INET6
    flags = IFA_F_NODAD if nodad and iface.version == 6 else 0
    body = struct.pack("=BBBBI", family, iface.network.prefixlen, flags, 0, index)
    if iface.version == 4:
        body += _attr_bytes(IFA_LOCAL, iface.ip.packed)
    body += _attr_bytes(IFA_ADDRESS, iface.ip.packed)
    try:
        _write(sock, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise


def replace_route(sock: RtnlSocket, dst: str, gateway: str, oif: int, table: int = RT_TABLE_MAIN) -> None:
    """Add or replace a unicast route via ``gateway`` out of ``oif`` (proto static, as pyroute2 sets it)."""
    net = ipaddress.ip_network(dst)
    family = socket.AF_INET if net.version == 4 else socket.AF_INET6
    short_table = table if table < 256 else 252  # RT_TABLE_COMPAT: RTA_TABLE has the whole number
    head = (family, net.prefixlen, 0, 0, short_table, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
    body = struct.pack("=BBBBBBBBI", *head) + _attr(RTA_TABLE, "I", table)
    if net.prefixlen:
        body += _attr_bytes(RTA_DST, net.network_address.packed)
    body += _attr_bytes(RTA_GATEWAY, ipaddress.ip_address(gateway).packed) + _attr(RTA_OIF, "I", oif)
    _write(sock, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, body)


def _ifinfo(index: int, up: bool | None = None) -> bytes:
    change = 0 if up is None else IFF_UP
    return struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, change)


def _what(netns: str | None, what: str) -> str:
    return f"netns {netns}: read {what}" if netns else f"read {what}"


def _open_netns(netns: str) -> int:
    try:
        return os.open(os.path.join(NETNS_RUN_DIR, netns), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise RtnlError(errno.ENOENT, f"netns {netns}") from None


@contextlib.contextmanager
def _entered(netns: str, home: int) -> Iterator[None]:
    fd = _open_netns(netns)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise RtnlError(ctypes.get_errno(), f"netns {netns}: setns")
        try:
            yield
        finally:
            if _libc.setns(home, CLONE_NEWNET) != 0:
                raise RtnlError(ctypes.get_errno(), "setns back to the module's namespace")
    finally:
        os.close(fd)


def list_named_netns(skip: tuple[int, int] | None = None) -> list[str]:
    """The names in /run/netns that are mounted namespaces (a live entry is on another device than the dir).

    ``skip``: (st_dev, st_ino) of a namespace to leave out (the module's own, when it has a name too).
    """
    try:
        parent = os.stat(NETNS_RUN_DIR).st_dev
        names = sorted(os.listdir(NETNS_RUN_DIR))
    except OSError:
        return []
    out = []
    for name in names:
        with contextlib.suppress(OSError):
            st = os.stat(os.path.join(NETNS_RUN_DIR, name))
            if st.st_dev != parent and (st.st_dev, st.st_ino) != skip:
                out.append(name)
    return out


def live_owned_addresses(reader: RtnlReader | None = None) -> list[tuple[str | None, str, str]]:
    """(netns, interface, 'address/prefix') of every address live on an interface this collection owns.

    Every namespace of the host: the module's own (netns None) and each one in /run/netns. Owned
    interfaces carry OWNER_MARK as their alias. Two dumps per namespace, through one socket where
    the kernel allows it; namespaces that vanish meanwhile are skipped.
    """
    own = reader is None
    reader = reader or RtnlReader()
    try:
        out: list[tuple[str | None, str, str]] = []
        home = os.fstat(reader.home_fd)
        for netns in [None, *list_named_netns(skip=(home.st_dev, home.st_ino))]:
            try:
                # lo carries the namespace's mark, but its addresses are the kernel's, not the collection's
                links = reader.links(netns)
                owned = {x["index"]: x["name"] for x in links if x["alias"] == OWNER_MARK and x["name"] != "lo"}
                if owned:
                    found = reader.addresses(netns)
                    out.extend((netns, owned[index], cidr) for index, cidr in found if index in owned)
            except RtnlError as exc:
                if exc.code not in (errno.ENOENT, errno.EINVAL, errno.ENODEV):  # it went away meanwhile
                    raise
        return out
    finally:
        if own:
            reader.close()
