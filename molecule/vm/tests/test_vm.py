"""Verify the VM scenario with real traffic between real hosts.

Each VM got pyroute2 and nftables from the prepare role, Docker's default network and the containers web
(port 8080 published) and db. From another VM over the private segment (eth1): the published port answers
from the container; a container's connection to another VM leaves masqueraded as its VM's address.
"""

from __future__ import annotations

import json
import os

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

VMS = ("vm1", "vm2", "vm3")
UNDERLAY = {"vm1": "198.19.77.1", "vm2": "198.19.77.2", "vm3": "198.19.77.3"}


@pytest.fixture(scope="module")
def vm() -> dict[str, testinfra.host.Host]:
    runner = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
    return {name: runner.get_host(name) for name in VMS}


def serve(node, netns: str | None, port: int, reply: str) -> None:
    """A listener that answers `reply` (a shell command) to each connection, for 60 s."""
    where = f"ip netns exec {netns} " if netns else ""
    node.run(f"{where}timeout 60 socat TCP4-LISTEN:{port},reuseaddr,fork SYSTEM:'{reply}' >/dev/null 2>&1 &")
    ready = node.run(f"for i in $(seq 100); do {where}ss -Hltn | grep -q ':{port} ' && exit 0; sleep 0.2; done; exit 1")
    assert ready.rc == 0, f"no listener on port {port}"


def fetch(node, netns: str | None, address: str, port: int) -> str:
    where = f"ip netns exec {netns} " if netns else ""
    return node.run(f"{where}timeout 20 socat -T10 - TCP4:{address}:{port},connect-timeout=10").stdout.strip()


def test_prepare_installed_pyroute2_from_the_distribution(host):
    assert host.package("python3-pyroute2").is_installed
    assert host.package("nftables").is_installed
    # Debian's package says __version__ = "unknown"; its metadata has the version.
    version = host.run("python3 -c 'import importlib.metadata as m; print(m.version(\"pyroute2\"))'").stdout.strip()
    assert version.startswith("0.7.")


def test_docker0_and_containers(host):
    addr = json.loads(host.run("ip -j -4 addr show dev docker0").stdout)[0]
    assert [f"{a['local']}/{a['prefixlen']}" for a in addr["addr_info"]] == ["172.17.0.1/16"]
    web = json.loads(host.run("ip -n web -j -4 addr show dev eth0").stdout)[0]
    assert [a["local"] for a in web["addr_info"]] == ["172.17.0.2"]
    assert host.run("ip netns exec web ping -c1 -W5 172.17.0.3").rc == 0


def test_published_port_reached_from_another_vm(vm):
    serve(vm["vm1"], "web", 80, "echo from-web-on-vm1")
    assert fetch(vm["vm2"], None, UNDERLAY["vm1"], 8080) == "from-web-on-vm1"


def test_container_reaches_another_vm_masqueraded(vm):
    serve(vm["vm3"], None, 9000, "echo $SOCAT_PEERADDR")
    # The container's 172.17.0.x leaves vm2 as vm2's own underlay address.
    assert fetch(vm["vm2"], "db", UNDERLAY["vm3"], 9000) == UNDERLAY["vm2"]
