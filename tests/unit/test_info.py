"""network_info's pure half: a snapshot (as read_snapshot returns it) in, the documented structure and drift out."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._info import assemble, summary


def link(name, index, kind, owned=True, master=None, addresses=(), mac="02:00:00:00:00:01", **extra):
    return {
        "name": name,
        "index": index,
        "kind": kind,
        "owned": owned,
        "mtu": 1500,
        "mac": mac,
        "up": True,
        "master": master,
        "addresses": list(addresses),
        **extra,
    }


def snapshot() -> dict:
    """docker0 with web (published 8080) and db (none mode); a vxlan peer and a host-gw peer."""
    return {
        "errors": [],
        "all_netns": ["web", "batch"],
        "host_links": [
            link("docker0", 3, "bridge", addresses=["172.17.0.1/16"], mac="b6:00:00:00:00:01"),
            link("vnpweb", 5, "veth", master="docker0", hairpin=True, peer_index=2, peer_netns="web"),
            link("ul0", 2, "veth", owned=False, addresses=["198.18.0.2/24"]),
            link(
                "flannel.1",
                7,
                "vxlan",
                vxlan={"vni": 1, "port": 4789, "local": "198.18.0.2", "dev": "ul0", "learning": False},
            ),
        ],
        "netns": {
            "web": {
                "owned": True,
                "links": [
                    link("lo", 1, "loopback", owned=False, mac="00:00:00:00:00:00"),
                    link("eth0", 2, "veth", addresses=["172.17.0.2/16"], mac="02:42:ac:11:00:02"),
                ],
                "routes": [{"dst": "0.0.0.0/0", "via": "172.17.0.1", "dev": "eth0", "protocol": 3}],
            },
            "batch": {"owned": True, "links": [link("lo", 1, "loopback", owned=False)], "routes": []},
        },
        "routes": [
            {
                "dst": "10.244.1.0/24",
                "via": "10.244.1.0",
                "dev": "flannel.1",
                "onlink": True,
                "table": 254,
                "metric": 0,
            },
            {"dst": "10.244.2.0/24", "via": "198.18.0.3", "dev": "ul0", "onlink": False, "table": 254, "metric": 0},
        ],
        "fdb": {"flannel.1": [{"mac": "0a:58:0a:f4:01:00", "dst": "198.19.0.3", "permanent": True}]},
        "neighbours": {"flannel.1": [{"address": "10.244.1.0", "mac": "0a:58:0a:f4:01:00", "permanent": True}]},
        "ipam": {
            "docker0": {
                "store": "/var/lib/netplumb/ipam/docker0.json",
                "pools": [
                    {
                        "subnet": "172.17.0.0/16",
                        "gateway": "172.17.0.1",
                        "ip_range": "172.17.0.0/16",
                        "aux_addresses": {},
                    }
                ],
                "endpoints": {"web": {"netns": "web", "addresses": ["172.17.0.2"]}},
            }
        },
        "nat": {
            "path": "/var/lib/netplumb/nat.json",
            "backend": "nftables",
            "variant": None,
            "networks": [
                {
                    "name": "docker0",
                    "bridge": "docker0",
                    "subnets": ["172.17.0.0/16"],
                    "masquerade": True,
                    "outbound_address": None,
                    "icc": True,
                    "internal": False,
                    "isolate": True,
                    "hairpin": True,
                    "publish": [
                        {
                            "host_ip": "0.0.0.0",
                            "host_port": 8080,
                            "container_address": "172.17.0.2",
                            "container_port": 80,
                            "proto": "tcp",
                        }
                    ],
                }
            ],
        },
        "registry": {
            "path": "/var/lib/netplumb/ipam/definitions",
            "endpoints": ["agent", "batch", "web"],
            "modes": {"agent": "host", "batch": "none", "web": "bridge"},
            "definitions": {"agent": "default", "batch": "default", "web": "default"},
        },
        "firewall": {
            "nftables": {"table": "inet netplumb", "chains": {"dnat": 1}, "user_rules": 0},
            "iptables": {},
            "stale": [],
        },
    }


def test_clean_host_has_the_whole_structure_and_no_drift():
    out = assemble(snapshot())
    assert out["drift"] == []
    (net,) = out["networks"]
    assert net["name"] == "docker0" and net["bridge"] == "docker0" and net["present"] and net["owned"]
    assert net["subnets"] == ["172.17.0.0/16"] and net["gateways"] == ["172.17.0.1"]
    assert net["ports"] == [{"name": "vnpweb", "kind": "veth", "owned": True, "netns": "web", "hairpin": True}]
    assert net["containers"] == [
        {
            "endpoint": "web",
            "netns": "web",
            "interface": "eth0",
            "host_veth": "vnpweb",
            "mac": "02:42:ac:11:00:02",
            "addresses": ["172.17.0.2/16"],
        }
    ]
    assert net["policy"]["masquerade"] is True
    modes = {e["name"]: (e["mode"], e["netns"], e["registered"]) for e in out["endpoints"]}
    assert modes == {
        "web": ("bridge", "web", True),
        "batch": ("none", "batch", True),
        "agent": ("host", None, True),
    }
    web = next(e for e in out["endpoints"] if e["name"] == "web")
    assert web["ipam"] == [{"network": "docker0", "endpoint": "web", "addresses": ["172.17.0.2"]}]
    assert web["links"][0]["network"] == "docker0" and web["links"][0]["host_veth"] == "vnpweb"
    assert out["published"][0]["endpoint"] == "web"
    assert out["firewall"]["backend"] == "nftables" and out["firewall"]["stale_chains"] == []
    assert out["mesh"]["peers"] == [
        {
            "subnet": "10.244.1.0/24",
            "via": "10.244.1.0",
            "dev": "flannel.1",
            "backend": "vxlan",
            "vtep_mac": "0a:58:0a:f4:01:00",
            "underlay": "198.19.0.3",
        },
        {
            "subnet": "10.244.2.0/24",
            "via": "198.18.0.3",
            "dev": "ul0",
            "backend": "host-gw",
            "vtep_mac": None,
            "underlay": "198.18.0.3",
        },
    ]
    assert summary({**out}) == {"networks": 1, "endpoints": 3, "published": 1, "peers": 2, "drift": 0}


def drift_of(snap: dict) -> list[tuple[str, str]]:
    return [(d["kind"], d["object"]) for d in assemble(snap)["drift"]]


def test_namespace_whose_record_is_gone():
    snap = snapshot()
    snap["ipam"]["docker0"]["endpoints"] = {}
    snap["registry"] = {"path": "-", "endpoints": ["batch"], "modes": {"batch": "none"}, "definitions": {}}
    found = assemble(snap)["drift"]
    assert [(d["kind"], d["object"]) for d in found] == [
        ("netns_unrecorded", "netns web"),
        ("address_unrecorded", "netns web"),
    ]
    task = found[1]["fix"]["task"]["netplumb.container.ipam"]
    assert task["network"] == "docker0" and task["state_dir"] == "/var/lib/netplumb/ipam"
    assert task["config"] == [{"endpoint": "web", "netns": "web", "addresses": ["172.17.0.2"]}]
    assert found[0]["fix"] == {
        "command": "ip netns del web",
        "task": {"netplumb.container.netns": {"config": [{"name": "web"}], "state": "deleted"}},
    }


def test_record_whose_namespace_is_gone_has_an_adhoc_command():
    snap = snapshot()
    snap["ipam"]["docker0"]["endpoints"]["db"] = {"netns": "db", "addresses": ["172.17.0.3"]}
    (finding,) = assemble(snap)["drift"]
    assert finding["kind"] == "record_without_netns" and finding["object"] == "ipam docker0/db"
    assert finding["fix"]["command"] == (
        "ansible <this host> -m netplumb.container.ipam -a "
        '\'{"config": [{"endpoint": "db"}], "network": "docker0", "state": "deleted", '
        '"state_dir": "/var/lib/netplumb/ipam"}\''
    )


def test_missing_and_unrecorded_bridges_and_foreign_ports():
    snap = snapshot()
    snap["host_links"][0]["name"] = "docker1"  # docker0 is gone; docker1 is owned and unrecorded
    snap["host_links"].append(link("tap9", 9, "tun", owned=False, master="docker1"))
    assert drift_of(snap) == [
        ("bridge_missing", "bridge docker0"),
        ("bridge_unrecorded", "bridge docker1"),
        ("foreign_port", "link tap9"),
    ]
    found = assemble(snap)["drift"]
    assert found[0]["fix"]["task"] == {
        "netplumb.container.bridge": {"config": [{"name": "docker0", "addresses": ["172.17.0.1/16"]}]}
    }
    assert found[2]["fix"]["command"] == "ip link set dev tap9 nomaster"


def test_foreign_bridges_are_not_ours_to_judge():
    snap = snapshot()
    snap["host_links"].append(link("br-user", 11, "bridge", owned=False))
    snap["host_links"].append(link("eth9", 12, "veth", owned=False, master="br-user"))
    assert drift_of(snap) == []


def test_published_port_to_nobody_and_stale_firewall():
    snap = snapshot()
    snap["nat"]["networks"][0]["publish"].append(
        {
            "host_ip": "0.0.0.0",
            "host_port": 9000,
            "container_address": "172.17.0.9",
            "container_port": 90,
            "proto": "udp",
        }
    )
    snap["firewall"]["stale"] = ["dnat", "postrouting"]
    found = assemble(snap)["drift"]
    assert [(d["kind"], d["object"]) for d in found] == [
        ("publish_without_endpoint", "publish 0.0.0.0:9000/udp"),
        ("firewall_stale", "firewall nftables"),
    ]
    nat = found[0]["fix"]["task"]["netplumb.container.nat"]["config"][0]
    assert nat["network"] == "docker0" and nat["subnets"] == ["172.17.0.0/16"]
    assert [p["host_port"] for p in nat["publish"]] == [8080], "the port to nobody is withdrawn, the others kept"
    assert "dnat, postrouting" in found[1]["problem"]


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda s: s["fdb"]["flannel.1"].clear(), [("mesh_incomplete", "route 10.244.1.0/24")]),
        (
            lambda s: s["neighbours"]["flannel.1"].clear(),
            [("mesh_incomplete", "route 10.244.1.0/24"), ("mesh_stale", "fdb 0a:58:0a:f4:01:00 dev flannel.1")],
        ),
        (
            lambda s: s["routes"].pop(0),
            [
                ("mesh_stale", "fdb 0a:58:0a:f4:01:00 dev flannel.1"),
                ("mesh_stale", "neighbour 10.244.1.0 dev flannel.1"),
            ],
        ),
    ],
    ids=["fdb-missing", "neighbour-missing", "peer-left"],
)
def test_mesh_drift(change, expected):
    snap = snapshot()
    change(snap)
    assert drift_of(snap) == expected


def test_mesh_entries_of_a_device_we_do_not_own_are_left_alone():
    snap = snapshot()
    snap["host_links"][3]["owned"] = False
    snap["routes"].pop(0)
    assert drift_of(snap) == []


def test_assemble_does_not_change_the_snapshot_and_without_records():
    snap = snapshot()
    copy_ = copy.deepcopy(snap)
    assemble(snap)
    assert snap == copy_
    bare = {**snapshot(), "ipam": {}, "nat": None, "registry": None, "firewall": None}
    out = assemble(bare)
    assert out["firewall"]["read"] is False and out["firewall"]["backend"] is None
    assert [(n["name"], n["bridge"]) for n in out["networks"]] == [(None, "docker0")]
    assert sorted(k for k, _o in drift_of(bare)) == ["bridge_unrecorded", "netns_unrecorded", "netns_unrecorded"]
