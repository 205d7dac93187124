#!/usr/bin/env python3
"""Fleet benchmark: N lab hosts x M containers with the mesh, through site_fleet.yml, against the same kernel
objects made with one `ip` command per object, side by side on this machine (root).

    python bench/bench_fleet.py [--hosts 20] [--containers 50] [--backend vxlan|host-gw] [--skip-peer]

Prints a Markdown table (see bench/README.md). Starts its own lab (unique name) and removes it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LAUNCHER = REPO / "roles" / "lab" / "files" / "netplumb_lab.py"
CALLBACKS = REPO / "tests" / "integration" / "callback_plugins"
sys.path.insert(0, str(REPO / ".build"))

from ansible_collections.netplumb.container.plugins.plugin_utils._lab import host_pid, nsenter_argv  # noqa: E402

STATE_DIR = "/run/netplumb-lab"


def launcher(*args: str) -> dict:
    out = subprocess.run([sys.executable, str(LAUNCHER), *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def floor_playbook(work: Path, module_calls: int, raw_reads: int, tasks: int) -> Path:
    """Ansible's own floor for this run's shape: as many module runs per host as the rerun made (each a no-op
    ``ping``), as many ``raw`` reads, and the rest of its tasks as ``set_fact``; same hosts, same forks."""
    body = [{"ansible.builtin.ping": {}}] * module_calls
    body += [{"ansible.builtin.raw": "true", "changed_when": False}] * raw_reads
    body += [{"ansible.builtin.set_fact": {"x": 1}}] * max(0, tasks - len(body))
    path = work / "floor.yml"
    path.write_text(json.dumps([{"hosts": "lab_hosts", "gather_facts": False, "tasks": body}]))
    return path


def play(inv: Path, playbook: str, *args: str) -> tuple[float, dict]:
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO / ".build"),
        ANSIBLE_STDOUT_CALLBACK="netplumb_test_json",
        ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
        ANSIBLE_FORKS="20",
    )
    argv = [str(BIN / "ansible-playbook"), "-i", str(inv), str(REPO / "playbooks" / playbook), *args]
    if os.path.isabs(playbook):
        argv[3] = playbook
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{playbook} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return seconds, json.loads(proc.stdout)


def calls(report: dict, host: str) -> tuple[int, int, int]:
    """(module runs on the host, raw reads on the host, controller-side module runs) for one host."""
    on_host = raw = controller = 0
    for p in report["plays"]:
        for task in p["tasks"]:
            result = task["hosts"].get(host)
            if not result or result.get("skipped"):
                continue
            if "_ansible_delegated_vars" in result or result.get("_ansible_delegated_vars"):
                controller += 1
            elif "invocation" in result:
                on_host += 1
            elif "stdout_lines" in result and "cmd" not in result:
                raw += 1
    return on_host, raw, controller


def ip_script(host: int, hosts: int, containers: int, backend: str, mtu: int) -> list[str]:
    """The same objects as the fleet + endpoints roles make (no firewall), one `ip` command per object."""
    me = f"10.245.{host}"  # beside the fleet's own 10.244.0.0/16 objects
    cmds = [
        "ip link add pdocker0 type bridge",
        f"ip link set pdocker0 mtu {mtu}",
        f"ip addr add {me}.1/24 dev pdocker0",
        "ip link set pdocker0 up",
    ]
    for c in range(containers):
        ns, veth, addr = f"p{c}", f"vp{c}", f"{me}.{c + 2}"
        cmds += [
            f"ip netns add {ns}",
            f"ip link add {veth} mtu {mtu} type veth peer name eth0 netns {ns}",
            f"ip link set {veth} master pdocker0",
            f"ip link set {veth} up",
            f"ip -n {ns} link set lo up",
            f"ip -n {ns} addr add {addr}/24 dev eth0",
            f"ip -n {ns} link set eth0 up",
            f"ip -n {ns} route add default via {me}.1",
        ]
    if backend == "vxlan":
        local = f"198.18.0.{11 + host}"
        cmds += [
            f"ip link add pflt.1 type vxlan id 2 local {local} dev ul0 dstport 4790 nolearning",
            f"ip link set pflt.1 mtu {mtu}",
            f"ip addr add {me}.0/32 dev pflt.1",
            "ip link set pflt.1 up",
        ]
    for peer in range(hosts):
        if peer == host:
            continue
        underlay = f"198.18.0.{11 + peer}"
        if backend == "vxlan":
            mac = f"0e:02:c6:12:00:{11 + peer:02x}"
            cmds += [
                f"bridge fdb append {mac} dev pflt.1 dst {underlay} self permanent",
                f"ip neigh add 10.245.{peer}.0 lladdr {mac} dev pflt.1 nud permanent",
                f"ip route add 10.245.{peer}.0/24 via 10.245.{peer}.0 dev pflt.1 onlink",
            ]
        else:
            cmds.append(f"ip route add 10.245.{peer}.0/24 via {underlay} dev ul0")
    return cmds


def run_peer(lab: str, hosts: list[str], containers: int, backend: str, mtu: int) -> float:
    """Each host's commands as separate `ip` processes (one shell per host enters the host once)."""

    def one(index_host: tuple[int, str]) -> None:
        index, name = index_host
        script = "set -e\n" + "\n".join(ip_script(index, len(hosts), containers, backend, mtu)) + "\n"
        argv = [*nsenter_argv(host_pid(lab, name, STATE_DIR)), "/bin/sh", "-s"]
        subprocess.run(argv, input=script, text=True, check=True, capture_output=True)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=20) as pool:  # as Ansible's forks=20 below
        list(pool.map(one, enumerate(hosts)))
    return time.perf_counter() - start


def clean_peer(lab: str, hosts: list[str], containers: int) -> None:
    script = (
        f"for i in $(seq 0 {containers - 1}); do ip netns del p$i 2>/dev/null; done; "
        "ip link del pdocker0 2>/dev/null; ip link del pflt.1 2>/dev/null; "
        "ip route flush 10.245.0.0/16 2>/dev/null; true"
    )
    for name in hosts:
        argv = [*nsenter_argv(host_pid(lab, name, STATE_DIR)), "/bin/sh", "-c", script]
        subprocess.run(argv, check=False, capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--containers", type=int, default=50)
    ap.add_argument("--backend", choices=["vxlan", "host-gw"], default="vxlan")
    ap.add_argument("--skip-peer", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (starts lab hosts)")
    lab = "b" + uuid.uuid4().hex[:7]
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    rows = []
    try:
        state = launcher("up", "--lab", lab, "--hosts", str(args.hosts), "--outside")
        hosts = sorted((h for h in state["hosts"] if h != "outside"), key=lambda h: int(h[1:]))
        inv = work / "inventory"
        (inv / "group_vars").mkdir(parents=True)
        shutil.copy(state["inventory"], inv)
        containers = [{"name": f"c{i}"} for i in range(args.containers)]
        containers[0]["publish"] = ["8080:80"]
        group = {"fleet_backend": args.backend, "endpoints_containers": containers}
        (inv / "group_vars" / "lab_hosts.yml").write_text(json.dumps(group))

        converge, report = play(inv, "site_fleet.yml")
        rerun, again = play(inv, "site_fleet.yml")
        changed = sum(s["changed"] for h, s in again["stats"].items() if h in hosts)
        on_host, raw, _c = calls(report, hosts[-1])
        controller = calls(report, hosts[0])[2]  # run_once: recorded under the first host
        on_host2, _raw2, _c = calls(again, hosts[-1])
        tasks = sum(1 for p in again["plays"] for t in p["tasks"] if hosts[-1] in t["hosts"])
        floor, _floor = play(inv, str(floor_playbook(work, on_host2, raw, tasks)))
        mtu = 1450 if args.backend == "vxlan" else 1500
        label = f"{args.hosts} hosts x {args.containers} containers, {args.backend}"
        rows.append((f"site_fleet.yml converge ({label})", f"{converge:.1f} s"))
        rows.append(("site_fleet.yml no-change rerun", f"{rerun:.1f} s (changed={changed})"))
        rows.append(
            (
                "module calls per host (converge / rerun)",
                f"{on_host} / {on_host2} on the host + {raw} raw read; {controller} on the controller per run",
            )
        )
        rows.append(
            (
                f"Ansible's floor: {tasks} tasks per host, of them {on_host2} no-op modules (ping) and {raw} raw",
                f"{floor:.1f} s",
            )
        )
        if not args.skip_peer:
            peer = run_peer(lab, hosts, args.containers, args.backend, mtu)
            per_host = len(ip_script(0, args.hosts, args.containers, args.backend, mtu))
            rows.append((f"one `ip` command per object ({per_host} per host, no firewall, no read)", f"{peer:.1f} s"))
            clean_peer(lab, hosts, args.containers)
        load = os.getloadavg()
        print(f"\nload average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n")
        print("| case | time |\n|---|---|")
        for name, value in rows:
            print(f"| {name} | {value} |")
    finally:
        subprocess.run([sys.executable, str(LAUNCHER), "down", "--lab", lab], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
