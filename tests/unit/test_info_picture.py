"""The fleet picture (plugins/filter/inspect.py) from network_info fixtures: model, Mermaid, DOT, endpoint list."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ansible_collections.netplumb.container.plugins.filter.inspect import (
    FilterModule,
    build_model,
    fleet_dot,
    fleet_endpoints,
    fleet_mermaid,
    fleet_model,
    node_id,
)


def info(slice_: str, gateway: str, containers: dict[str, str], peers: list[dict], drift: int = 0) -> dict:
    prefix = slice_.split("/")[1]
    return {
        "networks": [
            {
                "name": "docker0",
                "bridge": "docker0",
                "present": True,
                "subnets": [slice_],
                "gateways": [gateway],
                "containers": [
                    {"endpoint": n, "interface": "eth0", "addresses": [f"{a}/{prefix}"], "mac": "02:42:00:00:00:02"}
                    for n, a in containers.items()
                ],
            },
            {
                "name": "backend",
                "bridge": "br-backend",
                "present": True,
                "subnets": ["172.18.0.0/24"],
                "containers": [],
            },
        ],
        "endpoints": [
            {
                "name": n,
                "netns": n,
                "mode": "bridge",
                "links": [
                    {
                        "name": "eth0",
                        "kind": "veth",
                        "network": "docker0",
                        "bridge": "docker0",
                        "host_veth": f"vnp{n}",
                        "mac": "02:42:00:00:00:02",
                        "addresses": [f"{a}/{prefix}"],
                    }
                ],
            }
            for n, a in containers.items()
        ]
        + [{"name": "agent", "netns": None, "mode": "host", "links": []}],
        "published": [
            {
                "network": "docker0",
                "host_ip": "0.0.0.0",
                "host_port": 8080,
                "proto": "tcp",
                "container_address": next(iter(containers.values())),
                "container_port": 80,
                "endpoint": next(iter(containers)),
            }
        ],
        "mesh": {"peers": peers},
        "drift": [{"kind": "x"}] * drift,
    }


def peer(subnet: str, backend: str, underlay: str) -> dict:
    return {"subnet": subnet, "via": underlay, "dev": "flannel.1", "backend": backend, "underlay": underlay}


@pytest.fixture
def fleet() -> dict:
    """h1 and h2 over VXLAN both ways, h1 -> h3 host-gw one way only (h3 lost its route back)."""
    return {
        "h1": info(
            "10.244.0.0/24",
            "10.244.0.1",
            {"web": "10.244.0.2"},
            [peer("10.244.1.0/24", "vxlan", "198.19.0.2"), peer("10.244.2.0/24", "host-gw", "198.18.0.3")],
        ),
        "h2": info("10.244.1.0/24", "10.244.1.1", {"db": "10.244.1.2"}, [peer("10.244.0.0/24", "vxlan", "198.18.0.2")]),
        "h3": info("10.244.2.0/24", "10.244.2.1", {"api": "10.244.2.2"}, [], drift=2),
    }


def test_model_links_and_underlays(fleet):
    model = build_model(fleet)
    assert [h["name"] for h in model["hosts"]] == ["h1", "h2", "h3"]
    assert [(h["name"], h["underlay"], h["drift"]) for h in model["hosts"]] == [
        ("h1", "198.18.0.2", 0),
        ("h2", "198.19.0.2", 0),
        ("h3", "198.18.0.3", 2),
    ]
    assert [(x["hosts"], x["backend"], x["both_ways"]) for x in model["links"]] == [
        (["h1", "h2"], "vxlan", True),
        (["h1", "h3"], "host-gw", False),
    ]
    # mesh links join the slices' bridges, not the other networks
    assert model["links"][0]["from"] == node_id("h1", "docker0") and model["links"][0]["to"] == node_id("h2", "docker0")


def test_mermaid_page(fleet):
    page = fleet_mermaid(build_model(fleet))
    assert page.startswith("# The fleet\n") and "```mermaid\nflowchart LR\n" in page and page.endswith("```\n")
    h1, h2, h3 = (node_id(h, "docker0") for h in ("h1", "h2", "h3"))
    assert f"{h1} <-->|vxlan| {h2}" in page
    assert f"{h1} -->|host-gw (one way)| {h3}" in page
    assert f'subgraph {node_id("h3")}["h3 · underlay 198.18.0.3 · 2 drift"]' in page
    web = node_id("h1", "c", "web")
    assert f'{web}(["web<br/>10.244.0.2<br/>8080→80/tcp"])' in page
    assert f"{web} ---|eth0| {h1}" in page
    assert f'{node_id("h1", "br-backend")}[["br-backend (backend)<br/>172.18.0.0/24"]]' in page


def test_dot_text(fleet):
    dot = fleet_dot(build_model(fleet))
    assert dot.startswith('graph "fleet" {\n') and dot.endswith("}\n")
    h1, h2 = node_id("h1", "docker0"), node_id("h2", "docker0")
    assert f'{h1} -- {h2} [label="vxlan", style=bold];' in dot
    assert 'label="h1\\nunderlay 198.18.0.2"; style=rounded;' in dot
    assert f'{node_id("h1", "c", "web")} [shape=ellipse, label="web\\n10.244.0.2\\n8080→80/tcp"];' in dot


@pytest.mark.skipif(not shutil.which("dot"), reason="Graphviz is not installed")
def test_dot_renders_to_svg(fleet):
    out = subprocess.run(
        ["dot", "-Tsvg"], input=fleet_dot(build_model(fleet)), capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "<svg" in out.stdout and "10.244.0.2" in out.stdout and "vxlan" in out.stdout


def test_hostile_names_stay_quoted():
    bad = info("10.0.0.0/24", "10.0.0.1", {'we"b<x>': "10.0.0.2"}, [])
    bad["networks"][0]["bridge"] = "br.x-1"
    model = build_model({'h "1"': bad})
    assert node_id("a-b") != node_id("a_b") and node_id("a.b") != node_id("a_b")
    page = fleet_mermaid(model)
    assert "we#quot;b#lt;x#gt;" in page and "h #quot;1#quot;" in page
    dot = fleet_dot(model)
    assert 'label="we\\"b<x>\\n10.0.0.2' in dot and 'label="h \\"1\\""' in dot


def test_endpoint_list(fleet):
    rows = fleet_endpoints(build_model(fleet))
    assert [(r["host"], r["name"], r["mode"], r["addresses"]) for r in rows] == [
        ("h1", "web", "bridge", ["10.244.0.2"]),
        ("h1", "agent", "host", []),
        ("h2", "db", "bridge", ["10.244.1.2"]),
        ("h2", "agent", "host", []),
        ("h3", "api", "bridge", ["10.244.2.2"]),
        ("h3", "agent", "host", []),
    ]
    assert rows[0]["published"] == [{"host_ip": "0.0.0.0", "host_port": 8080, "container_port": 80, "proto": "tcp"}]
    assert rows[0]["interfaces"][0] == {
        "name": "eth0",
        "network": "docker0",
        "bridge": "docker0",
        "host_veth": "vnpweb",
        "mac": "02:42:00:00:00:02",
        "addresses": ["10.244.0.2/24"],
    }


def test_fleet_model_from_hostvars_skips_hosts_without_a_result(fleet):
    hostvars = {"h1": {"netplumb_inspect": fleet["h1"]}, "outside": {}, "h9": {"netplumb_inspect": {"failed": True}}}
    model = fleet_model(hostvars)
    assert [h["name"] for h in model["hosts"]] == ["h1"]
    assert set(FilterModule().filters()) == {"fleet_model", "fleet_mermaid", "fleet_dot", "fleet_endpoints"}
    assert "no host returned network_info" in fleet_mermaid(fleet_model({}))
