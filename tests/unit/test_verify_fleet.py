"""The fleet matrix's planning and table (module_utils/_verify_fleet.py), from fixture data."""

from __future__ import annotations

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._verify_fleet import (
    fleet_mtu,
    matrix,
    outcome,
    parse_blocked,
    parse_paths,
    parse_source,
    path_targets,
    probe_container,
    script_args,
)

HOSTS = ["h1", "h2", "h10"]
SOURCES = {"h1": {"address": "10.244.1.2"}, "h2": {"address": "10.244.2.2"}, "h10": {"address": "10.244.10.2"}}


def test_probe_container_first_bridge_mode():
    containers = [{"name": "batch", "mode": "none"}, {"name": "agent", "mode": "host"}, {"name": "web"}, {"name": "db"}]
    assert probe_container(containers, ["docker0"]) == "web"
    assert probe_container(containers, ["docker0"], override="db") == "db"
    assert probe_container(containers, ["docker0"], override="") == "web"


@pytest.mark.parametrize(
    ("containers", "override", "message"),
    [
        ([{"name": "batch", "mode": "none"}], None, "no bridge-mode container in endpoints_containers"),
        ([], None, "no bridge-mode container"),
        ([{"name": "web"}], "bad/name", "verify_fleet_container"),
        ([{"mode": "bridge"}], None, "endpoints_containers[0]: each container needs a name"),
    ],
)
def test_probe_container_errors(containers, override, message):
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        probe_container(containers, ["docker0"], override)


def test_parse_source():
    assert parse_source("eth0 10.244.1.2/24 1450\n") == {"address": "10.244.1.2", "mtu": 1450}
    with pytest.raises(ValidationError, match="cannot read the probe container's eth0"):
        parse_source("")


def test_parse_blocked():
    assert parse_blocked(None, HOSTS) == [] and parse_blocked([], HOSTS) == []
    assert parse_blocked([{"from": "h1", "to": "h2"}, {"to": "172.18.0.0/24"}, {"to": "10.0.0.5"}], HOSTS) == [
        {"from": "h1", "host": "h2"},
        {"from": None, "network": "172.18.0.0/24"},
        {"from": None, "network": "10.0.0.5/32"},
    ]


@pytest.mark.parametrize(
    ("blocked", "message"),
    [
        ("h1", "verify_fleet_blocked: must be a list, got 'h1'"),
        ([{"from": "h1"}], r"verify_fleet_blocked\[0\]: must be a mapping with 'to'"),
        (["h2"], r"verify_fleet_blocked\[0\]: must be a mapping"),
        ([{"to": "h2", "via": "x"}], r"verify_fleet_blocked\[0\]: must be a mapping"),
        ([{"from": "h7", "to": "h2"}], r"verify_fleet_blocked\[0\].from: 'h7' is not a host of the fleet"),
        ([{"to": "h2"}, {"to": "nowhere"}], r"verify_fleet_blocked\[1\].to \(a host of the fleet"),
        ([{"to": True}], r"verify_fleet_blocked\[0\].to"),
    ],
)
def test_parse_blocked_errors(blocked, message):
    with pytest.raises(ValidationError, match=message):
        parse_blocked(blocked, HOSTS)


def test_path_targets_every_other_host_in_natural_order():
    assert path_targets("h2", SOURCES, [], {}) == [
        {"to": "h1", "address": "10.244.1.2", "expect": True},
        {"to": "h10", "address": "10.244.10.2", "expect": True},
    ]


def test_path_targets_blocked_pairs_and_networks():
    blocked = parse_blocked([{"from": "h1", "to": "h2"}, {"to": "172.18.0.0/24"}], HOSTS)
    addresses = {"h1": ["10.244.1.2", "172.18.0.2"], "h2": ["10.244.2.2", "172.18.0.3"], "h10": ["10.244.10.2"]}
    assert path_targets("h1", SOURCES, blocked, addresses) == [
        {"to": "h2", "address": "10.244.2.2", "expect": False},
        {"to": "h10", "address": "10.244.10.2", "expect": True},
        {"to": "h2:172.18.0.3", "address": "172.18.0.3", "expect": False},
    ]
    # h2's own address in the network is not a target; the pair rule is h1's only.
    assert path_targets("h2", SOURCES, blocked, addresses) == [
        {"to": "h1", "address": "10.244.1.2", "expect": True},
        {"to": "h10", "address": "10.244.10.2", "expect": True},
        {"to": "h1:172.18.0.2", "address": "172.18.0.2", "expect": False},
    ]


def test_path_targets_blocked_network_wins_over_the_probe():
    blocked = parse_blocked([{"to": "10.244.10.0/24"}], HOSTS)
    addresses = {h: [s["address"]] for h, s in SOURCES.items()}
    assert path_targets("h1", SOURCES, blocked, addresses)[1] == {
        "to": "h10",
        "address": "10.244.10.2",
        "expect": False,
    }


def test_path_targets_empty_network_is_an_error():
    blocked = parse_blocked([{"to": "192.0.2.0/24"}], HOSTS)
    with pytest.raises(ValidationError, match=r"192\.0\.2\.0/24 holds no container address of the fleet"):
        path_targets("h1", SOURCES, blocked, {h: [s["address"]] for h, s in SOURCES.items()})


def test_script_args():
    assert script_args([{"address": "10.0.0.1", "expect": True}, {"address": "10.0.0.2", "expect": False}]) == [
        "10.0.0.1:e",
        "10.0.0.2:b",
    ]
    with pytest.raises(ValidationError):
        script_args([{"address": "10.0.0.1; reboot", "expect": True}])


def test_fleet_mtu():
    assert fleet_mtu(None, None, 1500) == 1500
    assert fleet_mtu(None, 1450, 1500) == 1450
    assert fleet_mtu("1400", 1450, 1500) == 1400
    with pytest.raises(ValidationError, match="verify_fleet_mtu"):
        fleet_mtu("big", None, 1500)


def test_parse_paths():
    out = "10.0.0.2 ping 1\n10.0.0.2 tcp 10.0.0.9\n10.0.0.2 mtu 0\n10.0.0.3 ping 0\n10.0.0.3 tcp -\nnoise\n"
    assert parse_paths(out) == {
        "10.0.0.2": {"ping": True, "tcp": "10.0.0.9", "mtu": False},
        "10.0.0.3": {"ping": False, "tcp": None},
    }


@pytest.mark.parametrize(
    ("expect", "result", "cell", "problems"),
    [
        (True, {"ping": True, "tcp": "10.0.0.1", "mtu": True}, "ok", []),
        (True, {"ping": False, "tcp": None, "mtu": False}, "HOLE ping,tcp", ["no ping", "no tcp"]),
        (True, {}, "HOLE ping,tcp", ["no ping", "no tcp"]),
        (
            True,
            {"ping": True, "tcp": "198.18.0.11", "mtu": True},
            "HOLE src=198.18.0.11",
            ["tcp source seen as 198.18.0.11, not 10.0.0.1"],
        ),
        (
            True,
            {"ping": True, "tcp": "10.0.0.1", "mtu": False},
            "HOLE df1450",
            ["no don't-fragment ping of 1450 bytes"],
        ),
        (False, {"ping": False, "tcp": None, "mtu": False}, "blocked", []),
        (False, {"ping": False, "tcp": "10.0.0.1"}, "REACHED", ["reached, expected blocked"]),
        (False, {"ping": True, "tcp": None}, "REACHED", ["reached, expected blocked"]),
    ],
)
def test_outcome(expect, result, cell, problems):
    assert outcome({"expect": expect}, result, "10.0.0.1", 1450) == (cell, problems)


def test_matrix_table_and_failures():
    def host(address, targets, results):
        return {"source": {"container": "web", "address": address}, "mtu": 1450, "targets": targets,
                "results": results}  # fmt: skip

    ok = {"ping": True, "mtu": True}
    data = {
        "h1": host("10.0.1.2", [{"to": "h2", "address": "10.0.2.2", "expect": True}],
                   {"10.0.2.2": {**ok, "tcp": "10.0.1.2"}}),
        "h2": host("10.0.2.2", [{"to": "h1", "address": "10.0.1.2", "expect": True},
                                {"to": "h1:172.18.0.2", "address": "172.18.0.2", "expect": False}],
                   {"10.0.1.2": {"ping": False, "tcp": None}, "172.18.0.2": {"ping": False}}),
    }  # fmt: skip
    result = matrix(data)
    assert result["rows"][0].split() == ["from", "\\", "to", "h1", "h2"]
    assert result["rows"][1].split() == ["h1", "-", "ok"]
    assert result["rows"][2].split() == ["h2", "HOLE", "ping,tcp", "-"]
    assert result["rows"][3] == "h2 -> h1:172.18.0.2: blocked"
    assert result["failures"] == ["h2 -> h1: no ping", "h2 -> h1: no tcp"]
    assert result["sources"] == ["h1: web 10.0.1.2 mtu 1450", "h2: web 10.0.2.2 mtu 1450"]
