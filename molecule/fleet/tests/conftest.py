"""Fast testinfra access to the lab hosts (see tests/testinfra_lab.py)."""

from __future__ import annotations

import sys
from pathlib import Path

BUILD = Path(__file__).resolve().parents[3] / ".build"
if str(BUILD) not in sys.path:
    sys.path.insert(0, str(BUILD))

from ansible_collections.netplumb.container.tests.testinfra_lab import register  # noqa: E402

register()
