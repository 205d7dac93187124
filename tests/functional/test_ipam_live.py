"""IPAM against the real kernel: an address added by hand to an owned eth0 is never handed out again.

The endpoints live in throwaway namespaces <prefix>-c*, wired from <prefix>-host; the subnet is drawn per run,
so the owned interfaces of other runs on this machine (which IPAM sees too) never sit in it.
"""

from __future__ import annotations

import json
import random

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._bridge import BridgeEngine
from ansible_collections.netplumb.container.plugins.module_utils._ipam import run_definition, run_endpoints
from ansible_collections.netplumb.container.plugins.module_utils._netlink import Netlink
from ansible_collections.netplumb.container.plugins.module_utils._veth import VethEngine

from .linkhost import converge_in, ip, make_host, make_owned_netns, module_result, start_module


@pytest.fixture
def lab(cleanup_netns):
    """Host namespace with bridge brt0 (gateway .1 of a random /24), owned container namespaces c1 and c2."""
    p = cleanup_netns
    net = f"10.{random.randint(128, 250)}.{random.randint(0, 255)}"
    host = make_host(p)
    for c in ("c1", "c2"):
        make_owned_netns(f"{p}-{c}")
    converge_in(host, BridgeEngine(), [{"name": "brt0", "addresses": [f"{net}.1/24"]}])
    return p, host, net


def ipam(host, params, check=False):
    """run_endpoints as the module runs it on the managed host: inside the host's namespace."""
    with Netlink() as outer, outer.entered(host):
        return run_endpoints(params, check)


def test_hand_added_address_is_not_handed_out(lab, tmp_path):
    p, host, net = lab
    base = {"network": "live", "subnet": f"{net}.0/24", "state_dir": str(tmp_path / "ipam"), "state": "merged"}
    c1 = {"endpoint": "c1", "netns": f"{p}-c1"}
    first = ipam(host, {**base, "config": [c1]})
    assert first["allocations"]["c1"]["ipv4"] == f"{net}.2" and first["warnings"] == []
    peer = {"name": "eth0", "netns": f"{p}-c1", "addresses": [f"{net}.2/24"], "gateway": f"{net}.1"}
    converge_in(host, VethEngine(), [{"name": f"v{p}c1", "bridge": "brt0", "peer": peer}])
    ip(f"{p}-c1", "addr", "add", f"{net}.3/24", "dev", "eth0")  # by hand: .3 is the next free in the store
    store = tmp_path / "ipam" / "live.json"
    stored = store.read_bytes()

    both = {**base, "config": [c1, {"endpoint": "c2", "netns": f"{p}-c2"}]}
    check = module_result(start_module(host, "ipam", {**both, "_ansible_check_mode": True}, tmp_path))
    assert check["changed"] is True and check["allocations"]["c2"]["ipv4"] == f"{net}.4", check
    warnings = [w["event"]["msg"] if isinstance(w, dict) else w for w in check["warnings"]]  # ansible-core 2.19+
    assert warnings == [
        f"network live: skipped {net}.3 (on eth0 in netns {p}-c1): live on interfaces netplumb.container owns "
        "but held by no endpoint of this network (added by hand?); remove them, or they stay out of the pool"
    ]
    assert store.read_bytes() == stored  # check mode wrote nothing

    applied = ipam(host, both)
    assert applied["allocations"]["c1"]["ipv4"] == f"{net}.2"  # c1's own live address stays c1's
    assert applied["allocations"]["c2"]["ipv4"] == f"{net}.4"
    assert json.loads(store.read_text())["endpoints"]["c2"]["addresses"] == [f"{net}.4"]
    again = ipam(host, both)
    assert again["changed"] is False and again["warnings"] == []

    # once the hand-made address is gone, .3 is free again: the next endpoint gets it
    ip(f"{p}-c1", "addr", "del", f"{net}.3/24", "dev", "eth0")
    third = ipam(host, {**base, "config": [{"endpoint": "c3", "netns": f"{p}-c3"}]})
    assert third["allocations"]["c3"]["ipv4"] == f"{net}.3" and third["warnings"] == []


def test_definition_mode_skips_live_addresses_once_for_all_networks(lab, tmp_path):
    """The roles' path (networks + endpoints): a hand-made address on an owned eth0 is passed over in its network."""
    p, host, net = lab
    peer = {"name": "eth0", "netns": f"{p}-c1", "addresses": [f"{net}.2/24"], "gateway": f"{net}.1"}
    converge_in(host, VethEngine(), [{"name": f"v{p}c1", "bridge": "brt0", "peer": peer}])  # .2 is live, unrecorded
    other = f"10.{int(net.split('.')[1]) - 100}.{net.split('.')[2]}"  # a second network: nothing live in it
    params = {
        "networks": [
            {"name": "one", "pools": [{"subnet": f"{net}.0/24"}]},
            {"name": "two", "pools": [{"subnet": f"{other}.0/24"}]},
        ],
        "endpoints": [{"name": "c2", "netns": f"{p}-c2", "networks": [{"name": "one"}, {"name": "two"}]}],
        "definition": p,
        "state_dir": str(tmp_path / "ipam"),
    }
    with Netlink() as outer, outer.entered(host):
        out = run_definition(params, False)
    assert out["allocations"]["one"]["c2"]["ipv4"] == f"{net}.3"
    assert out["allocations"]["two"]["c2"]["ipv4"] == f"{other}.2"
    assert [w.split(":")[0] for w in out["warnings"]] == ["network one"]
    assert f"{net}.2 (on eth0 in netns {p}-c1)" in out["warnings"][0]
