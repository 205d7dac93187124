#!/usr/bin/python
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vxlan
short_description: VXLAN tunnel endpoints with static peers (flannel-style, no multicast)
version_added: 0.2.0
description:
  - Creates, configures and deletes VXLAN devices and their peers, many devices and all their peers in one call,
    through netlink (pyroute2), without forking.
  - Each device is one tunnel endpoint (VTEP) of an overlay, bound to an underlay address O(config[].local).
    There is never a multicast group or a default remote, and the kernel does not learn (unless
    O(config[].learning) says so). Instead, as in flannel's vxlan backend, every peer is two static kernel
    entries on the device, an FDB entry C(<peer mac> dst <peer underlay> self permanent) (what C(bridge fdb)
    shows) and a neighbour entry C(<peer address> lladdr <peer mac> nud permanent) (what C(ip neigh) shows).
  - For a listed device, O(config[].peers) is the complete set, with O(state=merged) as with
    O(state=replaced) - FDB and neighbour entries of peers that are not listed are removed, so a host that
    left the overlay leaves nothing behind. Entries on other devices are never touched.
  - Routes to the peers' networks are not this module's job; M(netplumb.container.route) adds them, for example
    C(<peer subnet> via <peer address> dev <device> onlink).
  - O(config[].vni), O(config[].port), O(config[].local) and O(config[].dev) are fixed when the kernel creates a
    VXLAN device. Changing one of them deletes the device and creates it again; the C(delete) action then
    says why in its C(recreate) parameter.
  - Devices carry an ownership mark (their link alias, C(netplumb.container)). An existing interface of the
    same name that is not a VXLAN device made by this collection is refused unless O(force=true).
author:
  - netplumb developers (@netplumb)
options:
  config:
    description:
      - The VXLAN devices. Their identity is O(config[].name) and O(config[].netns).
      - Required for O(state=merged) and O(state=replaced). With O(state=deleted) only the identity counts.
      - Options left out keep their value with O(state=merged) and return to their defaults with
        O(state=replaced) and O(state=overridden). O(config[].mac) is the exception - left out, it is always
        the derived MAC.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the device, at most 15 bytes.
        type: str
        required: true
      netns:
        description:
          - The named namespace (C(/run/netns/<name>)) the device lives in. Left out, the namespace the module
            runs in (the host).
          - The namespace must exist; it is never created.
        type: str
      vni:
        description: The VXLAN network identifier, 1 to 16777215. Required unless O(state=deleted).
        type: int
      port:
        description:
          - The UDP destination port of the tunnel. Left out, V(4789) (IANA's port) on creation and with
            O(state=replaced); the kernel's own default would be 8472.
        type: int
      local:
        description:
          - The underlay source address of the tunnel (IPv4 or IPv6); every peer's O(config[].peers[].underlay)
            must be of the same family. Required unless O(state=deleted).
          - It should be an address of the namespace; if it is not, the module warns (the tunnel carries nothing).
        type: str
      dev:
        description:
          - The underlay interface the tunnel is bound to. Must exist (in check mode, a warning).
          - Left out, the device is not bound; with O(state=merged) an existing binding stays.
        type: str
      mac:
        description:
          - The MAC address of this endpoint, which the peers put in their FDB and neighbour entries.
          - Left out, a stable MAC derived from O(config[].vni) and O(config[].local) (with every state), so that
            a controller can compute every host's MAC without asking the host. For an IPv4 underlay it is
            C(0e:<vni low byte>:<the four address bytes>), for example C(0e:01:c6:12:00:0b) for VNI 1 on
            198.18.0.11 (unique among the endpoints of a VNI); for IPv6, C(0e) and five bytes of a SHA-256 hash.
            The engine exports this as C(vtep_mac(vni, local)) in C(plugins/module_utils/_vxlan.py).
        type: str
      mtu:
        description:
          - MTU of the device. With O(config[].dev), at most that interface's MTU minus the VXLAN overhead
            (50 bytes over IPv4, 70 over IPv6).
          - Left out, on creation and with O(state=replaced), the MTU of the underlay (O(config[].dev), else
            the interface holding O(config[].local), else 1500) minus that overhead, for example V(1450).
        type: int
      addresses:
        description:
          - Addresses with prefix length on the device, for example flannel's V(10.244.3.0/32).
            O(state=merged) adds them and keeps others; O(state=replaced) makes the list exact.
        type: list
        elements: str
      learning:
        description:
          - Whether the kernel learns remote MACs from received packets. Left out, V(false) on creation and with
            O(state=replaced). Static peers need no learning; learned entries are never read or removed.
        type: bool
      peers:
        description:
          - The other endpoints of the overlay, the complete set. Entries of peers not listed are removed.
          - V([]) removes every peer. Left out, O(state=merged) keeps the current entries and
            O(state=replaced) removes them.
          - Two entries may share O(config[].peers[].mac) and O(config[].peers[].underlay) (one FDB entry) with
            different addresses, for example an IPv4 and an IPv6 address of the same peer.
        type: list
        elements: dict
        suboptions:
          underlay:
            description: The peer's underlay address (the FDB entry's destination), of the family of O(config[].local).
            type: str
            required: true
          mac:
            description: The peer's VTEP MAC (its O(config[].mac), or C(vtep_mac(vni, its local))).
            type: str
            required: true
          address:
            description:
              - The peer's VTEP address on the overlay (the neighbour entry), for example V(10.244.5.0).
                Left out, only the FDB entry is made.
            type: str
  force:
    description:
      - With O(state=merged), O(state=replaced) and O(state=overridden), replace a listed interface that is not a
        VXLAN device by one, and take over a VXLAN device that this collection did not create.
      - With O(state=deleted) and O(config), also delete listed VXLAN devices that this collection did not create
        (never an interface of another kind).
    type: bool
    default: false
extends_documentation_fragment:
  - netplumb.container.resource
  - netplumb.container.host_lock
  - netplumb.container.attributes
notes:
  - Per namespace involved, one link dump, one address dump and (when a device of the run is there) one FDB
    and one neighbour dump are read. Only permanent FDB and neighbour entries are managed.
  - O(state=overridden), and O(state=deleted) without O(config), look for unlisted devices in the namespace the
    module runs in (and, for O(state=overridden), in the namespaces of the listed devices).
  - A run killed between creating a device and marking it leaves the device down and unmarked. The next run takes
    such a device over, with a warning, when it has exactly the configured VNI, port, local address and MAC and
    no addresses; any other unmarked device of that name is refused without O(force).
  - FDB and neighbour entries are written in batches of netlink requests on one socket, so that hundreds of peers
    cost one call and well under a second.
  - The MTU of the devices and of everything that sends into them (bridges, veths) must leave room for the
    overhead. A path MTU that is too small shows as lost large packets, not as an error.
seealso:
  - module: netplumb.container.route
  - module: netplumb.container.bridge
"""

EXAMPLES = r"""
- name: This host's endpoint of VNI 1, with two peers (flannel's vxlan backend, port 4789)
  netplumb.container.vxlan:
    config:
      - name: npvx1
        vni: 1
        local: 198.18.0.11
        dev: ul0
        mtu: 1450
        addresses: [10.244.3.0/32]
        peers:
          - underlay: 198.18.0.12
            mac: "0e:01:c6:12:00:0c"
            address: 10.244.5.0
          - underlay: 198.18.0.13
            mac: "0e:01:c6:12:00:0d"
            address: 10.244.7.0

- name: The routes to the peers' subnets go through the endpoint
  netplumb.container.route:
    config:
      - {dst: 10.244.5.0/24, via: 10.244.5.0, dev: npvx1, onlink: true}
      - {dst: 10.244.7.0/24, via: 10.244.7.0, dev: npvx1, onlink: true}

- name: Exactly this device among the npvx* ones the collection made; a peer left, its entries go
  netplumb.container.vxlan:
    config:
      - name: npvx1
        vni: 1
        local: 198.18.0.11
        dev: ul0
        addresses: [10.244.3.0/32]
        peers:
          - {underlay: 198.18.0.12, mac: "0e:01:c6:12:00:0c", address: 10.244.5.0}
    state: overridden
    scope:
      prefix: npvx

- name: Delete the device (its FDB and neighbour entries go with it)
  netplumb.container.vxlan:
    config:
      - name: npvx1
    state: deleted
"""

RETURN = r"""
actions:
  description:
    - The changes made, or in check mode planned, in the order applied.
    - An update's C(params) name what it sets (C(mac), C(mtu), C(learning)) and the entries it adds and removes
      (C(add_fdb)/C(del_fdb), C(add_neigh)/C(del_neigh), C(add_addresses)/C(del_addresses)).
    - A device that is recreated shows as a C(delete) with a C(recreate) parameter saying why, then a C(create).
  returned: always
  type: list
  elements: dict
  sample:
    - op: create
      kind: vxlan
      name: npvx1
      params:
        vni: 1
        port: 4789
        local: 198.18.0.11
        dev: ul0
        mac: "0e:01:c6:12:00:0b"
        mtu: 1450
        learning: false
        addresses: [10.244.3.0/32]
        fdb: [["0e:01:c6:12:00:0c", 198.18.0.12]]
        neigh: [[10.244.5.0, "0e:01:c6:12:00:0c"]]
      summary: "create vxlan npvx1: addresses=['10.244.3.0/32'], dev=ul0, ..."
    - op: delete
      kind: vxlan
      name: npvx2
      params: {recreate: "vni 2 -> 3"}
      summary: "delete vxlan npvx2: recreate=vni 2 -> 3"
before:
  description: The listed and the changed devices as they were.
  returned: always
  type: list
  elements: dict
  sample: []
after:
  description:
    - The listed and the changed devices as they are now (in check mode, as they would be).
    - C(mac) is the derived MAC when none was given.
  returned: always
  type: list
  elements: dict
  sample:
    - name: npvx1
      netns: null
      vni: 1
      port: 4789
      local: 198.18.0.11
      dev: ul0
      mac: "0e:01:c6:12:00:0b"
      mtu: 1450
      addresses: [10.244.3.0/32]
      learning: false
      peers:
        - {underlay: 198.18.0.12, mac: "0e:01:c6:12:00:0c", address: 10.244.5.0}
      up: true
      owned: true
diff:
  description: Before and after of each device that changed, keyed by name (plus C(in netns <netns>)).
  returned: when diff mode is on
  type: dict
"""


from ansible_collections.netplumb.container.plugins.module_utils._exit import new_module
from ansible_collections.netplumb.container.plugins.module_utils._runner import resource_argument_spec, run_module
from ansible_collections.netplumb.container.plugins.module_utils._vxlan import VxlanEngine


def main() -> None:
    peer = {
        "underlay": {"type": "str", "required": True},
        "mac": {"type": "str", "required": True},
        "address": {"type": "str"},
    }
    spec = resource_argument_spec(
        {
            "name": {"type": "str", "required": True},
            "netns": {"type": "str"},
            "vni": {"type": "int"},
            "port": {"type": "int"},
            "local": {"type": "str"},
            "dev": {"type": "str"},
            "mac": {"type": "str"},
            "mtu": {"type": "int"},
            "addresses": {"type": "list", "elements": "str"},
            "learning": {"type": "bool"},
            "peers": {"type": "list", "elements": "dict", "options": peer},
        }
    )
    module = new_module(argument_spec=spec, supports_check_mode=True)
    run_module(module, VxlanEngine())


if __name__ == "__main__":
    main()
