# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A workload of a container run by systemd: the unit that joins the container's network namespace."""

from __future__ import annotations

from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_command_line,
    check_netns_name,
    check_unit_name,
    check_user_name,
    parse_port,
)

UNIT_DIR = "/etc/systemd/system"
STATES = ("present", "absent")


def service_unit(
    name: Any, container: Any, port: Any = 80, command: Any = None, user: Any = "nobody", state: Any = "present"
) -> dict[str, Any]:
    """{unit, path, state, content}: a service in /run/netns/<container>, by default an HTTP listener on port."""
    unit = check_unit_name(name, "endpoints_service_name")
    if state not in STATES:
        raise ValidationError(f"endpoints_service_state: {state!r} is not one of {', '.join(STATES)}")
    netns = check_netns_name(container, "endpoints_service_container")
    number = parse_port(port, "endpoints_service_port")
    if command is None or command == "":
        # An empty directory of its own: never serve the host's files.
        command = f"/usr/bin/python3 -m http.server {number} --directory /run/{unit}"
    line = check_command_line(command, "endpoints_service_command")
    login = check_user_name(user, "endpoints_service_user")
    content = "\n".join(
        [
            "# Made by netplumb.container (endpoints role, service.yml); edits are overwritten.",
            "[Unit]",
            f"Description={unit}: a workload in container {netns}",
            # The namespace is gone after a reboot until the endpoints role runs again: skip, do not fail.
            f"ConditionPathExists=/run/netns/{netns}",
            "After=network.target",
            "",
            "[Service]",
            f"NetworkNamespacePath=/run/netns/{netns}",
            f"ExecStart={line}",
            f"User={login}",
            "AmbientCapabilities=CAP_NET_BIND_SERVICE",
            f"RuntimeDirectory={unit}",
            "Restart=on-failure",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )
    return {
        "unit": f"{unit}.service",
        "path": f"{UNIT_DIR}/{unit}.service",
        "state": state,
        "netns": netns,
        "port": number,
        "content": content,
    }
