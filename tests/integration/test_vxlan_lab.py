"""netplumb.container.vxlan through ansible-playbook on two lab hosts: check -> apply -> check -> apply, diffs,
real traffic through the tunnel (also a full-size don't-fragment ping), a peer that leaves, bad input, deleted.

Each host gets a VXLAN device <p>vx on its underlay ul0 with a VTEP address from 10.245.<n>.0/32, and the route
module adds the flannel-style onlink route to the other host's slice. The peers' MACs are computed here, on the
controller, with vtep_mac (as the fleet role does), never read from the hosts.
"""

from __future__ import annotations

import zlib

from ansible_collections.netplumb.container.plugins.module_utils._vxlan import vtep_mac

from .conftest import folded, task_results, write_playbook

HOSTS = {"h1": ("198.18.0.11", "10.245.1"), "h2": ("198.18.0.12", "10.245.2")}
OTHER = {"h1": "h2", "h2": "h1"}
VXLAN, ROUTES = "VXLAN endpoint with its peers", "Routes to the other slices through the tunnel"

MESH = """\
    - name: A VXLAN mesh of lab hosts
      hosts: "{{ targets }}"
      gather_facts: false
      tasks:
        - name: VXLAN endpoint with its peers
          netplumb.container.vxlan:
            config:
              - name: "{{ p }}vx"
                vni: "{{ vni }}"
                local: "{{ netplumb_lab_underlay_address }}"
                dev: "{{ netplumb_lab_underlay_interface }}"
                addresses: ["{{ slices[inventory_hostname] }}.0/32"]
                peers: "{{ peers[inventory_hostname] }}"
            state: "{{ vxlan_state }}"

        - name: Routes to the other slices through the tunnel
          netplumb.container.route:
            config: "{{ routes[inventory_hostname] }}"
          when: vxlan_state != 'deleted'
    """


def mesh_vars(p: str, vni: int, left: tuple[str, ...] = ()) -> dict:
    """Extra vars for both hosts; a host in ``left`` has left: nobody lists it as a peer any more."""
    peers, routes = {}, {}
    for host in HOSTS:
        other = OTHER[host]
        underlay, net = HOSTS[other]
        stays = other not in left
        peers[host] = [{"underlay": underlay, "mac": vtep_mac(vni, underlay), "address": f"{net}.0"}] if stays else []
        routes[host] = [{"dst": f"{net}.0/24", "via": f"{net}.0", "dev": f"{p}vx", "onlink": True}]
    return {
        "targets": "h1:h2",
        "p": p,
        "vni": vni,
        "slices": {h: addresses[1] for h, addresses in HOSTS.items()},
        "peers": peers,
        "routes": routes,
        "vxlan_state": "merged",
    }


def ping(lab, host: str, *extra: str) -> bool:
    target = HOSTS[OTHER[host]][1] + ".0"
    command = f"ping -c2 -i0.3 -W2 -q {' '.join(extra)} {target}"
    return lab.sh(host, command, check=False).returncode == 0


def entries(lab, host: str, dev: str) -> str:
    return lab.sh(host, f"bridge fdb show dev {dev}; ip neigh show dev {dev} nud permanent").stdout


def test_check_apply_idempotent_traffic_peer_leaves_deleted(lab, lab_prefix, tmp_path):
    p = lab_prefix
    dev = f"{p}vx"
    vni = 100000 + zlib.crc32(p.encode()) % 1000000  # a VNI of this run's own
    book = write_playbook(tmp_path, MESH)
    args = mesh_vars(p, vni)

    def run(*flags, check=True, **extra):
        report = lab.play(book, *flags, extra_vars={**args, **extra}, check=check)
        return report, task_results(report, VXLAN)

    report, check = run("--check", "--diff")
    for host, (underlay, net) in HOSTS.items():
        result = check[host]
        assert result["changed"] and [a["op"] for a in result["actions"]] == ["create"]
        assert result["diff"]["before"] == {}
        after = result["diff"]["after"][dev]
        assert after["vni"] == vni and after["local"] == underlay and after["dev"] == "ul0" and after["port"] == 4789
        assert after["mac"] == vtep_mac(vni, underlay) and after["mtu"] == 1450
        assert after["peers"] == args["peers"][host] and after["addresses"] == [f"{net}.0/32"]
        assert dev not in lab.links(host), "check mode changes nothing"
    assert f"device {dev} does not exist (yet)" in folded(report["stderr"]), "the route task only warns"

    report, applied = run("--diff")
    for host in HOSTS:
        assert applied[host]["actions"] == check[host]["actions"] and applied[host]["diff"] == check[host]["diff"]
        details = lab.sh(host, f"ip -d link show {dev}").stdout
        assert f"vxlan id {vni} local {HOSTS[host][0]} dev ul0" in details and "nolearning" in details
        assert "alias netplumb.container" in details
    assert task_results(report, ROUTES)["h1"]["changed"]
    assert entries(lab, "h1", dev) == (
        f"{vtep_mac(vni, '198.18.0.12')} dst 198.18.0.12 self permanent\n"
        f"10.245.2.0 lladdr {vtep_mac(vni, '198.18.0.12')} PERMANENT \n"
    )
    assert dev not in lab.links("h3"), "only the targets"

    assert ping(lab, "h1") and ping(lab, "h2")
    # 1422 + 28 = 1450 bytes inside, 1500 on the lab's underlay: fits exactly; a byte more is refused (DF)
    assert ping(lab, "h1", "-M do -s 1422") and not ping(lab, "h1", "-M do -s 1423")

    report, again = run("--check", "--diff")
    for host in HOSTS:
        assert again[host]["changed"] is False and again[host]["actions"] == []
        assert again[host]["diff"] == {"before": {}, "after": {}}
    report, again = run("--diff")
    assert not any(result["changed"] for result in again.values())
    assert not any(result["changed"] for result in task_results(report, ROUTES).values())

    # h2 leaves: h1's next run drops its FDB and neighbour entries, and nothing reaches h2 any more
    report, left = run("--diff", **{k: v for k, v in mesh_vars(p, vni, left=("h2",)).items() if k == "peers"})
    assert [a["summary"] for a in left["h1"]["actions"]] == [
        f"update vxlan {dev}: del_fdb=['{vtep_mac(vni, '198.18.0.12')}'], del_neigh=['10.245.2.0']"
    ]
    assert left["h1"]["diff"]["after"][dev]["peers"] == []
    assert entries(lab, "h1", dev) == ""
    assert not ping(lab, "h1")

    # bad input fails naming the option and the value, and changes nothing
    report, bad = run(check=False, vni=0)
    assert report["rc"] != 0 and bad["h1"]["failed"]
    assert f"vxlan {dev}: vni: 0 is out of range (1-16777215)" in bad["h1"]["msg"]
    assert f"vxlan id {vni} " in lab.sh("h1", f"ip -d link show {dev}").stdout

    report, gone = run("--diff", vxlan_state="deleted")
    for host in HOSTS:
        assert [a["summary"] for a in gone[host]["actions"]] == [f"delete vxlan {dev}"]
        assert gone[host]["diff"]["after"] == {} and dev in gone[host]["diff"]["before"]
        assert dev not in lab.links(host)
        assert f"{HOSTS[OTHER[host]][1]}.0/24" not in lab.sh(host, "ip route").stdout, "its routes went with it"
    report, gone = run(vxlan_state="deleted")
    assert not any(result["changed"] for result in gone.values())
