# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: lab
short_description: The hosts of a running local netplumb lab
version_added: 0.1.0
description:
  - Lists the hosts of a lab started by the P(netplumb.container.lab#role) role (C(playbooks/lab_up.yml))
    from the state the lab launcher keeps, so that C(ansible-playbook -i <this source> playbook.yml)
    reaches them through the P(netplumb.container.lab#connection) connection.
  - Regular hosts V(h1) .. V(hN) go to the group V(lab_hosts), the stand-in for the internet (the host
    V(outside)) to the group V(lab_outside), and the host V(router) of a lab with several underlay
    segments to the group V(lab_routers); the three groups are children of the group V(lab).
  - Every host gets C(ansible_connection=netplumb.container.lab), C(netplumb_lab_name),
    C(netplumb_lab_host), C(netplumb_lab_state_dir), its underlay address
    (C(netplumb_lab_underlay_address), C(netplumb_lab_underlay_prefix), C(netplumb_lab_underlay_interface))
    and C(ansible_python_interpreter) set to the Python running Ansible (lab hosts share the
    controller's filesystem).
  - Also, added in version 0.2.0, C(netplumb_lab_underlay) (the underlay address with its prefix, for example
    V(198.18.1.13/24), from which follows whether two hosts share a segment) and C(netplumb_lab_segment) (the
    number of the host's underlay segment, from 1). The router's first interface is on segment 1;
    C(netplumb_lab_underlays) lists the router's address on every segment.
  - C(group_vars/) and C(host_vars/) next to the source file apply as with any inventory source.
  - When the lab is not running, the groups are empty and a warning says how to start it.
  - The source file name must end with C(netplumb_lab.yml) or C(netplumb_lab.yaml).
    C(playbooks/lab_up.yml) also writes such a file for each lab, C(<state_dir>/<lab>/<lab>.netplumb_lab.yml).
author:
  - netplumb developers (@netplumb)
extends_documentation_fragment:
  - ansible.builtin.constructed
options:
  plugin:
    description: The name of this plugin; makes a YAML file a source of this plugin.
    type: str
    required: true
    choices:
      - netplumb.container.lab
  lab:
    description: Name of the lab (the O(netplumb.container.lab#role:main:lab_name) it was started with).
    type: str
    default: lab
  state_dir:
    description: Directory where the lab launcher keeps the state of its labs.
    type: path
    default: /run/netplumb-lab
    env:
      - name: NETPLUMB_LAB_STATE_DIR
  python_interpreter:
    description:
      - Python to run modules with inside the lab hosts.
      - Defaults to the Python running Ansible, whose libraries (pyroute2) the hosts can use.
    type: path
"""

EXAMPLES = r"""
# inventories/lab/lab.netplumb_lab.yml
plugin: netplumb.container.lab
lab: lab

# A second lab, with an extra group made from a host variable
# plugin: netplumb.container.lab
# lab: lab2
# groups:
#   first: netplumb_lab_host == 'h1'
"""

import sys

from ansible.plugins.inventory import BaseInventoryPlugin, Constructable
from ansible.utils.display import Display

from ansible_collections.netplumb.container.plugins.plugin_utils._lab import LabStateError, read_lab

CONNECTION = "netplumb.container.lab"
# The lab's infrastructure hosts and their groups; every other host is a regular one (lab_hosts).
GROUPS = {"outside": "lab_outside", "router": "lab_routers"}

display = Display()


class InventoryModule(BaseInventoryPlugin, Constructable):
    NAME = "netplumb.container.lab"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("netplumb_lab.yml", "netplumb_lab.yaml"))

    def parse(self, inventory, loader, path, cache=True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        lab, state_dir = self.get_option("lab"), self.get_option("state_dir")
        self.inventory.add_group("lab")
        for group in ("lab_hosts", "lab_outside", "lab_routers"):
            self.inventory.add_group(group)
            self.inventory.add_child("lab", group)
        try:
            state = read_lab(lab, state_dir)
        except LabStateError as e:
            # Empty groups and a warning that says what to do, rather than "unable to parse" (shown only with -vvv).
            display.warning(f"{path}: {e}")
            return
        python = self.get_option("python_interpreter") or sys.executable
        strict = self.get_option("strict")
        for name, rec in sorted(state["hosts"].items(), key=lambda kv: (kv[0] in GROUPS, len(kv[0]), kv[0])):
            self.inventory.add_host(name, group=GROUPS.get(name, "lab_hosts"))
            hostvars = {
                "ansible_connection": CONNECTION,
                "ansible_python_interpreter": python,
                "netplumb_lab_name": lab,
                "netplumb_lab_host": name,
                "netplumb_lab_state_dir": state_dir,
                "netplumb_lab_underlay_address": rec["address"],
                "netplumb_lab_underlay_prefix": rec["prefix"],
                "netplumb_lab_underlay_interface": rec["interface"],
                "netplumb_lab_underlay": f"{rec['address']}/{rec['prefix']}",
                "netplumb_lab_segment": rec.get("segment", 1),
            }
            if "addresses" in rec:
                hostvars["netplumb_lab_underlays"] = rec["addresses"]
            for key, value in hostvars.items():
                self.inventory.set_variable(name, key, value)
            self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, name, strict=strict)
