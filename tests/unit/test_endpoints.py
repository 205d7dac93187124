"""The endpoints planner: Docker's publish syntax, modes, and module inputs."""

from __future__ import annotations

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._endpoints import (
    Publish,
    check_against_networks,
    host_veth_name,
    ipam_requests,
    leftovers,
    links,
    parse_containers,
    parse_publish,
    ports,
    role_plan,
)
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import model
from ansible_collections.netplumb.container.plugins.module_utils._networks import normalise_networks

NETS = ["docker0", "backend"]


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("8080:80", [Publish("0.0.0.0", 8080, None, 80, "tcp", "c")]),
        ("127.0.0.1:5353:53/udp", [Publish("127.0.0.1", 5353, None, 53, "udp", "c")]),
        ("[::1]:8080:80", [Publish("::1", 8080, None, 80, "tcp", "c")]),
        (
            "8000-8001:80-81/sctp",
            [Publish("0.0.0.0", 8000, None, 80, "sctp", "c"), Publish("0.0.0.0", 8001, None, 81, "sctp", "c")],
        ),
        ({"host_port": 81, "container_port": 8081}, [Publish("0.0.0.0", 81, None, 8081, "tcp", "c")]),
    ],
)
def test_publish_syntax(spec, expected):
    assert parse_publish(spec, "c") == expected


@pytest.mark.parametrize(
    "spec,message",
    [
        ("80", "host port is required"),
        ("8080:80/icmp", "protocol 'icmp'"),
        ("70000:80", r"port: 70000 is out of range \(1-65535\)"),
        ("0:80", r"port: 0 is out of range"),
        ("300.1.1.1:80:80", "host address '300.1.1.1' is not a valid IP address"),
        ("8000-8002:80-81", "maps 3 host ports to 2"),
        ("9-8:80-81", "reversed"),
    ],
)
def test_publish_errors(spec, message):
    with pytest.raises(ValidationError, match=message):
        parse_publish(spec, "c")


def test_modes_and_defaults():
    eps = parse_containers(
        [
            {"name": "web", "publish": ["8080:80"]},
            {"name": "db", "networks": ["backend", {"name": "docker0", "address": "172.17.0.9"}]},
            {"name": "quiet", "mode": "none"},
            {"name": "hostnet", "mode": "host"},
            {"name": "sidecar", "mode": "container:web"},
        ],
        NETS,
    )
    assert [(e.name, e.mode) for e in eps] == [
        ("web", "bridge"),
        ("db", "bridge"),
        ("quiet", "none"),
        ("hostnet", "host"),
        ("sidecar", "container"),
    ]
    assert eps[0].networks == (("docker0", None),)
    assert eps[1].networks == (("backend", None), ("docker0", "172.17.0.9"))
    assert ipam_requests(eps) == {
        "docker0": [{"endpoint": "web"}, {"endpoint": "db", "address": "172.17.0.9"}],
        "backend": [{"endpoint": "db"}],
    }


@pytest.mark.parametrize(
    "containers,message",
    [
        ([{"name": "a"}, {"name": "a"}], "more than once"),
        ([{"name": "a", "networks": ["nope"]}], "unknown network 'nope'"),
        ([{"name": "a", "mode": "container:gone"}], "which is not listed"),
        ([{"name": "h", "mode": "host"}, {"name": "a", "mode": "container:h"}], "has no namespace"),
        ([{"name": "a", "mode": "macvlan"}], "is not one of"),
        ([{"name": "a", "mode": "none", "publish": ["1:1"]}], "only apply to mode bridge"),
        (
            [{"name": "a", "publish": ["80:80"]}, {"name": "b", "publish": ["80:8080"]}],
            "of b is already published by a",
        ),
        (
            [{"name": "a", "publish": ["127.0.0.1:80:80"]}, {"name": "b", "publish": ["80:80"]}],
            "0.0.0.0:80/tcp of b is already published by a",
        ),
        (
            [{"name": "a", "publish": ["80:80"]}, {"name": "b", "publish": ["127.0.0.1:80:80"]}],
            "127.0.0.1:80/tcp of b is already published by a",
        ),
        ([{"name": "a/b"}], "not allowed"),
        ([{"name": "a", "networks": ["docker0", "docker0"]}], "twice"),
    ],
)
def test_container_errors(containers, message):
    with pytest.raises(ValidationError, match=message):
        parse_containers(containers, NETS)


def test_plan_and_fill_docker_default():
    eps = parse_containers(
        [{"name": "web", "publish": ["8080:80"]}, {"name": "q", "mode": "none"}, {"name": "h", "mode": "host"}], NETS
    )
    plan = role_plan(eps, DEFS)
    assert plan["ipam"]["endpoints"] == [
        {"name": "web", "mode": "bridge", "networks": [{"name": "docker0"}]},
        {"name": "q", "mode": "none"},
        {"name": "h", "mode": "host"},
    ]
    assert [n["name"] for n in plan["ipam"]["networks"]] == ["docker0", "backend"]
    off = {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}
    assert plan["netns"] == [{"name": "web", "sysctls": off}, {"name": "q", "sysctls": off}]
    assert plan["names"] == ["web", "q", "h"]
    allocs = {
        "docker0": {
            "web": {
                "addresses": ["172.17.0.2/16"],
                "ipv4": "172.17.0.2",
                "gateway": "172.17.0.1",
                "mac": "02:42:ac:11:00:02",
            }
        }
    }
    assert links(plan["veth"], allocs) == [
        {
            "name": host_veth_name("web", "docker0"),
            "bridge": "docker0",
            "host_mtu": 1500,
            "hairpin": True,
            "peer": {
                "name": "eth0",
                "netns": "web",
                "addresses": ["172.17.0.2/16"],
                "mac": "02:42:ac:11:00:02",
                "mtu": 1500,
                "gateway": ["172.17.0.1"],
            },
        }
    ]
    assert ports(plan["ports"], allocs) == [
        {
            "network": "docker0",
            "publish": [
                {
                    "endpoint": "web",
                    "host_ip": "0.0.0.0",
                    "host_port": 8080,
                    "container_address": "172.17.0.2",
                    "container_port": 80,
                    "proto": "tcp",
                }
            ],
        }
    ]
    assert role_plan(eps, DEFS, disable_ipv6=False)["netns"] == [{"name": "web"}, {"name": "q"}]


def alloc(ip):
    return {"addresses": [f"{ip}/24"], "ipv4": ip, "gateway": ip.rsplit(".", 1)[0] + ".1"}


@pytest.mark.parametrize(
    "container,gateway_links",
    [
        ({"name": "a", "networks": ["backend", "docker0"]}, ["eth1"]),  # like Docker: not the internal one
        ({"name": "a", "networks": ["docker0", "backend"]}, ["eth0"]),
        ({"name": "a", "networks": ["backend"]}, []),  # internal only: no way out, no default route
        ({"name": "a", "networks": ["docker0", "backend"], "gateway_network": "backend"}, ["eth1"]),
    ],
)
def test_default_route_like_docker_or_chosen(container, gateway_links):
    plan = role_plan(parse_containers([container], NETS), DEFS)
    allocs = {"docker0": {"a": alloc("172.17.0.2")}, "backend": {"a": alloc("10.9.0.2")}}
    out = links(plan["veth"], allocs)
    assert [v["peer"]["name"] for v in out if "gateway" in v["peer"]] == gateway_links


def test_fixed_mac_and_sysctls():
    [ep] = parse_containers(
        [{"name": "a", "mac": "02-AA-00-00-00-01", "sysctls": {"net.ipv4.ip_unprivileged_port_start": 0}}], NETS
    )
    plan = role_plan([ep], DEFS)
    assert plan["netns"][0]["sysctls"]["net.ipv4.ip_unprivileged_port_start"] == "0"
    out = links(plan["veth"], {"docker0": {"a": {**alloc("172.17.0.2"), "mac": "02:42:ac:11:00:02"}}})
    assert out[0]["peer"]["mac"] == "02:aa:00:00:00:01"


def test_leftovers_from_the_ipam_result():
    removed = [{"name": "old", "mode": "bridge"}, {"name": "side", "mode": "container"}, {"name": "n", "mode": "none"}]
    out = leftovers(removed, {"two": ["a", "old"]}, ["a"])
    assert out == {
        "netns": [{"name": "old"}, {"name": "n"}],
        "veth": [{"name": host_veth_name("a", "two")}],
        "names": ["old", "side", "n"],
    }


def test_host_veth_names_are_short_and_stable():
    name = host_veth_name("a-very-long-container-name-indeed", "docker0")
    assert len(name) == 13 and name.startswith("vnp")
    assert name == host_veth_name("a-very-long-container-name-indeed", "docker0")
    assert name != host_veth_name("a-very-long-container-name-indeed", "backend")


DEFS = {
    net["name"]: net
    for net in normalise_networks(
        [
            {"name": "docker0", "subnet": "172.17.0.0/16", "aux_addresses": {"router": "172.17.0.254"}},
            {"name": "backend", "subnet": "10.9.0.0/24", "gateway": "10.9.0.1", "internal": True},
        ]
    )
}


@pytest.mark.parametrize(
    "containers,message",
    [
        ([{"name": "a", "address": "10.0.0.5"}], r"network docker0: endpoint a: address 10.0.0.5 is outside the sub"),
        ([{"name": "a", "address": "172.17.0.1"}], "172.17.0.1 is the gateway of 172.17.0.0/16"),
        ([{"name": "a", "address": "172.17.0.0"}], "172.17.0.0 is the network address of 172.17.0.0/16"),
        ([{"name": "a", "address": "172.17.255.255"}], "is the broadcast address of 172.17.0.0/16"),
        ([{"name": "a", "address": "172.17.0.254"}], "is the aux address 'router' of"),
        ([{"name": "a", "address": "fd00::5"}], "network docker0: endpoint a: address fd00::5 has no IPv6 pool"),
        ([{"name": "a", "networks": ["backend"], "publish": ["80:80"]}], "backend is internal"),
        ([{"name": "a", "gateway_network": "backend"}], "gateway_network 'backend' is not one of its networks"),
        ([{"name": "a", "mac": "01:00:5e:00:00:01"}], "multicast MAC"),
        ([{"name": "a", "sysctls": {"kernel.panic": 1}}], "'kernel.panic' is not a per-namespace sysctl"),
        ([{"name": "a", "sysctls": {"net.ipv4.ip_forward": "é"}}], "is not printable ASCII"),
        ([{"name": "a", "mode": "host", "mac": "02:00:00:00:00:01"}], "only apply to mode bridge"),
        ([{"name": "a", "publish": ["[::]:80:80"]}], "has no IPv6 subnet"),
    ],
)
def test_checks_against_network_definitions(containers, message):
    with pytest.raises(ValidationError, match=message):
        check_against_networks(parse_containers(containers, NETS), DEFS)


def test_udp_and_tcp_on_one_port_do_not_clash():
    eps = parse_containers([{"name": "a", "publish": ["53:53/udp"]}, {"name": "b", "publish": ["53:53"]}], NETS)
    check_against_networks(eps, DEFS)


def test_a_huge_port_range_is_checked_in_one_pass():
    """20000-65535 (issue 10: a quadratic check hung for minutes); a clash inside it is still found."""
    eps = parse_containers([{"name": "a", "publish": ["20000-65535:20000-65535"]}], NETS)
    assert len(eps[0].publish) == 45536
    with pytest.raises(ValidationError, match=r"host port 0\.0\.0\.0:30000/tcp of b is already published by a"):
        parse_containers(
            [{"name": "a", "publish": ["20000-65535:20000-65535"]}, {"name": "b", "publish": ["30000:1"]}], NETS
        )


@pytest.mark.parametrize(
    "first,second,clash",
    [
        ("127.0.0.1:80:80", "80:80", True),
        ("80:80", "127.0.0.1:80:80", True),
        ("127.0.0.1:80:80", "127.0.0.2:80:80", False),
        ("[::]:80:80", "80:80", False),
        ("10.0.0.1:80:80", "10.0.0.1:80:81", True),
    ],
)
def test_host_port_clash_rule(first, second, clash):
    """The role's pre-flight and the nat module judge host ports with one rule, on one Publish type."""
    containers = [{"name": "a", "publish": [first]}, {"name": "b", "publish": [second]}]
    parsed = [parse_publish(spec, name) for name, spec in (("a", first), ("b", second))]
    assert all(isinstance(p, model.Publish) for p in parsed[0] + parsed[1])
    # what the nat module gets once ipam has given the addresses: one network per container
    nets = [
        model.Network(name=f"n{i}", bridge=f"br{i}", subnets=(), publish=tuple(pubs)) for i, pubs in enumerate(parsed)
    ]
    if clash:
        with pytest.raises(ValidationError, match="is already published by a"):
            parse_containers(containers, NETS)
        with pytest.raises(ValidationError, match=r"nat network n0 \(endpoint a\) and network n1 \(endpoint b\)"):
            model.check_published(nets)
    else:
        parse_containers(containers, NETS)
        model.check_published(nets)


def _dual(publish):
    nets = {
        n["name"]: n for n in normalise_networks([{"name": "d", "subnet": "10.8.0.0/24", "subnet6": "fd00:8::/64"}])
    }
    eps = parse_containers([{"name": "web", "networks": ["d"], "publish": publish}], ["d"])
    alloc6 = {"addresses": ["10.8.0.2/24", "fd00:8::2/64"], "ipv4": "10.8.0.2", "ipv6": "fd00:8::2"}
    return role_plan(eps, nets)["ports"], {"d": {"web": alloc6}}, nets["d"]


@pytest.mark.parametrize(
    "publish,expected6,nat6",
    [
        (["8080:80"], {(8080, "tcp"): "fd00:8::2"}, [(8080, "fd00:8::2", 80, "tcp")]),
        (["0.0.0.0:8080:80/udp"], {(8080, "udp"): "fd00:8::2"}, [(8080, "fd00:8::2", 80, "udp")]),
        (["127.0.0.1:8080:80"], {(8080, "tcp"): None}, []),
        # an explicit IPv6 publish of the same port keeps its own; the IPv4 one gets no second ::
        (["8080:80", "[::]:8080:81"], {(8080, "tcp"): None}, [(8080, "fd00:8::2", 81, "tcp")]),
    ],
)
def test_all_addresses_publish_also_on_ipv6(publish, expected6, nat6):
    templates, allocs, net = _dual(publish)
    [entry] = ports(templates, allocs)
    got = {(p["host_port"], p["proto"]): p.get("container_address6") for p in entry["publish"] if p["host_ip"] != "::"}
    assert got == expected6
    # what the nat module makes of it: the same port on :: to the container's IPv6 address, or not
    parsed = model.parse_network({**net["nat_config"], **entry})
    on_any6 = [(p.host_port, p.container_address, p.container_port, p.proto) for p in parsed.publish if p.family == 6]
    assert on_any6 == nat6


def test_ipv4_only_container_gets_no_ipv6_publish():
    templates, allocs, _net = _dual(["8080:80"])
    allocs["d"]["web"] = {"addresses": ["10.8.0.2/24"], "ipv4": "10.8.0.2"}
    [entry] = ports(templates, allocs)
    assert "container_address6" not in entry["publish"][0]
