"""The nat engine's pure parts: validation, endpoint-owned ports, the target record and the rules it renders."""

from __future__ import annotations

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import engine, iptables
from ansible_collections.netplumb.container.plugins.module_utils._firewall.model import (
    derive_rules,
    network_to_dict,
    parse_network,
)

REC = "/var/lib/netplumb/test-nat.json"
WEB = {
    "network": "web",
    "bridge": "br0",
    "subnets": ["10.1.0.0/24"],
    "publish": [
        {"host_port": 8080, "container_address": "10.1.0.2", "container_port": 80, "endpoint": "c1"},
        {"host_port": 9000, "container_address": "10.1.0.9", "container_port": 90},
    ],
}
DB = {"network": "db", "bridge": "br1", "subnets": ["10.2.0.0/24"]}


def have(*entries):
    return {e["network"]: parse_network(e) for e in entries}


def params(endpoints, config=(), **extra):
    return {"endpoints": endpoints, "config": list(config), "record_path": REC, **extra}


def pub(endpoint, port, addr, cport=80, **extra):
    return {"endpoint": endpoint, "host_port": port, "container_address": addr, "container_port": cport, **extra}


def target(p, recorded, check_mode=False, warnings=None):
    return engine.target(engine.validate(p), recorded, check_mode, warnings)


def ports(net):
    return [(p.endpoint, p.host_ip, p.host_port, p.container_address, p.container_port) for p in net.publish]


def test_endpoint_ports_replace_only_that_endpoints_ports():
    recorded = have(WEB, DB)
    after = target(
        params(["c2"], [{"network": "web", "publish": [pub("c2", 8081, "10.1.0.3")]}]),
        recorded,
    )
    assert ports(after["web"]) == [
        ("c1", "0.0.0.0", 8080, "10.1.0.2", 80),
        ("c2", "0.0.0.0", 8081, "10.1.0.3", 80),
        (None, "0.0.0.0", 9000, "10.1.0.9", 90),
    ]
    assert after["db"] == recorded["db"]
    # every other option of the network stays as recorded
    assert network_to_dict(after["web"]) | {"publish": []} == network_to_dict(recorded["web"]) | {"publish": []}


def test_endpoint_named_without_ports_loses_them_everywhere():
    db = dict(DB, publish=[pub("c1", 5432, "10.2.0.2", 5432)])
    after = target(params(["c1"]), have(WEB, db))
    assert ports(after["web"]) == [(None, "0.0.0.0", 9000, "10.1.0.9", 90)]
    assert ports(after["db"]) == []
    rules = iptables.render(derive_rules(list(after.values())), 4)["chains"]["nat"]["NETPLUMB"]
    assert rules == [
        "-p tcp -m tcp --dport 9000 -m comment --comment web -j DNAT --to-destination 10.1.0.9:90",
    ]


def test_two_disjoint_calls_keep_each_others_ports():
    recorded = have(dict(WEB, publish=[]))
    one = target(params(["a"], [{"network": "web", "publish": [pub("a", 8001, "10.1.0.2")]}]), recorded)
    two = target(params(["b"], [{"network": "web", "publish": [pub("b", 8002, "10.1.0.3")]}]), one)
    assert [p[0] for p in ports(two["web"])] == ["a", "b"]
    unchanged = target(params(["b"], [{"network": "web", "publish": [pub("b", 8002, "10.1.0.3")]}]), two)
    assert unchanged == two


def test_withdrawing_from_an_unrecorded_network_is_a_no_op_and_adding_fails():
    recorded = have(WEB)
    assert target(params(["c9"], [{"network": "nope", "publish": []}]), recorded) == recorded
    with pytest.raises(ValidationError, match=r"nat network nope is not recorded.*must exist first"):
        target(params(["c9"], [{"network": "nope", "publish": [pub("c9", 1, "10.9.0.2")]}]), recorded)


def test_check_mode_warns_where_an_earlier_task_would_record_the_network():
    """site_fleet.yml --check: the bridge_network role's nat call records nothing, the endpoints' call follows."""
    recorded = have(WEB)
    warnings: list[str] = []
    req = params(["c9"], [{"network": "nope", "publish": [pub("c9", 1, "10.9.0.2")]}])
    assert target(req, recorded, True, warnings) == recorded
    assert warnings == [
        "nat network nope is not recorded (yet); check mode assumes an earlier task records it (endpoint ports of c9)"
    ]


@pytest.mark.parametrize(
    ("p", "message"),
    [
        (params(["c1"], [{"network": "web", "publish": [pub(None, 1, "10.1.0.2")]}]), "names endpoint None"),
        (params(["c1"], [{"network": "web", "publish": [pub("c2", 1, "10.1.0.2")]}]), "'c2', which is not in"),
        (params(["c1"], [{"network": "web", "bridge": "br0", "publish": []}]), "take only network and publish"),
        (params(["c1"], state="replaced"), "only with state=merged"),
        (params(["-x"]), "nat endpoints: endpoint '-x' is not allowed"),
        (params(["c1", "c1"]), "listed more than once"),
        (params("c1"), "must be a list"),
        (params(["c1"], [{"network": "web", "publish": [pub("c1", 70000, "10.1.0.2")]}]), "out of range"),
        (params(["c1"], [{"network": "a/b"}]), "nat network 'a/b' is not allowed"),
        ({"config": [dict(WEB, network="-web")], "record_path": REC}, "nat network '-web' is not allowed"),
        ({"config": [dict(WEB, icc="maybe")], "record_path": REC}, "icc: 'maybe' is not a boolean"),
        ({"config": [WEB], "record_path": REC, "force": "sure"}, "nat force: 'sure' is not a boolean"),
        ({"config": [WEB], "record_path": REC, "backend": "pf"}, "nat backend must be one of"),
        (params(["c1"], record_path="nat.json"), "must be an absolute path"),
    ],
)
def test_bad_endpoint_input(p, message):
    with pytest.raises(ValidationError, match=message):
        engine.validate(p)


def test_endpoint_port_outside_subnet_or_clashing_fails():
    recorded = have(WEB, DB)
    with pytest.raises(ValidationError, match="outside the network's subnets"):
        target(params(["c2"], [{"network": "web", "publish": [pub("c2", 8081, "10.2.0.3")]}]), recorded)
    after = target(params(["c2"], [{"network": "db", "publish": [pub("c2", 8080, "10.2.0.3")]}]), recorded)
    with pytest.raises(ValidationError, match=r"db \(endpoint c2\) and network web \(endpoint c1\) both"):
        engine.check_policy(list(after.values()))


def test_container_address6_publishes_the_same_port_on_both_families():
    net = parse_network(
        {
            "network": "dual",
            "bridge": "br0",
            "subnets": ["10.1.0.0/24", "fd00:1::/64"],
            "publish": [
                {"host_port": 8080, "container_address": "10.1.0.2", "container_address6": "fd00:1::2", "endpoint": "c"}
            ],
        }
    )
    assert [(p.host_ip, p.container_address, p.endpoint) for p in net.publish] == [
        ("0.0.0.0", "10.1.0.2", "c"),
        ("::", "fd00:1::2", "c"),
    ]
    six = iptables.render(derive_rules([net]), 6)["chains"]["nat"]["NETPLUMB"]
    assert six == ["-p tcp -m tcp --dport 8080 -m comment --comment dual -j DNAT --to-destination [fd00:1::2]:8080"]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"host_ip": "192.0.2.1", "container_address6": "fd00:1::2"}, "needs an IPv6 address"),
        ({"container_address6": "10.1.0.3"}, "needs an IPv6 address"),
        ({"container_address6": "fd00:9::2"}, "fd00:9::2 is outside the network's subnets"),
        ({"container_address6": "nope"}, "container_address6 'nope' is not a valid IP address"),
    ],
)
def test_bad_container_address6(item, message):
    entry = {"network": "dual", "bridge": "br0", "subnets": ["10.1.0.0/24", "fd00:1::/64"]}
    entry["publish"] = [{"host_port": 8080, "container_address": "10.1.0.2", **item}]
    with pytest.raises(ValidationError, match=message):
        parse_network(entry)


def test_publish_to_other_networks_returns_dnat_traffic_from_isolation():
    web = dict(WEB, publish_to_other_networks="yes")
    internal = {"network": "in", "bridge": "br9", "subnets": ["10.9.0.0/24"], "internal": True}
    iso = iptables.render(derive_rules([parse_network(web), parse_network(DB), parse_network(internal)]), 4)
    assert iso["chains"]["filter"]["NETPLUMB-ISOLATION-STAGE-1"][2:4] == [
        "-o br0 -m conntrack --ctstate DNAT -m comment --comment web -j RETURN",
        "-i br0 -m conntrack --ctstate DNAT --ctdir REPLY -m comment --comment web -j RETURN",
    ], "after the internal network's drops, before every isolation jump"
    plain = iptables.render(derive_rules([parse_network(WEB), parse_network(DB)]), 4)
    assert not any("RETURN" in r for r in plain["chains"]["filter"]["NETPLUMB-ISOLATION-STAGE-1"])


def test_the_owner_record_is_written_and_read_back():
    from ansible_collections.netplumb.container.plugins.module_utils._firewall import nftables

    r = derive_rules([parse_network(WEB)], owner=REC)
    fwd = iptables.render(r, 4)["chains"]["filter"]["NETPLUMB-FORWARD"]
    assert f"-m comment --comment record={REC} -j NETPLUMB-ISOLATION-STAGE-1" in fwd
    save = f'*filter\n:NETPLUMB-FORWARD - [0:0]\n-A NETPLUMB-FORWARD -m comment --comment "record={REC}" -j X\n'
    assert iptables.owner(iptables.parse_save(save)) == REC
    chains = nftables.render(r)
    assert nftables.owner({"rules": chains, "chains": {}}) == REC
    assert nftables.owner(None) is None
    with pytest.raises(engine.ConflictError, match=f"holds the rules of the record {REC}.*record_path is /b/nat.json"):
        engine.check_owner(REC, "/b/nat.json", "table inet netplumb")
    engine.check_owner(None, "/b/nat.json", "table inet netplumb")  # rules from before owners: adopted


@pytest.mark.parametrize("path", ["nat.json", "./x/nat.json", "/var/lib/a b.json", "/var/../etc/x", "/" + "a" * 130])
def test_bad_record_path_is_refused(path):
    with pytest.raises(ValidationError, match="nat record_path"):
        engine.validate({"config": [WEB], "record_path": path})


def test_big_ranges_are_checked_and_capped():
    def entry(name, octet, ports):
        publish = [{"host_port": 1024 + i, "container_address": f"10.{octet}.0.2"} for i in ports]
        return {"network": name, "bridge": f"br{octet}", "subnets": [f"10.{octet}.0.0/24"], "publish": publish}

    nets = [parse_network(entry("a", 1, range(5000))), parse_network(entry("b", 2, range(5000, 10000)))]
    engine.check_policy(nets)
    clash = parse_network(entry("c", 3, [9999]))
    with pytest.raises(ValidationError, match=r"network b and network c both publish 0.0.0.0:11023/tcp"):
        engine.check_policy([*nets[1:], clash])
    with pytest.raises(ValidationError, match="10001 published ports in the policy; at most 10000"):
        engine.check_policy([*nets, clash])
