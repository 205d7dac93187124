"""playbooks/inspect.yml on a lab of its own: site.yml with a slice per host and a host-gw mesh made by hand
(routes with the collection's protocol 78, as the fleet role makes them), then the picture and the endpoint
list on the controller, checked against what the hosts really hold; and network_info reports no drift on a
freshly built site, then the drift a careless user makes."""

from __future__ import annotations

import json
import shutil

import yaml

from .conftest import REPO, task_results
from .sitelab import link, start_site_lab

EXAMPLE = yaml.safe_load((REPO / "inventories" / "lab" / "group_vars" / "lab_hosts.yml").read_text())
SLICES = {"h1": "10.244.0.0/24", "h2": "10.244.1.0/24"}


def underlay(site, host: str) -> str:
    return json.loads(site.sh(host, "ip -j -4 addr show dev ul0"))[0]["addr_info"][0]["local"]


def test_inspect_draws_the_fleet(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=2)
    host_vars = {}
    for host, subnet in SLICES.items():
        networks = [dict(EXAMPLE["bridge_network_networks"][0], subnet=subnet, gateway=subnet.replace(".0/24", ".1"))]
        host_vars[host] = {"bridge_network_networks": networks + EXAMPLE["bridge_network_networks"][1:]}
    site.set_vars(EXAMPLE, host_vars)
    site.play("site.yml")
    ul = {host: underlay(site, host) for host in SLICES}
    for host, other in (("h1", "h2"), ("h2", "h1")):
        site.sh(host, f"ip route add {SLICES[other]} via {ul[other]} proto 78")
    # (Traffic across this hand-made mesh is the fleet role's business: its firewall admits only the
    # cluster's slices. Here the routes are what network_info must see.)

    out = tmp_path / "picture"
    before = {host: site.sh(host, "ip -br link; ip netns list; ls -R /var/lib/netplumb") for host in SLICES}
    report = site.play("inspect.yml", "-e", f"inspect_dir={out}")
    assert {host: site.sh(host, "ip -br link; ip netns list; ls -R /var/lib/netplumb") for host in SLICES} == before
    for host in SLICES:
        assert not task_results(report, "Read networks, endpoints, IPAM, firewall and mesh (changes nothing)")[host][
            "changed"
        ]

    page = (out / "fleet.md").read_text()
    assert "```mermaid\nflowchart LR" in page
    for host in SLICES:
        web = link(site, host, "web", "eth0")["addresses"][0].split("/")[0]
        assert f"web<br/>{web}<br/>8080→80/tcp" in page, page
        assert f"{host} · underlay {ul[host]}" in page
    assert "n_h1__docker0 <-->|host-gw| n_h2__docker0" in page
    assert "br-backend (backend)<br/>172.18.0.0/24" in page

    rows = json.loads((out / "endpoints.json").read_text())
    got = {(r["host"], r["name"]): r for r in rows}
    names = {"web", "api", "db", "worker", "batch", "agent", "web-sidecar"}
    assert set(got) == {(h, n) for h in SLICES for n in names}
    assert got[("h1", "batch")]["mode"] == "none" and got[("h1", "agent")]["mode"] == "host"
    api = got[("h2", "api")]
    assert [(i["name"], i["network"]) for i in api["interfaces"]] == [("eth0", "docker0"), ("eth1", "backend")]
    assert api["addresses"] == [link(site, "h2", "api", f"eth{n}")["addresses"][0].split("/")[0] for n in (0, 1)]
    assert {(p["host_port"], p["proto"]) for p in api["published"]} == {(9090, "tcp"), (5353, "udp")}

    for host in SLICES:
        info = json.loads((out / "hosts" / f"{host}.json").read_text())
        assert info["drift"] == [], info["drift"]
        assert [(p["subnet"], p["backend"], p["underlay"]) for p in info["mesh"]["peers"]] == [
            (SLICES["h2" if host == "h1" else "h1"], "host-gw", ul["h2" if host == "h1" else "h1"])
        ]
    if shutil.which("dot"):
        svg = (out / "fleet.svg").read_text()
        assert "<svg" in svg and "host&#45;gw" in svg  # Graphviz writes '-' as &#45;
    else:
        assert not (out / "fleet.svg").exists()
        assert any("Graphviz" in line for line in task_results(report, "Where the picture is")["localhost"]["msg"])

    # A careless user: deletes a container's namespace by hand and flushes the firewall.
    site.sh("h1", "ip netns del db; nft flush ruleset")
    site.play("inspect.yml", "-e", f"inspect_dir={out}")
    drift = json.loads((out / "hosts" / "h1.json").read_text())["drift"]
    assert {(d["kind"], d["object"]) for d in drift} >= {
        ("record_without_netns", "ipam backend/db"),
        ("firewall_stale", "firewall nftables"),
    }
    assert "1 drift" not in page and " drift" in (out / "fleet.md").read_text()
