#!/usr/bin/env python
"""Endpoints per second: the netns + veth engines vs raw pyroute2 done well vs one `ip` command per operation.

One endpoint = a netns (lo up) + a veth pair whose host end is a port of a bridge and whose peer is `eth0`
inside the netns with a MAC, an IPv4 address, up, and a default route via the bridge's address.
Every approach works inside its own throwaway "host" namespace (nothing is created in the root
namespace) and is cleaned up by deleting namespaces. Run as root:

    python bench/bench_veth.py [-n 250]
    python bench/bench_veth.py -n 250 --peer /tmp/bench-main   # these engines side by side with another tree's

With ``--peer TREE`` (a checkout of another commit, e.g. ``git archive main | tar -x -C /tmp/bench-main``),
both trees' engines run the same endpoints in the same run, each in a child process of its own
(two copies of one package cannot share a process), in alternating order.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def collection_path(tree: Path) -> Path:
    """A directory to put on sys.path so that ``ansible_collections.netplumb.container`` is ``tree``."""
    build = Path("/tmp") / f"bench-veth-path-{abs(hash(str(tree.resolve())))}"
    link = build / "ansible_collections" / "netplumb" / "container"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(tree.resolve(), link)
    return build


def load_engines(tree: Path):
    sys.path.insert(0, str(collection_path(tree)))
    from ansible_collections.netplumb.container.plugins.module_utils import _bridge, _netlink, _netns, _runner, _veth

    return _bridge.BridgeEngine, _netlink.Netlink, _netns.NetnsEngine, _runner.converge, _veth.VethEngine


def addr(i: int) -> tuple[str, str]:
    """10.77.x.y/16 and a Docker-style MAC for endpoint i (gateway 10.77.0.1)."""
    n = i + 2
    ip = f"10.77.{n // 256}.{n % 256}"
    mac = f"02:42:0a:4d:{n // 256:02x}:{n % 256:02x}"
    return f"{ip}/16", mac


def params(config, state="merged"):
    return {"config": config, "state": state, "scope": None, "force": False}


@contextlib.contextmanager
def inside(host: str):
    Netlink = load_engines(REPO)[1]
    with Netlink() as outer, outer.entered(host):
        yield


def module_way(host: str, names: list[str], tree: Path = REPO) -> dict[str, float]:
    BridgeEngine, Netlink, NetnsEngine, converge, VethEngine = load_engines(tree)
    netns_cfg = [{"name": ns} for ns in names]
    veth_cfg = []
    for i, ns in enumerate(names):
        cidr, mac = addr(i)
        veth_cfg.append(
            {
                "name": f"v{ns[-8:]}",
                "bridge": "br77",
                "peer": {"name": "eth0", "netns": ns, "mac": mac, "addresses": [cidr], "gateway": ["10.77.0.1"]},
            }
        )
    out = {}
    with Netlink() as outer, outer.entered(host), Netlink() as nl:
        converge(BridgeEngine(), params([{"name": "br77", "addresses": ["10.77.0.1/16"]}]), False, nl)
        t0 = time.perf_counter()
        converge(NetnsEngine(), params(netns_cfg), False, nl)
        t1 = time.perf_counter()
        result = converge(VethEngine(), params(veth_cfg), False, nl)
        t2 = time.perf_counter()
        assert len(result["actions"]) == len(names)
    # fresh sessions, as second module runs would have
    with Netlink() as outer, outer.entered(host), Netlink() as nl:
        t3 = time.perf_counter()
        again = converge(NetnsEngine(), params(netns_cfg), False, nl)
        t4 = time.perf_counter()
        assert again["changed"] is False
    with Netlink() as outer, outer.entered(host), Netlink() as nl:
        t5 = time.perf_counter()
        again = converge(VethEngine(), params(veth_cfg), False, nl)
        t6 = time.perf_counter()
        assert again["changed"] is False
    out["netns"] = t1 - t0
    out["veth"] = t2 - t1
    out["total"] = t2 - t0
    out["netns_nochange"] = t4 - t3
    out["veth_nochange"] = t6 - t5
    out["nochange"] = out["netns_nochange"] + out["veth_nochange"]
    return out


def child(host: str, names: list[str], tree: Path) -> dict[str, float]:
    """module_way with ``tree``'s engines, in a process of its own."""
    argv = [sys.executable, __file__, "--child", str(tree), "--host", host, *names]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{tree}: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def raw_pyroute2(host: str, names: list[str]) -> dict[str, float]:
    """What a careful hand-written pyroute2 program does: no forks, peers born in place."""
    from pyroute2 import IPRoute

    Netlink = load_engines(REPO)[1]
    with inside(host), Netlink() as nl:
        ipr = IPRoute()
        ipr.link("add", ifname="br77", kind="bridge", state="up")
        br = ipr.link_lookup(ifname="br77")[0]
        ipr.addr("add", index=br, address="10.77.0.1", prefixlen=16)
        t0 = time.perf_counter()
        for i, ns in enumerate(names):
            cidr, mac = addr(i)
            nl.create_netns(ns)  # unshare + bind mount, no fork (what pyroute2's netns.create forks for)
            sock = nl.ipr(ns)
            sock.link("set", index=1, state="up")
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                ipr.link(
                    "add",
                    ifname=f"v{ns[-8:]}",
                    kind="veth",
                    master=br,
                    state="up",
                    peer={"ifname": "eth0", "net_ns_fd": fd, "address": mac},
                )
            finally:
                os.close(fd)
            idx = sock.link_lookup(ifname="eth0")[0]
            sock.link("set", index=idx, state="up")
            sock.addr("add", index=idx, address=cidr.split("/")[0], prefixlen=16)
            sock.route("add", dst="0.0.0.0/0", gateway="10.77.0.1")
        t1 = time.perf_counter()
        ipr.close()
    return {"total": t1 - t0}


def ip_commands(host: str, names: list[str]) -> dict[str, float]:
    def ip(*args):
        subprocess.run(["ip", *args], check=True)

    ip("-n", host, "link", "add", "br77", "type", "bridge")
    ip("-n", host, "addr", "add", "10.77.0.1/16", "dev", "br77")
    ip("-n", host, "link", "set", "br77", "up")
    t0 = time.perf_counter()
    for i, ns in enumerate(names):
        cidr, mac = addr(i)
        v = f"v{ns[-8:]}"
        ip("netns", "add", ns)
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", host, "link", "add", v, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("-n", host, "link", "set", v, "master", "br77", "up")
        ip("-n", ns, "link", "set", "eth0", "address", mac, "up")
        ip("-n", ns, "addr", "add", cidr, "dev", "eth0")
        ip("-n", ns, "route", "add", "default", "via", "10.77.0.1")
    t1 = time.perf_counter()
    return {"total": t1 - t0}


def cleanup(names: list[str]) -> float:
    t0 = time.perf_counter()
    for ns in names:
        subprocess.run(["ip", "netns", "del", ns], check=False, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=2, help="each approach runs this often; the best run counts")
    parser.add_argument("--peer", type=Path, help="another tree whose engines run side by side with these")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--host", help=argparse.SUPPRESS)
    parser.add_argument("names", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")
    if args.child:
        print(json.dumps(module_way(args.host, args.names, args.child)))
        return
    if args.peer:
        compare(args)
        return
    n = args.n
    ways = [("module", module_way), ("pyroute2", raw_pyroute2), ("ip", ip_commands)]
    rows = run_rounds(ways, n, args.rounds)
    base = rows["pyroute2"]["total"]
    m = rows["module"]
    print(f"N = {n} endpoints (netns + veth into bridge + MAC + IPv4 + default route), best of {args.rounds}\n")
    print("| approach | ms per endpoint | vs raw pyroute2 |")
    print("|---|---|---|")
    print(f"| netns + veth engines (two module calls' work) | {m['total'] / n * 1000:.2f} | x{m['total'] / base:.2f} |")
    print(f"| - of it: veth engine only | {m['veth'] / n * 1000:.2f} | |")
    print(f"| - of it: netns engine only | {m['netns'] / n * 1000:.2f} | |")
    print(f"| raw pyroute2 done well | {base / n * 1000:.2f} | x1 |")
    print(
        f"| one `ip` command per operation | {rows['ip']['total'] / n * 1000:.2f} | x{rows['ip']['total'] / base:.2f} |"
    )
    print(f"| veth engine, no-change rerun (read + plan) | {m['veth_nochange'] / n * 1000:.2f} | |")


def run_rounds(ways, n: int, rounds: int) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    for r in range(rounds):
        # Rotate the order: the kernel tears namespaces down asynchronously after each approach's cleanup.
        for way, fn in ways[r % len(ways) :] + ways[: r % len(ways)]:
            tag = "bv" + uuid.uuid4().hex[:4]
            host = f"{tag}{way[0]}-host"
            names = [f"{tag}{way[0]}{i:04d}" for i in range(n)]
            subprocess.run(["ip", "netns", "add", host], check=True)
            try:
                got = fn(host, names)
            finally:
                cleanup([*names, host])
                time.sleep(3)  # let the kernel finish dismantling them before the next approach
            best = rows.setdefault(way, got)
            for key, value in got.items():
                best[key] = min(best[key], value)
    return rows


def compare(args) -> None:
    """This tree's engines and the peer tree's, same endpoints, alternating, best of the rounds."""
    n = args.n
    ways = [("this", lambda h, ns: child(h, ns, REPO)), ("peer", lambda h, ns: child(h, ns, args.peer))]
    rows = run_rounds(ways, n, args.rounds)
    this, peer = rows["this"], rows["peer"]
    print(f"N = {n} endpoints, best of {args.rounds} rounds each, peer = {args.peer}\n")
    print("| work | this tree, s | peer tree, s | this / peer |")
    print("|---|---|---|---|")
    for key, label in (
        ("total", "converge: netns + veth engines, from nothing"),
        ("veth", "- of it: veth engine"),
        ("netns", "- of it: netns engine"),
        ("nochange", "no-change rerun: netns + veth engines (fresh sessions)"),
        ("veth_nochange", "- of it: veth engine"),
        ("netns_nochange", "- of it: netns engine"),
    ):
        print(f"| {label} | {this[key]:.3f} | {peer[key]:.3f} | x{this[key] / peer[key]:.2f} |")


if __name__ == "__main__":
    main()
