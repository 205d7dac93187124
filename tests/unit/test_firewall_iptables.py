"""iptables renderer: exact restore payloads from a model, parsing iptables-save, exactly-once jumps."""

from __future__ import annotations

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import iptables
from ansible_collections.netplumb.container.plugins.module_utils._firewall.model import (
    check_policy,
    derive_rules,
    parse_network,
)

WEB = {
    "network": "web",
    "bridge": "br0",
    "subnets": ["10.1.0.0/24"],
    "publish": [{"host_port": 8080, "container_address": "10.1.0.2", "container_port": 80}],
}
DB = {"network": "db", "bridge": "br1", "subnets": ["10.2.0.0/24"], "internal": True, "icc": False}

EXPECTED = """*filter
:NETPLUMB-FORWARD - [0:0]
:NETPLUMB-ISOLATION-STAGE-1 - [0:0]
:NETPLUMB-ISOLATION-STAGE-2 - [0:0]
:NETPLUMB - [0:0]
:NETPLUMB-INPUT - [0:0]
:NETPLUMB-USER - [0:0]
-I INPUT 1 -m comment --comment netplumb.container -j NETPLUMB-INPUT
-I FORWARD 1 -m comment --comment netplumb.container -j NETPLUMB-USER
-I FORWARD 2 -m comment --comment netplumb.container -j NETPLUMB-FORWARD
-A NETPLUMB-FORWARD -j NETPLUMB-ISOLATION-STAGE-1
-A NETPLUMB-FORWARD -i br1 -o br1 -m comment --comment db -j DROP
-A NETPLUMB-FORWARD -o br0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment web -j ACCEPT
-A NETPLUMB-FORWARD -o br0 -m comment --comment web -j NETPLUMB
-A NETPLUMB-FORWARD ! -i br0 -o br0 -m comment --comment web -j DROP
-A NETPLUMB-FORWARD -i br0 ! -o br0 -m comment --comment web -j ACCEPT
-A NETPLUMB-FORWARD -i br0 -o br0 -m comment --comment web -j ACCEPT
-A NETPLUMB-ISOLATION-STAGE-1 ! -s 10.2.0.0/24 -o br1 -m comment --comment db -j DROP
-A NETPLUMB-ISOLATION-STAGE-1 ! -d 10.2.0.0/24 -i br1 -m comment --comment db -j DROP
-A NETPLUMB-ISOLATION-STAGE-1 -i br0 ! -o br0 -m comment --comment web -j NETPLUMB-ISOLATION-STAGE-2
-A NETPLUMB-ISOLATION-STAGE-2 -o br1 -m comment --comment db -j DROP
-A NETPLUMB-ISOLATION-STAGE-2 -o br0 -m comment --comment web -j DROP
-A NETPLUMB -d 10.1.0.2/32 ! -i br0 -o br0 -p tcp -m tcp --dport 80 -m comment --comment web -j ACCEPT
COMMIT
*nat
:NETPLUMB - [0:0]
:NETPLUMB-POSTROUTING - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment netplumb.container -j NETPLUMB
-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment netplumb.container -j NETPLUMB
-I POSTROUTING 1 -m comment --comment netplumb.container -j NETPLUMB-POSTROUTING
-A NETPLUMB -p tcp -m tcp --dport 8080 -m comment --comment web -j DNAT --to-destination 10.1.0.2:80
-A NETPLUMB-POSTROUTING -s 10.1.0.0/24 ! -o br0 -m comment --comment web -j MASQUERADE
-A NETPLUMB-POSTROUTING -s 10.1.0.0/24 -d 10.1.0.2/32 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT \
-m comment --comment web -j MASQUERADE
-A NETPLUMB-POSTROUTING -s 127.0.0.0/8 -o br0 -m comment --comment web -j MASQUERADE
COMMIT
*raw
:NETPLUMB-PREROUTING - [0:0]
-I PREROUTING 1 -m comment --comment netplumb.container -j NETPLUMB-PREROUTING
-A NETPLUMB-PREROUTING -d 127.0.0.0/8 ! -i lo -j DROP
COMMIT
"""


def rules(*entries):
    nets = [parse_network(e) for e in entries]
    check_policy(nets)
    return derive_rules(nets)


def as_save(payload: str) -> str:
    """What iptables-save would print after applying a fresh payload (quotes as iptables-save puts them)."""
    out = []
    for line in payload.splitlines():
        if line.startswith("-I "):
            chain, _sep, rest = line[3:].partition(" ")
            line = f"-A {chain} {rest.split(' ', 1)[1]}"
        out.append(line.replace("--comment netplumb.container", '--comment "netplumb.container"'))
    return "\n".join(out) + "\n"


def test_exact_payload_from_model():
    want = iptables.render(rules(WEB, DB), 4)
    assert iptables.payload(want, iptables.parse_save("")) == EXPECTED


def test_save_roundtrip_is_no_change():
    want = iptables.render(rules(WEB, DB), 4)
    have = iptables.parse_save(as_save(iptables.payload(want, iptables.parse_save(""))))
    assert iptables.differs(want, have) == []


def test_duplicate_and_foreign_jumps_are_fixed_exactly_once():
    want = iptables.render(rules(WEB), 4)
    saved = as_save(iptables.payload(want, iptables.parse_save("")))
    dup = '-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "netplumb.container" -j NETPLUMB\n'
    saved = saved.replace("*nat\n", "*nat\n:DOCKER - [0:0]\n-A PREROUTING -j DOCKER\n" + dup, 1)
    have = iptables.parse_save(saved)
    assert have["nat"]["other"] == 1  # Docker's own jump is not ours
    assert iptables.differs(want, have) == ["nat/PREROUTING"]
    text = iptables.payload(want, have)
    assert text.count("-D PREROUTING") == 1 and "-A PREROUTING" not in text
    assert "DOCKER" not in text
    assert ":NETPLUMB-USER" not in text  # exists already: never declared (that would flush it)


def test_user_chain_order_restored_when_jumps_swapped():
    want = iptables.render(rules(WEB), 4)
    have = iptables.parse_save(as_save(iptables.payload(want, iptables.parse_save(""))))
    have["filter"]["jumps"]["FORWARD"].reverse()
    text = iptables.payload(want, have)
    assert "-I FORWARD 1 -m comment --comment netplumb.container -j NETPLUMB-USER" in text
    assert text.count("-D FORWARD") == 2


def test_v6_snat_hairpin_off_and_loopback_publish():
    v6 = {
        "network": "six",
        "bridge": "br6",
        "subnets": ["fd00:1::/64", "10.6.0.0/24"],
        "outbound_address": "192.0.2.7",
        "hairpin": False,
        "publish": [
            {"host_ip": "fd00:9::1", "host_port": 53, "container_address": "fd00:1::5", "proto": "udp"},
            {"host_ip": "127.0.0.1", "host_port": 8443, "container_address": "10.6.0.5", "container_port": 443},
        ],
    }
    r = rules(v6)
    six = iptables.render(r, 6)
    assert six["chains"]["nat"]["NETPLUMB"] == [
        "-i br6 -m comment --comment six -j RETURN",
        "-d fd00:9::1/128 ! -i br6 -p udp -m udp --dport 53 -m comment --comment six "
        "-j DNAT --to-destination [fd00:1::5]:53",
    ]
    assert six["chains"]["nat"]["NETPLUMB-POSTROUTING"] == [
        "-s fd00:1::/64 ! -o br6 -m comment --comment six -j MASQUERADE"
    ]
    assert six["jumps"]["nat"]["OUTPUT"] == [
        "! -d ::1/128 -m addrtype --dst-type LOCAL -m comment --comment netplumb.container -j NETPLUMB"
    ]
    four = iptables.render(r, 4)
    # hairpin off: no hairpin masquerade, but localhost on the host still reaches the port (issue 9.2)
    assert four["chains"]["nat"]["NETPLUMB-POSTROUTING"] == [
        "-s 10.6.0.0/24 ! -o br6 -m comment --comment six -j SNAT --to-source 192.0.2.7",
        "-s 127.0.0.0/8 -o br6 -m comment --comment six -j MASQUERADE",
    ]
    assert four["jumps"]["nat"]["OUTPUT"] == [
        "-m addrtype --dst-type LOCAL -m comment --comment netplumb.container -j NETPLUMB"
    ]


def test_loopback_publish_with_hairpin_opens_output_and_masquerades_localhost():
    net = dict(WEB, publish=[{"host_ip": "127.0.0.1", "host_port": 8080, "container_address": "10.1.0.2"}])
    four = iptables.render(rules(net), 4)
    assert four["jumps"]["nat"]["OUTPUT"] == [
        "-m addrtype --dst-type LOCAL -m comment --comment netplumb.container -j NETPLUMB"
    ]
    assert (
        "-s 127.0.0.0/8 -o br0 -m comment --comment web -j MASQUERADE" in four["chains"]["nat"]["NETPLUMB-POSTROUTING"]
    )
    assert four["chains"]["nat"]["NETPLUMB"] == [
        "-d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -m comment --comment web -j DNAT --to-destination 10.1.0.2:8080"
    ]


def test_partial_isolation():
    open_net = {"network": "open", "bridge": "br2", "subnets": ["10.3.0.0/24"], "isolate": False}
    iso = iptables.render(rules(WEB, open_net), 4)["chains"]["filter"]["NETPLUMB-ISOLATION-STAGE-1"]
    assert iso == [
        "-i br2 -o br0 -m comment --comment open -j DROP",
        "-i br0 ! -o br0 -m comment --comment web -j NETPLUMB-ISOLATION-STAGE-2",
    ]


def test_teardown_keeps_user_chain_with_rules():
    want = iptables.render(rules(WEB), 4)
    saved = as_save(iptables.payload(want, iptables.parse_save("")))
    saved = saved.replace("COMMIT\n*nat", "-A NETPLUMB-USER -s 198.18.0.9/32 -j DROP\nCOMMIT\n*nat", 1)
    have = iptables.parse_save(saved)
    text = iptables.teardown_payload(have)
    assert "-X NETPLUMB-USER" not in text and "-j NETPLUMB-USER" not in text
    assert "-X NETPLUMB-FORWARD" in text and "-D POSTROUTING" in text


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([dict(WEB, publish=[{"host_port": 70000, "container_address": "10.1.0.2"}])], "out of range"),
        ([dict(WEB, publish=[{"host_port": 80, "container_address": "10.1.0.2", "proto": "icmp"}])], "unknown proto"),
        ([dict(WEB, publish=[{"host_port": 80, "container_address": "10.9.0.2"}])], "outside the network"),
        (
            [dict(WEB, publish=[{"host_port": 80, "container_address": "10.1.0.2", "container_port": 0}])],
            "out of range",
        ),
        ([dict(WEB, subnets=["10.1.0.0/33"])], "not a subnet in CIDR form"),
        ([dict(WEB, bridge="a-very-long-bridge-name")], "at most 15"),
        ([dict(DB, publish=WEB["publish"], subnets=["10.1.0.0/24"])], "internal network cannot publish"),
        ([WEB, dict(DB, subnets=["10.1.0.128/25"])], "overlap"),
        (
            [WEB, dict(DB, internal=False, publish=[{"host_port": 8080, "container_address": "10.2.0.2"}])],
            "both publish",
        ),
        (
            [
                dict(WEB, publish=[{"host_ip": "192.0.2.1", "host_port": 8080, "container_address": "10.1.0.2"}]),
                dict(DB, internal=False, publish=[{"host_port": 8080, "container_address": "10.2.0.2"}]),
            ],
            "both publish",
        ),
        ([WEB, dict(DB, bridge="br0")], "nat bridge br0 is listed more than once"),
    ],
)
def test_bad_input(entries, message):
    with pytest.raises(ValidationError, match=message):
        rules(*entries)


def test_same_port_other_proto_or_ip_is_fine():
    a = dict(WEB, publish=[{"host_ip": "192.0.2.1", "host_port": 8080, "container_address": "10.1.0.2"}])
    b = dict(DB, internal=False, publish=[{"host_ip": "192.0.2.2", "host_port": 8080, "container_address": "10.2.0.2"}])
    c = {
        "network": "u",
        "bridge": "br9",
        "subnets": ["10.9.0.0/24"],
        "publish": [{"host_port": 8080, "container_address": "10.9.0.2", "proto": "udp"}],
    }
    assert rules(a, b, c)


def test_cluster_subnets_forwarded_first_and_not_masqueraded():
    net = dict(WEB, subnets=["10.244.1.0/24", "fd00:244:1::/64"], publish=[])
    net["cluster_subnets"] = ["10.244.0.0/16", "fd00:244::/48"]
    r = rules(net)
    four, six = iptables.render(r, 4), iptables.render(r, 6)
    assert four["chains"]["filter"]["NETPLUMB-FORWARD"][:2] == [
        "-s 10.244.0.0/16 -o br0 -m comment --comment web -j ACCEPT",
        "-j NETPLUMB-ISOLATION-STAGE-1",
    ]
    assert four["chains"]["nat"]["NETPLUMB-POSTROUTING"] == [
        "-s 10.244.1.0/24 -d 10.244.0.0/16 ! -o br0 -m comment --comment web -j RETURN",
        "-s 10.244.1.0/24 ! -o br0 -m comment --comment web -j MASQUERADE",
    ]
    assert six["chains"]["filter"]["NETPLUMB-FORWARD"][0] == (
        "-s fd00:244::/48 -o br0 -m comment --comment web -j ACCEPT"
    )
    assert six["chains"]["nat"]["NETPLUMB-POSTROUTING"][0] == (
        "-s fd00:244:1::/64 -d fd00:244::/48 ! -o br0 -m comment --comment web -j RETURN"
    )


@pytest.mark.parametrize(
    ("cluster", "message"),
    [
        (["10.244.0.0/33"], "cluster_subnets: '10.244.0.0/33' is not a subnet"),
        ("10.244.0.0/16", "must be a list"),
    ],
)
def test_bad_cluster_subnets(cluster, message):
    with pytest.raises(ValidationError, match=message):
        rules(dict(WEB, cluster_subnets=cluster))
    with pytest.raises(ValidationError, match="internal network takes no cluster_subnets"):
        rules(dict(DB, cluster_subnets=["10.244.0.0/16"]))


def test_internal_input_gateway_drops_other_host_addresses():
    four = iptables.render(rules(WEB, dict(DB, internal_input="gateway")), 4)
    assert four["chains"]["filter"]["NETPLUMB-INPUT"] == [
        "-i br1 -m addrtype --dst-type LOCAL -m addrtype ! --dst-type LOCAL --limit-iface-in "
        "-m comment --comment db -j DROP"
    ]
    assert iptables.render(rules(WEB, DB), 4)["chains"]["filter"]["NETPLUMB-INPUT"] == []
    with pytest.raises(ValidationError, match="internal_input gateway applies to internal networks only"):
        rules(dict(WEB, internal_input="gateway"))
    with pytest.raises(ValidationError, match="internal_input must be one of all, gateway, got 'none'"):
        rules(dict(DB, internal_input="none"))


def test_icc_false_writes_the_ipv6_side_of_an_ipv4_network():
    from ansible_collections.netplumb.container.plugins.module_utils._firewall.model import rendered_families

    nets = [parse_network(dict(WEB, icc="false"))]
    assert nets[0].icc is False
    assert rendered_families(nets, "iptables") == [4, 6]
    assert rendered_families([parse_network(WEB)], "iptables") == [4]
    six = iptables.render(derive_rules(nets), 6)["chains"]["filter"]["NETPLUMB-FORWARD"]
    assert "-i br0 -o br0 -m comment --comment web -j DROP" in six


def test_strings_are_booleans_by_ansible_rules():
    assert parse_network(dict(WEB, internal="no", publish=[])).internal is False
    with pytest.raises(ValidationError, match="nat network web: icc: 'maybe' is not a boolean"):
        parse_network(dict(WEB, icc="maybe"))


def test_not_isolated_networks_reach_each_other_before_any_unpublished_drop():
    a = dict(WEB, network="a", isolate=False, publish=[])
    b = {"network": "b", "bridge": "br2", "subnets": ["10.3.0.0/24"], "isolate": False}
    fwd = iptables.render(rules(a, b), 4)["chains"]["filter"]["NETPLUMB-FORWARD"]
    assert fwd[:5] == [
        "-j NETPLUMB-ISOLATION-STAGE-1",
        "-i br0 ! -o br0 -m comment --comment a -j ACCEPT",
        "-i br2 ! -o br2 -m comment --comment b -j ACCEPT",
        "-o br0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment a -j ACCEPT",
        "-o br0 -m comment --comment a -j NETPLUMB",
    ]
    assert "! -i br0 -o br0 -m comment --comment a -j DROP" in fwd


def test_dnat_subnets_pass_only_dnated_connections_to_that_block():
    r = rules(dict(WEB, publish=[], dnat_subnets=["10.1.0.128/25"]))
    forward = iptables.render(r, 4)["chains"]["filter"]["NETPLUMB-FORWARD"]
    accept = "-d 10.1.0.128/25 -o br0 -m conntrack --ctstate DNAT -m comment --comment web -j ACCEPT"
    drop = "! -i br0 -o br0 -m comment --comment web -j DROP"
    assert accept in forward and drop in forward
    assert forward.index(accept) < forward.index(drop)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (dict(WEB, dnat_subnets=["10.2.0.0/25"]), "dnat_subnets: 10.2.0.0/25 is not inside a subnet of the network"),
        (dict(WEB, dnat_subnets="10.1.0.128/25"), "dnat_subnets must be a list"),
        (dict(WEB, dnat_subnets=["10.1.0.129/25"]), "dnat_subnets: '10.1.0.129/25' is not a subnet"),
        (dict(DB, dnat_subnets=["10.2.0.0/25"]), "internal network takes no dnat_subnets"),
    ],
)
def test_bad_dnat_subnets(entry, message):
    with pytest.raises(ValidationError, match=message):
        rules(entry)
