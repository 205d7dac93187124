"""netplumb.container.nat on lab hosts, with the lab's "outside" host as the internet and real traffic.

One lab host per backend builds a network with the collection's own modules (netns, bridge, veth,
nat), then: the outside sees the host's underlay address (masquerade), reaches a container through a
published port, containers reach that port through the host's address (hairpin), a second run
changes nothing. Everything is removed afterwards (the namespaces take their veths with them).
"""

from __future__ import annotations

import json
import textwrap

import pytest

from .conftest import run_playbook, task_results

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
    path = tmp_path / f"nat-{backend}.yml"
    path.write_text(
        textwrap.dedent(f"""\
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
        """)
    )
    return path


def teardown_playbook(tmp_path, host: str, prefix: str):
    path = tmp_path / "nat-down.yml"
    path.write_text(
        textwrap.dedent(f"""\
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
        """)
    )
    return path


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


@pytest.mark.parametrize("backend", sorted(HOSTS))
def test_published_network_with_real_traffic(lab, tmp_path, prefix, backend):
    host, host_addr = HOSTS[backend]
    servers: list[tuple[str, str]] = []
    try:
        apply = run_playbook(build_playbook(tmp_path, host, prefix, backend), "--diff", inventory=lab.inventory)
        nat = task_results(apply, "NAT")[host]
        assert nat["changed"] and nat["backend"] == backend
        servers.append(("outside", serve(lab, "outside", None, 7000, "echo $SOCAT_PEERADDR")))
        servers.append((host, serve(lab, host, f"{prefix}c1", 80, "echo hello-c1")))

        assert fetch(lab, host, f"{prefix}c1", OUTSIDE, 7000) == host_addr, "masquerade behind the host"
        assert fetch(lab, "outside", None, host_addr, 8080) == "hello-c1", "published port from outside"
        assert fetch(lab, host, f"{prefix}c1", host_addr, 8080) == "hello-c1", "hairpin to itself"
        assert fetch(lab, host, f"{prefix}c2", host_addr, 8080) == "hello-c1", "hairpin from a neighbour"

        again = run_playbook(build_playbook(tmp_path, host, prefix, backend), inventory=lab.inventory)
        for task in TASKS:
            assert task_results(again, task)[host]["changed"] is False, task
    finally:
        for where, pid in servers:
            if pid.isdigit():
                lab.sh(where, f"kill {pid}", check=False)
        run_playbook(teardown_playbook(tmp_path, host, prefix), inventory=lab.inventory, check=False)
    listing = "nft list ruleset" if backend == "nftables" else "iptables-save"
    assert "10.66.0.2" not in lab.sh(host, listing).stdout
