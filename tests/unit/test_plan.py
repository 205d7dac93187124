"""The generic planner: target state and actions for every state, on the netns resource."""

from __future__ import annotations

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._netns import Netns, NetnsResource
from ansible_collections.netplumb.container.plugins.module_utils._plan import Scope, plan, target_state

R = NetnsResource()


def have(*objs):
    return {o.name: o for o in objs}


def run(existing, want, state, scope=None, force=False):
    after = target_state(R, existing, want, state, scope, force)
    return [str(a) for a in plan(R, existing, after)]


def test_merged_creates_missing_only():
    existing = have(Netns("a"))
    assert run(existing, [Netns("a"), Netns("b")], "merged") == ["create netns b: loopback_up=True"]


def test_merged_updates_only_what_differs():
    existing = have(Netns("a", loopback_up=False, sysctls=(("net.ipv4.ip_forward", "0"),)))
    want = [Netns("a", sysctls=(("net.ipv4.ip_forward", "1"),))]
    assert run(existing, want, "merged") == ["update netns a: loopback_up=True, sysctls={net.ipv4.ip_forward=1}"]


def test_no_change_plans_nothing():
    existing = have(Netns("a", sysctls=(("net.ipv4.ip_forward", "1"),)))
    assert run(existing, [Netns("a", sysctls=(("net.ipv4.ip_forward", "1"),))], "merged") == []


def test_overridden_needs_scope():
    with pytest.raises(ValidationError, match="explicit scope"):
        run(have(Netns("a")), [], "overridden")


def test_overridden_removes_only_owned_in_scope():
    existing = have(Netns("app-1"), Netns("app-2"), Netns("app-3", owned=False), Netns("db-1"))
    got = run(existing, [Netns("app-1")], "overridden", Scope(prefix="app-"))
    assert got == ["delete netns app-2"]


def test_deleted_without_config_needs_scope_and_keeps_foreign():
    existing = have(Netns("x1"), Netns("x2", owned=False))
    with pytest.raises(ValidationError):
        run(existing, [], "deleted")
    assert run(existing, [], "deleted", Scope(prefix="")) == ["delete netns x1"]


def test_deleted_listed_foreign_needs_force():
    existing = have(Netns("docker", owned=False))
    with pytest.raises(ConflictError, match="not created by netplumb"):
        run(existing, [Netns("docker")], "deleted")
    assert run(existing, [Netns("docker")], "deleted", force=True) == ["delete netns docker"]


def test_deleted_absent_is_noop():
    assert run({}, [Netns("gone")], "deleted") == []


def test_deletes_come_before_creates():
    existing = have(Netns("old"))
    got = run(existing, [Netns("new")], "overridden", Scope(prefix=""))
    assert got == ["delete netns old", "create netns new: loopback_up=True"]
