"""netns input validation: every bad input is refused before the kernel is touched."""

from __future__ import annotations

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._netns import Netns, NetnsEngine


def params(config, state="merged", scope=None):
    return {"config": config, "state": state, "scope": scope, "force": False}


def validate(*args, **kw):
    return NetnsEngine().validate(params(*args, **kw))


@pytest.mark.parametrize(
    "name,message",
    [
        ("a/b", "not allowed"),
        (".hidden", "not allowed"),
        ("", "non-empty"),
        ("x" * 65, "longer than 64"),
        ("sp ace", "not allowed"),
    ],
)
def test_bad_names(name, message):
    with pytest.raises(ValidationError, match=message):
        validate([{"name": name}])


def test_duplicate_names():
    with pytest.raises(ValidationError, match="more than once"):
        validate([{"name": "a"}, {"name": "a"}])


@pytest.mark.parametrize("key", ["kernel.hostname", "net.ipv4.no_such_thing", "net/ipv4/ip_forward", "net..x"])
def test_unknown_or_global_sysctls(key):
    with pytest.raises(ValidationError, match="sysctl"):
        validate([{"name": "a", "sysctls": {key: 1}}])


def test_per_device_sysctl_checked_against_default():
    [ns] = validate([{"name": "a", "sysctls": {"net.ipv4.conf.eth0.rp_filter": 2}}])
    assert ns.sysctls == (("net.ipv4.conf.eth0.rp_filter", "2"),)


def test_values_normalised():
    [ns] = validate([{"name": "a", "loopback_up": None, "sysctls": {"net.ipv4.ip_forward": True}}])
    assert ns == Netns("a", loopback_up=True, sysctls=(("net.ipv4.ip_forward", "1"),))


def test_merged_needs_config():
    with pytest.raises(ValidationError, match="non-empty config"):
        validate([])


def test_bad_scope_prefix():
    with pytest.raises(ValidationError, match=r"scope\.prefix"):
        validate([], state="deleted", scope={"prefix": "a/"})


@pytest.mark.parametrize("value", ["é", "a\x00b", "", "   ", None, [1], {"a": 1}, 1.5, "x" * 300])
def test_bad_sysctl_values_name_option_and_value(value):
    with pytest.raises(ValidationError) as caught:
        validate([{"name": "a", "sysctls": {"net.ipv4.ip_forward": value}}])
    assert "net.ipv4.ip_forward" in caught.value.msg and repr(value)[:20] in caught.value.msg


@pytest.mark.parametrize("name", ["-a", "-", "--help"])
def test_names_starting_with_a_dash(name):
    with pytest.raises(ValidationError, match="not allowed"):
        validate([{"name": name}])
