#!/usr/bin/env python3
"""site.yml side by side with another revision (default: main): module calls per host, converge, no-change rerun.

Each variant runs the same variables on a lab host of its own (N containers over two networks, every
fourth one publishing a port), started by the lab launcher (root). The other revision is checked out
in a throwaway worktree (/tmp/bench-<ref>-<pid>) and gets its own collection path, so both run in the
same session on the same loaded machine; the order alternates between rounds and each figure is the
minimum (and maximum) of the rounds, in wall time and in CPU time of the whole process tree (controller,
task workers and the modules on the host: less sensitive to the machine's load than wall time).
Module calls per host = tasks whose result on the host carries an ``invocation`` (a module ran there;
set_fact, fail and include_tasks do not).

Two floors for the rerun's shape, on the same lab host: Ansible's (a no-op ``ping`` per module call, a
``set_fact`` per other task), and the collection's modules' (each module call of the rerun made with an
input that touches nothing, npfloor* names that do not exist; the other tasks as set_fact): what the run
would cost if the 250 containers were no work at all.

    sudo python bench/bench_site.py -n 250 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAUNCHER = REPO / "roles" / "lab" / "files" / "netplumb_lab.py"
CALLBACKS = REPO / "tests" / "integration" / "callback_plugins"
BIN = Path(sys.executable).parent


def variables(count: int) -> dict:
    networks = [
        {"name": "docker0", "bridge": "docker0", "subnet": "172.17.0.0/16", "gateway": "172.17.0.1"},
        {"name": "backend", "bridge": "br-backend", "subnet": "172.18.0.0/22", "icc": False},
    ]
    containers = []
    for i in range(count):
        entry: dict = {"name": f"c{i:04d}"}
        if i % 3 == 2:
            entry["networks"] = ["docker0", "backend"]
        if i % 4 == 0:
            entry["publish"] = [f"{20000 + i}:80"]
        containers.append(entry)
    return {"bridge_network_networks": networks, "endpoints_containers": containers}


def checkout(ref: str) -> tuple[Path, Path]:
    """A worktree of ref and a collection path pointing at it."""
    tree = Path(f"/tmp/bench-{ref.replace('/', '_')}-{os.getpid()}")
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), ref], check=True, capture_output=True
    )
    coll = Path(tempfile.mkdtemp(prefix="bench-coll-"))
    (coll / "ansible_collections" / "netplumb").mkdir(parents=True)
    (coll / "ansible_collections" / "netplumb" / "container").symlink_to(tree)
    return tree, coll


def lab(command: str, name: str) -> dict:
    argv = [sys.executable, str(LAUNCHER), command, "--lab", name, "--hosts", "1", "--no-outside"]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"lab {command} {name} failed: {proc.stdout}{proc.stderr}")
    return json.loads(proc.stdout)


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# A call of each of the collection's modules that site.yml makes, with an input that changes nothing (names that
# do not exist); each still reads what it reads on every run (nat: the ruleset).
NOOP_CALLS = {
    "netplumb.container.bridge": {"state": "deleted", "config": [{"name": "npfloor0"}]},
    "netplumb.container.nat": {"state": "deleted", "config": [{"network": "npfloor"}]},
    "netplumb.container.ipam": {"network": "npfloor", "state": "deleted", "state_dir": "/run/npfloor/ipam"},
    "netplumb.container.netns": {"state": "deleted", "config": [{"name": "npfloor0"}]},
    "netplumb.container.veth": {"state": "deleted", "config": [{"name": "npfloor0"}]},
}


def play(tree: Path, coll: Path, inventory: Path, playbook: Path | None = None) -> tuple[float, float, int, dict]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(tree / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(coll),
        ANSIBLE_STDOUT_CALLBACK="netplumb_test_json",
        ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
        ANSIBLE_NOCOLOR="1",
    )
    argv = [str(BIN / "ansible-playbook"), str(playbook or tree / "playbooks" / "site.yml"), "-i", str(inventory)]
    start, cpu = time.monotonic(), cpu_children()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tree, check=False)
    seconds, cpu = time.monotonic() - start, cpu_children() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"site.yml of {tree} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    report = json.loads(proc.stdout)
    actions = [
        t["task"]["action"]
        for p in report["plays"]
        for t in p["tasks"]
        for result in t["hosts"].values()
        if not result.get("skipped") and ("invocation" in result or "results" in result)
        for _ in (result.get("results") or [result])
    ]
    tasks = sum(1 for p in report["plays"] for t in p["tasks"] if "h1" in t["hosts"])
    return seconds, cpu, len(actions), {**report["stats"], "tasks": tasks, "actions": actions}


def floor(tree: Path, coll: Path, inventory: Path, actions: list[str], tasks: int, own: bool) -> tuple[float, float]:
    """A floor for the rerun's shape on the same lab host: its module calls as no-op ``ping`` (``own``: as the
    collection's modules with NOOP_CALLS), the rest of its tasks as ``set_fact``."""
    calls = [
        {action: NOOP_CALLS[action]} if own and action in NOOP_CALLS else {"ansible.builtin.ping": {}}
        for action in actions
    ]
    body = calls + [{"ansible.builtin.set_fact": {"x": 1}}] * max(0, tasks - len(actions))
    path = inventory.with_name(inventory.name + "-floor.yml")  # beside the inventory directory, not in it
    path.write_text(json.dumps([{"hosts": "lab_hosts", "gather_facts": False, "tasks": body}]))
    seconds, cpu, _calls, _stats = play(tree, coll, inventory, path)
    return seconds, cpu


def run_variant(label: str, tree: Path, coll: Path, values: dict) -> dict:
    name = "b" + uuid.uuid4().hex[:7]
    state = lab("up", name)
    inv = Path(tempfile.mkdtemp(prefix=f"bench-{label.replace(' ', '-')}-"))
    try:
        shutil.copy(state["inventory"], inv / Path(state["inventory"]).name)
        (inv / "group_vars").mkdir()
        (inv / "group_vars" / "lab_hosts.yml").write_text(json.dumps(values))
        converge, converge_cpu, calls, _stats = play(tree, coll, inv)
        rerun, rerun_cpu, rerun_calls, stats = play(tree, coll, inv)
        assert stats["h1"]["changed"] == 0, f"{label}: the rerun changed something: {stats}"
        floor_s, floor_cpu = floor(tree, coll, inv, stats["actions"], stats["tasks"], own=False)
        own_floor, _cpu = floor(tree, coll, inv, stats["actions"], stats["tasks"], own=True)
        return {
            "tasks": stats["tasks"],
            "floor": floor_s,
            "floor_cpu": floor_cpu,
            "own_floor": own_floor,
            "converge": converge,
            "rerun": rerun,
            "converge_cpu": converge_cpu,
            "rerun_cpu": rerun_cpu,
            "calls": calls,
            "rerun_calls": rerun_calls,
        }
    finally:
        lab("down", name)
        shutil.rmtree(inv, ignore_errors=True)
        inv.with_name(inv.name + "-floor.yml").unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=250, help="containers (default 250)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ref", default="main", help="the revision to compare with (default main)")
    args = parser.parse_args()
    tree, coll = checkout(args.ref)
    here = Path(tempfile.mkdtemp(prefix="bench-coll-"))
    (here / "ansible_collections" / "netplumb").mkdir(parents=True)
    (here / "ansible_collections" / "netplumb" / "container").symlink_to(REPO)
    variants = {args.ref: (tree, coll), "this branch": (REPO, here)}
    values = variables(args.n)
    rounds: dict[str, list[dict]] = {label: [] for label in variants}
    try:
        for round_ in range(args.rounds):
            order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
            for label in order:
                figures = run_variant(label, *variants[label], values)
                print(f"round {round_ + 1} {label}: {figures}", flush=True)
                rounds[label].append(figures)
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
        shutil.rmtree(coll, ignore_errors=True)
        shutil.rmtree(here, ignore_errors=True)
    base, mine = rounds[args.ref], rounds["this branch"]
    print(f"\nN = {args.n}, min (and max) of {args.rounds} rounds; load average now {os.getloadavg()}")
    print("| | " + args.ref + " | this branch | ratio of the minima |")
    print("|---|---|---|---|")
    print(f"| module calls per host (converge) | {base[0]['calls']} | {mine[0]['calls']} | |")
    print(f"| tasks per host (rerun, skipped ones too) | {base[0]['tasks']} | {mine[0]['tasks']} | |")
    for key, what in (
        ("converge", "converge, s"),
        ("rerun", "no-change rerun, s"),
        ("converge_cpu", "converge, CPU s (controller + host)"),
        ("rerun_cpu", "no-change rerun, CPU s (controller + host)"),
        ("floor", "Ansible's floor for the rerun's shape (no-op ping per module call, set_fact per other task), s"),
        ("floor_cpu", "the floor, CPU s"),
        ("own_floor", "the same with the collection's modules doing nothing (NOOP_CALLS) instead of ping, s"),
    ):
        b, m = [r[key] for r in base], [r[key] for r in mine]
        print(f"| {what} | {min(b):.1f} ({max(b):.1f}) | {min(m):.1f} ({max(m):.1f}) | x{min(m) / min(b):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
