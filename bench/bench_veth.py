#!/usr/bin/env python
"""Endpoints per second: the netns + veth engines vs raw pyroute2 done well vs one `ip` command per operation.

One endpoint = a netns (lo up) + a veth pair whose host end is a port of a bridge and whose peer is `eth0`
inside the netns with a MAC, an IPv4 address, up, and a default route via the bridge's address.
Every approach works inside its own throwaway "host" namespace (nothing is created in the root
namespace) and is cleaned up by deleting namespaces. Run as root:

    python bench/bench_veth.py [-n 250]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / ".build"
if not (BUILD / "ansible_collections" / "netplumb" / "container").exists():
    (BUILD / "ansible_collections" / "netplumb").mkdir(parents=True, exist_ok=True)
    os.symlink(REPO, BUILD / "ansible_collections" / "netplumb" / "container")
sys.path.insert(0, str(BUILD))

from ansible_collections.netplumb.container.plugins.module_utils._bridge import BridgeEngine  # noqa: E402
from ansible_collections.netplumb.container.plugins.module_utils._netlink import Netlink  # noqa: E402
from ansible_collections.netplumb.container.plugins.module_utils._netns import NetnsEngine  # noqa: E402
from ansible_collections.netplumb.container.plugins.module_utils._runner import converge  # noqa: E402
from ansible_collections.netplumb.container.plugins.module_utils._veth import VethEngine  # noqa: E402


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
    with Netlink() as outer, outer.entered(host):
        yield


def module_way(host: str, names: list[str]) -> dict[str, float]:
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
    with inside(host), Netlink() as nl:
        converge(BridgeEngine(), params([{"name": "br77", "addresses": ["10.77.0.1/16"]}]), False, nl)
        t0 = time.perf_counter()
        converge(NetnsEngine(), params(netns_cfg), False, nl)
        t1 = time.perf_counter()
        result = converge(VethEngine(), params(veth_cfg), False, nl)
        t2 = time.perf_counter()
        assert len(result["actions"]) == len(names)
    with inside(host), Netlink() as nl:  # a fresh session, as a second module run would have
        t3 = time.perf_counter()
        again = converge(VethEngine(), params(veth_cfg), False, nl)
        t4 = time.perf_counter()
        assert again["changed"] is False
    out["netns"] = t1 - t0
    out["veth"] = t2 - t1
    out["total"] = t2 - t0
    out["veth_nochange"] = t4 - t3
    return out


def raw_pyroute2(host: str, names: list[str]) -> dict[str, float]:
    """What a careful hand-written pyroute2 program does: no forks, peers born in place."""
    from pyroute2 import IPRoute

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
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")
    n = args.n
    ways = [("module", module_way), ("pyroute2", raw_pyroute2), ("ip", ip_commands)]
    rows: dict[str, dict[str, float]] = {}
    for r in range(args.rounds):
        # Rotate the order: the kernel tears namespaces down asynchronously after each approach's cleanup.
        for way, fn in ways[r % 3 :] + ways[: r % 3]:
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


if __name__ == "__main__":
    main()
