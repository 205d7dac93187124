"""The ipam module through ansible-playbook: check -> apply -> check-idempotent -> idempotent, with diffs.

Runs against localhost (connection local, a temp state_dir and lease file) until
the lab is on main; the playbook is the same one a lab host would run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLAYBOOK = textwrap.dedent(
    """\
    - hosts: all
      gather_facts: false
      tasks:
        - name: Addresses for three endpoints, dual stack
          netplumb.container.ipam:
            network: itest
            pools:
              - subnet: 172.30.0.0/24
                aux_addresses: {router: 172.30.0.2}
              - subnet: fd00:30::/64
            config:
              - endpoint: web1
              - endpoint: web2
                address: 172.30.0.100
              - endpoint: db1
            state: overridden
            state_dir: "{{ state_dir }}"
          register: endpoints

        - name: One subnet per host, once per play, on the controller
          netplumb.container.ipam:
            cluster:
              range: 10.244.0.0/16
              prefixlen: 24
              lease_file: "{{ lease_file }}"
              hosts: [node1, node2, node3]
              pinned: {node3: 10.244.100.0/24}
              exclude: [10.244.0.0/24]
          run_once: true
          delegate_to: localhost
          register: fleet

        - name: Save the results (also in check mode)
          ansible.builtin.copy:
            content: "{{ {'endpoints': endpoints, 'fleet': fleet} | to_nice_json }}"
            dest: "{{ out }}"
            mode: "0644"
          check_mode: false
          diff: false
          changed_when: false
    """
)

FAILING = textwrap.dedent(
    """\
    - hosts: all
      gather_facts: false
      tasks:
        - name: More endpoints than a /30 holds
          netplumb.container.ipam:
            network: itest
            subnet: 172.30.0.0/30
            config: [{endpoint: x1}, {endpoint: x2}]
            state_dir: "{{ state_dir }}"
    """
)


@pytest.fixture(scope="module")
def env():
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(repo / ".build")
    env["ANSIBLE_CONFIG"] = str(repo / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def play(env, tmp_path, playbook, *flags):
    book = tmp_path / "play.yml"
    book.write_text(playbook)
    out = tmp_path / "out.json"
    out.unlink(missing_ok=True)
    cmd = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        "-e",
        f"state_dir={tmp_path / 'ipam'} lease_file={tmp_path / 'subnets.json'} out={out}",
        *flags,
        str(book),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    result = json.loads(out.read_text()) if out.exists() else None
    return proc, result


def test_check_apply_idempotent(env, tmp_path):
    store = tmp_path / "ipam" / "itest.json"
    lease = tmp_path / "subnets.json"

    proc, checked = play(env, tmp_path, PLAYBOOK, "--check", "--diff")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert checked["endpoints"]["changed"] and checked["fleet"]["changed"]
    assert not (tmp_path / "ipam").exists() and not lease.exists()
    assert "+++ after: " + str(store) in proc.stdout and "+    web1:" in proc.stdout  # the diff is shown

    proc, applied = play(env, tmp_path, PLAYBOOK, "--diff")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    eps = applied["endpoints"]
    assert eps["changed"] and eps["allocations"] == checked["endpoints"]["allocations"]
    assert eps["allocations"]["web1"] == {
        "netns": "web1",
        "addresses": ["172.30.0.3/24", "fd00:30::2/64"],
        "ipv4": "172.30.0.3",
        "prefixlen": 24,
        "gateway": "172.30.0.1",
        "ipv6": "fd00:30::2",
        "prefixlen6": 64,
        "gateway6": "fd00:30::1",
        "mac": "02:42:ac:1e:00:03",
    }
    assert eps["allocations"]["web2"]["ipv4"] == "172.30.0.100"
    assert eps["allocations"]["db1"]["ipv4"] == "172.30.0.4"
    assert set(eps["diff"]["after"]) == {"web1", "web2", "db1"} and eps["diff"]["before"] == {}
    assert applied["fleet"]["subnets"] == {
        "node1": "10.244.1.0/24",
        "node2": "10.244.2.0/24",
        "node3": "10.244.100.0/24",
    }
    assert applied["fleet"]["diff"]["after"] == applied["fleet"]["subnets"]
    assert store.exists() and lease.exists()
    stored = (store.read_bytes(), lease.read_bytes())

    for flags in (("--check", "--diff"), ("--diff",)):
        proc, again = play(env, tmp_path, PLAYBOOK, *flags)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert not again["endpoints"]["changed"] and again["endpoints"]["actions"] == []
        assert not again["fleet"]["changed"] and again["fleet"]["actions"] == []
        assert again["endpoints"]["allocations"] == eps["allocations"]
        assert again["fleet"]["subnets"] == applied["fleet"]["subnets"]
        assert "changed=0" in proc.stdout
        assert (store.read_bytes(), lease.read_bytes()) == stored


def test_failure_is_clear_and_changes_nothing(env, tmp_path):
    proc, _result = play(env, tmp_path, FAILING)
    assert proc.returncode != 0
    assert "pool 172.30.0.0/30 is exhausted" in proc.stdout
    assert not (tmp_path / "ipam" / "itest.json").exists()
