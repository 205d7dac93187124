"""playbooks/verify_fleet.yml on a segmented lab whose container slices are wired by hand.

Three hosts on two segments (h1 h2 | router | h3); on host hI a bridge with 10.244.I.1/24 and one
container (a netns) with 10.244.I.2, eth0 MTU 1500. h1 and h2 route each other's slice directly (host-gw);
the router knows every slice, h3 reaches the others through it. No NAT, so the listeners see the senders'
container addresses. Each test breaks one thing (and repairs it) and checks that the matrix names it.
"""

from __future__ import annotations

import json
import shutil
import uuid

import pytest

from .conftest import REPO, Lab, run_playbook, task_results, unique_lab_name

PLAYBOOK = REPO / "playbooks" / "verify_fleet.yml"
UNDERLAY = {"h1": "198.18.0.11", "h2": "198.18.0.12", "h3": "198.18.1.13"}
ROUTER = {"h1": "198.18.0.1", "h2": "198.18.0.1", "h3": "198.18.1.1"}
SEGMENT = {"h1": 1, "h2": 1, "h3": 2}


def slice_of(host: str) -> str:
    return f"10.244.{host[1:]}.0/24"


def container_address(host: str) -> str:
    return f"10.244.{host[1:]}.2"


@pytest.fixture(scope="module")
def wired():
    lab = Lab(unique_lab_name(), hosts=3, segments=2)
    name = "v" + uuid.uuid4().hex[:5]
    try:
        lab.up()
        for host in UNDERLAY:
            n = host[1:]
            lab.sh(
                host,
                f"set -e; echo 1 > /proc/sys/net/ipv4/ip_forward; ip netns add {name}; "
                f"ip link add {name}br type bridge; ip addr add 10.244.{n}.1/24 dev {name}br; ip link set {name}br up; "
                f"ip link add {name}v type veth peer name eth0 netns {name}; ip link set {name}v master {name}br up; "
                f"ip -n {name} addr add 10.244.{n}.2/24 dev eth0; ip -n {name} link set eth0 up; "
                f"ip -n {name} link set lo up; ip -n {name} route add default via 10.244.{n}.1",
            )
            for peer in UNDERLAY:
                if peer == host:
                    continue
                # Same segment: straight to the peer (host-gw); else via the router.
                via = UNDERLAY[peer] if SEGMENT[peer] == SEGMENT[host] else ROUTER[host]
                lab.sh(host, f"ip route add {slice_of(peer)} via {via}")
            lab.sh("router", f"ip route add {slice_of(host)} via {UNDERLAY[host]}")
        yield lab, name
    finally:
        lab.down(check=False)


def verify(lab: Lab, name: str, check: bool = True, **extra) -> dict:
    return lab.play(PLAYBOOK, check=check, extra_vars={"endpoints_containers": [{"name": name}], **extra})


def matrix(report: dict) -> list[str]:
    return task_results(report, "Print it (rows - from, columns - to)")["localhost"]["msg"].splitlines()


def failure(report: dict) -> str:
    return task_results(report, "Every path is as expected")["localhost"].get("msg", "")


def listeners_left(lab: Lab) -> list[str]:
    return [h for h in UNDERLAY if lab.sh(h, "ls /run/netplumb-verify-fleet.* 2>/dev/null", check=False).stdout]


def test_all_paths(wired):
    lab, name = wired
    report = verify(lab, name)
    rows = matrix(report)
    assert rows[0].split() == ["from", "\\", "to", "h1", "h2", "h3"]
    table = {row.split()[0]: row.split()[1:] for row in rows[1:4]}
    assert table == {"h1": ["-", "ok", "ok"], "h2": ["ok", "-", "ok"], "h3": ["ok", "ok", "-"]}
    assert f"h3: {name} 10.244.3.2 mtu 1500" in rows
    assert failure(report) == "Fleet matrix: every path as expected"
    # The paths were really tried: the TCP listener on h3 saw h1's container address.
    paths = task_results(report, "Try them (ping, TCP with the source address, don't-fragment ping)")
    assert "10.244.3.2 tcp 10.244.1.2" in paths["h1"]["stdout"]
    assert "10.244.1.2 mtu 1" in paths["h3"]["stdout"]
    assert listeners_left(lab) == []
    assert all(r["changed"] is False for r in paths.values())


def test_a_broken_path_fails_and_is_named(wired):
    lab, name = wired
    # The router forgets h1's slice: h3's traffic to h1 goes the router's default way (outside) and is lost.
    lab.sh("router", f"ip route del {slice_of('h1')}")
    try:
        report = verify(lab, name, check=False)
    finally:
        lab.sh("router", f"ip route add {slice_of('h1')} via {UNDERLAY['h1']}")
    assert report["rc"] != 0
    text = failure(report)
    # h1's requests reach h3 but the answers are lost; h3's own requests too: both directions are holes.
    assert "h1 -> h3: no ping" in text and "h3 -> h1: no ping" in text and "h1 -> h3: no tcp" in text
    assert "h1 -> h2" not in text and "h2 -> h3" not in text
    table = {row.split()[0]: row for row in matrix(report)[1:4]}
    assert "HOLE ping,tcp" in table["h1"] and "HOLE ping,tcp" in table["h3"] and "HOLE" not in table["h2"]
    assert listeners_left(lab) == []


def restore_mtu(lab: Lab, name: str) -> None:
    lab.sh("router", "ip link set ul1 mtu 1500")
    # The senders learnt a path MTU of 1400 from the router's ICMP; it would outlive the repair by minutes.
    for host in UNDERLAY:
        lab.sh(host, f"ip route flush cache; ip -n {name} route flush cache")


def test_path_mtu_too_small_across_the_router(wired):
    lab, name = wired
    lab.sh("router", "ip link set ul1 mtu 1400")
    try:
        report = verify(lab, name, check=False)
    finally:
        restore_mtu(lab, name)
    assert report["rc"] != 0
    text = failure(report)
    assert "h1 -> h3: no don't-fragment ping of 1500 bytes" in text
    assert "h1 -> h2" not in text  # same segment: no router, full MTU
    # Told to expect the smaller size, the same fleet passes.
    lab.sh("router", "ip link set ul1 mtu 1400")
    try:
        report = verify(lab, name, verify_fleet_mtu=1400)
    finally:
        restore_mtu(lab, name)
    assert failure(report) == "Fleet matrix: every path as expected"


def test_masquerade_shows_as_a_wrong_source(wired):
    lab, name = wired
    if not shutil.which("iptables"):
        pytest.skip("iptables not installed")
    rule = f"-s {slice_of('h2')} -o ul0 -j MASQUERADE"
    lab.sh("h2", f"iptables -t nat -A POSTROUTING {rule}")
    try:
        report = verify(lab, name, check=False)
    finally:
        lab.sh("h2", f"iptables -t nat -D POSTROUTING {rule}")
    text = failure(report)
    assert f"h2 -> h1: tcp source seen as {UNDERLAY['h2']}, not 10.244.2.2" in text
    assert f"h2 -> h3: tcp source seen as {UNDERLAY['h2']}, not 10.244.2.2" in text
    assert "h1 -> " not in text and "h3 -> " not in text


def test_unexpected_reach(wired):
    lab, name = wired
    report = verify(lab, name, check=False, verify_fleet_blocked=[{"from": "h1", "to": "h2"}, {"to": "10.244.3.0/24"}])
    assert report["rc"] != 0
    text = failure(report)
    assert "h1 -> h2: reached, expected blocked" in text
    assert "h1 -> h3: reached, expected blocked" in text and "h2 -> h3: reached, expected blocked" in text
    assert "h2 -> h1" not in text and "h3 -> h1" not in text
    table = {row.split()[0]: row.split()[1:] for row in matrix(report)[1:4]}
    assert table["h1"] == ["-", "REACHED", "REACHED"] and table["h2"] == ["ok", "-", "REACHED"]


def test_blocked_paths_that_are_blocked_pass(wired):
    lab, name = wired
    # h2 drops whatever comes from h1's slice: h1 -> h2 is blocked for real, h2 -> h1 gets no replies either.
    rule = f"-s {slice_of('h1')} -j DROP"
    lab.sh("h2", f"iptables -I FORWARD {rule}")
    try:
        report = verify(lab, name, verify_fleet_blocked=[{"from": "h1", "to": "h2"}, {"from": "h2", "to": "h1"}])
    finally:
        lab.sh("h2", f"iptables -D FORWARD {rule}")
    table = {row.split()[0]: row.split()[1:] for row in matrix(report)[1:4]}
    assert table["h1"] == ["-", "blocked", "ok"] and table["h2"] == ["blocked", "-", "ok"]


@pytest.mark.parametrize(
    ("blocked", "message"),
    [
        ("h1", "verify_fleet_blocked: must be a list, got 'h1'"),
        ([{"to": "nowhere"}], "verify_fleet_blocked[0].to (a host of the fleet, an address or a network)"),
        ([{"from": "h9", "to": "h1"}], "verify_fleet_blocked[0].from: 'h9' is not a host of the fleet"),
        ([{"to": "h1", "when": "always"}], "verify_fleet_blocked[0]: must be a mapping with 'to'"),
    ],
)
def test_bad_blocked_fails_before_any_probe(wired, blocked, message):
    lab, name = wired
    report = verify(lab, name, check=False, verify_fleet_blocked=blocked)
    assert report["rc"] != 0
    assert message in json.dumps(report)
    assert listeners_left(lab) == []
    assert not task_results(report, "Start the listener in the probe container (it answers with the peer's address)")


def test_container_override_and_check_mode(wired, tmp_path):
    lab, name = wired
    inv = tmp_path / "inv"
    (inv / "host_vars").mkdir(parents=True)
    (inv / "group_vars").mkdir()
    shutil.copy(lab.inventory, inv / "lab.netplumb_lab.yml")
    (inv / "group_vars" / "lab_hosts.yml").write_text(f"endpoints_containers: [{{name: {name}}}]\n")
    # h2 lists no bridge-mode container: only the override makes it a probe source and target.
    (inv / "host_vars" / "h2.yml").write_text(
        f"endpoints_containers: [{{name: other, mode: none}}]\nverify_fleet_container: {name}\n"
    )
    report = run_playbook(PLAYBOOK, "--check", inventory=inv)
    assert failure(report) == "Fleet matrix: every path as expected"
    assert f"h2: {name} 10.244.2.2 mtu 1500" in matrix(report)
    (inv / "host_vars" / "h2.yml").write_text("endpoints_containers: [{name: other, mode: none}]\n")
    report = run_playbook(PLAYBOOK, inventory=inv, check=False)
    assert report["rc"] != 0 and "no bridge-mode container in endpoints_containers" in json.dumps(report)
