"""The netns engine against the real kernel, in throwaway namespaces."""

from __future__ import annotations

import subprocess

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import (
    ConflictError,
    KernelError,
    ValidationError,
)
from ansible_collections.netplumb.container.plugins.module_utils._netlink import Netlink
from ansible_collections.netplumb.container.plugins.module_utils._netns import NetnsEngine
from ansible_collections.netplumb.container.plugins.module_utils._runner import converge

from .conftest import netns_names


def run(config, state="merged", scope=None, check=False, force=False):
    params = {"config": config, "state": state, "scope": scope, "force": force}
    with Netlink() as nl:
        return converge(NetnsEngine(), params, check, nl)


def ip(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


def test_check_apply_idempotent(cleanup_netns):
    p = cleanup_netns
    cfg = [{"name": f"{p}-a", "sysctls": {"net.ipv4.ip_forward": 1}}, {"name": f"{p}-b", "loopback_up": False}]

    check = run(cfg, check=True)
    assert check["changed"] and len(check["actions"]) == 2
    assert not {f"{p}-a", f"{p}-b"} & netns_names(), "check mode must not create namespaces"

    applied = run(cfg)
    assert [a["summary"] for a in applied["actions"]] == [a["summary"] for a in check["actions"]]
    assert {f"{p}-a", f"{p}-b"} <= netns_names()
    assert "UP" in ip("-n", f"{p}-a", "-br", "link", "show", "lo")
    assert "DOWN" in ip("-n", f"{p}-b", "-br", "link", "show", "lo")
    fwd = subprocess.run(
        ["ip", "netns", "exec", f"{p}-a", "cat", "/proc/sys/net/ipv4/ip_forward"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert fwd.strip() == "1"
    assert "netplumb.container" in ip("-n", f"{p}-a", "-d", "link", "show", "lo")

    assert run(cfg, check=True)["changed"] is False
    assert run(cfg)["changed"] is False


def test_update_and_diff(cleanup_netns):
    p = cleanup_netns
    run([{"name": f"{p}-a"}])
    result = run([{"name": f"{p}-a", "loopback_up": False}])
    assert result["diff"]["before"][f"{p}-a"]["loopback_up"] is True
    assert result["diff"]["after"][f"{p}-a"]["loopback_up"] is False
    assert "DOWN" in ip("-n", f"{p}-a", "-br", "link", "show", "lo")


def test_deleted_with_scope_spares_foreign(cleanup_netns):
    p = cleanup_netns
    run([{"name": f"{p}-own"}])
    ip("netns", "add", f"{p}-foreign")
    result = run([], state="deleted", scope={"prefix": p})
    assert [a["summary"] for a in result["actions"]] == [f"delete netns {p}-own"]
    names = netns_names()
    assert f"{p}-own" not in names and f"{p}-foreign" in names


def test_stale_file_is_not_a_namespace(cleanup_netns):
    """A leftover /run/netns file from a crash does not count as an existing namespace."""
    p = cleanup_netns
    open(f"/run/netns/{p}-stale", "w").close()
    try:
        result = run([{"name": f"{p}-stale"}])
        assert result["changed"]
        assert "lo" in ip("-n", f"{p}-stale", "-br", "link")
    finally:
        subprocess.run(["ip", "netns", "del", f"{p}-stale"], check=False)


def test_foreign_namespace_is_neither_adopted_nor_deleted(cleanup_netns):
    """A namespace of the same name made by hand: refused, naming it, unless force; the same for deleting."""
    p = cleanup_netns
    ip("netns", "add", f"{p}-hand")
    cfg = [{"name": f"{p}-new"}, {"name": f"{p}-hand", "sysctls": {"net.ipv4.ip_forward": 1}}]
    with pytest.raises(ConflictError, match=f"netns {p}-hand exists but was not created by netplumb.container"):
        run(cfg)
    assert f"{p}-new" not in netns_names(), "nothing is created before the refusal"
    with pytest.raises(ConflictError, match=f"netns {p}-hand .*refusing to delete"):
        run([{"name": f"{p}-hand"}], state="deleted")
    assert f"{p}-hand" in netns_names()
    forced = run(cfg, force=True)
    assert sorted(a["op"] for a in forced["actions"]) == ["create", "update"]
    assert "netplumb.container" not in ip("-n", f"{p}-hand", "-d", "link", "show", "lo"), "force does not mark it"
    assert run([{"name": f"{p}-hand"}], state="deleted", force=True)["changed"] is True
    assert f"{p}-hand" not in netns_names()


def test_sysctl_refused_by_the_kernel_creates_nothing(cleanup_netns):
    """A value the kernel refuses is found before the first namespace is made (tried in a scratch namespace)."""
    p = cleanup_netns
    cfg = [{"name": f"{p}-a"}, {"name": f"{p}-b", "sysctls": {"net.ipv4.ip_forward": "abc"}}]
    with pytest.raises(ValidationError, match=r"net.ipv4.ip_forward: the kernel refuses the value 'abc'"):
        run(cfg)
    with pytest.raises(ValidationError, match="'é'"):
        run([{"name": f"{p}-a", "sysctls": {"net.ipv4.ip_forward": "é"}}])
    assert not {f"{p}-a", f"{p}-b"} & netns_names()


def test_failure_after_creating_reports_changed(cleanup_netns):
    """A sysctl of a device the new namespace does not have fails after the namespace exists: changed is true."""
    p = cleanup_netns
    with pytest.raises(KernelError) as caught:
        run([{"name": f"{p}-a", "sysctls": {"net.ipv4.conf.eth0.rp_filter": 2}}])
    assert caught.value.changed is True
    assert [str(a).split(":", maxsplit=1)[0] for a in caught.value.done] == [f"create netns {p}-a"]
    assert "net.ipv4.conf.eth0.rp_filter" in caught.value.msg
    assert f"{p}-a" in netns_names()


def test_create_in_a_fresh_session_keeps_reading_the_host(cleanup_netns):
    """The first thing a session does is create a namespace: its reads still see the module's namespace."""
    p = cleanup_netns
    with Netlink() as nl:
        converge(NetnsEngine(), {"config": [{"name": f"{p}-a"}], "state": "merged", "scope": None}, False, nl)
        names = {link["name"] for link in nl.reader.links(None)}
        inside = {link["name"] for link in nl.reader.links(f"{p}-a")}
    assert inside == {"lo"} and names != inside
    assert "UP" in ip("-n", f"{p}-a", "-br", "link", "show", "lo")
