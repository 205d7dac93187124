"""The testinfra backend for lab hosts (tests/testinfra_lab.py), as molecule verify uses it."""

from __future__ import annotations

import time

import testinfra

from ansible_collections.netplumb.container.tests.testinfra_lab import LabBackend, register


def test_host_spec(lab):
    register()
    host = testinfra.get_host(f"netplumb-lab://{lab.name}:h2")
    assert isinstance(host.backend, LabBackend)
    assert host.run("hostname").stdout.strip() == "h2"
    assert host.interface("ul0").addresses[0] == "198.18.0.12"


def test_through_the_lab_inventory_is_fast(lab):
    """Through the ansible backend and the inventory plugin: no Ansible run per command."""
    register()
    host = testinfra.get_host("ansible://h3", ansible_inventory=str(lab.inventory))
    host.run("true")  # the first call reads the inventory (one ansible-inventory run)
    start = time.monotonic()
    for _attempt in range(10):
        assert host.run("hostname").stdout.strip() == "h3"
    assert host.file("/etc/hostname").content_string.strip() == "h3"
    # One `ansible -m shell` per command would take several seconds for these eleven.
    assert time.monotonic() - start < 3
