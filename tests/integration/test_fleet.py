"""The fleet end to end on a lab of its own (3 hosts + outside, one underlay segment): site_fleet.yml in check
mode (nothing changes), host-gw then VXLAN (forced), each with real traffic between the containers of every
pair of hosts, published ports from outside, the MTU, a second run without change; then a host leaves the
inventory and the others keep nothing for it; its lease goes only with fleet_release; teardown_fleet.yml."""

from __future__ import annotations

import itertools
import json

import pytest

from .conftest import REPO, task_results
from .sitelab import changed_tasks, failures, start_site_lab

HOSTS = ["h1", "h2", "h3"]
UNDERLAY = {"h1": "198.18.0.11", "h2": "198.18.0.12", "h3": "198.18.0.13"}
PORT = 7070
CONTAINERS = [{"name": "web", "publish": ["8080:80"]}, {"name": "db"}]
# Until the nat module's cluster_subnets is in (branch fw), traffic between slices is masqueraded.
CLUSTER_SUBNETS = "cluster_subnets" in (REPO / "plugins" / "modules" / "nat.py").read_text()


def fleet_vars(**extra) -> dict:
    return {"endpoints_containers": CONTAINERS, **extra}


def leases(site) -> dict[str, str]:
    return json.loads((site.inv / ".netplumb-fleet-leases.json").read_text())["leases"]


def address(subnet: str, last: int) -> str:
    return subnet.rsplit(".", 1)[0] + f".{last}"


def start_servers(site, hosts) -> None:
    """A TCP server in web on every host that answers with the address it sees the client come from."""
    for host in hosts:
        site.sh(
            host,
            f"ip netns exec web timeout 300 socat TCP4-LISTEN:{PORT},reuseaddr,fork "
            "SYSTEM:'echo from $SOCAT_PEERADDR' >/dev/null 2>&1 &",
        )
        site.sh(
            host,
            f"for i in $(seq 300); do ip netns exec web ss -Hltn | grep -q ':{PORT} ' && exit 0; sleep 0.1; done; "
            "exit 1",
        )


def stop_servers(site, hosts) -> None:
    for host in hosts:
        site.sh(host, f"pkill -f 'TCP4-LISTEN:{PORT},' || true", check=False)


def assert_mesh_traffic(site, hosts, mtu: int, vxlan: bool) -> None:
    """From db on every host: ping (full size, don't fragment) and TCP to web on every other host."""
    subnets = leases(site)
    for src, dst in itertools.permutations(hosts, 2):
        target = address(subnets[dst], 2)
        size = mtu - 28
        ping = site.lab.sh(src, f"ip netns exec db ping -c1 -W3 -M do -s {size} {target}", check=False)
        assert ping.returncode == 0, f"{src} db -> {dst} web ({target}), {size} bytes DF: {ping.stdout}{ping.stderr}"
        too_big = site.lab.sh(src, f"ip netns exec db ping -c1 -W2 -M do -s {size + 1} {target}", check=False)
        assert too_big.returncode != 0, "the container's MTU must not exceed the fleet MTU"
        got = site.sh(
            src, f"ip netns exec db timeout 20 socat -T10 - TCP4:{target}:{PORT},connect-timeout=10", check=False
        )
        # Masqueraded (until cluster_subnets): to the address of the way out, the underlay or the VTEP.
        masqueraded = subnets[src].split("/")[0] if vxlan else UNDERLAY[src]
        source = address(subnets[src], 3) if CLUSTER_SUBNETS else masqueraded
        assert got.strip() == f"from {source}", f"{src} db -> {dst} web: {got!r}"


def assert_published_from_outside(site, hosts) -> None:
    for host in hosts:
        site.sh(
            host,
            "ip netns exec web timeout 60 socat TCP4-LISTEN:80,reuseaddr SYSTEM:'echo published' >/dev/null 2>&1 &",
        )
        site.sh(
            host,
            "for i in $(seq 300); do ip netns exec web ss -Hltn | grep -q ':80 ' && exit 0; sleep 0.1; done; exit 1",
        )
        got = site.sh("outside", f"timeout 5 socat -T3 - TCP4:{UNDERLAY[host]}:8080,connect-timeout=3", check=False)
        assert got.strip() == "published", f"outside -> {host}:8080: {got!r}"


def assert_outside_reaches_only_published(site, subnets) -> None:
    """A host on the underlay that is not in the fleet and routes the cluster via h1: published ports only."""
    site.sh("outside", "ip route add 10.244.0.0/16 via 198.18.0.11")
    try:
        web = address(subnets["h1"], 2)
        direct = site.sh("outside", f"timeout 5 socat -T3 - TCP4:{web}:{PORT},connect-timeout=3", check=False)
        assert direct.strip() == "", f"outside reached the unpublished port {web}:{PORT}: {direct!r}"
        assert_published_from_outside(site, ["h1"])
    finally:
        site.sh("outside", "ip route del 10.244.0.0/16 via 198.18.0.11", check=False)


def fleet_state(site, host) -> dict[str, str]:
    """The kernel state the fleet owns on a host: mesh routes, VXLAN FDB and neighbours, devices."""
    return {
        "routes": site.sh(host, "ip route show proto 78"),
        "fdb": site.sh(host, "bridge fdb show | grep -E '^0e:' || true"),
        "neigh": site.sh(host, "ip neigh show nud permanent"),
        "links": site.sh(host, "ip -br link | cut -d' ' -f1 | grep -E '^(fleet\\.|docker0)' || true"),
    }


def assert_no_change(report, hosts) -> None:
    for host in hosts:
        assert report["stats"][host]["changed"] == 0, (host, changed_tasks(report, host))


@pytest.fixture
def fleet(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=3, outside=True)
    try:
        yield site
    finally:
        stop_servers(site, HOSTS)


def test_fleet_host_gw_vxlan_leave_and_teardown(fleet):
    site = fleet
    before = {host: site.snapshot(host) for host in HOSTS}

    # Check mode shows the whole mesh and changes nothing (not even the lease file).
    site.set_vars(fleet_vars(fleet_backend="host-gw"))
    checked = site.play("site_fleet.yml", "--check", "--diff")
    routes = task_results(checked, "Routes to every peer's slice")
    assert all(routes[h]["changed"] for h in HOSTS), routes
    assert {a["name"] for a in routes["h1"]["actions"]} == {"10.244.1.0/24", "10.244.2.0/24"}
    assert not (site.inv / ".netplumb-fleet-leases.json").exists()
    for host in HOSTS:
        assert site.snapshot(host) == before[host], host

    # host-gw: a route per peer slice via the peer's underlay address.
    site.play("site_fleet.yml")
    subnets = leases(site)
    assert sorted(subnets) == HOSTS and len(set(subnets.values())) == 3
    for host in HOSTS:
        mesh = site.sh(host, "ip route show proto 78")
        for peer in set(HOSTS) - {host}:
            assert f"{subnets[peer]} via {UNDERLAY[peer]} dev ul0" in mesh, (host, mesh)
        assert f"{address(subnets[host], 1)}/24" in site.sh(host, "ip -br addr show dev docker0")
    start_servers(site, HOSTS)
    assert_mesh_traffic(site, HOSTS, 1500, vxlan=False)
    assert_published_from_outside(site, HOSTS)
    assert_outside_reaches_only_published(site, subnets)
    rerun = site.play("site_fleet.yml")
    assert_no_change(rerun, HOSTS)
    # The lease file beside the inventory is not read as inventory.
    assert "Skipping key" not in rerun["stderr"], rerun["stderr"]

    # VXLAN forced on the same segment: one device per host, FDB + neighbour + onlink route per peer, MTU 1450.
    site.set_vars(fleet_vars(fleet_backend="vxlan"))
    site.play("site_fleet.yml")
    assert leases(site) == subnets  # stable
    for host in HOSTS:
        state = fleet_state(site, host)
        for peer in set(HOSTS) - {host}:
            vtep = subnets[peer].split("/")[0]
            assert f"{subnets[peer]} via {vtep} dev fleet.1 onlink" in state["routes"], (host, state)
            assert f"{vtep} dev fleet.1 lladdr 0e:01:" in state["neigh"], (host, state)
            assert f"dst {UNDERLAY[peer]} self permanent" in state["fdb"], (host, state)
        assert "mtu 1450" in site.sh(host, "ip link show dev fleet.1") + site.sh(host, "ip link show dev docker0")
        assert "mtu 1450" in site.sh(host, "ip -n web link show dev eth0")
    stop_servers(site, HOSTS)
    start_servers(site, HOSTS)  # the containers' links were re-made with the new MTU
    assert_mesh_traffic(site, HOSTS, 1450, vxlan=True)
    assert_published_from_outside(site, HOSTS)
    assert_no_change(site.play("site_fleet.yml"), HOSTS)
    stop_servers(site, HOSTS)

    # h3 leaves the inventory: h1 and h2 hold no route, FDB or neighbour entry for it; its lease stays.
    gone = site.play("site_fleet.yml", "-e", "netplumb_hosts=all:!lab_outside:!h3")
    assert "h3" not in gone["stats"]
    h3_slice, h3_vtep = subnets["h3"], subnets["h3"].split("/")[0]
    for host in ("h1", "h2"):
        state = fleet_state(site, host)
        text = json.dumps(state)
        assert h3_slice not in text and h3_vtep not in text and UNDERLAY["h3"] not in text, (host, state)
        assert subnets["h1" if host == "h2" else "h2"] in state["routes"]
    assert leases(site)["h3"] == h3_slice
    assert_no_change(site.play("site_fleet.yml", "-e", "netplumb_hosts=all:!lab_outside:!h3"), ["h1", "h2"])
    site.play("site_fleet.yml", "-e", "netplumb_hosts=all:!lab_outside:!h3", "-e", '{"fleet_release": ["h3"]}')
    assert "h3" not in leases(site)

    # Teardown: the hosts as they were (h3 too: it still has its slice and mesh from before it left).
    site.play("teardown_fleet.yml")
    for host in HOSTS:
        after = site.snapshot(host)
        for key in before[host]:
            assert after[key] == before[host][key], f"{host}: {key} differs after teardown"
    assert_no_change(site.play("teardown_fleet.yml"), HOSTS)


def test_bad_input_and_collisions_change_nothing(fleet):
    site = fleet
    before = {host: site.snapshot(host) for host in HOSTS}

    def refused(*args, group=None, host_vars=None) -> str:
        site.set_vars(fleet_vars(**(group or {})), host_vars)
        report = site.play("site_fleet.yml", *args, check=False)
        assert report["rc"] != 0
        for host in HOSTS:
            assert report["stats"].get(host, {}).get("changed", 0) == 0, host
            assert site.snapshot(host) == before[host], host
        assert not (site.inv / ".netplumb-fleet-leases.json").exists()
        return " ".join(failures(report).values())

    # A bad variable on one host stops every host.
    msg = refused(host_vars={"h2": {"fleet_backend": "flannel"}})
    assert "fleet_backend" in msg and "flannel" in msg, msg
    msg = refused(host_vars={"h2": {"fleet_vxlan_vni": "one"}})
    assert "fleet on h2: fleet_vxlan_vni: 'one' is not a whole number" in msg, msg
    msg = refused(group={"fleet_host_prefix": "true"})
    assert "fleet_host_prefix: 'true' is not a whole number" in msg, msg
    msg = refused(host_vars={"h3": {"fleet_vxlan_port": 4790}})
    assert "disagree on fleet_vxlan_port: h1 has 4789, h3 has 4790" in msg, msg
    # A container that does not fit the slice stops every host before the lease is written.
    msg = refused(host_vars={"h1": {"endpoints_containers": [{"name": "x", "address": "172.17.0.9"}]}})
    assert "172.17.0.9" in msg, msg
    # --limit would drop the other hosts from the mesh.
    msg = refused("--limit", "h1")
    assert "--limit h1 would plan the mesh without the hosts left out" in msg, msg

    # A foreign route on h3 that overlaps the slice pinned for h2 (not on-link: via a gateway).
    site.sh("h3", "ip route add 10.244.0.0/20 via 198.18.0.254 proto static")
    try:
        before["h3"] = site.snapshot("h3")
        msg = refused(group={"fleet_pinned": {"h2": "10.244.1.0/24"}})
        assert "the slice 10.244.1.0/24 of h2 collides with the route 10.244.0.0/20 via 198.18.0.254 dev ul0" in msg
        assert "on h3" in msg, msg
        # Not pinned: the new leases go around it.
        site.set_vars(fleet_vars(fleet_backend="host-gw"))
        site.play("site_fleet.yml")
        assert sorted(leases(site).values()) == ["10.244.16.0/24", "10.244.17.0/24", "10.244.18.0/24"]
    finally:
        site.sh("h3", "ip route del 10.244.0.0/20 via 198.18.0.254 proto static", check=False)
