"""A module given an infinite number for an int option fails like for any other bad value, naming the option.

ansible-core's own int check raises OverflowError for it (int(Decimal("Infinity"))); the modules build their
AnsibleModule through _exit.new_module, which turns that into a failure instead of a traceback. Each case runs
the module as Ansible does (its own process, the arguments in a file), in a network namespace of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BUILD = Path(__file__).resolve().parents[2] / ".build"
INF = float("inf")


@pytest.mark.parametrize(
    ("module", "args", "option"),
    [
        ("bridge", {"config": [{"name": "npx0", "mtu": INF}]}, "config[0].mtu"),
        ("veth", {"config": [{"name": "npx1", "host_mtu": "Infinity"}]}, "config[0].host_mtu"),
        ("route", {"config": [{"dst": "10.9.0.0/24", "via": "10.8.0.1", "metric": -INF}]}, "config[0].metric"),
        ("nat", {"config": [{"network": "n", "publish": [{"host_port": "-inf"}]}]}, "config[0].publish[0].host_port"),
    ],
)
def test_an_infinite_number_fails_cleanly(tmp_path, module, args, option):
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))  # Infinity: Python's JSON, which Ansible reads
    argv = [sys.executable, "-m", f"ansible_collections.netplumb.container.plugins.modules.{module}", str(path)]
    if os.geteuid() == 0:
        argv = ["unshare", "--net", *argv]  # nothing reaches the machine's own namespace, even if validation let it by
    proc = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(BUILD)}, check=False
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    result = json.loads(proc.stdout)
    assert result["failed"] is True and proc.returncode == 1
    assert result["msg"].startswith(f"{option}: not a finite number"), result["msg"]
