# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of playbooks/verify_fleet.yml (the fleet matrix); the logic is in module_utils/_verify_fleet.py."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError


def _lib():
    """module_utils/_verify_fleet, imported when a filter runs: Ansible loads every filter file of the collection
    in every task worker that uses any of its filters (see netplumb.py)."""
    from ansible_collections.netplumb.container.plugins.module_utils import _verify_fleet

    return _verify_fleet


def _filter_error(func):
    def wrapped(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ValidationError as exc:
            raise AnsibleFilterError(exc.msg) from None

    wrapped.__name__ = func.__name__
    return wrapped


@_filter_error
def fleet_probe_container(containers: Any, network_names: list[str], override: Any = None) -> str:
    return _lib().probe_container(list(containers or []), list(network_names), override)


@_filter_error
def fleet_source(stdout: str, container: str, explicit_mtu: Any = None, fleet_fact: Any = None) -> dict[str, Any]:
    """{container, address, mtu of eth0, size: the don't-fragment ping size to use}."""
    source = _lib().parse_source(stdout)
    return {**source, "container": container, "size": _lib().fleet_mtu(explicit_mtu, fleet_fact, source["mtu"])}


@_filter_error
def fleet_blocked(blocked: Any, hosts: list[str]) -> list[dict[str, Any]]:
    return _lib().parse_blocked(blocked, list(hosts))


@_filter_error
def fleet_targets(me: str, hostvars: Any, hosts: list[str], blocked: Any) -> list[dict[str, Any]]:
    sources = {h: dict(hostvars[h]["verify_fleet_source"]) for h in hosts if "verify_fleet_source" in hostvars[h]}
    addresses = {h: list(hostvars[h].get("verify_fleet_addresses") or []) for h in sources}
    return _lib().path_targets(me, sources, _lib().parse_blocked(blocked, list(hosts)), addresses)


@_filter_error
def fleet_script_args(targets: list[dict[str, Any]]) -> str:
    return " ".join(_lib().script_args(targets))


def fleet_addresses(stdout: str) -> list[str]:
    """The script's `addresses` output (`<netns> <address>` lines) -> the addresses."""
    return [line.split()[1] for line in stdout.splitlines() if len(line.split()) == 2]


def fleet_matrix(hostvars: Any, hosts: list[str]) -> dict[str, Any]:
    """{rows, sources, failures}; a host of the fleet without results is a failure of its own."""
    data, failures = {}, []
    for host in hosts:
        hv = hostvars[host]
        run = hv.get("verify_fleet_paths")
        if not run or "stdout" not in run or "verify_fleet_source" not in hv:
            failures.append(f"{host}: not probed (the host failed or was unreachable)")
            continue
        data[host] = {
            "source": dict(hv["verify_fleet_source"]),
            "mtu": hv["verify_fleet_source"]["size"],
            "targets": list(hv["verify_fleet_targets"]),
            "results": _lib().parse_paths(run["stdout"]),
        }
    result = _lib().matrix(data)
    result["failures"] = failures + result["failures"]
    return result


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "fleet_probe_container": fleet_probe_container,
            "fleet_source": fleet_source,
            "fleet_blocked": fleet_blocked,
            "fleet_targets": fleet_targets,
            "fleet_script_args": fleet_script_args,
            "fleet_addresses": fleet_addresses,
            "fleet_matrix": fleet_matrix,
        }
