#!/usr/bin/env python3
"""IPAM benchmark: the engine and the module against naive peers, side by side on this machine.

    python bench/bench_ipam.py [--quick] [--no-ansible]

Prints a Markdown table; the ratios are the transferable part (see bench/README.md).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / ".build"))

from ansible_collections.netplumb.container.plugins.module_utils._ipam import (  # noqa: E402
    run_cluster,
    run_endpoints,
)


def best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


# ---------------------------------------------------------------- naive peers


def naive_endpoints(subnet: str, names: list[str], path: str | None) -> dict[str, str]:
    """The straightforward allocator: walk hosts() for each endpoint, check a set, save the JSON each time."""
    net = ipaddress.ip_network(subnet)
    gateway = next(net.hosts())
    store: dict[str, str] = {}
    for name in names:
        taken = set(store.values())
        for host in net.hosts():
            if host != gateway and str(host) not in taken:
                store[name] = str(host)
                break
        if path:  # one write per allocation, as one module call per endpoint would do
            with open(path, "w") as fh:
                json.dump(store, fh)
    return store


def naive_cluster(rng: str, prefixlen: int, hosts: list[str], exclude: list[str]) -> dict[str, str]:
    """Walk every candidate subnet for each host; check it against the leases and the excludes."""
    net = ipaddress.ip_network(rng)
    excl = [ipaddress.ip_network(x) for x in exclude]
    leases: dict[str, ipaddress.IPv4Network] = {}
    for host in hosts:
        held = set(leases.values())
        for cand in net.subnets(new_prefix=prefixlen):
            if cand not in held and not any(cand.overlaps(x) for x in excl):
                leases[host] = cand
                break
    return {h: str(n) for h, n in leases.items()}


# ---------------------------------------------------------------- cases


def endpoints_case(n: int, subnet: str) -> dict[str, float]:
    names = [f"c{i}" for i in range(n)]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        params = {"network": "b", "subnet": subnet, "config": [{"endpoint": e} for e in names], "state": "merged"}

        def fresh():
            for f in Path(tmp).glob("b.json*"):
                f.unlink()
            return run_endpoints({**params, "state_dir": tmp}, False)

        out["engine"] = best(fresh)
        out["engine_nochange"] = best(lambda: run_endpoints({**params, "state_dir": tmp}, False))
        mine = {k: v["ipv4" if ":" not in subnet else "ipv6"] for k, v in fresh()["allocations"].items()}
        theirs = naive_endpoints(subnet, names, os.path.join(tmp, "naive.json"))
        assert mine == theirs, "the peer must hand out the same addresses"
        out["naive"] = best(lambda: naive_endpoints(subnet, names, os.path.join(tmp, "naive.json")), repeat=1)
        out["naive_nowrite"] = best(lambda: naive_endpoints(subnet, names, None), repeat=1)
    return out


def cluster_case(n: int, exclude_count: int) -> dict[str, float]:
    hosts = [f"node{i:04d}" for i in range(n)]
    # scattered existing routes, as gathered from hosts' facts
    exclude = [f"10.{(i * 37) % 256}.{(i * 101) % 256}.0/24" for i in range(exclude_count)]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        spec = {"range": "10.0.0.0/8", "prefixlen": 24, "hosts": hosts, "exclude": exclude}

        def fresh():
            path = os.path.join(tmp, "leases.json")
            for f in Path(tmp).glob("leases.json*"):
                f.unlink()
            return run_cluster({**spec, "lease_file": path}, False)

        out["engine"] = best(fresh)
        again = {**spec, "lease_file": os.path.join(tmp, "leases.json")}
        out["engine_nochange"] = best(lambda: run_cluster(again, False))
        theirs = naive_cluster("10.0.0.0/8", 24, hosts, exclude)
        assert fresh()["subnets"] == theirs, "the peer must lease the same subnets"
        out["naive"] = best(lambda: naive_cluster("10.0.0.0/8", 24, hosts, exclude), repeat=1)
    return out


def _play(task: str) -> str:
    head = "- hosts: all\n  gather_facts: false\n  tasks:\n"
    return head + textwrap.indent(task, "    ")


def ansible_case(n_one: int, n_loop: int) -> dict[str, float]:
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / ".build")
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    config = json.dumps([{"endpoint": f"c{i}"} for i in range(n_one)])
    books = {
        "empty": _play("- ansible.builtin.meta: noop\n"),
        "one": _play(
            "- netplumb.container.ipam:\n"
            f"    network: one\n    subnet: 10.50.0.0/16\n    state_dir: '{{{{ dir }}}}'\n    config: {config}\n"
        ),
        "loop": _play(
            "- netplumb.container.ipam:\n"
            "    network: loop\n    subnet: 10.50.0.0/16\n    state_dir: '{{ dir }}'\n"
            "    config: [{endpoint: 'c{{ item }}'}]\n"
            f"  loop: '{{{{ range({n_loop}) | list }}}}'\n"
        ),
    }
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in books.items():
            (Path(tmp) / f"{name}.yml").write_text(text)

        def run(name: str) -> float:
            extra = f"ansible_python_interpreter={sys.executable} dir={tmp}/{name}{time.time_ns()}"
            cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local"]
            start = time.perf_counter()
            subprocess.run([*cmd, "-e", extra, f"{tmp}/{name}.yml"], env=env, check=True, capture_output=True)
            return time.perf_counter() - start

        out["playbook_overhead"] = min(run("empty") for _ in range(3))
        out["one_call"] = min(run("one") for _ in range(3))
        out["loop"] = run("loop")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-ansible", action="store_true")
    args = ap.parse_args()
    n = 200 if args.quick else 1000
    rows = []
    for subnet in ("10.50.0.0/16", "fd00:50::/64"):
        r = endpoints_case(n, subnet)
        rows.append(
            (
                f"{n} endpoints, one call, {subnet}: engine vs naive hosts()+set, one JSON write each",
                r["engine"],
                r["naive"],
            )
        )
        rows.append(("  same, naive allocator without the writes", r["engine"], r["naive_nowrite"]))
        rows.append(("  same, re-run with nothing to change (engine)", r["engine_nochange"], None))
    r = cluster_case(n, 200)
    title = f"{n} host /24 from 10.0.0.0/8, 200 excludes: engine vs naive subnets() walk"
    rows.append((title, r["engine"], r["naive"]))
    rows.append(("  same, re-run with nothing to change (engine)", r["engine_nochange"], None))
    if not args.no_ansible:
        n_loop = 10 if args.quick else 30
        a = ansible_case(n, n_loop)
        per_loop = (a["loop"] - a["playbook_overhead"]) / n_loop
        one = a["one_call"] - a["playbook_overhead"]
        rows.append((f"ansible: {n} endpoints in one module call (task time, playbook start subtracted)", one, None))
        rows.append(
            (f"ansible: one call per endpoint (loop of {n_loop}), per endpoint, x{n} extrapolated", one, per_loop * n)
        )
        rows.append(("  ansible-playbook start (subtracted above)", a["playbook_overhead"], None))
    print("| case | netplumb (s) | peer (s) | peer / netplumb |")
    print("|---|---|---|---|")
    for name, mine, peer in rows:
        ratio = f"x{peer / mine:,.0f}" if peer else ""
        print(f"| {name} | {mine:.3f} | {'' if peer is None else f'{peer:.2f}'} | {ratio} |")


if __name__ == "__main__":
    main()
