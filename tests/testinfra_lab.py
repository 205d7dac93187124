"""A testinfra backend for hosts of the netplumb lab: commands run through nsenter, not one Ansible run each.

testinfra's ansible backend knows only ssh/local/docker/lxc connections and otherwise runs
``ansible -m shell`` per command (seconds each). ``register()`` teaches it the
netplumb.container.lab connection, and adds the host spec ``netplumb-lab://<lab>:<host>`` (e.g.
``testinfra.get_host("netplumb-lab://mol:h1")`` or ``pytest --hosts=netplumb-lab://mol:h1``).
"""

from __future__ import annotations

import subprocess
from typing import Any

import testinfra.backend
import testinfra.host
from testinfra.backend import base
from testinfra.utils import ansible_runner

from ansible_collections.netplumb.container.plugins.plugin_utils._lab import DEFAULT_STATE_DIR, host_pid, nsenter_argv

CONNECTION = "netplumb.container.lab"


class LabBackend(base.BaseBackend):
    NAME = "netplumb-lab"  # a URL scheme: no underscores

    def __init__(self, hostname: str, lab: str = "lab", state_dir: str = DEFAULT_STATE_DIR, *args: Any, **kwargs: Any):
        if ":" in hostname:
            lab, hostname = hostname.split(":", 1)
        self.lab, self.state_dir = lab, state_dir
        super().__init__(hostname, *args, **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        cmd = self.get_command(command, *args)
        pid = host_pid(self.lab, self.hostname, self.state_dir)
        proc = subprocess.run([*nsenter_argv(pid), "/bin/sh", "-c", cmd], capture_output=True, check=False)
        return self.result(proc.returncode, self.encode(cmd), proc.stdout, proc.stderr)


def lab_host(lab: str, host: str, state_dir: str = DEFAULT_STATE_DIR) -> testinfra.host.Host:
    return testinfra.host.Host(LabBackend(host, lab=lab, state_dir=state_dir))


def plain(value: Any) -> Any:
    """ansible-inventory --list marks strings from inventory plugins as unsafe: {"__ansible_unsafe": value}."""
    if isinstance(value, dict) and set(value) == {"__ansible_unsafe"}:
        return value["__ansible_unsafe"]
    return value


def register() -> None:
    """Idempotent: make testinfra use LabBackend for hosts whose ansible_connection is the lab's."""
    testinfra.backend.BACKENDS.setdefault(LabBackend.NAME, f"{__name__}.LabBackend")
    original = ansible_runner.get_ansible_host
    if getattr(original, "netplumb_lab", False):
        return

    def get_ansible_host(config, inventory, host, *args, **kwargs):
        hostvars = {k: plain(v) for k, v in inventory.get("_meta", {}).get("hostvars", {}).get(host, {}).items()}
        if hostvars.get("ansible_connection") != CONNECTION:
            return original(config, inventory, host, *args, **kwargs)
        return lab_host(
            hostvars.get("netplumb_lab_name", "lab"),
            hostvars.get("netplumb_lab_host", host),
            hostvars.get("netplumb_lab_state_dir", DEFAULT_STATE_DIR),
        )

    get_ansible_host.netplumb_lab = True
    ansible_runner.get_ansible_host = get_ansible_host
