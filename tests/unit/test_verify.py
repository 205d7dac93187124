"""The connectivity matrix: which paths verify.yml tries and what it expects of each."""

from __future__ import annotations

from ansible_collections.netplumb.container.plugins.module_utils._networks import normalise_networks
from ansible_collections.netplumb.container.plugins.module_utils._verify import host_checks, outside_checks, table

NETWORKS = normalise_networks(
    [
        {"name": "front", "subnet": "10.1.0.0/24"},
        {"name": "back", "subnet": "10.2.0.0/24", "icc": False},
        {"name": "closed", "subnet": "10.3.0.0/24", "internal": True},
    ]
)
ALLOC = {
    "front": {"a": {"ipv4": "10.1.0.2"}, "b": {"ipv4": "10.1.0.3"}},
    "back": {"c": {"ipv4": "10.2.0.2"}, "d": {"ipv4": "10.2.0.3"}},
    "closed": {"e": {"ipv4": "10.3.0.2"}},
}
CONTAINERS = [
    {"name": "a", "publish": ["8080:80", "127.0.0.1:9000:9000", "53:53/udp"]},
    {"name": "b"},
    {"name": "c", "networks": ["back"]},
    {"name": "d", "networks": ["back"]},
    {"name": "e", "networks": ["closed"]},
    {"name": "n", "mode": "none"},
]


def expectations(source):
    return {
        c["label"]: c["expect"]
        for c in host_checks(CONTAINERS, NETWORKS, ALLOC, "198.18.0.254")
        if c["netns"] == source
    }


def test_paths_and_expectations():
    assert expectations("a") == {
        "gateway front": True,
        "b on front": True,
        "c on back (isolated)": False,
        "d on back (isolated)": False,
        "e on closed (isolated)": False,
        "outside (masquerade)": True,
    }
    assert expectations("c")["d on back"] is False  # icc false
    assert expectations("c")["gateway back"] is True
    assert expectations("e")["outside (masquerade)"] is False  # internal
    assert expectations("n") == {}


def test_outside_checks_only_tcp_on_every_address():
    hosts = [
        {
            "inventory_hostname": "h1",
            "netplumb_lab_underlay_address": "198.18.0.11",
            "bridge_network_networks": [{"name": "front", "subnet": "10.1.0.0/24"}],
            "endpoints_containers": CONTAINERS[:2],
            "verify_paths": {"results": []},
        },
        {"inventory_hostname": "h2", "netplumb_lab_underlay_address": "198.18.0.12"},  # did not run play 1
    ]
    assert outside_checks(hosts) == [
        {"kind": "tcp", "target": "198.18.0.11", "port": 8080, "expect": True, "label": "h1:8080 -> a:80"}
    ]


def test_table_marks_unexpected():
    rows = table(
        {
            "h1": [
                {"netns": "a", "label": "b", "target": "x", "reached": True, "expect": True, "passed": True},
                {"netns": "c", "label": "d", "target": "y", "reached": True, "expect": False, "passed": False},
            ]
        }
    )
    assert rows[0].split() == ["h1", "a", "->", "b", "reached", "ok"]
    assert "UNEXPECTED (expected blocked)" in rows[1]
    assert table({"h1": [{"netns": "a", "target": "x", "reached": 1, "expect": 1, "passed": True}]}, True) == []
