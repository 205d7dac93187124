"""The allocator's properties (hypothesis) and the pool rules, without any store."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._ipam import (
    Request,
    docker_mac,
    free_blocks,
    parse_pool,
    parse_pools,
    plan_endpoints,
)


def naive_free(lo, hi, size, blocked):
    taken = set()
    for a, b in blocked:
        taken.update(range(a, b + 1))
    start = -(-lo // size) * size
    return [s for s in range(start, hi - size + 2, size) if not taken & set(range(s, s + size))]


intervals = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 20)), max_size=30).map(
    lambda xs: sorted((a, a + w) for a, w in xs)
)


@given(lo=st.integers(0, 100), span=st.integers(0, 300), size=st.sampled_from([1, 2, 4, 16]), blocked=intervals)
def test_free_blocks_matches_naive(lo, span, size, blocked):
    assert list(free_blocks(lo, lo + span, size, blocked)) == naive_free(lo, lo + span, size, blocked)


def test_free_blocks_does_not_enumerate_a_huge_pool():
    net = ipaddress.ip_network("fd00::/64")
    lo, hi = int(net.network_address), int(net.broadcast_address)
    gen = free_blocks(lo, hi, 1, [(lo, lo + 1)])
    assert next(gen) == lo + 2
    # A /8 with its first million addresses taken as one interval: found at once.
    big = ipaddress.ip_network("10.0.0.0/8")
    lo8 = int(big.network_address)
    assert next(free_blocks(lo8, int(big.broadcast_address), 1, [(lo8, lo8 + 10**6)])) == lo8 + 10**6 + 1


names = st.lists(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True), unique=True, min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(names=names, prefix=st.integers(22, 28), rng=st.booleans())
def test_no_duplicates_in_range_deterministic(names, prefix, rng):
    spec = {"subnet": f"10.1.0.0/{prefix}"}
    if rng:
        spec["ip_range"] = str(list(ipaddress.ip_network(spec["subnet"]).subnets(1))[1])
    pool = parse_pool(spec, "pool")
    reqs = [Request(n, n) for n in names]
    usable = len([a for a in pool.ip_range if int(a) not in pool.reserved()])
    if len(names) > usable:
        with pytest.raises(Exception, match="exhausted"):
            plan_endpoints("n", None, [pool], reqs, "merged")
        return
    out = plan_endpoints("n", None, [pool], reqs, "merged")
    addrs = [r.addresses[0] for r in out.state.endpoints.values()]
    assert len(set(addrs)) == len(addrs) == len(names)
    assert all(a in pool.ip_range and int(a) not in pool.reserved() for a in addrs)
    # lowest free first: exactly the first len(names) usable addresses, in request order
    expected = [a for a in pool.ip_range if int(a) not in pool.reserved()][: len(names)]
    assert [out.state.endpoints[n].addresses[0] for n in names] == expected
    again = plan_endpoints("n", None, [pool], reqs, "merged")
    assert again.state.endpoints == out.state.endpoints
    # the same endpoints come back with the same addresses, in any order
    kept = plan_endpoints("n", out.state, [pool], list(reversed(reqs)), "merged")
    assert kept.state.endpoints == out.state.endpoints and kept.actions == []


@settings(max_examples=40, deadline=None)
@given(first=names, second=names)
def test_release_then_reuse_lowest(first, second):
    pool = parse_pool({"subnet": "192.168.0.0/24"}, "pool")
    one = plan_endpoints("n", None, [pool], [Request(n, n) for n in first], "merged").state
    released = plan_endpoints("n", one, [pool], [Request(first[0], first[0])], "deleted")
    freed = one.endpoints[first[0]].addresses[0]
    newcomer = "zz-new"
    out = plan_endpoints("n", released.state, [pool], [Request(newcomer, newcomer)], "merged")
    assert out.state.endpoints[newcomer].addresses[0] == freed
    assert second is not None


def test_defaults_and_reservations():
    pool = parse_pool({"subnet": "172.17.0.0/16"}, "pool")
    assert str(pool.gateway) == "172.17.0.1"
    reserved = {str(ipaddress.ip_address(i)) for i in pool.reserved()}
    assert reserved == {"172.17.0.0", "172.17.0.1", "172.17.255.255"}
    v6 = parse_pool({"subnet": "fd00::/64", "aux_addresses": {"r": "fd00::5"}}, "pool")
    assert str(v6.gateway) == "fd00::1"
    assert {str(ipaddress.ip_address(i)) for i in v6.reserved()} == {"fd00::", "fd00::1", "fd00::5"}


def test_gateway_not_first_is_skipped_and_aux_skipped():
    pool = parse_pool({"subnet": "10.0.0.0/29", "gateway": "10.0.0.6", "aux_addresses": {"a": "10.0.0.1"}}, "p")
    out = plan_endpoints("n", None, [pool], [Request(f"e{i}", f"e{i}") for i in range(4)], "merged")
    assert [str(out.state.endpoints[f"e{i}"].addresses[0]) for i in range(4)] == [
        "10.0.0.2",
        "10.0.0.3",
        "10.0.0.4",
        "10.0.0.5",
    ]


def test_docker_mac():
    assert docker_mac(ipaddress.ip_address("172.17.0.2")) == "02:42:ac:11:00:02"


@pytest.mark.parametrize(
    "spec,message",
    [
        ({"subnet": "172.17.0.1/16"}, r"did you mean 172\.17\.0\.0/16"),
        ({"subnet": "nonsense"}, "not a valid subnet"),
        ({"subnet": "10.0.0.0/24", "gateway": "10.0.1.1"}, "outside the subnet"),
        ({"subnet": "10.0.0.0/24", "gateway": "10.0.0.255"}, "broadcast"),
        ({"subnet": "10.0.0.0/24", "ip_range": "10.0.1.0/25"}, "not inside the subnet"),
        ({"subnet": "10.0.0.0/24", "ip_range": "fd00::/64"}, "not inside the subnet"),
        ({"subnet": "10.0.0.0/24", "aux_addresses": {"x": "10.9.0.1"}}, "outside the subnet"),
        ({"subnet": "10.0.0.0/24", "gateway": "bad"}, "not a valid IP address"),
    ],
)
def test_bad_pools(spec, message):
    with pytest.raises(ValidationError, match=message):
        parse_pool(spec, "pool")


def test_two_pools_of_one_family():
    with pytest.raises(ValidationError, match="at most one IPv4"):
        parse_pools({"pools": [{"subnet": "10.0.0.0/24"}, {"subnet": "10.1.0.0/24"}]})


def test_gateway_without_subnet():
    with pytest.raises(ValidationError, match="needs a subnet"):
        parse_pools({"gateway": "10.0.0.1"})
