"""A managed host whose Python lacks pyroute2, or has one older than 0.7: every module that needs it fails
with Ansible's missing-library message naming what to install, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import run_playbook, task_results, write_playbook
from .hostpython import debian_pyroute2_python, no_pyroute2_python, old_pyroute2_python

# nat needs none: it drives nft and iptables-restore, and reads sysctls from /proc.
NEEDS_PYROUTE2 = ("netns", "bridge", "veth", "route", "vxlan")


@pytest.fixture(scope="module")
def no_pyroute2() -> Path:
    return no_pyroute2_python()


@pytest.fixture(scope="module")
def old_pyroute2() -> Path:
    return old_pyroute2_python()


def _run_modules(tmp_path: Path, python: Path) -> dict[str, dict]:
    # Check mode: were the guard broken, the modules would only read this machine's root namespace.
    tasks = [
        {"name": module, f"netplumb.container.{module}": {"config": []}, "check_mode": True, "ignore_errors": True}
        for module in NEEDS_PYROUTE2
    ]
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}]
    play[0]["vars"] = {"ansible_python_interpreter": str(python)}
    playbook = write_playbook(tmp_path, json.dumps(play))
    report = run_playbook(playbook, check=False)
    return {module: task_results(report, module)["localhost"] for module in NEEDS_PYROUTE2}


def _assert_missing_lib(results: dict[str, dict], *extra: str) -> None:
    for module, result in results.items():
        msg = result.get("msg", "")
        assert result.get("failed") is True, f"{module}: {result}"
        assert result.get("changed") is False, f"{module}: {result}"
        assert msg.startswith("Failed to import the required Python library (pyroute2 >= 0.7)"), f"{module}: {msg}"
        assert "python3-pyroute2" in msg and "pyroute2 from PyPI" in msg, f"{module}: {msg}"
        assert "Traceback" not in msg, f"{module}: {msg}"
        for text in extra:
            assert text in msg, f"{module}: {msg}"


def test_modules_without_pyroute2_name_the_package(tmp_path: Path, no_pyroute2: Path) -> None:
    results = _run_modules(tmp_path, no_pyroute2)
    _assert_missing_lib(results, str(no_pyroute2))


def test_modules_with_pyroute2_0_6_say_it_is_too_old(tmp_path: Path, old_pyroute2: Path) -> None:
    results = _run_modules(tmp_path, old_pyroute2)
    _assert_missing_lib(results, "found pyroute2 0.6.13 which is too old")


def test_debian_python3_pyroute2_is_accepted(tmp_path: Path) -> None:
    """Debian 12's package says __version__ = "unknown": the version comes from its metadata instead."""
    python = debian_pyroute2_python()
    results = _run_modules(tmp_path, python)
    for module, result in results.items():
        # The module gets past the guard to its own input checks (an empty config is refused by some).
        assert "pyroute2" not in result.get("msg", ""), f"{module}: {result}"
        assert result["changed"] is False, f"{module}: {result}"
