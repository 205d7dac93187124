"""nftables renderer: exact rules from a model, the one transaction, and comparison with a listing."""

from __future__ import annotations

from ansible_collections.netplumb.container.plugins.module_utils._firewall import nftables
from ansible_collections.netplumb.container.plugins.module_utils._firewall.model import (
    derive_rules,
    merge_network,
    network_from_dict,
    network_to_dict,
    parse_network,
    sysctls_needed,
)

WEB = {
    "network": "web",
    "bridge": "br0",
    "subnets": ["10.1.0.0/24"],
    "publish": [{"host_port": 8080, "container_address": "10.1.0.2", "container_port": 80}],
}


def m(left, right, op="=="):
    return {"match": {"op": op, "left": left, "right": right}}


IIF, OIF = {"meta": {"key": "iifname"}}, {"meta": {"key": "oifname"}}
SADDR, DADDR = {"payload": {"protocol": "ip", "field": "saddr"}}, {"payload": {"protocol": "ip", "field": "daddr"}}
TCP_DPORT = {"payload": {"protocol": "tcp", "field": "dport"}}
LOCAL = m({"fib": {"result": "type", "flags": ["daddr"]}}, "local")
SUBNET = {"prefix": {"addr": "10.1.0.0", "len": 24}}


def render(*entries):
    return nftables.render(derive_rules([parse_network(e) for e in entries]))


def test_exact_rules_from_model():
    chains = render(WEB)
    assert chains["prerouting"] == [{"expr": [LOCAL, {"jump": {"target": "dnat"}}]}]
    # a wildcard port: localhost on the host reaches it too (issue 9.2)
    assert chains["output"] == [
        {"expr": [LOCAL, m({"meta": {"key": "nfproto"}}, "ipv4"), {"jump": {"target": "dnat"}}]}
    ]
    assert chains["dnat"] == [
        {
            "expr": [
                m({"meta": {"key": "nfproto"}}, "ipv4"),
                m(TCP_DPORT, 8080),
                {"dnat": {"family": "ip", "addr": "10.1.0.2", "port": 80}},
            ],
            "comment": "web",
        }
    ]
    assert chains["postrouting"] == [
        {"expr": [m(SADDR, SUBNET), m(OIF, "br0", "!="), {"masquerade": None}], "comment": "web"},
        {
            "expr": [
                m(SADDR, SUBNET),
                m(DADDR, "10.1.0.2"),
                m({"ct": {"key": "status"}}, "dnat", "in"),
                m(TCP_DPORT, 80),
                {"masquerade": None},
            ],
            "comment": "web",
        },
        {
            "expr": [m(SADDR, {"prefix": {"addr": "127.0.0.0", "len": 8}}), m(OIF, "br0"), {"masquerade": None}],
            "comment": "web",
        },
    ]
    assert chains["forward"] == [
        {"expr": [{"jump": {"target": "user"}}], "comment": "netplumb.container"},
        {"expr": [{"jump": {"target": "isolation-stage-1"}}]},
        {
            "expr": [m(OIF, "br0"), m({"ct": {"key": "state"}}, ["established", "related"], "in"), {"accept": None}],
            "comment": "web",
        },
        {"expr": [m(OIF, "br0"), {"jump": {"target": "published"}}], "comment": "web"},
        {"expr": [m(IIF, "br0", "!="), m(OIF, "br0"), {"drop": None}], "comment": "web"},
        {"expr": [m(IIF, "br0"), m(OIF, "br0", "!="), {"accept": None}], "comment": "web"},
        {"expr": [m(IIF, "br0"), m(OIF, "br0"), {"accept": None}], "comment": "web"},
    ]
    assert chains["published"] == [
        {
            "expr": [m(DADDR, "10.1.0.2"), m(IIF, "br0", "!="), m(OIF, "br0"), m(TCP_DPORT, 80), {"accept": None}],
            "comment": "web",
        }
    ]
    assert chains["isolation-stage-1"] == [
        {"expr": [m(IIF, "br0"), m(OIF, "br0", "!="), {"jump": {"target": "isolation-stage-2"}}], "comment": "web"}
    ]
    assert chains["isolation-stage-2"] == [{"expr": [m(OIF, "br0"), {"drop": None}], "comment": "web"}]
    assert chains["raw-prerouting"] == [
        {"expr": [m(DADDR, {"prefix": {"addr": "127.0.0.0", "len": 8}}), m(IIF, "lo", "!="), {"drop": None}]}
    ]
    assert chains["input"] == []


def test_icc_false_snat_and_v6():
    net = dict(WEB, icc=False, outbound_address="192.0.2.7", subnets=["10.1.0.0/24", "fd00::/64"], publish=[])
    chains = render(net)
    assert {"expr": [m(IIF, "br0"), m(OIF, "br0"), {"drop": None}], "comment": "web"} in chains["forward"]
    assert chains["postrouting"] == [
        {
            "expr": [m(SADDR, SUBNET), m(OIF, "br0", "!="), {"snat": {"family": "ip", "addr": "192.0.2.7"}}],
            "comment": "web",
        },
        {
            "expr": [
                m({"payload": {"protocol": "ip6", "field": "saddr"}}, {"prefix": {"addr": "fd00::", "len": 64}}),
                m(OIF, "br0", "!="),
                {"masquerade": None},
            ],
            "comment": "web",
        },
    ]
    assert chains["output"][1]["expr"][1] == m({"payload": {"protocol": "ip6", "field": "daddr"}}, "::1", "!=")
    assert sysctls_needed([parse_network(net)]) == {
        "net.ipv4.ip_forward": "1",
        "net.ipv6.conf.all.forwarding": "1",
        "net.bridge.bridge-nf-call-iptables": "1",
        "net.bridge.bridge-nf-call-ip6tables": "1",
    }


def test_route_localnet_on_every_bridge_a_localhost_dnat_reaches():
    key = "net.ipv4.conf.br0.route_localnet"
    for host_ip in ("127.0.0.1", "0.0.0.0", None):
        pub = [{"host_ip": host_ip, "host_port": 8080, "container_address": "10.1.0.2"}]
        for hairpin in (True, False):
            assert sysctls_needed([parse_network(dict(WEB, publish=pub, hairpin=hairpin))])[key] == "1"
    pub = [{"host_ip": "192.0.2.1", "host_port": 8080, "container_address": "10.1.0.2"}]
    assert key not in sysctls_needed([parse_network(dict(WEB, publish=pub))])
    assert key not in sysctls_needed([parse_network(dict(WEB, publish=[]))])


def listing(chains, user_rules=()):
    """What ``nft -j list table inet netplumb`` prints for a table holding ``chains``."""
    items = [{"metainfo": {"version": "1.0.6"}}, {"table": {"family": "inet", "name": "netplumb", "handle": 1}}]
    for name, spec in nftables.CHAIN_SPECS.values():
        items.append(
            {"chain": dict({"family": "inet", "table": "netplumb", "name": name, "handle": 2}, **(spec or {}))}
        )
    items.append({"chain": {"family": "inet", "table": "netplumb", "name": "user", "handle": 3}})
    handle = 10
    for name, rules in [*chains.items(), ("user", list(user_rules))]:
        for rule in rules:
            handle += 1
            items.append(
                {"rule": dict({"family": "inet", "table": "netplumb", "chain": name, "handle": handle}, **rule)}
            )
    return {"nftables": items}


def test_listing_roundtrip_and_flush_detection():
    want = render(WEB)
    have = nftables.parse_listing(listing(want))
    assert nftables.differs(want, have) == []
    flushed = nftables.parse_listing(listing({k: [] for k in want}))
    assert nftables.differs(want, flushed) == sorted(k for k, v in want.items() if v)
    assert nftables.differs(want, None) == sorted(want)


def test_transaction_never_flushes_user_chain():
    want = render(WEB)
    have = nftables.parse_listing(listing(want, user_rules=[{"expr": [{"drop": None}]}]))
    cmds = nftables.transaction(want, have)["nftables"]
    assert cmds[0] == {"add": {"table": {"family": "inet", "name": "netplumb", "comment": "netplumb.container"}}}
    flushed = [c["flush"]["chain"]["name"] for c in cmds if "flush" in c]
    assert sorted(flushed) == sorted(nftables.OWN_CHAINS) and "user" not in flushed
    assert not any("add" in c and c["add"].get("chain", {}).get("name") == "user" for c in cmds)
    rules = [c["add"]["rule"] for c in cmds if "rule" in c.get("add", {})]
    assert len(rules) == sum(len(v) for v in want.values())
    fresh = nftables.transaction(want, None)["nftables"]
    assert {"add": {"chain": {"family": "inet", "table": "netplumb", "name": "user"}}} in fresh


def test_teardown_keeps_table_when_user_chain_has_rules():
    have = nftables.parse_listing(listing(render(WEB), user_rules=[{"expr": [{"drop": None}]}]))
    cmds = nftables.teardown(have)["nftables"]
    assert not any("delete" in c and "table" in c["delete"] for c in cmds)
    assert not any(c.get("delete", {}).get("chain", {}).get("name") in ("user", "forward") for c in cmds)
    empty = nftables.parse_listing(listing(render(WEB)))
    assert nftables.teardown(empty) == {"nftables": [{"delete": {"table": {"family": "inet", "name": "netplumb"}}}]}


def test_merged_keeps_unlisted_options_and_record_roundtrip():
    have = parse_network(dict(WEB, icc=False, hairpin=False))
    assert network_from_dict(network_to_dict(have)) == have
    want = parse_network({"network": "web", "bridge": "br0", "subnets": ["10.1.0.0/24"], "masquerade": False})
    merged = merge_network(have, want)
    assert (merged.icc, merged.hairpin, merged.masquerade) == (False, False, False)
    assert merged.publish == have.publish  # not given: kept


def test_cluster_subnets_forwarded_first_and_not_masqueraded():
    cluster = {"prefix": {"addr": "10.244.0.0", "len": 16}}
    chains = render(dict(WEB, publish=[], cluster_subnets=["10.244.0.0/16"]))
    assert chains["forward"][1] == {"expr": [m(SADDR, cluster), m(OIF, "br0"), {"accept": None}], "comment": "web"}
    assert chains["forward"][2] == {"expr": [{"jump": {"target": "isolation-stage-1"}}]}
    assert chains["postrouting"] == [
        {"expr": [m(SADDR, SUBNET), m(DADDR, cluster), m(OIF, "br0", "!="), {"return": None}], "comment": "web"},
        {"expr": [m(SADDR, SUBNET), m(OIF, "br0", "!="), {"masquerade": None}], "comment": "web"},
    ]


def test_internal_input_gateway():
    internal = {"network": "db", "bridge": "br1", "subnets": ["10.2.0.0/24"], "internal": True}
    chains = render(WEB, dict(internal, internal_input="gateway"))
    assert chains["input"] == [
        {
            "expr": [
                LOCAL,
                m(IIF, "br1"),
                m({"fib": {"result": "type", "flags": ["daddr", "iif"]}}, "local", "!="),
                {"drop": None},
            ],
            "comment": "db",
        }
    ]


def test_dnat_subnets_accepted_before_the_drop_of_unpublished_ports_and_recorded():
    block = {"prefix": {"addr": "10.1.0.128", "len": 25}}
    chains = render(dict(WEB, publish=[], dnat_subnets=["10.1.0.128/25"]))
    accept = {
        "expr": [m(DADDR, block), m(OIF, "br0"), m({"ct": {"key": "status"}}, "dnat", "in"), {"accept": None}],
        "comment": "web",
    }
    drop = {"expr": [m(IIF, "br0", "!="), m(OIF, "br0"), {"drop": None}], "comment": "web"}
    assert chains["forward"].index(accept) < chains["forward"].index(drop)
    net = parse_network(dict(WEB, dnat_subnets=["10.1.0.128/25"]))
    assert network_from_dict(network_to_dict(net)) == net
