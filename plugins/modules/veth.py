#!/usr/bin/python
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: veth
short_description: veth pairs that wire containers' namespaces to the host and its bridges
version_added: 0.1.0
description:
  - Creates, configures and deletes veth pairs, many in one call (hundreds of containers per host are one task).
  - The host end lives in the namespace the module runs in and may be a port of a bridge
    (see M(netplumb.container.bridge)); the peer lives in a named network namespace
    (see M(netplumb.container.netns)) with its final name, MAC, MTU, addresses, default gateway and routes.
  - The peer is created directly inside its namespace under its final name (no move, no rename), so
    a peer name like V(eth0) in many namespaces at once is the normal case.
  - If a veth exists with its peer under another name in the same namespace, the peer is renamed in place
    (its addresses and routes survive). If its peer is in another namespace, the pair is deleted and created
    again (a move would drop the peer's addresses and routes anyway, and the old namespace may be gone).
  - Both ends carry an ownership mark (their link alias, C(netplumb.container)), so O(state=overridden) and
    O(state=deleted) without O(config) never remove a veth the collection did not create.
  - Deleting either end deletes the pair; deleting a namespace deletes the pairs whose peer is inside it.
  - The peer's namespace and the bridge must exist; the module never creates namespaces. In check mode, a
    namespace or bridge that an earlier task of the same play would create is assumed to exist, with a warning.
author:
  - netplumb developers (@netplumb)
options:
  config:
    description:
      - The veth pairs. Their identity is O(config[].name), the host end's name.
      - Required for O(state=merged) and O(state=replaced). With O(state=deleted) only O(config[].name) is used.
      - Options left out are not managed with O(state=merged). With O(state=replaced) and O(state=overridden),
        O(config[].bridge), O(config[].hairpin), O(config[].peer.addresses), O(config[].peer.gateway) and
        O(config[].peer.routes) become exact (left out = none); MTUs and the MAC are then left as they are.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the host end, at most 15 bytes.
        type: str
        required: true
      bridge:
        description: The bridge the host end is a port of. Must exist (or, in check mode, be created earlier).
        type: str
      host_mtu:
        description: MTU of the host end.
        type: int
      hairpin:
        description: Hairpin mode of the host end as a bridge port (traffic may leave the port it came in on).
        type: bool
      peer:
        description: The container end. Required unless O(state=deleted).
        type: dict
        suboptions:
          name:
            description: Interface name inside the namespace, for example V(eth0). At most 15 bytes.
            type: str
            required: true
          netns:
            description: Name of the namespace (C(/run/netns/<netns>)) the peer lives in. It must exist.
            type: str
            required: true
          mac:
            description: MAC address of the peer, for example Docker's V(02:42:ac:11:00:02).
            type: str
          mtu:
            description: MTU of the peer.
            type: int
          addresses:
            description:
              - Addresses with prefix length, IPv4 and/or IPv6. O(state=merged) adds them and keeps others;
                O(state=replaced) makes the list exact.
              - IPv6 addresses are added without duplicate address detection (C(nodad)), as Docker does.
            type: list
            elements: str
          gateway:
            description:
              - Default gateway(s) of the namespace through the peer, at most one IPv4 and one IPv6 address;
                the family is inferred. Must be inside one of the peer's networks of that family.
            type: list
            elements: str
          routes:
            description: Further routes through the peer (the M(netplumb.container.route) module does more).
            type: list
            elements: dict
            suboptions:
              dst:
                description: Destination network, for example V(10.20.0.0/16).
                type: str
                required: true
              via:
                description: Next hop address.
                type: str
                required: true
          up:
            description: Administrative state of the peer. The host end is always brought up.
            type: bool
            default: true
extends_documentation_fragment:
  - netplumb.container.resource
  - netplumb.container.host_lock
  - netplumb.container.attributes
"""

EXAMPLES = r"""
- name: Two containers on br-web, each with eth0, Docker-style MAC, IPv4 and IPv6
  netplumb.container.veth:
    config:
      - name: vethweb1
        bridge: br-web
        peer:
          name: eth0
          netns: web1
          mac: "02:42:ac:1e:00:02"
          addresses: [172.30.0.2/16, "fd00:30::2/64"]
          gateway: [172.30.0.1, "fd00:30::1"]
      - name: vethweb2
        bridge: br-web
        peer:
          name: eth0
          netns: web2
          addresses: [172.30.0.3/16]
          gateway: [172.30.0.1]
          routes:
            - dst: 10.20.0.0/16
              via: 172.30.0.254

- name: Keep exactly these veths among the vethweb* ones the collection made
  netplumb.container.veth:
    config:
      - name: vethweb1
        bridge: br-web
        peer: {name: eth0, netns: web1, addresses: [172.30.0.2/16], gateway: [172.30.0.1]}
    state: overridden
    scope:
      prefix: vethweb

- name: Delete a pair (either end would do; the host end is the identity)
  netplumb.container.veth:
    config:
      - name: vethweb2
    state: deleted
"""

RETURN = r"""
actions:
  description: The changes made, or in check mode planned, in the order applied.
  returned: always
  type: list
  elements: dict
  sample:
    - op: create
      kind: veth
      name: vethweb1
      params:
        bridge: br-web
        peer: {name: eth0, netns: web1, up: true, addresses: [172.30.0.2/16], gateway: [172.30.0.1]}
      summary: "create veth vethweb1: bridge=br-web, peer={addresses=['172.30.0.2/16'], ...}"
before:
  description: The listed and the changed veths as they were.
  returned: always
  type: list
  elements: dict
  sample: []
after:
  description: The listed and the changed veths as they are now (in check mode, as they would be).
  returned: always
  type: list
  elements: dict
  sample:
    - name: vethweb1
      bridge: br-web
      host_mtu: 1500
      hairpin: false
      owned: true
      peer:
        name: eth0
        netns: web1
        mac: "02:42:ac:1e:00:02"
        mtu: 1500
        addresses: [172.30.0.2/16]
        gateway: [172.30.0.1]
        routes: []
        up: true
diff:
  description: Before and after of each veth that changed, keyed by host-end name.
  returned: when diff mode is on
  type: dict
"""


from ansible_collections.netplumb.container.plugins.module_utils._exit import new_module
from ansible_collections.netplumb.container.plugins.module_utils._runner import resource_argument_spec, run_module
from ansible_collections.netplumb.container.plugins.module_utils._veth import VethEngine


def main() -> None:
    route = {"dst": {"type": "str", "required": True}, "via": {"type": "str", "required": True}}
    peer = {
        "name": {"type": "str", "required": True},
        "netns": {"type": "str", "required": True},
        "mac": {"type": "str"},
        "mtu": {"type": "int"},
        "addresses": {"type": "list", "elements": "str"},
        "gateway": {"type": "list", "elements": "str"},
        "routes": {"type": "list", "elements": "dict", "options": route},
        "up": {"type": "bool", "default": True},
    }
    spec = resource_argument_spec(
        {
            "name": {"type": "str", "required": True},
            "bridge": {"type": "str"},
            "host_mtu": {"type": "int"},
            "hairpin": {"type": "bool"},
            "peer": {"type": "dict", "options": peer},
        }
    )
    module = new_module(argument_spec=spec, supports_check_mode=True)
    run_module(module, VethEngine())


if __name__ == "__main__":
    main()
