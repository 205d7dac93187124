"""Addresses live on owned interfaces are never handed out: the allocator given them, and when they are read."""

from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _ipam
from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError
from ansible_collections.netplumb.container.plugins.module_utils._ipam import (
    Request,
    parse_pool,
    plan_endpoints,
    run_definition,
    run_endpoints,
    run_ipam,
)

A = ipaddress.ip_address
POOL = parse_pool({"subnet": "10.9.0.0/24"}, "pool")


@pytest.fixture(autouse=True)
def _kernel_is_not_read(monkeypatch):
    """A unit test that reaches the real reader fails instead of reading the machine's kernel."""

    def refuse():
        raise AssertionError("a unit test read the kernel")

    monkeypatch.setattr(_ipam, "read_live_owned", refuse)


class Reader:
    """Stands in for _rtnl.live_owned_addresses; counts its calls."""

    def __init__(self, rows):
        self.rows = rows
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return list(self.rows)


def addr(out, name):
    return str(out.state.endpoints[name].addresses[0])


def test_allocator_skips_taken_live_addresses():
    live = {A("10.9.0.2"): "eth0 in netns web1", A("10.9.0.4"): "eth0 in netns web2", A("10.8.0.2"): "elsewhere"}
    out = plan_endpoints("n", None, [POOL], [Request(n, n) for n in ("a", "b", "c")], "merged", live=lambda: live)
    assert [addr(out, n) for n in ("a", "b", "c")] == ["10.9.0.3", "10.9.0.5", "10.9.0.6"]
    assert out.skipped == [(A("10.9.0.2"), "eth0 in netns web1"), (A("10.9.0.4"), "eth0 in netns web2")]
    without = plan_endpoints("n", None, [POOL], [Request(n, n) for n in ("a", "b", "c")], "merged")
    assert [addr(without, n) for n in ("a", "b", "c")] == ["10.9.0.2", "10.9.0.3", "10.9.0.4"]
    assert without.skipped == []


def test_recorded_addresses_are_kept_and_live_ones_above_the_pick_are_not_reported():
    first = plan_endpoints("n", None, [POOL], [Request("a", "a")], "merged").state
    # a's own address is live (its eth0); a hand-made one sits far above the next pick
    live = {A("10.9.0.2"): "eth0 in netns a", A("10.9.0.200"): "eth0 in netns a", A("10.9.0.1"): "brt0"}
    out = plan_endpoints("n", first, [POOL], [Request("a", "a"), Request("b", "b")], "merged", live=lambda: live)
    assert addr(out, "a") == "10.9.0.2" and addr(out, "b") == "10.9.0.3"
    assert out.skipped == []  # the gateway is reserved anyway, a's address is a's, .200 was not passed over


def test_no_allocation_no_read_and_fixed_addresses_untouched():
    first = plan_endpoints("n", None, [POOL], [Request("a", "a")], "merged").state

    def boom():
        raise AssertionError("read although nothing was allocated")

    again = plan_endpoints("n", first, [POOL], [Request("a", "a")], "merged", live=boom)
    assert again.actions == []
    fixed = plan_endpoints("n", first, [POOL], [Request("b", "b", (A("10.9.0.9"),))], "merged", live=boom)
    assert addr(fixed, "b") == "10.9.0.9"


def test_exhaustion_counts_live_addresses():
    small = parse_pool({"subnet": "10.9.0.0/29"}, "pool")  # .2 .. .6 usable
    live = {A(f"10.9.0.{i}"): "eth0 in netns x" for i in range(2, 7)}
    with pytest.raises(ConflictError, match=r"exhausted \(5 of its addresses are live on owned interfaces\)"):
        plan_endpoints("n", None, [small], [Request("a", "a")], "merged", live=lambda: live)


def test_run_endpoints_reads_once_warns_and_check_mode_writes_nothing(tmp_path):
    reader = Reader([("web1", "eth0", "10.9.0.2/24"), (None, "brt0", "10.9.0.1/24"), ("web2", "eth0", "10.9.0.3/24")])
    params = {"network": "n", "subnet": "10.9.0.0/24", "state_dir": str(tmp_path), "config": [{"endpoint": "a"}]}
    checked = run_endpoints(params, True, live=reader)
    assert checked["allocations"]["a"]["ipv4"] == "10.9.0.4" and not (tmp_path / "n.json").exists()
    applied = run_endpoints(params, False, live=reader)
    assert applied["allocations"]["a"]["ipv4"] == "10.9.0.4" and reader.calls == 2
    (warning,) = applied["warnings"]
    assert "10.9.0.2 (on eth0 in netns web1)" in warning and "10.9.0.3 (on eth0 in netns web2)" in warning
    assert warning.startswith("network n: skipped")
    unchanged = run_endpoints(params, False, live=reader)
    assert not unchanged["changed"] and unchanged["warnings"] == [] and reader.calls == 2  # no-change: no read


def test_run_definition_reads_once_for_all_networks(tmp_path):
    reader = Reader([("c9", "eth0", "10.1.0.2/24"), ("c9", "eth1", "10.2.0.2/24")])
    nets = [
        {"name": "front", "pools": [{"subnet": "10.1.0.0/24"}]},
        {"name": "back", "pools": [{"subnet": "10.2.0.0/24"}]},
    ]
    eps = [{"name": "a", "networks": [{"name": "front"}, {"name": "back"}]}]
    out = run_definition({"networks": nets, "endpoints": eps, "state_dir": str(tmp_path)}, False, live=reader)
    assert (
        out["allocations"]["front"]["a"]["ipv4"] == "10.1.0.3" and out["allocations"]["back"]["a"]["ipv4"] == "10.2.0.3"
    )
    assert reader.calls == 1 and len(out["warnings"]) == 2


def test_unreadable_kernel_is_a_warning(tmp_path):
    def denied():
        raise PermissionError(1, "Operation not permitted")

    params = {"network": "n", "subnet": "10.9.0.0/24", "state_dir": str(tmp_path), "config": [{"endpoint": "a"}]}
    out = run_endpoints(params, False, live=denied)
    assert out["allocations"]["a"]["ipv4"] == "10.9.0.2"
    assert out["warnings"] == [
        "addresses live on owned interfaces could not be read, new addresses were not checked: "
        "[Errno 1] Operation not permitted"
    ]


def test_cluster_mode_reads_nothing(tmp_path):
    """Cluster mode runs on the controller: the autouse fixture fails the test if the kernel is read."""
    out = run_ipam(
        {"cluster": {"range": "10.244.0.0/16", "lease_file": str(tmp_path / "l.json"), "hosts": ["h"]}}, False
    )
    assert out["subnets"] == {"h": "10.244.0.0/24"}
