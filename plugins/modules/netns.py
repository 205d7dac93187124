#!/usr/bin/python
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: netns
short_description: Named network namespaces, the home of each container's network
version_added: 0.1.0
description:
  - Creates, configures and deletes named network namespaces (like C(ip netns add)) on the managed host,
    many in one call.
  - Sets the loopback interface up or down and per-namespace (C(net.*)) sysctls.
  - Writes the namespace's C(/etc/netns/<name>/hosts) and C(/etc/netns/<name>/resolv.conf), which
    C(ip netns exec) mounts over C(/etc/hosts) and C(/etc/resolv.conf) for the programs it runs.
    A file this module writes starts with a mark line; a file without it is never written or removed
    (a warning names it). Files are replaced atomically and only when their text changes, and removed
    with the namespace.
  - Namespaces this module creates carry an ownership mark (the alias of their C(lo)), so
    O(state=overridden) and O(state=deleted) never remove a namespace the collection did not create.
  - Never creates a namespace as a side effect of looking at it, also not in check mode.
author:
  - netplumb developers (@netplumb)
options:
  config:
    description:
      - The namespaces. Their identity is O(config[].name).
      - Required for O(state=merged) and O(state=replaced).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the namespace, the file C(/run/netns/<name>).
        type: str
        required: true
      loopback_up:
        description: Whether C(lo) is up inside the namespace.
        type: bool
        default: true
      sysctls:
        description:
          - Per-namespace sysctls to set, for example C(net.ipv4.ip_forward) or C(net.ipv6.conf.all.disable_ipv6).
          - Only C(net.*) sysctls that exist on the kernel are accepted. Values are compared as text.
          - Sysctls are only set, never reset; leaving one out keeps its current value.
        type: dict
      hosts:
        description:
          - The entries of the namespace's hosts file, C(/etc/netns/<name>/hosts), after the C(localhost) lines
            that every hosts file gets (as Docker writes them). In list order; C(getent hosts) returns the first
            entry that has a name.
          - Left out, the file is not managed (an existing one stays as it is). An empty list writes only the
            C(localhost) lines.
        type: list
        elements: dict
        version_added: 0.2.0
        suboptions: &hosts_entry
          address:
            description: An IPv4 or IPv6 address.
            type: str
            required: true
          names:
            description: Its names (letters, digits and C(_.+-), not C(.) or C(-) first).
            type: list
            elements: str
            required: true
      hosts_table:
        description:
          - The name of one of O(hosts_tables), whose entries follow O(config[].hosts) in the hosts file (their
            names that O(config[].hosts) already holds left out). Many namespaces share one table, so that it
            is sent once.
        type: str
        version_added: 0.2.0
      resolv_conf:
        description:
          - The namespace's C(/etc/netns/<name>/resolv.conf). What is left out (or null) is taken from the host,
            Docker's way - the host's C(/etc/resolv.conf) without loopback nameservers, which a container cannot
            reach (with only loopback ones, as with systemd-resolved, those of
            C(/run/systemd/resolve/resolv.conf)).
          - Unlike Docker, no public resolver (8.8.8.8) is put in when none remains - the file then lists no
            nameserver, a warning says so, and only the names of the hosts file resolve. Give
            O(config[].resolv_conf.nameservers) to resolve other names.
          - Left out, the file is not managed.
        type: dict
        version_added: 0.2.0
        suboptions:
          nameservers:
            description: Nameserver addresses, in order. An empty list writes none.
            type: list
            elements: str
          search:
            description: Search domains.
            type: list
            elements: str
          options:
            description: Resolver options, for example C(ndots:2).
            type: list
            elements: str
  hosts_tables:
    description:
      - Hosts file entries shared by many namespaces (O(config[].hosts_table)), by name.
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      name:
        description: The table's name.
        type: str
        required: true
      entries:
        description: Its entries, in order, as O(config[].hosts).
        type: list
        elements: dict
        required: true
        suboptions: *hosts_entry
extends_documentation_fragment:
  - netplumb.container.resource
  - netplumb.container.host_lock
  - netplumb.container.attributes
"""

EXAMPLES = r"""
- name: Namespaces for two containers, with forwarding in the router one
  netplumb.container.netns:
    config:
      - name: web1
      - name: router1
        sysctls:
          net.ipv4.ip_forward: 1

- name: Keep exactly these namespaces among the ones named app-* that the collection made
  netplumb.container.netns:
    config:
      - name: app-1
      - name: app-2
    state: overridden
    scope:
      prefix: app-

- name: A namespace whose programs resolve two names and use the host's nameservers
  netplumb.container.netns:
    config:
      - name: web1
        hosts:
          - address: 172.17.0.2
            names: [web1]
          - address: 172.17.0.3
            names: [db, db.h1]
        resolv_conf: {}

- name: Two namespaces whose hosts files share one table (sent once), each with its own name first
  netplumb.container.netns:
    hosts_tables:
      - name: front
        entries:
          - address: 172.17.0.2
            names: [web1]
          - address: 172.17.0.3
            names: [web2]
    config:
      - name: web1
        hosts: [{address: 172.17.0.2, names: [web1]}]
        hosts_table: front
      - name: web2
        hosts: [{address: 172.17.0.3, names: [web2]}]
        hosts_table: front

- name: Delete one namespace
  netplumb.container.netns:
    config:
      - name: web1
    state: deleted

- name: Delete every namespace this collection created
  netplumb.container.netns:
    state: deleted
    scope:
      prefix: ""
"""

RETURN = r"""
actions:
  description: The changes made, or in check mode planned, in the order applied.
  returned: always
  type: list
  elements: dict
  sample:
    - op: create
      kind: netns
      name: web1
      params: {loopback_up: true}
      summary: "create netns web1: loopback_up=True"
before:
  description:
    - The listed and the changed namespaces as they were.
    - A name file (C(hosts), C(resolv_conf)) the collection wrote shows as its line count and the start of its
      SHA-256; the C(diff) has the whole text. A file it did not write shows as a note that it is left as it is.
  returned: always
  type: list
  elements: dict
  sample: []
after:
  description:
    - The listed and the changed namespaces as they are now (in check mode, as they would be).
    - Name files as in RV(before).
  returned: always
  type: list
  elements: dict
  sample:
    - name: web1
      loopback_up: true
      sysctls: {}
      owned: true
      hosts: "8 lines, sha256 5b1c0e8a2f3d4e6f"
      resolv_conf: null
diff:
  description: Before and after of each namespace that changed, keyed by name, with the whole text of its name files.
  returned: when diff mode is on
  type: dict
"""


from ansible_collections.netplumb.container.plugins.module_utils._exit import new_module
from ansible_collections.netplumb.container.plugins.module_utils._netns import NetnsEngine
from ansible_collections.netplumb.container.plugins.module_utils._runner import resource_argument_spec, run_module

HOSTS = {"address": {"type": "str", "required": True}, "names": {"type": "list", "elements": "str", "required": True}}


def main() -> None:
    spec = resource_argument_spec(
        {
            "name": {"type": "str", "required": True},
            "loopback_up": {"type": "bool", "default": True},
            "sysctls": {"type": "dict"},
            "hosts": {"type": "list", "elements": "dict", "options": HOSTS},
            "hosts_table": {"type": "str"},
            "resolv_conf": {
                "type": "dict",
                "options": {
                    "nameservers": {"type": "list", "elements": "str"},
                    "search": {"type": "list", "elements": "str"},
                    "options": {"type": "list", "elements": "str"},
                },
            },
        }
    )
    spec["hosts_tables"] = {"type": "list", "elements": "dict", "options": {"name": {"type": "str", "required": True}}}
    spec["hosts_tables"]["options"]["entries"] = {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": HOSTS,
    }
    module = new_module(argument_spec=spec, supports_check_mode=True)
    run_module(module, NetnsEngine())


if __name__ == "__main__":
    main()
