"""The bridge engine against the real kernel, inside a throwaway host namespace."""

from __future__ import annotations

import json

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._bridge import BridgeEngine
from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, ValidationError

from .linkhost import converge_in, ip, make_host


@pytest.fixture
def host_ns(cleanup_netns):
    return make_host(cleanup_netns)


def run(host, config, **kw):
    return converge_in(host, BridgeEngine(), config, **kw)


def details(host, name):
    return json.loads(ip(host, "-d", "-j", "addr", "show", "dev", name))[0]


def test_check_apply_idempotent(host_ns):
    h = host_ns
    cfg = [
        {
            "name": "brt0",
            "addresses": ["172.30.0.1/16", "fd00:30::1/64"],
            "mtu": 1450,
            "mac": "02:42:00:00:00:01",
            "stp": True,
            "forward_delay": 4,
            "ageing_time": 120,
            "vlan_filtering": False,
        }
    ]
    check = run(h, cfg, check=True)
    assert [a["summary"].split(":")[0] for a in check["actions"]] == ["create bridge brt0"]
    assert "brt0" not in ip(h, "-br", "link")

    applied = run(h, cfg)
    assert applied["actions"] == check["actions"]
    d = details(h, "brt0")
    info = d["linkinfo"]["info_data"]
    assert d["mtu"] == 1450 and d["address"] == "02:42:00:00:00:01"
    assert info["stp_state"] == 1 and info["forward_delay"] == 400 and info["ageing_time"] == 12000
    assert info["vlan_filtering"] == 0
    assert d["ifalias"] == "netplumb.container"
    assert "UP" in d["flags"]
    addrs = {f"{a['local']}/{a['prefixlen']}" for a in d["addr_info"] if a.get("scope") == "global"}
    assert addrs == {"172.30.0.1/16", "fd00:30::1/64"}

    assert run(h, cfg, check=True)["changed"] is False
    assert run(h, cfg)["changed"] is False


def test_up_without_ports_is_stable(host_ns):
    """A portless bridge's operstate is DOWN or UNKNOWN (kernel-dependent) although admin UP: no difference."""
    run(host_ns, [{"name": "brt1"}])
    assert ",UP" in ip(host_ns, "-br", "link", "show", "brt1")
    assert run(host_ns, [{"name": "brt1"}])["changed"] is False


def test_merged_adds_replaced_exact_and_diff(host_ns):
    h = host_ns
    run(h, [{"name": "brt2", "addresses": ["10.9.0.1/24"]}])
    merged = run(h, [{"name": "brt2", "addresses": ["10.9.1.1/24"]}])
    assert merged["diff"]["after"]["brt2"]["addresses"] == ["10.9.0.1/24", "10.9.1.1/24"]
    replaced = run(h, [{"name": "brt2", "addresses": ["10.9.1.1/24"], "up": False}], state="replaced")
    assert replaced["diff"]["before"]["brt2"]["addresses"] == ["10.9.0.1/24", "10.9.1.1/24"]
    assert replaced["diff"]["after"]["brt2"]["addresses"] == ["10.9.1.1/24"]
    assert "10.9.0.1" not in ip(h, "addr", "show", "brt2")
    assert "UP" not in ip(h, "link", "show", "brt2").split(">")[0]


def test_not_a_bridge_changes_nothing(host_ns):
    h = host_ns
    ip(h, "link", "add", "brt3", "type", "veth", "peer", "name", "brt3p")
    with pytest.raises(ConflictError, match="not a bridge"):
        run(h, [{"name": "brt4"}, {"name": "brt3"}])
    assert "brt4" not in ip(h, "-br", "link")


def test_delete_refuses_foreign_ports_unless_forced(host_ns):
    h = host_ns
    run(h, [{"name": "brt5"}])
    ip(h, "link", "add", "dut5", "type", "veth", "peer", "name", "dut5p")
    ip(h, "link", "set", "dut5", "master", "brt5")
    with pytest.raises(ConflictError, match="dut5"):
        run(h, [{"name": "brt5"}], state="deleted")
    assert "brt5" in ip(h, "-br", "link")
    result = run(h, [{"name": "brt5"}], state="deleted", force=True)
    assert [a["summary"] for a in result["actions"]] == ["delete bridge brt5: ports=['dut5']"]
    links = ip(h, "-br", "link")
    assert "brt5" not in links and "dut5" in links


def test_delete_keeps_a_bridge_with_foreign_ports_and_removes_the_others(host_ns):
    """foreign_ports=keep (the teardown's): one call, the bridge with someone else's port stays, named."""
    h = host_ns
    run(h, [{"name": "brt9"}, {"name": "brt10"}])
    ip(h, "link", "add", "dut9", "type", "veth", "peer", "name", "dut9p")
    ip(h, "link", "set", "dut9", "master", "brt9")
    cfg = [{"name": "brt9"}, {"name": "brt10"}]
    planned = run(h, cfg, state="deleted", foreign_ports="keep", check=True)
    assert [a["summary"] for a in planned["actions"]] == ["delete bridge brt10"]
    assert "brt10" in ip(h, "-br", "link"), "check mode changes nothing"
    result = run(h, cfg, state="deleted", foreign_ports="keep")
    assert result["kept"] == ["brt9"]
    assert result["warnings"] == [
        "bridge brt9 still has ports that netplumb.container does not own (dut9); kept (foreign_ports=keep)"
    ]
    links = ip(h, "-br", "link")
    assert "brt10" not in links and "brt9" in links
    assert "master brt9" in ip(h, "-o", "link", "show", "dut9"), "the foreign port stays on its bridge"
    again = run(h, cfg, state="deleted", foreign_ports="keep")
    assert again["changed"] is False and again["kept"] == ["brt9"]
    ip(h, "link", "del", "dut9")
    last = run(h, cfg, state="deleted", foreign_ports="keep")
    assert last["kept"] == [] and [a["name"] for a in last["actions"]] == ["brt9"]


def test_delete_keeps_a_listed_bridge_the_collection_did_not_make(host_ns):
    """What state=deleted refuses (a bridge made by hand), keep leaves, without failing the others."""
    h = host_ns
    run(h, [{"name": "brt12"}])
    ip(h, "link", "add", "brt13", "type", "bridge")
    cfg = [{"name": "brt12"}, {"name": "brt13"}]
    for force in (False, "false", "no"):  # "false" is false: nothing deleted, the whole call refused
        with pytest.raises(ConflictError, match=r"brt13 exists but was not created by netplumb\.container"):
            run(h, cfg, state="deleted", force=force)
    assert "brt12" in ip(h, "-br", "link")
    result = run(h, cfg, state="deleted", foreign_ports="keep")
    assert result["kept"] == ["brt13"] and [a["name"] for a in result["actions"]] == ["brt12"]
    assert result["warnings"] == [
        "bridge brt13 exists but was not created by netplumb.container; kept (foreign_ports=keep)"
    ]
    assert [b["name"] for b in result["before"]] == ["brt12"] and result["after"] == []
    links = ip(h, "-br", "link")
    assert "brt12" not in links and "brt13" in links


@pytest.mark.parametrize(
    "state,config,options,message",
    [
        ("merged", [{"name": "brt11"}], {"foreign_ports": "keep"}, "applies to state=deleted"),
        ("deleted", [], {"foreign_ports": "keep", "scope": {"prefix": "brt"}}, "with a config"),
        ("deleted", [{"name": "brt11"}], {"foreign_ports": "keep", "force": True}, "without force"),
        ("deleted", [{"name": "brt11"}], {"foreign_ports": "maybe"}, "one of refuse, keep"),
        ("deleted", [{"name": "brt11"}], {"foreign_ports": ""}, "one of refuse, keep"),
        ("deleted", [{"name": "brt11"}], {"force": "perhaps"}, "force"),
        ("merged", [{"name": "brt11", "stp": "maybe"}], {}, "stp"),
    ],
)
def test_bad_options_change_nothing(host_ns, state, config, options, message):
    h = host_ns
    run(h, [{"name": "brt11", "stp": "false"}])
    assert details(h, "brt11")["linkinfo"]["info_data"]["stp_state"] == 0, "the string 'false' is false"
    before = ip(h, "-br", "link"), ip(h, "-br", "addr")  # -d would show the bridge's running timers
    with pytest.raises(ValidationError, match=message):
        run(h, config, state=state, **options)
    assert (ip(h, "-br", "link"), ip(h, "-br", "addr")) == before
    assert details(h, "brt11")["linkinfo"]["info_data"]["stp_state"] == 0


def test_deleted_by_scope_spares_foreign_bridges(host_ns):
    h = host_ns
    run(h, [{"name": "brt6"}, {"name": "brt7"}])
    ip(h, "link", "add", "brt8", "type", "bridge")
    result = run(h, [], state="deleted", scope={"prefix": "brt"})
    assert sorted(a["name"] for a in result["actions"]) == ["brt6", "brt7"]
    links = ip(h, "-br", "link")
    assert "brt6" not in links and "brt7" not in links and "brt8" in links
    assert run(h, [], state="deleted", scope={"prefix": "brt"})["changed"] is False


def mac_of(host, name):
    return details(host, name)["address"]


def test_mac_stays_when_the_lowest_port_leaves(host_ns):
    """Without mac, the bridge gets a fixed MAC: removing its lowest-MAC port must not move it (stale ARP)."""
    h = host_ns
    run(h, [{"name": "brt9", "addresses": ["172.30.9.1/24"]}])
    for n, mac in ((1, "02:00:00:00:00:01"), (2, "02:00:00:00:00:02")):
        ip(h, "link", "add", f"pt{n}", "address", mac, "type", "veth", "peer", "name", f"pt{n}p")
        ip(h, "link", "set", f"pt{n}", "master", "brt9", "up")
    assert mac_of(h, "brt9") == "02:42:ac:1e:09:01"
    ip(h, "link", "del", "pt1")
    assert mac_of(h, "brt9") == "02:42:ac:1e:09:01"
    ip(h, "link", "del", "pt2")
    assert mac_of(h, "brt9") == "02:42:ac:1e:09:01"
    assert run(h, [{"name": "brt9", "addresses": ["172.30.9.1/24"]}])["changed"] is False


def test_owned_bridge_with_floating_mac_gets_a_stable_one(host_ns):
    """A bridge an earlier version made (kernel-assigned MAC) is given its stable MAC on the next run."""
    h = host_ns
    ip(h, "link", "add", "brt10", "type", "bridge")
    ip(h, "link", "set", "brt10", "alias", "netplumb.container", "up")
    ip(h, "addr", "add", "172.30.10.1/24", "dev", "brt10")
    ip(h, "link", "add", "pt3", "address", "02:00:00:00:00:03", "type", "veth", "peer", "name", "pt3p")
    ip(h, "link", "set", "pt3", "master", "brt10", "up")
    assert mac_of(h, "brt10") == "02:00:00:00:00:03"  # the kernel took the port's MAC
    result = run(h, [{"name": "brt10"}])
    assert [a["summary"] for a in result["actions"]] == ["update bridge brt10: mac=02:42:ac:1e:0a:01"]
    ip(h, "link", "del", "pt3")
    assert mac_of(h, "brt10") == "02:42:ac:1e:0a:01"
    assert run(h, [{"name": "brt10"}])["changed"] is False


def test_addresses_added_by_hand(host_ns):
    """An owned bridge carries exactly its addresses: merged keeps a hand-made extra, replaced removes it."""
    h = host_ns
    cfg = [{"name": "brt11", "addresses": ["172.30.11.1/24"]}]
    run(h, cfg)
    ip(h, "addr", "add", "172.30.11.7/24", "dev", "brt11")
    assert run(h, cfg)["changed"] is False
    result = run(h, cfg, state="replaced")
    assert [a["summary"] for a in result["actions"]] == ["update bridge brt11: del_addresses=['172.30.11.7/24']"]
    addrs = ip(h, "addr", "show", "brt11")
    assert "172.30.11.1/24" in addrs and "172.30.11.7" not in addrs
    assert run(h, cfg, state="replaced")["changed"] is False


def test_a_bridge_an_interrupted_run_left_half_made_is_taken_over(host_ns):
    """A run killed between RTM_NEWLINK and setting the alias (the kernel ignores IFLA_IFALIAS on creation)
    leaves the bridge down, unmarked, with the stable MAC and MTU it was created with: the next run completes
    it, and teardown then removes it."""
    h = host_ns
    cfg = [{"name": "brt12", "addresses": ["172.30.12.1/24"], "mtu": 1400}]
    ip(h, "link", "add", "brt12", "address", "02:42:ac:1e:0c:01", "mtu", "1400", "type", "bridge")
    result = run(h, cfg)
    assert result["warnings"] == [
        "bridge brt12: taking over a bridge an interrupted run left half made (down, without the ownership mark, "
        "addresses or ports, with exactly the MAC this run gives it)"
    ]
    assert [a["summary"] for a in result["actions"]] == [
        "update bridge brt12: add_addresses=['172.30.12.1/24'], owned=True, up=True"
    ]
    d = details(h, "brt12")
    assert d["ifalias"] == "netplumb.container" and "UP" in d["flags"] and d["address"] == "02:42:ac:1e:0c:01"
    again = run(h, cfg)
    assert again["changed"] is False and "warnings" not in again
    assert run(h, cfg, state="deleted")["changed"] is True
    assert "brt12" not in ip(h, "-br", "link")


@pytest.mark.parametrize(
    "made",
    [
        ["address", "02:00:00:00:12:13"],  # another MAC
        ["address", "02:42:ac:1e:0d:01", "mtu", "1300"],  # the MAC, another MTU
        ["address", "02:42:ac:1e:0d:01", "up"],  # up: someone uses it
    ],
)
def test_a_foreign_bridge_is_not_taken_for_a_half_made_one(host_ns, made):
    h = host_ns
    up = made[-1] == "up"
    ip(h, "link", "add", "brt13", *[x for x in made if x != "up"], "type", "bridge")
    if up:
        ip(h, "link", "set", "brt13", "up")
    cfg = [{"name": "brt13", "addresses": ["172.30.13.1/24"], "mtu": 1400}]
    result = run(h, cfg)
    assert "warnings" not in result
    assert "ifalias" not in details(h, "brt13")
    with pytest.raises(ConflictError, match=r"was not created by netplumb\.container"):
        run(h, cfg, state="deleted")
    assert "brt13" in ip(h, "-br", "link")
