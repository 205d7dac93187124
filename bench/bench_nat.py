#!/usr/bin/env python3
"""nat benchmark: parse + clash check (+ rules, both renderers) of big published ranges, this tree against
another (today's main), side by side in the same run.

    python bench/bench_nat.py [--peer /work/main] [--ports 8000]

Each tree runs in its own interpreter (its own import path); the figures are the best of three.
Prints a Markdown table; the ratios are the transferable part (see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.netplumb.container.plugins.module_utils._firewall import iptables, nftables
from ansible_collections.netplumb.container.plugins.module_utils._firewall.model import (
    check_policy, derive_rules, parse_network,
)
ports, nets = int(sys.argv[2]), int(sys.argv[3])
per = ports // nets
entries = [
    {
        "network": f"n{k}",
        "bridge": f"br{k}",
        "subnets": [f"10.{k}.0.0/24"],
        "publish": [
            {"host_port": 1024 + k * per + i, "container_address": f"10.{k}.0.2", "container_port": 1024 + i}
            for i in range(per)
        ],
    }
    for k in range(nets)
]
def best(fn):
    times = []
    for _ in range(3):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out
check, networks = best(lambda: [n for n in [[parse_network(e) for e in entries]] if check_policy(n) is None][0])
rules, rs = best(lambda: derive_rules(networks))
render, _ = best(lambda: (nftables.render(rs), iptables.render(rs, 4)))
print(json.dumps({"check": check, "rules": rules, "render": render, "count": len(rs)}))
"""


def measure(tree: Path, ports: int, nets: int, timeout: float) -> dict | None:
    build = tree / ".build"
    try:
        out = subprocess.run(
            [sys.executable, "-c", WORKER, str(build), str(ports), str(nets)],
            capture_output=True,
            text=True,
            check=True,
            timeout=timeout,
        ).stdout
    except subprocess.TimeoutExpired:
        return None
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer", default="/work/main")
    parser.add_argument("--ports", type=int, default=8000)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    print("| case | tree | parse + clash check (s) | rules (s) | render nft + iptables (s) |")
    print("|---|---|---|---|---|")
    for nets in (1, 2):
        for name, tree in (("this", REPO), ("peer", Path(args.peer))):
            res = measure(tree, args.ports, nets, args.timeout)
            case = f"{args.ports} ports in {nets} network(s)"
            if res is None:
                print(f"| {case} | {name} | > {args.timeout:.0f} | | |")
            else:
                print(f"| {case} | {name} | {res['check']:.3f} | {res['rules']:.3f} | {res['render']:.3f} |")


if __name__ == "__main__":
    main()
