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
        ([{"name": "a", "subnet": "10.0.0.0/24", "mtu": 20}], "outside 68-65535"),
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
