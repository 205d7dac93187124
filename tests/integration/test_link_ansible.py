"""bridge + veth (+ netns) through ansible-playbook: check -> apply -> check-idempotent -> idempotent, diff, traffic.

Until the lab lands, the play runs against localhost with a local connection, but inside a throwaway
"host" namespace (``nsenter --net``: network namespace only, so namespaces it creates stay visible),
so no bridge or veth is ever created in the root namespace. Every name carries the test's prefix.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

if os.geteuid() != 0:
    pytest.skip("needs root", allow_module_level=True)

HERE = Path(__file__).resolve().parent / "link"


def netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.fixture
def host(prefix):
    name = f"{prefix}-host"
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield name
    for ns in netns_names():
        if ns.startswith(prefix):
            subprocess.run(["ip", "netns", "del", ns], check=False)


def play(host: str, prefix: str, tmp_path: Path, book: str, *flags: str) -> dict:
    out = tmp_path / f"{book}-{len(list(tmp_path.iterdir()))}.json"
    cmd = [
        "nsenter",
        f"--net=/run/netns/{host}",
        shutil.which("ansible-playbook") or "ansible-playbook",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        "-e",
        f"p={prefix}",
        "-e",
        f"out={out}",
        str(HERE / book),
        *flags,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


def ping(ns: str, address: str) -> bool:
    cmd = ["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "2", address]
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


def test_check_apply_idempotent_traffic_teardown(host, prefix, tmp_path):
    p = prefix
    check = play(host, p, tmp_path, "site.yml", "--check", "--diff")
    assert check["netns"]["changed"] and check["bridge"]["changed"] and check["veth"]["changed"]
    assert [a["op"] for a in check["veth"]["actions"]] == ["create", "create"]
    # the namespaces and the bridge come from earlier tasks that check mode did not run: planned, warned
    assert any("does not exist" in w for w in check["veth"].get("warnings", []))
    assert not {f"{p}-c1", f"{p}-c2"} & netns_names()
    assert ip("-n", host, "-br", "link").split()[0] == "lo" and f"br{p}" not in ip("-n", host, "-br", "link")

    applied = play(host, p, tmp_path, "site.yml", "--diff")
    assert applied["veth"]["actions"] == check["veth"]["actions"]
    assert applied["veth"]["diff"]["before"] == {}
    after = applied["veth"]["diff"]["after"][f"v{p}1"]
    assert after["bridge"] == f"br{p}" and after["peer"]["netns"] == f"{p}-c1"
    assert after["peer"]["addresses"] == ["172.29.0.2/24", "fd00:29::2/64"]
    assert applied["bridge"]["diff"]["after"][f"br{p}"]["addresses"] == ["172.29.0.1/24", "fd00:29::1/64"]
    assert f"v{p}1" in ip("-n", host, "-br", "link") and f"v{p}1" not in ip("-br", "link")

    again_check = play(host, p, tmp_path, "site.yml", "--check", "--diff")
    assert not any(again_check[m]["changed"] for m in ("netns", "bridge", "veth"))
    again = play(host, p, tmp_path, "site.yml")
    assert not any(again[m]["changed"] for m in ("netns", "bridge", "veth"))

    assert ping(f"{p}-c1", "172.29.0.3") and ping(f"{p}-c2", "172.29.0.2")
    assert ping(f"{p}-c1", "172.29.0.1") and ping(f"{p}-c2", "fd00:29::1")
    assert ping(f"{p}-c1", "fd00:29::3")

    down = play(host, p, tmp_path, "teardown.yml", "--diff")
    assert [a["summary"] for a in down["veth"]["actions"]] == [f"delete veth v{p}1", f"delete veth v{p}2"]
    assert [a["summary"] for a in down["bridge"]["actions"]] == [f"delete bridge br{p}"]
    assert sorted(a["name"] for a in down["netns"]["actions"]) == [f"{p}-c1", f"{p}-c2"]
    assert ip("-n", host, "-br", "link").split()[0] == "lo" and len(ip("-n", host, "-br", "link").splitlines()) == 1
    assert not {f"{p}-c1", f"{p}-c2"} & netns_names()
    down_again = play(host, p, tmp_path, "teardown.yml")
    assert not any(down_again[m]["changed"] for m in ("netns", "bridge", "veth"))
