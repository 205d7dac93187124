"""Verify the VM scenario with real traffic between real hosts.

Each VM got pyroute2 and nftables from the prepare role, a slice of 10.244.0.0/16 with a VXLAN device
to the other VMs (the fleet over eth1, their private segment), the containers web (port 8080 published)
and db, and a systemd service in web (python3's http.server on port 80). Checked: the fleet matrix of
playbooks/verify_fleet.yml (ping, TCP with the real source address, full-MTU ping between every pair
of VMs' containers), the service reached from a container on another VM and through the published port
from another VM, and masquerade out of a VM: to another VM, and out of the user-mode NIC to a listener
this test runs on the machine's 127.0.0.1 (QEMU's 10.0.2.2 in the guests; nothing leaves the machine).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

VMS = ("vm1", "vm2", "vm3")
UNDERLAY = {"vm1": "198.19.77.1", "vm2": "198.19.77.2", "vm3": "198.19.77.3"}
CLUSTER = ipaddress.ip_network("10.244.0.0/16")
SERVICE = "netplumb-web-http.service"
REPO = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))


@pytest.fixture(scope="module")
def vm() -> dict[str, testinfra.host.Host]:
    runner = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
    return {name: runner.get_host(name) for name in VMS}


def address(node, netns: str) -> str:
    info = json.loads(node.run(f"ip -n {netns} -j -4 addr show dev eth0").stdout)[0]
    return info["addr_info"][0]["local"]


def serve(node, netns: str | None, port: int, reply: str) -> None:
    """A listener that answers `reply` (a shell command) to each connection, for 60 s."""
    where = f"ip netns exec {netns} " if netns else ""
    node.run(f"{where}timeout 60 socat -t20 TCP4-LISTEN:{port},reuseaddr,fork SYSTEM:'{reply}' >/dev/null 2>&1 &")
    ready = node.run(f"for i in $(seq 100); do {where}ss -Hltn | grep -q ':{port} ' && exit 0; sleep 0.2; done; exit 1")
    assert ready.rc == 0, f"no listener on port {port}"


def fetch(node, netns: str | None, addr: str, port: int, send: str = "") -> str:
    where = f"ip netns exec {netns} " if netns else ""
    feed = f"printf '{send}' | " if send else ""
    # -t: after our side's EOF, wait for the reply (socat's 0.5 s default is too short for a loaded TCG guest)
    return node.run(f"{feed}{where}timeout 30 socat -t20 -T20 - TCP4:{addr}:{port},connect-timeout=20").stdout.strip()


def http_get(node, netns: str | None, addr: str, port: int) -> str:
    return fetch(node, netns, addr, port, r"GET / HTTP/1.0\r\n\r\n")


def test_prepare_installed_pyroute2_from_the_distribution(host):
    assert host.package("python3-pyroute2").is_installed
    assert host.package("nftables").is_installed
    # Debian's package says __version__ = "unknown"; its metadata has the version.
    version = host.run("python3 -c 'import importlib.metadata as m; print(m.version(\"pyroute2\"))'").stdout.strip()
    assert version.startswith("0.7.")


def test_a_slice_and_a_vxlan_device_each(host):
    bridge = json.loads(host.run("ip -j -4 addr show dev docker0").stdout)[0]
    gateway = bridge["addr_info"][0]
    slice_ = ipaddress.ip_network(f"{gateway['local']}/{gateway['prefixlen']}", strict=False)
    assert slice_.subnet_of(CLUSTER) and slice_.prefixlen == 24
    # VXLAN over a 1500-byte underlay: 1450 on the bridge and in the containers.
    assert bridge["mtu"] == 1450
    vxlan = json.loads(host.run("ip -j -d link show type vxlan").stdout)
    assert len(vxlan) == 1 and vxlan[0]["linkinfo"]["info_data"]["local"] in UNDERLAY.values()
    assert ipaddress.ip_address(address(host, "web")) in slice_


def test_the_fleet_matrix(vm):
    """playbooks/verify_fleet.yml: ping, TCP with the real source address and a full-MTU ping, every pair."""
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         str(REPO / "playbooks" / "verify_fleet.yml"), "-e", "netplumb_hosts=all",
         # the listeners must outlive the plays between, minutes apart on loaded emulated VMs
         "-e", "verify_fleet_seconds=900"],
        capture_output=True, text=True, check=False, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-1000:]
    assert "every path as expected" in proc.stdout
    for name in VMS:
        assert f"{name}: web " in proc.stdout


def test_the_systemd_service_runs_in_the_container(host):
    assert host.service(SERVICE).is_running and host.service(SERVICE).is_enabled
    pid = host.run(f"systemctl show -P MainPID {SERVICE}").stdout.strip()
    assert host.run(f"ip netns identify {pid}").stdout.split() == ["web"]
    assert host.run("ss -Hltn 'sport = :80'").stdout.strip() == "", "the service listens outside the container"


def test_the_service_reached_from_a_container_on_another_vm(vm):
    target = address(vm["vm1"], "web")
    reply = http_get(vm["vm3"], "db", target, 80)
    assert reply.startswith("HTTP/1.0 200") and "Directory listing for /" in reply, reply[:300]


def test_published_port_reached_from_another_vm(vm):
    reply = http_get(vm["vm2"], None, UNDERLAY["vm1"], 8080)
    assert reply.startswith("HTTP/1.0 200") and "Directory listing for /" in reply, reply[:300]


def test_container_reaches_another_vm_masqueraded(vm):
    serve(vm["vm3"], None, 9000, "echo $SOCAT_PEERADDR")
    # The container's 10.244.x.y leaves vm2 as vm2's own underlay address.
    assert fetch(vm["vm2"], "db", UNDERLAY["vm3"], 9000) == UNDERLAY["vm2"]


def test_masquerade_out_of_the_vm(vm):
    """A container of vm1 reaches a listener of this test on the machine's 127.0.0.1 (10.0.2.2 in the guest)
    through the user-mode NIC, its address rewritten to the VM's 10.0.2.15 (vm1's connection tracking)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(90)
    port = server.getsockname()[1]

    def answer() -> None:
        try:
            conn, _peer = server.accept()
            with conn:
                conn.sendall(b"hello from the machine\n")
        except OSError:
            pass

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        source = address(vm["vm1"], "db")
        assert fetch(vm["vm1"], "db", "10.0.2.2", port) == "hello from the machine"
        tracked = vm["vm1"].run(f"grep -h 'dport={port} ' /proc/net/nf_conntrack").stdout
        # original direction from the container, reply direction to the VM's user-mode address
        assert f"src={source} dst=10.0.2.2 " in tracked and "src=10.0.2.2 dst=10.0.2.15 " in tracked, tracked
    finally:
        server.close()
        thread.join(5)
