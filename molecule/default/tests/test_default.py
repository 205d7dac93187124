"""Verify: the namespaces converge made exist inside every lab host, and nowhere else."""

from __future__ import annotations

import subprocess

NAMESPACES = ("mol-web", "mol-router")


def netns_list(run) -> set[str]:
    return {line.split()[0] for line in run("ip netns list").stdout.splitlines() if line.strip()}


def test_namespaces_exist(host):
    assert set(NAMESPACES) <= netns_list(host.run)


def test_loopback_up_and_forwarding(host):
    assert host.run("ip netns exec mol-web ip -br link show lo").stdout.split()[1] in ("UNKNOWN", "UP")
    assert host.run("ip netns exec mol-router cat /proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"


def test_hostname_is_the_lab_host(host):
    assert host.run("hostname").stdout.strip() == host.backend.get_hostname()


def test_not_in_the_root_namespace():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert not set(NAMESPACES) & {line.split()[0] for line in out.splitlines() if line.strip()}
