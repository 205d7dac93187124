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
from ansible_collections.netplumb.container.plugins.module_utils._hostsfile import Entry, HostsTable
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


def hosts_views(
    host: str,
    endpoints: list[dict[str, Any]],
    by_host: dict[str, Allocations],
    fleet_networks: list[str],
) -> tuple[dict[str, tuple[list[Entry], str]], dict[str, list[Entry]]]:
    """Per container of this host with a namespace of its own: its own entries and the name of its table; and
    the tables, one per distinct list of networks (what the containers on those networks see, in order).

    ``endpoints``: the ipam module's endpoint list (name, mode, networks in order); ``by_host``: every play
    host's allocations in play order (this host's included), of which other hosts count on fleet networks only.
    """
    others = [h for h in by_host if h != host]
    fleet = set(fleet_networks)
    tables: dict[tuple[str, ...], str] = {}
    content: dict[str, list[Entry]] = {}
    out: dict[str, tuple[list[Entry], str]] = {}
    for endpoint in endpoints:
        if endpoint.get("mode", "bridge") not in ("bridge", "none"):
            continue
        name = endpoint["name"]
        nets = tuple(n["name"] for n in endpoint.get("networks") or [])
        if nets not in tables:
            tables[nets] = key = f"t{len(tables)}"
            seen = []
            for net in nets:
                for peer_host in [host] + (others if net in fleet else []):
                    peers = (by_host.get(peer_host) or {}).get(net) or {}
                    seen += [(_addresses(peers[peer]), peer, peer_host) for peer in sorted(peers)]
            content[key] = _entries(seen)
        own = (by_host.get(host) or {}).get(nets[0], {}).get(name) if nets else None
        out[name] = (_entries([(_addresses(own) if own else [NO_ADDRESS], name, host)]), tables[nets])
    return out, content


def hosts_entries(
    host: str,
    endpoints: list[dict[str, Any]],
    by_host: dict[str, Allocations],
    fleet_networks: list[str],
) -> dict[str, list[Entry]]:
    """Each container's hosts file entries as the netns module writes them (own first, then its table)."""
    views, tables = hosts_views(host, endpoints, by_host, fleet_networks)
    shared = {key: HostsTable(entries) for key, entries in tables.items()}
    return {name: list(shared[key].merged(own)) for name, (own, key) in views.items()}


def _entries(seen: list[tuple[list[str], str, str]]) -> list[Entry]:
    """(addresses, name, host) in order of preference -> entries; each name goes to its first holder only."""
    taken: set[str] = set()
    entries: list[Entry] = []
    for addresses, who, where in seen:
        names = tuple(n for n in (who, qualified(who, where)) if n is not None and n not in taken)
        taken.update(names)
        entries.extend((a, names) for a in addresses if names)
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
) -> dict[str, Any]:
    """The netns module's ``config`` (the role's namespaces, each with its own hosts entries, the name of its
    shared table and its resolv.conf) and ``hosts_tables``; the namespaces alone when names are off."""
    if not settings.get("enabled"):
        return {"config": netns, "hosts_tables": []}
    views, tables = hosts_views(host, endpoints, by_host, settings.get("fleet_networks") or [])
    resolv = dict(settings.get("resolv_conf") or {})
    config = []
    for ns in netns:
        own, key = views.get(ns["name"], ([], None))
        entry = {**ns, "hosts": [_entry_dict(e) for e in own], "resolv_conf": resolv}
        if key is not None:
            entry["hosts_table"] = key
        config.append(entry)
    used = {entry.get("hosts_table") for entry in config}
    hosts_tables = [{"name": k, "entries": [_entry_dict(e) for e in v]} for k, v in tables.items() if k in used]
    return {"config": config, "hosts_tables": hosts_tables}


def _entry_dict(entry: Entry) -> dict[str, Any]:
    return {"address": entry[0], "names": list(entry[1])}
