"""The nat module through ansible-playbook: check -> apply -> check-idempotent -> idempotent, with diff.

ansible-playbook itself runs inside a throwaway "host" namespace (local connection), so the module,
and every nft/iptables command it runs, stays there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

if os.geteuid() != 0:
    pytest.skip("integration tests need root", allow_module_level=True)

PYTHON = f"ansible_python_interpreter={sys.executable}"
PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    policy:
      - network: web
        bridge: {br}
        subnets: [10.77.0.0/24]
        publish:
          - {{host_port: 8080, container_address: 10.77.0.2, container_port: 80}}
  module_defaults:
    group/netplumb.container.netplumb:
      backend: {backend}
      record_path: {record}
  tasks:
    - name: Check
      netplumb.container.nat: {{config: "{{{{ policy }}}}"}}
      check_mode: true
      diff: true
      register: check
    - name: Apply
      netplumb.container.nat: {{config: "{{{{ policy }}}}"}}
      diff: true
      register: apply
    - name: Check again
      netplumb.container.nat: {{config: "{{{{ policy }}}}"}}
      check_mode: true
      register: check2
    - name: Apply again
      netplumb.container.nat: {{config: "{{{{ policy }}}}"}}
      register: apply2
    - name: Bad input changes nothing
      netplumb.container.nat:
        config:
          - network: web
            bridge: {br}
            subnets: [10.77.0.0/24]
            publish: [{{host_port: 99999, container_address: 10.77.0.2}}]
      register: bad
      ignore_errors: true
    - name: Results
      ansible.builtin.copy:
        content: "{{{{ dict(check=check, apply=apply, check2=check2, apply2=apply2, bad=bad) | to_json }}}}"
        dest: {out}
"""


@pytest.fixture
def host(prefix):
    """The throwaway namespace the playbook runs in; always deleted."""
    name = f"{prefix}h"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_check_apply_idempotent_through_ansible(host, prefix, tmp_path, backend):
    br = f"{prefix}br"
    subprocess.run(["ip", "-n", host, "link", "add", br, "type", "bridge"], check=True)
    play = tmp_path / "play.yml"
    out = tmp_path / "out.json"
    play.write_text(textwrap.dedent(PLAY.format(br=br, backend=backend, record=tmp_path / "nat.json", out=out)))
    proc = subprocess.run(
        ["ip", "netns", "exec", host, "ansible-playbook", "-i", "localhost,", str(play), "-e", PYTHON],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["check"]["changed"] and res["check"]["backend"] == backend
    assert res["check"]["diff"]["after"]["web"]["publish"][0]["host_port"] == 8080
    assert res["check"]["diff"]["before"] == {}
    assert [a["summary"] for a in res["apply"]["actions"]] == [a["summary"] for a in res["check"]["actions"]]
    kinds = [a["kind"] for a in res["apply"]["actions"]]
    assert kinds == ["sysctl", "nftables" if backend == "nftables" else "iptables", "nat network"]
    assert res["check2"]["changed"] is False and res["check2"]["actions"] == []
    assert res["apply2"]["changed"] is False
    assert res["bad"]["failed"] and "out of range" in res["bad"]["msg"]
    assert not res["bad"].get("changed")
    listing = ["nft", "list", "table", "inet", "netplumb"] if backend == "nftables" else ["iptables-save", "-t", "nat"]
    rules = subprocess.run(["ip", "netns", "exec", host, *listing], capture_output=True, text=True, check=True).stdout
    assert "10.77.0.2:80" in rules
