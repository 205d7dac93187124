#!/usr/bin/python
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_daemon
short_description: Merge settings into Docker's daemon.json, keeping the user's keys, and give them back
version_added: 0.2.0
description:
  - Writes the daemon.json keys given in O(settings) into Docker's configuration file O(path), keeping every
    other key of the file as it is (a user's C(log-driver), C(registry-mirrors) and so on).
  - The file is replaced atomically (its mode kept) and only when its content changes (keys are compared as
    JSON values, not as text); RV(config_changed) says whether the daemon must be restarted to use it.
  - Which keys the collection set, to what, and what they held before is recorded on the host
    (O(record_path)), because dockerd refuses unknown keys in daemon.json. O(state=absent) gives the previous
    values back (or removes the keys that were not there), never touches a key the user changed since
    (a warning says so), and removes the file if the collection created it and nothing else is in it.
  - A file that is not valid JSON, or not a JSON object, fails with a message naming the file, and nothing is
    changed. A file that sets C(bridge) fails too (dockerd refuses C(bip) with C(bridge)).
  - Does not restart Docker; the fleet role's handler does, when RV(config_changed) is true.
author:
  - netplumb developers (@netplumb)
options:
  path:
    description: Docker's configuration file on the managed host.
    type: path
    default: /etc/docker/daemon.json
  settings:
    description:
      - The daemon.json keys to write, with their JSON values (for example C(bip), C(mtu), C(fixed-cidr),
        C(ip-masq), C(default-address-pools)). Required with O(state=present).
      - A key that an earlier run set and that is no longer listed gets its previous value back.
    type: dict
  state:
    description:
      - V(present) - the file holds O(settings) merged into its other keys.
      - V(absent) - every key the collection set in O(path) gets its previous value back; O(settings) is ignored.
    type: str
    choices: [present, absent]
    default: present
  record_path:
    description: Where the keys the collection set (and the values they replaced) are recorded, per file.
    type: path
    default: /var/lib/netplumb/docker-daemon.json
extends_documentation_fragment:
  - netplumb.container.attributes
"""

EXAMPLES = r"""
- name: Put docker0 on this host's slice of the cluster range (what the fleet role does with fleet_docker)
  netplumb.container.docker_daemon:
    settings:
      bip: 10.244.3.1/24
      fixed-cidr: 10.244.3.0/24
      mtu: 1450
      ip-masq: false
      default-address-pools:
        - {base: 172.17.0.0/16, size: 16}
  register: docker_config

- name: Give the user's values back
  netplumb.container.docker_daemon:
    state: absent
"""

RETURN = r"""
actions:
  description: The change made, or in check mode planned, to the file (its changed and removed keys) or to the record.
  returned: always
  type: list
  elements: dict
  sample:
    - op: update
      kind: docker daemon config
      name: /etc/docker/daemon.json
      params: {bip: 10.244.3.1/24, mtu: 1450}
      summary: "update docker daemon config /etc/docker/daemon.json: bip=10.244.3.1/24, mtu=1450"
config_changed:
  description: Whether the file's content changed (Docker must be restarted to use it).
  returned: always
  type: bool
config:
  description: The file's content after the run (in check mode, as it would be); null when the file is removed.
  returned: always
  type: dict
path:
  description: The file.
  returned: always
  type: str
diff:
  description: The file before and after, as JSON text.
  returned: when diff mode is on
  type: dict
"""


from ansible_collections.netplumb.container.plugins.module_utils._docker import DEFAULT_PATH, DEFAULT_RECORD, run
from ansible_collections.netplumb.container.plugins.module_utils._exit import exit_with, new_module


def main() -> None:
    spec = {
        "path": {"type": "path", "default": DEFAULT_PATH},
        "settings": {"type": "dict"},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "record_path": {"type": "path", "default": DEFAULT_RECORD},
    }
    module = new_module(argument_spec=spec, supports_check_mode=True)
    exit_with(module, lambda: run(module.params, module.check_mode), "docker daemon config")


if __name__ == "__main__":
    main()
