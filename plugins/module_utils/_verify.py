# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connectivity matrix of playbooks/verify.yml: which paths to try and what to expect."""

from __future__ import annotations

from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils._endpoints import parse_containers
from ansible_collections.netplumb.container.plugins.module_utils._networks import normalise_networks


def host_checks(
    containers: list[dict[str, Any]],
    networks: list[dict[str, Any]],
    allocations: dict[str, dict[str, Any]],
    outside: str | None,
) -> list[dict[str, Any]]:
    """Checks run on the host itself: from each bridge container to its gateway, its peers and the outside.

    ``networks`` are normalised definitions; ``allocations`` maps network -> endpoint -> allocation.
    """
    endpoints = [e for e in parse_containers(containers, [n["name"] for n in networks]) if e.mode == "bridge"]
    by_net = {n["name"]: n for n in networks}
    checks: list[dict[str, Any]] = []
    for endpoint in endpoints:
        for net, _fixed in endpoint.networks:
            definition = by_net[net]
            checks.append(_ping(endpoint.name, f"gateway {net}", definition["gateway"], True))
            for peer in endpoints:
                if peer.name == endpoint.name or net not in dict(peer.networks):
                    continue
                address = allocations[net][peer.name]["ipv4"]
                checks.append(_ping(endpoint.name, f"{peer.name} on {net}", address, definition["icc"]))
        mine = dict(endpoint.networks)
        for peer in endpoints:
            if peer.name == endpoint.name or mine.keys() & dict(peer.networks).keys():
                continue
            net = peer.networks[0][0]
            address = allocations[net][peer.name]["ipv4"]
            # Networks are isolated from each other (the nat module's isolate, on by default).
            checks.append(_ping(endpoint.name, f"{peer.name} on {net} (isolated)", address, False))
        if outside:
            first = by_net[endpoint.networks[0][0]]
            reachable = not any(by_net[n]["internal"] for n, _fixed in endpoint.networks) and first["masquerade"]
            checks.append(_ping(endpoint.name, "outside (masquerade)", outside, reachable))
    return checks


def published_ports(containers: list[dict[str, Any]], networks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """TCP ports published on every IPv4 address of the host: the outside connects to each over the underlay."""
    out = []
    for endpoint in parse_containers(containers, [n["name"] for n in networks]):
        for pub in endpoint.publish:
            if pub.proto == "tcp" and pub.host_ip == "0.0.0.0":
                out.append(
                    {"container": endpoint.name, "host_port": pub.host_port, "container_port": pub.container_port}
                )
    return out


def _ping(source: str, label: str, target: str, expect: bool) -> dict[str, Any]:
    return {"kind": "ping", "netns": source, "label": label, "target": target, "expect": expect}


def outside_checks(hosts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """From the outside host: a TCP connect to every published port of every host (by its underlay address).

    Only hosts that ran the first play of verify.yml (they have ``verify_paths``) serve their ports.
    """
    checks = []
    for host in hosts:
        address = host.get("netplumb_lab_underlay_address") or host.get("ansible_host")
        if not address or not host.get("verify_paths"):
            continue
        # Only the names matter here: a network whose subnet the host chose is as good as any.
        networks = normalise_networks(
            host.get("endpoints_networks", host.get("bridge_network_networks")), pending_ok=True
        )
        for pub in published_ports(host.get("endpoints_containers") or [], networks):
            checks.append(
                {
                    "kind": "tcp",
                    "target": address,
                    "port": pub["host_port"],
                    "expect": True,
                    "label": f"{host['inventory_hostname']}:{pub['host_port']} -> {pub['container']}:"
                    f"{pub['container_port']}",
                }
            )
    return checks


def table(per_host: dict[str, list[dict[str, Any]]], failed_only: bool = False) -> list[str]:
    """One line per path: host, from, to, outcome, and whether that was expected."""
    rows = []
    for host in sorted(per_host):
        for result in per_host[host]:
            if failed_only and result["passed"]:
                continue
            source = result.get("netns") or host
            outcome = "reached" if result["reached"] else "blocked"
            verdict = (
                "ok" if result["passed"] else f"UNEXPECTED (expected {'reached' if result['expect'] else 'blocked'})"
            )
            target = result.get("label") or result["target"]
            rows.append(f"{host:<8} {source:<12} -> {target:<36} {outcome:<8} {verdict}")
    return rows
