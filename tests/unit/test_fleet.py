"""The fleet planner: variables, backend choice per pair, MTU, peers in and out, collisions, pinned, bad input."""

from __future__ import annotations

import json
import re

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._fleet import (
    parse_read,
    parse_vars,
    plan_fleet,
    preflight,
)
from ansible_collections.netplumb.container.plugins.module_utils._vxlan import vtep_mac

LEASES = "/srv/inv/netplumb-fleet-leases.json"


def read(address: str, prefix: int = 24, routes=(), links=(), mtu: int = 1500, routes6=(), default=True) -> str:
    """The output of the role's raw read of one host, as `ip -j` prints it."""
    net = ".".join(address.split(".")[:3]) + ".0"
    r4 = [{"dst": f"{net}/{prefix}", "dev": "ul0", "protocol": "kernel", "scope": "link", "prefsrc": address}]
    if default:
        r4.insert(0, {"dst": "default", "gateway": f"{net[:-1]}254", "dev": "ul0", "flags": []})
    r4 += list(routes)
    ifaces = [
        {
            "ifname": "lo",
            "mtu": 65536,
            "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host"}],
        },
        {
            "ifname": "ul0",
            "mtu": mtu,
            "addr_info": [{"family": "inet", "local": address, "prefixlen": prefix, "scope": "global"}],
        },
        *links,
    ]
    return f"#routes4\n{json.dumps(r4)}\n#routes6\n{json.dumps(list(routes6))}\n#links\n{json.dumps(ifaces)}\n"


def hosts_vars(names, **extra):
    raw = {"fleet_lease_file": LEASES, **extra}
    return {h: parse_vars(raw, h) for h in names}


SUBNETS = {"h1": "10.244.0.0/24", "h2": "10.244.1.0/24", "h3": "10.244.2.0/24"}
ONE_SEGMENT = {"h1": read("198.18.0.11"), "h2": read("198.18.0.12"), "h3": read("198.18.0.13")}
TWO_SEGMENTS = {"h1": read("198.18.0.11"), "h2": read("198.18.0.12"), "h3": read("198.18.1.13")}


def plan(reads=None, subnets=None, per_host=None, subnets6=None, **extra):
    reads = ONE_SEGMENT if reads is None else reads
    subnets = SUBNETS if subnets is None else subnets
    per_host = per_host or hosts_vars(sorted(reads), **extra)
    return plan_fleet(per_host, reads, subnets, subnets6, vtep_mac)


def test_host_gw_one_segment():
    p = plan(fleet_backend="auto")
    h1 = p["hosts"]["h1"]
    assert h1["routes"] == [
        {"dst": "10.244.1.0/24", "via": "198.18.0.12", "dev": "ul0", "onlink": False},
        {"dst": "10.244.2.0/24", "via": "198.18.0.13", "dev": "ul0", "onlink": False},
    ]
    assert h1["vxlan"] == [] and not h1["vxlan_call"]
    assert p["mtu"] == 1500 and not p["vxlan"]
    assert h1["network"] == {
        "name": "docker0",
        "bridge": "docker0",
        "subnet": "10.244.0.0/24",
        "mtu": 1500,
        "icc": True,
        "masquerade": True,
        "internal": False,
        "cluster_subnets": ["10.244.0.0/16"],
    }
    assert h1["backends"] == {"h2": "host-gw", "h3": "host-gw"}


def test_vxlan_forced_device_peers_routes_mtu():
    p = plan(fleet_backend="vxlan", fleet_vxlan_vni=7, fleet_vxlan_port=8472)
    h2 = p["hosts"]["h2"]
    assert h2["vxlan"] == [
        {
            "name": "fleet.7",
            "vni": 7,
            "port": 8472,
            "local": "198.18.0.12",
            "dev": "ul0",
            "mac": "0e:07:c6:12:00:0c",
            "mtu": 1450,
            "addresses": ["10.244.1.0/32"],
            "learning": False,
            "peers": [
                {"underlay": "198.18.0.11", "mac": "0e:07:c6:12:00:0b", "address": "10.244.0.0"},
                {"underlay": "198.18.0.13", "mac": "0e:07:c6:12:00:0d", "address": "10.244.2.0"},
            ],
        }
    ]
    assert h2["routes"] == [
        {"dst": "10.244.0.0/24", "via": "10.244.0.0", "dev": "fleet.7", "onlink": True},
        {"dst": "10.244.2.0/24", "via": "10.244.2.0", "dev": "fleet.7", "onlink": True},
    ]
    assert p["mtu"] == 1450 and h2["network"]["mtu"] == 1450


def test_auto_two_segments_is_direct_routing():
    p = plan(TWO_SEGMENTS)
    assert p["hosts"]["h1"]["backends"] == {"h2": "host-gw", "h3": "vxlan"}
    assert p["hosts"]["h3"]["backends"] == {"h1": "vxlan", "h2": "vxlan"}
    h1 = p["hosts"]["h1"]
    assert [peer["underlay"] for peer in h1["vxlan"][0]["peers"]] == ["198.18.1.13"]
    assert h1["routes"][0] == {"dst": "10.244.1.0/24", "via": "198.18.0.12", "dev": "ul0", "onlink": False}
    assert h1["routes"][1] == {"dst": "10.244.2.0/24", "via": "10.244.2.0", "dev": "fleet.1", "onlink": True}
    assert p["mtu"] == 1450  # one fleet MTU, also on the host-gw pairs


def test_mtu_is_the_smallest_underlay_minus_overhead():
    reads = dict(TWO_SEGMENTS, h2=read("198.18.0.12", mtu=1400))
    assert plan(reads)["mtu"] == 1350
    assert plan(dict(ONE_SEGMENT, h2=read("198.18.0.12", mtu=9000)))["mtu"] == 1500
    assert plan(ONE_SEGMENT, fleet_backend="host-gw")["hosts"]["h3"]["mtu"] == 1500


def test_peer_out_removes_its_routes_and_vxlan_peer():
    """h3 left the inventory: h1's routes and VXLAN peers to it go; the device keeps the others."""
    own = {"dst": "10.244.2.0/24", "gateway": "10.244.2.0", "dev": "fleet.1", "protocol": "78", "flags": ["onlink"]}
    kept = {"dst": "10.244.1.0/24", "gateway": "10.244.1.0", "dev": "fleet.1", "protocol": "78", "flags": ["onlink"]}
    foreign = {"dst": "192.168.7.0/24", "gateway": "198.18.0.1", "dev": "ul0", "protocol": "78"}
    reads = {"h1": read("198.18.0.11", routes=[own, kept, foreign]), "h2": read("198.18.0.12")}
    p = plan(reads, fleet_backend="vxlan")
    h1 = p["hosts"]["h1"]
    assert h1["stale_routes"] == [{"dst": "10.244.2.0/24"}]  # the route module's proto 78 outside the range stays
    assert [peer["address"] for peer in h1["vxlan"][0]["peers"]] == ["10.244.1.0"]
    assert p["members"] == ["h1", "h2"]


def test_absent_host_removes_its_mesh_and_the_others_drop_it():
    dev = {"ifname": "fleet.1", "mtu": 1450, "addr_info": []}
    br = {"ifname": "docker0", "mtu": 1450, "addr_info": []}
    to_h1 = {"dst": "10.244.0.0/24", "gateway": "10.244.0.0", "dev": "fleet.1", "protocol": "78"}
    to_h2 = {"dst": "10.244.1.0/24", "gateway": "10.244.1.0", "dev": "fleet.1", "protocol": "78"}
    reads = {
        "h1": read("198.18.0.11", links=[dev, br], routes=[to_h2]),
        "h2": read("198.18.0.12", links=[dev, br], routes=[to_h1]),
    }
    per_host = {"h1": parse_vars({"fleet_lease_file": LEASES, "fleet_backend": "vxlan"}, "h1")}
    per_host["h2"] = parse_vars({"fleet_lease_file": LEASES, "fleet_backend": "vxlan", "fleet_state": "absent"}, "h2")
    p = plan(reads, per_host=per_host)
    h1, h2 = p["hosts"]["h1"], p["hosts"]["h2"]
    assert h1["stale_routes"] == [{"dst": "10.244.1.0/24"}] and h1["vxlan"] == [] and h1["vxlan_call"]
    assert not h2["member"] and h2["routes"] == [] and h2["stale_routes"] == [{"dst": "10.244.0.0/24"}]
    assert h2["vxlan_call"] and h2["vxlan"] == []  # overridden with nothing: its device goes
    assert h2["network"]["subnet"] == "10.244.1.0/24" and h2["bridge_exists"]  # its lease is still known
    assert p["members"] == ["h1"]
    # Its lease released already: the slice its bridge still holds is removed all the same.
    bridge = dict(br, addr_info=[{"family": "inet", "local": "10.244.1.1", "prefixlen": 24, "scope": "global"}])
    reads["h2"] = read("198.18.0.12", links=[dev, bridge], routes=[to_h1])
    released = plan_fleet(per_host, reads, {"h1": "10.244.0.0/24"}, None, vtep_mac)["hosts"]["h2"]
    assert released["network"]["subnet"] == "10.244.1.0/24" and released["bridge_exists"]


def test_dual_stack_crosses_the_tunnel():
    subnets6 = {"h1": "fd00:244::/64", "h2": "fd00:244:0:1::/64"}
    reads = {"h1": read("198.18.0.11"), "h2": read("198.18.0.12")}
    p = plan(reads, subnets6=subnets6, fleet_backend="host-gw", fleet_cluster_cidr6="fd00:244::/48")
    h1 = p["hosts"]["h1"]
    assert h1["routes"] == [
        {"dst": "10.244.1.0/24", "via": "198.18.0.12", "dev": "ul0", "onlink": False},
        {"dst": "fd00:244:0:1::/64", "via": "fd00:244:0:1::", "dev": "fleet.1", "onlink": True},
    ]
    assert h1["vxlan"][0]["addresses"] == ["10.244.0.0/32", "fd00:244::/128"]
    assert h1["vxlan"][0]["peers"] == [
        {"underlay": "198.18.0.12", "mac": "0e:01:c6:12:00:0c", "address": "fd00:244:0:1::"}
    ]
    assert h1["network"]["subnet6"] == "fd00:244::/64" and p["mtu"] == 1450


@pytest.mark.parametrize(
    "route, where",
    [
        ({"dst": "10.244.1.0/24", "gateway": "198.18.0.99", "dev": "ul0", "protocol": "static"}, "h3"),
        ({"dst": "10.0.0.0/8", "gateway": "198.18.0.1", "dev": "ul0", "table": "100"}, "h3"),  # not on-link, any table
        ({"dst": "10.244.1.128/25", "dev": "br-x", "protocol": "kernel", "scope": "link"}, "h3"),
        ({"type": "blackhole", "dst": "10.244.1.0/24"}, "h3"),
    ],
)
def test_collision_names_host_route_and_slice(route, where):
    reads = dict(ONE_SEGMENT, h3=read("198.18.0.13", routes=[route]))
    with pytest.raises(ConflictError) as exc:
        plan(reads)
    prefix = "blackhole " if route.get("type") else ""
    assert f"the slice 10.244.1.0/24 of h2 collides with the route {prefix}{route['dst']}" in exc.value.msg
    assert f"on {where}" in exc.value.msg and "Nothing was changed" in exc.value.msg


def test_collision_with_an_address_and_the_underlay():
    addr = {
        "ifname": "eth9",
        "mtu": 1500,
        "addr_info": [{"family": "inet", "local": "10.244.2.7", "prefixlen": 32, "scope": "global"}],
    }
    with pytest.raises(
        ConflictError,
        match=r"the slice 10\.244\.2\.0/24 of h3 collides with the address 10\.244\.2\.7/32 on eth9 on h1",
    ):
        plan(dict(ONE_SEGMENT, h1=read("198.18.0.11", links=[addr])))
    with pytest.raises(ConflictError, match=r"underlay network 10\.244\.0\.0/24 of h1 overlaps fleet_cluster_cidr"):
        plan({"h1": read("10.244.0.5"), "h2": read("198.18.0.12")})


def test_own_objects_are_not_collisions():
    """A rerun: the bridge's route and gateway, the VTEP address and the mesh routes are the fleet's own."""
    bridge = {"dst": "10.244.0.0/24", "dev": "docker0", "protocol": "kernel", "scope": "link"}
    mesh = {"dst": "10.244.1.0/24", "gateway": "198.18.0.12", "dev": "ul0", "protocol": "78"}
    named = {"dst": "10.244.2.0/24", "gateway": "198.18.0.13", "dev": "ul0", "protocol": "netplumb"}
    links = [
        {
            "ifname": "docker0",
            "mtu": 1500,
            "addr_info": [{"family": "inet", "local": "10.244.0.1", "prefixlen": 24, "scope": "global"}],
        },
        {
            "ifname": "fleet.1",
            "mtu": 1450,
            "addr_info": [{"family": "inet", "local": "10.244.0.0", "prefixlen": 32, "scope": "global"}],
        },
    ]
    p = plan(dict(ONE_SEGMENT, h1=read("198.18.0.11", routes=[bridge, mesh, named], links=links)))
    assert p["hosts"]["h1"]["stale_routes"] == []
    # The same bridge route on another host is a collision: two hosts would claim one slice.
    with pytest.raises(ConflictError, match=re.escape("of h1 collides with the route 10.244.0.0/24 dev docker0 on h2")):
        plan(dict(ONE_SEGMENT, h2=read("198.18.0.12", routes=[bridge])))


def test_preflight_new_leases_are_replanned_existing_ones_fail():
    reads = dict(ONE_SEGMENT, h1=read("198.18.0.11", routes=[{"dst": "10.244.2.0/23", "dev": "wg0"}]))
    per_host = hosts_vars(sorted(reads))
    new_h3 = {"subnets": SUBNETS, "actions": [{"op": "create", "kind": "subnet lease", "name": "h3"}]}
    result = preflight(per_host, reads, new_h3)
    assert result["replan"] and "10.244.2.0/23" in result["exclude"] and "198.18.0.0/24" in result["exclude"]
    with pytest.raises(
        ConflictError, match=re.escape("the slice 10.244.2.0/24 of h3 collides with the route 10.244.2.0/23 dev wg0")
    ):
        preflight(per_host, reads, {"subnets": SUBNETS, "actions": []})
    assert not preflight(per_host, ONE_SEGMENT, {"subnets": SUBNETS, "actions": []})["replan"]


def test_underlay_from_default_route_or_given():
    p = plan({"h1": read("198.18.0.11"), "h2": read("198.18.0.12")})
    assert p["hosts"]["h1"]["underlay"] == {
        "address": "198.18.0.11",
        "network": "198.18.0.0/24",
        "interface": "ul0",
        "mtu": 1500,
    }
    no_default = {"h1": read("198.18.0.11", default=False), "h2": read("198.18.0.12")}
    with pytest.raises(ValidationError, match=r"h1: the host has no IPv4 default route.*fleet_underlay_address"):
        plan(no_default)
    given = {
        "h1": parse_vars({"fleet_lease_file": LEASES, "fleet_underlay_address": "198.18.0.11/16"}, "h1"),
        "h2": parse_vars({"fleet_lease_file": LEASES}, "h2"),
    }
    p = plan(no_default, per_host=given)
    assert p["hosts"]["h1"]["underlay"]["network"] == "198.18.0.0/16"
    assert p["hosts"]["h1"]["backends"] == {"h2": "vxlan"}  # another subnet: another segment for auto
    wrong = dict(given, h1=parse_vars({"fleet_lease_file": LEASES, "fleet_underlay_address": "198.18.0.99"}, "h1"))
    with pytest.raises(
        ValidationError, match=re.escape("fleet_underlay_address 198.18.0.99 is not an address of the host")
    ):
        plan(no_default, per_host=wrong)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("fleet_cluster_cidr", "10.244.0.1/16", "fleet_cluster_cidr: '10.244.0.1/16' is not a subnet"),
        ("fleet_cluster_cidr", "fd00::/48", "fleet_cluster_cidr: fd00::/48 is not an IPv4 subnet"),
        ("fleet_host_prefix", "24x", "fleet_host_prefix: '24x' is not a whole number"),
        ("fleet_host_prefix", 8, "fleet_host_prefix: 8 is out of range (16-30)"),
        ("fleet_host_prefix", True, "fleet_host_prefix: True is not a whole number"),
        ("fleet_backend", "flannel", "fleet_backend 'flannel' must be one of host-gw, vxlan, auto"),
        ("fleet_vxlan_vni", 0, "fleet_vxlan_vni: 0 is out of range"),
        ("fleet_vxlan_port", "http", "fleet_vxlan_port: 'http' is not a whole number"),
        ("fleet_bridge", "a-very-long-bridge-name", "fleet_bridge 'a-very-long-bridge-name' is 23 bytes long"),
        ("fleet_bridge", "fleet.2", "fleet_bridge 'fleet.2' starts with 'fleet.'"),
        ("fleet_network_name", "../x", "fleet_network_name '../x' is not allowed"),
        ("fleet_underlay_address", "fd00::1", "fleet_underlay_address 'fd00::1' is not an IPv4 address"),
        ("fleet_underlay_address", "host1", "fleet_underlay_address 'host1' is not a valid IP address"),
        ("fleet_lease_file", "leases.json", "fleet_lease_file must be an absolute path"),
        ("fleet_pinned", {"h1": "10.245.0.0/24"}, "fleet_pinned[h1]: 10.245.0.0/24 is not a /24 inside"),
        ("fleet_pinned", ["h1"], "fleet_pinned must be a mapping"),
        ("fleet_release", "h3", "fleet_release must be a list of inventory hostnames"),
        ("fleet_state", "gone", "fleet_state 'gone' must be present or absent"),
        ("fleet_cluster_cidr6", "10.0.0.0/8", "fleet_cluster_cidr6: 10.0.0.0/8 is not an IPv6 subnet"),
    ],
)
def test_bad_variables_name_the_variable_and_value(key, value, message):
    with pytest.raises(ValidationError) as exc:
        parse_vars({"fleet_lease_file": LEASES, key: value}, "h2")
    assert exc.value.msg.startswith("fleet on h2: ") and message in exc.value.msg


def test_strings_where_numbers_belong_are_read_as_numbers():
    v = parse_vars({"fleet_lease_file": LEASES, "fleet_host_prefix": "26", "fleet_vxlan_vni": "42"}, "h1")
    assert v["fleet"]["prefix"] == 26 and v["fleet"]["vni"] == 42


def test_hosts_must_agree_and_release_only_who_left():
    per_host = hosts_vars(["h1", "h2"])
    per_host["h2"] = parse_vars({"fleet_lease_file": LEASES, "fleet_backend": "vxlan"}, "h2")
    with pytest.raises(ValidationError, match=re.escape("disagree on fleet_backend: h1 has 'auto', h2 has 'vxlan'")):
        plan({"h1": read("198.18.0.11"), "h2": read("198.18.0.12")}, per_host=per_host)
    with pytest.raises(ValidationError, match=re.escape("fleet_release names h2, which still is in the fleet")):
        plan({"h1": read("198.18.0.11"), "h2": read("198.18.0.12")}, fleet_release=["h2", "h9"])


def test_same_underlay_twice_is_refused():
    with pytest.raises(ValidationError, match=re.escape("h1 and h2 have the same underlay address 198.18.0.11")):
        plan({"h1": read("198.18.0.11"), "h2": read("198.18.0.11")})


def test_read_without_json_is_a_clear_error():
    with pytest.raises(ValidationError, match=re.escape("iproute2 with JSON output")):
        parse_read('#routes4\nOption "-j" is unknown\n#routes6\n[]\n#links\n[]\n', "h1")
    with pytest.raises(ValidationError, match=re.escape("gave no output")):
        parse_read("sh: ip: not found\n", "h1")


def test_slice_network_carries_the_cluster_to_the_firewall():
    """bridge_network passes a network's cluster_subnets to the nat module (forwarded in, not masqueraded)."""
    from ansible_collections.netplumb.container.plugins.module_utils._networks import normalise_networks

    network = plan(fleet_cluster_cidr6="fd00:244::/48")
    slice_net = network["hosts"]["h1"]["network"]
    assert slice_net["cluster_subnets"] == ["10.244.0.0/16", "fd00:244::/48"]
    nat = normalise_networks([slice_net])[0]["nat_config"]
    assert nat["cluster_subnets"] == ["10.244.0.0/16", "fd00:244::/48"]
    with pytest.raises(ValidationError, match=r"bridge_network_networks\[0\]\.cluster_subnets: 'x' is not a subnet"):
        normalise_networks([dict(slice_net, cluster_subnets=["x"])])
