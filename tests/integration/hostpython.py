"""Pythons a managed host could have: Debian's own, in virtualenvs under .build without or with an old pyroute2."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import REPO

# Debian's Python, which has no pyroute2 of its own on this machine.
HOST_PYTHON = "/usr/bin/python3"


def host_venv(name: str, *packages: str) -> Path:
    """A virtualenv under .build, kept between runs (an old pyroute2 takes ~20 s to install); its python."""
    if not os.path.exists(HOST_PYTHON):
        pytest.skip(f"{HOST_PYTHON} is missing")
    path = REPO / ".build" / name
    stamp = path / "netplumb-packages.txt"
    want = "\n".join(packages)
    if stamp.exists() and stamp.read_text() == want:
        return path / "bin" / "python"
    subprocess.run([HOST_PYTHON, "-m", "venv", "--clear", str(path)], check=True)
    if packages:
        subprocess.run([str(path / "bin" / "pip"), "install", "-q", *packages], check=True, capture_output=True)
    stamp.write_text(want)
    return path / "bin" / "python"


def debian_pyroute2_python() -> Path:
    """A venv whose pyroute2 is Debian 12's python3-pyroute2 (0.7.2, ``__version__ == "unknown"``), unpacked
    from the .deb that scripts/test fetches into .build (skipped when it is not there)."""
    site = REPO / ".build" / "pyroute2-debian" / "usr" / "lib" / "python3" / "dist-packages"
    if not (site / "pyroute2").is_dir():
        pytest.skip("Debian's python3-pyroute2 is not unpacked in .build/pyroute2-debian (scripts/test does it)")
    python = host_venv("venv-pyroute2-debian")
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "debian-pyroute2.pth").write_text(f"{site}\n")
    return python


def no_pyroute2_python() -> Path:
    python = host_venv("venv-no-pyroute2")
    probe = subprocess.run([str(python), "-c", "import pyroute2"], capture_output=True, check=False)
    assert probe.returncode != 0, "the venv was meant to have no pyroute2"
    return python


def old_pyroute2_python() -> Path:
    python = host_venv("venv-pyroute2-0.6", "pyroute2==0.6.13")
    probe = subprocess.run(
        [str(python), "-c", "import pyroute2; print(pyroute2.__version__)"], capture_output=True, text=True, check=True
    )
    assert probe.stdout.strip() == "0.6.13"
    return python
