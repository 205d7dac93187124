# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the endpoints role's container list into module inputs."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.netplumb.container.plugins.module_utils._endpoints import (
    ipam_requests,
    parse_containers,
    wiring,
)
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._networks import normalise_networks


def _networks_by_name(networks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {net["name"]: net for net in networks}


def endpoint_ipam_requests(containers: list[dict[str, Any]], networks: list[dict[str, Any]]) -> dict[str, list]:
    try:
        return ipam_requests(parse_containers(containers, [n["name"] for n in networks]))
    except ValidationError as exc:
        raise AnsibleFilterError(exc.msg) from None


def endpoint_wiring(containers: list[dict[str, Any]], networks: list[dict[str, Any]], ipam: Any) -> dict[str, Any]:
    try:
        endpoints = parse_containers(containers, [n["name"] for n in networks])
        return wiring(endpoints, _networks_by_name(networks), _allocations(ipam))
    except ValidationError as exc:
        raise AnsibleFilterError(exc.msg) from None


def bridge_networks(networks: list[dict[str, Any]], var: str = "bridge_network_networks") -> list[dict[str, Any]]:
    try:
        return normalise_networks(networks, var)
    except ValidationError as exc:
        raise AnsibleFilterError(exc.msg) from None


def _allocations(ipam: Any) -> dict[str, dict[str, Any]]:
    """Accepts network -> allocations, or a registered loop of ipam results (item.name per network)."""
    if isinstance(ipam, dict) and "results" in ipam:
        return {r["item"]["name"]: r.get("allocations") or {} for r in ipam["results"] if not r.get("skipped")}
    return dict(ipam or {})


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "endpoint_ipam_requests": endpoint_ipam_requests,
            "endpoint_wiring": endpoint_wiring,
            "bridge_networks": bridge_networks,
        }
