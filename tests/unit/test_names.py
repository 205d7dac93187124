"""Names across the fleet: who sees whom in the hosts files the endpoints role writes (pure builder)."""

from __future__ import annotations

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._names import (
    hosts_entries,
    netns_config,
    parse_names_settings,
)


def alloc(v4, v6=None):
    return {"ipv4": v4, **({"ipv6": v6} if v6 else {})}


def ep(name, *nets, mode="bridge"):
    return {"name": name, "mode": mode, "networks": [{"name": n} for n in nets]}


def lines(entries):
    return [f"{address} {' '.join(names)}" for address, names in entries]


# h1 and h2 each have a slice of the fleet network "fleet" and a local network "back" of the same name.
BY_HOST = {
    "h1": {
        "fleet": {"web": alloc("10.244.1.2"), "api": alloc("10.244.1.3")},
        "back": {"web": alloc("172.20.0.2"), "db": alloc("172.20.0.3")},
    },
    "h2": {
        "fleet": {"api": alloc("10.244.2.2"), "cache": alloc("10.244.2.3", "fd00:2::3")},
        "back": {"secret": alloc("172.20.0.2")},
    },
}
H1 = [
    ep("web", "fleet", "back"),
    ep("api", "fleet"),
    ep("db", "back"),
    ep("lone", mode="none"),
    ep("s", mode="container"),
]


def test_fleet_network_sees_every_host_local_network_only_this_host():
    got = hosts_entries("h1", H1, BY_HOST, ["fleet"])
    assert set(got) == {"web", "api", "db", "lone"}, "a container sharing a namespace has no hosts file of its own"
    assert lines(got["web"]) == [
        "10.244.1.2 web web.h1",  # its own name first, its address on its first network
        "10.244.1.3 api api.h1",  # the local api holds the bare name; h2's is api.h2
        "10.244.2.2 api.h2",
        "10.244.2.3 cache cache.h2",
        "fd00:2::3 cache cache.h2",
        "172.20.0.3 db db.h1",  # back is local: h2's "secret" on its own back is not seen
    ]
    assert lines(got["db"]) == ["172.20.0.3 db db.h1", "172.20.0.2 web web.h1"]
    assert lines(got["lone"]) == ["127.0.1.1 lone lone.h1"], "mode none: its own name on loopback"


def test_without_fleet_networks_only_this_host_is_seen():
    got = hosts_entries("h1", H1, BY_HOST, [])
    assert lines(got["api"]) == ["10.244.1.3 api api.h1", "10.244.1.2 web web.h1"]


def test_from_the_other_host():
    h2 = [ep("api", "fleet"), ep("cache", "fleet"), ep("secret", "back")]
    got = hosts_entries("h2", h2, BY_HOST, ["fleet"])
    assert lines(got["cache"]) == [
        "10.244.2.3 cache cache.h2",
        "fd00:2::3 cache cache.h2",
        "10.244.2.2 api api.h2",  # h2's own api holds the bare name there
        "10.244.1.3 api.h1",
        "10.244.1.2 web web.h1",
    ]
    assert lines(got["secret"]) == ["172.20.0.2 secret secret.h2"]


def test_a_host_without_containers_or_an_unusable_inventory_name():
    by_host = {
        "h1": {"fleet": {"web": alloc("10.244.1.2")}},
        "gone": {},
        "bad name": {"fleet": {"x": alloc("10.9.9.9")}},
    }
    got = hosts_entries("h1", [ep("web", "fleet")], by_host, ["fleet"])
    assert lines(got["web"]) == ["10.244.1.2 web web.h1", "10.9.9.9 x"], "no x.'bad name'"


def test_netns_config_adds_the_files_only_when_names_are_on():
    settings = parse_names_settings(True, ["192.0.2.53"], [], None, ["fleet"])
    assert settings == {
        "enabled": True,
        "resolv_conf": {"nameservers": ["192.0.2.53"], "search": None, "options": None},
        "fleet_networks": ["fleet"],
    }
    netns = [{"name": "web", "sysctls": {"net.ipv4.ip_forward": "1"}}, {"name": "api"}, {"name": "db"}]
    out = netns_config(netns, H1, BY_HOST, "h1", settings)
    web, api, db = out["config"]
    assert web["sysctls"] == {"net.ipv4.ip_forward": "1"} and web["resolv_conf"]["nameservers"] == ["192.0.2.53"]
    assert web["hosts"] == [{"address": "10.244.1.2", "names": ["web", "web.h1"]}]
    # One table per list of networks, sent once: web (fleet, back), api (fleet), db (back).
    assert len({web["hosts_table"], api["hosts_table"], db["hosts_table"]}) == 3
    assert sorted(t["name"] for t in out["hosts_tables"]) == sorted(
        [web["hosts_table"], api["hosts_table"], db["hosts_table"]]
    )
    off = netns_config(netns, H1, BY_HOST, "h1", parse_names_settings("no", [], [], [], []))
    assert off == {"config": netns, "hosts_tables": []}


def test_a_table_of_250_containers_is_built_once():
    allocs = {"h1": {"net": {f"c{i}": alloc(f"172.17.{i // 250}.{i % 250 + 2}") for i in range(250)}}}
    eps = [ep(f"c{i}", "net") for i in range(250)]
    out = netns_config(
        [{"name": f"c{i}"} for i in range(250)], eps, allocs, "h1", parse_names_settings(1, [], [], [], [])
    )
    assert len(out["hosts_tables"]) == 1 and len(out["hosts_tables"][0]["entries"]) == 250
    assert all(len(c["hosts"]) == 1 for c in out["config"])


@pytest.mark.parametrize(
    "args,message",
    [
        (("maybe", [], [], [], []), "endpoints_names: 'maybe' is not a boolean"),
        (("true", ["8.8.8.888"], [], [], []), "endpoints_dns '8.8.8.888' is not a valid IP"),
        (("true", "8.8.8.8", [], [], []), "endpoints_dns: '8.8.8.8' is not a list"),
        (("true", [], ["bad domain"], [], []), "endpoints_dns_search: search domain 'bad domain'"),
        (("true", [], [], ["x y"], []), "endpoints_dns_options: 'x y'"),
        (("true", [], [], [], ["-x"]), "endpoints_fleet_networks '-x'"),
    ],
)
def test_bad_names_settings(args, message):
    with pytest.raises(ValidationError, match=message.replace(".", r"\.").replace("'", "'")):
        parse_names_settings(*args)


def test_network_info_reads_the_names_of_a_hosts_file_the_collection_wrote(tmp_path, monkeypatch):
    from ansible_collections.netplumb.container.plugins.module_utils import _info, _netns

    monkeypatch.setattr(_netns, "ETC_NETNS", str(tmp_path))
    entries = (("10.244.1.2", ("web", "web.h1")), ("10.244.2.2", ("api.h2",)))
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "hosts").write_text(_netns.render_hosts("web", entries))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "hosts").write_text("10.0.0.1 mine\n")
    assert _info.hosts_file_names("web") == [
        {"address": "10.244.1.2", "names": ["web", "web.h1"]},
        {"address": "10.244.2.2", "names": ["api.h2"]},
    ]
    assert _info.hosts_file_names("mine") is None, "someone else's file is not the collection's view"
    assert _info.hosts_file_names("none") is None
