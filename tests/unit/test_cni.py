"""The fleet's CNI part: variables, the address split between the collection's IPAM and host-local, the conflist."""

from __future__ import annotations

import base64
import ipaddress
import json

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._cni import (
    OWNER_KEY,
    conflist,
    host_cni,
    owned,
    parse_cni_vars,
    split,
)
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._fleet import slice_network

FLEET = {"network_name": "docker0", "bridge": "docker0", "cluster": "10.244.0.0/16", "cluster6": None}


def plan(member=True, subnet="10.244.3.0/24", mtu=1450) -> dict:
    return {"member": member, "mtu": mtu, "network": slice_network(FLEET, subnet, None, mtu) if subnet else None}


def test_defaults_are_off_and_named():
    settings = parse_cni_vars({}, "h1", 24)
    assert settings == {
        "host": "h1",
        "enabled": False,
        "dir": "/etc/cni/net.d",
        "name": "netplumb-fleet",
        "prefix": 25,
        "path": "/etc/cni/net.d/netplumb-fleet.conflist",
    }
    off = host_cni(settings, plan())
    assert off["network"] == plan()["network"] and not off["write"] and not off["remove"]


@pytest.mark.parametrize("word", ["yes", "True", "on", 1, "1"])
def test_booleans_by_ansible_rules(word):
    assert parse_cni_vars({"fleet_cni": word}, "h1", 24)["enabled"] is True


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"fleet_cni": "maybe"}, "fleet on h1: fleet_cni: 'maybe' is not a boolean"),
        ({"fleet_cni": 2}, "fleet_cni: 2 is not a boolean"),
        ({"fleet_cni_dir": "etc/cni"}, "fleet_cni_dir: 'etc/cni' is not an absolute path"),
        ({"fleet_cni_name": "../x"}, "fleet_cni_name '../x' is not allowed"),
        ({"fleet_cni_name": "-x"}, "fleet_cni_name '-x' is not allowed"),
        ({"fleet_cni_prefix": 24}, "fleet_cni_prefix"),
        ({"fleet_cni_prefix": 31}, "fleet_cni_prefix"),
        ({"fleet_cni_prefix": "true"}, "fleet_cni_prefix: 'true' is not a whole number"),
    ],
)
def test_bad_variables_name_the_variable_and_the_value(raw, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_cni_vars(raw, "h1", 24)


def test_slices_too_small_to_share():
    with pytest.raises(ValidationError, match="fleet_cni needs slices of /29 or larger"):
        parse_cni_vars({"fleet_cni": True}, "h1", 30)
    assert parse_cni_vars({}, "h1", 30)["enabled"] is False


@pytest.mark.parametrize(("subnet", "prefix"), [("10.244.3.0/24", 25), ("10.244.3.0/24", 26), ("10.244.8.0/21", 30)])
def test_the_split_never_overlaps(subnet, prefix):
    parts = split(subnet, prefix)
    net = ipaddress.ip_network(subnet)
    ours = ipaddress.ip_network(parts["ip_range"])
    start, end = ipaddress.ip_address(parts["range_start"]), ipaddress.ip_address(parts["range_end"])
    assert ours == next(net.subnets(new_prefix=net.prefixlen + 1))
    assert start > ours.broadcast_address and end == net.broadcast_address - 1 and start < end
    assert ipaddress.ip_address(parts["gateway"]) in ours
    assert ipaddress.ip_network(parts["cni_block"]).prefixlen == prefix
    assert start == ipaddress.ip_network(parts["cni_block"]).network_address


def test_conflist_for_a_member():
    settings = parse_cni_vars({"fleet_cni": True, "fleet_cni_name": "slice"}, "h1", 24)
    out = host_cni(settings, plan())
    assert out["write"] and not out["remove"] and out["path"] == "/etc/cni/net.d/slice.conflist"
    assert out["network"]["ip_range"] == "10.244.3.0/25"
    assert out["network"]["dnat_subnets"] == ["10.244.3.128/25"]
    assert out["conflist"] == {
        "cniVersion": "1.0.0",
        "name": "slice",
        OWNER_KEY: out["conflist"][OWNER_KEY],
        "plugins": [
            {
                "type": "bridge",
                "bridge": "docker0",
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "mtu": 1450,
                "ipam": {
                    "type": "host-local",
                    "ranges": [
                        [
                            {
                                "subnet": "10.244.3.0/24",
                                "rangeStart": "10.244.3.128",
                                "rangeEnd": "10.244.3.254",
                                "gateway": "10.244.3.1",
                            }
                        ]
                    ],
                    "routes": [{"dst": "0.0.0.0/0", "gw": "10.244.3.1"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
            {"type": "loopback"},
        ],
    }
    assert owned(json.dumps(out["conflist"]))


def test_a_host_that_leaves_removes_only_with_cni_on():
    on = parse_cni_vars({"fleet_cni": "yes"}, "h1", 24)
    gone = host_cni(on, plan(member=False))
    assert gone["remove"] and not gone["write"] and gone["conflist"] is None
    assert not host_cni(parse_cni_vars({}, "h1", 24), plan(member=False))["remove"]


def test_ownership_of_a_file():
    assert not owned('{"cniVersion": "1.0.0", "name": "mine", "plugins": []}')
    assert not owned("not json")
    assert not owned(None)
    assert owned(json.dumps(conflist(parse_cni_vars({}, "h1", 24), "10.244.3.0/24", "docker0", None)))


def test_the_roles_filters():
    from ansible.errors import AnsibleFilterError

    from ansible_collections.netplumb.container.plugins.filter.fleet_cni import fleet_cni, fleet_cni_owned

    fleet_vars = {"host": "h1", "fleet": {"prefix": 24}}
    assert fleet_cni({"fleet_cni": "on"}, plan(), fleet_vars)["write"]
    with pytest.raises(AnsibleFilterError, match="fleet on h1: fleet_cni: 'maybe' is not a boolean"):
        fleet_cni({"fleet_cni": "maybe"}, plan(), fleet_vars)
    ours = conflist(parse_cni_vars({}, "h1", 24), "10.244.3.0/24", "docker0", None)
    slurped = {"content": base64.b64encode(json.dumps(ours).encode()).decode()}
    assert fleet_cni_owned(slurped)
    assert not fleet_cni_owned({"content": base64.b64encode(b'{"name": "mine"}').decode()})
    assert not fleet_cni_owned({"failed": True, "msg": "file not found"})
    assert not fleet_cni_owned({"skipped": True})


def test_a_member_without_the_collections_slice_network_is_refused():
    on = parse_cni_vars({"fleet_cni": True}, "h1", 24)
    with pytest.raises(ValidationError, match=r"fleet on h1: fleet_cni needs the slice network .* fleet_docker"):
        host_cni(on, {"member": True, "mtu": 1500, "network": None})
    assert not host_cni(parse_cni_vars({}, "h1", 24), {"member": True, "mtu": 1500, "network": None})["write"]
