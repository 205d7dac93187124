"""Run link engines inside a throwaway "host" namespace, so no bridge or veth ever lands in the root namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from ansible_collections.netplumb.container.plugins.module_utils._netlink import Netlink
from ansible_collections.netplumb.container.plugins.module_utils._runner import converge

BUILD = Path(__file__).resolve().parents[2] / ".build"


def converge_in(host: str, engine, config, state="merged", scope=None, check=False, force=False, **options):
    """converge() with the engine's home namespace = ``host`` (the thread enters it, then returns);
    ``options``: the module's other parameters."""
    params = {"config": config, "state": state, "scope": scope, "force": force, **options}
    with Netlink() as outer, outer.entered(host), Netlink() as nl:
        return converge(engine, params, check, nl)


def sh(host: str | None, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["ip", "netns", "exec", host, *args] if host else list(args)
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def ip(host: str | None, *args: str) -> str:
    return sh(None, "ip", *(["-n", host] if host else []), *args).stdout


def make_host(prefix: str) -> str:
    """A namespace named <prefix>-host standing in for the managed host (cleanup_netns deletes it)."""
    name = f"{prefix}-host"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    return name


def make_owned_netns(name: str) -> str:
    """A namespace as the netns module makes it: lo up and carrying the ownership mark."""
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up", "alias", "netplumb.container"], check=True)
    return name


def start_module(host: str, module: str, args: dict, tmp_path) -> subprocess.Popen:
    """The module itself as Ansible runs it (a process of its own), inside ``host``; returns the process."""
    path = tmp_path / f"{module}-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = {**os.environ, "PYTHONPATH": str(BUILD)}
    argv = [sys.executable, "-m", f"ansible_collections.netplumb.container.plugins.modules.{module}", str(path)]
    return subprocess.Popen(
        ["ip", "netns", "exec", host, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def module_result(proc: subprocess.Popen, timeout: float = 300) -> dict:
    out, err = proc.communicate(timeout=timeout)
    try:
        return json.loads(out)
    except ValueError:
        raise AssertionError(f"module printed no JSON (rc {proc.returncode}): {out!r} {err!r}") from None
