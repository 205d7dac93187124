#!/usr/bin/python
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nat
short_description: Outbound NAT, published ports, ICC and isolation of bridge networks (nftables or iptables)
version_added: 0.1.0
description:
  - Manages the firewall policy of Docker-style bridge networks on the managed host, one policy per network,
    for every network in one call - masquerade (or SNAT) of outbound traffic, published ports (DNAT),
    hairpin NAT, container-to-container traffic on one bridge (ICC), internal networks and isolation
    between networks.
  - The policy of all networks is recorded on the host (O(record_path)) and the firewall is rendered from the
    whole recorded set, so O(state=merged) adds or updates networks without forgetting the others.
  - With O(backend=nftables) the rules live in one table, C(inet netplumb), that the collection owns and changes
    in one atomic C(nft -j) transaction, only when it differs from the rendering.
  - With O(backend=iptables) the rules live in Docker-style chains (C(NETPLUMB), C(NETPLUMB-FORWARD),
    C(NETPLUMB-ISOLATION-STAGE-1/2), C(NETPLUMB-POSTROUTING)) applied with C(iptables-restore --noflush);
    only these chains are ever flushed, and each jump into them from a built-in chain exists exactly once.
    iptables-nft and iptables-legacy are both handled (the one already in use wins).
  - Both backends have a user chain (nftables C(user) in C(inet netplumb), iptables C(NETPLUMB-USER)),
    evaluated first for forwarded traffic and never flushed by this module, like Docker's C(DOCKER-USER).
  - Traffic into a non-internal network's bridge from another interface is dropped unless it goes to a
    published port, is a reply, or comes from O(config[].cluster_subnets) (Docker's rule), and packets to
    127.0.0.0/8 that do not come from the loopback interface are dropped before NAT (as Docker does).
  - A run after the firewall was flushed or reloaded (C(iptables -F), a firewalld or ufw reload) restores
    the rules and reports a change; a run with nothing to do reports none.
  - Sets the sysctls the policy needs (C(net.ipv4.ip_forward), C(net.ipv6.conf.all.forwarding),
    C(net.ipv4.conf.<bridge>.route_localnet) for bridges with IPv4 ports published on 0.0.0.0 or 127.x, and
    C(net.bridge.bridge-nf-call-iptables) when O(config[].icc=false)), and reports them in C(actions).
  - Works in the network namespace it runs in.
  - For this module the objects of O(state) and O(scope) are the recorded networks; O(scope.prefix) matches
    network names. O(force) has no effect (every recorded network belongs to the collection).
author:
  - netplumb developers (@netplumb)
options:
  config:
    description:
      - The networks. Their identity is O(config[].network).
      - Required for O(state=merged) and O(state=replaced). With O(state=deleted) only O(config[].network) is used.
      - With O(state=merged), options left out keep their recorded value (lists such as O(config[].publish)
        are replaced as a whole); with O(state=replaced) and O(state=overridden) they return to their defaults.
    type: list
    elements: dict
    suboptions:
      network:
        description: Name of the network (letters, digits, C(_.-), at most 64 characters). Used in rule comments.
        type: str
        required: true
      bridge:
        description: The network's bridge interface (it should exist for traffic to flow; it is not created here).
        type: str
      subnets:
        description: The network's subnets, IPv4 and/or IPv6 CIDRs. Subnets of different networks must not overlap.
        type: list
        elements: str
      masquerade:
        description: Masquerade traffic from the subnets that leaves through another interface. Defaults to V(true).
        type: bool
      outbound_address:
        description:
          - SNAT outbound traffic of the subnets of this address's IP version to this address instead of masquerading.
        type: str
      icc:
        description:
          - Allow traffic between containers on the same bridge. Defaults to V(true).
          - V(false) drops bridged traffic, which therefore must pass the IP firewall; the module then sets
            C(net.bridge.bridge-nf-call-iptables=1) and C(net.bridge.bridge-nf-call-ip6tables=1) (the
            C(br_netfilter) kernel module must be loaded). IPv6 is dropped too, also on an IPv4-only network
            (containers always have link-local addresses).
        type: bool
      internal:
        description:
          - No traffic forwarded in or out of the bridge, only between its containers. No masquerade, no published
            ports. Defaults to V(false).
          - As in Docker (whose rules are forward-only), the containers still reach services of the host itself on
            every host address; O(config[].internal_input=gateway) limits them to the network's own gateway.
        type: bool
      internal_input:
        description:
          - For an internal network, which host addresses its containers reach. V(all) (the default, as Docker) -
            every address of the host; V(gateway) - only the addresses of the network's own bridge (its gateway);
            traffic to any other host address is dropped in the input path.
        type: str
        choices: [all, gateway]
        version_added: 0.2.0
      isolate:
        description: Drop traffic between this network and the other networks of the policy. Defaults to V(true).
        type: bool
      hairpin:
        description:
          - A container reaches a published port through the host's address (hairpin NAT, as Docker with
            C(userland-proxy=false)). Defaults to V(true).
          - C(localhost:PORT) on the host reaches IPv4 ports published on V(0.0.0.0) or 127.x either way
            (C(route_localnet) and a 127.0.0.0/8 masquerade on the bridge).
          - A container reaching its own published port also needs its bridge port in hairpin mode
            (O(netplumb.container.veth#module:config[].hairpin=true) on the host end of its veth).
        type: bool
      publish_to_other_networks:
        description:
          - Containers of the other networks of the policy reach this network's published ports through a host
            address (DNAT), past the isolation between networks, as with Docker's default userland proxy. They
            reach only the published ports; the container sees them as its gateway address (their network's
            outbound masquerade), as it would see Docker's proxy.
            Internal networks stay confined. Defaults to V(false).
        type: bool
        version_added: 0.2.0
      foreign_bridge:
        description:
          - The bridge belongs to another runtime that keeps its own firewall rules for it, such as Docker's
            C(docker0) (the fleet role's C(fleet_docker)). Only two things are written for it - the accept of
            traffic from O(config[].cluster_subnets) into the bridge, and the outbound masquerade (or SNAT) of
            the subnets that spares the cluster; published ports, isolation, ICC and the drop of unpublished
            ports stay the runtime's.
          - Not with O(config[].internal), O(config[].publish) or O(config[].icc=false). Defaults to V(false).
        type: bool
        version_added: 0.2.0
      cluster_subnets:
        description:
          - Subnets of the same cluster on other hosts (the other hosts' container subnets, or the whole cluster
            range), IPv4 and/or IPv6 CIDRs.
          - Traffic from them to this network's containers is forwarded (it passes isolation and the drop of
            unpublished ports), and traffic from this network's subnets to them is not masqueraded, so the
            receiver sees the real container address. Everything else is as without it.
          - Not for internal networks. Defaults to none.
        type: list
        elements: str
        version_added: 0.2.0
      dnat_subnets:
        description:
          - Addresses of this network (CIDRs inside its subnets) that another tool publishes with its own DNAT
            rules, such as CNI's C(portmap) plugin for the containers CNI attaches to the bridge.
          - New connections that such a DNAT sent to these addresses are forwarded into the bridge; every other
            new connection from outside still reaches only this collection's published ports.
          - Not for internal networks. Defaults to none.
        type: list
        elements: str
        version_added: 0.2.0
      publish:
        description:
          - Ports published on the host. The whole policy holds at most 10,000 published ports.
        type: list
        elements: dict
        suboptions:
          host_ip:
            description: Host address to publish on. Defaults to V(0.0.0.0) (V(::) for an IPv6 container address).
            type: str
          host_port:
            description: Port on the host (1-65535).
            type: int
            required: true
          container_address:
            description: The container's address; it must be in one of the network's subnets.
            type: str
            required: true
          container_address6:
            description:
              - The container's IPv6 address, for a port published on every address (O(config[].publish[].host_ip)
                V(0.0.0.0) or unset, with an IPv4 O(config[].publish[].container_address)) - the same port is then
                also published on V(::) to this address, as Docker's proxy listens on both. It must be in one of
                the network's IPv6 subnets. Recorded as a second port (host_ip V(::)).
            type: str
            version_added: 0.2.0
          container_port:
            description: Port in the container. Defaults to O(config[].publish[].host_port).
            type: int
          proto:
            description: Protocol.
            type: str
            choices: [tcp, udp, sctp]
            default: tcp
          endpoint:
            description:
              - The endpoint (container) that owns this port. Recorded with the port, so that a later call with
                O(endpoints) changes only the ports of the endpoints it names.
              - Required for every port when O(endpoints) is given, and then one of O(endpoints).
            type: str
            version_added: 0.2.0
  endpoints:
    description:
      - Manage only the published ports of these endpoints (containers), nothing else.
      - For each endpoint named here, its recorded ports become exactly the ones given for it in
        O(config[].publish) (each with O(config[].publish[].endpoint)); an endpoint named here with no port
        in O(config) has all its ports withdrawn, from every network.
      - Ports of other endpoints, ports without an endpoint and every other option of the networks stay as
        recorded, so two calls with different O(endpoints) never remove each other's ports.
      - O(config[]) entries then take only O(config[].network) and O(config[].publish). Withdrawing from a
        network that is not recorded does nothing; publishing on one fails (the network must exist first).
      - Only with O(state=merged). Clashes with ports of other endpoints or networks fail before any change.
    type: list
    elements: str
    version_added: 0.2.0
  backend:
    description:
      - V(nftables), V(iptables), or V(auto) to pick one and say which in RV(backend).
      - V(auto) keeps the backend recorded for this host; otherwise it picks iptables when iptables rules are in
        use (for example a FORWARD policy DROP set by another tool) and nftables when nothing is in the way.
      - A combination that would silently break traffic (another table's FORWARD drop that the nftables table
        cannot override, a drop in the other iptables variant) fails with a message that says what to do.
      - Switching the backend removes what the collection left in the other one.
    type: str
    choices: [auto, nftables, iptables]
    default: auto
  record_path:
    description:
      - Where the policy of all networks is recorded (JSON, replaced by atomic rename). A run holds an exclusive
        lock on C(<record_path>.lock) from reading the record until it is written back.
      - Must be an absolute path of at most 120 letters, digits and C(_./+-) (it is written into a rule comment).
      - One firewall table (C(inet netplumb), or the C(NETPLUMB) chains) holds the rules of one record; a run
        whose O(record_path) differs from the record that owns the rules fails, naming both.
    type: path
    default: /var/lib/netplumb/nat.json
extends_documentation_fragment:
  - netplumb.container.resource
  - netplumb.container.host_lock
  - netplumb.container.attributes
notes:
  - Requires C(nft) (nftables) or C(iptables)/C(ip6tables) with their C(-save)/C(-restore) tools on the managed host.
  - docs/nat.md maps each backend's rules to Docker's own ruleset.
"""

EXAMPLES = r"""
- name: Docker's default bridge, with a published port
  netplumb.container.nat:
    config:
      - network: bridge
        bridge: docker0
        subnets: [172.17.0.0/16]
        publish:
          - host_port: 8080
            container_address: 172.17.0.2
            container_port: 80

- name: An internal network and one without container-to-container traffic, on iptables
  netplumb.container.nat:
    backend: iptables
    config:
      - network: backend
        bridge: br-backend
        subnets: [10.20.0.0/24]
        internal: true
      - network: dmz
        bridge: br-dmz
        subnets: [10.30.0.0/24, "fd00:30::/64"]
        icc: false
        outbound_address: 192.0.2.10

- name: Publish the ports of two containers, leaving every other container's ports as they are
  netplumb.container.nat:
    endpoints: [web1, web2]
    config:
      - network: bridge
        publish:
          - {endpoint: web1, host_port: 8081, container_address: 172.17.0.2, container_port: 80}
          - {endpoint: web2, host_port: 8082, container_address: 172.17.0.3, container_port: 80}

- name: Withdraw every port of container web2 (from every network)
  netplumb.container.nat:
    endpoints: [web2]

- name: Keep exactly these networks in the policy
  netplumb.container.nat:
    config:
      - network: bridge
        bridge: docker0
        subnets: [172.17.0.0/16]
    state: overridden
    scope:
      prefix: ""

- name: Remove the whole policy (the user chain stays if it holds rules)
  netplumb.container.nat:
    state: deleted
    scope:
      prefix: ""
"""

RETURN = r"""
backend:
  description: The backend used.
  returned: always
  type: str
  sample: nftables
backend_reason:
  description: Why O(backend=auto) picked it (or V(requested)).
  returned: always
  type: str
  sample: no other firewall in the way
iptables_variant:
  description: V(nft) or V(legacy), for the iptables backend.
  returned: when the backend is iptables
  type: str
  sample: nft
actions:
  description:
    - The changes made, or in check mode planned, in the order applied - sysctls, the firewall transaction
      (with the chains that differed), then the recorded networks.
  returned: always
  type: list
  elements: dict
  sample:
    - op: update
      kind: sysctl
      name: net.ipv4.ip_forward
      params: {value: "1", was: "0"}
      summary: "update sysctl net.ipv4.ip_forward: value=1, was=0"
    - op: create
      kind: nftables
      name: netplumb
      params: {table: inet netplumb, chains: [dnat, forward], rules: 12}
      summary: "create nftables netplumb: chains=['dnat', 'forward'], rules=12, table=inet netplumb"
    - op: create
      kind: nat network
      name: bridge
      params: {bridge: docker0}
      summary: "create nat network bridge: bridge=docker0"
before:
  description: The listed and the changed networks as they were recorded.
  returned: always
  type: list
  elements: dict
  sample: []
after:
  description: The listed and the changed networks as they are now recorded (in check mode, as they would be).
  returned: always
  type: list
  elements: dict
  sample:
    - name: bridge
      bridge: docker0
      subnets: [172.17.0.0/16]
      masquerade: true
      outbound_address: null
      icc: true
      internal: false
      isolate: true
      hairpin: true
      publish: [{host_ip: 0.0.0.0, host_port: 8080, container_address: 172.17.0.2, container_port: 80, proto: tcp}]
diff:
  description: Before and after of each network that changed, keyed by name.
  returned: when diff mode is on
  type: dict
"""


from ansible_collections.netplumb.container.plugins.module_utils._exit import exit_with, new_module
from ansible_collections.netplumb.container.plugins.module_utils._firewall.engine import run
from ansible_collections.netplumb.container.plugins.module_utils._hostlock import DEFAULT_LOCK_TIMEOUT, host_lock
from ansible_collections.netplumb.container.plugins.module_utils._runner import resource_argument_spec


def main() -> None:
    publish = {
        "host_ip": {"type": "str"},
        "host_port": {"type": "int", "required": True},
        "container_address": {"type": "str", "required": True},
        "container_port": {"type": "int"},
        "proto": {"type": "str", "choices": ["tcp", "udp", "sctp"], "default": "tcp"},
        "endpoint": {"type": "str"},
        "container_address6": {"type": "str"},
    }
    spec = resource_argument_spec(
        {
            "network": {"type": "str", "required": True},
            "bridge": {"type": "str"},
            "subnets": {"type": "list", "elements": "str"},
            "masquerade": {"type": "bool"},
            "outbound_address": {"type": "str"},
            "icc": {"type": "bool"},
            "internal": {"type": "bool"},
            "isolate": {"type": "bool"},
            "hairpin": {"type": "bool"},
            "publish": {"type": "list", "elements": "dict", "options": publish},
            "cluster_subnets": {"type": "list", "elements": "str"},
            "dnat_subnets": {"type": "list", "elements": "str"},
            "internal_input": {"type": "str", "choices": ["all", "gateway"]},
            "publish_to_other_networks": {"type": "bool"},
            "foreign_bridge": {"type": "bool"},
        }
    )
    spec["backend"] = {"type": "str", "choices": ["auto", "nftables", "iptables"], "default": "auto"}
    spec["record_path"] = {"type": "path", "default": "/var/lib/netplumb/nat.json"}
    spec["endpoints"] = {"type": "list", "elements": "str"}
    module = new_module(argument_spec=spec, supports_check_mode=True)

    def cycle() -> dict:
        # The host lock (every module's), then the record lock inside run() for the nat cycle itself.
        with host_lock(module.params.get("lock_timeout", DEFAULT_LOCK_TIMEOUT)):
            return run(module.params, module.check_mode)

    exit_with(module, cycle, "nat networks")


if __name__ == "__main__":
    main()
