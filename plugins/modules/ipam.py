#!/usr/bin/python
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ipam
short_description: The ipam module — addresses for endpoints, subnets for hosts
version_added: 0.1.0
description:
  - "Two modes, chosen by O(network) or O(cluster):"
  - B(Endpoint addresses) (O(network)). Allocates addresses from a network's pool (Docker's C(subnet), C(gateway),
    C(ip_range), C(aux_addresses); IPv4, IPv6 or both) to named endpoints and returns them with prefix length,
    gateway and Docker's MAC (C(02:42) + the IPv4 address), ready for M(netplumb.container.veth).
  - The lowest free address is handed out first; an endpoint keeps its address for as long as it holds it.
    The network and (IPv4) broadcast address, the gateway and the aux addresses are never handed out. Dynamic
    allocation stays inside C(ip_range); a fixed request may be anywhere in the subnet.
  - The allocations live in a store on the managed host, one JSON file per network in O(state_dir), written under an
    exclusive lock (flock on a C(.lock) file beside it) and replaced atomically (temporary file, fsync, rename,
    fsync of the directory). Concurrent runs never hand out the same address; a run killed at any moment leaves
    the old or the new store. A store that is corrupt or not this collection's is an error, never reset.
  - Errors (pool exhausted, an address taken or outside the subnet, a subnet changed under existing allocations)
    change nothing.
  - B(Host subnets) (O(cluster)). The same allocator one level up, on the controller. It leases one subnet of
    O(cluster.prefixlen) per inventory host from O(cluster.range), kept in O(cluster.lease_file). Run it once per
    play (C(run_once) and C(delegate_to=localhost)); it returns the whole host to subnet map.
author:
  - netplumb developers (@netplumb)
options:
  network:
    description:
      - Name of the network whose pool the endpoints draw from.
      - Also the store's file name, C(<state_dir>/<network>.json).
      - 1-64 letters, digits and C(_.-). Mutually exclusive with O(cluster).
    type: str
  subnet:
    description:
      - The network's only pool, IPv4 or IPv6, for example C(172.17.0.0/16). For dual stack use O(pools).
      - Required (or O(pools)) unless O(state=deleted), which uses the stored pools.
    type: str
  gateway:
    description: Gateway of O(subnet), never handed out. Default is the first usable address.
    type: str
  ip_range:
    description: Hand out dynamic addresses only inside this range of O(subnet) (like Docker's C(--ip-range)).
    type: str
  aux_addresses:
    description: Reserved addresses of O(subnet), by name (like Docker's C(--aux-address)); never handed out.
    type: dict
  pools:
    description:
      - The network's pools, at most one IPv4 and one IPv6; each endpoint gets one address from every pool.
      - Mutually exclusive with O(subnet), O(gateway), O(ip_range), O(aux_addresses).
    type: list
    elements: dict
    suboptions:
      subnet:
        description: The pool's subnet.
        type: str
        required: true
      gateway:
        description: The gateway, never handed out. Default is the first usable address.
        type: str
      ip_range:
        description: Hand out dynamic addresses only inside this range.
        type: str
      aux_addresses:
        description: Reserved addresses by name.
        type: dict
  config:
    description:
      - The endpoints. Their identity is O(config[].endpoint).
      - Required for O(state=merged) and O(state=replaced). Endpoints get their addresses in list order.
    type: list
    elements: dict
    suboptions:
      endpoint:
        description: Name of the endpoint (a container), unique in the network.
        type: str
        required: true
      netns:
        description: Network namespace of the endpoint, checked by O(reconcile). Default is O(config[].endpoint).
        type: str
      address:
        description:
          - A fixed address to request, instead of the lowest free one; an error if another endpoint holds it.
          - With O(state=merged) an endpoint that already holds another address of that family is an error;
            O(state=replaced) and O(state=overridden) move it.
        type: str
      addresses:
        description: Fixed addresses, at most one per family (for dual stack).
        type: list
        elements: str
  state:
    description:
      - V(merged) allocates what the listed endpoints miss and keeps what they hold.
      - V(replaced) is V(merged) but moves an endpoint to its newly requested fixed address.
      - V(overridden) is V(replaced) and releases every allocation of the network that is not listed.
      - V(deleted) releases the listed endpoints, or every endpoint of the network without O(config).
    type: str
    choices: [merged, replaced, overridden, deleted]
    default: merged
  reconcile:
    description:
      - Also release the allocations of unlisted endpoints whose namespace (C(/run/netns/<netns>)) no longer exists.
        The result's RV(reconciled) names them.
    type: bool
    default: false
  state_dir:
    description: Directory of the stores on the managed host. Not created in check mode.
    type: path
    default: /var/lib/netplumb/ipam
  cluster:
    description:
      - Host subnet mode (runs where it is delegated, normally the controller). Mutually exclusive with O(network).
      - Hosts keep their lease when others are added or removed; a host that leaves O(cluster.hosts) keeps its lease
        (listed in RV(unlisted)) until it is named in O(cluster.release).
    type: dict
    suboptions:
      range:
        description: The cluster range the subnets are leased from, for example C(10.244.0.0/16).
        type: str
        required: true
      prefixlen:
        description: Length of each host's subnet. Default 24 (IPv4) or 64 (IPv6).
        type: int
      lease_file:
        description:
          - Absolute path of the lease file, for example C({{ inventory_dir }}/netplumb-subnets.json).
            Locked and replaced atomically like the endpoint stores.
        type: path
        required: true
      hosts:
        description: Inventory hostnames that need a subnet; new ones get the lowest free subnets in list order.
        type: list
        elements: str
      pinned:
        description:
          - Fixed subnets by host. A pinned subnet that overlaps an excluded range or another host's lease is an error.
        type: dict
      exclude:
        description:
          - Ranges no new lease may overlap, for example every host's existing routes. Ranges of the other family
            are ignored. An excluded range inside an existing lease is taken as that lease's own route.
        type: list
        elements: str
      release:
        description: Hosts whose leases are released.
        type: list
        elements: str
notes:
  - Needs no pyroute2; O(reconcile) only looks at C(/run/netns).
extends_documentation_fragment:
  - netplumb.container.attributes
"""

EXAMPLES = r"""
- name: Addresses for two containers on docker0
  netplumb.container.ipam:
    network: docker0
    subnet: 172.17.0.0/16
    config:
      - endpoint: web1
      - endpoint: db1
        address: 172.17.0.10
  register: ipam

- name: Use them
  ansible.builtin.debug:
    msg: "web1 is {{ ipam.allocations.web1.addresses[0] }} with MAC {{ ipam.allocations.web1.mac }}"

- name: Dual stack, dynamic addresses only in the upper half, a reserved router address
  netplumb.container.ipam:
    network: app
    pools:
      - subnet: 10.10.0.0/24
        ip_range: 10.10.0.128/25
        aux_addresses: {router: 10.10.0.254}
      - subnet: fd00:10::/64
    config:
      - endpoint: api1
      - endpoint: api2
        addresses: [10.10.0.200, "fd00:10::200"]
    state: overridden
    reconcile: true

- name: Release one endpoint's addresses
  netplumb.container.ipam:
    network: docker0
    config:
      - endpoint: web1
    state: deleted

- name: One /24 per host from the cluster range, avoiding routes the hosts already have
  netplumb.container.ipam:
    cluster:
      range: 10.244.0.0/16
      prefixlen: 24
      lease_file: "{{ inventory_dir }}/netplumb-subnets.json"
      hosts: "{{ ansible_play_hosts_all }}"
      pinned:
        gateway1: 10.244.255.0/24
      exclude: "{{ existing_routes }}"
  run_once: true
  delegate_to: localhost
  register: fleet
"""

RETURN = r"""
allocations:
  description: The listed endpoints' addresses, by endpoint (endpoint mode, not with O(state=deleted)).
  returned: success, endpoint mode
  type: dict
  sample:
    web1:
      netns: web1
      addresses: [172.17.0.2/16, "fd00::2/64"]
      ipv4: 172.17.0.2
      prefixlen: 16
      gateway: 172.17.0.1
      ipv6: "fd00::2"
      prefixlen6: 64
      gateway6: "fd00::1"
      mac: "02:42:ac:11:00:02"
released:
  description: Endpoints whose addresses were released (also by O(reconcile)), or hosts whose leases were.
  returned: success
  type: list
  elements: str
  sample: [old1]
reconciled:
  description: Endpoints released because their namespace is gone.
  returned: success, endpoint mode
  type: list
  elements: str
  sample: []
store:
  description: Path of the network's store.
  returned: success, endpoint mode
  type: str
  sample: /var/lib/netplumb/ipam/docker0.json
subnets:
  description: Every lease in the lease file, by host (also hosts not listed now).
  returned: success, cluster mode
  type: dict
  sample: {node1: 10.244.0.0/24, node2: 10.244.1.0/24}
unlisted:
  description: Hosts holding a lease that were neither in O(cluster.hosts) nor pinned.
  returned: success, cluster mode
  type: list
  elements: str
  sample: []
lease_file:
  description: Path of the lease file.
  returned: success, cluster mode
  type: str
actions:
  description: The changes made, or in check mode planned.
  returned: always
  type: list
  elements: dict
  sample:
    - op: create
      kind: ipam
      name: web1
      params: {addresses: [172.17.0.2]}
      summary: "create ipam web1: addresses=['172.17.0.2']"
diff:
  description: Before and after of each endpoint (or host lease) that changed.
  returned: when diff mode is on
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netplumb.container.plugins.module_utils._exit import exit_with
from ansible_collections.netplumb.container.plugins.module_utils._ipam import MODULE_KWARGS, run_ipam


def main() -> None:
    module = AnsibleModule(**MODULE_KWARGS)
    exit_with(module, lambda: run_ipam(module.params, module.check_mode))


if __name__ == "__main__":
    main()
