"""The nat engine against the real kernel, with real traffic, in throwaway namespaces.

Topology per test (every name carries the test's prefix; nothing in the root namespace):

  outside (198.18.0.2, no forwarding)
     |  underlay veth
  host (198.18.0.1; bridges a/b/i; the nat engine runs here)
     |-- a-bridge 10.88.0.1/24: c1 10.88.0.2, c2 10.88.0.3
     |-- b-bridge 10.89.0.1/24: c3 10.89.0.2
     |-- i-bridge 10.90.0.1/24: c4 10.90.0.2   (internal)
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._firewall.engine import run
from ansible_collections.netplumb.container.plugins.module_utils._netlink import Netlink

HOST_UL, OUTSIDE = "198.18.0.1", "198.18.0.2"
BACKENDS = ["nftables", "iptables-nft", "iptables-legacy"]


def sh(*argv, check=True, timeout=15):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout)


def nsx(ns, *argv, check=True, timeout=15):
    return sh("ip", "netns", "exec", ns, *argv, check=check, timeout=timeout)


class Lab:
    def __init__(self, prefix, tmp_path):
        self.p = prefix
        self.host, self.outside = f"{prefix}h", f"{prefix}o"
        self.c = {i: f"{prefix}c{i}" for i in range(1, 5)}
        self.br = {"a": f"{prefix}a", "b": f"{prefix}b", "i": f"{prefix}i"}
        self.record = str(tmp_path / "nat.json")
        self.servers: list[subprocess.Popen] = []

    def build(self):
        p = self.p
        for ns in (self.host, self.outside, *self.c.values()):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.host, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", self.outside)
        sh("ip", "-n", self.host, "addr", "add", f"{HOST_UL}/24", "dev", "ul0")
        sh("ip", "-n", self.outside, "addr", "add", f"{OUTSIDE}/24", "dev", "ul0")
        for ns in (self.host, self.outside):
            sh("ip", "-n", ns, "link", "set", "ul0", "up")
        nsx(self.outside, "sysctl", "-qw", "net.ipv4.ip_forward=0")
        for key, net in (("a", 88), ("b", 89), ("i", 90)):
            sh("ip", "-n", self.host, "link", "add", self.br[key], "type", "bridge")
            sh("ip", "-n", self.host, "addr", "add", f"10.{net}.0.1/24", "dev", self.br[key])
            sh("ip", "-n", self.host, "link", "set", self.br[key], "up")
        for i, (key, addr) in {
            1: ("a", "10.88.0.2"),
            2: ("a", "10.88.0.3"),
            3: ("b", "10.89.0.2"),
            4: ("i", "10.90.0.2"),
        }.items():
            ns, veth = self.c[i], f"{p}v{i}"
            sh("ip", "-n", self.host, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "-n", self.host, "link", "set", veth, "master", self.br[key], "up")
            # A container reaching itself through the host needs its bridge port in hairpin mode
            # (br_netfilter bridges the DNATed frame back out of the port it came in on), as Docker sets it.
            sh("ip", "-n", self.host, "link", "set", veth, "type", "bridge_slave", "hairpin", "on")
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "route", "add", "default", "via", addr.rsplit(".", 1)[0] + ".1")

    def policy(self, **overrides_a):
        a = {
            "network": "neta",
            "bridge": self.br["a"],
            "subnets": ["10.88.0.0/24"],
            "publish": [{"host_port": 8080, "container_address": "10.88.0.2", "container_port": 80}],
        }
        a.update(overrides_a)
        return [
            a,
            {"network": "netb", "bridge": self.br["b"], "subnets": ["10.89.0.0/24"]},
            {"network": "neti", "bridge": self.br["i"], "subnets": ["10.90.0.0/24"], "internal": True},
        ]

    def converge(self, backend, config, state="merged", check=False, scope=None, record=None, **extra):
        params = {
            "config": config,
            "state": state,
            "scope": scope,
            "force": False,
            "backend": backend,
            "record_path": record or self.record,
            **extra,
        }
        with Netlink() as nl, nl.entered(self.host):
            return run(params, check)

    def add_ipv6(self):
        """Dual stack for network a: host/outside fd00:18::1/2, bridge fd00:88::1, c1 fd00:88::2."""
        for ns, dev, addr in (
            (self.host, "ul0", "fd00:18::1/64"),
            (self.outside, "ul0", "fd00:18::2/64"),
            (self.host, self.br["a"], "fd00:88::1/64"),
            (self.c[1], "eth0", "fd00:88::2/64"),
        ):
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev, "nodad")
        sh("ip", "-n", self.c[1], "-6", "route", "add", "default", "via", "fd00:88::1")
        # Fresh links' link-local addresses stay tentative (DAD) for a moment, and neighbour discovery
        # needs them: wait until none is left, or the first IPv6 connection can fail.
        for _attempt in range(100):
            if not any(nsx(ns, "ip", "-6", "addr", "show", "tentative").stdout.strip() for ns in self.namespaces()):
                return
            time.sleep(0.05)
        raise AssertionError("IPv6 addresses still tentative after 5 s")

    def namespaces(self):
        return (self.host, self.outside, *self.c.values())

    def serve(self, ns, port, text=None, family=4):
        """A TCP server that answers with ``text`` (or the peer's address) and closes."""
        reply = f"echo {text}" if text else "echo $SOCAT_PEERADDR"
        listen = (
            f"TCP4-LISTEN:{port},reuseaddr,fork" if family == 4 else f"TCP6-LISTEN:{port},ipv6only=1,reuseaddr,fork"
        )
        argv = ["ip", "netns", "exec", ns, "timeout", "60", "socat", listen, f"SYSTEM:{reply}"]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.servers.append(proc)
        for _attempt in range(50):
            if f":{port} " in nsx(ns, "ss", "-Hltn", f"-{family}").stdout:
                return
            time.sleep(0.05)
        raise AssertionError(f"server on {ns}:{port} did not start")

    def fetch(self, ns, addr, port) -> str:
        target = f"TCP6:[{addr}]:{port}" if ":" in addr else f"TCP4:{addr}:{port}"
        out = nsx(ns, "timeout", "4", "socat", "-T2", "-", f"{target},connect-timeout=2", check=False, timeout=10)
        return out.stdout.strip()

    def ping(self, ns, addr) -> bool:
        return nsx(ns, "ping", "-c1", "-W1", addr, check=False).returncode == 0

    def close(self):
        for proc in self.servers:
            proc.terminate()  # timeout(1) passes TERM on to socat; a KILL would leave socat running without it
            proc.wait()
        for ns in (self.host, self.outside, *self.c.values()):
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def lab(cleanup_netns, tmp_path):
    lab = Lab(cleanup_netns, tmp_path)
    try:
        lab.build()
        yield lab
    finally:
        lab.close()


def backend_of(lab, flavour):
    """nftables, or iptables with the variant made the one in use (legacy: its tables exist first)."""
    if flavour == "iptables-legacy":
        nsx(lab.host, "iptables-legacy", "-t", "nat", "-S")
        nsx(lab.host, "iptables-legacy", "-S")
    return "nftables" if flavour == "nftables" else "iptables"


def flush_firewall(lab, flavour):
    if flavour == "nftables":
        nsx(lab.host, "nft", "flush", "table", "inet", "netplumb")
    else:
        tool = flavour  # iptables-nft / iptables-legacy
        nsx(lab.host, tool, "-F")
        nsx(lab.host, tool, "-t", "nat", "-F")


def add_user_drop(lab, flavour, source):
    if flavour == "nftables":
        nsx(lab.host, "nft", "add", "rule", "inet", "netplumb", "user", "ip", "saddr", source, "drop")
    else:
        nsx(lab.host, flavour, "-A", "NETPLUMB-USER", "-s", source, "-j", "DROP")


@pytest.mark.parametrize("flavour", BACKENDS)
def test_traffic(lab, flavour):
    backend = backend_of(lab, flavour)
    lab.serve(lab.outside, 7000)  # prints the peer address it sees
    lab.serve(lab.c[1], 80, "hello-c1")

    check = lab.converge(backend, lab.policy(), check=True)
    assert check["changed"] and check["backend"] == backend
    assert lab.fetch(lab.c[1], OUTSIDE, 7000) == "", "check mode must not change the firewall"

    result = lab.converge(backend, lab.policy())
    assert result["changed"]
    assert [a["summary"] for a in result["actions"]] == [a["summary"] for a in check["actions"]]
    if flavour != "nftables":
        assert result["iptables_variant"] == flavour.split("-")[1]
    assert "net.ipv4.ip_forward" in {a["name"] for a in result["actions"] if a["kind"] == "sysctl"}

    # masquerade: the outside sees the host's underlay address
    assert lab.fetch(lab.c[1], OUTSIDE, 7000) == HOST_UL
    assert lab.fetch(lab.c[3], OUTSIDE, 7000) == HOST_UL
    # publish: the outside reaches c1 through the host's address
    assert lab.fetch(lab.outside, HOST_UL, 8080) == "hello-c1"
    # hairpin: c1 reaches its own published port, and c2 too, through the host's address
    assert lab.fetch(lab.c[2], HOST_UL, 8080) == "hello-c1"
    assert lab.fetch(lab.c[1], HOST_UL, 8080) == "hello-c1"
    # isolation between networks a and b (both ways), while icc inside a works
    assert lab.ping(lab.c[1], "10.88.0.3")
    assert not lab.ping(lab.c[1], "10.89.0.2")
    assert not lab.ping(lab.c[3], "10.88.0.2")
    # internal: no way out, and nothing in from the other networks; the gateway still answers
    assert lab.ping(lab.c[4], "10.90.0.1")
    assert not lab.ping(lab.c[4], OUTSIDE)
    assert not lab.ping(lab.c[1], "10.90.0.2")

    # idempotent, also in check mode
    assert lab.converge(backend, lab.policy(), check=True)["changed"] is False
    assert lab.converge(backend, lab.policy())["changed"] is False

    # a user chain rule takes effect and survives re-applies (also one that changes the policy)
    add_user_drop(lab, flavour, OUTSIDE)
    assert lab.fetch(lab.outside, HOST_UL, 8080) == ""
    assert lab.converge(backend, lab.policy())["changed"] is False
    assert lab.converge(backend, lab.policy(hairpin=False))["changed"] is True
    assert lab.fetch(lab.outside, HOST_UL, 8080) == ""
    assert lab.converge(backend, lab.policy())["changed"] is False, "merged keeps options that are left out"
    assert lab.converge(backend, lab.policy(), state="replaced")["changed"] is True, "replaced resets them"
    assert lab.fetch(lab.outside, HOST_UL, 8080) == ""

    # someone flushes the firewall: re-apply restores it and says changed
    flush_firewall(lab, flavour)
    assert lab.fetch(lab.c[1], OUTSIDE, 7000) == ""
    restored = lab.converge(backend, lab.policy())
    assert restored["changed"] is True
    assert lab.fetch(lab.c[1], OUTSIDE, 7000) == HOST_UL
    assert lab.converge(backend, lab.policy())["changed"] is False
    if flavour != "iptables-legacy":  # a firewalld-style reload: the whole nftables ruleset is gone
        nsx(lab.host, "nft", "flush", "ruleset")
        assert lab.converge(backend, lab.policy())["changed"] is True
        assert lab.fetch(lab.outside, HOST_UL, 8080) == "hello-c1"


@pytest.mark.parametrize("flavour", BACKENDS)
def test_icc_false(lab, flavour):
    backend = backend_of(lab, flavour)
    result = lab.converge(backend, lab.policy(icc=False))
    assert result["changed"]
    assert not lab.ping(lab.c[1], "10.88.0.3")
    assert not lab.ping(lab.c[2], "10.88.0.2")
    assert lab.ping(lab.c[1], "10.88.0.1"), "icc=false must not block the gateway"
    assert lab.converge(backend, lab.policy(icc=True))["changed"]
    assert lab.ping(lab.c[1], "10.88.0.3")


@pytest.mark.parametrize("flavour", ["nftables", "iptables-nft"])
def test_delete_and_bad_input_changes_nothing(lab, flavour):
    backend = backend_of(lab, flavour)
    lab.serve(lab.outside, 7000)
    lab.converge(backend, lab.policy())
    before = lab.fetch(lab.c[1], OUTSIDE, 7000)
    clash = {"network": "netc", "bridge": lab.br["b"] + "x", "subnets": ["10.88.0.128/25"]}
    with pytest.raises(Exception, match="overlap"):
        lab.converge(backend, [clash])
    dup = {
        "network": "netb",
        "bridge": lab.br["b"],
        "subnets": ["10.89.0.0/24"],
        "publish": [{"host_port": 8080, "container_address": "10.89.0.2"}],
    }
    with pytest.raises(Exception, match="both publish"):
        lab.converge(backend, [dup])
    assert lab.fetch(lab.c[1], OUTSIDE, 7000) == before
    deleted = lab.converge(backend, [{"network": "neti"}], state="deleted")
    assert deleted["changed"] and [a["name"] for a in deleted["actions"] if a["kind"] == "nat network"] == ["neti"]
    add_user_drop(lab, flavour, "198.18.0.99")
    gone = lab.converge(backend, [], state="deleted", scope={"prefix": ""})
    assert gone["changed"]
    assert lab.converge(backend, [], state="deleted", scope={"prefix": ""})["changed"] is False
    # Everything of the collection is gone but the user's chain, which holds a rule, and its jump.
    if flavour == "nftables":
        table = nsx(lab.host, "nft", "list", "table", "inet", "netplumb").stdout
        assert "198.18.0.99" in table and "masquerade" not in table and "chain dnat" not in table
        nsx(lab.host, "nft", "flush", "chain", "inet", "netplumb", "user")
    else:
        saved = nsx(lab.host, "iptables-save").stdout
        assert "198.18.0.99" in saved and "NETPLUMB-FORWARD" not in saved and "MASQUERADE" not in saved
        nsx(lab.host, flavour, "-F", "NETPLUMB-USER")
    # With the user chain empty, deleting the policy again removes the rest.
    assert lab.converge(backend, [], state="deleted", scope={"prefix": ""})["changed"] is True
    if flavour == "nftables":
        assert nsx(lab.host, "nft", "list", "table", "inet", "netplumb", check=False).returncode != 0
    else:
        assert "NETPLUMB" not in nsx(lab.host, "iptables-save").stdout


def test_auto_backend_and_refused_mix(lab):
    lab.serve(lab.outside, 7000)
    lab.serve(lab.c[1], 80, "hello-c1")
    # Another tool's FORWARD policy DROP (iptables-nft): an nftables table cannot override it.
    nsx(lab.host, "iptables-nft", "-P", "FORWARD", "DROP")
    with pytest.raises(ConflictError, match=r"ip filter FORWARD \(policy drop\).*Use backend: iptables"):
        lab.converge("nftables", lab.policy())
    assert nsx(lab.host, "nft", "list", "table", "inet", "netplumb", check=False).returncode != 0
    auto = lab.converge("auto", lab.policy())
    assert auto["backend"] == "iptables" and auto["iptables_variant"] == "nft"
    assert "FORWARD (policy drop)" in auto["backend_reason"]
    assert lab.fetch(lab.c[1], OUTSIDE, 7000) == HOST_UL  # our accepts come before the DROP policy
    assert lab.fetch(lab.outside, HOST_UL, 8080) == "hello-c1"
    assert lab.converge("auto", lab.policy())["changed"] is False
    # Once the DROP policy is lifted, switching to nftables explicitly
    # removes the NETPLUMB chains and keeps traffic working.
    nsx(lab.host, "iptables-nft", "-P", "FORWARD", "ACCEPT")
    switched = lab.converge("nftables", lab.policy())
    assert switched["changed"] and switched["backend"] == "nftables"
    assert {a["kind"] for a in switched["actions"]} >= {"iptables", "nftables", "nat record"}
    assert "NETPLUMB" not in nsx(lab.host, "iptables-nft-save").stdout
    assert lab.fetch(lab.outside, HOST_UL, 8080) == "hello-c1"
    again = lab.converge("auto", lab.policy())
    assert again["changed"] is False and again["backend"] == "nftables"


@pytest.mark.parametrize("flavour", ["nftables", "iptables-nft"])
def test_publish_on_localhost_with_hairpin(lab, flavour):
    backend = backend_of(lab, flavour)
    lab.serve(lab.c[1], 80, "hello-c1")
    pub = [{"host_ip": "127.0.0.1", "host_port": 8081, "container_address": "10.88.0.2", "container_port": 80}]
    result = lab.converge(backend, lab.policy(publish=pub))
    sysctls = {a["name"] for a in result["actions"] if a["kind"] == "sysctl"}
    assert f"net.ipv4.conf.{lab.br['a']}.route_localnet" in sysctls
    assert lab.fetch(lab.host, "127.0.0.1", 8081) == "hello-c1"
    assert lab.fetch(lab.outside, HOST_UL, 8081) == "", "published on 127.0.0.1 only"
    assert lab.converge(backend, lab.policy(publish=pub))["changed"] is False


def test_foreign_nft_table_is_not_rewritten(lab):
    nsx(lab.host, "nft", "add", "table", "inet", "netplumb")
    nsx(lab.host, "nft", "add", "chain", "inet", "netplumb", "mine")
    with pytest.raises(ConflictError, match=r"not made by netplumb\.container"):
        lab.converge("nftables", lab.policy())
    assert "chain mine" in nsx(lab.host, "nft", "list", "table", "inet", "netplumb").stdout


@pytest.mark.parametrize("flavour", ["nftables", "iptables-nft"])
def test_dual_stack(lab, flavour):
    backend = backend_of(lab, flavour)
    lab.add_ipv6()
    lab.serve(lab.outside, 7000, family=6)
    lab.serve(lab.c[1], 80, "hello-c1-v6", family=6)
    subnets = ["10.88.0.0/24", "fd00:88::/64"]
    pub = [
        {"host_port": 8080, "container_address": "10.88.0.2", "container_port": 80},
        {"host_port": 8080, "container_address": "fd00:88::2", "container_port": 80},
    ]
    result = lab.converge(backend, lab.policy(subnets=subnets, publish=pub))
    assert "net.ipv6.conf.all.forwarding" in {a["name"] for a in result["actions"] if a["kind"] == "sysctl"}
    seen = lab.fetch(lab.c[1], "fd00:18::2", 7000).strip("[]")
    assert seen and ipaddress.ip_address(seen) == ipaddress.ip_address("fd00:18::1"), "masqueraded (v6)"
    assert lab.fetch(lab.outside, "fd00:18::1", 8080) == "hello-c1-v6"
    assert lab.converge(backend, lab.policy(subnets=subnets, publish=pub))["changed"] is False


def test_missing_bridge_warns_in_check_mode_and_fails_otherwise(lab):
    pub = [{"host_ip": "127.0.0.1", "host_port": 8081, "container_address": "10.88.0.2"}]
    policy = lab.policy(bridge=f"{lab.p}zz", publish=pub)
    check = lab.converge("nftables", policy, check=True)
    assert check["changed"] and any("does not exist (yet)" in w for w in check["warnings"])
    with pytest.raises(ValidationError, match="create the bridge first"):
        lab.converge("nftables", policy)
    assert nsx(lab.host, "nft", "list", "table", "inet", "netplumb", check=False).returncode != 0


def test_concurrent_runs_keep_every_network(lab):
    """Runs that merge different networks at the same time: the record lock keeps all of them."""
    nets = [{"network": f"par{i}", "bridge": f"{lab.p}p{i}", "subnets": [f"10.{100 + i}.0.0/24"]} for i in range(6)]
    errors = []

    def run(net):
        try:
            lab.converge("nftables", [net])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(net,)) for net in nets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    recorded = json.loads(Path(lab.record).read_text(encoding="utf-8"))
    assert sorted(n["name"] for n in recorded["networks"]) == [f"par{i}" for i in range(6)]
    table = nsx(lab.host, "nft", "list", "table", "inet", "netplumb").stdout
    assert all(f"10.{100 + i}.0.0/24" in table for i in range(6))
    assert lab.converge("nftables", nets)["changed"] is False


@pytest.mark.parametrize("flavour", ["nftables", "iptables-nft"])
def test_endpoint_owned_ports_survive_other_calls(lab, flavour):
    """Two container sets publish on one network with disjoint ``endpoints``: neither removes the other's ports."""
    backend = backend_of(lab, flavour)
    lab.serve(lab.c[1], 80, "hello-c1")
    lab.serve(lab.c[2], 80, "hello-c2")
    lab.converge(backend, lab.policy(publish=[]))

    def ports(endpoint, port, addr):
        pub = {"endpoint": endpoint, "host_port": port, "container_address": addr, "container_port": 80}
        return [{"network": "neta", "publish": [pub]}]

    check = lab.converge(backend, ports("c1", 8081, "10.88.0.2"), endpoints=["c1"], check=True)
    assert check["changed"] and check["diff"]["after"]["neta"]["publish"][0]["endpoint"] == "c1"
    assert check["diff"]["before"]["neta"]["publish"] == []
    assert lab.fetch(lab.outside, HOST_UL, 8081) == "", "check mode changes nothing"
    first = lab.converge(backend, ports("c1", 8081, "10.88.0.2"), endpoints=["c1"])
    assert [a["summary"] for a in first["actions"]] == [a["summary"] for a in check["actions"]]
    assert first["changed"] and [a["kind"] for a in first["actions"]] == ["sysctl", backend, "nat network"]
    assert first["actions"][0]["name"] == f"net.ipv4.conf.{lab.br['a']}.route_localnet", "now localhost reaches it"
    assert lab.fetch(lab.outside, HOST_UL, 8081) == "hello-c1"
    # two calls at once, each with its own endpoints: both sets of ports end up published
    errors = []

    def call(config, endpoints):
        try:
            lab.converge(backend, config, endpoints=endpoints)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=call, args=(ports("c2", 8082, "10.88.0.3"), ["c2"])),
        threading.Thread(target=call, args=(ports("c1", 8083, "10.88.0.2"), ["c1"])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert lab.fetch(lab.outside, HOST_UL, 8082) == "hello-c2"
    assert lab.fetch(lab.outside, HOST_UL, 8083) == "hello-c1"
    assert lab.fetch(lab.outside, HOST_UL, 8081) == "", "c1's ports are exactly the last ones given for it"
    assert lab.converge(backend, ports("c2", 8082, "10.88.0.3"), endpoints=["c2"])["changed"] is False
    # a clash with another endpoint's port is refused before any change
    with pytest.raises(ValidationError, match=r"endpoint c1\) and network neta \(endpoint c3\) both publish"):
        lab.converge(backend, ports("c3", 8083, "10.88.0.3"), endpoints=["c3"])
    # the network-level call without endpoints still sees the endpoints' ports; withdrawing c2 keeps c1's
    gone = lab.converge(backend, [], endpoints=["c2"])
    assert gone["changed"]
    assert lab.fetch(lab.outside, HOST_UL, 8082) == ""
    assert lab.fetch(lab.outside, HOST_UL, 8083) == "hello-c1"
    recorded = json.loads(Path(lab.record).read_text(encoding="utf-8"))
    neta = next(n for n in recorded["networks"] if n["name"] == "neta")
    assert [(p["endpoint"], p["host_port"]) for p in neta["publish"]] == [("c1", 8083)]
    assert neta["icc"] is True and neta["bridge"] == lab.br["a"]


class Fleet:
    """Two "hosts" of one cluster routed to each other, and a stranger behind h2 that routes the cluster there.

    k1 10.244.1.2 -- h1 [br 10.244.1.1] ul0 198.18.1.1 ---- 198.18.1.2 ul0 h2 [br 10.244.2.1] -- k2 10.244.2.2
                                                                        ul1 198.18.2.1 ---- 198.18.2.2 x
    """

    def __init__(self, prefix, tmp_path):
        self.p = prefix
        self.h1, self.h2, self.x, self.k1, self.k2 = (f"{prefix}{n}" for n in ("h1", "h2", "x", "k1", "k2"))
        self.tmp = tmp_path
        self.servers: list[subprocess.Popen] = []

    def build(self):
        for ns in (self.h1, self.h2, self.x, self.k1, self.k2):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for a, dev, b, net in ((self.h1, "ul0", self.h2, "198.18.1"), (self.h2, "ul1", self.x, "198.18.2")):
            sh("ip", "-n", a, "link", "add", dev, "type", "veth", "peer", "name", dev, "netns", b)
            for ns, host in ((a, 1), (b, 2)):
                sh("ip", "-n", ns, "addr", "add", f"{net}.{host}/24", "dev", dev)
                sh("ip", "-n", ns, "link", "set", dev, "up")
        nsx(self.x, "sysctl", "-qw", "net.ipv4.ip_forward=0")
        sh("ip", "-n", self.x, "route", "add", "10.244.0.0/16", "via", "198.18.2.1")
        for host, ctr, n, peer in ((self.h1, self.k1, 1, "198.18.1.2"), (self.h2, self.k2, 2, "198.18.1.1")):
            br = f"{self.p}b{n}"
            sh("ip", "-n", host, "link", "add", br, "type", "bridge")
            sh("ip", "-n", host, "addr", "add", f"10.244.{n}.1/24", "dev", br)
            sh("ip", "-n", host, "link", "set", br, "up")
            sh("ip", "-n", host, "link", "add", f"{self.p}v{n}", "type", "veth", "peer", "name", "eth0", "netns", ctr)
            sh("ip", "-n", host, "link", "set", f"{self.p}v{n}", "master", br, "up")
            sh("ip", "-n", ctr, "addr", "add", f"10.244.{n}.2/24", "dev", "eth0")
            sh("ip", "-n", ctr, "link", "set", "eth0", "up")
            sh("ip", "-n", ctr, "route", "add", "default", "via", f"10.244.{n}.1")
            sh("ip", "-n", host, "route", "add", f"10.244.{3 - n}.0/24", "via", peer)

    def nat(self, host, backend, cluster=("10.244.0.0/16",)):
        n = 1 if host == self.h1 else 2
        config = [
            {
                "network": "slice",
                "bridge": f"{self.p}b{n}",
                "subnets": [f"10.244.{n}.0/24"],
                "cluster_subnets": list(cluster),
                "publish": [{"host_port": 8080, "container_address": f"10.244.{n}.2", "container_port": 80}],
            }
        ]
        params = {"config": config, "state": "merged", "backend": backend, "record_path": str(self.tmp / f"{n}.json")}
        with Netlink() as nl, nl.entered(host):
            return run(params, False)

    def close(self):
        for proc in self.servers:
            proc.terminate()  # timeout(1) passes TERM on to socat; a KILL would leave socat running without it
            proc.wait()
        for ns in (self.h1, self.h2, self.x, self.k1, self.k2):
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def fleet(cleanup_netns, tmp_path):
    fleet = Fleet(cleanup_netns, tmp_path)
    try:
        fleet.build()
        yield fleet
    finally:
        fleet.close()


@pytest.mark.parametrize("flavour", ["nftables", "iptables-nft"])
def test_cluster_subnets(fleet, tmp_path, flavour):
    backend = "nftables" if flavour == "nftables" else "iptables"
    lab = Lab(fleet.p, tmp_path)  # for serve/fetch only
    lab.servers = fleet.servers
    for host in (fleet.h1, fleet.h2):
        assert fleet.nat(host, backend)["changed"]
    lab.serve(fleet.k2, 7000)  # an unpublished port; prints the peer address it sees
    lab.serve(fleet.k2, 80, "hello-k2")
    lab.serve(fleet.x, 7001)
    # another slice of the cluster reaches any port of k2, and k2 sees k1's real address
    assert lab.fetch(fleet.k1, "10.244.2.2", 7000) == "10.244.1.2"
    # anywhere else: masqueraded as before
    assert lab.fetch(fleet.k2, "198.18.2.2", 7001) == "198.18.2.1"
    assert lab.fetch(fleet.x, "198.18.2.1", 8080) == "hello-k2"
    # a stranger that routes the cluster range to h2 reaches only published ports (issue 9.1)
    assert lab.fetch(fleet.x, "10.244.2.2", 7000) == ""
    # without cluster_subnets, the other slice is a stranger too: masqueraded, published ports only
    for host in (fleet.h1, fleet.h2):
        assert fleet.nat(host, backend, cluster=())["changed"]
    assert lab.fetch(fleet.k1, "10.244.2.2", 7000) == ""
    lab.serve(fleet.k2, 81)
    config = {"host_port": 8081, "container_address": "10.244.2.2", "container_port": 81, "endpoint": "k2"}
    with Netlink() as nl, nl.entered(fleet.h2):
        params = {
            "config": [{"network": "slice", "publish": [config]}],
            "endpoints": ["k2"],
            "record_path": str(fleet.tmp / "2.json"),
        }
        run(params, False)
    assert lab.fetch(fleet.k1, "198.18.1.2", 8081) == "198.18.1.1"


def route_via_host(lab, *prefixes):
    """The outside namespace becomes a hostile neighbour: it routes these prefixes to the host,
    127.0.0.1 included (its own loopback routes moved behind them)."""
    for prefix in prefixes:
        if prefix.startswith("127."):
            nsx(lab.outside, "sysctl", "-qw", "net.ipv4.conf.ul0.route_localnet=1")
            sh("ip", "-n", lab.outside, "rule", "add", "pref", "100", "lookup", "local")
            sh("ip", "-n", lab.outside, "rule", "del", "pref", "0")
            sh("ip", "-n", lab.outside, "rule", "add", "pref", "10", "to", prefix, "lookup", "100")
            sh("ip", "-n", lab.outside, "route", "add", prefix, "via", HOST_UL, "table", "100")
        else:
            sh("ip", "-n", lab.outside, "route", "add", prefix, "via", HOST_UL)


@pytest.mark.parametrize("flavour", BACKENDS)
def test_neighbour_reaches_only_published_ports(lab, flavour):
    """Issue 9.1: a neighbour that routes the container subnet via the host reaches published ports only;
    issue 10.1: nor does it reach a port published on 127.0.0.1 by sending to 127.0.0.1."""
    backend = backend_of(lab, flavour)
    lab.serve(lab.c[1], 80, "hello-c1")
    lab.serve(lab.c[1], 7000, "unpublished")
    lab.serve(lab.c[3], 7000, "unpublished-b")
    pub = [
        {"host_port": 8080, "container_address": "10.88.0.2", "container_port": 80},
        {"host_ip": "127.0.0.1", "host_port": 8081, "container_address": "10.88.0.2", "container_port": 80},
    ]
    lab.converge(backend, lab.policy(publish=pub))
    route_via_host(lab, "10.88.0.0/16", "127.0.0.1/32")
    assert lab.fetch(lab.outside, HOST_UL, 8080) == "hello-c1"
    assert lab.fetch(lab.outside, "10.88.0.2", 80) == "hello-c1", "the published container port, as in Docker"
    assert lab.fetch(lab.outside, "10.88.0.2", 7000) == ""
    assert lab.fetch(lab.outside, "10.89.0.2", 7000) == ""
    assert lab.fetch(lab.outside, "127.0.0.1", 8081) == ""
    assert lab.fetch(lab.outside, "127.0.0.1", 8080) == ""
    # the host itself still reaches the port published on 127.0.0.1, and containers still go out
    assert lab.fetch(lab.host, "127.0.0.1", 8081) == "hello-c1"
    lab.serve(lab.outside, 7002)
    assert lab.fetch(lab.c[3], OUTSIDE, 7002) == HOST_UL


def link_local(ns: str) -> str:
    for _attempt in range(100):
        out = nsx(ns, "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link").stdout
        if out and "tentative" not in out:
            return out.split()[3].split("/")[0]
        time.sleep(0.05)
    raise AssertionError(f"no link-local address on {ns} eth0")


@pytest.mark.parametrize("flavour", BACKENDS)
def test_icc_false_blocks_ipv6_link_local(lab, flavour):
    """Issue 10.2: icc=false on an IPv4-only network also drops fe80:: traffic between its containers."""
    backend = backend_of(lab, flavour)
    peer = link_local(lab.c[2])
    link_local(lab.c[1])
    ping6 = ("ping", "-6", "-c1", "-W1", f"{peer}%eth0")
    assert nsx(lab.c[1], *ping6, check=False).returncode == 0, "the topology itself must carry link-local"
    argv = ["timeout", "60", "socat", "TCP6-LISTEN:7010,ipv6only=1,reuseaddr,fork", "SYSTEM:echo ll"]
    lab.servers.append(subprocess.Popen(["ip", "netns", "exec", lab.c[2], *argv], stderr=subprocess.DEVNULL))
    connect = ("timeout", "4", "socat", "-T2", "-", f"TCP6:[{peer}%eth0]:7010,connect-timeout=2")
    for _attempt in range(50):
        if nsx(lab.c[1], *connect, check=False).stdout.strip() == "ll":
            break
        time.sleep(0.1)
    else:
        raise AssertionError("TCP over link-local did not work before the policy")
    result = lab.converge(backend, lab.policy(icc=False))
    assert "net.bridge.bridge-nf-call-ip6tables" in {a["name"] for a in result["actions"] if a["kind"] == "sysctl"} or (
        nsx(lab.host, "sysctl", "-n", "net.bridge.bridge-nf-call-ip6tables").stdout.strip() == "1"
    )
    assert nsx(lab.c[1], *ping6, check=False).returncode != 0
    assert nsx(lab.c[1], *connect, check=False).stdout.strip() == ""
    assert lab.converge(backend, lab.policy(icc=False))["changed"] is False
    assert lab.converge(backend, lab.policy(icc=True))["changed"] is True
    assert nsx(lab.c[1], *ping6, check=False).returncode == 0


@pytest.mark.parametrize("flavour", BACKENDS)
def test_internal_input(lab, flavour):
    """Issue 10.3: an internal network reaches host services on every host address (as in Docker), unless
    internal_input: gateway limits it to its own gateway address."""
    backend = backend_of(lab, flavour)
    lab.serve(lab.host, 7100, "host-service")
    lab.converge(backend, lab.policy())
    assert lab.fetch(lab.c[4], "10.90.0.1", 7100) == "host-service"
    assert lab.fetch(lab.c[4], "10.88.0.1", 7100) == "host-service"
    assert not lab.ping(lab.c[4], OUTSIDE), "still no way out"
    policy = lab.policy()
    policy[2]["internal_input"] = "gateway"
    assert lab.converge(backend, policy)["changed"]
    assert lab.fetch(lab.c[4], "10.90.0.1", 7100) == "host-service"
    assert lab.ping(lab.c[4], "10.90.0.1")
    assert lab.fetch(lab.c[4], "10.88.0.1", 7100) == ""
    assert lab.fetch(lab.c[4], HOST_UL, 7100) == ""
    assert lab.fetch(lab.c[1], "10.88.0.1", 7100) == "host-service", "other networks are not limited"
    assert lab.converge(backend, policy)["changed"] is False
    bad = lab.policy()
    bad[0]["internal_input"] = "gateway"
    with pytest.raises(ValidationError, match="internal_input gateway applies to internal networks only"):
        lab.converge(backend, bad)


@pytest.mark.parametrize("flavour", BACKENDS)
def test_localhost_reaches_published_ports(lab, flavour):
    """Issue 9.2: localhost:PORT on the host reaches a port published on 0.0.0.0, also while another network
    publishes on 127.0.0.1, and with hairpin off (Docker answers in both proxy modes)."""
    backend = backend_of(lab, flavour)
    lab.serve(lab.c[1], 80, "hello-c1")
    lab.serve(lab.c[3], 80, "hello-c3")
    policy = lab.policy()
    policy[1]["publish"] = [
        {"host_ip": "127.0.0.1", "host_port": 8082, "container_address": "10.89.0.2", "container_port": 80}
    ]
    lab.converge(backend, policy)
    assert lab.fetch(lab.host, "127.0.0.1", 8080) == "hello-c1"
    assert lab.fetch(lab.host, "127.0.0.1", 8082) == "hello-c3"
    assert lab.fetch(lab.host, HOST_UL, 8080) == "hello-c1"
    policy[0]["hairpin"] = False
    assert lab.converge(backend, policy)["changed"]
    assert lab.fetch(lab.host, "127.0.0.1", 8080) == "hello-c1"
    assert lab.fetch(lab.outside, HOST_UL, 8080) == "hello-c1"


@pytest.mark.parametrize("flavour", ["nftables", "iptables-nft"])
def test_wildcard_port_on_both_families(lab, flavour):
    backend = backend_of(lab, flavour)
    lab.add_ipv6()
    lab.serve(lab.c[1], 80, "hello-c1-v4")
    lab.serve(lab.c[1], 80, "hello-c1-v6", family=6)
    pub = [
        {"host_port": 8080, "container_address": "10.88.0.2", "container_address6": "fd00:88::2", "container_port": 80}
    ]
    lab.converge(backend, lab.policy(subnets=["10.88.0.0/24", "fd00:88::/64"], publish=pub))
    assert lab.fetch(lab.outside, HOST_UL, 8080) == "hello-c1-v4"
    assert lab.fetch(lab.outside, "fd00:18::1", 8080) == "hello-c1-v6"


@pytest.mark.parametrize("flavour", ["nftables", "iptables-nft", "iptables-legacy"])
def test_publish_to_other_networks(lab, flavour):
    backend = backend_of(lab, flavour)
    lab.serve(lab.c[1], 80)  # prints the peer address
    lab.serve(lab.c[1], 7000, "unpublished")
    lab.converge(backend, lab.policy())
    assert lab.fetch(lab.c[3], HOST_UL, 8080) == "", "isolated by default"
    assert lab.converge(backend, lab.policy(publish_to_other_networks=True))["changed"]
    # as through Docker's proxy, the container sees its own gateway (network b's outbound masquerade)
    assert lab.fetch(lab.c[3], HOST_UL, 8080) == "10.88.0.1", "reached through the host address"
    assert lab.fetch(lab.c[3], "10.89.0.1", 8080) == "10.88.0.1", "also through its own gateway address"
    assert lab.fetch(lab.c[3], "10.88.0.2", 7000) == "", "nothing but the published ports"
    assert lab.fetch(lab.c[3], "10.88.0.2", 80) == ""
    assert not lab.ping(lab.c[3], "10.88.0.2")
    assert lab.fetch(lab.c[4], HOST_UL, 8080) == "", "internal networks stay confined"
    assert lab.fetch(lab.c[2], HOST_UL, 8080) == "10.88.0.1", "hairpin as before"


@pytest.mark.parametrize("flavour", ["nftables", "iptables-nft"])
def test_second_record_for_one_table_is_refused(lab, flavour, tmp_path):
    """Issue 10.7: a second record_path must not silently replace the first record's rules."""
    backend = backend_of(lab, flavour)
    lab.serve(lab.c[1], 80, "hello-c1")
    lab.converge(backend, lab.policy())
    other = str(tmp_path / "other" / "nat.json")
    net = [{"network": "x", "bridge": f"{lab.p}x", "subnets": ["10.95.0.0/24"]}]
    with pytest.raises(ConflictError, match=f"record {lab.record}, but this run's record_path is {other}"):
        lab.converge(backend, net, record=other)
    with pytest.raises(ConflictError, match="one table holds one record"):
        lab.converge(backend, [], state="deleted", scope={"prefix": ""}, record=other)
    assert not Path(other).exists()
    assert lab.fetch(lab.outside, HOST_UL, 8080) == "hello-c1"
    assert lab.converge(backend, lab.policy())["changed"] is False
    with pytest.raises(ValidationError, match="must be an absolute path"):
        lab.converge(backend, net, record="relative/nat.json")
    assert not Path("/relative").exists()
