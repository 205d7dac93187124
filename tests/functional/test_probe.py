"""The probe engine: pings and TCP connects from inside a throwaway namespace, listeners started and stopped."""

from __future__ import annotations

import subprocess
import time

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._probe import (
    run_all,
    run_probe,
    start_listeners,
    stop_listeners,
    validate,
)


@pytest.fixture
def ns(cleanup_netns):
    name = f"{cleanup_netns}-p"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    return name


def test_ping_reached_and_blocked(ns):
    # 192.0.2.1 has no route in a namespace with only lo: nothing is sent, the ping fails at once.
    results = run_all(
        [
            {"kind": "ping", "netns": ns, "target": "127.0.0.1", "expect": True},
            {"kind": "ping", "netns": ns, "target": "192.0.2.1", "expect": False},
            {"kind": "ping", "netns": ns, "target": "192.0.2.1", "expect": True},
        ]
    )
    assert [(r["reached"], r["passed"]) for r in results] == [(True, True), (False, True), (False, False)]


def test_listener_answers_until_stopped(ns):
    check = {"kind": "tcp", "netns": ns, "target": "127.0.0.1", "port": 18080, "expect": True}
    start_listeners([{"netns": ns, "port": 18080, "seconds": 30}])
    try:
        deadline = time.monotonic() + 5
        while not run_all([check])[0]["reached"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert run_all([check])[0]["passed"]
    finally:
        stopped = stop_listeners([ns])
    assert stopped >= 1
    time.sleep(0.2)
    assert run_all([{**check, "expect": False}])[0]["passed"]


def test_bad_input(ns):
    with pytest.raises(ValidationError, match="does not exist"):
        validate([{"kind": "ping", "netns": f"{ns}-gone", "target": "127.0.0.1"}], [])
    with pytest.raises(ValidationError, match="needs a port"):
        validate([{"kind": "tcp", "netns": ns, "target": "127.0.0.1"}], [])


@pytest.mark.parametrize(
    "checks,listen,message",
    [
        ([{"kind": "ping", "target": "abc"}], [], r"checks\[0\] target 'abc' is not a valid IP address"),
        ([{"kind": "ping", "target": "localhost"}], [], r"checks\[0\] target 'localhost'"),
        ([{"kind": "tcp", "target": "127.0.0.1", "port": 70000}], [], r"checks\[0\] port: 70000 is out of range"),
        ([], [{"port": 0}], r"listen\[0\] port: 0 is out of range"),
        ([], [{"port": 8080, "seconds": -1}], r"listen\[0\] seconds: -1 is not a whole number"),
        ([], [{"port": 8080, "seconds": 0}], r"listen\[0\] seconds: 0 is out of range"),
        ([{"kind": "ping", "netns": "-x", "target": "127.0.0.1"}], [], r"checks\[0\] netns '-x' is not allowed"),
    ],
)
def test_refused_input_names_option_and_value(checks, listen, message):
    with pytest.raises(ValidationError, match=message):
        validate(checks, listen)


def test_check_mode_starts_nothing(ns):
    params = {
        "checks": [],
        "listen": [{"netns": ns, "port": 18081, "seconds": 30}],
        "stop_listeners": True,
        "fail_on_unexpected": True,
    }
    try:
        result = run_probe(params, check_mode=True)
        assert result["changed"] is False and result["stopped_listeners"] == 0
        time.sleep(0.5)
        reached = run_all([{"kind": "tcp", "netns": ns, "target": "127.0.0.1", "port": 18081}])[0]["reached"]
        assert reached is False, "check mode started a listener"
    finally:
        stop_listeners([ns])
