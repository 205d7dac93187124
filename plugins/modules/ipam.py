#!/usr/bin/python
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ipam
short_description: The ipam module — addresses for endpoints, subnets for hosts
version_added: 0.1.0
description:
  - "Four modes, chosen by O(network), O(networks), O(subnets) or O(cluster):"
  - B(Endpoint addresses) (O(network)). Allocates addresses from a network's pool (Docker's C(subnet), C(gateway),
    C(ip_range), C(aux_addresses); IPv4, IPv6 or both) to named endpoints and returns them with prefix length,
    gateway and Docker's MAC (C(02:42) + the IPv4 address), ready for M(netplumb.container.veth).
  - The lowest free address is handed out first; an endpoint keeps its address for as long as it holds it.
    The network and (IPv4) broadcast address, the gateway and the aux addresses are never handed out. Dynamic
    allocation stays inside C(ip_range); a fixed request may be anywhere in the subnet.
  - Nor is an address live on an interface this collection owns, in any namespace of the host (one added by hand
    to a container's C(eth0), say), unless the store records it for that endpoint; the run warns naming the
    addresses passed over and where they live. They are read only when an address must be picked.
  - The allocations live in a store on the managed host, one JSON file per network in O(state_dir), written under an
    exclusive lock (flock on a C(.lock) file beside it) and replaced atomically (temporary file, fsync, rename,
    fsync of the directory). Concurrent runs never hand out the same address; a run killed at any moment leaves
    the old or the new store. A store that is corrupt or not this collection's is an error, never reset.
  - Errors (pool exhausted, an address taken or outside the subnet, a subnet changed under existing allocations)
    change nothing.
  - B(Definitions) (O(networks) and O(endpoints)). Endpoint addresses on many networks in one call, for what one
    definition (one playbook's variables, O(definition)) lists, including endpoints without addresses (modes
    C(none), C(host), C(container)). What a definition made is recorded on the host beside the stores, and each
    store records the definition of every allocation, so O(state=overridden) and O(state=deleted) release only
    that definition's endpoints; another definition's endpoint of the same name is refused.
  - B(Host subnets) (O(cluster)). The same allocator one level up, on the controller. It leases one subnet of
    O(cluster.prefixlen) per inventory host from O(cluster.range), kept in O(cluster.lease_file). Run it once per
    play (C(run_once) and C(delegate_to=localhost)); it returns the whole host to subnet map.
  - B(Default address pools) (O(subnets)). Subnets for networks that have none, like Docker's
    C(default-address-pools), on the managed host. Each listed network gets the lowest slice of the first pool that
    overlaps no IPv4 route of the host (every table, C(main) and C(local) included; default routes aside), no
    O(subnets.exclude) and no subnet recorded for another network. The choice is recorded in
    C(<state_dir>/_default_pools.json) (locked and replaced atomically like the stores) and returned again on
    later runs, even though the network's own bridge route then overlaps it.
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
      - With O(subnets) only V(merged) (choose and record) and V(deleted) (forget the listed networks' subnets,
        and the record once empty) are allowed.
    type: str
    choices: [merged, replaced, overridden, deleted]
    default: merged
  reconcile:
    description:
      - Also release the allocations of unlisted endpoints whose namespace (C(/run/netns/<netns>)) no longer exists.
        The result's RV(reconciled) names them.
    type: bool
    default: false
  foreign_netns:
    description:
      - Definition mode. V(refuse) fails, before anything is written, when an endpoint new to the definition
        (mode V(bridge) or V(none)) has a namespace that exists but was not made by this collection (one made by
        C(ip netns add), Docker or another tool), naming it; so that a run that creates the namespaces after
        handing out the addresses (the endpoints role) hands out none for a namespace it will refuse.
    type: str
    choices: [allow, refuse]
    default: allow
    version_added: 0.2.0
  state_dir:
    description:
      - Directory of the stores on the managed host. Not created in check mode.
      - Must be an absolute path (a relative one would depend on the module's working directory).
    type: path
    default: /var/lib/netplumb/ipam
  networks:
    description:
      - Definition mode. The networks the O(endpoints) may join, each with its pools.
      - Pools may be left out with O(state=deleted) (the stored ones are used).
      - Mutually exclusive with O(network), O(subnet), O(pools), O(config), O(cluster) and O(reconcile).
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      name:
        description: The network's name, as O(network).
        type: str
        required: true
      pools:
        description: As O(pools).
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
  endpoints:
    description:
      - Definition mode. The endpoints the definition lists, with the networks they join in order.
      - V(merged) allocates what they miss and records them, keeping the definition's unlisted endpoints.
        V(overridden) also releases and forgets the definition's endpoints (or networks of an endpoint) no longer
        listed, and returns them in RV(removed). V(deleted) releases and forgets the listed endpoints, or, when
        O(endpoints) is left out, everything the definition made.
      - Addresses released in a run are not handed out again in the same run (their namespaces go afterwards).
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      name:
        description: The endpoint's name, unique in the definition.
        type: str
        required: true
      mode:
        description: Docker's network mode; only V(bridge) endpoints join networks.
        type: str
        choices: [bridge, none, host, container]
        default: bridge
      netns:
        description: Its namespace. Default is O(endpoints[].name).
        type: str
      networks:
        description: The networks it joins, in order.
        type: list
        elements: dict
        suboptions:
          name:
            description: The network, one of O(networks).
            type: str
            required: true
          address:
            description: A fixed address on it, as O(config[].address).
            type: str
          addresses:
            description: Fixed addresses on it, at most one per family.
            type: list
            elements: str
  definition:
    description:
      - Definition mode. Who owns the endpoints (1-64 letters, digits and C(_.-), a letter or digit first).
      - Allocations made without a definition belong to V(default).
    type: str
    default: default
    version_added: 0.2.0
  remove_stores:
    description:
      - Definition mode with O(state=deleted). Also remove the store (and its lock) of every listed network that
        no endpoint holds an address on any more, and the state directory once empty. Networks still in use are
        kept and listed in RV(in_use).
    type: bool
    default: false
    version_added: 0.2.0
  subnets:
    description:
      - Default address pool mode (see above). Mutually exclusive with O(network), O(networks), O(pools), O(config)
        and O(cluster). Check mode returns the would-be choice and writes nothing.
    type: dict
    version_added: 0.2.0
    suboptions:
      networks:
        description: The networks that need a subnet, chosen for in list order.
        type: list
        elements: str
        required: true
      pools:
        description: The pools, tried in order. Default is Docker's (C(172.17.0.0/16) to C(172.31.0.0/16), then the
          C(/20) slices of C(192.168.0.0/16)).
        type: list
        elements: dict
        suboptions:
          base:
            description: The pool's IPv4 range.
            type: str
            required: true
          size:
            description: Prefix length of the slices handed out (at least the base's, at most 30).
            type: int
            required: true
      exclude:
        description: Subnets no choice may overlap, for example the subnets given to the host's other networks.
        type: list
        elements: str
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

- name: All the networks of one definition in one call; its unlisted containers are released
  netplumb.container.ipam:
    definition: shop
    networks:
      - name: front
        pools: [{subnet: 10.20.0.0/24}]
      - name: back
        pools: [{subnet: 10.21.0.0/24}, {subnet: "fd00:21::/64"}]
    endpoints:
      - name: web
        networks: [{name: front}, {name: back, address: 10.21.0.10}]
      - name: sidecar
        mode: container
    state: overridden
  register: shop

- name: Everything the definition made is released; stores nobody uses any more are removed
  netplumb.container.ipam:
    definition: shop
    networks: [{name: front}, {name: back}]
    state: deleted
    remove_stores: true

- name: Subnets from Docker's default pools for two networks, kept across runs
  netplumb.container.ipam:
    subnets:
      networks: [front, back]
      exclude: [10.20.0.0/24]
  register: picked

- name: The networks are gone; their subnets go back to the pools
  netplumb.container.ipam:
    subnets:
      networks: [front, back]
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
  description:
    - The listed endpoints' addresses, by endpoint (endpoint mode, not with O(state=deleted)).
    - In definition mode, by network and then by endpoint.
  returned: success, endpoint and definition mode
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
  description:
    - Endpoints whose addresses were released (also by O(reconcile)), or hosts whose leases were.
    - In definition mode a dict, network -> endpoints.
  returned: success
  type: list
  elements: str
  sample: [old1]
removed:
  description: Definition mode. Endpoints the definition no longer has (name and mode), whose namespaces may go.
  returned: success, definition mode
  type: list
  elements: dict
  sample: [{name: old1, mode: bridge}]
  version_added: 0.2.0
recorded:
  description: Definition mode. The definition's endpoints after the run.
  returned: success, definition mode
  type: list
  elements: str
  version_added: 0.2.0
in_use:
  description: Definition mode, O(state=deleted). Listed networks on which endpoints still hold addresses, with them.
  returned: success, definition mode
  type: dict
  sample: {docker0: [web1]}
  version_added: 0.2.0
definition_record:
  description: Definition mode. Path of the definition's record.
  returned: success, definition mode
  type: str
  sample: /var/lib/netplumb/ipam/definitions/shop.json
  version_added: 0.2.0
reconciled:
  description: Endpoints released because their namespace is gone.
  returned: success, endpoint mode
  type: list
  elements: str
  sample: []
store:
  description: Path of the network's store (endpoint mode) or of the default pool record.
  returned: success, endpoint and default pool mode
  type: str
  sample: /var/lib/netplumb/ipam/docker0.json
subnets:
  description:
    - Cluster mode, every lease in the lease file, by host (also hosts not listed now).
    - Default pool mode, the subnet of each listed network.
  returned: success, cluster and default pool mode
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


from ansible_collections.netplumb.container.plugins.module_utils._exit import exit_with, new_module
from ansible_collections.netplumb.container.plugins.module_utils._ipam import MODULE_KWARGS, run_ipam


def main() -> None:
    module = new_module(**MODULE_KWARGS)
    exit_with(module, lambda: run_ipam(module.params, module.check_mode))


if __name__ == "__main__":
    main()
