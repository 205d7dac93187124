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
  raw                before conntrack/NAT: 127/8 only from lo (Docker: raw PREROUTING)
  input              traffic to the host itself (internal_input: gateway)
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
from collections.abc import Iterable
from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_ifname,
    check_netns_name,
    check_network_name,
    check_no_overlap,
    check_unique,
    first_overlap,
    parse_bool,
    parse_ip,
    parse_port,
    parse_subnet,
)

PROTOS = ("tcp", "udp", "sctp")  # the one protocol table (the endpoints parser uses it too)
# Each published port costs 2-3 rules per backend; beyond this a policy is a mistake (a 45,000-port range).
MAX_PUBLISHED = 10000
LOOPBACK4 = ipaddress.ip_network("127.0.0.0/8")

PRE, OUT, POST, FWD, ISO1, ISO2, PUB, DNAT, RAW, INPUT = (
    "prerouting",
    "output",
    "postrouting",
    "forward",
    "isolation1",
    "isolation2",
    "published",
    "dnat",
    "raw",
    "input",
)
CHAINS = (PRE, OUT, POST, FWD, ISO1, ISO2, PUB, DNAT, RAW, INPUT)
INTERNAL_INPUT = ("all", "gateway")


@dataclasses.dataclass(frozen=True)
class Publish:
    """One published port, the one type for it: the nat module's and the endpoints role's (Docker's -p).

    ``endpoint`` is the container that owns it (None: the network's own list). ``container_address`` is
    None until ipam gives the container its address (the endpoints role checks ports before that).
    host_ip and container_address are of one IP family (parse_publish checks it)."""

    host_ip: str
    host_port: int
    container_address: str | None
    container_port: int
    proto: str = "tcp"
    endpoint: str | None = None

    @property
    def family(self) -> int:
        return 6 if ":" in self.host_ip else 4

    @property
    def wildcard(self) -> bool:
        return self.host_ip in ("0.0.0.0", "::")

    @property
    def loopback(self) -> bool:
        return self.host_ip.startswith("127.")

    def label(self) -> str:
        host = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        return f"{host}:{self.host_port}/{self.proto}"

    def owner(self, network: str) -> str:
        return f"network {network}" + (f" (endpoint {self.endpoint})" if self.endpoint else "")


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
    # Subnets of the same cluster on other hosts: forwarded in, never masqueraded to.
    cluster_subnets: tuple[str, ...] = ()
    # Addresses on the bridge that another tool publishes (CNI's portmap): its DNATed connections pass.
    dnat_subnets: tuple[str, ...] = ()
    internal_input: str = "all"  # gateway: an internal network reaches only its own addresses on the host
    publish_to_other_networks: bool = False
    # The bridge is another runtime's (Docker's docker0): the cluster's accept, the drop of what the runtime did
    # not publish, the outbound masquerade; nothing else.
    foreign_bridge: bool = False
    # The options the user gave (state=merged keeps the others from the recorded network).
    given: frozenset[str] = dataclasses.field(default=frozenset(), compare=False, repr=False)

    def families(self) -> set[int]:
        return {ipaddress.ip_network(s).version for s in self.subnets}

    def localhost_publish(self) -> bool:
        """``localhost:PORT`` on the host can be DNATed to this network (an IPv4 port on 0.0.0.0 or 127.x),
        so its bridge needs route_localnet and the 127/8 masquerade."""
        return any(p.family == 4 and (p.wildcard or p.loopback) for p in self.publish)


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
    ct: str | None = None  # "established,related" | "dnat" | "dnat-reply" (a reply of a DNATed connection)
    local_dst: bool = False
    local_dst_not_iif: bool = False  # to a local address that is not one of the input interface's
    comment: str | None = None


NETWORK_OPTIONS = (
    "masquerade",
    "icc",
    "internal",
    "isolate",
    "hairpin",
    "publish_to_other_networks",
    "foreign_bridge",
)
_DEFAULTS = {
    "masquerade": True,
    "icc": True,
    "internal": False,
    "isolate": True,
    "hairpin": True,
    "publish_to_other_networks": False,
    "foreign_bridge": False,
}


def parse_network(entry: dict[str, Any]) -> Network:
    """One ``config`` entry -> Network; everything that can be checked alone is checked here."""
    name = check_network_name(entry.get("network"), "nat network")
    where = f"nat network {name}"
    bridge = check_ifname(entry.get("bridge"), f"{where}: bridge")
    subnets = [parse_subnet(raw, f"{where}: subnet", strict=False) for raw in entry.get("subnets") or []]
    if not subnets:
        raise ValidationError(f"{where}: at least one subnet is required")
    overlap = first_overlap(enumerate(subnets))
    if overlap is not None:
        (_i, a), (_j, b) = overlap
        raise ValidationError(f"{where}: subnets {a} and {b} overlap")
    outbound = entry.get("outbound_address")
    if outbound is not None:
        outbound = str(parse_ip(outbound, f"{where}: outbound_address"))
        if ipaddress.ip_address(outbound).version not in {s.version for s in subnets}:
            raise ValidationError(f"{where}: outbound_address {outbound} has no subnet of its IP version")
    flags = {k: parse_bool(entry.get(k), f"{where}: {k}", _DEFAULTS[k]) for k in NETWORK_OPTIONS}
    cluster = entry.get("cluster_subnets") or []
    if not isinstance(cluster, list):
        raise ValidationError(f"{where}: cluster_subnets must be a list of CIDRs, got {cluster!r}")
    cluster = sorted(
        {parse_subnet(raw, f"{where}: cluster_subnets", strict=False) for raw in cluster},
        key=lambda s: (s.version, s),
    )
    if cluster and flags["internal"]:
        raise ValidationError(f"{where}: an internal network takes no cluster_subnets (nothing may reach it)")
    dnat = entry.get("dnat_subnets") or []
    if not isinstance(dnat, list):
        raise ValidationError(f"{where}: dnat_subnets must be a list of CIDRs, got {dnat!r}")
    dnat = sorted({parse_subnet(raw, f"{where}: dnat_subnets") for raw in dnat}, key=lambda s: (s.version, s))
    for sub in dnat:
        if not any(sub.version == s.version and sub.subnet_of(s) for s in subnets):
            raise ValidationError(f"{where}: dnat_subnets: {sub} is not inside a subnet of the network")
    if dnat and flags["internal"]:
        raise ValidationError(f"{where}: an internal network takes no dnat_subnets (nothing may reach it)")
    internal_input = entry.get("internal_input") or "all"
    if internal_input not in INTERNAL_INPUT:
        raise ValidationError(
            f"{where}: internal_input must be one of {', '.join(INTERNAL_INPUT)}, got {internal_input!r}"
        )
    publish = [p for raw in entry.get("publish") or [] for p in parse_publish(raw, where, subnets)]
    if flags["internal"] and publish:
        raise ValidationError(f"{where}: an internal network cannot publish ports (nothing may reach it from outside)")
    if flags["foreign_bridge"] and (flags["internal"] or publish or not flags["icc"]):
        raise ValidationError(
            f"{where}: a foreign_bridge network takes no internal, no publish and no icc=false (its runtime, "
            "e.g. Docker, owns its published ports, isolation and traffic between its containers)"
        )
    return Network(
        name=name,
        bridge=bridge,
        subnets=tuple(str(s) for s in sorted(subnets, key=lambda s: (s.version, s))),
        outbound_address=outbound,
        publish=sort_publish(publish),
        given=frozenset(k for k, v in entry.items() if v is not None),
        cluster_subnets=tuple(map(str, cluster)),
        dnat_subnets=tuple(map(str, dnat)),
        internal_input=internal_input,
        **flags,
    )


def sort_publish(publish: list[Publish]) -> tuple[Publish, ...]:
    return tuple(sorted(publish, key=lambda p: (p.proto, p.host_port, p.host_ip, p.endpoint or "")))


def parse_publish(raw: Any, where: str, subnets: list | None) -> list[Publish]:
    """One ``publish`` item -> Publish. ``subnets`` None: the container address is checked later
    (against the recorded network, when only the ports of endpoints are given)."""
    if not isinstance(raw, dict):
        raise ValidationError(f"{where}: publish item {raw!r} is not a dict")
    caddr = _ip(raw.get("container_address"), f"{where}: publish container_address")
    host_port = parse_port(raw.get("host_port"), f"{where}: publish host_port")
    cport = raw.get("container_port")
    cport = host_port if cport is None else parse_port(cport, f"{where}: publish container_port")
    proto = raw.get("proto") or "tcp"
    if proto not in PROTOS:
        raise ValidationError(f"{where}: publish {host_port}: unknown proto {proto!r} (use one of {', '.join(PROTOS)})")
    host_ip = raw.get("host_ip")
    if host_ip in (None, ""):
        host_ip = "0.0.0.0" if caddr.version == 4 else "::"
    else:
        host_ip = str(_ip(host_ip, f"{where}: publish host_ip"))
    if _ip(host_ip, "host_ip").version != caddr.version:
        raise ValidationError(
            f"{where}: publish {host_ip}:{host_port}: host_ip and container_address {caddr} differ in IP version"
        )
    if caddr.version == 6 and host_ip == "::1":
        raise ValidationError(
            f"{where}: publishing on ::1 cannot work (IPv6 has no route_localnet); use a host address"
        )
    endpoint = raw.get("endpoint")
    if endpoint is not None:
        endpoint = check_netns_name(endpoint, f"{where}: publish endpoint")
    out = [Publish(str(host_ip), host_port, str(caddr), cport, proto, endpoint)]
    caddr6 = raw.get("container_address6")
    if caddr6 not in (None, ""):
        # Docker's proxy listens on 0.0.0.0 and ::; here the same port on :: goes to the container's IPv6 address.
        caddr6 = _ip(caddr6, f"{where}: publish container_address6")
        if caddr6.version != 6 or caddr.version != 4 or host_ip != "0.0.0.0":
            raise ValidationError(
                f"{where}: publish {host_ip}:{host_port}: container_address6 {caddr6} needs an IPv6 address, "
                "an IPv4 container_address and host_ip 0.0.0.0 (or none): it publishes the same port on ::"
            )
        out.append(Publish("::", host_port, str(caddr6), cport, proto, endpoint))
    if subnets is not None:
        for pub in out:
            check_in_subnets(pub, where, subnets)
    return out


def check_in_subnets(pub: Publish, where: str, subnets: list) -> None:
    addr = _ip(pub.container_address, "container_address")
    if not any(addr in ip_net(str(s)) for s in subnets):
        raise ValidationError(
            f"{where}: published container_address {pub.container_address} is outside the network's subnets "
            f"({', '.join(map(str, subnets))})"
        )


def check_policy(networks: list[Network]) -> None:
    """Checks across networks (the whole policy after merging with what is recorded)."""
    check_unique(networks, lambda n: n.bridge, "nat bridge")
    nets = sorted(networks, key=lambda n: n.name)
    for net in nets:
        if net.internal_input != "all" and not net.internal:
            raise ValidationError(
                f"nat network {net.name}: internal_input {net.internal_input} applies to internal networks only"
            )
    check_no_overlap([(net.name, subnet) for net in nets for subnet in net.subnets], "nat networks")
    check_published(nets)


def check_published(nets: list[Network]) -> None:
    """No two published ports of the policy collide (first_clash), and not too many."""
    total = sum(len(n.publish) for n in nets)
    if total > MAX_PUBLISHED:
        raise ValidationError(
            f"nat: {total} published ports in the policy; at most {MAX_PUBLISHED} are supported "
            "(each costs firewall rules; publish fewer, or a smaller range)"
        )
    clash = first_clash((net.name, pub) for net in nets for pub in net.publish)
    if clash is not None:
        _clash(*clash)


def first_clash(owned: Iterable[tuple[str, Publish]]) -> tuple[tuple[str, Publish], tuple[str, Publish]] | None:
    """The first two (owner, port) pairs whose host ports collide, or None. Two ports collide when they have
    the same port and protocol in one IP family, on the same address or where either is published on every
    address (0.0.0.0 or ::). One pass, indexed by (port, proto, family): 45,000 ports cost no more than that."""
    wild: dict[tuple[int, str, int], tuple[str, Publish]] = {}
    specific: dict[tuple[int, str, int], dict[str, tuple[str, Publish]]] = {}
    for owner, pub in owned:
        key = (pub.host_port, pub.proto, pub.family)
        by_ip = specific.setdefault(key, {})
        if pub.wildcard:
            other = wild.get(key) or next(iter(by_ip.values()), None)
        else:
            other = wild.get(key) or by_ip.get(pub.host_ip)
        if other is not None:
            return other, (owner, pub)
        if pub.wildcard:
            wild[key] = (owner, pub)
        else:
            by_ip[pub.host_ip] = (owner, pub)
    return None


def _clash(first: tuple[str, Publish], second: tuple[str, Publish]) -> None:
    (net_a, a), (net_b, b) = first, second
    if net_a == net_b and a.label() == b.label() and a.endpoint == b.endpoint:
        raise ValidationError(f"nat network {net_a}: published port {a.label()} is listed more than once in config")
    raise ValidationError(
        f"nat {a.owner(net_a)} and {b.owner(net_b)} both publish {b.label()}"
        + (f" (clashes with {a.label()})" if a.label() != b.label() else "")
    )


def families(networks: list[Network]) -> list[int]:
    return sorted({f for n in networks for f in n.families()})


def rendered_families(networks: list[Network], backend: str) -> list[int]:
    """The IP families a backend writes rules for (nftables: one inet table for both).

    icc=false needs the IPv6 side even on an IPv4-only network: containers always have
    link-local fe80:: addresses, and bridged IPv6 passes ip6tables too.
    """
    fams = set(families(networks))
    if backend == "iptables" and any(not n.icc for n in networks):
        fams.add(6)
    return sorted(fams)


# A range of thousands of ports repeats one container address: parse each text once (issue 10 item 11).
@functools.lru_cache(maxsize=4096)
def ip_net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


@functools.lru_cache(maxsize=4096)
def _host(addr: str) -> str:
    return str(ipaddress.ip_network(addr))


@functools.lru_cache(maxsize=4096)
def _parse_ip(value: str, what: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return parse_ip(value, what)


def _ip(value: Any, what: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return _parse_ip(value, what) if isinstance(value, str) else parse_ip(value, what)


JUMP_ISO1 = Rule(FWD, "jump", ISO1)


def derive_rules(networks: list[Network], owner: str | None = None) -> list[Rule]:
    """The whole ruleset of a policy, in evaluation order within each logical chain.

    ``owner`` (the record's path) is written into the comment of the jump to isolation stage 1, so
    that a run with another record sees that the rules are not its own.
    """
    nets = sorted(networks, key=lambda n: n.name)
    fams = families(nets)
    rules: list[Rule] = [Rule(PRE, "jump", DNAT, local_dst=True)]
    if any(n.localhost_publish() for n in nets):
        rules.append(Rule(OUT, "jump", DNAT, family=4, local_dst=True))
    else:
        rules.append(Rule(OUT, "jump", DNAT, family=4, daddr="127.0.0.0/8", daddr_neg=True, local_dst=True))
    # IPv6 has no route_localnet: ::1 cannot be DNATed to a container.
    rules.append(Rule(OUT, "jump", DNAT, family=6, daddr="::1/128", daddr_neg=True, local_dst=True))
    # The cluster's other slices reach the containers before isolation and the unpublished-port drop.
    for net in nets:
        for cluster in net.cluster_subnets:
            fam = ipaddress.ip_network(cluster).version
            rules.append(Rule(FWD, "accept", family=fam, saddr=cluster, oif=net.bridge, comment=net.name))
    rules.append(JUMP_ISO1)
    # Networks that are not isolated reach the others before any network's unpublished-port drop,
    # so that the drop (which only knows its own bridge) does not depend on the order of the networks.
    for net in nets:
        if not net.internal and not net.isolate and not net.foreign_bridge:
            rules.append(Rule(FWD, "accept", iif=net.bridge, oif=net.bridge, oif_neg=True, comment=net.name))
    for net in nets:
        rules.extend(_network_rules(net))
    # A packet to 127/8 from outside would be DNATed before the martian check (ports published on
    # 127.0.0.1, and wildcard ports): drop it first, as Docker does in raw PREROUTING.
    rules.append(Rule(RAW, "drop", family=4, daddr=str(LOOPBACK4), iif="lo", iif_neg=True))
    for net in nets:
        if net.internal and net.internal_input == "gateway":
            rules.append(Rule(INPUT, "drop", iif=net.bridge, local_dst=True, local_dst_not_iif=True, comment=net.name))
    isolated = [n for n in nets if n.isolate and not n.foreign_bridge]
    for net in nets:
        if net.foreign_bridge:
            continue  # its runtime isolates it (Docker's DOCKER-ISOLATION chains)
        if net.internal:
            pass  # its own stage-1 drops confine it already (Docker has no stage-2 jump for it either)
        elif net.isolate:
            rules.append(Rule(ISO1, "jump", ISO2, iif=net.bridge, oif=net.bridge, oif_neg=True, comment=net.name))
        else:
            for other in isolated:
                if other.name != net.name:
                    rules.append(Rule(ISO1, "drop", iif=net.bridge, oif=other.bridge, comment=net.name))
        rules.append(Rule(ISO2, "drop", oif=net.bridge, comment=net.name))
    # Other networks' containers reach published ports through a host address (DNATed), and the
    # replies go back, past the isolation (internal networks stay confined: their drops come first).
    for net in nets:
        if net.publish_to_other_networks and net.publish:
            rules.append(Rule(ISO1, "return", oif=net.bridge, ct="dnat", comment=net.name))
            rules.append(Rule(ISO1, "return", iif=net.bridge, ct="dnat-reply", comment=net.name))
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
    cross = [r for r in rules if r.chain == ISO1 and r.verdict == "return"]
    rules = internal + cross + [r for r in rules if r not in cross]
    if owner:
        rules = [dataclasses.replace(r, comment=f"record={owner}") if r == JUMP_ISO1 else r for r in rules]
    return [r for r in rules if r.family is None or r.family in fams]


def _network_rules(net: Network) -> list[Rule]:
    br, name = net.bridge, net.name
    out: list[Rule] = []
    if net.foreign_bridge:
        # Into the bridge only replies and what the runtime DNATed (its published ports) besides the cluster:
        # Docker leaves the FORWARD policy at ACCEPT when forwarding was on before it started.
        out.append(Rule(FWD, "accept", oif=br, ct="established,related", comment=name))
        out.append(Rule(FWD, "accept", oif=br, ct="dnat", comment=name))
        out.append(Rule(FWD, "drop", iif=br, iif_neg=True, oif=br, comment=name))
        return out + _masquerade_rules(net)
    if not net.internal:
        out.append(Rule(FWD, "accept", oif=br, ct="established,related", comment=name))
        out.append(Rule(FWD, "jump", PUB, oif=br, comment=name))
        for sub in net.dnat_subnets:
            fam = ipaddress.ip_network(sub).version
            out.append(Rule(FWD, "accept", family=fam, daddr=sub, oif=br, ct="dnat", comment=name))
        # Docker's rule: into the bridge from elsewhere only published ports and replies.
        out.append(Rule(FWD, "drop", iif=br, iif_neg=True, oif=br, comment=name))
        if net.isolate:
            out.append(Rule(FWD, "accept", iif=br, oif=br, oif_neg=True, comment=name))
    out.append(Rule(FWD, "accept" if net.icc else "drop", iif=br, oif=br, comment=name))
    if net.internal:
        return out
    out += _masquerade_rules(net)
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
            addr = _ip(pub.container_address, "container_address")
            subnet = next(s for s in net.subnets if addr in ip_net(s))
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
    if net.localhost_publish():
        out.append(Rule(POST, "masquerade", family=4, saddr=str(LOOPBACK4), oif=br, comment=name))
    return out


def _masquerade_rules(net: Network) -> list[Rule]:
    """Outbound masquerade (or SNAT) of the subnets, never towards the cluster's other slices."""
    br, name = net.bridge, net.name
    out: list[Rule] = []
    for subnet in net.subnets:
        fam = ipaddress.ip_network(subnet).version
        if not net.masquerade:
            continue
        for cluster in net.cluster_subnets:
            if ipaddress.ip_network(cluster).version == fam:  # the receiver sees the real container source
                out.append(
                    Rule(POST, "return", family=fam, saddr=subnet, daddr=cluster, oif=br, oif_neg=True, comment=name)
                )
        if net.outbound_address and ipaddress.ip_address(net.outbound_address).version == fam:
            out.append(
                Rule(POST, "snat", net.outbound_address, family=fam, saddr=subnet, oif=br, oif_neg=True, comment=name)
            )
        else:
            out.append(Rule(POST, "masquerade", family=fam, saddr=subnet, oif=br, oif_neg=True, comment=name))
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
        if net.localhost_publish():
            want[f"net.ipv4.conf.{net.bridge}.route_localnet"] = "1"
    if any(not n.icc for n in networks):
        # icc=false drops bridged frames, so they must pass the IP hooks (br_netfilter); IPv6 always
        # (link-local addresses exist on IPv4-only networks too).
        if 4 in fams:
            want["net.bridge.bridge-nf-call-iptables"] = "1"
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
    data["cluster_subnets"] = list(net.cluster_subnets)
    data["dnat_subnets"] = list(net.dnat_subnets)
    data["publish"] = [dataclasses.asdict(p) for p in net.publish]
    return data


def network_from_dict(data: dict[str, Any]) -> Network:
    """Inverse of network_to_dict (for the record on disk); re-validated like input."""
    entry = dict(data)
    entry["network"] = entry.pop("name")
    return parse_network(entry)
