"""Verify the fleet scenario: a slice per host, the mesh (host-gw on a segment, VXLAN across the router),
traffic between every pair of hosts' containers (the fleet matrix), and, after side_effect dropped h4,
that the other hosts hold no route, FDB or neighbour entry for it.

Each test runs once per host (molecule's inventory); the peers are reached with the lab backend.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.netplumb.container.tests.testinfra_lab import lab_host

LAB = "molf"
HOSTS = ["h1", "h2", "h3", "h4"]
SEGMENT = {"h1": 1, "h2": 1, "h3": 2, "h4": 2}
REPO = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
LEFT = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"), "fleet-left")


def left() -> list[str]:
    """The hosts side_effect dropped from the fleet (none before it ran)."""
    return LEFT.read_text().split() if LEFT.exists() else []


def members() -> list[str]:
    return [h for h in HOSTS if h not in left()]


@pytest.fixture(scope="module")
def fleet():
    """host -> {slice, underlay, node} for every lab host of the scenario (members and the one that left)."""
    out = {}
    for name in HOSTS:
        node = lab_host(LAB, name)
        bridge = json.loads(node.run("ip -j -4 addr show dev docker0").stdout)[0]["addr_info"][0]
        ul0 = json.loads(node.run("ip -j -4 addr show dev ul0").stdout)[0]["addr_info"][0]
        slice_ = ipaddress.ip_network(f"{bridge['local']}/{bridge['prefixlen']}", strict=False)
        out[name] = {"slice": slice_, "gateway": bridge["local"], "underlay": ul0["local"], "node": node}
    return out


def name_of(host) -> str:
    return host.run("hostname").stdout.strip()


def routes(host) -> list[dict]:
    return json.loads(host.run("ip -j -4 route show table all").stdout)


def test_a_slice_of_the_cluster_range_each(host, fleet):
    me = name_of(host)
    cluster = ipaddress.ip_network("10.244.0.0/16")
    assert fleet[me]["slice"].subnet_of(cluster) and fleet[me]["slice"].prefixlen == 24
    assert fleet[me]["gateway"] == str(next(fleet[me]["slice"].hosts()))
    slices = [fleet[h]["slice"] for h in HOSTS]
    assert len(set(slices)) == len(HOSTS), f"slices overlap: {slices}"


def test_mesh_host_gw_on_a_segment_vxlan_across(host, fleet):
    me = name_of(host)
    if me not in members():
        pytest.skip(f"{me} left the fleet")
    table = {r["dst"]: r for r in routes(host) if "dst" in r}
    vxlan = {link["ifname"] for link in json.loads(host.run("ip -j -d link show type vxlan").stdout)}
    for peer in members():
        if peer == me:
            continue
        route = table.get(str(fleet[peer]["slice"]))
        assert route, f"{me} has no route to {peer}'s slice {fleet[peer]['slice']}"
        if SEGMENT[peer] == SEGMENT[me]:
            assert route.get("gateway") == fleet[peer]["underlay"] and route["dev"] == "ul0", route
        else:
            assert route["dev"] in vxlan, f"{me} -> {peer}: expected the VXLAN device, got {route}"
            assert "onlink" in route.get("flags", []), route


def test_mtu_over_vxlan(host):
    # The fleet uses VXLAN (two segments): 1500 underlay - 50 on the slice's bridge and on the containers.
    assert host.run("cat /sys/class/net/docker0/mtu").stdout.strip() == "1450"
    assert "mtu 1450" in host.run("ip -n web link show dev eth0").stdout


def test_the_fleet_matrix(host):
    """playbooks/verify_fleet.yml over the members (once, from the first host): ping, TCP with the
    real source address, and a 1450-byte don't-fragment ping between every pair."""
    if name_of(host) != "h1":
        pytest.skip("the matrix covers every host; run it once")
    pattern = ":".join(["all", *(f"!{h}" for h in left())])
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         str(REPO / "playbooks" / "verify_fleet.yml"), "-e", f"netplumb_hosts={pattern}"],
        capture_output=True, text=True, check=False, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-1000:]
    assert "every path as expected" in proc.stdout
    for peer in members():
        assert f"{peer}: web " in proc.stdout


def test_nothing_left_for_a_host_that_left(host, fleet):
    me = name_of(host)
    if not left() or me in left():
        pytest.skip("no host has left the fleet yet" if not left() else f"{me} is the one that left")
    for gone in left():
        gone_slice, gone_underlay = fleet[gone]["slice"], fleet[gone]["underlay"]
        dsts = [r for r in routes(host) if r.get("dst", "default") != "default"]
        stale = [r for r in dsts if ipaddress.ip_network(r["dst"], strict=False).overlaps(gone_slice)]
        assert stale == [], f"{me} still routes {gone}'s slice: {stale}"
        fdb = json.loads(host.run("bridge -j fdb show").stdout or "[]")
        assert [e for e in fdb if e.get("dst") == gone_underlay] == [], f"{me} keeps an FDB entry for {gone}"
        neigh = json.loads(host.run("ip -j -4 neigh show").stdout or "[]")
        assert [n for n in neigh if ipaddress.ip_address(n["dst"]) in gone_slice] == [], (
            f"{me} keeps a neighbour entry in {gone}'s slice"
        )
    # The others still reach each other (the matrix above ran without the one that left).
    for peer in members():
        if peer != me:
            assert host.run(f"ip netns exec web ping -c1 -W3 {fleet[peer]['gateway']}").rc == 0
