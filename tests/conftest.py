"""Shared test setup: the collection on sys.path, and unique names per run."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / ".build"
if not (BUILD / "ansible_collections" / "netplumb" / "container").exists():
    (BUILD / "ansible_collections" / "netplumb").mkdir(parents=True, exist_ok=True)
    os.symlink(REPO, BUILD / "ansible_collections" / "netplumb" / "container")
if str(BUILD) not in sys.path:
    sys.path.insert(0, str(BUILD))


@pytest.fixture
def prefix() -> str:
    """A name prefix unique to this test (short: interface names have 15 bytes)."""
    return "t" + uuid.uuid4().hex[:5]
