#!/usr/bin/python
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: bridge
short_description: Linux bridges with a gateway address, the docker0 of each network
version_added: 0.1.0
description:
  - Creates, configures and deletes Linux bridges in the network namespace the module runs in
    (the managed host's), many in one call.
  - Sets the bridge's gateway addresses (IPv4 and IPv6), MTU, MAC, STP, timers, VLAN filtering and admin state.
  - Bridges this module creates carry an ownership mark (their link alias, C(netplumb.container)), so
    O(state=overridden) and O(state=deleted) never remove a bridge the collection did not create.
  - An existing interface with the same name that is not a bridge is an error, and nothing is changed.
  - Deleting a bridge that still has ports the collection does not own (interfaces it did not create)
    is refused unless O(force=true). Ports the collection created are detached by the kernel.
author:
  - netplumb developers (@netplumb)
options:
  config:
    description:
      - The bridges. Their identity is O(config[].name).
      - Required for O(state=merged) and O(state=replaced).
      - Options left out (or V(null)) are not managed with O(state=merged). With O(state=replaced) and
        O(state=overridden) they return to the kernel's defaults (no addresses, STP off, forward_delay 15,
        ageing_time 300, VLAN filtering off, up); O(config[].mtu) is then left as it is,
        O(config[].mac) as described there.
    type: list
    elements: dict
    suboptions:
      name:
        description: Interface name of the bridge, at most 15 bytes.
        type: str
        required: true
      addresses:
        description:
          - Addresses with prefix length, IPv4 and/or IPv6, normally the network's gateway, e.g. V(172.17.0.1/16).
          - O(state=merged) adds the listed addresses and keeps others; O(state=replaced) makes the list exact.
          - IPv6 addresses are added without duplicate address detection (C(nodad)), as Docker does.
        type: list
        elements: str
      mtu:
        description: MTU of the bridge. Not managed when left out.
        type: int
      mac:
        description:
          - MAC address of the bridge.
          - When left out, a bridge this collection owns gets a stable MAC, set explicitly so that the kernel
            never replaces it by a port's MAC (which would move the gateway's MAC whenever that container
            leaves). It is Docker's scheme C(02:42) + the bridge's first IPv4 address, or, without an IPv4 address,
            C(02) + five bytes derived from its name. An owned bridge whose MAC is not stable gets it on the
            next run (reported as a change). A bridge the collection does not own keeps its MAC.
        type: str
      stp:
        description: Whether the spanning tree protocol runs on the bridge.
        type: bool
      forward_delay:
        description:
          - STP forward delay, in B(seconds) (the kernel keeps centiseconds; C(ip -d link) shows V(1500) for V(15)).
          - With O(config[].stp=true) the kernel accepts 2 to 30 seconds.
        type: float
      ageing_time:
        description: How long learned MAC addresses are kept, in B(seconds) (kernel default 300).
        type: float
      vlan_filtering:
        description: Whether the bridge filters by VLAN.
        type: bool
      up:
        description:
          - Administrative state. A bridge without ports that are up reports operstate C(DOWN) even when it
            is administratively up; only the administrative state is compared.
        type: bool
        default: true
  foreign_ports:
    description:
      - What O(state=deleted) does with a listed bridge that still has ports the collection does not own
        (interfaces it did not create, such as a CNI plugin's), or that the collection did not create.
      - V(refuse) fails, naming the bridge (and its foreign ports), and changes nothing.
      - V(keep) leaves that bridge as it is, with a warning, names it in RV(kept) (and not in RV(before) or
        RV(after)), and deletes the other listed bridges. Only with O(state=deleted), a O(config) and without
        O(force) (which deletes it anyway).
    type: str
    choices: [refuse, keep]
    default: refuse
extends_documentation_fragment:
  - netplumb.container.resource
  - netplumb.container.host_lock
  - netplumb.container.attributes
"""

EXAMPLES = r"""
- name: A docker0-style bridge with an IPv4 and an IPv6 gateway address
  netplumb.container.bridge:
    config:
      - name: br-web
        addresses:
          - 172.30.0.1/16
          - fd00:30::1/64
        mtu: 1500

- name: Keep exactly these bridges among the br-* ones the collection made, options exact
  netplumb.container.bridge:
    config:
      - name: br-web
        addresses: [172.30.0.1/16]
        stp: false
        ageing_time: 300
    state: overridden
    scope:
      prefix: br-

- name: Delete the bridges, but keep those that still carry interfaces made elsewhere (a teardown)
  netplumb.container.bridge:
    config:
      - name: br-web
      - name: br-db
    state: deleted
    foreign_ports: keep
  register: bridges  # bridges.kept: the names kept

- name: Delete a bridge even though interfaces made elsewhere are still attached
  netplumb.container.bridge:
    config:
      - name: br-web
    state: deleted
    force: true
"""

RETURN = r"""
actions:
  description: The changes made, or in check mode planned, in the order applied.
  returned: always
  type: list
  elements: dict
  sample:
    - op: create
      kind: bridge
      name: br-web
      params: {addresses: [172.30.0.1/16], up: true}
      summary: "create bridge br-web: addresses=['172.30.0.1/16'], up=True"
before:
  description: The listed and the changed bridges as they were (not those kept by O(foreign_ports=keep)).
  returned: always
  type: list
  elements: dict
  sample: []
after:
  description:
    - The listed and the changed bridges as they are now (in check mode, as they would be).
    - Timers are in seconds. C(ports) lists the attached interfaces as they were read.
  returned: always
  type: list
  elements: dict
  sample:
    - name: br-web
      addresses: [172.30.0.1/16]
      mtu: 1500
      mac: "02:42:ac:11:00:01"
      stp: false
      forward_delay: 15.0
      ageing_time: 300.0
      vlan_filtering: false
      up: true
      owned: true
      ports: []
kept:
  description:
    - The listed bridges left in place (O(foreign_ports=keep)) for their foreign ports, or because the
      collection did not create them. They are not in RV(before) or RV(after).
  returned: when O(foreign_ports=keep)
  type: list
  elements: str
  sample: [br-web]
diff:
  description: Before and after of each bridge that changed, keyed by name.
  returned: when diff mode is on
  type: dict
"""


from ansible_collections.netplumb.container.plugins.module_utils._bridge import FOREIGN_PORTS, BridgeEngine
from ansible_collections.netplumb.container.plugins.module_utils._exit import new_module
from ansible_collections.netplumb.container.plugins.module_utils._runner import resource_argument_spec, run_module


def main() -> None:
    spec = resource_argument_spec(
        {
            "name": {"type": "str", "required": True},
            "addresses": {"type": "list", "elements": "str"},
            "mtu": {"type": "int"},
            "mac": {"type": "str"},
            "stp": {"type": "bool"},
            "forward_delay": {"type": "float"},
            "ageing_time": {"type": "float"},
            "vlan_filtering": {"type": "bool"},
            "up": {"type": "bool", "default": True},
        }
    )
    spec["foreign_ports"] = {"type": "str", "choices": list(FOREIGN_PORTS), "default": "refuse"}
    module = new_module(argument_spec=spec, supports_check_mode=True)
    run_module(module, BridgeEngine())


if __name__ == "__main__":
    main()
