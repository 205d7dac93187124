#!/usr/bin/python
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: network_info
short_description: Everything netplumb.container holds on a host, like C(docker network inspect), plus drift
version_added: 0.2.0
description:
  - Reads, in one call per host, the bridge networks the collection owns (subnets, gateway, MTU, MAC, ports),
    every namespace it owns (links, addresses, MAC, routes, the host end of each veth and its bridge), the IPAM
    allocations, the published ports, the firewall backend and what it holds, and the fleet mesh as the kernel
    shows it (routes with the collection's routing protocol 78, VXLAN devices with their FDB and neighbour
    entries).
  - Compares the kernel with the collection's records and reports drift and leaks in RV(drift), each with a
    command or task that fixes it - namespaces the collection made that no record lists, addresses in use
    that the IPAM store no longer holds, records whose namespace or bridge is gone, ports published to no
    container, firewall rules that differ from the recorded policy, interfaces the collection did not make on
    its bridges, and mesh entries that route nowhere or that no route uses.
  - Changes nothing, also outside check mode. Namespaces are entered, never created; store and record files are
    read without taking their locks (they are replaced by atomic rename, so a read is never torn), so no lock
    file is created. No process is forked per namespace; the firewall is read with one C(nft) or
    C(iptables-save) call per backend and IP version.
  - Reads the namespace it runs in (on a lab host, the lab host's own).
author:
  - netplumb developers (@netplumb)
options:
  ipam_dir:
    description: Where the IPAM stores are (as O(netplumb.container.ipam#module:state_dir)).
    type: path
    default: /var/lib/netplumb/ipam
  nat_record:
    description: The firewall policy record (as O(netplumb.container.nat#module:record_path)).
    type: path
    default: /var/lib/netplumb/nat.json
  firewall:
    description:
      - Read the firewall (C(nft -j list table inet netplumb), C(iptables-save)) and compare it with the record.
      - V(false) skips it (RV(firewall.read) is then V(false)).
    type: bool
    default: true
requirements:
  - pyroute2 >= 0.7 on the managed host
  - C(nft) and/or C(iptables-save) to read the firewall
extends_documentation_fragment:
  - netplumb.container.attributes.INFO
notes:
  - The mode of an endpoint with a namespace is read from the kernel - V(bridge) when its namespace has a veth,
    V(none) when it has only C(lo). Containers in mode C(host) or C(container:<name>) have no namespace of their
    own; they are listed from the endpoint definition records (C(<ipam_dir>/definitions/), written by the
    C(endpoints) role through the ipam module) with the mode recorded there.
  - C(playbooks/inspect.yml) gathers this from every host and draws the fleet (docs/inspect.md).
"""

EXAMPLES = r"""
- name: What is on the host
  netplumb.container.network_info:
  register: info

- name: Fail on drift, printing what to run
  ansible.builtin.assert:
    that: info.drift | length == 0
    fail_msg: "{{ info.drift | map(attribute='fix.command') | list }}"

- name: The address of the container web
  ansible.builtin.debug:
    msg: >-
      {{ (info.endpoints | selectattr('name', 'equalto', 'web') | first).links[0].addresses }}

- name: Networks and endpoints only, with the stores somewhere else
  netplumb.container.network_info:
    ipam_dir: /srv/netplumb/ipam
    nat_record: /srv/netplumb/nat.json
    firewall: false
"""

RETURN = r"""
networks:
  description:
    - One entry per network - the networks of the IPAM stores and of the nat record, and owned bridges no record
      names (with RV(networks[].name) null).
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: The network's name (null for an owned bridge no record names)., type: str}
    bridge: {description: Its bridge interface., type: str}
    present: {description: The bridge exists., type: bool}
    owned: {description: The bridge carries the collection's ownership mark., type: bool}
    subnets: {description: The subnets (IPAM pools; else the nat record's; else the bridge's addresses)., type: list}
    gateways: {description: The pools' gateway addresses., type: list}
    addresses: {description: The bridge's addresses as the kernel has them., type: list}
    mtu: {description: The bridge's MTU., type: int}
    mac: {description: The bridge's MAC address., type: str}
    up: {description: The bridge is administratively up., type: bool}
    ipam_store: {description: The network's IPAM store file., type: str}
    policy:
      description: The recorded firewall policy (masquerade, outbound_address, icc, internal, isolate, hairpin).
      type: dict
    ports:
      description: The bridge's ports - name, kind, owned, netns (of a veth's peer), hairpin.
      type: list
      elements: dict
    containers:
      description: The endpoints on the network, as C(docker network inspect) lists them.
      type: list
      elements: dict
      contains:
        endpoint: {description: Container name (its namespace)., type: str}
        netns: {description: Namespace., type: str}
        interface: {description: "Its interface: eth0, eth1 and so on.", type: str}
        host_veth: {description: The host end of the veth., type: str}
        mac: {description: MAC address of the interface., type: str}
        addresses: {description: Its addresses with prefix length., type: list}
  sample:
    - name: docker0
      bridge: docker0
      present: true
      owned: true
      subnets: [172.17.0.0/16]
      gateways: [172.17.0.1]
      addresses: [172.17.0.1/16]
      mtu: 1500
      mac: "b6:0e:1c:57:7a:10"
      up: true
      ipam_store: /var/lib/netplumb/ipam/docker0.json
      policy: {masquerade: true, outbound_address: null, icc: true, internal: false, isolate: true, hairpin: true}
      ports: [{name: vnp3e1c0f2a9b, kind: veth, owned: true, netns: web, hairpin: true}]
      containers:
        - {endpoint: web, netns: web, interface: eth0, host_veth: vnp3e1c0f2a9b, mac: "02:42:ac:11:00:02",
           addresses: [172.17.0.2/16]}
endpoints:
  description: Every namespace the collection owns (and any other wired into the host by a veth), plus the
    recorded endpoints that have no namespace of their own.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: The endpoint (namespace) name., type: str}
    netns: {description: Its namespace (null for modes host and container)., type: str}
    owned: {description: The namespace carries the collection's ownership mark., type: bool}
    mode: {description: "V(bridge), V(none), V(host) or V(container)", type: str}
    registered: {description: "An endpoint definition record (the C(endpoints) role's) lists it.", type: bool}
    definition: {description: The definition that made it (null when none records it)., type: str}
    names:
      description:
        - The names it resolves from the hosts file the collection wrote for it (C(/etc/netns/<netns>/hosts)),
          after the localhost lines - address and names. Null when it has no such file.
      type: list
      elements: dict
      version_added: 0.2.0
    links:
      description: Its interfaces except lo - name, kind, mac, mtu, up, addresses, owned, host_veth, bridge, network.
      type: list
      elements: dict
    routes:
      description: Its routes (main table, without the kernel's own prefix routes) - dst, via, dev, protocol.
      type: list
      elements: dict
    ipam:
      description: Its IPAM records - network, endpoint, addresses.
      type: list
      elements: dict
  sample:
    - name: web
      netns: web
      owned: true
      mode: bridge
      registered: true
      definition: default
      links:
        - {name: eth0, kind: veth, mac: "02:42:ac:11:00:02", mtu: 1500, up: true, addresses: [172.17.0.2/16],
           owned: true, host_veth: vnp3e1c0f2a9b, bridge: docker0, network: docker0}
      routes: [{dst: 0.0.0.0/0, via: 172.17.0.1, dev: eth0, protocol: 3}]
      ipam: [{network: docker0, endpoint: web, addresses: [172.17.0.2]}]
      names: [{address: 172.17.0.2, names: [web, web.h1]}, {address: 10.244.1.2, names: [api, api.h2]}]
ipam:
  description: The IPAM stores - network, store, pools, allocations (endpoint, netns, addresses).
  returned: always
  type: list
  elements: dict
  sample:
    - network: docker0
      store: /var/lib/netplumb/ipam/docker0.json
      pools: [{subnet: 172.17.0.0/16, gateway: 172.17.0.1, ip_range: 172.17.0.0/16, aux_addresses: {}}]
      allocations: [{endpoint: web, netns: web, addresses: [172.17.0.2]}]
published:
  description: The published ports of the nat record, with the endpoint that holds the container address.
  returned: always
  type: list
  elements: dict
  sample:
    - {network: docker0, bridge: docker0, host_ip: 0.0.0.0, host_port: 8080, proto: tcp,
       container_address: 172.17.0.2, container_port: 80, endpoint: web}
firewall:
  description: The firewall as the collection sees it.
  returned: always
  type: dict
  contains:
    backend: {description: The recorded backend (V(nftables) or V(iptables))., type: str}
    iptables_variant: {description: The recorded iptables variant (V(nft) or V(legacy))., type: str}
    record: {description: The policy record's path., type: str}
    networks: {description: The networks of the record., type: list}
    read: {description: The firewall was read (O(firewall=true))., type: bool}
    nftables:
      description: The chains of C(table inet netplumb) with their rule counts, and the rules of its user chain.
      type: dict
    iptables:
      description: Per iptables variant and IP version, the C(NETPLUMB*) chains with their rule counts.
      type: dict
    stale_chains:
      description: The chains that differ from what the record renders (empty when in sync, null when not compared).
      type: list
  sample:
    backend: nftables
    iptables_variant: null
    record: /var/lib/netplumb/nat.json
    networks: [docker0]
    read: true
    nftables: {table: inet netplumb, chains: {forward: 6, postrouting: 2, user: 0}, user_rules: 0}
    iptables: {}
    stale_chains: []
mesh:
  description: The fleet mesh as the kernel shows it.
  returned: always
  type: dict
  contains:
    routes:
      description: The host's routes with the collection's protocol 78 (dst, via, dev, onlink, table, metric).
      type: list
    vxlan:
      description: VXLAN devices with vni, port, local, dev, learning, mtu, mac, owned, fdb and neighbours.
      type: list
    peers:
      description:
        - Per mesh route - subnet, via, dev, backend (V(host-gw) or V(vxlan)), the peer's VTEP MAC and its underlay
          address.
      type: list
  sample:
    routes: [{dst: 10.244.1.0/24, via: 10.244.1.0, dev: flannel.1, onlink: true, table: 254, metric: 0}]
    vxlan:
      - {name: flannel.1, owned: true, vni: 1, port: 4789, local: 198.18.0.2, dev: ul0, learning: false, mtu: 1450,
         mac: "0a:58:0a:f4:00:00", up: true, fdb: [{mac: "0a:58:0a:f4:01:00", dst: 198.19.0.3, permanent: true}],
         neighbours: [{address: 10.244.1.0, mac: "0a:58:0a:f4:01:00", permanent: true}]}
    peers: [{subnet: 10.244.1.0/24, via: 10.244.1.0, dev: flannel.1, backend: vxlan, vtep_mac: "0a:58:0a:f4:01:00",
             underlay: 198.19.0.3}]
drift:
  description:
    - What differs between the kernel and the records - kind, object, problem, and fix (a C(command) to run and,
      where a module does it, the C(task)).
    - "Kinds: V(netns_unrecorded), V(address_unrecorded), V(record_without_netns), V(bridge_missing),
      V(bridge_unrecorded), V(foreign_port), V(publish_without_endpoint), V(firewall_stale), V(mesh_incomplete),
      V(mesh_stale)."
  returned: always
  type: list
  elements: dict
  sample:
    - kind: record_without_netns
      object: ipam docker0/web
      problem: the IPAM store of docker0 holds 172.17.0.2 for web, whose namespace web does not exist
      fix:
        command: >-
          ansible <this host> -m netplumb.container.ipam -a '{"config": [{"endpoint": "web"}],
          "network": "docker0", "state": "deleted", "state_dir": "/var/lib/netplumb/ipam"}'
        task: {netplumb.container.ipam: {network: docker0, config: [{endpoint: web}], state: deleted,
               state_dir: /var/lib/netplumb/ipam}}
errors:
  description: Records that could not be read (corrupt or foreign files) and namespaces that vanished while read.
  returned: always
  type: list
  elements: str
  sample: []
summary:
  description: Counts of networks, endpoints, published ports, mesh peers and drift findings.
  returned: always
  type: dict
  sample: {networks: 2, endpoints: 5, published: 3, peers: 3, drift: 0}
"""


from ansible_collections.netplumb.container.plugins.module_utils._exit import exit_with, new_module
from ansible_collections.netplumb.container.plugins.module_utils._info import ARGUMENT_SPEC, gather
from ansible_collections.netplumb.container.plugins.module_utils._netlink import Netlink


def main() -> None:
    module = new_module(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)

    def cycle() -> dict:
        with Netlink() as nl:
            return gather(nl, module.params)

    exit_with(module, cycle)


if __name__ == "__main__":
    main()
