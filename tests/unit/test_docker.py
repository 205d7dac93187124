"""fleet_docker: the daemon.json merge and give-back, the run on real files (check mode, bad JSON,
idempotence), Docker's address pools cut around the cluster, the fleet plan of a Docker host, and the
nat rules of a foreign bridge."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._docker import (
    Entry,
    address_pools,
    daemon_settings,
    merge,
    run,
    unmerge,
)
from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import iptables
from ansible_collections.netplumb.container.plugins.module_utils._firewall.model import derive_rules, parse_network
from ansible_collections.netplumb.container.plugins.module_utils._fleet import parse_vars, plan_fleet
from ansible_collections.netplumb.container.plugins.module_utils._vxlan import vtep_mac

from .test_fleet import LEASES, ONE_SEGMENT, SUBNETS

PATH = "/etc/docker/daemon.json"
SLICE = {"bip": "10.244.1.1/24", "fixed-cidr": "10.244.1.0/24", "mtu": 1450, "ip-masq": False}


# ---------------------------------------------------------------- merge and give back (pure)


def test_merge_keeps_the_users_keys_and_records_what_they_held():
    current = {"log-driver": "journald", "mtu": 1500, "debug": True}
    after, entry, warnings = merge(current, SLICE, None, PATH)
    assert after == {"log-driver": "journald", "mtu": 1450, "debug": True, **SLICE}
    assert list(after)[:3] == ["log-driver", "mtu", "debug"]  # the user's order stays
    assert entry.created is False
    assert entry.keys["mtu"] == {"had": True, "previous": 1500, "set": 1450}
    assert entry.keys["bip"] == {"had": False, "previous": None, "set": "10.244.1.1/24"}
    assert warnings == []


def test_a_second_merge_keeps_the_first_previous_values():
    after, entry, _warnings = merge({"mtu": 1500}, SLICE, None, PATH)
    again, entry2, _warnings = merge(after, {**SLICE, "mtu": 1400}, entry, PATH)
    assert again["mtu"] == 1400
    assert entry2.keys["mtu"] == {"had": True, "previous": 1500, "set": 1400}


def test_a_key_no_longer_set_gets_its_previous_value_back():
    after, entry, _warnings = merge({"ipv6": False}, {**SLICE, "ipv6": True}, None, PATH)
    again, entry2, _warnings = merge(after, SLICE, entry, PATH)
    assert again["ipv6"] is False and "ipv6" not in entry2.keys


def test_bridge_in_the_file_is_a_conflict():
    with pytest.raises(ConflictError, match=r"daemon.json: it sets 'bridge' = 'br0'.*nothing was changed"):
        merge({"bridge": "br0"}, SLICE, None, PATH)


def test_unmerge_restores_removes_and_keeps_what_the_user_changed():
    current = {"log-driver": "journald", "mtu": 1500}
    after, entry, _warnings = merge(current, SLICE, None, PATH)
    after["fixed-cidr"] = "10.244.1.128/25"  # the user changed one of ours
    back, warnings = unmerge(after, entry, PATH)
    assert back == {"log-driver": "journald", "mtu": 1500, "fixed-cidr": "10.244.1.128/25"}
    assert len(warnings) == 1 and "'fixed-cidr' was changed after netplumb set it" in warnings[0]


def test_unmerge_of_a_file_the_collection_created_removes_it():
    after, entry, _warnings = merge(None, SLICE, None, PATH)
    assert entry.created
    assert unmerge(after, entry, PATH) == (None, [])
    after["log-driver"] = "local"  # a key the user added since: the file stays with it
    assert unmerge(after, entry, PATH) == ({"log-driver": "local"}, [])


def test_unmerge_without_a_record_changes_nothing():
    assert unmerge({"bip": "10.244.1.1/24"}, None, PATH) == ({"bip": "10.244.1.1/24"}, [])
    assert unmerge(None, Entry(True, {}), PATH) == (None, [])


# ---------------------------------------------------------------- the run on files


@pytest.fixture
def files(tmp_path):
    config = tmp_path / "etc" / "docker" / "daemon.json"
    record = tmp_path / "var" / "netplumb" / "docker-daemon.json"
    return config, record


def params(files, state="present", settings=None):
    config, record = files
    return {"path": str(config), "record_path": str(record), "state": state, "settings": settings}


def test_run_check_apply_idempotent_absent(files):
    config, record = files
    config.parent.mkdir(parents=True)
    config.write_text('{"log-driver": "journald", "mtu": 1500}\n')
    os.chmod(config, 0o600)

    checked = run(params(files, settings=SLICE), check_mode=True)
    assert checked["changed"] and checked["config_changed"]
    assert json.loads(config.read_text()) == {"log-driver": "journald", "mtu": 1500}
    assert not record.exists() and not record.parent.exists()
    assert '"bip": "10.244.1.1/24"' in checked["diff"]["after"] and "bip" not in checked["diff"]["before"]
    assert checked["actions"][0]["params"] == SLICE

    done = run(params(files, settings=SLICE), check_mode=False)
    assert done["changed"] and done["config"] == json.loads(config.read_text())
    assert json.loads(config.read_text()) == {"log-driver": "journald", "mtu": 1450, **SLICE}
    assert os.stat(config).st_mode & 0o777 == 0o600  # the file's mode stays

    again = run(params(files, settings=SLICE), check_mode=False)
    assert not again["changed"] and again["actions"] == []

    # The same keys written with other whitespace are the same settings: no change.
    config.write_text(json.dumps(json.loads(config.read_text())))
    assert not run(params(files, settings=SLICE), check_mode=False)["changed"]

    gone = run(params(files, state="absent"), check_mode=False)
    assert gone["changed"] and json.loads(config.read_text()) == {"log-driver": "journald", "mtu": 1500}
    assert not record.exists() and not record.parent.exists()
    assert not run(params(files, state="absent"), check_mode=False)["changed"]


def test_run_creates_and_removes_the_file_it_made(files):
    config, _record = files
    run(params(files, settings=SLICE), check_mode=False)
    assert json.loads(config.read_text()) == SLICE
    run(params(files, state="absent"), check_mode=False)
    assert not config.exists()


@pytest.mark.parametrize("text", ['{"log-driver": "journald",}', "[1, 2]", '"bip"'])
def test_bad_json_fails_and_changes_nothing(files, text):
    config, record = files
    config.parent.mkdir(parents=True)
    config.write_text(text)
    with pytest.raises(ValidationError, match=rf"docker daemon config {config} is not (valid JSON|a JSON object)"):
        run(params(files, settings=SLICE), check_mode=False)
    assert config.read_text() == text
    assert not record.exists()


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"state": "gone"}, "state must be one of present, absent, got 'gone'"),
        ({"settings": None}, "state=present needs settings"),
        ({"settings": ["bip"]}, "settings must be a mapping"),
        ({"settings": {"bridge": "br0"}}, "'bridge' cannot be set here"),
        ({"settings": {"mtu": {1, 2}}}, "mtu = .* cannot be written as JSON"),
        ({"path": "etc/docker/daemon.json"}, "path: 'etc/docker/daemon.json' is not an absolute path"),
    ],
)
def test_bad_module_input_changes_nothing(files, bad, match):
    config, record = files
    with pytest.raises(ValidationError, match=match):
        run({**params(files, settings=SLICE), **bad}, check_mode=False)
    assert not config.exists() and not record.exists()


# ---------------------------------------------------------------- what the fleet writes


def test_docker_pools_are_cut_around_the_cluster_range():
    pools = address_pools(None, ["172.20.0.0/16", "198.18.0.0/24"], "fleet_docker_address_pools")
    bases = [p["base"] for p in pools if p["size"] == 16]
    assert "172.20.0.0/16" not in bases and "172.21.0.0/16" in bases and "172.17.0.0/16" in bases
    assert {"base": "192.168.0.0/16", "size": 20} in pools
    # A cluster smaller than a pool's networks takes the whole /16 around it.
    pools = address_pools([{"base": "10.0.0.0/8", "size": 16}], ["10.244.0.0/18"], "p")
    assert all(not p["base"].startswith("10.244.") for p in pools) and {"base": "10.245.0.0/16", "size": 16} in pools
    with pytest.raises(ValidationError, match=r"no pool is left outside 10.0.0.0/8"):
        address_pools([{"base": "10.244.0.0/16", "size": 24}], ["10.0.0.0/8"], "p")


def test_daemon_settings_of_a_slice():
    pools = [{"base": "172.17.0.0/16", "size": 16}]
    assert daemon_settings("10.244.3.0/24", None, 1450, pools) == {
        "bip": "10.244.3.1/24",
        "fixed-cidr": "10.244.3.0/24",
        "ip-masq": False,
        "default-address-pools": pools,
        "mtu": 1450,
    }
    dual = daemon_settings("10.244.3.0/24", "fd00:244:0:3::/64", 1450, pools)
    assert dual["ipv6"] is True and dual["fixed-cidr-v6"] == "fd00:244:0:3::/64"


def test_fleet_plan_of_docker_hosts():
    per_host = {h: parse_vars({"fleet_lease_file": LEASES, "fleet_docker": "yes"}, h) for h in ("h1", "h2")}
    per_host["h3"] = parse_vars({"fleet_lease_file": LEASES, "fleet_docker": "off"}, "h3")
    plan = plan_fleet(per_host, ONE_SEGMENT, SUBNETS, None, vtep_mac)
    h2 = plan["hosts"]["h2"]
    assert h2["network"] is None  # no bridge_network network: Docker owns docker0
    assert h2["docker"]["settings"]["bip"] == "10.244.1.1/24" and h2["docker"]["settings"]["mtu"] == 1500
    assert h2["docker"]["restart"] is True and h2["docker"]["config"] == "/etc/docker/daemon.json"
    assert h2["docker"]["nat"] == {
        "network": "docker0",
        "bridge": "docker0",
        "subnets": ["10.244.1.0/24"],
        "cluster_subnets": ["10.244.0.0/16"],
        "foreign_bridge": True,
    }
    assert {"dst": "10.244.2.0/24", "via": "198.18.0.13", "dev": "ul0", "onlink": False} in h2["routes"]
    assert plan["hosts"]["h3"]["docker"] is None and plan["hosts"]["h3"]["network"]["bridge"] == "docker0"


def test_fleet_docker_bad_input():
    with pytest.raises(ValidationError, match="fleet on h1: fleet_docker: 'maybe' is not a boolean"):
        parse_vars({"fleet_lease_file": LEASES, "fleet_docker": "maybe"}, "h1")
    with pytest.raises(ValidationError, match=r"fleet_docker needs fleet_bridge docker0.*got 'cbr0'"):
        parse_vars({"fleet_lease_file": LEASES, "fleet_docker": True, "fleet_bridge": "cbr0"}, "h1")
    with pytest.raises(ValidationError, match="fleet_docker_restart"):
        parse_vars({"fleet_lease_file": LEASES, "fleet_docker": True, "fleet_docker_restart": "sometimes"}, "h1")
    with pytest.raises(ValidationError, match=r"fleet_docker_config: 'daemon.json' is not an absolute path"):
        parse_vars({"fleet_lease_file": LEASES, "fleet_docker": True, "fleet_docker_config": "daemon.json"}, "h1")
    assert parse_vars({"fleet_lease_file": LEASES, "fleet_docker": "0", "fleet_bridge": "cbr0"}, "h1")["docker"] is None


# ---------------------------------------------------------------- the nat rules of docker0


def test_foreign_bridge_gets_the_cluster_accept_the_unpublished_drop_and_the_masquerade():
    net = parse_network(
        {
            "network": "docker0",
            "bridge": "docker0",
            "subnets": ["10.244.1.0/24"],
            "cluster_subnets": ["10.244.0.0/16"],
            "foreign_bridge": "true",
        }
    )
    rendered = iptables.render(derive_rules([net]), 4)["chains"]
    assert rendered["filter"]["NETPLUMB-FORWARD"] == [
        "-s 10.244.0.0/16 -o docker0 -m comment --comment docker0 -j ACCEPT",
        "-j NETPLUMB-ISOLATION-STAGE-1",
        "-o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment docker0 -j ACCEPT",
        # Docker's published ports are DNATed: they pass, whatever the FORWARD policy; the rest is dropped.
        "-o docker0 -m conntrack --ctstate DNAT -m comment --comment docker0 -j ACCEPT",
        "! -i docker0 -o docker0 -m comment --comment docker0 -j DROP",
    ]
    assert rendered["nat"]["NETPLUMB-POSTROUTING"] == [
        "-s 10.244.1.0/24 -d 10.244.0.0/16 ! -o docker0 -m comment --comment docker0 -j RETURN",
        "-s 10.244.1.0/24 ! -o docker0 -m comment --comment docker0 -j MASQUERADE",
    ]
    # Docker's published ports and isolation stay Docker's: no published chain, no isolation.
    assert rendered["filter"]["NETPLUMB"] == [] and rendered["filter"]["NETPLUMB-ISOLATION-STAGE-2"] == []


@pytest.mark.parametrize(
    "extra",
    [{"internal": True}, {"icc": False}, {"publish": [{"host_port": 80, "container_address": "10.244.1.2"}]}],
)
def test_foreign_bridge_refuses_what_docker_owns(extra):
    entry = {"network": "docker0", "bridge": "docker0", "subnets": ["10.244.1.0/24"], "foreign_bridge": True}
    with pytest.raises(ValidationError, match="nat network docker0: a foreign_bridge network takes no internal"):
        parse_network({**entry, **extra})
