# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller's view of a running lab (read-only), shared by the lab connection and inventory plugins.

The state is written by roles/lab/files/netplumb_lab.py: ``<state_dir>/<lab>/hosts.json`` records, per
host, the PID of the process whose namespaces are the host, its cmdline marker, start time and netns
inode. A PID is only trusted while all three still match (after a crash the PID can be reused).
Stdlib only: also imported by the testinfra backend of the tests.
"""

from __future__ import annotations

import json
import os

DEFAULT_STATE_DIR = "/run/netplumb-lab"
NSENTER_FLAGS = ("-n", "-m", "-u", "-i", "-p")


class LabStateError(Exception):
    """The lab or one of its hosts is not running (or not the process it was)."""


def read_lab(lab: str, state_dir: str = DEFAULT_STATE_DIR) -> dict:
    path = os.path.join(state_dir, lab, "hosts.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise LabStateError(f"lab {lab!r} is not up (no {path}): run playbooks/lab_up.yml -e lab_name={lab}") from None
    except (OSError, ValueError) as e:
        raise LabStateError(f"lab {lab!r}: cannot read {path}: {e}") from None


def _proc_identity(pid: int) -> tuple[str, int | None, int | None]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0", 1)[0].decode(errors="replace")
        with open(f"/proc/{pid}/stat") as f:
            start = int(f.read().rsplit(")", 1)[1].split()[19])
        inode = os.stat(f"/proc/{pid}/ns/net").st_ino
    except (OSError, IndexError, ValueError):
        return "", None, None
    return argv0, start, inode


def host_pid(lab: str, host: str, state_dir: str = DEFAULT_STATE_DIR) -> int:
    """The verified PID of a lab host: its namespaces are the host's."""
    state = read_lab(lab, state_dir)
    rec = state.get("hosts", {}).get(host)
    if rec is None:
        known = ", ".join(sorted(state.get("hosts", {}))) or "none"
        raise LabStateError(f"lab {lab!r} has no host {host!r} (hosts: {known})")
    argv0, start, inode = _proc_identity(rec["pid"])
    if (argv0, start, inode) != (rec["marker"], rec["starttime"], rec["netns"]):
        raise LabStateError(
            f"lab {lab!r} host {host!r}: pid {rec['pid']} is no longer the lab host (it died or was replaced); "
            f"recreate the lab: playbooks/lab_down.yml then playbooks/lab_up.yml -e lab_name={lab}"
        )
    return rec["pid"]


def nsenter_argv(pid: int) -> list[str]:
    """Enter every namespace of the host; the PID namespace too, or "ip netns add" fails in there."""
    return ["nsenter", "-t", str(pid), *NSENTER_FLAGS, "--"]
