#!/usr/bin/python
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: probe
short_description: Try network paths from inside namespaces (ping, TCP) and report what got through
version_added: 0.1.0
description:
  - Runs connectivity checks on the managed host, each from inside a named network namespace (or the host's
    own), in parallel, and reports for each whether the path was reached and whether that is what was expected.
  - Can first start short-lived TCP listeners (C(socat)) in namespaces, which answer a fixed string and end by
    themselves, so that published ports can be checked from elsewhere.
  - Changes nothing that lasts; C(playbooks/verify.yml) uses it to print the connectivity matrix.
  - In check mode it starts and stops no listener; the checks run unless the same call starts listeners.
author:
  - netplumb developers (@netplumb)
options:
  checks:
    description: The paths to try.
    type: list
    elements: dict
    default: []
    suboptions:
      kind:
        description: V(ping) (one ICMP echo, a few tries) or V(tcp) (connect and read the listener's answer).
        type: str
        choices: [ping, tcp]
        default: ping
      netns:
        description: Namespace to start from; the host's own namespace when left out.
        type: str
      target:
        description: IPv4 or IPv6 address to reach (never a name; nothing is looked up in DNS).
        type: str
        required: true
      port:
        description: TCP port (1-65535), for O(checks[].kind=tcp).
        type: int
      expect:
        description: Whether the path should work (V(false) for paths a policy must block).
        type: bool
        default: true
      label:
        description: A name for the path in the report.
        type: str
  listen:
    description: TCP listeners to start before the checks.
    type: list
    elements: dict
    default: []
    suboptions:
      netns:
        description: Namespace to listen in; the host's own when left out.
        type: str
      port:
        description: TCP port (1-65535).
        type: int
        required: true
      seconds:
        description: How long the listener lives, 1 to 86400 seconds.
        type: int
        default: 60
  stop_listeners:
    description: End every listener that earlier runs of this module started on the host (before the checks).
    type: bool
    default: false
  fail_on_unexpected:
    description: Fail when any check's outcome differs from O(checks[].expect).
    type: bool
    default: true
requirements:
  - iproute2 (C(ip netns exec)), C(ping), and C(socat) for TCP checks and listeners
extends_documentation_fragment:
  - netplumb.container.attributes.INFO
"""

EXAMPLES = r"""
- name: The container web reaches its gateway, and must not reach db
  netplumb.container.probe:
    checks:
      - netns: web
        target: 172.17.0.1
      - netns: web
        target: 172.18.0.2
        expect: false
        label: db (isolated)

- name: Serve port 80 in web for half a minute
  netplumb.container.probe:
    listen:
      - netns: web
        port: 80
        seconds: 30
"""

RETURN = r"""
results:
  description: One entry per check, with its options and the outcome.
  returned: always
  type: list
  elements: dict
  sample:
    - {kind: ping, netns: web, target: 172.17.0.1, expect: true, reached: true, passed: true, label: gateway}
failed_checks:
  description: How many checks had another outcome than expected.
  returned: always
  type: int
  sample: 0
stopped_listeners:
  description: How many listeners O(stop_listeners) ended.
  returned: always
  type: int
  sample: 2
"""


from ansible_collections.netplumb.container.plugins.module_utils._exit import exit_with, new_module
from ansible_collections.netplumb.container.plugins.module_utils._probe import run_probe


def main() -> None:
    check_spec = {
        "kind": {"type": "str", "choices": ["ping", "tcp"], "default": "ping"},
        "netns": {"type": "str"},
        "target": {"type": "str", "required": True},
        "port": {"type": "int"},
        "expect": {"type": "bool", "default": True},
        "label": {"type": "str"},
    }
    listen_spec = {
        "netns": {"type": "str"},
        "port": {"type": "int", "required": True},
        "seconds": {"type": "int", "default": 60},
    }
    module = new_module(
        argument_spec={
            "checks": {"type": "list", "elements": "dict", "options": check_spec, "default": []},
            "listen": {"type": "list", "elements": "dict", "options": listen_spec, "default": []},
            "stop_listeners": {"type": "bool", "default": False},
            "fail_on_unexpected": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    exit_with(module, lambda: run_probe(module.params, module.check_mode))


if __name__ == "__main__":
    main()
