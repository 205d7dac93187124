"""Default address pools: the pure choice (routes, records, exhaustion) and the host record it keeps."""

from __future__ import annotations

import hashlib
import ipaddress
import json

import pytest

from ansible_collections.netplumb.container.plugins.filter.netplumb import bridge_network_check
from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._ipam import (
    choose_subnets,
    parse_default_pools,
    run_default_pools,
)
from ansible_collections.netplumb.container.plugins.module_utils._networks import normalise_networks
from ansible_collections.netplumb.container.plugins.module_utils._store import StoreError

DOCKER = parse_default_pools(None)
HOST = ["192.0.2.0/24", "127.0.0.0/8", "127.0.0.1/32", "0.0.0.0/0", "10.0.0.0/8"]


def nets(*values):
    return [ipaddress.ip_network(v) for v in values]


def choose(names, routes=None, records=None, exclude=(), pools=None):
    routes = HOST if routes is None else routes
    pools = DOCKER if pools is None else pools
    chosen, actions = choose_subnets(
        pools,
        list(names),
        {k: ipaddress.ip_network(v) for k, v in (records or {}).items()},
        nets(*routes),
        nets(*exclude),
    )
    return {k: str(v) for k, v in chosen.items()}, actions


def test_docker_order_and_default_route_ignored():
    chosen, actions = choose(["a", "b"])
    assert chosen == {"a": "172.17.0.0/16", "b": "172.18.0.0/16"}
    assert [(a.op, a.name, a.params["subnet"]) for a in actions] == [
        ("create", "a", "172.17.0.0/16"),
        ("create", "b", "172.18.0.0/16"),
    ]


@pytest.mark.parametrize(
    ("routes", "first"),
    [
        (["172.17.0.0/16"], "172.18.0.0/16"),
        (["172.17.5.0/24"], "172.18.0.0/16"),  # a smaller route inside the slice
        (["172.16.0.0/12"], "192.168.0.0/20"),  # a larger route over all the 172 pools
        (["172.17.0.1/32"], "172.18.0.0/16"),  # a local-table host route
        (["172.16.0.0/12", "192.168.0.0/20", "192.168.32.0/19"], "192.168.16.0/20"),
    ],
)
def test_routes_are_avoided(routes, first):
    assert choose(["a"], routes=HOST + routes)[0]["a"] == first


def test_stable_with_a_record_even_over_its_own_route():
    chosen, actions = choose(["a", "b"], routes=[*HOST, "172.20.0.0/16"], records={"a": "172.20.0.0/16"})
    assert chosen == {"a": "172.20.0.0/16", "b": "172.17.0.0/16"} and [a.name for a in actions] == ["b"]


def test_other_networks_recorded_and_given_are_avoided():
    chosen, _actions = choose(["c"], records={"old": "172.17.0.0/16"}, exclude=["172.18.0.0/16", "fd00::/64"])
    assert chosen == {"c": "172.19.0.0/16"}


def test_record_overlapping_a_given_subnet_is_refused():
    with pytest.raises(ConflictError, match=r"network a holds 172\.17\.0\.0/16 .*overlaps the subnet 172\.17\.3\.0/24"):
        choose(["a"], records={"a": "172.17.0.0/16"}, exclude=["172.17.3.0/24"])


def test_exhausted_pools_name_the_variable():
    pools = parse_default_pools([{"base": "100.64.0.0/23", "size": 24}])
    assert choose(["a", "b"], pools=pools)[0] == {"a": "100.64.0.0/24", "b": "100.64.1.0/24"}
    with pytest.raises(ConflictError, match=r"bridge_network_default_pools: .*100\.64\.0\.0/23 /24.* network c"):
        choose(["a", "b", "c"], pools=pools)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ([{"base": "172.17.0.1/16", "size": 16}], r"\[0\]\.base '172\.17\.0\.1/16' is not a valid subnet"),
        ([{"base": "fd00::/48", "size": 64}], r"not an IPv4 subnet"),
        ([{"base": "10.0.0.0/16", "size": 8}], r"\[0\]\.size: 8 is out of range \(16-30\)"),
        ([{"base": "10.0.0.0/16", "size": True}], r"size: True is not a whole number"),
        ([{"size": 24}], r"needs a base"),
        ("10.0.0.0/8", r"not a non-empty list"),
        ([], r"not a non-empty list"),
    ],
)
def test_bad_pools(raw, match):
    with pytest.raises(ValidationError, match=match):
        parse_default_pools(raw)


@pytest.fixture
def run(tmp_path):
    def _run(names, check=False, routes=None, state="merged", **kw):
        routes = HOST if routes is None else routes
        spec = {"networks": names, **kw}
        return run_default_pools(spec, str(tmp_path / "ipam"), check, routes=lambda: nets(*routes), state=state)

    _run.path = tmp_path / "ipam" / "_default_pools.json"
    return _run


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def test_recorded_and_returned_again(run):
    first = run(["a", "b"])
    assert first["changed"] and first["subnets"] == {"a": "172.17.0.0/16", "b": "172.18.0.0/16"}
    data = json.loads(run.path.read_text())
    assert data["format"] == "netplumb.container/ipam-default-pools"
    assert data["subnets"] == first["subnets"]
    # the bridges now exist: their routes do not move them
    again = run(["b", "a"], routes=[*HOST, "172.17.0.0/16", "172.18.0.0/16", "172.17.0.1/32"])
    assert not again["changed"] and again["subnets"] == first["subnets"] and again["actions"] == []
    # another network later: avoids the recorded ones even when their bridges are gone
    assert run(["c"])["subnets"] == {"c": "172.19.0.0/16"}
    assert json.loads(run.path.read_text())["subnets"] == {**first["subnets"], "c": "172.19.0.0/16"}


def test_deleted_forgets_and_the_slice_is_free_again(run, tmp_path):
    run(["a", "b"])
    checked = run(["a", "zz"], check=True, state="deleted")
    assert checked["changed"] and checked["subnets"] == {"a": "172.17.0.0/16"}
    assert json.loads(run.path.read_text())["subnets"] == {"a": "172.17.0.0/16", "b": "172.18.0.0/16"}
    gone = run(["a", "zz"], state="deleted")
    assert gone["subnets"] == {"a": "172.17.0.0/16"} and [a["op"] for a in gone["actions"]] == ["delete"]
    assert json.loads(run.path.read_text())["subnets"] == {"b": "172.18.0.0/16"}
    assert run(["c"])["subnets"] == {"c": "172.17.0.0/16"}
    run(["b", "c"], state="deleted")
    assert not (tmp_path / "ipam").exists()  # the last record gone: file, lock and empty directory
    assert not run(["b"], state="deleted")["changed"]
    assert not (tmp_path / "ipam").exists()


def test_check_mode_writes_nothing(run):
    checked = run(["a"], check=True)
    assert checked["changed"] and checked["subnets"] == {"a": "172.17.0.0/16"}
    assert not run.path.parent.exists()
    assert run(["a"]) == checked


def test_errors_change_nothing(run):
    run(["a"])
    before = digest(run.path)
    with pytest.raises(ConflictError):
        run(["b", "c"], pools=[{"base": "10.99.0.0/24", "size": 24}])
    with pytest.raises(ValidationError, match="listed more than once"):
        run(["b", "b"])
    with pytest.raises(ValidationError, match=r"subnets\.networks 'bad name'"):
        run(["bad name"])
    assert digest(run.path) == before


def test_foreign_record_is_refused_not_reset(run):
    run.path.parent.mkdir()
    run.path.write_text('{"subnets": {}}')
    with pytest.raises(StoreError, match=r"not a netplumb\.container/ipam-default-pools file"):
        run(["a"])
    assert run.path.read_text() == '{"subnets": {}}'


def test_role_filter_pending_then_completed():
    raw = [
        {"name": "a"},
        {"name": "b", "subnet": "172.17.0.0/16", "subnet6": "fd00:b::/64"},
        {"name": "c", "mtu": 1400},
    ]
    checked = bridge_network_check(raw)
    assert checked["pending"] == ["a", "c"] and checked["exclude"] == ["172.17.0.0/16"]
    assert "bridge_config" not in checked["networks"][0]
    done = bridge_network_check(raw, assigned={"a": "172.18.0.0/16", "c": "172.19.0.0/16"})
    assert done["pending"] == [] and "error" not in done
    a, b, c = done["networks"]
    assert a["bridge_config"] == {"name": "a", "addresses": ["172.18.0.1/16"], "mtu": 1500}
    assert a["nat_config"]["subnets"] == ["172.18.0.0/16"] and c["gateway"] == "172.19.0.1"
    assert b["subnet"] == "172.17.0.0/16"  # a given subnet wins over any assignment
    assert done["completed"] == [
        {"name": "a", "subnet": "172.18.0.0/16"},
        raw[1],
        {**raw[2], "subnet": "172.19.0.0/16"},
    ]
    assert raw[0] == {"name": "a"}  # the variable itself is not changed


@pytest.mark.parametrize("key", ["gateway", "ip_range", "aux_addresses"])
def test_subnet_parts_without_subnet(key):
    value = {"r": "10.0.0.5"} if key == "aux_addresses" else "10.0.0.1"
    assert bridge_network_check([{"name": "a", key: value}]) == {
        "error": f"bridge_network_networks[0].{key} needs bridge_network_networks[0].subnet "
        "(a subnet from the default pools is chosen on the host)"
    }


def test_other_callers_still_need_a_subnet():
    with pytest.raises(ValidationError, match=r"endpoints_networks\[0\]\.subnet is required"):
        normalise_networks([{"name": "a"}], "endpoints_networks")
    assert bridge_network_check([{"name": "a"}, {"name": "a"}])["error"] == (
        "bridge_network_networks: two networks have the name 'a'"
    )


def test_remove_stores_leaves_no_lock_of_a_network_never_stored(tmp_path):
    from ansible_collections.netplumb.container.plugins.module_utils._ipam import ARGUMENT_SPEC, run_ipam

    params = {key: spec.get("default") for key, spec in ARGUMENT_SPEC.items()}
    state_dir = tmp_path / "ipam"
    params.update(networks=[{"name": "x", "pools": None}], endpoints=[], state="deleted", remove_stores=True)
    params["state_dir"] = str(state_dir)
    assert not run_ipam(params, False)["changed"]
    assert not state_dir.exists()


def _choose_in_process(state_dir: str, name: str, out) -> None:
    result = run_default_pools({"networks": [name]}, state_dir, False, routes=lambda: nets(*HOST))
    out.put(result["subnets"][name])


def test_two_runs_at_once_never_choose_the_same_subnet(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_choose_in_process, args=(str(tmp_path), f"n{i}", out)) for i in range(6)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0] * 6
    chosen = sorted(out.get(timeout=10) for _proc in procs)
    assert chosen == sorted(f"172.{17 + i}.0.0/16" for i in range(6))
    assert sorted(json.loads((tmp_path / "_default_pools.json").read_text())["subnets"].values()) == chosen


def test_endpoints_preflight_accepts_a_network_without_subnet():
    from ansible_collections.netplumb.container.plugins.filter.netplumb import endpoints_check

    networks = [{"name": "a"}, {"name": "b", "subnet6": "fd00:b::/64", "internal": "no"}]
    containers = [{"name": "web", "networks": ["a", "b"], "publish": ["8080:80"]}, {"name": "db", "networks": ["b"]}]
    plan = endpoints_check(containers, networks, "false", "no", "yes")
    assert "error" not in plan, plan
    assert plan["pending"] == ["a", "b"] and plan["purge"] is False and plan["force"] is False
    # what is known before the choice: the IPv6 pool, and that web's default route goes via a
    pools = {net["name"]: net["pools"] for net in plan["ipam"]["networks"]}
    assert pools == {"a": [], "b": [{"subnet": "fd00:b::/64", "gateway": "fd00:b::1"}]}
    assert [(v["network"], v["gateway"]) for v in plan["veth"] if v["endpoint"] == "web"] == [("a", True), ("b", False)]

    done = endpoints_check(containers, networks, assigned={"a": "172.18.0.0/16", "b": "172.19.0.0/16"})
    assert done["pending"] == []
    pools = {net["name"]: [p["subnet"] for p in net["pools"]] for net in done["ipam"]["networks"]}
    assert pools == {"a": ["172.18.0.0/16"], "b": ["172.19.0.0/16", "fd00:b::/64"]}


@pytest.mark.parametrize(
    "container",
    [
        {"name": "web", "networks": ["a"], "address": "172.18.0.5"},
        {"name": "web", "networks": [{"name": "a", "address": "10.1.2.3"}]},
    ],
)
def test_fixed_ipv4_address_needs_a_configured_subnet(container):
    from ansible_collections.netplumb.container.plugins.filter.netplumb import endpoints_check

    address = container.get("address") or container["networks"][0]["address"]
    assert endpoints_check([container], [{"name": "a"}]) == {
        "error": f"container web: address {address} on network a: user specified IP address is supported only "
        "when connecting to networks with user configured subnets (network a has no subnet: it is chosen from "
        "bridge_network_default_pools on the host; give it one)"
    }


def test_fixed_address_once_the_subnet_is_chosen_and_ipv6_before():
    from ansible_collections.netplumb.container.plugins.filter.netplumb import endpoints_check

    networks = [{"name": "a", "subnet6": "fd00:a::/64"}]
    # IPv6 is configured: a fixed IPv6 address is fine before the IPv4 subnet is chosen
    ipv6 = [{"name": "web", "networks": [{"name": "a", "address": "fd00:a::7"}]}]
    assert endpoints_check(ipv6, networks)["pending"] == ["a"]
    outside = endpoints_check(ipv6, [{"name": "a"}])["error"]
    assert outside == (
        "endpoints_containers: network a: endpoint web: address fd00:a::7 has no IPv6 pool in this network"
    )
    bad = endpoints_check([{"name": "web", "address": "not-an-ip"}], networks)["error"]
    assert "not-an-ip" in bad and "container web" in bad, bad


@pytest.mark.parametrize(
    ("pools", "message"),
    [
        ("x", "bridge_network_default_pools: 'x' is not a non-empty list of {base, size} pools"),
        ([], "bridge_network_default_pools: [] is not a non-empty list of {base, size} pools"),
        (
            [{"base": "10.99.0.1/16", "size": 24}],
            "bridge_network_default_pools[0].base '10.99.0.1/16' is not a valid subnet: 10.99.0.1/16 has host bits "
            "set (did you mean 10.99.0.0/16?)",
        ),
        ([{"base": "10.99.0.0/16", "size": 8}], "bridge_network_default_pools[0].size: 8 is out of range (16-30)"),
        (
            [{"base": "10.99.0.0/16", "size": "yes"}],
            "bridge_network_default_pools[0].size: 'yes' is not a whole number",
        ),
        (
            [{"base": "fd00::/48", "size": 64}],
            "bridge_network_default_pools[0].base: fd00::/48 is not an IPv4 subnet (default pools are IPv4)",
        ),
    ],
)
def test_bad_default_pools_are_refused_by_the_preflight(pools, message):
    assert bridge_network_check([{"name": "a"}], pools=pools) == {"error": message}


def test_default_pools_given_as_strings_are_read():
    assert bridge_network_check([{"name": "a"}], pools=[{"base": "10.99.0.0/16", "size": "24"}])["pending"] == ["a"]


def test_verify_reads_networks_with_the_hosts_choice():
    from ansible_collections.netplumb.container.plugins.filter.netplumb import bridge_networks
    from ansible_collections.netplumb.container.plugins.module_utils._verify import outside_checks

    nets = bridge_networks([{"name": "a"}], assigned={"a": "172.18.0.0/16"})
    assert nets[0]["gateway"] == "172.18.0.1" and nets[0]["subnet"] == "172.18.0.0/16"
    host = {
        "inventory_hostname": "h1",
        "netplumb_lab_underlay_address": "198.18.0.11",
        "verify_paths": {"results": []},
        "bridge_network_networks": [{"name": "a"}],
        "endpoints_containers": [{"name": "web", "publish": ["8080:80"]}],
    }
    assert [(c["target"], c["port"]) for c in outside_checks([host])] == [("198.18.0.11", 8080)]


def test_a_network_without_subnet_that_nothing_chooses_for_is_refused():
    from ansible_collections.netplumb.container.plugins.filter.netplumb import endpoints_check

    containers = [{"name": "web", "networks": ["b"]}]
    networks = [{"name": "a"}, {"name": "b"}]
    assert endpoints_check(containers, networks, choosing=["a"]) == {
        "error": "endpoints_networks: network b has no subnet, and no subnet is chosen for it on the host "
        "(bridge_network_networks does not list it without one); give it a subnet"
    }
    assert endpoints_check(containers, networks, choosing=["a", "b"])["pending"] == ["a", "b"]
    # chosen already: nothing pending, nothing to refuse
    done = endpoints_check(containers, networks, assigned={"a": "172.18.0.0/16", "b": "172.19.0.0/16"}, choosing=[])
    assert done["pending"] == [] and "error" not in done
