"""Small topologies shared by the test tiers (functional: root's namespaces; integration: a lab host's)."""

from __future__ import annotations


def route_pair(a: str, b: str) -> list[str]:
    """`ip` argument strings for namespaces a and b joined by a veth pair (v0 10.9.0.1 / v1 10.9.0.2, and
    fd00:9::1 / fd00:9::2); b holds 10.99.0.1 and fd00:99::1 on its lo, reachable from a only through a route."""
    return [
        f"netns add {a}",
        f"netns add {b}",
        f"-n {a} link add v0 type veth peer name v1 netns {b}",
        f"-n {a} addr add 10.9.0.1/24 dev v0",
        f"-n {b} addr add 10.9.0.2/24 dev v1",
        f"-n {a} addr add fd00:9::1/64 dev v0 nodad",
        f"-n {b} addr add fd00:9::2/64 dev v1 nodad",
        f"-n {b} addr add 10.99.0.1/32 dev lo",
        f"-n {b} addr add fd00:99::1/128 dev lo",
        f"-n {a} link set v0 up",
        f"-n {b} link set v1 up",
        f"-n {a} link set lo up",
        f"-n {b} link set lo up",
    ]
