# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Standard attributes of every module that changes the kernel.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return the planned actions without changing anything.
    support: full
  diff_mode:
    description: Returns before and after of every object the run changes.
    support: full
  idempotent:
    description: A second run with the same arguments reports no change.
    support: full
  platform:
    description: Runs on Linux hosts with network namespace support.
    support: full
    platforms: posix
"""

    # For read-only modules (network_info).
    INFO = r"""
options: {}
attributes:
  check_mode:
    description: Reads only; runs in check mode unchanged.
    support: full
  diff_mode:
    description: Reads only; nothing to diff.
    support: N/A
  idempotent:
    description: Never changes anything.
    support: full
  platform:
    description: Runs on Linux hosts with network namespace support.
    support: full
    platforms: posix
"""
