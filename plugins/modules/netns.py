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
  description: The listed and the changed namespaces as they were.
  returned: always
  type: list
  elements: dict
  sample: []
after:
  description: The listed and the changed namespaces as they are now (in check mode, as they would be).
  returned: always
  type: list
  elements: dict
  sample:
    - name: web1
      loopback_up: true
      sysctls: {}
      owned: true
diff:
  description: Before and after of each namespace that changed, keyed by name.
  returned: when diff mode is on
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netplumb.container.plugins.module_utils._netns import NetnsEngine
from ansible_collections.netplumb.container.plugins.module_utils._runner import resource_argument_spec, run_module


def main() -> None:
    spec = resource_argument_spec(
        {
            "name": {"type": "str", "required": True},
            "loopback_up": {"type": "bool", "default": True},
            "sysctls": {"type": "dict"},
        }
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    run_module(module, NetnsEngine())


if __name__ == "__main__":
    main()
