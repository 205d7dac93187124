# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the endpoints role's container list into module inputs."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.netplumb.container.plugins.module_utils._endpoints import (
    check_against_networks,
    ipam_requests,
    kept_publish,
    parse_containers,
    removal,
    wiring,
)
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._networks import normalise_networks
from ansible_collections.netplumb.container.plugins.module_utils._validate import parse_bool
from ansible_collections.netplumb.container.plugins.module_utils._verify import (
    host_checks,
    outside_checks,
    published_ports,
    table,
)


def _networks_by_name(networks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {net["name"]: net for net in networks}


def endpoint_ipam_requests(containers: list[dict[str, Any]], networks: list[dict[str, Any]]) -> dict[str, list]:
    """Validates the containers against the networks (the role's check before any change) -> ipam configs."""
    try:
        endpoints = parse_containers(containers, [n["name"] for n in networks])
        check_against_networks(endpoints, _networks_by_name(networks))
        return ipam_requests(endpoints)
    except ValidationError as exc:
        raise AnsibleFilterError(exc.msg) from None


def endpoint_wiring(containers: list[dict[str, Any]], networks: list[dict[str, Any]], ipam: Any) -> dict[str, Any]:
    try:
        endpoints = parse_containers(containers, [n["name"] for n in networks])
        return wiring(endpoints, _networks_by_name(networks), _allocations(ipam))
    except ValidationError as exc:
        raise AnsibleFilterError(exc.msg) from None


def bridge_network_check(networks: Any, var: str = "bridge_network_networks") -> dict[str, Any]:
    """The role's pre-flight: {"networks": checked and completed} or {"error": one line naming variable and value}.

    Returned, not raised, so that the role's fail task shows the message as it is.
    """
    try:
        return {"networks": normalise_networks(networks, var)}
    except ValidationError as exc:
        return {"error": exc.msg}


def endpoints_check(containers: Any, networks: Any, purge: Any = False) -> dict[str, Any]:
    """The endpoints role's pre-flight: checked networks, the ipam requests and the parsed flags, or {"error"}."""
    try:
        defs = normalise_networks(networks, "endpoints_networks")
        endpoints = parse_containers(containers, [n["name"] for n in defs])
        check_against_networks(endpoints, _networks_by_name(defs))
        return {
            "networks": defs,
            "ipam": ipam_requests(endpoints),
            "purge": parse_bool(purge, "endpoints_purge"),
        }
    except ValidationError as exc:
        return {"error": exc.msg}


def bridge_networks(networks: list[dict[str, Any]], var: str = "bridge_network_networks") -> list[dict[str, Any]]:
    try:
        return normalise_networks(networks, var)
    except ValidationError as exc:
        raise AnsibleFilterError(exc.msg) from None


def endpoint_removal(containers, networks, unlisted=None) -> dict[str, Any]:
    try:
        endpoints = parse_containers(containers, [n["name"] for n in networks])
        return removal(endpoints, [n["name"] for n in networks], list(unlisted or []))
    except ValidationError as exc:
        raise AnsibleFilterError(exc.msg) from None


def endpoint_kept_publish(record: Any, networks: list[dict[str, Any]], removed: Any) -> list[dict[str, Any]]:
    """nat config that withdraws only the removed containers' ports (record: the nat record's JSON)."""
    recorded = (record or {}).get("networks") or []
    return kept_publish(recorded, _networks_by_name(networks), _allocations(removed))


def _allocations(ipam: Any) -> dict[str, dict[str, Any]]:
    """Accepts network -> allocations, or a registered loop of ipam results (item.name per network)."""
    if isinstance(ipam, dict) and "results" in ipam:
        return {r["item"]["name"]: r.get("allocations") or {} for r in ipam["results"] if not r.get("skipped")}
    return dict(ipam or {})


def verify_checks(containers, networks, ipam: Any, outside: str | None = None) -> list[dict[str, Any]]:
    try:
        return host_checks(containers, networks, _allocations(ipam), outside)
    except ValidationError as exc:
        raise AnsibleFilterError(exc.msg) from None


def verify_published(containers, networks) -> list[dict[str, Any]]:
    try:
        return published_ports(containers, networks)
    except ValidationError as exc:
        raise AnsibleFilterError(exc.msg) from None


def listener(published: dict[str, Any], seconds: int = 60) -> dict[str, Any]:
    return {"netns": published["container"], "port": published["container_port"], "seconds": seconds}


def verify_outside_checks(hosts: list[Any]) -> list[dict[str, Any]]:
    try:
        return outside_checks([dict(h) for h in hosts])
    except ValidationError as exc:
        raise AnsibleFilterError(exc.msg) from None


def verify_table(hostvars: Any, failed_only: bool = False) -> list[str]:
    """Rows of the matrix from every host's registered probe results (verify_paths, verify_outside)."""
    per_host: dict[str, list[dict[str, Any]]] = {}
    for host in hostvars:
        for var in ("verify_paths", "verify_outside"):
            result = hostvars[host].get(var)
            if result and result.get("results"):
                per_host.setdefault(host, []).extend(result["results"])
    return table(per_host, failed_only)


def keyed(values: list[Any], key: str = "name") -> list[dict[str, Any]]:
    """["a", "b"] -> [{"name": "a"}, {"name": "b"}]: a config list from names."""
    return [{key: value} for value in values or []]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "endpoint_ipam_requests": endpoint_ipam_requests,
            "endpoint_wiring": endpoint_wiring,
            "endpoint_removal": endpoint_removal,
            "endpoint_kept_publish": endpoint_kept_publish,
            "bridge_networks": bridge_networks,
            "bridge_network_check": bridge_network_check,
            "endpoints_check": endpoints_check,
            "keyed": keyed,
            "verify_checks": verify_checks,
            "verify_published": verify_published,
            "verify_outside_checks": verify_outside_checks,
            "verify_table": verify_table,
            "listener": listener,
        }
