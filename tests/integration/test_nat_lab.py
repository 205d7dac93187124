"""netplumb.container.nat on lab hosts, with the lab's "outside" host as the internet and real traffic.

One lab host per backend builds a network with the collection's own modules (netns, bridge, veth,
nat), then: the outside sees the host's underlay address (masquerade), reaches a container through a
published port, containers reach that port through the host's address (hairpin), a second run
changes nothing. Everything is removed afterwards (the namespaces take their veths with them).
Also, through Ansible: check mode plans with a diff and changes nothing, applies the same actions, a second
check plans nothing, and bad input fails clearly without a change.
"""

from __future__ import annotations

import json

import pytest

from .conftest import task_results, write_playbook

OUTSIDE = "198.18.0.254"
HOSTS = {"nftables": ("h1", "198.18.0.11"), "iptables": ("h2", "198.18.0.12")}
TASKS = ("Containers", "Bridge", "Veths", "NAT")


def build_playbook(tmp_path, host: str, prefix: str, backend: str):
    c1, c2, br = f"{prefix}c1", f"{prefix}c2", f"{prefix}br"
    veths = [
        {
            "name": f"{prefix}v{i}",
            "bridge": br,
            "hairpin": True,
            "peer": {"name": "eth0", "netns": ns, "addresses": [f"10.66.0.{i + 1}/24"], "gateway": ["10.66.0.1"]},
        }
        for i, ns in ((1, c1), (2, c2))
    ]
    nat = [
        {
            "network": f"{prefix}net",
            "bridge": br,
            "subnets": ["10.66.0.0/24"],
            "publish": [{"host_port": 8080, "container_address": "10.66.0.2", "container_port": 80}],
        }
    ]
    bad = [{**nat[0], "publish": [{"host_port": 99999, "container_address": "10.66.0.2"}]}]
    return write_playbook(
        tmp_path,
        f"""\
        - name: A published network on {host}
          hosts: {host}
          gather_facts: false
          tasks:
            - name: Containers
              netplumb.container.netns:
                config: {json.dumps([{"name": c1}, {"name": c2}])}
            - name: Bridge
              netplumb.container.bridge:
                config: {json.dumps([{"name": br, "addresses": ["10.66.0.1/24"]}])}
            - name: Veths
              netplumb.container.veth:
                config: {json.dumps(veths)}
            - name: NAT
              netplumb.container.nat:
                backend: {backend}
                config: {json.dumps(nat)}
              diff: true
            - name: Bad input changes nothing
              netplumb.container.nat:
                backend: {backend}
                config: {json.dumps(bad)}
              when: bad_input | default(false)
              ignore_errors: true
        """,
        f"nat-{backend}.yml",
    )


def teardown_playbook(tmp_path, host: str, prefix: str):
    return write_playbook(
        tmp_path,
        f"""\
        - name: Remove the test network from {host}
          hosts: {host}
          gather_facts: false
          tasks:
            - name: NAT
              netplumb.container.nat: {{state: deleted, scope: {{prefix: "{prefix}"}}}}
            - name: Containers
              netplumb.container.netns: {{state: deleted, scope: {{prefix: "{prefix}"}}}}
            - name: Bridge
              netplumb.container.bridge: {{state: deleted, scope: {{prefix: "{prefix}"}}}}
        """,
        "nat-down.yml",
    )


def fetch(lab, host: str, netns: str | None, addr: str, port: int) -> str:
    inner = f"timeout 4 socat -T2 - TCP4:{addr}:{port},connect-timeout=2"
    command = f"ip netns exec {netns} {inner}" if netns else inner
    return lab.sh(host, command, check=False).stdout.strip()


def serve(lab, host: str, netns: str | None, port: int, reply: str) -> str:
    """A TCP server (bounded by timeout) in the background of a lab host; returns its PID there."""
    inner = f"timeout 60 socat TCP4-LISTEN:{port},reuseaddr,fork SYSTEM:'{reply}'"
    command = f"ip netns exec {netns} {inner}" if netns else inner
    pid = lab.sh(host, f"{command} >/dev/null 2>&1 & echo $!").stdout.strip()
    where = f"ip netns exec {netns} " if netns else ""
    lab.sh(host, f"for i in $(seq 50); do {where}ss -Hltn | grep -q ':{port} ' && exit 0; sleep 0.1; done; exit 1")
    return pid


def rules(lab, host: str, backend: str) -> str:
    return lab.sh(host, "nft list ruleset" if backend == "nftables" else "iptables-save").stdout


@pytest.mark.parametrize("backend", sorted(HOSTS))
def test_published_network_with_real_traffic(lab, tmp_path, lab_prefix, backend):
    prefix = lab_prefix
    host, host_addr = HOSTS[backend]
    servers: list[tuple[str, str]] = []
    book = build_playbook(tmp_path, host, prefix, backend)
    try:
        check = task_results(lab.play(book, "--check"), "NAT")[host]
        assert check["changed"] and check["backend"] == backend
        assert check["diff"]["before"] == {}
        assert check["diff"]["after"][f"{prefix}net"]["publish"][0]["host_port"] == 8080
        assert "10.66.0.2" not in rules(lab, host, backend), "check mode changed the firewall"

        nat = task_results(lab.play(book), "NAT")[host]
        assert nat["changed"] and nat["backend"] == backend
        assert [a["summary"] for a in nat["actions"]] == [a["summary"] for a in check["actions"]]
        assert [a["kind"] for a in nat["actions"]] == ["sysctl", "sysctl", backend, "nat network"]
        assert f"net.ipv4.conf.{prefix}br.route_localnet" in {a["name"] for a in nat["actions"]}
        assert "10.66.0.2:80" in rules(lab, host, backend)
        servers.append(("outside", serve(lab, "outside", None, 7000, "echo $SOCAT_PEERADDR")))
        servers.append((host, serve(lab, host, f"{prefix}c1", 80, "echo hello-c1")))

        assert fetch(lab, host, f"{prefix}c1", OUTSIDE, 7000) == host_addr, "masquerade behind the host"
        assert fetch(lab, "outside", None, host_addr, 8080) == "hello-c1", "published port from outside"
        assert fetch(lab, host, f"{prefix}c1", host_addr, 8080) == "hello-c1", "hairpin to itself"
        assert fetch(lab, host, f"{prefix}c2", host_addr, 8080) == "hello-c1", "hairpin from a neighbour"

        check_again = lab.play(book, "--check")
        assert task_results(check_again, "NAT")[host]["actions"] == []
        again = lab.play(book, extra_vars={"bad_input": True})
        for report in (check_again, again):
            for task in TASKS:
                assert task_results(report, task)[host]["changed"] is False, task
        bad = task_results(again, "Bad input changes nothing")[host]
        assert bad["failed"] and "out of range" in bad["msg"] and not bad.get("changed")
    finally:
        for where, pid in servers:
            if pid.isdigit():
                lab.sh(where, f"kill {pid}", check=False)
        lab.play(teardown_playbook(tmp_path, host, prefix), check=False)
    assert "10.66.0.2" not in rules(lab, host, backend)


@pytest.mark.parametrize("backend", sorted(HOSTS))
def test_holes_closed_on_lab_hosts(lab, tmp_path, lab_prefix, backend):
    """Issue 9.1: the outside host routes the container subnet via the lab host and still reaches only the
    published port; issue 9.2: localhost:8080 on the lab host reaches the published port."""
    prefix = lab_prefix
    host, host_addr = HOSTS[backend]
    servers: list[tuple[str, str]] = []
    try:
        lab.play(build_playbook(tmp_path, host, prefix, backend))
        servers.append((host, serve(lab, host, f"{prefix}c1", 80, "echo hello-c1")))
        servers.append((host, serve(lab, host, f"{prefix}c1", 7000, "echo unpublished")))
        lab.sh("outside", f"ip route replace 10.66.0.0/24 via {host_addr}")
        assert fetch(lab, "outside", None, host_addr, 8080) == "hello-c1"
        assert fetch(lab, "outside", None, "10.66.0.2", 7000) == "", "an unpublished port from a neighbour"
        assert fetch(lab, host, None, "127.0.0.1", 8080) == "hello-c1", "localhost:PORT on the host"
        assert fetch(lab, host, f"{prefix}c2", "10.66.0.2", 7000) == "unpublished", "same network: icc"
    finally:
        lab.sh("outside", "ip route del 10.66.0.0/24", check=False)
        for where, pid in servers:
            if pid.isdigit():
                lab.sh(where, f"kill {pid}", check=False)
        lab.play(teardown_playbook(tmp_path, host, prefix), check=False)
