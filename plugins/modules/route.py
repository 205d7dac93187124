#!/usr/bin/python
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: route
short_description: IPv4 and IPv6 routes in the host or in named network namespaces
version_added: 0.1.0
description:
  - Adds, changes and deletes unicast routes (like C(ip route add/replace/del)) on the managed host
    or inside named network namespaces, many in one call, through netlink (pyroute2), without forking.
  - A route's identity is O(config[].netns), O(config[].table), O(config[].dst) and O(config[].metric),
    as in the kernel. Two entries that differ only in gateway or device are the same route; changing
    them replaces the route in place.
  - Every route this module creates carries the routing protocol number C(78) (C(ip route) shows
    C(proto 78)). That number is the ownership mark. O(state=overridden) and O(state=deleted) without
    O(config) only ever remove routes with protocol 78, and only inside O(scope). Routes of the kernel,
    of DHCP, of routing daemons or added by hand are never removed that way. To see the name instead of
    the number, add C(78 netplumb) to C(/etc/iproute2/rt_protos.d/netplumb.conf).
  - A listed route that exists but was not made by this collection (another protocol) may be changed
    by V(merged) or V(replaced); it keeps its protocol, so it stays foreign.
  - In check mode a namespace or device that does not exist yet is a warning, not an error, so that a
    play whose earlier tasks create them can be checked as a whole.
author:
  - netplumb developers (@netplumb)
options:
  config:
    description:
      - The routes. Required for O(state=merged) and O(state=replaced).
      - With O(state=deleted) only the identity (O(config[].dst), O(config[].netns), O(config[].table),
        O(config[].metric)) of each entry counts.
    type: list
    elements: dict
    suboptions:
      dst:
        description:
          - The destination network in CIDR notation (V(10.1.0.0/16), V(fd00:1::/64)); an address
            without prefix length is a host route (V(/32) or V(/128)).
          - V(default) is V(0.0.0.0/0) or V(::/0); the family comes from O(config[].via),
            O(config[].src) or O(config[].family).
          - A network with host bits set (V(10.1.0.1/16)) is refused.
        type: str
        required: true
      family:
        description: Address family; only needed for O(config[].dst=default) without gateway or source.
        type: str
        choices: [ipv4, ipv6]
      via:
        description: The gateway address, of the same family as O(config[].dst). Without it the route is on-link.
        type: str
      dev:
        description:
          - The outgoing interface (at most 15 bytes). Needs to exist when the module runs.
          - When left out with O(config[].via), the kernel picks the device that reaches the gateway.
        type: str
      onlink:
        description:
          - Treat the gateway as directly reachable on O(config[].dev) even when no address of the device
            covers it (flag C(onlink); used for VXLAN overlays). Needs O(config[].via) and O(config[].dev).
          - Left out, V(merged) keeps the current value and V(replaced) means V(false).
        type: bool
      metric:
        description:
          - Route priority, part of the identity. Left out, V(0) for IPv4 and V(1024) for IPv6, the kernel's
            defaults. IPv6 has no metric 0; V(0) means V(1024).
        type: int
      table:
        description:
          - The routing table, part of the identity. V(main), V(default), V(local) or a number from 1 to 4294967295.
        type: raw
        default: main
      scope:
        description:
          - The route's scope attribute (what C(ip route ... scope) sets). Not to be confused with the
            module's O(scope) option, which selects the routes V(overridden) may remove.
          - Left out, V(link) for an IPv4 route without gateway and V(global) otherwise, as C(ip route) does.
            IPv6 routes are always V(global). V(universe) is another name for V(global).
        type: str
        choices: [global, universe, site, link, host]
      src:
        description: The preferred source address (C(ip route ... src)); must be an address of the namespace.
        type: str
      netns:
        description:
          - The named namespace (C(/run/netns/<name>)) the route is in. Left out, the namespace the module
            runs in (the host).
          - The namespace must exist; it is never created.
        type: str
  scope:
    description:
      - The routes O(state=overridden), and O(state=deleted) without O(config), may remove.
        Required for those. Only routes with this collection's protocol (78) are ever in scope.
      - Not to be confused with the route attribute O(config[].scope).
      - Listed routes outside the scope are still created or changed; the scope only limits which
        unlisted routes are removed.
    type: dict
    suboptions:
      netns:
        description: The namespace whose routes are in scope. Left out, the namespace the module runs in.
        type: str
      table:
        description: Only routes in this table. Left out, every table.
        type: raw
extends_documentation_fragment:
  - netplumb.container.resource
  - netplumb.container.host_lock
  - netplumb.container.attributes
notes:
  - One link dump and one route dump per address family are read from each namespace involved.
  - Routes of other types than unicast (blackhole, local, ...) are read and shown, and are replaced
    by a unicast route when a listed route has their identity.
"""

EXAMPLES = r"""
- name: Reach the subnets of two other hosts through their underlay addresses (host-gw)
  netplumb.container.route:
    config:
      - dst: 10.244.2.0/24
        via: 198.18.0.12
      - dst: 10.244.3.0/24
        via: 198.18.0.13

- name: Default routes inside a container namespace, IPv4 and IPv6
  netplumb.container.route:
    config:
      - dst: default
        via: 172.17.0.1
        netns: web1
      - dst: default
        via: fd00:17::1
        netns: web1

- name: A VXLAN peer's subnet, gateway on the overlay device without an address covering it
  netplumb.container.route:
    config:
      - dst: 10.244.4.0/24
        via: 10.244.4.0
        dev: flannel.1
        onlink: true

- name: Exactly these routes in table 100 of the host; other routes of this collection there go
  netplumb.container.route:
    config:
      - dst: 10.244.2.0/24
        via: 198.18.0.12
        table: 100
    state: overridden
    scope:
      table: 100

- name: Remove every route this collection made in namespace web1
  netplumb.container.route:
    state: deleted
    scope:
      netns: web1
"""

RETURN = r"""
actions:
  description: The changes made, or in check mode planned, in the order applied.
  returned: always
  type: list
  elements: dict
  sample:
    - op: create
      kind: route
      name: 10.244.2.0/24
      params: {table: 254, metric: 0, protocol: 78, scope: global, via: 198.18.0.12}
      summary: "create route 10.244.2.0/24: metric=0, protocol=78, scope=global, table=254, via=198.18.0.12"
before:
  description: The listed and the changed routes as they were.
  returned: always
  type: list
  elements: dict
  sample: []
after:
  description:
    - The listed and the changed routes as they are now (in check mode, as they would be).
    - C(dev) is null for a changed route whose device the kernel picks (O(config[].via) without
      O(config[].dev)); the next run reads it back.
  returned: always
  type: list
  elements: dict
  sample:
    - netns: null
      table: 254
      dst: 10.244.2.0/24
      metric: 0
      via: 198.18.0.12
      dev: ul0
      onlink: false
      scope: global
      src: null
      protocol: 78
      type: unicast
diff:
  description:
    - Before and after of each route that changed, keyed by destination, plus table and metric when
      they are not the defaults, plus the namespace.
  returned: when diff mode is on
  type: dict
"""


from ansible_collections.netplumb.container.plugins.module_utils._exit import new_module
from ansible_collections.netplumb.container.plugins.module_utils._route import RouteEngine
from ansible_collections.netplumb.container.plugins.module_utils._runner import resource_argument_spec, run_module


def main() -> None:
    spec = resource_argument_spec(
        {
            "dst": {"type": "str", "required": True},
            "family": {"type": "str", "choices": ["ipv4", "ipv6"]},
            "via": {"type": "str"},
            "dev": {"type": "str"},
            "onlink": {"type": "bool"},
            "metric": {"type": "int"},
            "table": {"type": "raw", "default": "main"},
            "scope": {"type": "str", "choices": ["global", "universe", "site", "link", "host"]},
            "src": {"type": "str"},
            "netns": {"type": "str"},
        },
        scope_options={"netns": {"type": "str"}, "table": {"type": "raw"}},
    )
    module = new_module(argument_spec=spec, supports_check_mode=True)
    run_module(module, RouteEngine())


if __name__ == "__main__":
    main()
