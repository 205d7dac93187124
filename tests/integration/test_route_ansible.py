"""netplumb.container.route through ansible-playbook on localhost: check -> apply -> check -> apply.

Every route lives in throwaway namespaces (module option netns); the
namespaces are made by the fixture or by the netns module in the play, and
always deleted afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

if os.geteuid() != 0:
    pytest.skip("integration tests need root", allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Routes in namespace a
      netplumb.container.route:
        config:
          - {dst: 10.99.0.0/24, via: 10.9.0.2, netns: "{{ ns_a }}"}
          - {dst: "fd00:99::/64", via: "fd00:9::2", netns: "{{ ns_a }}"}
          - {dst: 10.98.0.0/24, dev: v0, table: 100, netns: "{{ ns_a }}"}
        state: "{{ route_state }}"
        scope: {netns: "{{ ns_a }}"}
      register: result

    - name: Keep the result for the test
      ansible.builtin.copy:
        content: "{{ result | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      check_mode: false
"""

PLAY_WITH_NETNS = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: A namespace that does not exist before the play
      netplumb.container.netns:
        config:
          - name: "{{ ns_c }}"

    - name: A route in it, on its lo
      netplumb.container.route:
        config:
          - {dst: 10.55.0.0/24, dev: lo, netns: "{{ ns_c }}"}
      register: result

    - name: Keep the result for the test
      ansible.builtin.copy:
        content: "{{ result | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      check_mode: false
"""


def sh(*args):
    return subprocess.run(list(args), capture_output=True, text=True, check=True).stdout


def playbook(tmp_path, text, extra, *flags):
    book = tmp_path / "play.yml"
    book.write_text(text)
    out = tmp_path / "result.json"
    out.unlink(missing_ok=True)
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(REPO / ".build"),
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
    )
    bin_dir = Path(sys.executable).parent
    cmd = [str(bin_dir / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(book)]
    cmd += ["-e", f"ansible_python_interpreter={sys.executable}", "-e", f"out={out}"]
    cmd += ["-e", json.dumps(extra), *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Warnings go to stderr, wrapped: compare them with whitespace folded.
    return json.loads(out.read_text()), " ".join((proc.stdout + proc.stderr).split())


def own_routes(ns):
    text = sh("ip", "-n", ns, "-4", "route", "show", "table", "all") + sh(
        "ip", "-n", ns, "-6", "route", "show", "table", "all"
    )
    return [line for line in text.splitlines() if " proto 78 " in line + " "]


def ping(ns, addr):
    cmd = ["ip", "netns", "exec", ns, "ping", "-c3", "-i0.3", "-W1", "-q", addr]
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


@pytest.fixture
def spaces(prefix):
    """<p>-a and <p>-b joined by a veth pair; b answers on 10.99.0.1 and fd00:99::1 (its lo)."""
    a, b = f"{prefix}-a", f"{prefix}-b"
    try:
        for cmd in (
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
            f"-n {b} link set lo up",
        ):
            sh("ip", *cmd.split())
        yield prefix, a, b
    finally:
        for name in sh("ip", "netns", "list").split("\n"):
            if name.startswith(prefix):
                subprocess.run(["ip", "netns", "del", name.split()[0]], check=False)


def test_check_apply_idempotent_then_deleted(spaces, tmp_path):
    a = spaces[1]
    sh("ip", "-n", a, "route", "add", "10.50.0.0/16", "via", "10.9.0.2")  # foreign: must survive
    args = {"ns_a": a, "route_state": "overridden"}

    check = playbook(tmp_path, PLAYBOOK, args, "--check", "--diff")[0]
    assert check["changed"] and len(check["actions"]) == 3
    assert own_routes(a) == [], "check mode changes nothing"
    labels = sorted(check["diff"]["after"])
    assert labels == [
        f"10.98.0.0/24 table 100 in netns {a}",
        f"10.99.0.0/24 in netns {a}",
        f"fd00:99::/64 in netns {a}",
    ]
    assert check["diff"]["before"] == {}
    assert check["diff"]["after"][f"10.99.0.0/24 in netns {a}"]["via"] == "10.9.0.2"

    applied = playbook(tmp_path, PLAYBOOK, args, "--diff")[0]
    assert applied["changed"] and applied["diff"] == check["diff"]
    assert [x["summary"] for x in applied["actions"]] == [x["summary"] for x in check["actions"]]
    assert len(own_routes(a)) == 3
    assert ping(a, "10.99.0.1") and ping(a, "fd00:99::1")

    again = playbook(tmp_path, PLAYBOOK, args, "--check", "--diff")[0]
    assert again["changed"] is False and again["actions"] == []
    assert again["diff"] == {"before": {}, "after": {}}
    again = playbook(tmp_path, PLAYBOOK, args, "--diff")[0]
    assert again["changed"] is False and again["actions"] == []

    gone = playbook(tmp_path, PLAYBOOK, {**args, "route_state": "deleted"}, "--diff")[0]
    assert gone["changed"] and sorted(gone["diff"]["before"]) == labels and gone["diff"]["after"] == {}
    assert own_routes(a) == [], "after deleted nothing of it is left"
    assert not ping(a, "10.99.0.1")
    assert "10.50.0.0/16 via 10.9.0.2" in sh("ip", "-n", a, "route", "show")


def test_check_mode_route_in_a_namespace_an_earlier_task_creates(spaces, tmp_path):
    prefix = spaces[0]
    c = f"{prefix}-c"
    check, out = playbook(tmp_path, PLAY_WITH_NETNS, {"ns_c": c}, "--check")
    assert check["changed"] and [x["op"] for x in check["actions"]] == ["create"]
    assert f"[WARNING]: netns {c} does not exist (yet); needed by route 10.55.0.0/24 in netns {c}" in out, (
        "a warning, not a failure"
    )
    assert c not in sh("ip", "netns", "list")

    applied = playbook(tmp_path, PLAY_WITH_NETNS, {"ns_c": c})[0]
    assert applied["changed"]
    assert own_routes(c) == ["10.55.0.0/24 dev lo proto 78 scope link "]
    again, out = playbook(tmp_path, PLAY_WITH_NETNS, {"ns_c": c}, "--check")
    assert again["changed"] is False and "[WARNING]" not in out
