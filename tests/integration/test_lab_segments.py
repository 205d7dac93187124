"""The lab with several underlay segments joined by a router host (lab_segments)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import Lab, ansible_env, launcher, root_view, run_playbook, task_results, unique_lab_name
from .test_lab import lab_pids, untag

# 4 hosts on 2 segments: h1 h2 on 198.18.0.0/24, h3 h4 on 198.18.1.0/24 (the address keeps the host number).
ADDRESSES = {"h1": "198.18.0.11", "h2": "198.18.0.12", "h3": "198.18.1.13", "h4": "198.18.1.14"}


@pytest.fixture(scope="module")
def seg():
    the_lab = Lab(unique_lab_name(), hosts=4, segments=2)
    try:
        the_lab.up()
        yield the_lab
    finally:
        the_lab.down(check=False)


def forwarded(lab: Lab, host: str = "router") -> int:
    """IP datagrams the host has forwarded so far (its netns's /proc/net/snmp, Ip: ForwDatagrams)."""
    lines = [line.split() for line in lab.sh(host, "cat /proc/net/snmp").stdout.splitlines() if line.startswith("Ip:")]
    return int(dict(zip(lines[0], lines[1]))["ForwDatagrams"])


def ping_ttl(lab: Lab, host: str, target: str) -> int:
    out = lab.sh(host, f"ping -n -c1 -W3 {target}").stdout
    return int(re.search(r"ttl=(\d+)", out).group(1))


def test_addresses_and_routes(seg):
    state = seg.state()
    assert sorted(state["hosts"]) == ["h1", "h2", "h3", "h4", "outside", "router"]
    assert [s["subnet"] for s in state["segments"]] == ["198.18.0.0/24", "198.18.1.0/24"]
    for host, address in ADDRESSES.items():
        segment = 1 if address.startswith("198.18.0.") else 2
        assert state["hosts"][host]["address"] == address and state["hosts"][host]["segment"] == segment
        assert seg.sh(host, "ip -br -4 addr show ul0").stdout.split()[2] == f"{address}/24"
        routes = json.loads(seg.sh(host, "ip -j -4 route show").stdout)
        via = {r["dst"]: r.get("gateway") for r in routes}
        other = "198.18.1.0/24" if segment == 1 else "198.18.0.0/24"
        router = "198.18.0.1" if segment == 1 else "198.18.1.1"
        assert via[other] == router
        assert via["default"] == ("198.18.0.254" if segment == 1 else router)
    router = json.loads(seg.sh("router", "ip -j -4 addr show").stdout)
    assert {(a["ifname"], f"{i['local']}/{i['prefixlen']}") for a in router for i in a["addr_info"]} >= {
        ("ul0", "198.18.0.1/24"),
        ("ul1", "198.18.1.1/24"),
    }
    assert seg.sh("router", "cat /proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
    assert seg.sh("outside", "cat /proc/sys/net/ipv4/ip_forward").stdout.strip() == "0"
    outside = json.loads(seg.sh("outside", "ip -j -4 route show 198.18.1.0/24").stdout)
    assert [r["gateway"] for r in outside] == ["198.18.0.1"]
    # Each segment is a switch of its own: two bridges in two namespaces.
    switches = [s["switch"]["netns"] for s in state["segments"]]
    assert len(set(switches)) == 2 and state["switch"] == state["segments"][0]["switch"]


def test_across_the_router(seg):
    before = forwarded(seg)
    for source, target in (("h1", "h4"), ("h4", "h1"), ("h2", "h3"), ("h3", "h2")):
        # One hop: the reply's TTL is one less than a Linux host's 64.
        assert ping_ttl(seg, source, ADDRESSES[target]) == 63, f"{source} -> {target}"
    assert forwarded(seg) - before >= 8  # 4 echo requests + 4 replies went through the router


def test_same_segment_is_direct(seg):
    for source, target in (("h1", "h2"), ("h3", "h4")):
        route = json.loads(seg.sh(source, f"ip -j route get {ADDRESSES[target]}").stdout)[0]
        assert "gateway" not in route and route["dev"] == "ul0"
    before = forwarded(seg)
    for source, target in (("h1", "h2"), ("h2", "h1"), ("h3", "h4"), ("h4", "h3")):
        assert ping_ttl(seg, source, ADDRESSES[target]) == 64, f"{source} -> {target}"
    assert forwarded(seg) == before, "the router forwarded traffic between hosts of one segment"


def test_outside_from_both_segments(seg):
    assert ping_ttl(seg, "h1", "198.18.0.254") == 64
    assert ping_ttl(seg, "h4", "198.18.0.254") == 63
    assert ping_ttl(seg, "outside", "198.18.1.13") == 63
    assert ping_ttl(seg, "router", "198.18.0.254") == 64


def test_inventory_exposes_segments(seg):
    out = subprocess.run(
        [str(Path(os.sys.executable).parent / "ansible-inventory"), "-i", str(seg.inventory), "--list"],
        capture_output=True, text=True, env=ansible_env(), check=True,
    ).stdout  # fmt: skip
    data = json.loads(out, object_hook=untag)
    assert data["lab_hosts"]["hosts"] == ["h1", "h2", "h3", "h4"]
    assert data["lab_routers"]["hosts"] == ["router"] and data["lab_outside"]["hosts"] == ["outside"]
    assert sorted(data["lab"]["children"]) == ["lab_hosts", "lab_outside", "lab_routers"]
    hostvars = data["_meta"]["hostvars"]
    for host, address in ADDRESSES.items():
        assert hostvars[host]["netplumb_lab_underlay"] == f"{address}/24"
        assert hostvars[host]["netplumb_lab_segment"] == (1 if host in ("h1", "h2") else 2)
        assert hostvars[host]["netplumb_lab_underlay_interface"] == "ul0"
        assert hostvars[host]["netplumb_lab_underlay_address"] == address
    assert hostvars["outside"]["netplumb_lab_underlay"] == "198.18.0.254/24"
    assert hostvars["outside"]["netplumb_lab_segment"] == 1
    assert hostvars["router"]["netplumb_lab_underlays"] == ["198.18.0.1/24", "198.18.1.1/24"]


def test_one_segment_is_the_lab_of_before(lab):
    """The session's lab (lab_segments left at 1): no router, no segment records, one switch."""
    state = lab.state()
    assert "router" not in state["hosts"] and "segments" not in state
    assert all("segment" not in rec for rec in state["hosts"].values())
    assert lab.sh("h1", "ip -4 route show").stdout.split("\n")[0].split()[:3] == ["default", "via", "198.18.0.254"]
    assert len(lab.sh("h1", "ip -4 route show").stdout.strip().splitlines()) == 2


def test_up_again_same_lab_and_other_segments_rebuild(new_lab):
    one = new_lab(hosts=3, segments=2, outside=False)
    one.up()
    first = one.state()
    # 3 hosts on 2 segments: the larger block first.
    assert {h: r["segment"] for h, r in first["hosts"].items()} == {"h1": 1, "h2": 1, "h3": 2, "router": 1}
    assert first["hosts"]["h3"]["address"] == "198.18.1.13"
    assert one.sh("h1", "ip -4 route show default").stdout.strip() == ""  # no outside, no default route
    one.sh("h1", "ping -c1 -W3 198.18.1.13")
    assert task_results(one.up(), "Start or stop the lab")["localhost"]["changed"] is False
    assert one.state()["hosts"] == first["hosts"]
    one.segments = 1
    one.up()
    second = one.state()
    assert sorted(second["hosts"]) == ["h1", "h2", "h3"] and "segments" not in second
    assert second["hosts"]["h3"]["address"] == "198.18.0.13"
    assert not {r["pid"] for r in first["hosts"].values()} & set(lab_pids(one.name))


def test_nothing_in_the_root_namespace_and_down_leaves_nothing(new_lab):
    links_before, netns_before = root_view()
    one = new_lab(hosts=4, segments=3)
    one.up()
    links_up, netns_up = root_view()
    state = one.state()
    assert len(state["segments"]) == 3
    lab_netns = {rec["netns"] for rec in [*state["hosts"].values(), *(s["switch"] for s in state["segments"])]}
    new_root_netns = set()
    for name in netns_up - netns_before:
        with contextlib.suppress(OSError):  # someone else's, gone again
            new_root_netns.add(os.stat(f"/run/netns/{name}").st_ino)
    # The third segment works too (h4 is alone there: 4 on 3 = h1 h2 | h3 | h4).
    assert state["hosts"]["h4"]["address"] == "198.18.2.14"
    one.sh("h4", "ping -c1 -W3 198.18.0.11")
    one.sh("h4", "ping -c1 -W3 198.18.1.13")
    one.down()
    links_after = root_view()[0]
    ours = {"br0", "ul0", "ul1", "ul2", "ul-router", "ul-router1", "ul-router2", "ul-outside"}
    ours |= {f"ul-h{i}" for i in range(1, 5)}
    assert not (links_up - links_before) & ours and not (links_after - links_before) & ours
    assert not new_root_netns & lab_netns, "a lab namespace is mounted in the root's /run/netns"
    assert not Path(one.state_dir, one.name).exists()
    assert lab_pids(one.name) == []


def test_two_segmented_labs_at_once(seg, new_lab):
    other = new_lab(hosts=4, segments=2)
    other.up()
    mine, theirs = seg.state(), other.state()
    assert not {s["switch"]["netns"] for s in mine["segments"]} & {s["switch"]["netns"] for s in theirs["segments"]}
    assert theirs["hosts"]["h4"]["address"] == mine["hosts"]["h4"]["address"]
    before = forwarded(seg)
    other.sh("h1", "ping -c3 -i0.2 -W3 198.18.1.14")
    assert forwarded(other) >= 6
    assert forwarded(seg) == before, "the other lab's traffic went through this lab's router"
    other.down()
    assert ping_ttl(seg, "h1", "198.18.1.14") == 63


def test_kill_9_of_the_router_then_down(new_lab):
    one = new_lab(hosts=2, segments=2)
    one.up()
    router = one.state()["hosts"]["router"]["pid"]
    assert one.sh("h1", "ping -c1 -W3 198.18.1.12").returncode == 0
    os.kill(router, signal.SIGKILL)
    time.sleep(0.2)
    assert one.sh("h1", "ping -c1 -W1 198.18.1.12", check=False).returncode != 0
    assert launcher("status", "--lab", one.name)[0] == 3
    # up notices the dead router and rebuilds the whole lab.
    one.up()
    assert one.state()["hosts"]["router"]["pid"] != router
    assert ping_ttl(one, "h1", "198.18.1.12") == 63
    os.kill(one.state()["hosts"]["router"]["pid"], signal.SIGKILL)
    one.down()
    assert lab_pids(one.name) == []
    assert not Path(one.state_dir, one.name).exists()


@pytest.mark.parametrize(("value", "message"), [("0", "segments must be between 1 and 16, got 0"),
                                                ("17", "segments must be between 1 and 16, got 17")])  # fmt: skip
def test_bad_segments_change_nothing(value, message):
    name = unique_lab_name()
    rc, out = launcher("up", "--lab", name, "--hosts", "2", "--segments", value)
    assert rc == 1 and out["msg"] == message
    assert not Path("/run/netplumb-lab", name).exists() and lab_pids(name) == []


def test_bad_segments_in_the_role():
    name = unique_lab_name()
    report = run_playbook(
        Path(__file__).resolve().parents[2] / "playbooks" / "lab_up.yml",
        "-e", f"lab_name={name}", "-e", "lab_segments=two", check=False,
    )  # fmt: skip
    assert report["rc"] != 0
    assert "lab_segments" in json.dumps(report) and "two" in json.dumps(report)
    assert not Path("/run/netplumb-lab", name).exists() and lab_pids(name) == []
