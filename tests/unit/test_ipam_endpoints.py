"""Endpoint mode through run_endpoints with a temp state_dir: results, states, and every error changing nothing."""

from __future__ import annotations

import hashlib
import json

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _ipam
from ansible_collections.netplumb.container.plugins.module_utils._errors import (
    ConflictError,
    NetplumbError,
    ValidationError,
)
from ansible_collections.netplumb.container.plugins.module_utils._ipam import run_endpoints
from ansible_collections.netplumb.container.plugins.module_utils._store import StoreError


@pytest.fixture(autouse=True)
def _no_live_addresses(monkeypatch):
    """Unit tests never read the machine's kernel (other runs' interfaces live there): nothing is live."""
    monkeypatch.setattr(_ipam, "read_live_owned", list)


@pytest.fixture
def run(tmp_path):
    def _run(config=None, check=False, **kw):
        params = {"network": "net1", "state_dir": str(tmp_path), "config": config, "state": "merged"}
        if "pools" not in kw:
            params["subnet"] = "10.0.0.0/24"
        params.update(kw)
        return run_endpoints(params, check)

    _run.path = tmp_path / "net1.json"
    return _run


def eps(*names):
    return [{"endpoint": n} for n in names]


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def test_allocate_result_shape(run):
    r = run(eps("a", "b"))
    assert r["changed"]
    assert r["allocations"]["a"] == {
        "netns": "a",
        "addresses": ["10.0.0.2/24"],
        "ipv4": "10.0.0.2",
        "prefixlen": 24,
        "gateway": "10.0.0.1",
        "mac": "02:42:0a:00:00:02",
    }
    assert [a["summary"] for a in r["actions"]] == [
        "create ipam pool 10.0.0.0/24: network=net1",
        "create ipam a: addresses=['10.0.0.2']",
        "create ipam b: addresses=['10.0.0.3']",
    ]
    assert r["diff"]["before"] == {} and set(r["diff"]["after"]) == {"a", "b"}
    data = json.loads(run.path.read_text())
    assert data["format"] == "netplumb.container/ipam" and data["version"] == 1
    again = run(eps("b", "a"))
    assert not again["changed"] and again["actions"] == [] and again["allocations"] == r["allocations"]


def test_check_mode_same_plan_writes_nothing(tmp_path):
    state_dir = tmp_path / "not-yet"
    params = {"network": "n", "subnet": "10.0.0.0/24", "config": eps("a"), "state_dir": str(state_dir)}
    checked = run_endpoints(params, True)
    assert not state_dir.exists()
    applied = run_endpoints(params, False)
    assert checked == applied
    assert run_endpoints(params, True)["changed"] is False


def test_dual_stack(run):
    pools = [{"subnet": "10.0.0.0/24"}, {"subnet": "fd00:1::/64", "gateway": "fd00:1::ffff"}]
    r = run(eps("a"), pools=pools)
    a = r["allocations"]["a"]
    assert a["addresses"] == ["10.0.0.2/24", "fd00:1::1/64"]
    assert (a["ipv6"], a["prefixlen6"], a["gateway6"]) == ("fd00:1::1", 64, "fd00:1::ffff")
    r = run([{"endpoint": "b", "addresses": ["10.0.0.50", "fd00:1::50"]}], pools=pools)
    assert r["allocations"]["b"]["addresses"] == ["10.0.0.50/24", "fd00:1::50/64"]


def test_v6_only_mac(run):
    r = run(eps("a"), pools=[{"subnet": "fd00::/64"}])
    assert r["allocations"]["a"]["mac"] == "02:42:00:00:00:02"


def test_adding_a_v6_pool_later(run):
    run(eps("a"))
    r = run(eps("a"), pools=[{"subnet": "10.0.0.0/24"}, {"subnet": "fd00::/64"}])
    assert r["allocations"]["a"]["addresses"] == ["10.0.0.2/24", "fd00::2/64"]
    assert [a["op"] for a in r["actions"]] == ["create", "update"]


def test_fixed_and_lowest_free_around_it(run):
    r = run([{"endpoint": "x", "address": "10.0.0.2"}, {"endpoint": "y"}])
    assert r["allocations"]["x"]["ipv4"] == "10.0.0.2" and r["allocations"]["y"]["ipv4"] == "10.0.0.3"


def test_ip_range_and_fixed_outside_range(run):
    r = run([{"endpoint": "a"}, {"endpoint": "b", "address": "10.0.0.5"}], ip_range="10.0.0.128/25")
    assert r["allocations"]["a"]["ipv4"] == "10.0.0.128"
    assert r["allocations"]["b"]["ipv4"] == "10.0.0.5"


def test_deleted_and_reuse(run):
    run(eps("a", "b", "c"))
    r = run(eps("b"), state="deleted")
    assert r["released"] == ["b"] and r["allocations"] == {}
    assert run(eps("d"))["allocations"]["d"]["ipv4"] == "10.0.0.3"
    assert not run(eps("b"), state="deleted")["changed"]


def test_deleted_without_config_releases_all_and_needs_no_pool(run):
    run(eps("a", "b"))
    r = run(None, state="deleted", subnet=None)
    assert r["released"] == ["a", "b"]
    assert json.loads(run.path.read_text())["endpoints"] == {}


def test_deleted_on_missing_store_creates_nothing(run, tmp_path):
    r = run(eps("a"), state="deleted")
    assert not r["changed"] and not run.path.exists()


def test_overridden_releases_unlisted(run):
    run(eps("a", "b", "c"))
    r = run(eps("c", "new"), state="overridden")
    assert sorted(r["released"]) == ["a", "b"]
    assert r["allocations"]["new"]["ipv4"] == "10.0.0.2"
    assert set(json.loads(run.path.read_text())["endpoints"]) == {"c", "new"}


def test_replaced_moves_to_fixed(run):
    run(eps("a"))
    r = run([{"endpoint": "a", "address": "10.0.0.9"}], state="replaced")
    assert r["allocations"]["a"]["ipv4"] == "10.0.0.9"
    assert r["actions"][0]["op"] == "update"


def test_reconcile_releases_gone_namespaces(run):
    run([{"endpoint": "a", "netns": "nsa"}, {"endpoint": "b", "netns": "nsb"}, {"endpoint": "c"}])
    params = {"network": "net1", "state_dir": str(run.path.parent), "subnet": "10.0.0.0/24"}
    r = run_endpoints(
        {**params, "config": eps("c"), "reconcile": True, "state": "merged"}, False, alive=lambda ns: ns == "nsb"
    )
    assert r["reconciled"] == ["a"] and r["released"] == ["a"]
    # listed endpoints are never reconciled away, even without a namespace yet
    assert "c" in json.loads(run.path.read_text())["endpoints"]


def test_reconcile_uses_run_netns_by_default(run):
    run([{"endpoint": "a", "netns": "netplumb-surely-absent-ns"}, {"endpoint": "b"}])
    r = run(eps("b"), reconcile=True)
    assert r["reconciled"] == ["a"]


def test_netns_change_is_an_update(run):
    run(eps("a"))
    r = run([{"endpoint": "a", "netns": "other"}])
    assert r["actions"][0]["params"] == {"addresses": ["10.0.0.2"], "netns": "other"}
    assert r["allocations"]["a"]["ipv4"] == "10.0.0.2"


ERRORS = [
    # (setup endpoints, params for the failing run, error type, message)
    ([], {"config": eps("x", "y"), "subnet": "10.0.0.0/30"}, ConflictError, "exhausted"),
    (["a"], {"config": [{"endpoint": "b", "address": "10.0.0.2"}]}, ConflictError, "held by a"),
    (["a"], {"config": [{"endpoint": "a", "address": "10.0.0.9"}]}, ConflictError, "use state=replaced"),
    (["a"], {"config": eps("a"), "subnet": "10.9.0.0/24"}, ConflictError, "subnet changed"),
    (["a"], {"config": eps("a"), "pools": [{"subnet": "fd00::/64"}]}, ConflictError, "subnet changed"),
    (["a"], {"config": eps("b"), "gateway": "10.0.0.2"}, ConflictError, "the gateway of 10.0.0.0/24, is held by"),
    (["a"], {"config": eps("b"), "aux_addresses": {"r": "10.0.0.2"}}, ConflictError, "aux address"),
    ([], {"config": [{"endpoint": "a", "address": "10.1.0.5"}]}, ValidationError, "outside the subnet"),
    ([], {"config": [{"endpoint": "a", "address": "10.0.0.1"}]}, ValidationError, "is the gateway"),
    ([], {"config": [{"endpoint": "a", "address": "10.0.0.255"}]}, ValidationError, "broadcast"),
    ([], {"config": [{"endpoint": "a", "address": "10.0.0.0"}]}, ValidationError, "network address"),
    ([], {"config": [{"endpoint": "a", "address": "10.0.0.5/16"}]}, ValidationError, "does not match"),
    ([], {"config": [{"endpoint": "a", "address": "fd00::5"}]}, ValidationError, "no IPv6 pool"),
    ([], {"config": [{"endpoint": "a", "addresses": ["10.0.0.5", "10.0.0.6"]}]}, ValidationError, "more than one"),
    ([], {"config": eps("a", "a")}, ValidationError, "more than once"),
    ([], {"config": eps("a/b")}, ValidationError, "not allowed"),
    ([], {"config": eps("a"), "network": "../etc"}, ValidationError, "network '../etc' is not allowed"),
    ([], {"config": eps("a"), "subnet": None}, ValidationError, "needs a pool"),
    ([], {"config": None}, ValidationError, "non-empty config"),
    ([], {"config": eps("a"), "state": "bogus"}, ValidationError, "state must be"),
]


@pytest.mark.parametrize("setup,params,error,message", ERRORS)
def test_errors_change_nothing(run, setup, params, error, message):
    if setup:
        run(eps(*setup))
    before = digest(run.path)
    with pytest.raises(error, match=message) as info:
        run(**params)
    assert not info.value.changed
    assert digest(run.path) == before


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "not valid JSON"),
        (b'{"endpoints": {', "not valid JSON"),
        (b'{"some": "other tool"}', "not a netplumb.container/ipam file"),
        (b"[1, 2]", "not a netplumb.container/ipam file"),
        (b'{"format": "netplumb.container/ipam", "version": 99}', "newer"),
        (b'{"format": "netplumb.container/ipam", "version": "1"}', "bad version"),
        (b'{"format": "netplumb.container/ipam", "version": 1, "network": "other"}', "belongs to network"),
        (b'{"format": "netplumb.container/ipam", "version": 1, "network": "net1"}', "pools or endpoints"),
    ],
)
def test_corrupt_or_foreign_store_refused(run, content, message):
    run.path.write_bytes(content)
    with pytest.raises(StoreError, match=message) as info:
        run(eps("a"))
    assert str(run.path) in info.value.msg and "left untouched" in info.value.msg
    assert run.path.read_bytes() == content


def test_inconsistent_store_refused(run):
    run(eps("a", "b"))
    data = json.loads(run.path.read_text())
    data["endpoints"]["b"]["addresses"] = ["10.0.0.2"]
    run.path.write_text(json.dumps(data))
    with pytest.raises(StoreError, match="held by both"):
        run(eps("c"))
    data["endpoints"]["b"]["addresses"] = ["10.7.0.2"]
    run.path.write_text(json.dumps(data))
    with pytest.raises(StoreError, match="in no stored pool"):
        run(eps("c"))


def test_store_error_is_a_netplumb_error():
    assert issubclass(StoreError, NetplumbError)


def test_unwritable_state_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot lock"):
        run_endpoints({"network": "n", "subnet": "10.0.0.0/24", "config": eps("a"), "state_dir": str(blocker)}, False)


def test_many_in_one_call_is_fast(run):
    import time

    start = time.perf_counter()
    r = run(eps(*[f"e{i}" for i in range(1000)]), subnet="10.0.0.0/16")
    assert len({a["ipv4"] for a in r["allocations"].values()}) == 1000
    assert time.perf_counter() - start < 5


def test_deleting_from_a_network_without_store_creates_nothing(tmp_path):
    state_dir = tmp_path / "ipam"
    result = run_endpoints(
        {"network": "gone", "config": eps("a"), "state": "deleted", "state_dir": str(state_dir)}, False
    )
    assert result["changed"] is False
    assert not state_dir.exists()
