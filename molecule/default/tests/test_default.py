"""Verify the single-host scenario: Docker's default network as `docker run` would leave it, and traffic.

The first container (web) has Docker's first address and MAC; the host masquerades the subnet towards
the lab's outside host, and the outside reaches web through the published port 8080."""

from __future__ import annotations

import json

import pytest

from ansible_collections.netplumb.container.tests.testinfra_lab import lab_host

OUTSIDE = "198.18.0.254"


@pytest.fixture(scope="module")
def outside():
    return lab_host("mol", "outside")


def test_bridge_docker0(host):
    addr = json.loads(host.run("ip -j -4 addr show dev docker0").stdout)[0]
    assert [f"{a['local']}/{a['prefixlen']}" for a in addr["addr_info"]] == ["172.17.0.1/16"]
    ports = host.run("ip -br link show master docker0").stdout.splitlines()
    assert len(ports) == 2, "web and db; batch (mode none) has no link"


def test_first_container_as_docker(host):
    eth0 = json.loads(host.run("ip -n web -j addr show dev eth0").stdout)[0]
    assert eth0["address"] == "02:42:ac:11:00:02"
    assert [f"{a['local']}/{a['prefixlen']}" for a in eth0["addr_info"] if a["family"] == "inet"] == ["172.17.0.2/16"]
    route = json.loads(host.run("ip -n web -j -4 route show default").stdout)
    assert [(r["gateway"], r["dev"]) for r in route] == [("172.17.0.1", "eth0")]
    assert host.run("ip -n batch -br link").stdout.split()[0] == "lo"


def test_masquerade_rule(host):
    rules = host.run("nft list ruleset").stdout + host.run("iptables-save").stdout
    assert (
        'ip saddr 172.17.0.0/16 oifname != "docker0" masquerade' in rules
        or "-s 172.17.0.0/16 ! -o docker0 -m comment --comment docker0 -j MASQUERADE" in rules
    )


def test_container_pings_gateway_and_neighbour(host):
    assert host.run("ip netns exec web ping -c1 -W2 172.17.0.1").rc == 0
    assert host.run("ip netns exec web ping -c1 -W2 172.17.0.3").rc == 0


def serve(node, netns: str | None, port: int, reply: str) -> str:
    where = f"ip netns exec {netns} " if netns else ""
    pid = node.run(
        f"{where}timeout 30 socat TCP4-LISTEN:{port},reuseaddr,fork SYSTEM:'{reply}' >/dev/null 2>&1 & echo $!"
    ).stdout.strip()
    node.run(f"for i in $(seq 50); do {where}ss -Hltn | grep -q ':{port} ' && exit 0; sleep 0.1; done; exit 1")
    return pid


def fetch(node, netns: str | None, address: str, port: int) -> str:
    where = f"ip netns exec {netns} " if netns else ""
    return node.run(f"{where}timeout 4 socat -T2 - TCP4:{address}:{port},connect-timeout=2").stdout.strip()


def test_container_reaches_the_outside_masqueraded(host, outside):
    host_address = host.run("ip -4 -br addr show dev ul0").stdout.split()[2].split("/")[0]
    pid = serve(outside, None, 7001, "echo $SOCAT_PEERADDR")
    try:
        assert fetch(host, "web", OUTSIDE, 7001) == host_address
    finally:
        outside.run(f"kill {pid}")


def test_published_port_from_the_outside(host, outside):
    host_address = host.run("ip -4 -br addr show dev ul0").stdout.split()[2].split("/")[0]
    pid = serve(host, "web", 80, "echo hello-from-web")
    try:
        assert fetch(outside, None, host_address, 8080) == "hello-from-web"
    finally:
        host.run(f"kill {pid}")
