"""fleet_backend auto on two underlay segments joined by a router (lab_segments 2): host-gw between the hosts
of one segment, VXLAN across the router, one fleet MTU; every container reaches every other host's containers
(ping of the full size with don't-fragment, and TCP); a second run changes nothing."""

from __future__ import annotations

import itertools
import json
import shutil

from .conftest import launcher
from .sitelab import SiteLab, changed_tasks

HOSTS = ["h1", "h2", "h3", "h4"]
PORT = 7071


def test_auto_on_two_segments(new_lab, tmp_path):
    lab = new_lab(hosts=4, outside=True)
    rc, out = launcher("up", "--lab", lab.name, "--hosts", "4", "--segments", "2", "--outside")
    assert rc == 0, out
    inv = tmp_path / "inventory"
    inv.mkdir()
    shutil.copy(lab.inventory, inv / lab.inventory.name)
    site = SiteLab(lab, inv)
    site.set_vars(
        {
            "fleet_underlay_address": "{{ netplumb_lab_underlay }}",
            "endpoints_containers": [{"name": "web"}, {"name": "db"}],
        }
    )
    underlay = {h: site.sh(h, "ip -4 -br addr show dev ul0").split()[2].split("/")[0] for h in HOSTS}
    assert underlay["h1"].startswith("198.18.0.") and underlay["h4"].startswith("198.18.1.")
    try:
        first = site.play("site_fleet.yml")
        assert "router" not in first["stats"] and "outside" not in first["stats"]
        subnets = json.loads((inv / ".netplumb-fleet-leases.json").read_text())["leases"]
        segment = {h: underlay[h].split(".")[2] for h in HOSTS}
        for host, peer in itertools.permutations(HOSTS, 2):
            mesh = site.sh(host, "ip route show proto 78")
            if segment[host] == segment[peer]:
                assert f"{subnets[peer]} via {underlay[peer]} dev ul0" in mesh, (host, peer, mesh)
            else:
                assert f"{subnets[peer]} via {subnets[peer].split('/')[0]} dev fleet.1 onlink" in mesh, (host, mesh)
        for host in HOSTS:
            assert "mtu 1450" in site.sh(host, "ip -n db link show dev eth0")
            site.sh(
                host,
                f"ip netns exec web timeout 300 socat TCP4-LISTEN:{PORT},reuseaddr,fork SYSTEM:'echo up' "
                ">/dev/null 2>&1 &",
            )
            site.sh(
                host, f"for i in $(seq 50); do ip netns exec web ss -Hltn | grep -q ':{PORT} ' && exit; sleep 0.1; done"
            )
        for src, dst in itertools.permutations(HOSTS, 2):
            target = subnets[dst].rsplit(".", 1)[0] + ".2"
            ping = lab.sh(src, f"ip netns exec db ping -c1 -W3 -M do -s 1422 {target}", check=False)
            assert ping.returncode == 0, f"{src} -> {dst} ({target}): {ping.stdout}{ping.stderr}"
            got = site.sh(
                src, f"ip netns exec db timeout 5 socat -T3 - TCP4:{target}:{PORT},connect-timeout=3", check=False
            )
            assert got.strip() == "up", f"{src} -> {dst}: {got!r}"
        again = site.play("site_fleet.yml")
        for host in HOSTS:
            assert again["stats"][host]["changed"] == 0, changed_tasks(again, host)
    finally:
        for host in HOSTS:
            site.sh(host, f"pkill -f 'TCP4-LISTEN:{PORT},' || true", check=False)
