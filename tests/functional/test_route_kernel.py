"""The route engine against the real kernel, only ever inside throwaway namespaces.

Fixture: namespaces <p>-a and <p>-b joined by a veth pair (v0 10.9.0.1 / v1
10.9.0.2, and fd00:9::1 / fd00:9::2); b holds 10.99.0.1 and fd00:99::1 on its
lo, reachable from a only through a route via b.
"""

from __future__ import annotations

import subprocess

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._netlink import Netlink
from ansible_collections.netplumb.container.plugins.module_utils._route import RouteEngine
from ansible_collections.netplumb.container.plugins.module_utils._runner import converge
from ansible_collections.netplumb.container.tests.topology import route_pair


def run(config, state="merged", scope=None, check=False, force=False):
    params = {"config": config, "state": state, "scope": scope, "force": force}
    with Netlink() as nl:
        return converge(RouteEngine(), params, check, nl)


def ip(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


def without_link_local(text):
    """The kernel adds the link-local routes whenever the link's fe80:: address is ready: drop them."""
    return "".join(line + "\n" for line in text.splitlines() if not line.startswith(("fe80:", "local fe80:")))


def routes(ns):
    """Every route of a namespace, all tables, both families (what `ip route` shows), without the link-local ones."""
    return without_link_local(
        ip("-n", ns, "-4", "route", "show", "table", "all") + ip("-n", ns, "-6", "route", "show", "table", "all")
    )


def own(ns):
    """The routes of the collection's protocol, as `ip route` prints them."""
    return "".join(line + "\n" for line in routes(ns).splitlines() if " proto 78 " in line + " ")


def ping(ns, addr):
    # Up to three tries: the first IPv6 echo can be lost while neighbour discovery settles.
    # Without a route, ping fails at once ("Network is unreachable").
    cmd = ["ip", "netns", "exec", ns, "ping", "-c3", "-i0.3", "-W1", "-q", addr]
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


@pytest.fixture
def pair(cleanup_netns):
    p = cleanup_netns
    a, b = f"{p}-a", f"{p}-b"
    for cmd in route_pair(a, b):
        ip(*cmd.split())
    return a, b


def test_check_apply_traffic_idempotent_ipv4_ipv6(pair):
    a = pair[0]
    cfg = [
        {"dst": "10.99.0.0/24", "via": "10.9.0.2", "netns": a},
        {"dst": "fd00:99::/64", "via": "fd00:9::2", "netns": a},
    ]
    assert not ping(a, "10.99.0.1") and not ping(a, "fd00:99::1")
    before = routes(a)

    check = run(cfg, check=True)
    assert check["changed"] and [x["summary"] for x in check["actions"]] == [
        f"create route 10.99.0.0/24 in netns {a}: metric=0, protocol=78, scope=global, table=254, via=10.9.0.2",
        f"create route fd00:99::/64 in netns {a}: metric=1024, protocol=78, scope=global, table=254, via=fd00:9::2",
    ]
    assert routes(a) == before, "check mode must not change the kernel"

    applied = run(cfg)
    assert [x["summary"] for x in applied["actions"]] == [x["summary"] for x in check["actions"]]
    assert "10.99.0.0/24 via 10.9.0.2 dev v0 proto 78" in own(a)
    assert "fd00:99::/64 via fd00:9::2 dev v0 proto 78 metric 1024" in own(a)
    assert ping(a, "10.99.0.1") and ping(a, "fd00:99::1")

    assert run(cfg, check=True)["changed"] is False
    again = run(cfg)
    assert again["changed"] is False and again["actions"] == []
    assert again["after"][0]["dev"] == "v0", "the device the kernel chose, read back"
    assert again["diff"] == {"before": {}, "after": {}}

    gone = run([{"dst": r["dst"], "netns": a} for r in cfg], state="deleted")
    assert len(gone["actions"]) == 2
    assert own(a) == ""
    assert not ping(a, "10.99.0.1") and not ping(a, "fd00:99::1")
    assert routes(a) == before, "after deleted nothing of it is left"
    assert run([{"dst": r["dst"], "netns": a} for r in cfg], state="deleted")["changed"] is False


def test_default_route_and_update_with_diff(pair):
    a, b = pair
    ip("-n", b, "addr", "add", "10.9.1.2/24", "dev", "v1")
    ip("-n", a, "addr", "add", "10.9.1.1/24", "dev", "v0")
    run([{"dst": "default", "via": "10.9.0.2", "netns": a}])
    assert ping(a, "10.99.0.1")
    result = run([{"dst": "default", "via": "10.9.1.2", "netns": a}])
    assert [x["op"] for x in result["actions"]] == ["update"]
    label = f"0.0.0.0/0 in netns {a}"
    assert result["diff"]["before"][label]["via"] == "10.9.0.2"
    assert result["diff"]["after"][label]["via"] == "10.9.1.2"
    assert "default via 10.9.1.2 dev v0 proto 78" in own(a)
    assert ping(a, "10.99.0.1")


def test_ipv6_default_route_via_link_local_gateway(pair):
    a, b = pair
    ip("-n", b, "addr", "add", "fe80::2/64", "dev", "v1", "nodad")
    cfg = [{"dst": "default", "via": "fe80::2", "dev": "v0", "netns": a}]
    assert run(cfg)["changed"]
    assert "default via fe80::2 dev v0 proto 78 metric 1024" in own(a)
    assert ping(a, "fd00:99::1")
    assert run(cfg)["changed"] is False
    run([{"dst": "default", "family": "ipv6", "netns": a}], state="deleted")
    assert own(a) == "" and not ping(a, "fd00:99::1")


def test_overridden_removes_only_own_routes_in_scope(pair):
    a = pair[0]
    ip("-n", a, "route", "add", "10.50.0.0/16", "via", "10.9.0.2")  # by hand: proto boot
    ip("-n", a, "route", "add", "10.51.0.0/16", "via", "10.9.0.2", "proto", "static")
    run(
        [
            {"dst": "10.60.0.0/16", "via": "10.9.0.2", "netns": a},
            {"dst": "10.61.0.0/16", "via": "10.9.0.2", "netns": a},
            {"dst": "10.62.0.0/16", "via": "10.9.0.2", "netns": a, "table": 100},
            {"dst": "fd00:62::/64", "via": "fd00:9::2", "netns": a},
        ]
    )
    kernel_before = without_link_local(ip("-n", a, "route", "show", "table", "all", "proto", "kernel"))
    result = run(
        [{"dst": "10.60.0.0/16", "via": "10.9.0.2", "netns": a}],
        state="overridden",
        scope={"netns": a, "table": "main"},
    )
    assert [x["summary"] for x in result["actions"]] == [
        f"delete route 10.61.0.0/16 in netns {a}: metric=0, protocol=78, table=254",
        f"delete route fd00:62::/64 in netns {a}: metric=1024, protocol=78, table=254",
    ]
    left = routes(a)
    assert "10.60.0.0/16" in left and "10.61.0.0/16" not in left and "fd00:62::" not in left
    assert "10.62.0.0/16 via 10.9.0.2 dev v0 table 100 proto 78" in left, "another table is out of scope"
    assert "10.50.0.0/16 via 10.9.0.2 dev v0" in left and "10.51.0.0/16" in left, "foreign routes stay"
    assert without_link_local(ip("-n", a, "route", "show", "table", "all", "proto", "kernel")) == kernel_before

    result = run([], state="deleted", scope={"netns": a, "table": None})
    assert sorted(x["name"] for x in result["actions"]) == ["10.60.0.0/16", "10.62.0.0/16"]
    assert own(a) == ""
    assert "10.50.0.0/16" in routes(a) and "10.51.0.0/16" in routes(a)


def test_foreign_route_needs_force_to_delete(pair):
    a = pair[0]
    ip("-n", a, "route", "add", "10.50.0.0/16", "via", "10.9.0.2")
    with pytest.raises(Exception, match="not created by netplumb"):
        run([{"dst": "10.50.0.0/16", "netns": a}], state="deleted")
    assert "10.50.0.0/16" in routes(a)
    assert run([{"dst": "10.50.0.0/16", "netns": a}], state="deleted", force=True)["changed"]
    assert "10.50.0.0/16" not in routes(a)


def test_onlink_big_table_metric_src_dev_route_are_idempotent(pair):
    a = pair[0]
    cfg = [
        {"dst": "10.70.0.0/24", "via": "10.77.0.1", "dev": "v0", "onlink": True, "netns": a},
        {"dst": "10.71.0.0/24", "via": "10.9.0.2", "table": 1000, "metric": 7, "netns": a},
        {"dst": "10.72.0.0/24", "dev": "v0", "src": "10.9.0.1", "netns": a},
        {"dst": "fd00:73::/64", "via": "fd00:77::1", "dev": "v0", "onlink": True, "metric": 5, "netns": a},
    ]
    assert len(run(cfg)["actions"]) == 4
    text = own(a)
    assert "10.70.0.0/24 via 10.77.0.1 dev v0 proto 78 onlink" in text
    assert "10.71.0.0/24 via 10.9.0.2 dev v0 table 1000 proto 78 metric 7" in text
    assert "10.72.0.0/24 dev v0 proto 78 scope link src 10.9.0.1" in text
    assert "fd00:73::/64 via fd00:77::1 dev v0 proto 78 metric 5 onlink" in text
    assert run(cfg)["changed"] is False
    assert run(cfg, state="replaced")["changed"] is False
    # replaced drops what an entry leaves out: src here
    result = run([{"dst": "10.72.0.0/24", "dev": "v0", "netns": a}], state="replaced")
    assert result["changed"] and "src" not in ip("-n", a, "route", "show", "10.72.0.0/24")
    run([{"dst": c["dst"], "netns": a, "table": c.get("table"), "metric": c.get("metric")} for c in cfg], "deleted")
    assert own(a) == ""


def test_missing_netns_and_dev_fail_before_any_change_but_warn_in_check_mode(pair):
    a = pair[0]
    cfg = [
        {"dst": "10.80.0.0/24", "via": "10.9.0.2", "netns": a},
        {"dst": "10.81.0.0/24", "dev": "nosuch0", "netns": a},
        {"dst": "10.82.0.0/24", "dev": "eth0", "netns": f"{a}-later"},
    ]
    with pytest.raises(ValidationError, match=f"netns {a}-later does not exist") as err:
        run(cfg)
    assert f"device nosuch0 in netns {a} does not exist" in err.value.msg and not err.value.changed
    assert own(a) == "", "nothing applied"

    check = run(cfg, check=True)
    assert check["changed"] and len(check["actions"]) == 3
    assert check["warnings"] == [
        f"device nosuch0 in netns {a} does not exist (yet); needed by route 10.81.0.0/24 in netns {a}; "
        "assuming an earlier task creates it",
        f"netns {a}-later does not exist (yet); needed by route 10.82.0.0/24 in netns {a}-later; "
        "assuming an earlier task creates it",
    ]
    assert f"{a}-later" not in ip("netns", "list"), "check mode never creates a namespace"


def test_kernel_error_names_the_route(pair):
    a = pair[0]
    with pytest.raises(
        KernelError, match=rf"route 10\.90\.0\.0/24 in netns {a}: create failed: Network is unreachable"
    ):
        run([{"dst": "10.90.0.0/24", "via": "10.200.0.1", "netns": a}])
