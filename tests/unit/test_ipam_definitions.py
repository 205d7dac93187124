"""Definition mode (networks + endpoints + definition): many networks in one call, what each definition made
recorded apart, purge and teardown limited to one definition, released addresses not reused in the same run,
stores reported and removed."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _ipam
from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._ipam import run_definition

NETS = [
    {"name": "front", "pools": [{"subnet": "10.1.0.0/24"}]},
    {"name": "back", "pools": [{"subnet": "10.2.0.0/24"}, {"subnet": "fd00:2::/64"}]},
]


@pytest.fixture(autouse=True)
def _no_live_addresses(monkeypatch):
    """Unit tests never read the machine's kernel (other runs' interfaces live there): nothing is live."""
    monkeypatch.setattr(_ipam, "read_live_owned", list)


@pytest.fixture
def run(tmp_path):
    def _run(endpoints, definition="one", state="merged", check=False, networks=None, **kw):
        networks = NETS if networks is None else networks
        params = {
            "networks": networks,
            "endpoints": endpoints,
            "definition": definition,
            "state": state,
            "state_dir": str(tmp_path),
            **kw,
        }
        return run_definition(params, check)

    _run.dir = tmp_path
    return _run


def ep(name, *nets, mode="bridge"):
    return {"name": name, "mode": mode, "networks": [n if isinstance(n, dict) else {"name": n} for n in nets]}


def store(run, net):
    return json.loads((run.dir / f"{net}.json").read_text())["endpoints"]


def test_one_call_for_every_network(run):
    r = run([ep("a", "front", "back"), ep("b", "back"), ep("h", mode="host"), ep("n", mode="none")])
    assert r["changed"]
    assert r["allocations"]["front"]["a"]["addresses"] == ["10.1.0.2/24"]
    assert r["allocations"]["back"]["a"]["addresses"] == ["10.2.0.2/24", "fd00:2::2/64"]
    assert r["allocations"]["back"]["b"]["ipv4"] == "10.2.0.3"
    assert r["recorded"] == ["a", "b", "h", "n"]
    assert store(run, "back")["b"]["definition"] == "one"
    again = run([ep("a", "front", "back"), ep("b", "back"), ep("h", mode="host"), ep("n", mode="none")])
    assert not again["changed"] and again["actions"] == []
    assert again["allocations"] == r["allocations"]


def test_check_mode_writes_nothing(run):
    r = run([ep("a", "front")], check=True)
    assert r["changed"] and r["allocations"]["front"]["a"]["ipv4"] == "10.1.0.2"
    assert os.listdir(run.dir) == []


def test_merged_keeps_unlisted_and_overridden_purges_only_this_definition(run):
    run([ep("a", "front"), ep("b", "front")], definition="one")
    run([ep("x", "front")], definition="two")
    kept = run([ep("a", "front")], definition="one")
    assert not kept["changed"] and kept["removed"] == [] and set(store(run, "front")) == {"a", "b", "x"}
    purged = run([ep("a", "front")], definition="one", state="overridden")
    assert purged["removed"] == [{"name": "b", "mode": "bridge"}]
    assert purged["released"] == {"front": ["b"]}
    assert set(store(run, "front")) == {"a", "x"}, "the other definition's x stays"


def test_released_addresses_are_not_handed_out_in_the_same_run(run):
    run([ep("a", "front"), ep("b", "front")])  # a .2, b .3
    r = run([ep("a", "front"), ep("c", "front")], state="overridden")
    assert r["allocations"]["front"]["c"]["ipv4"] == "10.1.0.4", "b's .3 is still live in its namespace"
    later = run([ep("a", "front"), ep("c", "front"), ep("d", "front")], state="overridden")
    assert later["allocations"]["front"]["d"]["ipv4"] == "10.1.0.3"


def test_an_endpoint_of_another_definition_is_refused_and_nothing_changes(run):
    run([ep("x", "front")], definition="two")
    before = {f: (run.dir / f).read_bytes() for f in ("front.json", "back.json")}
    with pytest.raises(ConflictError, match="endpoint x belongs to the definition 'two', not 'one'"):
        run([ep("a", "back"), ep("x", "front")], definition="one")
    assert {f: (run.dir / f).read_bytes() for f in before} == before
    assert not (run.dir / "definitions" / "one.json").exists()


def test_deleted_without_endpoints_removes_the_whole_definition_and_only_it(run):
    run([ep("a", "front", "back"), ep("s", mode="container")], definition="one")
    run([ep("x", "front")], definition="two")
    r = run(None, definition="one", state="deleted", remove_stores=True)
    assert sorted(e["name"] for e in r["removed"]) == ["a", "s"]
    assert {e["name"]: e["mode"] for e in r["removed"]}["s"] == "container"
    assert r["in_use"] == {"front": ["x"]}
    assert set(store(run, "front")) == {"x"}
    assert not (run.dir / "back.json").exists() and not (run.dir / "back.json.lock").exists()
    assert not (run.dir / "definitions" / "one.json").exists()
    assert (run.dir / "definitions" / "two.json").exists()
    last = run(None, definition="two", state="deleted", remove_stores=True)
    assert last["removed"] == [{"name": "x", "mode": "bridge"}] and last["in_use"] == {}
    assert not run.dir.exists(), "the emptied state directory goes too"


def test_deleted_with_listed_endpoints_keeps_the_others(run):
    run([ep("a", "front"), ep("b", "front")])
    r = run([ep("a", "front")], state="deleted")
    assert r["removed"] == [{"name": "a", "mode": "bridge"}] and r["recorded"] == ["b"]
    assert set(store(run, "front")) == {"b"}


def test_a_network_no_longer_listed_is_purged_from_the_record(run):
    run([ep("a", "front", "back")])
    r = run([ep("a", "front")], networks=NETS[:1], state="overridden")
    assert r["released"] == {"back": ["a"]}
    assert store(run, "back") == {}


def test_a_store_without_endpoints_left_is_reported_for_networks_in_use(run):
    run([ep("a", "front")], definition="one")
    r = run([], state="deleted", remove_stores=True, definition="zzz")
    assert r["in_use"] == {"front": ["a"]} and r["removed"] == []
    assert (run.dir / "front.json").exists()


@pytest.mark.parametrize(
    "kw,message",
    [
        ({"state_dir": "var/lib/x"}, r"state_dir: 'var/lib/x' is not an absolute path"),
        ({"definition": "-x"}, "definition '-x' is not allowed"),
        ({"networks": [{"name": "a/b", "pools": [{"subnet": "10.0.0.0/24"}]}]}, r"networks\[0\]\.name 'a/b'"),
        ({"endpoints": [ep("a", "nope")]}, "endpoint a: network nope is not in networks"),
        ({"endpoints": [ep("a", {"name": "front", "address": "10.1.0.255"})]}, "the broadcast address"),
        ({"endpoints": [ep("a", "front"), ep("a", "back")]}, "endpoint a is listed more than once"),
        ({"endpoints": None}, "needs the definition's endpoints"),
    ],
)
def test_bad_input_changes_nothing(run, kw, message):
    params = {"endpoints": [ep("a", "front")], **kw}
    with pytest.raises(ValidationError, match=message):
        run(**params)
    assert not any(run.dir.iterdir()) if run.dir.exists() else True


def test_foreign_netns_refuse_hands_out_nothing_for_a_namespace_made_by_someone_else(run, monkeypatch):
    asked = []

    def foreign(names):
        asked.append(names)
        return [n for n in names if n == "handmade"]

    monkeypatch.setattr(_ipam, "foreign_namespaces", foreign)
    with pytest.raises(ConflictError, match="namespace handmade exists but was not made by netplumb"):
        run([ep("ok", "front"), ep("handmade", "front"), ep("bare", mode="none")], foreign_netns="refuse")
    assert asked == [["bare", "handmade", "ok"]]
    assert not os.listdir(run.dir), "no store, no record: nothing was written"

    # allow (the default) records it; refuse then asks only about endpoints new to the definition.
    run([ep("ok", "front"), ep("handmade", "front")])
    asked.clear()
    run([ep("ok", "front"), ep("handmade", "front"), ep("new", "back")], foreign_netns="refuse")
    assert asked == [["new"]]
