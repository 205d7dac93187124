"""Bridge planning: exact action lists from fixture states, and validation errors."""

from __future__ import annotations

import dataclasses

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._bridge import Bridge, BridgeEngine, stable_mac
from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._plan import Scope, plan, target_state

EXISTING = Bridge(
    name="br0",
    addresses=("172.17.0.1/16",),
    mtu=1500,
    mac="02:42:ac:11:00:01",  # the stable MAC of a bridge whose first IPv4 address is 172.17.0.1
    stp=False,
    forward_delay=1500,
    ageing_time=30000,
    vlan_filtering=False,
    up=True,
)


def summaries(config, have, state="merged", scope=None, force=False):
    engine = BridgeEngine()
    want = engine.validate({"config": config, "state": state, "scope": scope, "force": force})
    after = target_state(engine.resource, have, want, state, Scope(**scope) if scope else None, force)
    return [str(a) for a in plan(engine.resource, have, after)]


def test_create_with_everything():
    cfg = [{"name": "br1", "addresses": ["fd00::1/64", "10.0.0.1/24"], "stp": True, "forward_delay": 4}]
    assert summaries(cfg, {}) == [
        "create bridge br1: addresses=['10.0.0.1/24', 'fd00::1/64'], forward_delay=400, "
        "mac=02:42:0a:00:00:01, stp=True, up=True"
    ]


def test_no_change_when_equal():
    assert summaries([{"name": "br0", "addresses": ["172.17.0.1/16"], "ageing_time": 300}], {"br0": EXISTING}) == []


def test_merged_adds_addresses_replaced_removes():
    have = {"br0": EXISTING}
    assert summaries([{"name": "br0", "addresses": ["fd00::1/64"]}], have) == [
        "update bridge br0: add_addresses=['fd00::1/64']"
    ]
    assert summaries([{"name": "br0", "addresses": ["fd00::1/64"]}], have, state="replaced") == [
        "update bridge br0: add_addresses=['fd00::1/64'], del_addresses=['172.17.0.1/16']"
    ]


def test_replaced_resets_unlisted_options_but_keeps_mtu_and_mac():
    have = {"br0": Bridge(**{**EXISTING.__dict__, "stp": True, "ageing_time": 100, "up": False})}
    assert summaries([{"name": "br0"}], have, state="replaced") == [
        "update bridge br0: ageing_time=30000, del_addresses=['172.17.0.1/16'], stp=False, up=True"
    ]


def test_admin_down_and_mtu():
    assert summaries([{"name": "br0", "up": False, "mtu": 9000}], {"br0": EXISTING}) == [
        "update bridge br0: mtu=9000, up=False"
    ]


def test_overridden_deletes_owned_in_scope_only():
    have = {
        "br0": EXISTING,
        "brx": Bridge("brx"),
        "other": Bridge("other"),
        "brforeign": Bridge("brforeign", owned=False),
    }
    cfg = [{"name": "br0", "addresses": ["172.17.0.1/16"]}]
    assert summaries(cfg, have, state="overridden", scope={"prefix": "br"}) == ["delete bridge brx"]


def test_delete_with_foreign_port_refused_unless_forced():
    have = {"br0": Bridge("br0", ports=(("vethown", True), ("eth1", False)))}
    with pytest.raises(ConflictError, match="eth1"):
        summaries([{"name": "br0"}], have, state="deleted")
    # the run's force, as read() puts it on the bridges it read
    forced = {"br0": dataclasses.replace(have["br0"], force=True)}
    assert summaries([{"name": "br0"}], forced, state="deleted", force=True) == [
        "delete bridge br0: ports=['vethown', 'eth1']"
    ]


def test_delete_with_only_owned_ports():
    have = {"br0": Bridge("br0", ports=(("vethown", True),))}
    assert summaries([{"name": "br0"}], have, state="deleted") == ["delete bridge br0: ports=['vethown']"]


def test_delete_foreign_bridge_refused():
    with pytest.raises(ConflictError, match="not created by netplumb"):
        summaries([{"name": "br0"}], {"br0": Bridge("br0", owned=False)}, state="deleted")


def test_delete_absent_is_no_change():
    assert summaries([{"name": "br9"}], {}, state="deleted") == []


def test_ports_do_not_count_as_difference():
    have = {"br0": Bridge("br0", addresses=(), mac=stable_mac("br0", ()), ports=(("a", True),))}
    assert summaries([{"name": "br0"}], have) == []


@pytest.mark.parametrize(
    "entry,message",
    [
        ({"name": "a-very-long-bridge-name"}, "at most 15"),
        ({"name": "br0", "addresses": ["172.17.0.1"]}, "prefix length"),
        ({"name": "br0", "addresses": ["300.1.1.1/8"]}, "not a valid"),
        ({"name": "br0", "addresses": ["10.0.0.1/8", "10.0.0.1/16"]}, "twice"),
        ({"name": "br0", "mtu": 20}, "between 68"),
        ({"name": "br0", "mac": "zz:00:00:00:00:00"}, "MAC"),
        ({"name": "br0", "mac": "01:00:5e:00:00:01"}, "multicast"),
        ({"name": "br0", "stp": True, "forward_delay": 1}, "between 2 and 30"),
        ({"name": "br0", "ageing_time": -1}, "seconds"),
    ],
)
def test_validation(entry, message):
    with pytest.raises(ValidationError, match=message):
        BridgeEngine().validate({"config": [entry], "state": "merged", "scope": None, "force": False})


def test_duplicates_and_scope_needed():
    engine = BridgeEngine()
    with pytest.raises(ValidationError, match="more than once"):
        engine.validate({"config": [{"name": "a"}, {"name": "a"}], "state": "merged", "scope": None})
    with pytest.raises(ValidationError, match="scope"):
        summaries([], {}, state="deleted")


def test_render_in_seconds():
    out = BridgeEngine().render(EXISTING)
    assert out["forward_delay"] == 15.0 and out["ageing_time"] == 300.0 and out["addresses"] == ["172.17.0.1/16"]


def test_stable_mac_without_mac_given():
    """A bridge left to the kernel takes its lowest port's MAC; the collection fixes one instead."""
    assert summaries([{"name": "br5"}], {}) == [f"create bridge br5: mac={stable_mac('br5', ())}, up=True"]
    assert stable_mac("br5", ()).startswith("02:") and stable_mac("br5", ()) == stable_mac("br5", ())
    # an owned bridge with a kernel-assigned MAC gets the stable one (a change); a given mac wins
    floating = {"br0": Bridge(**{**EXISTING.__dict__, "mac": "02:aa:bb:cc:dd:ee"})}
    assert summaries([{"name": "br0"}], floating) == ["update bridge br0: mac=02:42:ac:11:00:01"]
    assert summaries([{"name": "br0", "mac": "02:aa:bb:cc:dd:ee"}], floating) == []
    # adding a lower IPv4 address keeps the MAC the bridge already has
    assert summaries([{"name": "br0", "addresses": ["10.0.0.1/8"]}], {"br0": EXISTING}) == [
        "update bridge br0: add_addresses=['10.0.0.1/8']"
    ]
    # a bridge the collection does not own keeps whatever MAC it has
    foreign = {"br0": Bridge(**{**EXISTING.__dict__, "mac": "02:aa:bb:cc:dd:ee", "owned": False})}
    assert summaries([{"name": "br0"}], foreign) == []
