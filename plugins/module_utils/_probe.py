# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connectivity probes: ping and TCP connects from inside namespaces, and short-lived listeners."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import signal
import subprocess
from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._netlink import netns_exists, netns_path
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_netns_name,
    parse_int,
    parse_ip,
    parse_port,
)

REPLY = "netplumb-probe"


def _in_netns(netns: str | None, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", netns, *argv] if netns else argv


def validate(checks: list[dict[str, Any]], listeners: list[dict[str, Any]]) -> None:
    """Every check and listener, before anything runs: targets are IP addresses (never looked up in DNS)."""
    for i, item in enumerate(checks):
        where = f"probe checks[{i}]"
        item["target"] = str(parse_ip(item.get("target"), f"{where} target"))
        if item.get("port") is not None:
            item["port"] = parse_port(item["port"], f"{where} port")
        elif item.get("kind") == "tcp":
            raise ValidationError(f"{where} ({item.get('label') or item['target']}): a tcp check needs a port")
    for i, item in enumerate(listeners):
        where = f"probe listen[{i}]"
        item["port"] = parse_port(item.get("port"), f"{where} port")
        seconds = item.get("seconds")
        item["seconds"] = parse_int(60 if seconds is None else seconds, f"{where} seconds", 1, 86400)
    for kind, items in (("checks", checks), ("listen", listeners)):
        for i, item in enumerate(items):
            if item.get("netns") is not None:
                netns = check_netns_name(item["netns"], f"probe {kind}[{i}] netns")
                if not netns_exists(netns):
                    raise ValidationError(f"probe {kind}[{i}] netns: {netns} does not exist")
    if listeners and not shutil.which("socat"):
        raise ValidationError("probe: listeners need socat on the host")


def start_listeners(listeners: list[dict[str, Any]]) -> None:
    """TCP servers that answer REPLY, each ending by itself after ``seconds``."""
    for item in listeners:
        argv = [
            "timeout",
            str(item["seconds"]),
            "socat",
            f"TCP-LISTEN:{item['port']},reuseaddr,fork",
            f"SYSTEM:echo {REPLY}",
        ]
        subprocess.Popen(
            _in_netns(item.get("netns"), argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_listeners(netns: list[str] | None = None) -> int:
    """Ends the listeners that start_listeners left running on this host.

    They are found by their reply in the command line, only in this PID
    namespace (a lab host's processes are visible from the machine's root),
    and, when ``netns`` names namespaces, only those listening in one of them.
    """
    marker = f"SYSTEM:echo {REPLY}".encode()
    own_pidns = os.readlink("/proc/self/ns/pid")
    wanted = {os.stat(netns_path(name)).st_ino for name in netns or [] if netns_exists(name)}
    stopped = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
            if marker not in argv or not any(arg.endswith(b"socat") for arg in argv):
                continue
            if os.readlink(f"/proc/{pid}/ns/pid") != own_pidns:
                continue
            if netns is not None and os.stat(f"/proc/{pid}/ns/net").st_ino not in wanted:
                continue
            os.kill(int(pid), signal.SIGTERM)
            stopped += 1
        except (OSError, ProcessLookupError):
            continue  # gone meanwhile
    return stopped


def run_check(check: dict[str, Any]) -> dict[str, Any]:
    if check["kind"] == "ping":
        argv = _in_netns(check.get("netns"), ["ping", "-n", "-q", "-c", "1", "-W", "1", check["target"]])

        def attempt() -> bool:
            done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            return done.returncode == 0

    else:
        target = f"TCP:{check['target']}:{check['port']},connect-timeout=2"
        argv = _in_netns(check.get("netns"), ["socat", "-T", "2", "-", target])

        def attempt() -> bool:
            done = subprocess.run(argv, input="", capture_output=True, text=True, check=False)
            return REPLY in done.stdout

    reached = _attempts(check, attempt)
    expect = check.get("expect", True)
    return {**check, "reached": reached, "expect": expect, "passed": reached == expect}


def _attempts(check: dict[str, Any], probe) -> bool:
    # A path expected to work gets a few tries (a listener may still be starting, ARP may be cold);
    # a path expected to be blocked is tried once: a single success already fails the check.
    tries = 3 if check.get("expect", True) else 1
    return any(probe() for _attempt in range(tries))


def run_all(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(run_check, checks))


def run_probe(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """The module's work. Check mode starts and stops nothing; its checks run (they only send probes)
    unless this call also starts listeners, which they would depend on."""
    checks, listeners = params["checks"], params["listen"]
    validate(checks, listeners)
    if check_mode:
        results = [] if listeners else run_all(checks)
        stopped = 0
    else:
        stopped = stop_listeners() if params["stop_listeners"] else 0
        start_listeners(listeners)
        results = run_all(checks)
    failed = sum(not r["passed"] for r in results)
    result = {"changed": False, "results": results, "failed_checks": failed, "stopped_listeners": stopped}
    if failed and params["fail_on_unexpected"]:
        error = NetplumbError(f"{failed} of {len(results)} checks had an unexpected outcome")
        error.result = result
        raise error
    return result
