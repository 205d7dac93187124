# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The NAT policy: networks and published ports in, one backend-neutral rule list out. Pure.

Both renderers (nftables.py, iptables.py) translate the same ``Rule`` list,
so the two backends cannot drift apart in meaning. The logical chains mirror
Docker's bridge driver (docs/nat.md maps them rule by rule):

  prerouting/output  entry into ``dnat`` for local destinations (nat)
  dnat               DNAT of published ports                 (Docker: nat DOCKER)
  postrouting        MASQUERADE/SNAT and hairpin masquerade  (Docker: nat POSTROUTING)
  forward            the FORWARD rules                       (Docker: filter FORWARD)
  isolation1/2       isolation between networks              (Docker: DOCKER-ISOLATION-STAGE-1/2)
  published          accept to published container ports    (Docker: filter DOCKER)
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._validate import check_ifname, check_unique

PROTOS = ("tcp", "udp", "sctp")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
LOOPBACK4 = ipaddress.ip_network("127.0.0.0/8")

PRE, OUT, POST, FWD, ISO1, ISO2, PUB, DNAT = (
    "prerouting",
    "output",
    "postrouting",
    "forward",
    "isolation1",
    "isolation2",
    "published",
    "dnat",
)
CHAINS = (PRE, OUT, POST, FWD, ISO1, ISO2, PUB, DNAT)


@dataclasses.dataclass(frozen=True)
class Publish:
    host_ip: str
    host_port: int
    container_address: str
    container_port: int
    proto: str = "tcp"

    @property
    def family(self) -> int:
        return ipaddress.ip_address(self.container_address).version

    @property
    def wildcard(self) -> bool:
        return ipaddress.ip_address(self.host_ip).is_unspecified

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.host_ip) in LOOPBACK4

    def label(self) -> str:
        host = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        return f"{host}:{self.host_port}/{self.proto}"


@dataclasses.dataclass(frozen=True)
class Network:
    name: str
    bridge: str
    subnets: tuple[str, ...]
    masquerade: bool = True
    outbound_address: str | None = None
    icc: bool = True
    internal: bool = False
    isolate: bool = True
    hairpin: bool = True
    publish: tuple[Publish, ...] = ()
    # The options the user gave (state=merged keeps the others from the recorded network).
    given: frozenset[str] = dataclasses.field(default=frozenset(), compare=False, repr=False)

    def families(self) -> set[int]:
        return {ipaddress.ip_network(s).version for s in self.subnets}

    def loopback_publish(self) -> bool:
        return self.hairpin and any(p.loopback for p in self.publish)


@dataclasses.dataclass(frozen=True)
class Rule:
    """One firewall rule, backend-neutral. Addresses are networks ("10.0.0.2/32")."""

    chain: str
    verdict: str  # accept | drop | return | jump | masquerade | snat | dnat
    target: str | None = None  # jump: logical chain; snat/dnat: address
    to_port: int | None = None
    family: int | None = None  # 4 | 6 | None (both)
    iif: str | None = None
    iif_neg: bool = False
    oif: str | None = None
    oif_neg: bool = False
    saddr: str | None = None
    saddr_neg: bool = False
    daddr: str | None = None
    daddr_neg: bool = False
    proto: str | None = None
    dport: int | None = None
    ct: str | None = None  # "established,related" | "dnat"
    local_dst: bool = False
    comment: str | None = None


def parse_network(entry: dict[str, Any]) -> Network:
    """One ``config`` entry -> Network; everything that can be checked alone is checked here."""
    name = entry.get("network")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValidationError(f"nat network {name!r}: the name must be 1-64 letters, digits or _.- characters")
    where = f"nat network {name}"
    bridge = check_ifname(entry.get("bridge"), f"{where}: bridge")
    subnets = []
    for raw in entry.get("subnets") or []:
        try:
            subnets.append(ipaddress.ip_network(str(raw), strict=False))
        except ValueError:
            raise ValidationError(f"{where}: subnet {raw!r} is not a valid CIDR") from None
    if not subnets:
        raise ValidationError(f"{where}: at least one subnet is required")
    for i, a in enumerate(subnets):
        for b in subnets[i + 1 :]:
            if a.version == b.version and a.overlaps(b):
                raise ValidationError(f"{where}: subnets {a} and {b} overlap")
    outbound = entry.get("outbound_address")
    if outbound is not None:
        outbound = _address(outbound, f"{where}: outbound_address")
        if ipaddress.ip_address(outbound).version not in {s.version for s in subnets}:
            raise ValidationError(f"{where}: outbound_address {outbound} has no subnet of its IP version")
    internal = _flag(entry, "internal", False)
    publish = tuple(_publish(p, where, subnets) for p in entry.get("publish") or [])
    if internal and publish:
        raise ValidationError(f"{where}: an internal network cannot publish ports (nothing may reach it from outside)")
    check_unique(list(publish), lambda p: p.label(), f"{where}: published port")
    return Network(
        name=name,
        bridge=bridge,
        subnets=tuple(str(s) for s in sorted(subnets, key=lambda s: (s.version, s))),
        masquerade=_flag(entry, "masquerade", True),
        outbound_address=outbound,
        icc=_flag(entry, "icc", True),
        internal=internal,
        isolate=_flag(entry, "isolate", True),
        hairpin=_flag(entry, "hairpin", True),
        publish=tuple(sorted(publish, key=lambda p: (p.proto, p.host_port, p.host_ip))),
        given=frozenset(k for k, v in entry.items() if v is not None),
    )


def check_network_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValidationError(f"nat network {name!r}: the name must be 1-64 letters, digits or _.- characters")
    return name


def _flag(entry: dict[str, Any], key: str, default: bool) -> bool:
    value = entry.get(key)
    return default if value is None else bool(value)


def _address(raw: Any, what: str) -> str:
    try:
        return str(ipaddress.ip_address(str(raw)))
    except ValueError:
        raise ValidationError(f"{what}: {raw!r} is not an IP address") from None


def _port(raw: Any, what: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not str(raw).isdigit():
        raise ValidationError(f"{what}: {raw!r} is not a port number")
    port = int(raw)
    if not 1 <= port <= 65535:
        raise ValidationError(f"{what}: {port} is out of range (1-65535)")
    return port


def _publish(raw: dict[str, Any], where: str, subnets: list) -> Publish:
    caddr = _address(raw.get("container_address"), f"{where}: publish container_address")
    family = ipaddress.ip_address(caddr).version
    host_port = _port(raw.get("host_port"), f"{where}: publish host_port")
    cport = raw.get("container_port")
    cport = host_port if cport is None else _port(cport, f"{where}: publish container_port")
    proto = raw.get("proto") or "tcp"
    if proto not in PROTOS:
        raise ValidationError(f"{where}: publish {host_port}: unknown proto {proto!r} (use one of {', '.join(PROTOS)})")
    host_ip = raw.get("host_ip")
    host_ip = ("0.0.0.0" if family == 4 else "::") if host_ip in (None, "") else _address(host_ip, f"{where}: host_ip")
    if ipaddress.ip_address(host_ip).version != family:
        raise ValidationError(
            f"{where}: publish {host_ip}:{host_port}: host_ip and container_address {caddr} differ in IP version"
        )
    if not any(ipaddress.ip_address(caddr) in s for s in subnets):
        raise ValidationError(
            f"{where}: published container_address {caddr} is outside the network's subnets "
            f"({', '.join(map(str, subnets))})"
        )
    if family == 6 and host_ip == "::1":
        raise ValidationError(
            f"{where}: publishing on ::1 cannot work (IPv6 has no route_localnet); use a host address"
        )
    return Publish(host_ip=host_ip, host_port=host_port, container_address=caddr, container_port=cport, proto=proto)


def host_ports_clash(a: tuple[str, int, str], b: tuple[str, int, str]) -> bool:
    """Two published (host_ip, host_port, proto) collide: the same port and protocol in one IP family,
    on the same address, or where either is published on every address (0.0.0.0 or ::)."""
    (ip_a, port_a, proto_a), (ip_b, port_b, proto_b) = a, b
    if (port_a, proto_a) != (port_b, proto_b):
        return False
    addr_a, addr_b = ipaddress.ip_address(ip_a), ipaddress.ip_address(ip_b)
    return addr_a.version == addr_b.version and (addr_a == addr_b or addr_a.is_unspecified or addr_b.is_unspecified)


def check_policy(networks: list[Network]) -> None:
    """Checks across networks (the whole policy after merging with what is recorded)."""
    check_unique(networks, lambda n: n.bridge, "nat bridge")
    nets = sorted(networks, key=lambda n: n.name)
    for i, a in enumerate(nets):
        for b in nets[i + 1 :]:
            for sa in map(ipaddress.ip_network, a.subnets):
                for sb in map(ipaddress.ip_network, b.subnets):
                    if sa.version == sb.version and sa.overlaps(sb):
                        raise ValidationError(f"nat networks {a.name} and {b.name}: subnets {sa} and {sb} overlap")
    seen: list[tuple[str, Publish]] = []
    for net in nets:
        for pub in net.publish:
            for other, opub in seen:
                if host_ports_clash(_host_port(pub), _host_port(opub)):
                    raise ValidationError(
                        f"nat networks {other} and {net.name} both publish {pub.label()}"
                        + (f" (clashes with {opub.label()})" if opub.label() != pub.label() else "")
                    )
            seen.append((net.name, pub))


def _host_port(pub: Publish) -> tuple[str, int, str]:
    return (pub.host_ip, pub.host_port, pub.proto)


def families(networks: list[Network]) -> list[int]:
    return sorted({f for n in networks for f in n.families()})


def _host(addr: str) -> str:
    return str(ipaddress.ip_network(addr))


def derive_rules(networks: list[Network]) -> list[Rule]:
    """The whole ruleset of a policy, in evaluation order within each logical chain."""
    nets = sorted(networks, key=lambda n: n.name)
    fams = families(nets)
    rules: list[Rule] = [Rule(PRE, "jump", DNAT, local_dst=True)]
    if any(n.loopback_publish() for n in nets):
        rules.append(Rule(OUT, "jump", DNAT, local_dst=True))
    else:
        rules.append(Rule(OUT, "jump", DNAT, family=4, daddr="127.0.0.0/8", daddr_neg=True, local_dst=True))
        rules.append(Rule(OUT, "jump", DNAT, family=6, daddr="::1/128", daddr_neg=True, local_dst=True))
    rules.append(Rule(FWD, "jump", ISO1))
    for net in nets:
        rules.extend(_network_rules(net))
    isolated = [n for n in nets if n.isolate]
    for net in nets:
        if net.internal:
            pass  # its own stage-1 drops confine it already (Docker has no stage-2 jump for it either)
        elif net.isolate:
            rules.append(Rule(ISO1, "jump", ISO2, iif=net.bridge, oif=net.bridge, oif_neg=True, comment=net.name))
        else:
            for other in isolated:
                if other.name != net.name:
                    rules.append(Rule(ISO1, "drop", iif=net.bridge, oif=other.bridge, comment=net.name))
        rules.append(Rule(ISO2, "drop", oif=net.bridge, comment=net.name))
    # Internal networks: their drops come first in stage 1, as in Docker.
    internal = []
    for net in nets:
        if net.internal:
            for subnet in net.subnets:
                fam = ipaddress.ip_network(subnet).version
                internal.append(
                    Rule(ISO1, "drop", family=fam, saddr=subnet, saddr_neg=True, oif=net.bridge, comment=net.name)
                )
                internal.append(
                    Rule(ISO1, "drop", family=fam, daddr=subnet, daddr_neg=True, iif=net.bridge, comment=net.name)
                )
    rules = internal + rules
    return [r for r in rules if r.family is None or r.family in fams]


def _network_rules(net: Network) -> list[Rule]:
    br, name = net.bridge, net.name
    out: list[Rule] = []
    if not net.internal:
        out.append(Rule(FWD, "accept", oif=br, ct="established,related", comment=name))
        out.append(Rule(FWD, "jump", PUB, oif=br, comment=name))
        out.append(Rule(FWD, "accept", iif=br, oif=br, oif_neg=True, comment=name))
    out.append(Rule(FWD, "accept" if net.icc else "drop", iif=br, oif=br, comment=name))
    if net.internal:
        return out
    for subnet in net.subnets:
        fam = ipaddress.ip_network(subnet).version
        if not net.masquerade:
            continue
        if net.outbound_address and ipaddress.ip_address(net.outbound_address).version == fam:
            out.append(
                Rule(POST, "snat", net.outbound_address, family=fam, saddr=subnet, oif=br, oif_neg=True, comment=name)
            )
        else:
            out.append(Rule(POST, "masquerade", family=fam, saddr=subnet, oif=br, oif_neg=True, comment=name))
    if not net.hairpin:
        out.append(Rule(DNAT, "return", iif=br, comment=name))
    for pub in net.publish:
        fam = pub.family
        caddr = _host(pub.container_address)
        out.append(
            Rule(
                DNAT,
                "dnat",
                pub.container_address,
                to_port=pub.container_port,
                family=fam,
                daddr=None if pub.wildcard else _host(pub.host_ip),
                iif=None if net.hairpin else br,
                iif_neg=not net.hairpin,
                proto=pub.proto,
                dport=pub.host_port,
                comment=name,
            )
        )
        out.append(
            Rule(
                PUB,
                "accept",
                family=fam,
                daddr=caddr,
                iif=br,
                iif_neg=True,
                oif=br,
                proto=pub.proto,
                dport=pub.container_port,
                comment=name,
            )
        )
        if net.hairpin:
            subnet = next(
                s for s in net.subnets if ipaddress.ip_address(pub.container_address) in ipaddress.ip_network(s)
            )
            out.append(
                Rule(
                    POST,
                    "masquerade",
                    family=fam,
                    saddr=subnet,
                    daddr=caddr,
                    proto=pub.proto,
                    dport=pub.container_port,
                    ct="dnat",
                    comment=name,
                )
            )
    if net.loopback_publish():
        out.append(Rule(POST, "masquerade", family=4, saddr=str(LOOPBACK4), oif=br, comment=name))
    return out


def sysctls_needed(networks: list[Network]) -> dict[str, str]:
    """Per-namespace sysctls the policy relies on (only ever set to these values, never reset)."""
    fams = families(networks)
    want: dict[str, str] = {}
    if not networks:
        return want
    if 4 in fams:
        want["net.ipv4.ip_forward"] = "1"
    if 6 in fams:
        want["net.ipv6.conf.all.forwarding"] = "1"
    for net in networks:
        if net.loopback_publish():
            want[f"net.ipv4.conf.{net.bridge}.route_localnet"] = "1"
    if any(not n.icc for n in networks):
        # icc=false drops bridged frames, so they must pass the IP hooks (br_netfilter).
        if 4 in fams:
            want["net.bridge.bridge-nf-call-iptables"] = "1"
        if 6 in fams:
            want["net.bridge.bridge-nf-call-ip6tables"] = "1"
    return want


def merge_network(have: Network, want: Network) -> Network:
    """state=merged: the recorded network with the options the user gave replaced (lists as a whole)."""
    data = network_to_dict(have)
    data.update({k: v for k, v in network_to_dict(want).items() if k in want.given})
    return network_from_dict(data)


def network_to_dict(net: Network) -> dict[str, Any]:
    data = dataclasses.asdict(net)
    data.pop("given", None)
    data["subnets"] = list(net.subnets)
    data["publish"] = [dataclasses.asdict(p) for p in net.publish]
    return data


def network_from_dict(data: dict[str, Any]) -> Network:
    """Inverse of network_to_dict (for the record on disk); re-validated like input."""
    entry = dict(data)
    entry["network"] = entry.pop("name")
    return parse_network(entry)
