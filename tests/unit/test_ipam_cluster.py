"""Host subnet mode: leases from a cluster range in a lease file; properties and every error changing nothing."""

from __future__ import annotations

import hashlib
import ipaddress
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._ipam import (
    parse_cluster,
    plan_cluster,
    run_cluster,
)
from ansible_collections.netplumb.container.plugins.module_utils._store import StoreError


@pytest.fixture
def lease(tmp_path):
    path = tmp_path / "subnets.json"

    def _run(check=False, **kw):
        spec = {"range": "10.244.0.0/16", "prefixlen": 24, "lease_file": str(path), "hosts": []}
        spec.update(kw)
        return run_cluster(spec, check)

    _run.path = path
    return _run


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def test_lowest_free_and_stable(lease):
    r = lease(hosts=["h1", "h2", "h3"])
    assert r["subnets"] == {"h1": "10.244.0.0/24", "h2": "10.244.1.0/24", "h3": "10.244.2.0/24"}
    r = lease(hosts=["h3", "h4"])  # h1, h2 removed from the inventory: kept
    assert r["subnets"]["h4"] == "10.244.3.0/24" and r["subnets"]["h1"] == "10.244.0.0/24"
    assert r["unlisted"] == ["h1", "h2"]
    r = lease(hosts=["h3", "h4"], release=["h1"])
    assert r["released"] == ["h1"] and "h1" not in r["subnets"]
    assert lease(hosts=["h5"])["subnets"]["h5"] == "10.244.0.0/24"
    assert not lease(hosts=["h5"])["changed"]


def test_check_mode_writes_nothing(lease, tmp_path):
    checked = lease(check=True, hosts=["a"])
    assert not lease.path.exists() and checked["changed"]
    assert lease(hosts=["a"]) == checked


def test_pinned_and_exclude(lease):
    r = lease(hosts=["h1", "h2"], pinned={"h2": "10.244.0.0/24"}, exclude=["10.244.1.0/25", "192.168.0.0/16", "::/0"])
    assert r["subnets"] == {"h1": "10.244.2.0/24", "h2": "10.244.0.0/24"}
    # re-pin a host: it moves
    r = lease(hosts=["h1", "h2"], pinned={"h2": "10.244.9.0/24"})
    assert r["subnets"]["h2"] == "10.244.9.0/24" and r["actions"][0]["op"] == "update"


def test_exclude_inside_an_existing_lease_is_its_own_route(lease):
    lease(hosts=["h1"])
    r = lease(hosts=["h1", "h2"], exclude=["10.244.0.0/24", "10.244.0.5"])
    assert r["subnets"] == {"h1": "10.244.0.0/24", "h2": "10.244.1.0/24"}


def test_range_may_grow(lease):
    lease(hosts=["h1"])
    r = lease(hosts=["h1", "h2"], range="10.240.0.0/12")
    assert r["subnets"]["h1"] == "10.244.0.0/24" and r["subnets"]["h2"] == "10.240.0.0/24"


def test_ipv6_cluster(lease):
    r = lease(range="fd00:244::/48", prefixlen=None, hosts=["a", "b"])
    assert r["subnets"] == {"a": "fd00:244::/64", "b": "fd00:244:0:1::/64"}


ERRORS = [
    ([], {"hosts": ["a", "b"], "range": "10.0.0.0/23"}, {"hosts": ["a", "b", "c"], "range": "10.0.0.0/23"}, "no free"),
    (["a"], {}, {"hosts": ["a"], "prefixlen": 25}, "range or prefixlen changed"),
    (["a"], {}, {"hosts": ["a"], "range": "10.245.0.0/16"}, "range or prefixlen changed"),
    (["a"], {}, {"hosts": ["a"], "exclude": ["10.244.0.0/16"]}, "overlaps the excluded"),
    (["a"], {}, {"hosts": ["b"], "pinned": {"b": "10.244.0.0/24"}}, "is leased to a"),
    ([], {}, {"pinned": {"b": "10.244.3.0/24"}, "exclude": ["10.244.3.7"]}, "pinned for b overlaps"),
]


@pytest.mark.parametrize("setup,setup_kw,params,message", ERRORS)
def test_conflicts_change_nothing(lease, setup, setup_kw, params, message):
    if setup or setup_kw:
        lease(**{"hosts": setup, **setup_kw})
    before = digest(lease.path)
    with pytest.raises(ConflictError, match=message):
        lease(**params)
    assert digest(lease.path) == before


@pytest.mark.parametrize(
    "params,message",
    [
        ({"range": "10.244.0.1/16"}, "did you mean"),
        ({"prefixlen": 8}, "prefixlen 8 must be between 16"),
        ({"prefixlen": 33}, "must be between"),
        ({"hosts": ["a", "a"]}, "more than once"),
        ({"hosts": [""]}, "non-empty"),
        ({"pinned": {"a": "10.245.0.0/24"}}, "not a /24 inside"),
        ({"pinned": {"a": "10.244.0.0/25"}}, "not a /24 inside"),
        ({"pinned": {"a": "10.244.0.0/24", "b": "10.244.0.0/24"}}, "both pinned"),
        ({"hosts": ["a"], "release": ["a"]}, "both released and listed"),
        ({"exclude": ["bogus"]}, "not a valid IP address"),
        ({"lease_file": "relative.json"}, "absolute path"),
        ({"range": None}, "range is required"),
    ],
)
def test_bad_input(lease, params, message):
    with pytest.raises(ValidationError, match=message):
        lease(**params)
    assert not lease.path.exists()


@pytest.mark.parametrize(
    "content,message",
    [
        (b"garbage", "not valid JSON"),
        (b'{"leases": {}}', "not a netplumb.container/ipam-cluster file"),
        (b'{"format": "netplumb.container/ipam", "version": 1}', "not a netplumb.container/ipam-cluster file"),
        (
            b'{"format": "netplumb.container/ipam-cluster", "version": 1, "range": "10.0.0.0/16", "prefixlen": 24,'
            b' "leases": {"a": "10.0.0.0/24", "b": "10.0.0.0/24"}}',
            "overlapping",
        ),
    ],
)
def test_corrupt_lease_file(lease, content, message):
    lease.path.write_bytes(content)
    with pytest.raises(StoreError, match=message):
        lease(hosts=["x"])
    assert lease.path.read_bytes() == content


hostnames = st.lists(st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True), unique=True, max_size=60)


@settings(max_examples=60, deadline=None)
@given(first=hostnames, second=hostnames, excl=st.lists(st.integers(0, 255), max_size=10))
def test_leases_disjoint_in_range_stable(first, second, excl):
    exclude = [f"10.244.{i}.0/24" for i in excl]
    spec = parse_cluster({"range": "10.244.0.0/16", "prefixlen": 24, "hosts": first, "exclude": exclude})
    one, _actions = plan_cluster(None, spec)
    spec2 = parse_cluster({"range": "10.244.0.0/16", "prefixlen": 24, "hosts": second, "exclude": []})
    two, _actions = plan_cluster(one, spec2)
    nets = list(two.leases.values())
    assert len(set(nets)) == len(nets)
    rng = ipaddress.ip_network("10.244.0.0/16")
    assert all(n.subnet_of(rng) and n.prefixlen == 24 for n in nets)
    assert all(two.leases[h] == n for h, n in one.leases.items())  # stable
    assert not any(n.overlaps(ipaddress.ip_network(x)) for n in one.leases.values() for x in exclude)
    assert plan_cluster(None, spec)[0].leases == one.leases  # deterministic


def test_lease_file_format(lease):
    lease(hosts=["a"])
    data = json.loads(lease.path.read_text())
    assert data == {
        "format": "netplumb.container/ipam-cluster",
        "version": 1,
        "range": "10.244.0.0/16",
        "prefixlen": 24,
        "leases": {"a": "10.244.0.0/24"},
    }
