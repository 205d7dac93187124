# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Keep in sync with HOST_LOCK_SPEC in plugins/module_utils/_hostlock.py.
    DOCUMENTATION = r"""
options:
  lock_timeout:
    description:
      - Every module of this collection that changes the host holds one host-wide lock
        (C(/run/netplumb/host.lock)) from reading the current state to its last change, so that two runs
        at once (two playbooks, two teams) do not act on the same stale view; the second one waits.
      - How many seconds to wait for that lock. When it is still held then, the module fails without
        changing anything, naming the lock file and the pid of the run holding it. V(0) tries once.
    type: int
    default: 300
    version_added: 0.2.0
"""
