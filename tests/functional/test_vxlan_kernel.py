"""The vxlan engine against the real kernel, only ever inside throwaway namespaces.

Two "hosts" <p>-a and <p>-b are joined by a veth underlay ul0 (198.18.0.1/24 and 198.18.0.2/24). Each has a
bridge br0 with the gateway of its slice (10.244.1.1/24, 10.244.2.1/24) and one container namespace (<p>-ca,
<p>-cb: eth0 10.244.1.2 and 10.244.2.2). The module makes the VXLAN device in each host; the test adds the
flannel-style onlink route to the other slice (the route module's job) and sends real traffic.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._netlink import Netlink
from ansible_collections.netplumb.container.plugins.module_utils._runner import converge
from ansible_collections.netplumb.container.plugins.module_utils._vxlan import VxlanEngine, vtep_mac
from ansible_collections.netplumb.container.tests.functional.linkhost import converge_in, ip, sh

SIDES = {"a": ("198.18.0.1", "10.244.1"), "b": ("198.18.0.2", "10.244.2")}
OTHER = {"a": "b", "b": "a"}
MAC = {side: vtep_mac(1, addresses[0]) for side, addresses in SIDES.items()}
SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen()
print("ready", flush=True)
s.settimeout(30)
c, peer = s.accept()
c.sendall(peer[0].encode())
c.close()
"""
CLIENT = """
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print(c.recv(100).decode())
"""


class Pair:
    def __init__(self, prefix: str) -> None:
        self.p = prefix
        self.host = {side: f"{prefix}-{side}" for side in SIDES}
        self.container = {side: f"{prefix}-c{side}" for side in SIDES}

    def build(self) -> None:
        for ns in [*self.host.values(), *self.container.values()]:
            ip(None, "netns", "add", ns)
        ip(self.host["a"], "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", self.host["b"])
        for side, (underlay, net) in SIDES.items():
            h, c = self.host[side], self.container[side]
            for args in (
                f"addr add {underlay}/24 dev ul0",
                "link set ul0 up",
                "link set lo up",
                "link add br0 type bridge",
                f"addr add {net}.1/24 dev br0",
                "link set br0 up",
                f"link add veth0 type veth peer name eth0 netns {c}",
                "link set veth0 master br0 up",
            ):
                ip(h, *args.split())
            for args in (f"addr add {net}.2/24 dev eth0", "link set eth0 up", "link set lo up"):
                ip(c, *args.split())
            ip(c, "route", "add", "default", "via", f"{net}.1")
            sh(h, "sysctl", "-qw", "net.ipv4.ip_forward=1")

    def config(self, side: str, peers: list | None = None, **options) -> list[dict]:
        underlay, net = SIDES[side]
        if peers is None:
            other_underlay, other_net = SIDES[OTHER[side]]
            peers = [{"underlay": other_underlay, "mac": MAC[OTHER[side]], "address": f"{other_net}.0"}]
        entry = {"name": "npvx1", "vni": 1, "local": underlay, "dev": "ul0", "addresses": [f"{net}.0/32"]}
        entry.update(peers=peers, **options)
        return [entry]

    def apply(self, side: str, config=None, **kw) -> dict:
        return converge_in(self.host[side], VxlanEngine(), self.config(side) if config is None else config, **kw)

    def route(self, side: str) -> None:
        """The onlink route to the other slice, through its VTEP address (the route module's job)."""
        net = SIDES[OTHER[side]][1]
        ip(self.host[side], "route", "replace", f"{net}.0/24", "via", f"{net}.0", "dev", "npvx1", "onlink")

    def up(self) -> None:
        for side in SIDES:
            self.apply(side)
        for side in SIDES:
            self.route(side)

    def entries(self, side: str) -> tuple[str, str]:
        """The FDB and the permanent neighbour entries of the host's npvx1, as bridge and ip print them."""
        h = self.host[side]
        return (
            sh(None, "bridge", "-n", h, "fdb", "show", "dev", "npvx1").stdout,
            ip(h, "neigh", "show", "dev", "npvx1", "nud", "permanent"),
        )

    def snapshot(self, side: str) -> str:
        h = self.host[side]
        links = sh(None, "ip", "-n", h, "-d", "-o", "link", "show", check=False).stdout
        stable = " ".join(line.split(" state ")[0] for line in links.splitlines())
        fdb = sh(None, "bridge", "-n", h, "fdb", "show", "dev", "npvx1", check=False).stdout
        neigh = sh(None, "ip", "-n", h, "neigh", "show", "nud", "permanent", check=False).stdout
        addresses = [line.split()[:1] + line.split()[2:] for line in ip(h, "-br", "addr").splitlines()]
        return stable + fdb + neigh + repr(addresses)  # without operstate, which settles in its own time

    def ping(self, side: str, *extra: str, size: int | None = None) -> bool:
        target = SIDES[OTHER[side]][1] + ".2"
        args = ["ping", "-c2", "-i0.3", "-W2", "-q", *extra]
        if size is not None:
            args = ["ping", "-c1", "-W2", "-q", "-M", "do", "-s", str(size)]
        return sh(self.container[side], *args, target, check=False).returncode == 0

    def tcp_source(self, side: str, port: int = 8080) -> str:
        """Connect from this side's container to the other's; the address the server saw the client come from."""
        target = SIDES[OTHER[side]][1] + ".2"
        server = subprocess.Popen(
            ["ip", "netns", "exec", self.container[OTHER[side]], sys.executable, "-c", SERVER, target, str(port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout.readline().strip() == "ready"
            client = sh(self.container[side], sys.executable, "-c", CLIENT, target, str(port), check=False)
            return client.stdout.strip() if client.returncode == 0 else f"failed: {client.stderr.strip()[-200:]}"
        finally:
            server.kill()
            server.wait()

    def frag_creates(self, side: str) -> int:
        """Ip: FragCreates of the host namespace: how many fragments it made."""
        lines = [line.split() for line in sh(self.host[side], "cat", "/proc/net/snmp").stdout.splitlines()]
        head, values = [x for x in lines if x[0] == "Ip:"][:2]
        return int(values[head.index("FragCreates")])


@pytest.fixture
def pair(cleanup_netns):
    pair = Pair(cleanup_netns)
    pair.build()
    return pair


def summaries(result: dict) -> list[str]:
    return [a["summary"] for a in result["actions"]]


def test_check_apply_traffic_tcp_source_idempotent_and_deleted(pair):
    before = {side: pair.snapshot(side) for side in SIDES}
    check = pair.apply("a", check=True)
    assert check["changed"] and summaries(check) == [
        "create vxlan npvx1: addresses=['10.244.1.0/32'], dev=ul0, fdb=[['0e:01:c6:12:00:02', '198.18.0.2']], "
        "learning=False, local=198.18.0.1, mac=0e:01:c6:12:00:01, mtu=1450, "
        "neigh=[['10.244.2.0', '0e:01:c6:12:00:02']], port=4789, vni=1"
    ]
    assert pair.snapshot("a") == before["a"], "check mode changes nothing"

    applied = pair.apply("a")
    assert summaries(applied) == summaries(check) and applied["diff"] == check["diff"]
    assert pair.apply("b")["changed"]
    for side in SIDES:
        pair.route(side)
    details = ip(pair.host["a"], "-d", "link", "show", "npvx1")
    assert "vxlan id 1 local 198.18.0.1 dev ul0" in details and "dstport 4789 nolearning" in details
    assert "mtu 1450" in details and "link/ether 0e:01:c6:12:00:01" in details and "alias netplumb.container" in details
    vxlan_line = next(line for line in details.splitlines() if line.strip().startswith("vxlan id"))
    assert " group " not in vxlan_line and " remote " not in vxlan_line, "no multicast group, no default remote"
    assert pair.entries("a") == (
        "0e:01:c6:12:00:02 dst 198.18.0.2 self permanent\n",
        "10.244.2.0 lladdr 0e:01:c6:12:00:02 PERMANENT \n",
    )

    assert pair.ping("a") and pair.ping("b")
    assert pair.tcp_source("a") == "10.244.1.2", "the server sees the client's own address"
    assert pair.tcp_source("b", 8081) == "10.244.2.2"

    for side in SIDES:
        assert pair.apply(side, check=True)["changed"] is False
        again = pair.apply(side)
        assert again["changed"] is False and again["actions"] == [] and again["diff"] == {"before": {}, "after": {}}
        assert again["after"][0]["peers"] == [
            {"underlay": SIDES[OTHER[side]][0], "mac": MAC[OTHER[side]], "address": SIDES[OTHER[side]][1] + ".0"}
        ]

    gone = pair.apply("a", [{"name": "npvx1"}], state="deleted")
    assert summaries(gone) == ["delete vxlan npvx1"]
    assert "npvx1" not in ip(pair.host["a"], "-br", "link")
    assert not pair.ping("a")
    assert pair.apply("a", [{"name": "npvx1"}], state="deleted")["changed"] is False


def test_full_size_dont_fragment_ping_fits_the_tunnel_exactly(pair):
    pair.up()
    assert pair.ping("a"), "the path works"
    frags = pair.frag_creates("a")
    # 1422 bytes of ICMP data + 8 ICMP + 20 IP = 1450, the VXLAN MTU; outside, 1450 + 50 = 1500, the underlay's.
    assert pair.ping("a", size=1422)
    assert pair.ping("b", size=1422)
    assert pair.frag_creates("a") == frags, "the underlay carried it whole, nothing was fragmented"
    assert not pair.ping("a", size=1423), "one byte more does not fit and is refused (DF), not fragmented"


def test_peer_that_left_leaves_no_entries_and_traffic_stops(pair):
    pair.up()
    assert pair.ping("a")
    result = pair.apply("a", pair.config("a", []))
    assert summaries(result) == ["update vxlan npvx1: del_fdb=['0e:01:c6:12:00:02'], del_neigh=['10.244.2.0']"]
    assert result["diff"]["before"]["npvx1"]["peers"] and result["diff"]["after"]["npvx1"]["peers"] == []
    assert pair.entries("a") == ("", "")
    assert not pair.ping("a") and not pair.ping("b")
    assert pair.tcp_source("b").startswith("failed")
    assert pair.apply("a", pair.config("a", []))["changed"] is False

    assert summaries(pair.apply("a")) == [
        "update vxlan npvx1: add_fdb=[['0e:01:c6:12:00:02', '198.18.0.2']], "
        "add_neigh=[['10.244.2.0', '0e:01:c6:12:00:02']]"
    ]
    assert pair.ping("a")


def test_peers_are_exact_with_merged_and_foreign_entries_elsewhere_stay(pair):
    pair.up()
    h = pair.host["a"]
    # By hand: a stale peer on npvx1, and entries on other devices and on a vxlan device of someone else.
    sh(
        None,
        "bridge",
        "-n",
        h,
        "fdb",
        "add",
        "0e:01:c6:12:00:09",
        "dev",
        "npvx1",
        "dst",
        "198.18.0.9",
        "self",
        "permanent",
    )
    ip(h, "neigh", "add", "10.244.9.0", "lladdr", "0e:01:c6:12:00:09", "dev", "npvx1", "nud", "permanent")
    ip(h, "neigh", "add", "198.18.0.99", "lladdr", "0e:99:99:99:99:99", "dev", "ul0", "nud", "permanent")
    sh(None, "bridge", "-n", h, "fdb", "add", "0e:99:99:99:99:98", "dev", "veth0", "master", "static")
    ip(h, "link", "add", "fx1", "type", "vxlan", "id", "7", "local", "198.18.0.1", "dstport", "4790", "nolearning")
    sh(
        None,
        "bridge",
        "-n",
        h,
        "fdb",
        "add",
        "0e:99:99:99:99:97",
        "dev",
        "fx1",
        "dst",
        "198.18.0.2",
        "self",
        "permanent",
    )
    ip(h, "neigh", "add", "10.77.0.1", "lladdr", "0e:99:99:99:99:97", "dev", "fx1", "nud", "permanent")
    foreign = (
        ip(h, "neigh", "show", "nud", "permanent", "dev", "ul0"),
        sh(None, "bridge", "-n", h, "fdb", "show", "dev", "veth0").stdout,
        sh(None, "bridge", "-n", h, "fdb", "show", "dev", "fx1").stdout,
        ip(h, "neigh", "show", "nud", "permanent", "dev", "fx1"),
    )

    result = pair.apply("a")
    assert summaries(result) == ["update vxlan npvx1: del_fdb=['0e:01:c6:12:00:09'], del_neigh=['10.244.9.0']"]
    assert "0e:01:c6:12:00:09" not in "".join(pair.entries("a"))
    assert pair.ping("a")

    overridden = pair.apply("a", state="overridden", scope={"prefix": ""})
    assert overridden["changed"] is False, "fx1 is a vxlan, but not ours"
    deleted = pair.apply("a", [], state="deleted", scope={"prefix": "npvx"})
    assert summaries(deleted) == ["delete vxlan npvx1"]
    assert "fx1" in ip(h, "-br", "link")
    after = (
        ip(h, "neigh", "show", "nud", "permanent", "dev", "ul0"),
        sh(None, "bridge", "-n", h, "fdb", "show", "dev", "veth0").stdout,
        sh(None, "bridge", "-n", h, "fdb", "show", "dev", "fx1").stdout,
        ip(h, "neigh", "show", "nud", "permanent", "dev", "fx1"),
    )
    assert after == foreign and "0e:99:99:99:99:98" in after[1] and "10.77.0.1" in after[3]


def test_update_mtu_mac_learning_in_place_and_recreate_on_vni_change(pair):
    pair.up()
    index = ip(pair.host["a"], "-o", "link", "show", "npvx1").split(":")[0]
    result = pair.apply("a", pair.config("a", mtu=1400, learning="yes", mac="0e:00:00:00:01:01"))
    assert summaries(result) == [
        "update vxlan npvx1: add_neigh=[['10.244.2.0', '0e:01:c6:12:00:02']], learning=True, mac=0e:00:00:00:01:01, "
        "mtu=1400"
    ]
    assert pair.entries("a")[1] == "10.244.2.0 lladdr 0e:01:c6:12:00:02 PERMANENT \n", "survived the MAC change"
    details = ip(pair.host["a"], "-d", "link", "show", "npvx1")
    assert "mtu 1400" in details and "0e:00:00:00:01:01" in details and "nolearning" not in details
    assert ip(pair.host["a"], "-o", "link", "show", "npvx1").split(":")[0] == index, "changed in place"
    # b still has the old MAC for a: the tunnel is broken until b learns the new one
    assert not pair.ping("b")
    b = pair.config("b", peers=[{"underlay": "198.18.0.1", "mac": "0e:00:00:00:01:01", "address": "10.244.1.0"}])
    assert pair.apply("b", b)["changed"] and pair.ping("b")
    assert pair.apply("a", pair.config("a", mtu=1400, learning=True, mac="0e:00:00:00:01:01"))["changed"] is False

    for side, config in (("a", pair.config("a", vni=42)), ("b", pair.config("b", vni=42))):
        result = converge_in(pair.host[side], VxlanEngine(), config, state="replaced")
        assert summaries(result)[0].startswith("delete vxlan npvx1: recreate=vni 1 -> 42")
        assert summaries(result)[1].startswith("create vxlan npvx1: ") and len(result["actions"]) == 2
        pair.route(side)  # a new device has no routes: the route module puts them back
    details = ip(pair.host["a"], "-d", "link", "show", "npvx1")
    assert "vxlan id 42 " in details and "nolearning" in details and "mtu 1450" in details, "replaced: defaults again"
    assert f"link/ether {vtep_mac(42, '198.18.0.1')}" in details, "the derived MAC of the new VNI"
    assert not pair.ping("a"), "b's peer entry still has a's VNI-1 MAC"
    b = pair.config(
        "b", vni=42, peers=[{"underlay": "198.18.0.1", "mac": vtep_mac(42, "198.18.0.1"), "address": "10.244.1.0"}]
    )
    a = pair.config(
        "a", vni=42, peers=[{"underlay": "198.18.0.2", "mac": vtep_mac(42, "198.18.0.2"), "address": "10.244.2.0"}]
    )
    pair.apply("a", a)
    pair.apply("b", b)
    assert pair.ping("a") and pair.ping("b")


def test_device_in_a_named_netns_from_outside(pair):
    a = pair.host["a"]
    config = pair.config("a")
    config[0]["netns"] = a

    def run(check=False):
        params = {"config": config, "state": "merged", "scope": None, "force": False}
        with Netlink() as nl:
            return converge(VxlanEngine(), params, check, nl)

    check = run(check=True)
    assert summaries(check)[0].startswith(f"create vxlan npvx1 in netns {a}: ")
    assert "npvx1" not in ip(a, "-br", "link")
    assert run()["changed"] and "npvx1" in ip(a, "-br", "link")
    assert "npvx1" not in ip(None, "-br", "link"), "nothing in the namespace the module runs in"
    assert run()["changed"] is False


def test_ipv6_underlay(pair):
    six = {"a": "fd00:18::1", "b": "fd00:18::2"}
    for side in SIDES:
        ip(pair.host[side], "addr", "add", f"{six[side]}/64", "dev", "ul0", "nodad")
    for side in SIDES:
        other = OTHER[side]
        peers = [{"underlay": six[other], "mac": vtep_mac(6, six[other]), "address": SIDES[other][1] + ".0"}]
        config = pair.config(side, peers=peers, vni=6, local=six[side])
        assert pair.apply(side, config)["after"][0]["mtu"] == 1430, "1500 minus 70 over IPv6"
        assert pair.apply(side, config)["changed"] is False
    for side in SIDES:
        pair.route(side)
    assert f"local {six['a']} dev ul0" in ip(pair.host["a"], "-d", "link", "show", "npvx1")
    assert pair.ping("a") and pair.tcp_source("b") == "10.244.2.2"
    assert pair.ping("a", size=1402) and not pair.ping("a", size=1403)


def test_conflicts_and_bad_input_change_nothing(pair):
    h = pair.host["a"]
    before = pair.snapshot("a")
    with pytest.raises(ValidationError, match=r"vxlan npvx1: mtu 1451 is more than dev ul0 carries \(1500 minus 50"):
        pair.apply("a", pair.config("a", mtu=1451))
    with pytest.raises(ValidationError, match="vxlan npvx1: underlay dev nosuch0 does not exist"):
        pair.apply("a", pair.config("a", dev="nosuch0"))
    with pytest.raises(ValidationError, match=r"peers\[0\]\.mac 'nope' is not a MAC address"):
        pair.apply("a", pair.config("a", peers=[{"underlay": "198.18.0.2", "mac": "nope"}]))
    check = pair.apply("a", pair.config("a", dev="later0"), check=True)
    assert check["changed"] and "underlay dev later0 does not exist (yet)" in check["warnings"][0]
    assert pair.snapshot("a") == before

    ip(h, "link", "add", "npvx1", "type", "bridge")
    with pytest.raises(ConflictError, match=r"not a vxlan \(kind bridge\); nothing was changed"):
        pair.apply("a")
    with pytest.raises(ConflictError, match="kind bridge"):
        pair.apply("a", [{"name": "npvx1"}], state="deleted", force=True)
    result = pair.apply("a", force=True)
    assert summaries(result)[0].startswith("delete vxlan npvx1: recreate=kind bridge -> vxlan")
    assert "vxlan id 1" in ip(h, "-d", "link", "show", "npvx1")

    ip(h, "link", "del", "npvx1")
    ip(h, "link", "add", "npvx1", "type", "vxlan", "id", "1", "local", "198.18.0.1", "dev", "ul0", "dstport", "4789")
    with pytest.raises(ConflictError, match=r"npvx1 exists but was not created by netplumb\.container"):
        pair.apply("a")
    with pytest.raises(ConflictError, match="refusing to delete it"):
        pair.apply("a", [{"name": "npvx1"}], state="deleted")
    assert pair.apply("a", [], state="deleted", scope={"prefix": ""})["changed"] is False
    taken = pair.apply("a", force=True)
    assert "owned=True" in summaries(taken)[0] and "learning" not in summaries(taken)[0], "merged keeps learning"
    replaced = pair.apply("a", state="replaced")
    assert summaries(replaced) == ["update vxlan npvx1: learning=False"]
    assert "alias netplumb.container" in ip(h, "-d", "link", "show", "npvx1")

    ip(h, "link", "add", "fx2", "type", "vxlan", "id", "5", "local", "198.18.0.1", "dstport", "4789")
    with pytest.raises(ConflictError, match="vni 5 with port 4789 is already used by vxlan fx2"):
        pair.apply("a", pair.config("a", vni=5))


def test_two_runs_at_once_end_in_one_device(pair):
    errors: list[BaseException] = []

    def worker():
        try:
            pair.apply("a")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker), threading.Thread(target=worker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # The loser of the race sees the kernel's EEXIST, or the winner's device before its ownership mark:
    # either way it fails with a clear message, and nothing is left half made.
    assert len(errors) <= 1, errors
    assert all("File exists" in str(e) or "not created by netplumb.container" in str(e) for e in errors), errors
    assert pair.apply("a")["changed"] is False
    assert ip(pair.host["a"], "-br", "link").count("npvx1") == 1


def test_a_device_an_interrupted_run_left_half_made_is_completed(pair):
    # What a run killed right after creating the device leaves: the device, down, without its ownership mark.
    h = pair.host["a"]
    create = f"link add npvx1 address {MAC['a']} mtu 1450 type vxlan id 1 local 198.18.0.1 dev ul0 dstport 4789"
    ip(h, *create.split(), "nolearning")
    result = pair.apply("a")
    assert result["warnings"] == [
        "vxlan npvx1: taking over a device an interrupted run left half made (down, without the ownership mark, "
        "with exactly this VNI, port, local address and MAC)"
    ]
    assert summaries(result) == [
        "update vxlan npvx1: add_addresses=['10.244.1.0/32'], add_fdb=[['0e:01:c6:12:00:02', '198.18.0.2']], "
        "add_neigh=[['10.244.2.0', '0e:01:c6:12:00:02']], owned=True, up=True"
    ]
    pair.apply("b")
    for side in SIDES:
        pair.route(side)
    assert pair.ping("a")
    again = pair.apply("a")
    assert again["changed"] is False and "warnings" not in again
