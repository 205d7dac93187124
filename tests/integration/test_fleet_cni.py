"""CNI on the fleet's slices with the real reference plugins (Debian's containernetworking-plugins), on a lab of its
own (2 hosts + outside, host-gw): fleet_cni writes the conflist (check mode first), a namespace attached by CNI on
h1 reaches a collection-made container on h2 by address and back (ping and TCP, real source addresses), a portmap
port on h1 is reached from outside, CHECK passes, a rerun changes nothing with CNI's port on the bridge, and
teardown_fleet.yml leaves CNI's port, rules and lease alone and succeeds; CNI's DEL then cleans up."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .conftest import task_results
from .sitelab import changed_tasks, failures, start_site_lab

PLUGINS = "/usr/lib/cni"
if not os.path.exists(f"{PLUGINS}/bridge"):
    pytest.skip(
        f"the CNI reference plugins are not installed ({PLUGINS}/bridge is missing): scripts/bootstrap installs "
        "Debian's containernetworking-plugins",
        allow_module_level=True,
    )

HOSTS = ["h1", "h2"]
UNDERLAY = {"h1": "198.18.0.11", "h2": "198.18.0.12"}
CONFLIST = "/etc/cni/net.d/netplumb-fleet.conflist"
EXEC = Path(__file__).resolve().parent / "cni_exec.py"
PORT = 7070
VARS = {
    "fleet_backend": "host-gw",
    "fleet_cni": "yes",  # Ansible's boolean rules
    "endpoints_containers": [{"name": "web", "publish": ["8080:80"]}, {"name": "db"}],
}


def cni(site, command: str, netns: str, ports: list | None = None, check: bool = True) -> dict:
    extra = f" '{json.dumps(ports)}'" if ports else ""
    out = site.lab.sh("h1", f"python3 {EXEC} {command} {CONFLIST} {netns} /run/netns/{netns} eth0{extra}", check=False)
    if check:
        assert out.returncode == 0, f"CNI {command}: {out.stdout}{out.stderr}"
    return json.loads(out.stdout) if out.returncode == 0 else {"error": out.stdout + out.stderr}


def serve_peer(site, host: str, netns: str, port: int) -> None:
    """A TCP server in a namespace that answers with the address it sees the client come from."""
    site.sh(
        host,
        f"ip netns exec {netns} timeout 120 socat TCP4-LISTEN:{port},reuseaddr,fork "
        "SYSTEM:'echo from $SOCAT_PEERADDR' >/dev/null 2>&1 &",
    )
    site.sh(host, f"for i in $(seq 300); do ip netns exec {netns} ss -Hltn | grep -q ':{port} ' && exit 0; "
            "sleep 0.1; done; exit 1")  # fmt: skip


def connect(site, host: str, netns: str | None, address: str, port: int) -> str:
    where = f"ip netns exec {netns} " if netns else ""
    return site.sh(
        host, f"{where}timeout 20 socat -T10 - TCP4:{address}:{port},connect-timeout=10", check=False
    ).strip()


def test_cni_namespace_on_the_fleet(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=2, outside=True)
    ns = f"cni{os.getpid()}"
    try:
        # A careless value, then someone else's file at the conflist's path on h2: refused, nothing changes.
        site.sh("h2", f'mkdir -p /etc/cni/net.d && echo \'{{"name": "mine"}}\' >{CONFLIST}')
        before = {host: site.snapshot(host) for host in HOSTS}
        for host_vars, host, message in (
            ({"h1": {"fleet_cni": "maybe"}}, "h1", "fleet on h1: fleet_cni: 'maybe' is not a boolean"),
            ({}, "h2", f"{CONFLIST} (fleet_cni_dir, fleet_cni_name) exists and was not written by netplumb"),
        ):
            site.set_vars(VARS, host_vars)
            refused = site.play("site_fleet.yml", check=False)
            assert refused["rc"] != 0 and message in failures(refused).get(host, ""), failures(refused)
            assert all(site.snapshot(h) == before[h] for h in HOSTS)
            assert not (site.inv / ".netplumb-fleet-leases.json").exists()
        assert site.sh("h2", f"cat {CONFLIST}").strip() == '{"name": "mine"}'
        site.sh("h2", f"rm {CONFLIST}")
        site.set_vars(VARS)

        # Check mode: the conflist is shown, not written.
        checked = site.play("site_fleet.yml", "--check", "--diff")
        written = task_results(checked, "Write the conflist")
        assert written["h1"]["changed"] and "netplumb-fleet" in json.dumps(written["h1"].get("diff")), written
        assert site.sh("h1", f"test -e {CONFLIST} && echo yes || echo no").strip() == "no"

        site.play("site_fleet.yml")
        leases = json.loads((site.inv / ".netplumb-fleet-leases.json").read_text())["leases"]
        prefix = {h: leases[h].rsplit(".", 1)[0] for h in HOSTS}
        conf = json.loads(site.sh("h1", f"cat {CONFLIST}"))
        assert [p["type"] for p in conf["plugins"]] == ["bridge", "portmap", "loopback"]
        bridge = conf["plugins"][0]
        assert (bridge["bridge"], bridge["ipMasq"], bridge["mtu"]) == ("docker0", False, 1500)
        assert bridge["ipam"]["ranges"][0][0] == {
            "subnet": leases["h1"],
            "rangeStart": f"{prefix['h1']}.128",
            "rangeEnd": f"{prefix['h1']}.254",
            "gateway": f"{prefix['h1']}.1",
        }

        # CNI attaches a namespace of its own on h1, with a port mapping.
        site.sh("h1", f"ip netns add {ns}")
        result = cni(site, "ADD", ns, [{"hostPort": 9090, "containerPort": 90, "protocol": "tcp"}])
        cni_addr = result["ips"][0]["address"].split("/")[0]
        assert cni_addr == f"{prefix['h1']}.128", result  # host-local's first address of CNI's half
        assert "UP" in site.sh("h1", f"ip -n {ns} -br link show dev lo"), "loopback ran"
        host_veth = next(i["name"] for i in result["interfaces"] if not i.get("sandbox") and i["name"] != "docker0")
        assert "master docker0" in site.sh("h1", f"ip -o link show dev {host_veth}")
        # Debian 12's portmap (1.1.1) fails CHECK with IPv4-only port mappings (containernetworking/plugins#819):
        # a namespace without mappings passes the whole chain's CHECK; the mapped one fails only there.
        site.sh("h1", f"ip netns add {ns}b")
        second = cni(site, "ADD", f"{ns}b")
        assert second["ips"][0]["address"] == f"{prefix['h1']}.129/24", second
        cni(site, "CHECK", f"{ns}b")
        mapped = cni(site, "CHECK", ns, check=False)
        assert "error" not in mapped or ("portmap CHECK failed" in mapped["error"] and "ipv6 dnat" in mapped["error"])

        # Both ways across the hosts, with real source addresses (no masquerade between slices).
        web2, db2 = f"{prefix['h2']}.2", f"{prefix['h2']}.3"
        serve_peer(site, "h2", "web", PORT)
        serve_peer(site, "h1", ns, PORT)
        for target in (web2, db2):
            ping = site.lab.sh("h1", f"ip netns exec {ns} ping -c1 -W3 {target}", check=False)
            assert ping.returncode == 0, ping.stdout + ping.stderr
        assert connect(site, "h1", ns, web2, PORT) == f"from {cni_addr}"
        ping = site.lab.sh("h2", f"ip netns exec db ping -c1 -W3 {cni_addr}", check=False)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert connect(site, "h2", "db", cni_addr, PORT) == f"from {db2}"

        # portmap's port on h1 from the outside host; an unmapped port of the CNI namespace stays closed.
        site.sh("h1", f"ip netns exec {ns} timeout 60 socat TCP4-LISTEN:90,reuseaddr SYSTEM:'echo cni' "
                ">/dev/null 2>&1 &")  # fmt: skip
        site.sh("h1", f"for i in $(seq 300); do ip netns exec {ns} ss -Hltn | grep -q ':90 ' && exit 0; "
                "sleep 0.1; done; exit 1")  # fmt: skip
        assert connect(site, "outside", None, UNDERLAY["h1"], 9090) == "cni"
        site.sh("outside", f"ip route add {leases['h1']} via {UNDERLAY['h1']}")
        try:
            assert connect(site, "outside", None, cni_addr, PORT) == "", "an unmapped CNI port from outside"
        finally:
            site.sh("outside", f"ip route del {leases['h1']} via {UNDERLAY['h1']}", check=False)

        # The fleet's rerun changes nothing with CNI's port on the bridge.
        again = site.play("site_fleet.yml")
        for host in HOSTS:
            assert again["stats"][host]["changed"] == 0, (host, changed_tasks(again, host))

        # Teardown: the collection's objects go, CNI's stay (its port, the bridge it hangs on, rules, lease).
        site.sh("h1", f"pkill -f 'TCP4-LISTEN:{PORT},' || true; pkill -f 'TCP4-LISTEN:90,' || true", check=False)
        rules_before = site.sh("h1", "iptables-save -t nat | grep -c CNI- || true").strip()
        down = site.play("teardown_fleet.yml")
        assert down["stats"]["h1"]["failures"] == 0
        assert "web" not in site.lab.netns("h1") and ns in site.lab.netns("h1")
        assert "master docker0" in site.sh("h1", f"ip -o link show dev {host_veth}")
        assert "still has ports that netplumb.container does not own" in json.dumps(down)
        assert site.sh("h1", "iptables-save -t nat | grep -c CNI- || true").strip() == rules_before != "0"
        assert cni_addr in site.sh("h1", "ls /var/lib/cni/networks/netplumb-fleet/")
        assert site.sh("h1", f"test -e {CONFLIST} && echo yes || echo no").strip() == "no"
        assert "docker0" not in site.lab.links("h2")

        # CNI's DEL cleans up its own; the next teardown removes the bridge it no longer holds.
        cni(site, "DEL", ns)
        cni(site, "DEL", f"{ns}b")
        assert host_veth not in site.lab.links("h1")
        assert "CNI-DN" not in site.sh("h1", "iptables-save -t nat")
        assert cni_addr not in site.sh("h1", "ls /var/lib/cni/networks/netplumb-fleet/")
        site.play("teardown_fleet.yml")
        assert "docker0" not in site.lab.links("h1")
    finally:
        site.sh("h1", f"ip netns del {ns}; ip netns del {ns}b", check=False)
