"""The bridge_network role's network list: Docker's defaults and errors naming the variable."""

from __future__ import annotations

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._networks import DOCKER_DEFAULT, normalise_networks


def test_docker_default():
    [net] = normalise_networks([DOCKER_DEFAULT])
    assert net["addresses"] == ["172.17.0.1/16"]
    assert net["pools"] == [{"subnet": "172.17.0.0/16", "gateway": "172.17.0.1"}]
    assert net["bridge_config"] == {"name": "docker0", "addresses": ["172.17.0.1/16"], "mtu": 1500}
    assert net["nat_config"] == {
        "network": "docker0",
        "bridge": "docker0",
        "subnets": ["172.17.0.0/16"],
        "masquerade": True,
        "icc": True,
        "internal": False,
        "publish_to_other_networks": False,
    }
    assert (net["bridge"], net["mtu"], net["icc"], net["masquerade"], net["internal"]) == (
        "docker0",
        1500,
        True,
        True,
        False,
    )


def test_dual_stack_and_defaults():
    [net] = normalise_networks([{"name": "app", "subnet": "10.1.0.0/24", "subnet6": "fd00:1::/64"}])
    assert net["bridge"] == "app"
    assert net["addresses"] == ["10.1.0.1/24", "fd00:1::1/64"]
    assert net["subnets"] == ["10.1.0.0/24", "fd00:1::/64"]


@pytest.mark.parametrize(
    "networks,message",
    [
        ([{"name": "a"}], r"bridge_network_networks\[0\]\.subnet is required"),
        ([{"name": "a", "subnet": "10.0.0.1/24"}], r"\[0\]\.subnet: '10.0.0.1/24' is not a subnet"),
        ([{"name": "a", "subnet": "fd00::/64"}], "not an IPv4 subnet"),
        ([{"name": "a", "subnet": "10.0.0.0/24", "gateway": "10.0.1.1"}], r"\[0\]\.gateway: 10.0.1.1 is not a usable"),
        ([{"name": "a", "subnet": "10.0.0.0/24", "ip_range": "10.0.1.0/25"}], "not inside the subnet"),
        ([{"name": "a", "bridge": "x" * 16, "subnet": "10.0.0.0/24"}], "at most 15"),
        ([{"name": "a", "subnet": "10.0.0.0/24", "mtu": 20}], r"\[0\]\.mtu: 20 is out of range \(68-65535\)"),
        (
            [{"name": "a", "subnet": "10.0.0.0/16"}, {"name": "b", "subnet": "10.0.5.0/24"}],
            "subnets of a .* and b .* overlap",
        ),
        ([{"name": "a", "subnet": "10.0.0.0/24"}, {"name": "a", "subnet": "10.1.0.0/24"}], "name 'a'"),
    ],
)
def test_errors_name_the_variable(networks, message):
    with pytest.raises(ValidationError, match=message):
        normalise_networks(networks)


def test_null_is_dockers_default_and_empty_is_none():
    assert [n["name"] for n in normalise_networks(None)] == ["docker0"]
    assert normalise_networks([]) == []


@pytest.mark.parametrize(
    "value,expected",
    [("false", False), ("no", False), ("0", False), (0, False), ("true", True), ("yes", True), ("1", True)],
)
def test_flags_are_read_with_ansibles_rules(value, expected):
    [net] = normalise_networks(
        [{"name": "a", "subnet": "10.0.0.0/24", "icc": value, "masquerade": value, "internal": value}]
    )
    assert (net["icc"], net["masquerade"], net["internal"]) == (expected, expected, expected)
    assert net["nat_config"]["icc"] is expected and net["nat_config"]["internal"] is expected


@pytest.mark.parametrize("key", ["icc", "masquerade", "internal"])
def test_unreadable_flag_names_the_variable_and_value(key):
    with pytest.raises(ValidationError, match=rf"^nets\[0\]\.{key}: 'maybe' is not a boolean"):
        normalise_networks([{"name": "a", "subnet": "10.0.0.0/24", key: "maybe"}], "nets")


@pytest.mark.parametrize("name", ["-web", "a/b", "a b", "nét", "../../../../etc/fz", ".hidden", "_x", "x" * 65, 7])
def test_network_names_follow_the_one_rule(name):
    with pytest.raises(ValidationError, match=r"^bridge_network_networks\[0\]\.name .* is not allowed"):
        normalise_networks([{"name": name, "bridge": "br0", "subnet": "10.0.0.0/24"}])


def test_mtu_as_a_string_is_read_and_bad_aux_address_named():
    [net] = normalise_networks([{"name": "a", "subnet": "10.0.0.0/24", "mtu": "1400"}])
    assert net["mtu"] == 1400
    with pytest.raises(ValidationError, match=r"\[0\]\.aux_addresses\.r: 10\.9\.0\.1 is outside"):
        normalise_networks([{"name": "a", "subnet": "10.0.0.0/24", "aux_addresses": {"r": "10.9.0.1"}}])


def test_outbound_address_goes_to_nat():
    [net] = normalise_networks([{"name": "a", "subnet": "10.0.0.0/24", "outbound_address": "198.18.0.11"}])
    assert net["nat_config"]["outbound_address"] == "198.18.0.11"
    with pytest.raises(ValidationError, match=r"\[0\]\.outbound_address: fd00::1 is not an IPv4 address"):
        normalise_networks([{"name": "a", "subnet": "10.0.0.0/24", "outbound_address": "fd00::1"}])
    assert "outbound_address" not in normalise_networks([{"name": "a", "subnet": "10.0.0.0/24"}])[0]["nat_config"]


@pytest.mark.parametrize(("value", "expected"), [("yes", True), ("false", False), (True, True), (None, False)])
def test_publish_to_other_networks_goes_to_nat(value, expected):
    [net] = normalise_networks([{"name": "a", "subnet": "10.0.0.0/24", "publish_to_other_networks": value}])
    assert net["nat_config"]["publish_to_other_networks"] is expected


def test_publish_to_other_networks_rejects_junk():
    with pytest.raises(ValidationError, match=r"\[0\]\.publish_to_other_networks.*maybe"):
        normalise_networks([{"name": "a", "subnet": "10.0.0.0/24", "publish_to_other_networks": "maybe"}])


def test_dnat_subnets_reach_the_nat_config():
    net = {
        "name": "docker0",
        "subnet": "10.244.3.0/24",
        "ip_range": "10.244.3.0/25",
        "dnat_subnets": ["10.244.3.128/25"],
    }
    (out,) = normalise_networks([net])
    assert out["nat_config"]["dnat_subnets"] == ["10.244.3.128/25"]
    assert out["pools"][0]["ip_range"] == "10.244.3.0/25"
    with pytest.raises(ValidationError, match=r"bridge_network_networks\[0\]\.dnat_subnets: 'x' is not a subnet"):
        normalise_networks([dict(net, dnat_subnets=["x"])])
