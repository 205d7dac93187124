"""Functional tests touch the real kernel: root only, throwaway names, always cleaned up."""

from __future__ import annotations

import os
import subprocess

import pytest

if os.geteuid() != 0:
    pytest.skip("functional tests need root", allow_module_level=True)


def netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.fixture
def cleanup_netns(prefix):
    """Deletes every namespace named with this test's prefix, also when the test failed."""
    yield prefix
    for name in netns_names():
        if name.startswith(prefix):
            subprocess.run(["ip", "netns", "del", name], check=False)
