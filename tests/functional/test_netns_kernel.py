"""The netns engine against the real kernel, in throwaway namespaces."""

from __future__ import annotations

import hashlib
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


@pytest.fixture
def etc_netns(tmp_path, monkeypatch):
    """The name files of this test's namespaces go to a directory of its own, not the machine's /etc/netns."""
    from ansible_collections.netplumb.container.plugins.module_utils import _netns

    monkeypatch.setattr(_netns, "ETC_NETNS", str(tmp_path / "netns"))
    monkeypatch.setattr(_netns, "HOST_RESOLV", (str(tmp_path / "resolv.conf"), str(tmp_path / "upstream.conf")))
    (tmp_path / "resolv.conf").write_text("nameserver 127.0.0.53\nsearch lab.example\noptions edns0\n")
    (tmp_path / "upstream.conf").write_text("nameserver 192.0.2.53\nnameserver 127.0.0.1\n")
    return tmp_path / "netns"


def test_name_files_written_kept_and_removed_with_the_namespace(cleanup_netns, etc_netns):
    p = cleanup_netns
    hosts = [{"address": "172.17.0.2", "names": [f"{p}-a"]}, {"address": "10.244.1.2", "names": ["api", "api.h2"]}]
    cfg = [{"name": f"{p}-a", "hosts": hosts, "resolv_conf": {}}]

    check = run(cfg, check=True)
    assert check["changed"] and not etc_netns.exists(), "check mode writes nothing"
    applied = run(cfg)
    summary = applied["actions"][0]["summary"]
    assert f"{etc_netns}/{p}-a/hosts (9 lines)" in summary, summary
    text = (etc_netns / f"{p}-a" / "hosts").read_text()
    assert text.splitlines()[1:3] == ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    assert text.splitlines()[-1] == "10.244.1.2\tapi api.h2"
    resolv = (etc_netns / f"{p}-a" / "resolv.conf").read_text().splitlines()
    # Loopback-only host resolver: systemd-resolved's upstream file, without its loopback entry.
    assert resolv[1:] == ["nameserver 192.0.2.53", "search lab.example"], resolv

    assert run(cfg, check=True)["changed"] is False
    mtime = (etc_netns / f"{p}-a" / "hosts").stat().st_mtime_ns
    assert run(cfg)["changed"] is False
    assert (etc_netns / f"{p}-a" / "hosts").stat().st_mtime_ns == mtime, "an unchanged file is not rewritten"

    cfg[0]["hosts"] = hosts[:1]
    changed = run(cfg)
    assert changed["changed"] and "api" not in (etc_netns / f"{p}-a" / "hosts").read_text()
    assert "api.h2" in changed["diff"]["before"][f"{p}-a"]["hosts"]
    # before/after carry a name file as its size and digest (the text grows with the fleet); the diff has it whole.
    now = (etc_netns / f"{p}-a" / "hosts").read_text()
    digest = hashlib.sha256(now.encode()).hexdigest()[:16]
    assert changed["after"][0]["hosts"] == f"{now.count(chr(10))} lines, sha256 {digest}"
    assert changed["before"][0]["hosts"] != changed["after"][0]["hosts"] and "api" not in changed["before"][0]["hosts"]
    assert changed["diff"]["after"][f"{p}-a"]["hosts"] == now

    run([{"name": f"{p}-a"}], state="deleted")
    assert not (etc_netns / f"{p}-a").exists(), "the files and their directory go with the namespace"


def test_a_foreign_hosts_file_is_left_and_named(cleanup_netns, etc_netns):
    p = cleanup_netns
    (etc_netns / f"{p}-f").mkdir(parents=True)
    (etc_netns / f"{p}-f" / "hosts").write_text("10.0.0.1 mine\n")
    cfg = [{"name": f"{p}-f", "hosts": [{"address": "172.17.0.2", "names": ["x"]}], "resolv_conf": {}}]
    result = run(cfg)
    assert (etc_netns / f"{p}-f" / "hosts").read_text() == "10.0.0.1 mine\n"
    assert any(f"{p}-f/hosts was not written by netplumb.container" in w for w in result["warnings"])
    assert (etc_netns / f"{p}-f" / "resolv.conf").read_text().startswith("# Written by netplumb.container")
    assert run(cfg)["changed"] is False
    run([{"name": f"{p}-f"}], state="deleted")
    assert (etc_netns / f"{p}-f" / "hosts").read_text() == "10.0.0.1 mine\n", "someone else's file stays"
    assert not (etc_netns / f"{p}-f" / "resolv.conf").exists()


@pytest.mark.parametrize(
    "entry,message",
    [
        ({"hosts": [{"address": "300.1.1.1", "names": ["x"]}]}, "hosts\\[0\\].address"),
        ({"hosts": [{"address": "10.0.0.1", "names": ["bad name"]}]}, "'bad name' is not allowed"),
        ({"hosts": [{"address": "10.0.0.1", "names": []}]}, "needs at least one name"),
        ({"resolv_conf": {"nameservers": ["dns.example"]}}, "resolv_conf.nameservers"),
        ({"resolv_conf": {"options": ["nd ots"]}}, "resolver option"),
        ({"loopback_up": "maybe"}, "loopback_up"),
    ],
)
def test_bad_name_file_input_changes_nothing(cleanup_netns, etc_netns, entry, message):
    p = cleanup_netns
    with pytest.raises(ValidationError, match=message):
        run([{"name": f"{p}-a"}, {"name": f"{p}-b", **entry}])
    assert not {f"{p}-a", f"{p}-b"} & netns_names() and not etc_netns.exists()


def test_a_shared_table_follows_each_namespaces_own_entries(cleanup_netns, etc_netns):
    p = cleanup_netns
    table = [
        {"address": "172.17.0.2", "names": [f"{p}-a", f"{p}-a.h1"]},
        {"address": "172.17.0.3", "names": [f"{p}-b", f"{p}-b.h1"]},
        {"address": "fd00::3", "names": [f"{p}-b", f"{p}-b.h1"]},
    ]
    cfg = [
        {"name": f"{p}-a", "hosts": table[:1], "hosts_table": "t0"},
        {"name": f"{p}-b", "hosts": table[1:], "hosts_table": "t0"},
    ]
    params = {
        "config": cfg,
        "state": "merged",
        "scope": None,
        "force": False,
        "hosts_tables": [{"name": "t0", "entries": table}],
    }
    with Netlink() as nl:
        converge(NetnsEngine(), params, False, nl)
    a = (etc_netns / f"{p}-a" / "hosts").read_text().splitlines()[7:]
    b = (etc_netns / f"{p}-b" / "hosts").read_text().splitlines()[7:]
    assert a == [f"172.17.0.2\t{p}-a {p}-a.h1", f"172.17.0.3\t{p}-b {p}-b.h1", f"fd00::3\t{p}-b {p}-b.h1"]
    assert b == [f"172.17.0.3\t{p}-b {p}-b.h1", f"fd00::3\t{p}-b {p}-b.h1", f"172.17.0.2\t{p}-a {p}-a.h1"]
    params["config"] = [{"name": f"{p}-a", "hosts_table": "t9"}]
    with pytest.raises(ValidationError, match="hosts_table 't9' is not one of hosts_tables"), Netlink() as nl:
        converge(NetnsEngine(), params, False, nl)
