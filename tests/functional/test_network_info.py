"""network_info against the real kernel: built with the engines in a throwaway host namespace, read back whole,
then drift made by hand and reported, each reported fix applied and the finding gone; nothing changed by looking.

Topology (every name carries the test's prefix):
  <p>-host: bridge <p>b 10.77.0.1/24 (owned), nat policy (nftables) with a published port, VXLAN device <p>vx
            (owned) with a peer (route proto 78 onlink, neighbour, FDB), a host-gw route proto 78
  <p>-c1, <p>-c2: owned namespaces on the bridge, addresses from an IPAM store in tmp_path
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _ipam
from ansible_collections.netplumb.container.plugins.module_utils._bridge import BridgeEngine
from ansible_collections.netplumb.container.plugins.module_utils._firewall import engine as nat_engine
from ansible_collections.netplumb.container.plugins.module_utils._info import gather
from ansible_collections.netplumb.container.plugins.module_utils._model import OWNER_MARK
from ansible_collections.netplumb.container.plugins.module_utils._netlink import Netlink
from ansible_collections.netplumb.container.plugins.module_utils._netns import NetnsEngine
from ansible_collections.netplumb.container.plugins.module_utils._runner import converge
from ansible_collections.netplumb.container.plugins.module_utils._veth import VethEngine

from .conftest import netns_names
from .linkhost import converge_in, ip, make_host, sh

PEER_MAC = "0a:58:0a:f5:01:00"

needs_nft = pytest.mark.skipif(not shutil.which("nft"), reason="nft is not installed")


def info_in(host: str, tmp_path, firewall: bool = True) -> dict:
    params = {
        "ipam_dir": str(tmp_path / "ipam"),
        "nat_record": str(tmp_path / "nat.json"),
        "firewall": firewall,
    }
    with Netlink() as outer, outer.entered(host), Netlink() as nl:
        return gather(nl, params)


def ipam(tmp_path, **params) -> dict:
    params.setdefault("state_dir", str(tmp_path / "ipam"))
    params.setdefault("pools", [{"subnet": "10.77.0.0/24", "gateway": "10.77.0.1"}])
    return _ipam.run_endpoints({"network": "net77", **params}, check_mode=False)


def nat(host: str, tmp_path, publish: list[dict]) -> dict:
    entry = {"network": "net77", "bridge": bridge_of(host), "subnets": ["10.77.0.0/24"], "publish": publish}
    params = {"config": [entry], "state": "merged", "backend": "nftables", "record_path": str(tmp_path / "nat.json")}
    with Netlink() as outer, outer.entered(host):  # the nat engine works in the calling thread's namespace
        return nat_engine.run(params, check_mode=False)


def bridge_of(host: str) -> str:
    return host.removesuffix("-host") + "b"


@pytest.fixture
def built(cleanup_netns, tmp_path):
    """The topology above, made with the collection's engines (the mesh by hand: its module is another branch's)."""
    p = cleanup_netns
    host = make_host(p)
    br = bridge_of(host)
    converge_in(host, BridgeEngine(), [{"name": br, "addresses": ["10.77.0.1/24"]}])
    containers = {"config": [{"name": f"{p}-c1"}, {"name": f"{p}-c2"}], "state": "merged", "scope": None}
    with Netlink() as nl:
        converge(NetnsEngine(), containers, False, nl)
    alloc = ipam(tmp_path, config=[{"endpoint": f"{p}-c1"}, {"endpoint": f"{p}-c2"}])["allocations"]
    veths = []
    for n in ("c1", "c2"):
        a = alloc[f"{p}-{n}"]
        peer = {"name": "eth0", "netns": f"{p}-{n}", "mac": a["mac"], "addresses": a["addresses"]}
        veths.append({"name": f"v{p}{n}", "bridge": br, "peer": {**peer, "gateway": [a["gateway"]]}})
    converge_in(host, VethEngine(), veths)
    c1 = alloc[f"{p}-c1"]["ipv4"]
    if shutil.which("nft"):
        nat(host, tmp_path, [{"host_port": 8080, "container_address": c1, "container_port": 80}])
    # The mesh, as the fleet role makes it: one VXLAN device, a vxlan peer and a host-gw peer.
    vx = f"{p}vx"
    sh(None, "ip", "-n", host, "link", "add", "ul0", "type", "veth", "peer", "name", "ul1")  # no dummy module here
    sh(None, "ip", "-n", host, "addr", "add", "198.18.7.1/24", "dev", "ul0")
    sh(None, "ip", "-n", host, "link", "set", "ul0", "up")
    sh(
        None,
        "ip",
        "-n",
        host,
        "link",
        "add",
        vx,
        "type",
        "vxlan",
        "id",
        "7",
        "dstport",
        "4789",
        "local",
        "198.18.7.1",
        "dev",
        "ul0",
        "nolearning",
    )
    sh(None, "ip", "-n", host, "link", "set", vx, "alias", OWNER_MARK, "up")
    sh(None, "ip", "-n", host, "route", "add", "10.245.1.0/24", "via", "10.245.1.0", "dev", vx, "onlink", "proto", "78")
    sh(None, "ip", "-n", host, "neigh", "add", "10.245.1.0", "lladdr", PEER_MAC, "dev", vx, "nud", "permanent")
    sh(None, "bridge", "-n", host, "fdb", "append", PEER_MAC, "dev", vx, "dst", "198.18.7.9", "self", "permanent")
    sh(None, "ip", "-n", host, "route", "add", "10.245.2.0/24", "via", "198.18.7.2", "proto", "78")
    return p, host, alloc


def mine(items: list[dict], p: str, key: str = "name") -> list[dict]:
    return [x for x in items if str(x.get(key) or "").startswith(p)]


def kinds(info: dict, p: str) -> dict[str, list[str]]:
    """kind -> objects of the drift findings that concern this test's names."""
    out: dict[str, list[str]] = {}
    for item in info["drift"]:
        if p in item["object"] or p in item["problem"]:
            out.setdefault(item["kind"], []).append(item["object"])
    return out


def view(host: str, tmp_path) -> dict:
    """What a look must never change: this test's namespaces, links of the host, the files in the state dirs."""
    p = host.removesuffix("-host")
    files = sorted(str(x.relative_to(tmp_path)) for x in tmp_path.rglob("*"))
    netns = {n for n in netns_names() if n.startswith(p)}  # other people's tests come and go meanwhile
    return {"netns": netns, "links": ip(host, "-br", "link"), "files": files}


@needs_nft
def test_reads_what_the_engines_built(built, tmp_path):
    p, host, alloc = built
    before = view(host, tmp_path)
    info = info_in(host, tmp_path)
    assert view(host, tmp_path) == before
    assert info["changed"] is False

    (net,) = [n for n in info["networks"] if n["name"] == "net77"]
    assert net["bridge"] == f"{p}b" and net["present"] and net["owned"] and net["up"]
    assert net["subnets"] == ["10.77.0.0/24"] and net["gateways"] == ["10.77.0.1"]
    assert net["addresses"] == ["10.77.0.1/24"] and net["mtu"] == 1500
    assert net["ipam_store"] == str(tmp_path / "ipam" / "net77.json")
    assert net["policy"]["masquerade"] is True and net["policy"]["icc"] is True
    assert {(x["name"], x["netns"], x["owned"]) for x in net["ports"]} == {
        (f"v{p}c1", f"{p}-c1", True),
        (f"v{p}c2", f"{p}-c2", True),
    }
    containers = {c["endpoint"]: c for c in net["containers"]}
    assert set(containers) == {f"{p}-c1", f"{p}-c2"}
    c1 = containers[f"{p}-c1"]
    assert c1["interface"] == "eth0" and c1["host_veth"] == f"v{p}c1"
    assert c1["addresses"] == alloc[f"{p}-c1"]["addresses"] and c1["mac"] == alloc[f"{p}-c1"]["mac"]

    (e1,) = [e for e in info["endpoints"] if e["name"] == f"{p}-c1"]
    assert e1["owned"] and e1["mode"] == "bridge" and e1["netns"] == f"{p}-c1"
    (eth0,) = e1["links"]
    assert (eth0["name"], eth0["bridge"], eth0["network"], eth0["host_veth"]) == ("eth0", f"{p}b", "net77", f"v{p}c1")
    assert {"dst": "0.0.0.0/0", "via": "10.77.0.1", "dev": "eth0"}.items() <= e1["routes"][0].items()
    assert e1["ipam"] == [{"network": "net77", "endpoint": f"{p}-c1", "addresses": [alloc[f"{p}-c1"]["ipv4"]]}]

    (store,) = [s for s in info["ipam"] if s["network"] == "net77"]
    assert {a["endpoint"] for a in store["allocations"]} == {f"{p}-c1", f"{p}-c2"}
    assert info["published"] == [
        {
            "network": "net77",
            "bridge": f"{p}b",
            "host_ip": "0.0.0.0",
            "host_port": 8080,
            "proto": "tcp",
            "container_address": alloc[f"{p}-c1"]["ipv4"],
            "container_port": 80,
            "endpoint": f"{p}-c1",
        }
    ]
    fw = info["firewall"]
    assert fw["backend"] == "nftables" and fw["networks"] == ["net77"] and fw["stale_chains"] == []
    assert fw["nftables"]["table"] == "inet netplumb" and fw["nftables"]["chains"]["dnat"] >= 1

    (vx,) = [d for d in info["mesh"]["vxlan"] if d["name"] == f"{p}vx"]
    assert (vx["vni"], vx["port"], vx["local"], vx["dev"], vx["learning"], vx["owned"]) == (
        7,
        4789,
        "198.18.7.1",
        "ul0",
        False,
        True,
    )
    assert {"mac": PEER_MAC, "dst": "198.18.7.9", "permanent": True} in vx["fdb"]
    assert {"address": "10.245.1.0", "mac": PEER_MAC, "permanent": True} in vx["neighbours"]
    peers = {x["subnet"]: x for x in info["mesh"]["peers"]}
    assert peers["10.245.1.0/24"] == {
        "subnet": "10.245.1.0/24",
        "via": "10.245.1.0",
        "dev": f"{p}vx",
        "backend": "vxlan",
        "vtep_mac": PEER_MAC,
        "underlay": "198.18.7.9",
    }
    assert peers["10.245.2.0/24"]["backend"] == "host-gw" and peers["10.245.2.0/24"]["underlay"] == "198.18.7.2"
    assert kinds(info, p) == {}, info["drift"]
    assert info["summary"]["drift"] == len(info["drift"])


@needs_nft
def test_drift_reported_with_working_fixes(built, tmp_path):
    p, host, _alloc = built
    br = f"{p}b"
    # 1. c2's namespace deleted by hand: its IPAM record is left behind
    sh(None, "ip", "netns", "del", f"{p}-c2")
    # 2. c1's IPAM record released by hand: its namespace still uses the address
    ipam(tmp_path, config=[{"endpoint": f"{p}-c1"}], state="deleted")
    # 3. a namespace the collection made, that nothing records
    with Netlink() as nl:
        converge(NetnsEngine(), {"config": [{"name": f"{p}-c3"}], "state": "merged", "scope": None}, False, nl)
    # 4. someone else's interface on the collection's bridge
    sh(None, "ip", "-n", host, "link", "add", f"{p}x", "type", "veth", "peer", "name", f"{p}y")
    sh(None, "ip", "-n", host, "link", "set", f"{p}x", "master", br)
    # 5. a published port to an address nobody holds, 6. the firewall flushed by another tool
    nat(host, tmp_path, [{"host_port": 8080, "container_address": "10.77.0.99", "container_port": 80}])
    sh(None, "ip", "netns", "exec", host, "nft", "flush", "chain", "inet", "netplumb", "postrouting")
    # 7. the FDB entry of the vxlan peer gone, 8. a neighbour of a peer that left
    sh(None, "bridge", "-n", host, "fdb", "del", PEER_MAC, "dev", f"{p}vx", "dst", "198.18.7.9", "self")
    sh(
        None,
        "ip",
        "-n",
        host,
        "neigh",
        "add",
        "10.245.9.0",
        "lladdr",
        "0a:58:0a:f5:09:00",
        "dev",
        f"{p}vx",
        "nud",
        "permanent",
    )

    before = view(host, tmp_path)
    info = info_in(host, tmp_path)
    assert view(host, tmp_path) == before
    found = kinds(info, p)
    assert found == {
        "address_unrecorded": [f"netns {p}-c1"],
        "netns_unrecorded": [f"netns {p}-c1", f"netns {p}-c3"],
        "record_without_netns": [f"ipam net77/{p}-c2"],
        "foreign_port": [f"link {p}x"],
        "publish_without_endpoint": ["publish 0.0.0.0:8080/tcp"],
        "mesh_incomplete": ["route 10.245.1.0/24"],
        "mesh_stale": [f"neighbour 10.245.9.0 dev {p}vx"],
    }
    assert next(d for d in info["drift"] if d["kind"] == "firewall_stale")["object"] == "firewall nftables"
    by_kind = {d["kind"]: d for d in info["drift"] if p in d["object"] or p in d["problem"]}

    # The fixes work: each task, run as given, makes its finding go away.
    task = by_kind["record_without_netns"]["fix"]["task"]["netplumb.container.ipam"]
    _ipam.run_endpoints(task, check_mode=False)
    task = by_kind["address_unrecorded"]["fix"]["task"]["netplumb.container.ipam"]
    _ipam.run_endpoints(task, check_mode=False)
    c3 = next(x for x in info["drift"] if x["object"] == f"netns {p}-c3")["fix"]
    assert c3["command"] == f"ip netns del {p}-c3"
    with Netlink() as nl:
        converge(NetnsEngine(), {**c3["task"]["netplumb.container.netns"], "scope": None}, False, nl)
    sh(None, "ip", "-n", host, *by_kind["foreign_port"]["fix"]["command"].split()[1:])
    task = by_kind["publish_without_endpoint"]["fix"]["task"]["netplumb.container.nat"]
    params = {**task, "state": "merged", "backend": "nftables", "record_path": str(tmp_path / "nat.json")}
    with Netlink() as outer, outer.entered(host):
        nat_engine.run(params, check_mode=False)
    after = info_in(host, tmp_path)
    assert set(kinds(after, p)) == {"mesh_incomplete", "mesh_stale"}, after["drift"]
    assert not [d for d in after["drift"] if d["kind"] == "firewall_stale"], "the nat run rendered the rules again"


def test_check_mode_creates_nothing_and_corrupt_records_are_errors(cleanup_netns, tmp_path):
    """No namespace, no state dir and no lock file appear; a corrupt store is an error, not a crash."""
    p = cleanup_netns
    host = make_host(p)
    before = view(host, tmp_path)
    info = info_in(host, tmp_path, firewall=False)
    assert view(host, tmp_path) == before
    assert not (tmp_path / "ipam").exists()
    assert info["firewall"]["read"] is False and info["firewall"]["backend"] is None
    assert mine(info["networks"], p, "bridge") == [] and mine(info["endpoints"], p) == []
    (tmp_path / "ipam").mkdir()
    (tmp_path / "ipam" / "bad.json").write_text("{not json")
    (tmp_path / "nat.json").write_text(json.dumps(["a list"]))
    info = info_in(host, tmp_path, firewall=False)
    assert any("bad.json" in e and "not valid JSON" in e for e in info["errors"]), info["errors"]
    assert any("nat.json" in e for e in info["errors"]), info["errors"]
    assert sorted(os.listdir(tmp_path / "ipam")) == ["bad.json"]


def test_module_in_check_mode_through_ansible(cleanup_netns, tmp_path):
    """The module itself (ansible localhost, check mode) inside the host namespace: it runs and returns the keys."""
    p = cleanup_netns
    host = make_host(p)
    converge_in(host, BridgeEngine(), [{"name": f"{p}b", "addresses": ["10.77.0.1/24"]}])
    args = json.dumps({"ipam_dir": str(tmp_path / "ipam"), "nat_record": str(tmp_path / "n.json"), "firewall": False})
    out = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            host,
            "ansible",
            "localhost",
            "-c",
            "local",
            "--check",
            "-o",
            "-m",
            "netplumb.container.network_info",
            "-a",
            args,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert "SUCCESS" in out.stdout, out.stdout + out.stderr
    result = json.loads(out.stdout.split("=>", 1)[1])
    assert result["changed"] is False
    (net,) = result["networks"]
    assert (net["name"], net["bridge"], net["owned"]) == (None, f"{p}b", True)
    assert [d["kind"] for d in result["drift"] if d["object"] == f"bridge {p}b"] == ["bridge_unrecorded"]


def test_reads_while_another_run_holds_the_locks(built, tmp_path):
    """A long ipam or nat run holds its store's lock: network_info neither waits for it nor takes it."""
    from ansible_collections.netplumb.container.plugins.module_utils._firewall.engine import record_store
    from ansible_collections.netplumb.container.plugins.module_utils._store import JsonStore

    p, host, alloc = built
    store = JsonStore(str(tmp_path / "ipam" / "net77.json"), _ipam.FORMAT, "IPAM store")
    got: list[dict] = []
    with store.locked(write=True), record_store(str(tmp_path / "nat.json")).locked(write=True):
        reader = threading.Thread(target=lambda: got.append(info_in(host, tmp_path, firewall=False)), daemon=True)
        reader.start()
        reader.join(timeout=120)  # generous: the machine is shared; a reader that waited for the lock never ends
        assert got, "network_info waited for a lock held by another run"
    info = got[0]
    (net,) = [n for n in info["networks"] if n["name"] == "net77"]
    assert {c["endpoint"] for c in net["containers"]} == {f"{p}-c1", f"{p}-c2"}
    assert [a["endpoint"] for a in info["ipam"][0]["allocations"]] == sorted(alloc)
