# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the fleet role: its variables, every host's read and the leases -> each host's mesh."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError

# _fleet and _vxlan are imported by the filters that use them: Ansible loads every filter file of the
# collection in each task's worker to find one filter, and compiles what they import (no bytecode cache).


def _per_host(hostvars: Any, hosts: list[str]) -> tuple[dict[str, dict], dict[str, str]]:
    per_host, reads = {}, {}
    for host in hosts:
        values = hostvars[host]
        if "__fleet_vars" not in values or "__fleet_read" not in values:
            raise AnsibleFilterError(f"fleet: {host} was not checked and read (did it fail earlier?)")
        per_host[host] = values["__fleet_vars"]
        read = values["__fleet_read"]
        if read.get("rc", 0) != 0:
            raise AnsibleFilterError(f"fleet on {host}: reading routes and addresses failed: {read.get('stderr', '')}")
        reads[host] = read.get("stdout", "")
    return per_host, reads


def fleet_vars(raw: dict[str, Any], host: str) -> dict[str, Any]:
    """One host's fleet_* variables, checked (the role's first task, before anything runs on a host)."""
    from ansible_collections.netplumb.container.plugins.module_utils._fleet import parse_vars

    try:
        return parse_vars(dict(raw), host)
    except NetplumbError as exc:
        raise AnsibleFilterError(exc.msg) from None


def fleet_preflight(hostvars: Any, hosts: list[str], leases: dict[str, Any]) -> dict[str, Any]:
    """The leases of a check-mode ipam call against every host's routes: fails on a collision, else exclusions."""
    from ansible_collections.netplumb.container.plugins.module_utils._fleet import preflight

    try:
        per_host, reads = _per_host(hostvars, list(hosts))
        return preflight(per_host, reads, dict(leases))
    except NetplumbError as exc:
        raise AnsibleFilterError(exc.msg) from None


def fleet_plan(hostvars: Any, hosts: list[str], leases: dict[str, Any], leases6: Any = None) -> dict[str, Any]:
    """Every host's slice network, VXLAN device and routes, from the leases (ipam cluster results)."""
    from ansible_collections.netplumb.container.plugins.module_utils._fleet import plan_fleet
    from ansible_collections.netplumb.container.plugins.module_utils._vxlan import vtep_mac

    try:
        per_host, reads = _per_host(hostvars, list(hosts))
        subnets6 = (leases6 or {}).get("subnets") if leases6 and not leases6.get("skipped") else None
        return plan_fleet(per_host, reads, dict(leases.get("subnets") or {}), subnets6, vtep_mac)
    except NetplumbError as exc:
        raise AnsibleFilterError(exc.msg) from None


def fleet_leases_match(planned: dict[str, Any], written: dict[str, Any], hosts: list[str]) -> list[str]:
    """Hosts whose written lease differs from the planned one (another run wrote in between)."""
    before, after = planned.get("subnets") or {}, written.get("subnets") or {}
    return [h for h in hosts if before.get(h) != after.get(h)]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "fleet_vars": fleet_vars,
            "fleet_preflight": fleet_preflight,
            "fleet_plan": fleet_plan,
            "fleet_leases_match": fleet_leases_match,
        }
