"""veth planning: exact action lists from fixture states, and validation errors."""

from __future__ import annotations

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._plan import Scope, plan, target_state
from ansible_collections.netplumb.container.plugins.module_utils._veth import Veth, VethEngine

WEB1 = Veth(
    name="vweb1",
    peer_name="eth0",
    peer_netns="web1",
    bridge="br0",
    host_mtu=1500,
    hairpin=False,
    peer_mac="02:42:ac:11:00:02",
    peer_mtu=1500,
    addresses=("172.17.0.2/16",),
    gateway=("172.17.0.1",),
    routes=(),
    peer_up=True,
)


def entry(**kw):
    peer = {"name": "eth0", "netns": "web1", "addresses": ["172.17.0.2/16"], "gateway": ["172.17.0.1"]}
    peer.update(kw.pop("peer", {}))
    return {"name": "vweb1", "bridge": "br0", "peer": peer, **kw}


def actions(config, have, state="merged", scope=None, force=False):
    engine = VethEngine()
    want = engine.validate({"config": config, "state": state, "scope": scope, "force": force})
    after = target_state(engine.resource, have, want, state, Scope(**scope) if scope else None, force)
    return [a.to_result() for a in plan(engine.resource, have, after)]


def summaries(*args, **kw):
    return [a["summary"] for a in actions(*args, **kw)]


def test_create_exact():
    cfg = [
        entry(
            host_mtu=1450,
            hairpin=True,
            peer={"mac": "02:42:AC:11:00:02", "routes": [{"dst": "10.1.0.0/16", "via": "172.17.0.9"}]},
        )
    ]
    [action] = actions(cfg, {})
    assert action["op"] == "create" and action["name"] == "vweb1"
    assert action["params"] == {
        "peer_name": "eth0",
        "peer_netns": "web1",
        "bridge": "br0",
        "host_mtu": 1450,
        "hairpin": True,
        "peer_mac": "02:42:ac:11:00:02",
        "peer_up": True,
        "up": True,
        "add_addresses": ["172.17.0.2/16"],
        "add_gateway": ["172.17.0.1"],
        "add_routes": [["10.1.0.0/16", "172.17.0.9"]],
    }


def test_create_and_update_speak_one_vocabulary():
    """An update says what a create from the current state would say: the fields that change."""
    [create] = actions([entry(peer={"addresses": ["fd00::2/64"], "gateway": ["fd00::1"]})], {})
    [update] = actions([entry(peer={"addresses": ["fd00::2/64"], "gateway": ["fd00::1"]})], {"vweb1": WEB1}, "replaced")
    assert set(update["params"]) <= set(create["params"]) | {"del_addresses", "del_gateway", "del_routes"}
    assert update["params"]["add_addresses"] == create["params"]["add_addresses"] == ["fd00::2/64"]


def test_actions_carry_typed_before_and_after():
    engine = VethEngine()
    want = engine.validate({"config": [entry(peer={"name": "eth1"})], "state": "merged", "scope": None})
    after = target_state(engine.resource, {"vweb1": WEB1}, want, "merged", None)
    [update] = plan(engine.resource, {"vweb1": WEB1}, after)
    assert update.before == WEB1 and update.after == after["vweb1"] and update.after.peer_name == "eth1"
    [delete] = plan(engine.resource, {"vweb1": WEB1}, {})
    assert delete.before == WEB1 and delete.after is None


def test_no_change():
    assert actions([entry()], {"vweb1": WEB1}) == []
    assert actions([entry(peer={"mac": "02:42:ac:11:00:02"})], {"vweb1": WEB1}) == []


def test_many_eth0_in_different_namespaces():
    cfg = [entry(name=f"v{i}", peer={"netns": f"c{i}", "addresses": None, "gateway": None}) for i in range(3)]
    assert [a["name"] for a in actions(cfg, {})] == ["v0", "v1", "v2"]


def test_merged_adds_replaced_exact():
    more = entry(peer={"addresses": ["fd00::2/64"], "gateway": ["fd00::1"]})
    assert summaries([more], {"vweb1": WEB1}) == [
        "update veth vweb1: add_addresses=['fd00::2/64'], add_gateway=['fd00::1']"
    ]
    [replaced] = actions([more], {"vweb1": WEB1}, state="replaced")
    assert replaced["params"]["del_addresses"] == ["172.17.0.2/16"]
    assert replaced["params"]["del_gateway"] == ["172.17.0.1"]


def test_replaced_detaches_from_bridge_when_left_out():
    cfg = [
        {
            "name": "vweb1",
            "peer": {"name": "eth0", "netns": "web1", "addresses": ["172.17.0.2/16"], "gateway": "172.17.0.1"},
        }
    ]
    [a] = actions(cfg, {"vweb1": WEB1}, state="replaced")
    assert a["params"]["bridge"] is None and "hairpin" not in a["params"]


def test_host_end_down_and_hairpin():
    have = {"vweb1": Veth(**{**WEB1.__dict__, "up": False})}
    assert summaries([entry(hairpin=True)], have) == ["update veth vweb1: hairpin=True, up=True"]


def test_peer_renamed_in_place():
    [a] = actions([entry(peer={"name": "eth1"})], {"vweb1": WEB1})
    assert a["op"] == "update" and a["params"] == {"peer_name": "eth1"}


def test_peer_in_other_netns_recreates():
    ops = [(a["op"], a["name"]) for a in actions([entry(peer={"netns": "web2"})], {"vweb1": WEB1})]
    assert ops == [("delete", "vweb1"), ("create", "vweb1")]


def test_recreating_foreign_veth_needs_force():
    have = {"vweb1": Veth(**{**WEB1.__dict__, "owned": False})}
    with pytest.raises(ConflictError, match="force"):
        actions([entry(peer={"netns": "web2"})], have)
    assert len(actions([entry(peer={"netns": "web2"})], have, force=True)) == 2


def test_deletes_first_then_creates():
    """A peer name freed by a delete can be taken by a create in the same run."""
    have = {"vold": Veth(**{**WEB1.__dict__, "name": "vold"})}
    cfg = [entry()]
    ops = [(a["op"], a["name"]) for a in actions(cfg, have, state="overridden", scope={"prefix": "v"})]
    assert ops == [("delete", "vold"), ("create", "vweb1")]


def test_deleted_needs_only_names():
    assert summaries([{"name": "vweb1"}], {"vweb1": WEB1}, state="deleted") == ["delete veth vweb1"]
    assert summaries([{"name": "vnone"}], {"vweb1": WEB1}, state="deleted") == []


def test_overridden_spares_foreign_and_out_of_scope():
    have = {
        "vweb1": WEB1,
        "vweb2": Veth(**{**WEB1.__dict__, "name": "vweb2"}),
        "vfor": Veth(**{**WEB1.__dict__, "name": "vfor", "owned": False}),
        "other": Veth(**{**WEB1.__dict__, "name": "other"}),
    }
    assert summaries([entry()], have, state="overridden", scope={"prefix": "v"}) == ["delete veth vweb2"]


@pytest.mark.parametrize(
    "cfg,message",
    [
        (entry(name="veth-much-too-long"), "at most 15"),
        (entry(peer={"name": "eth0-much-too-long"}), "at most 15"),
        ({"name": "v1"}, "peer needs a name"),
        ({"name": "v1", "peer": {"name": "eth0"}}, "peer needs a name"),
        (entry(peer={"netns": "a/b"}), "not allowed"),
        (entry(peer={"addresses": ["172.17.0.2"]}), "prefix length"),
        (entry(peer={"gateway": ["10.0.0.1"]}), "not inside"),
        (entry(peer={"gateway": ["172.17.0.1", "172.17.0.254"]}), "two IPv4"),
        (entry(peer={"gateway": "nonsense"}), "not a valid"),
        (entry(peer={"routes": [{"dst": "10.0.0.0/8", "via": "fd00::1"}]}), "mixes"),
        (entry(peer={"routes": [{"dst": "10.0.0.1/8", "via": "172.17.0.9"}]}), "not a valid network"),
        (entry(peer={"routes": [{"dst": "10.0.0.0/8"}]}), "dst and via"),
        (entry(peer={"mac": "01:00:5e:00:00:01"}), "multicast"),
        (entry(peer={"up": False}), "up is false"),
        ({"name": "v1", "hairpin": True, "peer": {"name": "eth0", "netns": "x"}}, "needs bridge"),
        (entry(host_mtu=10), "between 68"),
    ],
)
def test_validation(cfg, message):
    with pytest.raises(ValidationError, match=message):
        actions([cfg], {})


def test_duplicates():
    with pytest.raises(ValidationError, match="more than once"):
        actions([entry(), entry()], {})
    with pytest.raises(ValidationError, match="peer eth0 in netns web1"):
        actions([entry(), entry(name="vweb2")], {})


def test_ipv6_link_local_gateway_allowed():
    [a] = actions([entry(peer={"addresses": ["fd00::2/64"], "gateway": ["fe80::1"]})], {})
    assert a["params"]["add_gateway"] == ["fe80::1"]


def test_render_nests_peer():
    out = VethEngine().render(Veth(**{**WEB1.__dict__, "routes": (("10.1.0.0/16", "172.17.0.9"),)}))
    assert out["peer"]["routes"] == [{"dst": "10.1.0.0/16", "via": "172.17.0.9"}]
    assert out["peer"]["netns"] == "web1" and out["bridge"] == "br0"
