"""The route planner and validator: exact actions from fixture states, refused input."""

from __future__ import annotations

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._plan import plan, target_state
from ansible_collections.netplumb.container.plugins.module_utils._route import Route, RouteEngine, preflight

E = RouteEngine()
R = E.resource
OWN = 78


def params(config, state="merged", scope=None, force=False):
    return {"config": config, "state": state, "scope": scope, "force": force}


def have(*routes):
    return {r.key: r for r in routes}


def run(existing, config, state="merged", scope=None, force=False):
    p = params(config, state, scope, force)
    want = E.validate(p)
    after = target_state(R, existing, want, state, E.scope_from(p), force)
    return [str(a) for a in plan(R, existing, after)]


def kernel(dst, **kw):
    """A route as read from the kernel (every field known)."""
    base = {"onlink": False, "scope": "global", "protocol": OWN}
    base.update(kw)
    return Route(dst=dst, **base)


def test_create_ipv4_and_ipv6_in_netns():
    got = run(
        {},
        [
            {"dst": "10.2.0.0/16", "via": "10.9.0.2", "netns": "a"},
            {"dst": "fd00:2::/64", "via": "fd00:9::2", "netns": "a"},
            {"dst": "10.9.1.0/24", "dev": "v0", "netns": "a"},
        ],
    )
    assert got == [
        "create route 10.9.1.0/24 in netns a: dev=v0, metric=0, protocol=78, scope=link, table=254",
        "create route 10.2.0.0/16 in netns a: metric=0, protocol=78, scope=global, table=254, via=10.9.0.2",
        "create route fd00:2::/64 in netns a: metric=1024, protocol=78, scope=global, table=254, via=fd00:9::2",
    ]


def test_ipv6_default_via_link_local_gateway():
    assert run({}, [{"dst": "default", "via": "fe80::1", "dev": "eth0"}]) == [
        "create route ::/0: dev=eth0, metric=1024, protocol=78, scope=global, table=254, via=fe80::1"
    ]


def test_default_route_family_from_via_and_host_route():
    got = run({}, [{"dst": "default", "via": "fd00::1"}, {"dst": "10.0.0.5", "dev": "eth0", "onlink": False}])
    assert got == [
        "create route 10.0.0.5/32: dev=eth0, metric=0, protocol=78, scope=link, table=254",
        "create route ::/0: metric=1024, protocol=78, scope=global, table=254, via=fd00::1",
    ]


def test_onlink_table_metric_src():
    got = run({}, [{"dst": "10.4.0.0/24", "via": "10.4.0.0", "dev": "vx0", "onlink": True, "table": 100, "metric": 7}])
    assert got == [
        "create route 10.4.0.0/24: dev=vx0, metric=7, onlink=True, protocol=78, scope=global, table=100, via=10.4.0.0"
    ]


def test_same_route_plans_nothing_and_kernel_chosen_dev_is_kept():
    existing = have(kernel("10.2.0.0/16", via="10.9.0.2", dev="v0"))
    assert run(existing, [{"dst": "10.2.0.0/16", "via": "10.9.0.2"}]) == []
    assert run(existing, [{"dst": "10.2.0.0/16", "via": "10.9.0.2"}], "replaced") == []


def test_new_gateway_is_a_replace_and_lets_the_kernel_pick_the_device():
    existing = have(kernel("10.2.0.0/16", via="10.9.0.2", dev="v0"))
    assert run(existing, [{"dst": "10.2.0.0/16", "via": "10.9.0.3"}]) == [
        "update route 10.2.0.0/16: metric=0, protocol=78, scope=global, table=254, via=10.9.0.3"
    ]


def test_merged_keeps_src_replaced_drops_it():
    existing = have(kernel("10.2.0.0/16", via="10.9.0.2", dev="v0", src="10.9.0.1"))
    assert run(existing, [{"dst": "10.2.0.0/16", "via": "10.9.0.2"}], "merged") == []
    assert run(existing, [{"dst": "10.2.0.0/16", "via": "10.9.0.2"}], "replaced") == [
        "update route 10.2.0.0/16: dev=v0, metric=0, protocol=78, scope=global, table=254, via=10.9.0.2"
    ]


def test_metric_is_identity():
    existing = have(kernel("10.2.0.0/16", via="10.9.0.2", dev="v0", metric=5))
    assert run(existing, [{"dst": "10.2.0.0/16", "via": "10.9.0.2"}]) == [
        "create route 10.2.0.0/16: metric=0, protocol=78, scope=global, table=254, via=10.9.0.2"
    ]


def test_foreign_route_is_changed_but_stays_foreign():
    existing = have(kernel("10.2.0.0/16", via="10.9.0.2", dev="v0", protocol=3))
    assert run(existing, [{"dst": "10.2.0.0/16", "via": "10.9.0.3"}]) == [
        "update route 10.2.0.0/16: metric=0, protocol=3, scope=global, table=254, via=10.9.0.3"
    ]


def test_blackhole_with_same_identity_is_replaced():
    existing = have(kernel("10.2.0.0/16", type="blackhole", scope="global"))
    assert run(existing, [{"dst": "10.2.0.0/16", "dev": "v0"}]) == [
        "update route 10.2.0.0/16: dev=v0, metric=0, protocol=78, scope=link, table=254"
    ]


def test_overridden_removes_only_own_routes_in_scope():
    existing = have(
        kernel("10.1.0.0/16", via="10.9.0.2", dev="v0", netns="a"),
        kernel("10.2.0.0/16", via="10.9.0.2", dev="v0", netns="a"),
        kernel("10.3.0.0/16", via="10.9.0.2", dev="v0", netns="a", table=100),
        kernel("10.9.0.0/24", dev="v0", netns="a", scope="link", protocol=2, src="10.9.0.1"),
        kernel("10.4.0.0/16", via="10.9.0.2", dev="v0", netns="a", protocol=4),
        kernel("10.5.0.0/16", via="10.9.0.2", dev="v0", netns="b"),
        kernel("10.6.0.0/16", via="10.9.0.2", dev="v0"),
    )
    cfg = [{"dst": "10.1.0.0/16", "via": "10.9.0.2", "netns": "a"}]
    assert run(existing, cfg, "overridden", {"netns": "a", "table": "main"}) == [
        "delete route 10.2.0.0/16 in netns a: metric=0, protocol=78, table=254"
    ]
    assert run(existing, cfg, "overridden", {"netns": "a", "table": None}) == [
        "delete route 10.2.0.0/16 in netns a: metric=0, protocol=78, table=254",
        "delete route 10.3.0.0/16 in netns a: metric=0, protocol=78, table=100",
    ]
    assert run(existing, [], "deleted", {"netns": None, "table": None}) == [
        "delete route 10.6.0.0/16: metric=0, protocol=78, table=254"
    ]


def test_deletes_come_first_gateway_routes_before_device_routes_and_reverse_for_creates():
    existing = have(kernel("10.7.0.0/24", dev="v0", scope="link"), kernel("10.8.0.0/16", via="10.7.0.1", dev="v0"))
    got = run(
        existing, [{"dst": "10.5.0.0/16", "via": "10.6.0.1"}, {"dst": "10.6.0.0/24", "dev": "v1"}], "overridden", {}
    )
    assert got == [
        "delete route 10.8.0.0/16: metric=0, protocol=78, table=254",
        "delete route 10.7.0.0/24: metric=0, protocol=78, table=254",
        "create route 10.6.0.0/24: dev=v1, metric=0, protocol=78, scope=link, table=254",
        "create route 10.5.0.0/16: metric=0, protocol=78, scope=global, table=254, via=10.6.0.1",
    ]


def test_deleted_listed_only_by_identity_and_foreign_needs_force():
    existing = have(kernel("10.2.0.0/16", via="10.9.0.2", dev="v0"), kernel("10.3.0.0/16", dev="v0", protocol=3))
    assert run(existing, [{"dst": "10.2.0.0/16"}, {"dst": "10.9.9.0/24"}], "deleted") == [
        "delete route 10.2.0.0/16: metric=0, protocol=78, table=254"
    ]
    with pytest.raises(ConflictError, match="not created by netplumb"):
        run(existing, [{"dst": "10.3.0.0/16"}], "deleted")
    assert run(existing, [{"dst": "10.3.0.0/16"}], "deleted", force=True) == [
        "delete route 10.3.0.0/16: metric=0, protocol=3, table=254"
    ]


def test_ipv6_metric_zero_means_1024():
    existing = have(kernel("fd00:2::/64", via="fd00:9::2", dev="v0", metric=1024))
    assert run(existing, [{"dst": "fd00:2::/64", "via": "fd00:9::2", "metric": 0}]) == []


def test_labels_name_table_metric_and_netns():
    r = E.validate(params([{"dst": "10.2.0.0/16", "dev": "v0", "table": 100, "metric": 3, "netns": "a"}]))[0]
    assert R.label(r.key) == "10.2.0.0/16 table 100 metric 3 in netns a"


@pytest.mark.parametrize(
    "entry,message",
    [
        ({"dst": "10.0.0.1/24", "dev": "v0"}, "host bits set; the network is 10.0.0.0/24"),
        ({"dst": "10.0.0.0/33", "dev": "v0"}, "not a network in CIDR notation"),
        ({"dst": "nonsense", "dev": "v0"}, "not a network in CIDR notation"),
        ({"dst": "fd00::1/64", "dev": "v0"}, "host bits set"),
        ({"dst": "10.0.0.0/24", "via": "fd00::1"}, "via fd00::1 is not an ipv4 address"),
        ({"dst": "fd00::/64", "via": "10.0.0.1"}, "not an ipv6 address"),
        ({"dst": "10.0.0.0/24", "dev": "v0", "src": "fd00::1"}, "src fd00::1 is not an ipv4"),
        ({"dst": "10.0.0.0/24", "via": "10.0.0.1/32"}, "without prefix length"),
        ({"dst": "default", "dev": "v0"}, "needs via, src or family"),
        ({"dst": "default", "via": "10.0.0.1", "family": "ipv6"}, "not an ipv6 address like dst ::/0"),
        ({"dst": "10.0.0.0/24", "dev": "v0", "family": "ipv6"}, "family ipv6 does not match dst 10.0.0.0/24"),
        ({"dst": "10.0.0.0/24", "dev": "v0", "metric": -1}, "metric must be an integer from 0 to 4294967295"),
        ({"dst": "10.0.0.0/24", "dev": "v0", "metric": 2**32}, "metric must be"),
        ({"dst": "10.0.0.0/24", "dev": "averyveryverylongname"}, "21 bytes long; Linux allows at most 15"),
        ({"dst": "10.0.0.0/24", "dev": "bad/name"}, "characters Linux does not allow"),
        ({"dst": "10.0.0.0/24"}, "needs via"),
        ({"dst": "default", "via": "fe80::1"}, "link-local gateway fe80::1 needs dev"),
        ({"dst": "10.0.0.0/24", "dev": "v0", "table": 0}, "from 1 to 4294967295"),
        ({"dst": "10.0.0.0/24", "dev": "v0", "table": "nosuch"}, "main, default, local or a number"),
        ({"dst": "10.0.0.0/24", "dev": "v0", "scope": "galaxy"}, "scope must be one of"),
        ({"dst": "fd00::/64", "dev": "v0", "scope": "link"}, "IPv6 routes have no scope"),
        ({"dst": "10.0.0.0/24", "via": "10.1.0.1", "scope": "link"}, "cannot have scope link"),
        ({"dst": "10.0.0.0/24", "dev": "v0", "onlink": True}, "onlink needs via"),
        ({"dst": "10.0.0.0/24", "via": "10.1.0.1", "onlink": True}, "onlink needs dev"),
        ({"dst": "10.0.0.0/24", "dev": "v0", "netns": "a/b"}, "not allowed"),
        ({"dev": "v0"}, "dst must be a network"),
    ],
)
def test_bad_entries(entry, message):
    with pytest.raises(ValidationError, match=message):
        E.validate(params([entry]))


def test_duplicate_identity_is_refused():
    with pytest.raises(ValidationError, match="listed more than once"):
        E.validate(params([{"dst": "10.0.0.0/24", "dev": "v0"}, {"dst": "10.0.0.0/24", "via": "10.1.0.1"}]))
    # Another table or metric is another route.
    E.validate(params([{"dst": "10.0.0.0/24", "dev": "v0"}, {"dst": "10.0.0.0/24", "dev": "v0", "metric": 5}]))


def test_overridden_and_deleted_without_config_need_a_scope():
    with pytest.raises(ValidationError, match=r"needs an explicit scope: \{netns"):
        E.validate(params([{"dst": "10.0.0.0/24", "dev": "v0"}], "overridden"))
    with pytest.raises(ValidationError, match="deleted without config"):
        E.validate(params([], "deleted"))
    with pytest.raises(ValidationError, match=r"scope\.table"):
        E.validate(params([], "deleted", {"netns": None, "table": "x"}))
    with pytest.raises(ValidationError, match="non-empty config"):
        E.validate(params([], "merged"))


def test_preflight_missing_netns_and_dev_error_or_warn_in_check_mode():
    cfg = [
        {"dst": "10.0.0.0/24", "dev": "v9", "netns": "a"},
        {"dst": "10.0.1.0/24", "dev": "v9", "netns": "a"},
        {"dst": "10.1.0.0/24", "dev": "x"},
    ]
    want = E.validate(params(cfg))
    links = {"a": {"lo": 1, "v0": 2}, None: {"lo": 1}}
    with pytest.raises(
        ValidationError, match=r"device v9 in netns a does not exist; needed by route 10\.0\.0\.0/24 in"
    ):
        preflight(want, params([]), links)
    assert preflight(want, {**params([]), "check_mode": True}, links) == [
        "device v9 in netns a does not exist (yet); needed by route 10.0.0.0/24 in netns a and 1 more; "
        "assuming an earlier task creates it",
        "device x does not exist (yet); needed by route 10.1.0.0/24; assuming an earlier task creates it",
    ]
    links = {"a": None, None: {"lo": 1, "x": 2}}
    assert preflight(want, {**params([]), "check_mode": True}, links) == [
        "netns a does not exist (yet); needed by route 10.0.0.0/24 in netns a and 1 more; "
        "assuming an earlier task creates it"
    ]
    assert preflight(want, params([], "deleted"), links) == []
