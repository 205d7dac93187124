"""The fleet's lease file beside the example inventory is not read as inventory: Ansible lists the example
inventory directory without "Skipping key ... in group (leases)" once the fleet has written its leases there
(issue 12 keeps the lease file beside the inventory). No lab: the leases are written on the controller by the
ipam module's cluster mode, as the fleet role writes them, at the path the role's default gives."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from .conftest import BIN, REPO, ansible_env, run_playbook

WRITE_LEASES = f"""\
- name: The fleet's leases at the role's default path
  hosts: probe
  gather_facts: false
  tasks:
    - name: The fleet role's defaults
      ansible.builtin.include_vars: {REPO / "roles" / "fleet" / "defaults" / "main.yml"}

    - name: Write leases for two hosts, as the fleet role does
      netplumb.container.ipam:
        cluster:
          range: 10.244.0.0/16
          prefixlen: 24
          hosts: [h1, h2]
          lease_file: "{{{{ fleet_lease_file }}}}"
      register: written

    - name: Where they went
      ansible.builtin.debug:
        var: fleet_lease_file
"""


def listing(inventory) -> subprocess.CompletedProcess:
    argv = [str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"]
    return subprocess.run(argv, capture_output=True, text=True, env=ansible_env(), cwd=REPO, check=True)


def lease_file(report: dict) -> str:
    return next(
        task["hosts"]["probe"]["fleet_lease_file"]
        for play in report["plays"]
        for task in play["tasks"]
        if task["task"]["name"] == "Where they went"
    )


def test_example_inventory_lists_without_warning_after_leases(tmp_path):
    inventory = tmp_path / "fleet_example"
    shutil.copytree(REPO / "inventories" / "fleet_example", inventory)
    # A controller host defined in the inventory directory itself, so that inventory_dir is that directory.
    probe = {"all": {"hosts": {"probe": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}
    (inventory / "probe.yml").write_text(json.dumps(probe))
    playbook = tmp_path / "leases.yml"
    playbook.write_text(WRITE_LEASES)

    report = run_playbook(playbook, inventory=inventory)
    path = lease_file(report)
    assert path == str(inventory / ".netplumb-fleet-leases.json"), path
    assert set(json.loads((inventory / ".netplumb-fleet-leases.json").read_text())["leases"]) == {"h1", "h2"}

    listed = listing(inventory)
    assert "Skipping key" not in listed.stderr, listed.stderr
    assert "leases" not in json.loads(listed.stdout)["all"]["children"]

    # The former name (a lease file kept from an earlier version) is still the one used, so that no slice
    # moves; it is the file that made Ansible warn.
    (inventory / ".netplumb-fleet-leases.json").rename(inventory / "netplumb-fleet-leases.json")
    again = run_playbook(playbook, inventory=inventory)
    assert lease_file(again) == str(inventory / "netplumb-fleet-leases.json")
    assert not (inventory / ".netplumb-fleet-leases.json").exists()
    assert "Skipping key" in listing(inventory).stderr
