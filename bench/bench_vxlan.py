#!/usr/bin/env python
"""One VXLAN endpoint with N static peers: the vxlan engine vs one `ip`/`bridge` command per object vs batches.

A peer is one FDB entry (peer MAC -> underlay address) and one permanent neighbour entry on the device, as
flannel makes them. Each approach builds the same device (VNI, local, dev, MAC, MTU, one address, up) with the
same N peers inside its own throwaway "host" namespace (nothing in the root namespace), which is deleted
afterwards. The order of approaches rotates between rounds; each figure is the best of the rounds. Run as root:

    python bench/bench_vxlan.py [-n 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
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

from ansible_collections.netplumb.container.plugins.module_utils._netlink import Netlink  # noqa: E402
from ansible_collections.netplumb.container.plugins.module_utils._runner import converge  # noqa: E402
from ansible_collections.netplumb.container.plugins.module_utils._vxlan import VxlanEngine, vtep_mac  # noqa: E402

LOCAL = "198.18.0.1"
VNI = 1


def peers(n: int) -> list[dict[str, str]]:
    """Peer i: underlay 198.18.<x>.<y> (from .2), VTEP address 10.244.<i+2>.0 as flannel's, derived MAC."""
    out = []
    for i in range(n):
        underlay = str(ipaddress.ip_address("198.18.0.2") + i)
        address = str(ipaddress.ip_address("10.244.2.0") + 256 * i)
        out.append({"underlay": underlay, "mac": vtep_mac(VNI, underlay), "address": address})
    return out


def config(n: int) -> list[dict]:
    entry = {"name": "npvx1", "vni": VNI, "local": LOCAL, "dev": "ul0", "mtu": 1450, "addresses": ["10.244.1.0/32"]}
    return [{**entry, "peers": peers(n)}]


def make_host(name: str) -> None:
    subprocess.run(["ip", "netns", "add", name], check=True)
    batch = f"link set lo up\nlink add ul0 type veth peer name ul1\naddr add {LOCAL}/15 dev ul0\nlink set ul0 up\n"
    subprocess.run(["ip", "-n", name, "-batch", "-"], input=batch, text=True, check=True)


@contextlib.contextmanager
def inside(host: str):
    with Netlink() as outer, outer.entered(host):
        yield


def run_engine(host: str, cfg: list[dict]) -> dict:
    params = {"config": cfg, "state": "merged", "scope": None, "force": False}
    with inside(host), Netlink() as nl:
        return converge(VxlanEngine(), params, False, nl)


def engine_way(host: str, n: int) -> dict[str, float]:
    t0 = time.perf_counter()
    assert run_engine(host, config(n))["changed"]
    t1 = time.perf_counter()
    assert not run_engine(host, config(n))["changed"]
    t2 = time.perf_counter()
    cfg = config(n)
    cfg[0]["peers"] = cfg[0]["peers"][1:]  # one host left
    assert run_engine(host, cfg)["changed"]
    t3 = time.perf_counter()
    return {"engine": t1 - t0, "engine, no-change rerun": t2 - t1, "engine, one peer leaves": t3 - t2}


def device_commands() -> list[str]:
    mac = vtep_mac(VNI, LOCAL)
    return [
        f"link add npvx1 address {mac} mtu 1450 type vxlan id {VNI} local {LOCAL} dev ul0 dstport 4789 nolearning",
        "link set npvx1 alias netplumb.container up",
        "addr add 10.244.1.0/32 dev npvx1",
    ]


def ip_commands(host: str, n: int) -> dict[str, float]:
    t0 = time.perf_counter()
    for cmd in device_commands():
        subprocess.run(["ip", "-n", host, *cmd.split()], check=True)
    for peer in peers(n):
        fdb = f"fdb append {peer['mac']} dev npvx1 dst {peer['underlay']} self permanent"
        subprocess.run(["bridge", "-n", host, *fdb.split()], check=True)
        neigh = f"neigh add {peer['address']} lladdr {peer['mac']} dev npvx1 nud permanent"
        subprocess.run(["ip", "-n", host, *neigh.split()], check=True)
    return {"one `ip`/`bridge` command per object": time.perf_counter() - t0}


def batches(host: str, n: int) -> dict[str, float]:
    t0 = time.perf_counter()
    neigh = [f"neigh add {p['address']} lladdr {p['mac']} dev npvx1 nud permanent" for p in peers(n)]
    fdb = [f"fdb append {p['mac']} dev npvx1 dst {p['underlay']} self permanent" for p in peers(n)]
    subprocess.run(["ip", "-n", host, "-batch", "-"], input="\n".join(device_commands()) + "\n", text=True, check=True)
    subprocess.run(["bridge", "-n", host, "-batch", "-"], input="\n".join(fdb) + "\n", text=True, check=True)
    subprocess.run(["ip", "-n", host, "-batch", "-"], input="\n".join(neigh) + "\n", text=True, check=True)
    return {"`ip -batch` + `bridge -batch` (3 processes)": time.perf_counter() - t0}


def check_same(host: str, n: int) -> None:
    """Every approach must leave the same entries behind (or the comparison is void)."""
    fdb = subprocess.run(["bridge", "-n", host, "fdb", "show", "dev", "npvx1"], capture_output=True, text=True).stdout
    neigh = subprocess.run(
        ["ip", "-n", host, "neigh", "show", "dev", "npvx1", "nud", "permanent"], capture_output=True, text=True
    ).stdout
    assert len(fdb.splitlines()) >= n - 1 and len(neigh.splitlines()) >= n - 1, (fdb[:200], neigh[:200])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="peers (FDB + neighbour entry each)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")
    approaches = [engine_way, ip_commands, batches]
    best: dict[str, float] = {}
    tag = "bvx" + uuid.uuid4().hex[:5]
    try:
        for r in range(args.rounds):
            for k in range(len(approaches)):
                fn = approaches[(r + k) % len(approaches)]
                host = f"{tag}-{r}-{fn.__name__}"
                make_host(host)
                try:
                    for name, seconds in fn(host, args.n).items():
                        best[name] = min(best.get(name, seconds), seconds)
                    check_same(host, args.n)
                finally:
                    subprocess.run(["ip", "netns", "del", host], check=False)
    finally:
        for name in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split():
            if name.startswith(tag):
                subprocess.run(["ip", "netns", "del", name], check=False)
    base = best["engine"]
    print(f"N = {args.n} peers, best of {args.rounds} rounds\n")
    print("| approach | total ms | ms per peer | vs engine |")
    print("|---|---|---|---|")
    for name, seconds in best.items():
        ratio = f"x{seconds / base:.2f}" if not name.startswith("engine,") else ""
        print(f"| {name} | {seconds * 1000:.1f} | {seconds * 1000 / args.n:.3f} | {ratio} |")


if __name__ == "__main__":
    main()
