"""The vxlan planner and validator: exact actions from fixture states, refused input, the derived MAC."""

from __future__ import annotations

import errno
import importlib
import ipaddress
import socket
import struct

import pytest
import yaml

from ansible_collections.netplumb.container.plugins.module_utils._errors import (
    ConflictError,
    KernelError,
    ValidationError,
)
from ansible_collections.netplumb.container.plugins.module_utils._links import LinkState, NamespaceView
from ansible_collections.netplumb.container.plugins.module_utils._model import OWNER_MARK
from ansible_collections.netplumb.container.plugins.module_utils._plan import plan, target_state
from ansible_collections.netplumb.container.plugins.module_utils._route import RouteEngine
from ansible_collections.netplumb.container.plugins.module_utils._runner import converge, scope_from
from ansible_collections.netplumb.container.plugins.module_utils._validate import parse_mac, parse_vni
from ansible_collections.netplumb.container.plugins.module_utils._vxlan import (
    AF_BRIDGE,
    EntryBatch,
    Vxlan,
    VxlanEngine,
    _check_link,
    dump_entries,
    vtep_mac,
    vxlan_mtu,
)

MAC_A = "0e:01:c6:12:00:01"  # vtep_mac(1, 198.18.0.1)
MAC_B = "0e:01:c6:12:00:02"
MAC_C = "0e:01:c6:12:00:03"
MAC_D = "0e:01:c6:12:00:04"


def params(config, state="merged", scope=None, force=False, check_mode=False):
    """The module's parameters as converge() hands them to the engine (with the cycle's check_mode and warnings)."""
    return {"config": config, "state": state, "scope": scope, "force": force, "check_mode": check_mode, "warnings": []}


def have(*devices):
    return {d.key: d for d in devices}


def kernel(name="npvx1", **kw):
    """A device as read from the kernel (every field known)."""
    base = dict(
        vni=1,
        port=4789,
        local="198.18.0.1",
        dev="ul0",
        mac=MAC_A,
        mtu=1450,
        addresses=("10.244.1.0/32",),
        learning=False,
        fdb=((MAC_B, "198.18.0.2"),),
        neigh=(("10.244.2.0", MAC_B),),
    )
    base.update(kw)
    return Vxlan(name=name, **base)


def entry(name="npvx1", **kw):
    base = {
        "name": name,
        "vni": 1,
        "local": "198.18.0.1",
        "dev": "ul0",
        "addresses": ["10.244.1.0/32"],
        "peers": [{"underlay": "198.18.0.2", "mac": MAC_B, "address": "10.244.2.0"}],
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


def run(existing, config, state="merged", scope=None, force=False, default_mtu=1450):
    engine = VxlanEngine()
    p = params(config, state, scope, force)
    want = engine.validate(p)
    engine.resource.default_mtu = {w.key: default_mtu for w in want}
    after = target_state(engine.resource, existing, want, state, scope_from(p), force)
    return [str(a) for a in plan(engine.resource, existing, after)]


CREATE = (
    "create vxlan npvx1: addresses=['10.244.1.0/32'], dev=ul0, fdb=[['0e:01:c6:12:00:02', '198.18.0.2']], "
    "learning=False, local=198.18.0.1, mac=0e:01:c6:12:00:01, mtu=1450, "
    "neigh=[['10.244.2.0', '0e:01:c6:12:00:02']], port=4789, vni=1"
)


def test_vtep_mac_is_readable_unique_per_address_and_unicast():
    assert vtep_mac(1, "198.18.0.1") == MAC_A
    assert vtep_mac(1, "198.18.0.11") == "0e:01:c6:12:00:0b"
    assert vtep_mac(258, "10.0.0.1") == "0e:02:0a:00:00:01"
    six = vtep_mac(1, "fd00::1")
    assert six == vtep_mac(1, "FD00:0::1"), "the same address in another spelling"
    assert six != vtep_mac(1, "fd00::2") and six != vtep_mac(2, "fd00::1")
    macs = {vtep_mac(7, str(ip)) for ip in ipaddress.ip_network("198.18.0.0/22")}
    assert len(macs) == 1024, "one VNI: a MAC per underlay address"
    for mac in (MAC_A, six):
        first = int(mac[:2], 16)
        assert first & 0x02 and not first & 0x01, "locally administered unicast"
    assert vxlan_mtu(1500, "198.18.0.1") == 1450 and vxlan_mtu(1500, "fd00::1") == 1430


def test_create_with_derived_mac_and_default_port():
    assert run({}, [entry()]) == [CREATE]


def test_create_minimal_ipv6_underlay_without_dev_or_peers():
    got = run({}, [{"name": "vx6", "vni": 9, "local": "fd00:18::1"}], default_mtu=1430)
    assert got == [
        f"create vxlan vx6: learning=False, local=fd00:18::1, mac={vtep_mac(9, 'fd00:18::1')}, "
        "mtu=1430, port=4789, vni=9"
    ]


def test_same_state_plans_nothing_merged_and_replaced():
    existing = have(kernel())
    assert run(existing, [entry()]) == []
    assert run(existing, [entry()], "replaced") == []
    assert run(existing, [entry(mac=MAC_A.upper(), port=4789, learning="false", mtu=1450)], "replaced") == []


def test_update_mtu_and_mac():
    existing = have(kernel())
    assert run(existing, [entry(mtu=1400, mac="0e:aa:bb:cc:dd:ee")]) == [
        "update vxlan npvx1: add_neigh=[['10.244.2.0', '0e:01:c6:12:00:02']], mac=0e:aa:bb:cc:dd:ee, mtu=1400"
    ], "a new MAC flushes the neighbours: they are written again"
    assert run(existing, [entry(mtu=1400)]) == ["update vxlan npvx1: mtu=1400"]


def test_mac_left_out_is_the_derived_one_even_with_merged():
    existing = have(kernel(mac="0e:aa:bb:cc:dd:ee"))
    assert run(existing, [entry(peers=[])]) == [
        f"update vxlan npvx1: del_fdb=['0e:01:c6:12:00:02'], del_neigh=['10.244.2.0'], mac={MAC_A}"
    ]


def test_merged_keeps_what_is_left_out_replaced_returns_to_defaults():
    existing = have(kernel(mtu=1400, learning=True, addresses=("10.244.1.0/32", "10.244.1.1/32")))
    assert run(existing, [entry(addresses=None, dev=None)]) == []
    assert run(existing, [entry(addresses=["10.244.1.9/32"])]) == [
        "update vxlan npvx1: add_addresses=['10.244.1.9/32']"
    ]
    assert run(existing, [entry(addresses=["10.244.1.0/32"])], "replaced") == [
        "update vxlan npvx1: del_addresses=['10.244.1.1/32'], learning=False, mtu=1450"
    ]


def test_string_booleans_for_learning():
    existing = have(kernel())
    assert run(existing, [entry(learning="false")]) == []
    assert run(existing, [entry(learning="no")]) == []
    assert run(existing, [entry(learning="yes")]) == ["update vxlan npvx1: learning=True"]
    assert run(existing, [entry(learning="True")], force="no") == ["update vxlan npvx1: learning=True"]


def test_peers_added_removed_and_moved():
    existing = have(
        kernel(
            fdb=((MAC_B, "198.18.0.2"), (MAC_C, "198.18.0.3")),
            neigh=(("10.244.2.0", MAC_B), ("10.244.3.0", MAC_C)),
        )
    )
    peers = [
        {"underlay": "198.18.0.22", "mac": MAC_B, "address": "10.244.2.0"},  # the host moved on the underlay
        {"underlay": "198.18.0.4", "mac": MAC_D, "address": "10.244.4.0"},  # joined; MAC_C left
    ]
    expected = [
        "update vxlan npvx1: add_fdb=[['0e:01:c6:12:00:02', '198.18.0.22'], ['0e:01:c6:12:00:04', '198.18.0.4']], "
        "add_neigh=[['10.244.4.0', '0e:01:c6:12:00:04']], del_fdb=['0e:01:c6:12:00:03'], del_neigh=['10.244.3.0']"
    ]
    assert run(existing, [entry(peers=peers)]) == expected
    assert run(existing, [entry(peers=peers)], "replaced") == expected, "peers are exact with merged and replaced"


def test_peers_left_out_merged_keeps_replaced_drops_empty_list_drops():
    existing = have(kernel())
    assert run(existing, [entry(peers=None)]) == []
    drop = "update vxlan npvx1: del_fdb=['0e:01:c6:12:00:02'], del_neigh=['10.244.2.0']"
    assert run(existing, [entry(peers=None)], "replaced") == [drop]
    assert run(existing, [entry(peers=[])]) == [drop]


def test_stray_entries_without_partner_are_removed_and_dual_stack_peer_shares_its_fdb_entry():
    existing = have(
        kernel(fdb=((MAC_B, "198.18.0.2"), (MAC_C, None)), neigh=(("10.244.2.0", MAC_B), ("10.9.9.9", MAC_D)))
    )
    peers = [
        {"underlay": "198.18.0.2", "mac": MAC_B, "address": "10.244.2.0"},
        {"underlay": "198.18.0.2", "mac": MAC_B, "address": "fd00:244:2::"},
    ]
    assert run(existing, [entry(peers=peers)]) == [
        "update vxlan npvx1: add_neigh=[['fd00:244:2::', '0e:01:c6:12:00:02']], del_fdb=['0e:01:c6:12:00:03'], "
        "del_neigh=['10.9.9.9']"
    ]


@pytest.mark.parametrize(
    "change,reason",
    [
        ({"vni": 2}, "vni 1 -> 2"),
        ({"port": 8472}, "port 4789 -> 8472"),
        ({"local": "198.18.0.9"}, "local 198.18.0.1 -> 198.18.0.9"),
        ({"dev": "ul1"}, "dev ul0 -> ul1"),
    ],
)
def test_vni_port_local_dev_change_recreates(change, reason):
    cfg = entry(**change, mac=MAC_A)
    got = run(have(kernel()), [cfg])
    assert got[0] == f"delete vxlan npvx1: recreate={reason}"
    assert got[1].startswith("create vxlan npvx1: ") and len(got) == 2
    assert f"vni={cfg['vni']}" in got[1]


def test_recreate_lists_every_reason_and_replaced_unbinds_dev():
    got = run(have(kernel(group="239.1.1.1")), [entry(vni=5, dev=None, mac=MAC_A)], "replaced")
    assert got[0] == "delete vxlan npvx1: recreate=vni 1 -> 5, dev ul0 -> none, group 239.1.1.1 -> none"
    assert "dev=" not in got[1]


def test_recreates_come_after_all_deletes_and_in_config_order():
    existing = have(kernel("npvx1"), kernel("npvx2", vni=2, port=4790))
    got = run(existing, [entry("npvx2", vni=3, port=4790, mac=MAC_C), entry("npvx1")], "overridden", {"prefix": "npvx"})
    assert [a.split(":")[0] for a in got] == ["delete vxlan npvx2", "create vxlan npvx2"]
    assert got[0] == "delete vxlan npvx2: recreate=vni 2 -> 3"


def test_overridden_and_deleted_touch_only_owned_devices_in_scope():
    existing = have(
        kernel("npvx1"),
        kernel("npvx2", vni=2),
        kernel("npvx3", vni=3, owned=False),
        kernel("flannel.1", vni=4),
        kernel("npvx4", vni=5, netns="c1"),
    )
    assert run(existing, [entry("npvx1")], "overridden", {"prefix": "npvx"}) == [
        "delete vxlan npvx2",
        "delete vxlan npvx4 in netns c1",
    ]
    assert run(existing, [], "deleted", {"prefix": "npvx"}) == [
        "delete vxlan npvx1",
        "delete vxlan npvx2",
        "delete vxlan npvx4 in netns c1",
    ]
    assert run(existing, [], "deleted", {"prefix": ""}) == [
        "delete vxlan npvx1",
        "delete vxlan npvx2",
        "delete vxlan flannel.1",
        "delete vxlan npvx4 in netns c1",
    ]
    with pytest.raises(ValidationError, match="needs an explicit scope"):
        run(existing, [entry("npvx1")], "overridden")
    with pytest.raises(ValidationError, match="needs an explicit scope"):
        run(existing, [], "deleted")


def test_deleted_by_name_and_foreign_needs_force():
    existing = have(kernel("npvx1"), kernel("npvx3", vni=3, owned=False))
    assert run(existing, [{"name": "npvx1"}, {"name": "gone0"}], "deleted") == ["delete vxlan npvx1"]
    with pytest.raises(ConflictError, match=r"npvx3 exists but was not created by netplumb\.container"):
        run(existing, [{"name": "npvx3"}], "deleted")
    assert run(existing, [{"name": "npvx3"}], "deleted", force=True) == ["delete vxlan npvx3"]
    assert run(existing, [{"name": "npvx1", "netns": "c1"}], "deleted") == [], "another namespace, another device"


def test_force_takes_over_a_foreign_vxlan_and_replaces_another_kind():
    assert run(have(kernel(owned=False)), [entry()], force=True) == ["update vxlan npvx1: owned=True"]
    bridge = Vxlan(name="npvx1", kind="bridge", owned=False)
    got = run(have(bridge), [entry()], force=True)
    assert got == [
        "delete vxlan npvx1: recreate=kind bridge -> vxlan, vni none -> 1, port none -> 4789, "
        "local none -> 198.18.0.1, dev none -> ul0",
        CREATE,
    ]


def test_device_that_is_down_is_brought_up():
    assert run(have(kernel(up=False)), [entry()]) == ["update vxlan npvx1: up=True"]


def test_labels_and_identity_include_netns():
    got = run(have(kernel()), [entry(netns="c1")])
    assert got == [CREATE.replace("create vxlan npvx1:", "create vxlan npvx1 in netns c1:")]
    e = VxlanEngine()
    assert e.resource.label(e.validate(params([entry(netns="c1")]))[0].key) == "npvx1 in netns c1"


def test_check_mode_plans_the_same_and_applies_nothing():
    class Fixture(VxlanEngine):
        applied: list = []

        def read(self, nl, want, params):
            self.resource.default_mtu = {w.key: 1450 for w in want}
            self.seen_check_mode = params["check_mode"]
            return have(kernel(mtu=1400))

        def apply(self, nl, action):
            self.applied.append(action)

    class NoKernel:
        def ipr(self, netns=None):
            raise AssertionError("check mode must not touch the kernel")

    p = params([entry(mtu=1450, peers=[])])
    engine = Fixture()
    checked = converge(engine, p, True, NoKernel())
    assert engine.seen_check_mode is True and engine.applied == []
    assert [a["summary"] for a in checked["actions"]] == [
        "update vxlan npvx1: del_fdb=['0e:01:c6:12:00:02'], del_neigh=['10.244.2.0'], mtu=1450"
    ]
    assert checked["diff"]["before"]["npvx1"]["mtu"] == 1400 and checked["diff"]["after"]["npvx1"]["mtu"] == 1450
    assert checked["diff"]["before"]["npvx1"]["peers"] == [
        {"underlay": "198.18.0.2", "mac": MAC_B, "address": "10.244.2.0"}
    ]
    assert checked["diff"]["after"]["npvx1"]["peers"] == []
    applied = converge(Fixture(), p, False, NoKernel())
    assert applied["actions"] == checked["actions"] and len(Fixture.applied) == 1


def view(*links):
    return NamespaceView(list(links))


def link(name, index, kind=None, mtu=1500, alias=None, addresses=()):
    return LinkState(
        index=index,
        name=name,
        kind=kind,
        alias=alias,
        mtu=mtu,
        mac=None,
        master=None,
        up=True,
        addresses=list(addresses),
    )


def test_underlay_checks_default_mtu_missing_dev_and_mtu_too_big():
    engine = VxlanEngine()
    ns = view(link("ul0", 2, "veth", mtu=9000, addresses=["198.18.0.1/24"]), link("ul1", 3, "veth", mtu=1500))
    for cfg, default in ((entry(), 8950), (entry(dev="ul1"), 1450), (entry(dev=None), 8950)):
        obj = engine.validate(params([cfg]))[0]
        engine._check_underlay(obj, ns, params([cfg]))
        assert engine.resource.default_mtu[obj.key] == default
    obj = engine.validate(params([entry(dev="ul1", mtu=1451)]))[0]
    with pytest.raises(ValidationError, match=r"npvx1: mtu 1451 is more than dev ul1 carries \(1500 minus 50"):
        engine._check_underlay(obj, ns, params([]))
    obj = engine.validate(params([entry(dev="nosuch0")]))[0]
    with pytest.raises(ValidationError, match="vxlan npvx1: underlay dev nosuch0 does not exist; create it first"):
        engine._check_underlay(obj, ns, params([]))
    checking = params([], check_mode=True)
    engine._check_underlay(obj, ns, checking)
    assert checking["warnings"] == [
        "underlay dev nosuch0 does not exist (yet); needed by vxlan npvx1; assuming an earlier task creates it"
    ]
    obj = engine.validate(params([entry(local="198.18.0.77", dev=None)]))[0]
    cycle = params([])
    engine._check_underlay(obj, ns, cycle)
    assert cycle["warnings"] == [
        "vxlan npvx1: local 198.18.0.77 is not an address of this host; the tunnel carries nothing until it is"
    ]
    assert engine.resource.default_mtu[obj.key] == 1450, "no underlay found: 1500 minus the overhead"


def test_existing_interface_of_that_name_is_refused_unless_force():
    engine = VxlanEngine()
    obj = engine.validate(params([entry()]))[0]
    for existing, message in (
        (link("npvx1", 5, "bridge"), r"not a vxlan \(kind bridge\); nothing was changed \(set force"),
        (link("npvx1", 5, "vxlan"), "npvx1 exists but was not created by netplumb.container; nothing was changed"),
    ):
        with pytest.raises(ConflictError, match=message):
            _check_link(obj, existing, params([], "merged"))
    _check_link(obj, link("npvx1", 5, "vxlan", alias=OWNER_MARK), params([], "merged"))
    _check_link(obj, link("npvx1", 5, "vxlan"), params([], "merged", force=True))
    _check_link(obj, link("npvx1", 5, "bridge"), params([], "replaced", force="yes"))
    with pytest.raises(ConflictError, match="kind bridge"):
        _check_link(obj, link("npvx1", 5, "bridge"), params([], "deleted", force=True))
    with pytest.raises(ConflictError, match="kind bridge"):
        _check_link(obj, link("npvx1", 5, "bridge"), params([], "replaced", force="false"))


def test_a_device_an_interrupted_run_left_half_made_is_taken_over_with_a_warning():
    engine = VxlanEngine()
    obj = engine.validate(params([entry()]))[0]

    def half(**kw):
        made = link("npvx1", 5, "vxlan")
        made.up, made.mac = False, MAC_A
        made.info = {"IFLA_VXLAN_ID": 1, "IFLA_VXLAN_PORT": 4789, "IFLA_VXLAN_LOCAL": "198.18.0.1"}
        for key, value in kw.items():
            setattr(made, key, value)
        return made

    cycle = params([])
    _check_link(obj, half(), cycle)
    assert cycle["warnings"] == [
        "vxlan npvx1: taking over a device an interrupted run left half made (down, without the ownership mark, "
        "with exactly this VNI, port, local address and MAC)"
    ]
    for change in ({"up": True}, {"mac": MAC_C}, {"addresses": ["10.244.1.0/32"]}, {"alias": "theirs"}):
        with pytest.raises(ConflictError, match="not created by netplumb"):
            _check_link(obj, half(**change), params([]))
    with pytest.raises(ConflictError, match="not created by netplumb"):
        _check_link(obj, half(info={"IFLA_VXLAN_ID": 2, "IFLA_VXLAN_PORT": 4789}), params([]))


def test_mtu_must_fit_the_dev_that_merged_keeps():
    engine = VxlanEngine()
    ns = view(link("ul0", 2, "veth", mtu=1500, addresses=["198.18.0.1/24"]))
    obj = engine.validate(params([entry(dev=None, mtu=1460)]))[0]
    with pytest.raises(ValidationError, match=r"mtu 1460 is more than dev ul0 carries \(1500 minus 50 .* = 1450\)"):
        engine._check_underlay(obj, ns, params([]), kept=ns.by_name["ul0"])
    engine._check_underlay(obj, ns, params([]))  # not bound to a dev: the kernel takes any MTU


def test_vni_and_port_already_used_by_another_device_is_refused_before_any_change():
    engine = VxlanEngine()
    other = link("flannel.1", 7, "vxlan")
    other.info = {"IFLA_VXLAN_ID": 1, "IFLA_VXLAN_PORT": 4789, "IFLA_VXLAN_LOCAL": "198.18.0.1"}
    want = engine.validate(params([entry()]))
    with pytest.raises(ConflictError, match=r"vni 1 with port 4789 is already used by vxlan flannel\.1"):
        engine._check_vni_clash(want, view(other), {"npvx1"}, params([], "merged"))
    engine._check_vni_clash(engine.validate(params([entry(port=8472)])), view(other), {"npvx1"}, params([]))
    other.alias = OWNER_MARK
    with pytest.raises(ConflictError, match="already used"):
        engine._check_vni_clash(want, view(other), {"npvx1"}, params([], "overridden", {"prefix": "npvx"}))
    # overridden deletes it first when it is ours and in scope
    engine._check_vni_clash(want, view(other), {"npvx1"}, params([], "overridden", {"prefix": "fl"}))


@pytest.mark.parametrize(
    "change,message",
    [
        ({"vni": None}, "vxlan npvx1: vni is required"),
        ({"local": None}, "vxlan npvx1: local is required"),
        ({"vni": 0}, r"vxlan npvx1: vni: 0 is out of range \(1-16777215\)"),
        ({"vni": 16777216}, "vni: 16777216 is out of range"),
        ({"vni": "one"}, "vni: 'one' is not a whole number"),
        ({"vni": True}, "vni: True is not a whole number"),
        ({"port": 0}, r"vxlan npvx1: port: 0 is out of range \(1-65535\)"),
        ({"port": 70000}, "port: 70000 is out of range"),
        ({"mtu": 20}, r"vxlan npvx1: mtu: 20 is out of range \(68-65535\)"),
        ({"local": "198.18.0"}, "vxlan npvx1: local '198.18.0' is not a valid IP address"),
        ({"local": "198.18.0.1/24"}, "local '198.18.0.1/24' is not a valid IP address"),
        ({"local": "239.1.1.1"}, "vxlan npvx1: local 239.1.1.1 must be a unicast address"),
        ({"local": "0.0.0.0"}, "local 0.0.0.0 must be a unicast address"),
        ({"mac": "0e:01:02:03:04"}, "vxlan npvx1: mac '0e:01:02:03:04' is not a MAC address"),
        ({"mac": "01:00:5e:00:00:01"}, "mac '01:00:5e:00:00:01' is a multicast MAC address"),
        ({"dev": "a-very-long-underlay"}, "vxlan npvx1: dev 'a-very-long-underlay' is 20 bytes long"),
        ({"name": "npvx-too-long-name"}, "vxlan name 'npvx-too-long-name' is 18 bytes long; Linux allows at most 15"),
        ({"name": "np/vx"}, "vxlan name 'np/vx' has characters Linux does not allow"),
        ({"netns": "../etc"}, "vxlan npvx1: netns '../etc' is not allowed"),
        ({"addresses": ["10.244.1.0"]}, r"vxlan npvx1: addresses entry '10.244.1.0' must be an address with a prefix"),
        ({"learning": "maybe"}, "vxlan npvx1: learning: 'maybe' is not a boolean"),
        ({"peers": "198.18.0.2"}, "vxlan npvx1: peers must be a list"),
        ({"peers": ["198.18.0.2"]}, r"vxlan npvx1: peers\[0\] must be a dict"),
        ({"peers": [{"underlay": "198.18.0.2"}]}, r"vxlan npvx1: peers\[0\]: mac is required"),
        ({"peers": [{"mac": MAC_B}]}, r"peers\[0\]: underlay is required"),
        ({"peers": [{"underlay": "198.18.0.x", "mac": MAC_B}]}, r"peers\[0\]\.underlay '198.18.0.x' is not a valid IP"),
        ({"peers": [{"underlay": "fd00::2", "mac": MAC_B}]}, r"peers\[0\]\.underlay fd00::2 is IPv6, but local"),
        ({"peers": [{"underlay": "198.18.0.1", "mac": MAC_B}]}, r"peers\[0\]\.underlay 198.18.0.1 must be another"),
        ({"peers": [{"underlay": "198.18.0.2", "mac": "zz"}]}, r"peers\[0\]\.mac 'zz' is not a MAC address"),
        ({"peers": [{"underlay": "198.18.0.2", "mac": MAC_A}]}, rf"peers\[0\]\.mac {MAC_A} is this device's own MAC"),
        (
            {"peers": [{"underlay": "198.18.0.2", "mac": MAC_B, "address": "10.244.2.0/24"}]},
            r"peers\[0\]\.address '10.244.2.0/24' is not a valid IP address",
        ),
        (
            {"peers": [{"underlay": "198.18.0.2", "mac": MAC_B, "address": "10.244.1.0"}]},
            r"vxlan npvx1: peer address 10.244.1.0 is an address of this device \(addresses\)",
        ),
        (
            {"peers": [{"underlay": "198.18.0.2", "mac": MAC_B}, {"underlay": "198.18.0.3", "mac": MAC_B}]},
            rf"peers\[1\]\.mac {MAC_B} is listed with underlay 198.18.0.2 and 198.18.0.3",
        ),
        (
            {
                "peers": [
                    {"underlay": "198.18.0.2", "mac": MAC_B, "address": "10.244.2.0"},
                    {"underlay": "198.18.0.3", "mac": MAC_C, "address": "10.244.2.0"},
                ]
            },
            rf"peers\[1\]\.address 10.244.2.0 is listed twice, with MACs {MAC_B} and {MAC_C}",
        ),
    ],
)
def test_bad_input_names_the_option_and_the_value(change, message):
    with pytest.raises(ValidationError, match=message):
        VxlanEngine().validate(params([entry(**change)] if "name" not in change else [{**entry(), **change}]))


def test_bad_config_shapes_and_duplicates():
    e = VxlanEngine()
    with pytest.raises(ValidationError, match="state=merged needs a non-empty config"):
        e.validate(params([]))
    with pytest.raises(ValidationError, match="vxlan npvx1 is listed more than once"):
        e.validate(params([entry(), entry(vni=2)]))
    with pytest.raises(ValidationError, match="a vxlan device with vni 1 and port 4789 in one namespace is listed"):
        e.validate(params([entry(), entry("npvx2", mac=MAC_C)]))
    with pytest.raises(ValidationError, match="force: 'sure' is not a boolean"):
        e.validate(params([entry()], force="sure"))
    assert len(e.validate(params([entry(), entry(netns="c1")]))) == 2, "same name, another namespace"
    assert len(e.validate(params([entry(), entry("npvx2", port=4790)]))) == 2
    assert [v.name for v in e.validate(params([{"name": "npvx1"}], "deleted"))] == ["npvx1"]


def examples():
    module = importlib.import_module("ansible_collections.netplumb.container.plugins.modules.vxlan")
    for task in yaml.safe_load(module.EXAMPLES):
        for name, engine in (("vxlan", VxlanEngine), ("route", RouteEngine)):
            if f"netplumb.container.{name}" in task:
                yield task["name"], engine, task[f"netplumb.container.{name}"]


@pytest.mark.parametrize("title,engine,args", list(examples()), ids=lambda v: v if isinstance(v, str) else "")
def test_examples_are_input_the_engines_accept(title, engine, args):
    p = {"config": None, "state": "merged", "scope": None, "force": False, **args}
    assert engine().validate(p) or p["state"] == "deleted", title


def test_mac_and_vni_parsers():
    assert parse_mac("0E-01-C6-12-00-0B", "mac") == "0e:01:c6:12:00:0b"
    assert parse_mac(" 0e:01:c6:12:00:0b ", "mac") == "0e:01:c6:12:00:0b"
    with pytest.raises(ValidationError, match="peer mac 12 is not a MAC address"):
        parse_mac(12, "peer mac")
    assert parse_vni("16777215", "vni") == 16777215


class FakeNetlinkSocket:
    """Takes batches of netlink requests and acks each: with an errno for the sequence numbers in ``errors``."""

    def __init__(self, errors=None):
        self.errors = errors or {}
        self.sent: list[list[tuple[int, int, int]]] = []  # per send: (type, flags, seq)
        self.acks = b""

    def sendall(self, data: bytes) -> None:
        batch, offset = [], 0
        while offset < len(data):
            length, kind, flags, seq = struct.unpack_from("=LHHL", data, offset)
            batch.append((kind, flags, seq))
            code = -self.errors.get(seq, 0)
            self.acks += struct.pack("=LHHLL", 36, 2, 0, seq, 0) + struct.pack("=i", code) + data[offset : offset + 16]
            offset += (length + 3) & ~3
        self.sent.append(batch)

    def recv(self, size: int) -> bytes:
        out, self.acks = self.acks[:size], self.acks[size:]
        return out


def test_entry_batch_orders_chunks_and_reports_the_first_failure():
    batch = EntryBatch(index=7)
    for i in range(70):
        batch.replace(AF_BRIDGE, dst=f"198.18.1.{i}", lladdr=f"0e:00:00:00:01:{i:02x}")
    batch.delete(AF_BRIDGE, lladdr="0e:00:00:00:09:09")
    batch.delete(socket.AF_INET, dst="10.244.9.0")
    batch.replace(socket.AF_INET6, dst="fd00::5", lladdr=MAC_B)
    sock = FakeNetlinkSocket()
    assert batch.send(sock) is None
    assert [len(b) for b in sock.sent] == [64, 9], "at most 64 requests in flight"
    sent = [x for b in sock.sent for x in b]
    assert [request[2] for request in sent] == list(range(1, 74))
    assert sent[0] == (28, 0x1 | 0x4 | 0x100 | 0x400, 1), "RTM_NEWNEIGH, request, ack, create, replace"
    assert sent[70] == (29, 0x1 | 0x4, 71), "RTM_DELNEIGH"

    assert batch.send(FakeNetlinkSocket({71: errno.ENOENT, 72: errno.ESRCH})) is None, "gone already is fine"
    failed = batch.send(FakeNetlinkSocket({3: errno.EEXIST, 73: errno.EINVAL}))
    assert failed == "fdb 0e:00:00:00:01:02 dst 198.18.1.2: File exists"
    assert (
        batch.send(FakeNetlinkSocket({73: errno.EINVAL}))
        == "neighbour fd00::5 lladdr 0e:01:c6:12:00:02: Invalid argument"
    )


def test_entry_batch_messages_decode_as_the_kernel_reads_them():
    from pyroute2.netlink.rtnl.ndmsg import ndmsg

    batch = EntryBatch(index=7)
    batch.replace(AF_BRIDGE, dst="198.18.0.2", lladdr=MAC_B)
    batch.delete(socket.AF_INET6, dst="fd00::5")
    first, second = (ndmsg(request[0]) for request in batch.requests)
    first.decode()
    second.decode()
    assert (first["family"], first["ifindex"], first["state"], first["flags"]) == (AF_BRIDGE, 7, 0x80, 0x02)
    assert first.get_attr("NDA_DST") == "198.18.0.2" and first.get_attr("NDA_LLADDR") == MAC_B
    assert (second["family"], second.get_attr("NDA_DST"), second.get_attr("NDA_LLADDR")) == (10, "fd00::5", None)


def neigh_message(family, index, state, dst=None, mac=None):
    attrs = b""
    if dst is not None:
        raw = socket.inet_pton(socket.AF_INET6 if ":" in dst else socket.AF_INET, dst)
        attrs += struct.pack("=HH", 4 + len(raw), 1) + raw
    if mac is not None:
        attrs += struct.pack("=HH", 10, 2) + bytes.fromhex(mac.replace(":", "")) + b"\0\0"
    body = struct.pack("=BxxxiHBB", family, index, state, 0, 0) + attrs
    return struct.pack("=LHHLL", 16 + len(body), 28, 2, 1, 0) + body


class FakeDumpSocket:
    def __init__(self, replies: list[bytes]):
        self.replies = replies
        self.requests: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.requests.append(data)

    def recv(self, size: int) -> bytes:
        return self.replies.pop(0)


def test_dump_entries_asks_the_kernel_for_one_device_and_keeps_its_permanent_entries():
    done = struct.pack("=LHHLLi", 20, 3, 2, 1, 0, 0)
    replies = [
        neigh_message(AF_BRIDGE, 7, 0x80, "198.18.0.2", MAC_B) + neigh_message(AF_BRIDGE, 8, 0x80, "198.18.0.3", MAC_C),
        neigh_message(AF_BRIDGE, 7, 0x02, "198.18.0.4", MAC_D) + neigh_message(AF_BRIDGE, 7, 0x80, None, MAC_C) + done,
    ]
    sock = FakeDumpSocket(replies)
    assert dump_entries(sock, AF_BRIDGE, 7) == [("198.18.0.2", MAC_B), (None, MAC_C)]
    length, kind, flags = struct.unpack_from("=LHH", sock.requests[0])
    assert (length, kind, flags) == (32, 30, 0x301), "RTM_GETNEIGH dump with an ifinfomsg-sized header"
    assert struct.unpack_from("=Bxxxi", sock.requests[0], 16) == (AF_BRIDGE, 7)

    sock = FakeDumpSocket([neigh_message(10, 7, 0x80, "fd00::5", MAC_B) + neigh_message(2, 7, 0x80, "10.0.0.1") + done])
    assert dump_entries(sock, 0, 7) == [("fd00::5", MAC_B), ("10.0.0.1", None)]
    assert sock.requests[0][-8:] == struct.pack("=HHI", 8, 8, 7), "NDA_IFINDEX filter"

    error = struct.pack("=LHHLLi", 36, 2, 0, 1, 0, -errno.EOPNOTSUPP) + b"\0" * 16
    with pytest.raises(KernelError, match="reading the FDB entries of interface 7 failed: Operation not supported"):
        dump_entries(FakeDumpSocket([error]), AF_BRIDGE, 7)
