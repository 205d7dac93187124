"""The systemd unit of a container's workload (endpoints role, tasks_from: service)."""

from __future__ import annotations

import pytest

from ansible_collections.netplumb.container.plugins.filter.netplumb import endpoints_service
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._workload import service_unit


def directives(content: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in content.splitlines() if "=" in line and not line.startswith("#"))


def test_default_is_an_http_listener_in_the_container():
    unit = service_unit("web-http", "web")
    assert (unit["unit"], unit["path"], unit["state"], unit["port"]) == (
        "web-http.service",
        "/etc/systemd/system/web-http.service",
        "present",
        80,
    )
    d = directives(unit["content"])
    assert d["NetworkNamespacePath"] == "/run/netns/web"
    assert d["ConditionPathExists"] == "/run/netns/web"
    # Serves an empty directory of its own, never the host's files.
    assert d["ExecStart"] == "/usr/bin/python3 -m http.server 80 --directory /run/web-http"
    assert d["RuntimeDirectory"] == "web-http"
    assert (d["User"], d["AmbientCapabilities"]) == ("nobody", "CAP_NET_BIND_SERVICE")
    assert d["WantedBy"] == "multi-user.target"


def test_own_command_port_as_string_and_suffix():
    unit = service_unit("api.service", "c1", port="8080", command=" /usr/bin/socat TCP-LISTEN:81,fork SYSTEM:date ")
    assert unit["unit"] == "api.service" and unit["port"] == 8080
    assert directives(unit["content"])["ExecStart"] == "/usr/bin/socat TCP-LISTEN:81,fork SYSTEM:date"


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"name": "../evil", "container": "web"}, "endpoints_service_name '../evil'"),
        ({"name": "tpl@x", "container": "web"}, "endpoints_service_name 'tpl@x'"),
        ({"name": None, "container": "web"}, "endpoints_service_name None"),
        ({"name": "s", "container": "a/b"}, "endpoints_service_container 'a/b'"),
        ({"name": "s", "container": None}, "endpoints_service_container must be"),
        ({"name": "s", "container": "web", "port": True}, "endpoints_service_port: True"),
        ({"name": "s", "container": "web", "port": 70000}, "endpoints_service_port: 70000"),
        # a line break would smuggle in another directive (ExecStartPre=, User=root)
        ({"name": "s", "container": "web", "command": "true\nUser=root"}, "command: 'true\\nUser=root'"),
        ({"name": "s", "container": "web", "user": "Root;"}, "endpoints_service_user 'Root;'"),
        ({"name": "s", "container": "web", "state": "started"}, "endpoints_service_state: 'started'"),
    ],
)
def test_bad_input_names_the_variable_and_the_value(kwargs, named):
    with pytest.raises(ValidationError) as exc:
        service_unit(**kwargs)
    assert named in exc.value.msg
    assert endpoints_service(**kwargs) == {"error": exc.value.msg}
