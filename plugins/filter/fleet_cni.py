# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the fleet role's CNI part: its variables and this host's plan -> the conflist and the slice network."""

from __future__ import annotations

import base64
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError


def fleet_cni(raw: dict[str, Any], host_plan: dict[str, Any], fleet_vars: dict[str, Any]) -> dict[str, Any]:
    """This host's CNI part: checked variables, the conflist to write, the slice network with the address split."""
    # Imported when called, as in netplumb.py: every task worker that uses a filter of the collection loads this file.
    from ansible_collections.netplumb.container.plugins.module_utils._cni import host_cni, parse_cni_vars

    try:
        settings = parse_cni_vars(dict(raw), fleet_vars["host"], int(fleet_vars["fleet"]["prefix"]))
        return host_cni(settings, dict(host_plan))
    except NetplumbError as exc:
        raise AnsibleFilterError(exc.msg) from None


def fleet_cni_owned(slurped: dict[str, Any]) -> bool:
    """A slurp result of the conflist path: the file exists and the collection wrote it."""
    from ansible_collections.netplumb.container.plugins.module_utils._cni import owned

    if not slurped or slurped.get("failed") or "content" not in slurped:
        return False
    return owned(base64.b64decode(slurped["content"]).decode("utf-8", "replace"))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"fleet_cni": fleet_cni, "fleet_cni_owned": fleet_cni_owned}
