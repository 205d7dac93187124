"""The shared parsers: Ansible's boolean rules, names, subnets, numbers."""

from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_ifname,
    check_netns_name,
    check_network_name,
    first_overlap,
    parse_bool,
    parse_int,
    parse_ip,
    parse_subnet,
)


@pytest.mark.parametrize("value", [True, 1, "yes", "on", "1", "true", "True", " TRUE ", "y", "t"])
def test_true_values(value):
    assert parse_bool(value, "icc") is True


@pytest.mark.parametrize("value", [False, 0, "no", "off", "0", "false", "False", "n", "f"])
def test_false_values(value):
    assert parse_bool(value, "icc") is False


@pytest.mark.parametrize("value", ["maybe", "", 2, [], {}, None])
def test_unreadable_booleans_are_errors_naming_the_option(value):
    with pytest.raises(ValidationError, match=r"^networks\[0\]\.icc: .* is not a boolean"):
        parse_bool(value, "networks[0].icc")


def test_none_takes_the_default():
    assert parse_bool(None, "icc", default=True) is True


@pytest.mark.parametrize("name", ["-web", "a/b", "a b", "nét", "../../../../etc/fz", ".x", "", "x" * 65, None])
def test_bad_network_names(name):
    with pytest.raises(ValidationError, match="network name"):
        check_network_name(name)


@pytest.mark.parametrize("name", ["docker0", "web.net", "a_b-c", "1st", "x" * 64])
def test_good_network_names(name):
    assert check_network_name(name) == name


def test_interface_and_netns_names_refuse_a_leading_dash():
    with pytest.raises(ValidationError):
        check_ifname("-eth0")
    with pytest.raises(ValidationError):
        check_netns_name("-web")


def test_subnet_needs_cidr_without_host_bits_and_the_right_version():
    assert str(parse_subnet("10.0.0.0/8", "subnet", 4)) == "10.0.0.0/8"
    with pytest.raises(ValidationError, match=r"subnet: '10\.0\.0\.1/8'"):
        parse_subnet("10.0.0.1/8", "subnet")
    with pytest.raises(ValidationError, match="not an IPv6 subnet"):
        parse_subnet("10.0.0.0/8", "subnet6", 6)


@pytest.mark.parametrize("value", [True, 1.5, "12a", -1, "-1", None])
def test_whole_numbers_only(value):
    with pytest.raises(ValidationError, match="port"):
        parse_int(value, "port", 1, 65535)


def test_numbers_out_of_range():
    with pytest.raises(ValidationError, match="70000 is out of range"):
        parse_int(70000, "port", 1, 65535)
    assert parse_int("80", "port", 1, 65535) == 80


def test_addresses_with_a_zone_are_refused():
    """fe80::1%eth0 parses in Python, but neither netlink nor the firewalls take a zone; "::%eth0" would
    otherwise not count as the wildcard :: when host ports are compared."""
    assert str(parse_ip("fe80::1")) == "fe80::1"
    for value in ("fe80::1%eth0", "::%eth0"):
        with pytest.raises(ValidationError, match=r"host_ip .* has a zone \(%eth0\)"):
            parse_ip(value, "host_ip")


def test_the_overlap_search_finds_a_pair_of_different_owners_or_none():
    assert first_overlap([("a", "10.0.0.0/24"), ("b", "10.0.1.0/24"), ("a", "10.0.0.0/16")]) == (
        ("a", ipaddress.ip_network("10.0.0.0/16")),
        ("b", ipaddress.ip_network("10.0.1.0/24")),
    )
    assert first_overlap([("a", "10.0.0.0/16"), ("a", "10.0.1.0/24"), ("b", "fd00::/64")]) is None
