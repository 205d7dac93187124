# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the endpoints role's container list into module inputs."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError

# Each filter imports the module_utils it uses when called: Ansible loads every filter file of the collection
# in every task worker that uses any of its filters and compiles what they import from source each time (no
# bytecode cache), so a worker that plans the fleet need not compile the endpoints' and verify's code.


def _networks_by_name(networks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {net["name"]: net for net in networks}


def bridge_network_check(
    networks: Any,
    var: str = "bridge_network_networks",
    assigned: dict[str, str] | None = None,
    pools: Any = None,
) -> dict[str, Any]:
    """The role's pre-flight: {"networks": checked and completed} or {"error": one line naming variable and value}.

    Networks without a subnet (none in ``assigned`` yet) are listed in "pending", the other networks' IPv4
    subnets in "exclude": the ipam module's arguments for choosing from the default pools on the host.
    ``pools`` (bridge_network_default_pools, null for Docker's) is checked too, so that a bad pool is refused
    before any change. Returned, not raised, so that the role's fail task shows the message as it is.
    """
    from ansible_collections.netplumb.container.plugins.module_utils._ipam import POOLS_VAR, parse_default_pools
    from ansible_collections.netplumb.container.plugins.module_utils._networks import normalise_networks

    try:
        parse_default_pools(pools, POOLS_VAR)
        nets = normalise_networks(networks, var, assigned=assigned, pending_ok=True)
        out = {
            "networks": nets,
            "pending": [net["name"] for net in nets if net.get("pending")],
            "exclude": [net["subnet"] for net in nets if net["subnet"]],
        }
        if assigned:
            # The variable as given, each network with its subnet, for the roles that read it later.
            out["completed"] = [
                raw if raw.get("subnet") or raw["name"] not in assigned else {**raw, "subnet": assigned[raw["name"]]}
                for raw in networks
            ]
        return out
    except ValidationError as exc:
        return {"error": exc.msg}


def endpoints_check(
    containers: Any,
    networks: Any,
    purge: Any = False,
    force: Any = False,
    disable_ipv6: Any = True,
    assigned: dict[str, str] | None = None,
    choosing: list[str] | None = None,
) -> dict[str, Any]:
    """The endpoints role's pre-flight and its whole plan but the addresses, from containers parsed once:
    ipam's arguments, namespaces, link and port templates, and the flags read with Ansible's rules; or {"error"}.

    A network without a subnet takes it from ``assigned`` (the bridge_network role's choice on the host);
    before that choice it is listed in "pending": enough to check and to remove, not to build. With ``choosing``
    (the networks the bridge_network role will choose a subnet for), any other pending network is an error.
    """
    from ansible_collections.netplumb.container.plugins.module_utils._endpoints import (
        check_against_networks,
        parse_containers,
        role_plan,
    )
    from ansible_collections.netplumb.container.plugins.module_utils._networks import normalise_networks
    from ansible_collections.netplumb.container.plugins.module_utils._validate import parse_bool

    try:
        defs = normalise_networks(networks, "endpoints_networks", assigned=assigned, pending_ok=True)
        for net in defs:
            if net.get("pending") and choosing is not None and net["name"] not in choosing:
                raise ValidationError(
                    f"endpoints_networks: network {net['name']} has no subnet, and no subnet is chosen for it on the "
                    "host (bridge_network_networks does not list it without one); give it a subnet"
                )
        by_name = _networks_by_name(defs)
        endpoints = parse_containers(containers, list(by_name))
        check_against_networks(endpoints, by_name)
        return {
            **role_plan(endpoints, by_name, parse_bool(disable_ipv6, "endpoints_disable_ipv6")),
            "pending": [net["name"] for net in defs if net.get("pending")],
            "purge": parse_bool(purge, "endpoints_purge"),
            "force": parse_bool(force, "endpoints_force"),
        }
    except ValidationError as exc:
        return {"error": exc.msg}


def endpoint_links(templates: list[dict[str, Any]], allocations: dict[str, Any]) -> list[dict[str, Any]]:
    """veth config: the plan's link templates with the ipam module's allocations (network -> endpoint)."""
    from ansible_collections.netplumb.container.plugins.module_utils._endpoints import links

    try:
        return links(templates, allocations or {})
    except ValidationError as exc:
        raise AnsibleFilterError(exc.msg) from None


def endpoint_ports(templates: list[dict[str, Any]], allocations: dict[str, Any]) -> list[dict[str, Any]]:
    """nat config: the plan's port templates with the ipam module's allocations, each port owned by its endpoint."""
    from ansible_collections.netplumb.container.plugins.module_utils._endpoints import ports

    try:
        return ports(templates, allocations or {})
    except ValidationError as exc:
        raise AnsibleFilterError(exc.msg) from None


def endpoint_leftovers(ipam: dict[str, Any], listed: list[str]) -> dict[str, Any]:
    """From the ipam module's result: namespaces of removed endpoints, links into networks they left."""
    from ansible_collections.netplumb.container.plugins.module_utils._endpoints import leftovers

    return leftovers(ipam.get("removed") or [], ipam.get("released") or {}, listed)


def endpoint_names_check(
    enabled: Any, dns: Any = None, search: Any = None, options: Any = None, fleet_networks: Any = None
) -> dict[str, Any]:
    """The pre-flight of the names variables: {"enabled", "resolv_conf", "fleet_networks"} or {"error"}."""
    from ansible_collections.netplumb.container.plugins.module_utils._names import parse_names_settings

    try:
        return parse_names_settings(enabled, dns, search, options, fleet_networks)
    except ValidationError as exc:
        return {"error": exc.msg}


def endpoint_allocations(hostvars: Any, play_hosts: list[str]) -> dict[str, Any]:
    """Every play host's allocations of this run, from its registered ipam result (``__endpoints_ipam``; a host
    without one has no containers). Run once for the play: each host reading all the others' variables in its
    own task cost ~0.25 s CPU per host on a 20-host fleet, and grew with the square of the hosts."""
    by_host = {}
    for name in play_hosts:
        result = hostvars[name].get("__endpoints_ipam") or {}
        by_host[name] = dict(result.get("allocations") or {})
    return by_host


def endpoint_netns(by_host: Any, host: str, plan: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """netns ``config`` and ``hosts_tables``: the plan's namespaces with their hosts file and resolv.conf, from
    every play host's allocations (endpoint_allocations)."""
    from ansible_collections.netplumb.container.plugins.module_utils._names import netns_config

    try:
        return netns_config(plan["netns"], plan["ipam"]["endpoints"], dict(by_host or {}), host, settings)
    except ValidationError as exc:
        raise AnsibleFilterError(exc.msg) from None


def bridge_networks(
    networks: list[dict[str, Any]], var: str = "bridge_network_networks", assigned: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Complete network definitions; a network without subnet takes it from ``assigned`` (the host's choice)."""
    from ansible_collections.netplumb.container.plugins.module_utils._networks import normalise_networks

    try:
        return normalise_networks(networks, var, assigned=assigned)
    except ValidationError as exc:
        raise AnsibleFilterError(exc.msg) from None


def verify_checks(containers, networks, ipam: Any, outside: str | None = None) -> list[dict[str, Any]]:
    from ansible_collections.netplumb.container.plugins.module_utils._verify import host_checks

    try:
        return host_checks(containers, networks, dict(ipam or {}), outside)
    except ValidationError as exc:
        raise AnsibleFilterError(exc.msg) from None


def verify_published(containers, networks) -> list[dict[str, Any]]:
    from ansible_collections.netplumb.container.plugins.module_utils._verify import published_ports

    try:
        return published_ports(containers, networks)
    except ValidationError as exc:
        raise AnsibleFilterError(exc.msg) from None


def listener(published: dict[str, Any], seconds: int = 60) -> dict[str, Any]:
    return {"netns": published["container"], "port": published["container_port"], "seconds": seconds}


def verify_outside_checks(hosts: list[Any]) -> list[dict[str, Any]]:
    from ansible_collections.netplumb.container.plugins.module_utils._verify import outside_checks

    try:
        return outside_checks([dict(h) for h in hosts])
    except ValidationError as exc:
        raise AnsibleFilterError(exc.msg) from None


def verify_table(hostvars: Any, failed_only: bool = False) -> list[str]:
    """Rows of the matrix from every host's registered probe results (verify_paths, verify_outside)."""
    from ansible_collections.netplumb.container.plugins.module_utils._verify import table

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


def endpoints_service(
    name: Any, container: Any, port: Any = 80, command: Any = None, user: Any = "nobody", state: Any = "present"
) -> dict[str, Any]:
    """service.yml's pre-flight: the systemd unit of a workload in a container's namespace, or {"error"}."""
    from ansible_collections.netplumb.container.plugins.module_utils._workload import service_unit

    try:
        return service_unit(name, container, port, command, user, state)
    except ValidationError as exc:
        return {"error": exc.msg}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "bridge_networks": bridge_networks,
            "bridge_network_check": bridge_network_check,
            "endpoints_check": endpoints_check,
            "endpoints_service": endpoints_service,
            "endpoint_links": endpoint_links,
            "endpoint_ports": endpoint_ports,
            "endpoint_leftovers": endpoint_leftovers,
            "endpoint_names_check": endpoint_names_check,
            "endpoint_allocations": endpoint_allocations,
            "endpoint_netns": endpoint_netns,
            "keyed": keyed,
            "verify_checks": verify_checks,
            "verify_published": verify_published,
            "verify_outside_checks": verify_outside_checks,
            "verify_table": verify_table,
            "listener": listener,
        }
