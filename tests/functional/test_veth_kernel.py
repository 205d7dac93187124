"""The veth engine (with the bridge engine) against the real kernel, inside a throwaway host namespace.

Container namespaces are named <prefix>-c*; their peers are created from inside <prefix>-host, so the
root namespace never holds a bridge or a veth of these tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._bridge import BridgeEngine
from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._hostlock import HOST_LOCK_PATH, host_lock
from ansible_collections.netplumb.container.plugins.module_utils._netlink import Netlink
from ansible_collections.netplumb.container.plugins.module_utils._route import RouteEngine
from ansible_collections.netplumb.container.plugins.module_utils._rtnl import RtnlReader, live_owned_addresses
from ansible_collections.netplumb.container.plugins.module_utils._runner import converge
from ansible_collections.netplumb.container.plugins.module_utils._veth import VethEngine

from .conftest import netns_names
from .linkhost import converge_in, ip, make_host, make_owned_netns, module_result, sh, start_module


@pytest.fixture
def lab(cleanup_netns):
    """A host namespace with bridge brt0 (172.31.0.1/24, fd00:31::1/64) and container namespaces c1, c2."""
    p = cleanup_netns
    host = make_host(p)
    for c in ("c1", "c2"):
        make_owned_netns(f"{p}-{c}")
    converge_in(host, BridgeEngine(), [{"name": "brt0", "addresses": ["172.31.0.1/24", "fd00:31::1/64"]}])
    return p, host


def endpoint(p, c, n, **extra):
    peer = {
        "name": "eth0",
        "netns": f"{p}-{c}",
        "mac": f"02:42:ac:1f:00:0{n}",
        "addresses": [f"172.31.0.{n}/24", f"fd00:31::{n}/64"],
        "gateway": ["172.31.0.1", "fd00:31::1"],
    }
    peer.update(extra.pop("peer", {}))
    return {"name": f"v{p}{c}", "bridge": "brt0", "peer": peer, **extra}


def run(host, config, **kw):
    return converge_in(host, VethEngine(), config, **kw)


def ping(ns, address):
    return sh(ns, "ping", "-c", "1", "-W", "2", address, check=False).returncode == 0


def link_json(ns, name):
    return json.loads(ip(ns, "-d", "-j", "addr", "show", "dev", name))[0]


def test_check_apply_idempotent_and_traffic(lab):
    p, host = lab
    cfg = [endpoint(p, "c1", 2), endpoint(p, "c2", 3)]

    check = run(host, cfg, check=True)
    assert [a["op"] for a in check["actions"]] == ["create", "create"]
    assert f"v{p}c1" not in ip(host, "-br", "link")

    applied = run(host, cfg)
    assert applied["actions"] == check["actions"]
    eth0 = link_json(f"{p}-c1", "eth0")
    assert eth0["address"] == "02:42:ac:1f:00:02" and "UP" in eth0["flags"]
    assert eth0["ifalias"] == "netplumb.container"
    host_end = link_json(host, f"v{p}c1")
    assert host_end["master"] == "brt0" and host_end["ifalias"] == "netplumb.container"
    assert "default via 172.31.0.1" in ip(f"{p}-c1", "route")
    assert "default via fd00:31::1" in ip(f"{p}-c1", "-6", "route")

    # traffic: container to container (v4 and v6) and container to the bridge's gateway address
    assert ping(f"{p}-c1", "172.31.0.3")
    assert ping(f"{p}-c2", "172.31.0.2")
    assert ping(f"{p}-c1", "172.31.0.1")
    assert ping(f"{p}-c1", "fd00:31::3")
    assert ping(f"{p}-c2", "fd00:31::1")

    assert run(host, cfg, check=True)["changed"] is False
    assert run(host, cfg)["changed"] is False


def test_same_peer_name_in_many_namespaces_and_deleted(lab):
    p, host = lab
    cfg = [endpoint(p, "c1", 2), endpoint(p, "c2", 3)]
    run(host, cfg)
    assert "eth0" in ip(f"{p}-c1", "-br", "link") and "eth0" in ip(f"{p}-c2", "-br", "link")

    result = run(host, [{"name": f"v{p}c1"}, {"name": f"v{p}c2"}], state="deleted")
    assert [a["summary"] for a in result["actions"]] == [f"delete veth v{p}c1", f"delete veth v{p}c2"]
    assert result["diff"]["before"][f"v{p}c1"]["peer"]["netns"] == f"{p}-c1"
    # nothing of it is left: neither end, no address, no route
    assert f"v{p}" not in ip(host, "-br", "link")
    for c in ("c1", "c2"):
        assert "eth0" not in ip(f"{p}-{c}", "-br", "link")
        assert "172.31" not in ip(f"{p}-{c}", "route") and "fd00:31" not in ip(f"{p}-{c}", "-6", "route")
    assert "brt0" in ip(host, "-br", "link"), "the bridge stays"
    assert run(host, [{"name": f"v{p}c1"}], state="deleted")["changed"] is False


def test_replaced_exact_merged_adds(lab):
    p, host = lab
    run(host, [endpoint(p, "c1", 2)])
    merged = run(host, [endpoint(p, "c1", 2, peer={"addresses": ["172.31.0.22/24"], "gateway": None})])
    assert merged["diff"]["after"][f"v{p}c1"]["peer"]["addresses"] == [
        "172.31.0.2/24",
        "172.31.0.22/24",
        "fd00:31::2/64",
    ]
    replaced = run(
        host,
        [endpoint(p, "c1", 2, hairpin=True, peer={"addresses": ["172.31.0.5/24"], "gateway": "172.31.0.1"})],
        state="replaced",
    )
    [action] = replaced["actions"]
    assert action["params"]["del_addresses"] == ["172.31.0.2/24", "172.31.0.22/24", "fd00:31::2/64"]
    assert action["params"]["del_gateway"] == ["fd00:31::1"] and action["params"]["hairpin"] is True
    addrs = ip(f"{p}-c1", "addr", "show", "eth0")
    assert "172.31.0.5/24" in addrs and "172.31.0.2/" not in addrs and "fd00:31::2" not in addrs
    assert "fd00:31::1" not in ip(f"{p}-c1", "-6", "route")
    assert "hairpin on" in ip(host, "-d", "link", "show", f"v{p}c1")
    assert ping(f"{p}-c1", "172.31.0.1")
    assert (
        run(
            host,
            [endpoint(p, "c1", 2, hairpin=True, peer={"addresses": ["172.31.0.5/24"], "gateway": "172.31.0.1"})],
            state="replaced",
        )["changed"]
        is False
    )


def test_peer_rename_and_move(lab):
    p, host = lab
    run(host, [endpoint(p, "c1", 2)])
    renamed = run(host, [endpoint(p, "c1", 2, peer={"name": "eth1"})])
    assert [a["op"] for a in renamed["actions"]] == ["update"]
    assert renamed["actions"][0]["params"] == {"peer_name": "eth1"}
    assert "eth1" in ip(f"{p}-c1", "-br", "link") and "172.31.0.2/24" in ip(f"{p}-c1", "addr", "show", "eth1")
    assert ping(f"{p}-c1", "172.31.0.1")

    moved = run(host, [endpoint(p, "c2", 2) | {"name": f"v{p}c1"}])
    assert [a["op"] for a in moved["actions"]] == ["delete", "create"]
    assert "eth1" not in ip(f"{p}-c1", "-br", "link")
    assert "172.31.0.2/24" in ip(f"{p}-c2", "addr", "show", "eth0")
    assert ping(f"{p}-c2", "172.31.0.1")


def test_overridden_by_scope(lab):
    p, host = lab
    run(host, [endpoint(p, "c1", 2), endpoint(p, "c2", 3)])
    ip(host, "link", "add", f"v{p}x", "type", "veth", "peer", "name", f"v{p}y")  # not ours
    result = run(host, [endpoint(p, "c1", 2)], state="overridden", scope={"prefix": f"v{p}"})
    assert [a["summary"] for a in result["actions"]] == [f"delete veth v{p}c2"]
    links = ip(host, "-br", "link")
    assert f"v{p}c2" not in links and f"v{p}x" in links and f"v{p}c1" in links


def test_errors_change_nothing(lab):
    p, host = lab
    with pytest.raises(ValidationError, match="does not exist"):
        run(host, [endpoint(p, "c1", 2), endpoint(p, "nope", 4)])
    with pytest.raises(ValidationError, match="bridge brtX does not exist"):
        run(host, [endpoint(p, "c1", 2, bridge="brtX")])
    ip(f"{p}-c2", "link", "add", "eth0", "type", "veth", "peer", "name", "other")
    with pytest.raises(ConflictError, match="already has an interface eth0"):
        run(host, [endpoint(p, "c1", 2), endpoint(p, "c2", 3)])
    assert f"v{p}" not in ip(host, "-br", "link")
    assert "eth0" not in ip(f"{p}-c1", "-br", "link")


def test_check_mode_with_dependencies_not_there_yet(lab):
    """A netns and a bridge that an earlier task would create in check mode: plan, warn, create nothing."""
    p, host = lab
    cfg = [endpoint(p, "later", 2, bridge="brtlater")]
    result = run(host, cfg, check=True)
    assert [a["op"] for a in result["actions"]] == ["create"]
    assert any("netns" in w for w in result["warnings"]) and any("brtlater" in w for w in result["warnings"])
    assert f"{p}-later" not in netns_names()
    assert f"v{p}" not in ip(host, "-br", "link")


def test_delete_namespace_drops_pair(lab):
    p, host = lab
    run(host, [endpoint(p, "c1", 2)])
    subprocess.run(["ip", "netns", "del", f"{p}-c1"], check=True)
    # the kernel drops the pair with the namespace; the host end disappears shortly after
    deadline = time.monotonic() + 3
    while f"v{p}c1" in ip(host, "-br", "link") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run(host, [{"name": f"v{p}c1"}], state="deleted")["changed"] is False


def test_routes_and_link_local_gateway(lab):
    p, host = lab
    cfg = [
        endpoint(
            p,
            "c1",
            2,
            peer={
                "gateway": ["172.31.0.1", "fe80::1"],
                "routes": [{"dst": "10.50.0.0/16", "via": "172.31.0.1"}, {"dst": "fd00:50::/48", "via": "fd00:31::1"}],
            },
        )
    ]
    run(host, cfg)
    assert "10.50.0.0/16 via 172.31.0.1 dev eth0" in ip(f"{p}-c1", "route")
    v6 = ip(f"{p}-c1", "-6", "route")
    assert "default via fe80::1 dev eth0" in v6 and "fd00:50::/48 via fd00:31::1 dev eth0" in v6
    assert run(host, cfg)["changed"] is False
    fewer = run(host, [endpoint(p, "c1", 2, peer={"gateway": ["172.31.0.1"], "routes": []})], state="replaced")
    [action] = fewer["actions"]
    assert action["params"]["del_gateway"] == ["fe80::1"] and len(action["params"]["del_routes"]) == 2
    assert "10.50.0.0" not in ip(f"{p}-c1", "route") and "fe80::1" not in ip(f"{p}-c1", "-6", "route")


def test_route_module_overridden_keeps_the_veths_routes(lab):
    """veth's gateway and routes are the veth's: the route module's overridden (proto 78 only) leaves them."""
    p, host = lab
    ns = f"{p}-c1"
    cfg = [endpoint(p, "c1", 2, peer={"routes": [{"dst": "10.50.0.0/16", "via": "172.31.0.1"}]})]
    run(host, cfg)
    before = ip(ns, "route") + ip(ns, "-6", "route")
    with Netlink() as nl:
        result = converge(RouteEngine(), {"config": [], "state": "overridden", "scope": {"netns": ns}}, False, nl)
    assert result["changed"] is False and result["actions"] == []
    assert ip(ns, "route") + ip(ns, "-6", "route") == before
    assert "default via 172.31.0.1 dev eth0" in before and "10.50.0.0/16 via 172.31.0.1 dev eth0" in before
    assert run(host, cfg)["changed"] is False


def test_two_runs_at_once_both_converge(lab, tmp_path):
    """Two identical module runs at once: the second waits for the host lock, then finds nothing to do."""
    p, host = lab
    names = [f"{p}-m{i}" for i in range(24)]
    for ns in names:
        make_owned_netns(ns)
    cfg = [
        {
            "name": f"v{p}m{i}",
            "bridge": "brt0",
            "peer": {"name": "eth0", "netns": ns, "addresses": [f"172.31.0.{i + 10}/24"], "gateway": "172.31.0.1"},
        }
        for i, ns in enumerate(names)
    ]
    args = {"config": cfg, "state": "merged"}
    procs = [start_module(host, "veth", args, tmp_path) for _attempt in range(2)]
    results = [module_result(proc) for proc in procs]
    assert [r.get("failed", False) for r in results] == [False, False], [r.get("msg") for r in results]
    assert sorted(r["changed"] for r in results) == [False, True]
    for i, ns in enumerate(names):
        assert f"172.31.0.{i + 10}/24" in ip(ns, "addr", "show", "eth0")
    assert run(host, cfg)["changed"] is False


def test_lock_timeout_fails_naming_the_holder(lab, tmp_path):
    """While another run holds the host lock, a module with lock_timeout 0 fails at once and changes nothing."""
    p, host = lab
    args = {"config": [endpoint(p, "c1", 2)], "lock_timeout": 0}
    with host_lock(30):
        result = module_result(start_module(host, "veth", args, tmp_path))
    assert result["failed"] is True and result["changed"] is False
    assert HOST_LOCK_PATH in result["msg"] and f"pid {os.getpid()}" in result["msg"]
    assert f"v{p}c1" not in ip(host, "-br", "link")


def test_addresses_added_by_hand(lab):
    """An owned peer carries exactly its addresses: merged keeps a hand-made extra, replaced removes it."""
    p, host = lab
    ns = f"{p}-c1"
    cfg = [endpoint(p, "c1", 2)]
    run(host, cfg)
    ip(ns, "addr", "add", "172.31.0.99/24", "dev", "eth0")
    ip(ns, "addr", "add", "10.99.0.1/8", "dev", "eth0")
    ip(ns, "addr", "add", "fd00:99::1/64", "dev", "eth0", "nodad")
    assert run(host, cfg)["changed"] is False
    replaced = run(host, cfg, state="replaced")
    [action] = replaced["actions"]
    assert action["params"]["del_addresses"] == ["10.99.0.1/8", "172.31.0.99/24", "fd00:99::1/64"]
    addrs = ip(ns, "addr", "show", "eth0")
    assert "172.31.0.2/24" in addrs and "fd00:31::2/64" in addrs
    assert "172.31.0.99" not in addrs and "10.99.0.1" not in addrs and "fd00:99::1" not in addrs
    assert "default via 172.31.0.1" in ip(ns, "route") and ping(ns, "172.31.0.1")
    assert run(host, cfg, state="replaced")["changed"] is False
    # a hand-made primary address: removing it drops the kernel's secondaries and routes, which come back
    ip(ns, "addr", "del", "172.31.0.2/24", "dev", "eth0")
    ip(ns, "addr", "add", "172.31.0.98/24", "dev", "eth0")
    ip(ns, "addr", "add", "172.31.0.2/24", "dev", "eth0")
    ip(ns, "route", "replace", "default", "via", "172.31.0.1")
    assert run(host, cfg, state="replaced")["changed"] is True
    addrs = ip(ns, "addr", "show", "eth0")
    assert "172.31.0.2/24" in addrs and "172.31.0.98" not in addrs
    assert "default via 172.31.0.1" in ip(ns, "route") and ping(ns, "172.31.0.1")
    assert run(host, cfg, state="replaced")["changed"] is False


def test_live_owned_addresses(lab):
    """What IPAM must never hand out: the addresses live on owned interfaces, in every namespace, hand-made too."""
    p, host = lab
    run(host, [endpoint(p, "c1", 2)])
    ip(f"{p}-c1", "addr", "add", "172.31.0.77/24", "dev", "eth0")  # by hand, on an owned interface
    ip(f"{p}-c2", "link", "add", "hand9", "type", "veth", "peer", "name", "hand9p")  # not owned: not listed
    ip(f"{p}-c2", "addr", "add", "172.31.0.88/24", "dev", "hand9")
    with Netlink() as outer, outer.entered(host):
        live = live_owned_addresses()
    mine = sorted((x for x in live if x[0] is None or x[0].startswith(p)), key=lambda x: (x[0] or "", x[1:]))
    assert mine == [
        (None, "brt0", "172.31.0.1/24"),
        (None, "brt0", "fd00:31::1/64"),
        (f"{p}-c1", "eth0", "172.31.0.2/24"),
        (f"{p}-c1", "eth0", "172.31.0.77/24"),
        (f"{p}-c1", "eth0", "fd00:31::2/64"),
    ]


def test_foreign_namespace_is_not_adopted(lab):
    """A namespace the collection did not make gets no peer unless force; nothing changes before the refusal."""
    p, host = lab
    subprocess.run(["ip", "netns", "add", f"{p}-hand"], check=True)
    cfg = [endpoint(p, "c1", 2), endpoint(p, "hand", 3)]
    with pytest.raises(ConflictError, match=f"netns {p}-hand was not created by netplumb.container"):
        run(host, cfg)
    assert f"v{p}" not in ip(host, "-br", "link") and "eth0" not in ip(f"{p}-hand", "-br", "link")
    forced = run(host, cfg, force=True)
    assert [a["op"] for a in forced["actions"]] == ["create", "create"]
    assert "172.31.0.3/24" in ip(f"{p}-hand", "addr", "show", "eth0")
    assert run(host, cfg, force=True)["changed"] is False


def test_per_namespace_fallback_reads_the_same(lab, monkeypatch):
    """Kernels without target netnsids are read through a socket inside each namespace: same state, same plan."""
    p, host = lab
    cfg = [endpoint(p, "c1", 2, peer={"routes": [{"dst": "10.50.0.0/16", "via": "172.31.0.1"}]}), endpoint(p, "c2", 3)]
    run(host, cfg)
    by_netnsid = run(host, cfg, check=True)
    monkeypatch.setattr(RtnlReader, "use_netnsid", False)
    per_namespace = run(host, cfg, check=True)
    assert per_namespace["changed"] is False and by_netnsid["changed"] is False
    assert per_namespace["before"] == by_netnsid["before"]
    assert by_netnsid["before"][0]["peer"]["routes"] == [{"dst": "10.50.0.0/16", "via": "172.31.0.1"}]


def half_made_pair(p, host, c, mac):
    """Exactly what a run killed between creating the pair and setting its alias leaves: the host end up in the
    bridge, the peer born in the container's namespace with its final name and MAC, nothing else."""
    peer = ["peer", "name", "eth0", "address", mac, "netns", f"{p}-{c}"]
    ip(host, "link", "add", f"v{p}{c}", "up", "master", "brt0", "type", "veth", *peer)


def test_a_pair_an_interrupted_run_left_half_made_is_taken_over(lab):
    p, host = lab
    half_made_pair(p, host, "c1", "02:42:ac:1f:00:02")
    cfg = [endpoint(p, "c1", 2), endpoint(p, "c2", 3)]
    result = run(host, cfg)
    assert result["warnings"] == [
        f"veth v{p}c1: taking over a pair an interrupted run left half made (without the ownership mark, its peer "
        "down and without addresses in a namespace netplumb.container made, with exactly this peer's name, MAC, "
        "MTU and bridge)"
    ]
    assert [(a["op"], a["name"]) for a in result["actions"]] == [("update", f"v{p}c1"), ("create", f"v{p}c2")]
    assert link_json(host, f"v{p}c1")["ifalias"] == "netplumb.container"
    assert link_json(f"{p}-c1", "eth0")["ifalias"] == "netplumb.container"
    assert ping(f"{p}-c1", "172.31.0.3") and ping(f"{p}-c1", "172.31.0.1")
    again = run(host, cfg)
    assert again["changed"] is False and "warnings" not in again
    # The bridge sees only its own ports now: it can go without force.
    gone = converge_in(host, BridgeEngine(), [{"name": "brt0"}], state="deleted", check=True)
    assert gone["changed"] is True


@pytest.mark.parametrize("case", ["other mac", "peer up", "foreign namespace"])
def test_a_foreign_pair_is_not_taken_for_a_half_made_one(lab, case):
    p, host = lab
    c = "c1"
    if case == "foreign namespace":
        c = "hand"
        subprocess.run(["ip", "netns", "add", f"{p}-hand"], check=True)
    half_made_pair(p, host, c, "02:00:00:00:00:99" if case == "other mac" else "02:42:ac:1f:00:02")
    if case == "peer up":
        ip(f"{p}-{c}", "link", "set", "eth0", "up")
    result = run(host, [endpoint(p, c, 2)], force=case == "foreign namespace")
    assert "warnings" not in result
    assert "ifalias" not in link_json(host, f"v{p}{c}")
    with pytest.raises(ConflictError, match=r"ports that netplumb\.container does not own"):
        converge_in(host, BridgeEngine(), [{"name": "brt0"}], state="deleted")
