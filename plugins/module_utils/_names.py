# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names across the fleet: who sees whom, as the hosts file entries of each container (role glue, pure).

A container sees the containers that share one of its networks on its host and, on a fleet network (the
per-host slices of one cluster), the fleet network's containers of every host of the play: each by its
name and by ``<name>.<inventory host>``. Its own name comes first and is its own; a bare name held on
several hosts resolves to the one on the container's host, else to the first host in play order that
has it (``name.host`` always reaches each one). The addresses are the ipam module's allocations.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_hostname,
    check_network_name,
    parse_bool,
    parse_nameservers,
    parse_resolv_options,
    parse_search_domains,
)

# The address of a container's own name when it has none on a network (mode none): Debian's for a hostname.
NO_ADDRESS = "127.0.1.1"

# network -> endpoint -> the ipam module's allocation ({"ipv4", "ipv6", ...})
Allocations = dict[str, dict[str, dict[str, Any]]]


def parse_names_settings(enabled: Any, dns: Any, search: Any, options: Any, fleet_networks: Any) -> dict[str, Any]:
    """The endpoints role's name variables, checked before any change: an empty list means the host's (Docker)."""
    on = parse_bool(enabled, "endpoints_names")
    spec = {
        "nameservers": parse_nameservers(dns or None, "endpoints_dns"),
        "search": parse_search_domains(search or None, "endpoints_dns_search"),
        "options": parse_resolv_options(options or None, "endpoints_dns_options"),
    }
    if not isinstance(fleet_networks, (list, type(None))):
        raise ValidationError(f"endpoints_fleet_networks: {fleet_networks!r} is not a list of network names")
    nets = [check_network_name(n, "endpoints_fleet_networks") for n in fleet_networks or []]
    resolv = {k: list(v) if v is not None else None for k, v in spec.items()}
    return {"enabled": on, "resolv_conf": resolv, "fleet_networks": nets}


def _addresses(alloc: dict[str, Any]) -> list[str]:
    return [alloc[key] for key in ("ipv4", "ipv6") if alloc.get(key)]


def hosts_entries(
    host: str,
    endpoints: list[dict[str, Any]],
    by_host: dict[str, Allocations],
    fleet_networks: list[str],
) -> dict[str, list[dict[str, Any]]]:
    """Per container of this host with a namespace of its own: its hosts file entries (address, names).

    ``endpoints``: the ipam module's endpoint list (name, mode, networks in order); ``by_host``: every play
    host's allocations in play order (this host's included), of which other hosts count on fleet networks only.
    """
    local = by_host.get(host) or {}
    others = [h for h in by_host if h != host]
    fleet = set(fleet_networks)
    out: dict[str, list[dict[str, Any]]] = {}
    for endpoint in endpoints:
        if endpoint.get("mode", "bridge") not in ("bridge", "none"):
            continue
        name = endpoint["name"]
        nets = [n["name"] for n in endpoint.get("networks") or []]
        own = local.get(nets[0], {}).get(name) if nets else None
        seen = [(_addresses(own) if own else [NO_ADDRESS], name, host)]
        for net in nets:
            for peer_host in [host] + (others if net in fleet else []):
                peers = (by_host.get(peer_host) or {}).get(net) or {}
                seen += [(_addresses(peers[peer]), peer, peer_host) for peer in sorted(peers)]
        out[name] = _entries(seen)
    return out


def _entries(seen: list[tuple[list[str], str, str]]) -> list[dict[str, Any]]:
    """(addresses, name, host) in order of preference -> entries; each name goes to its first holder only."""
    taken: set[str] = set()
    entries: list[dict[str, Any]] = []
    for addresses, who, where in seen:
        names = [n for n in (who, qualified(who, where)) if n is not None and n not in taken]
        taken.update(names)
        entries.extend({"address": a, "names": names} for a in addresses if names)
    return entries


def qualified(name: str, host: str) -> str | None:
    """``name.host``, or None when the inventory name cannot be part of a host name (it is left out)."""
    try:
        return check_hostname(f"{name}.{host}")
    except ValidationError:
        return None


def netns_config(
    netns: list[dict[str, Any]],
    endpoints: list[dict[str, Any]],
    by_host: dict[str, Allocations],
    host: str,
    settings: dict[str, Any],
) -> list[dict[str, Any]]:
    """The netns module's config: the role's namespaces with their hosts file and resolv.conf (when names are on)."""
    if not settings.get("enabled"):
        return netns
    entries = hosts_entries(host, endpoints, by_host, settings.get("fleet_networks") or [])
    return [
        {**ns, "hosts": entries.get(ns["name"], []), "resolv_conf": dict(settings.get("resolv_conf") or {})}
        for ns in netns
    ]
