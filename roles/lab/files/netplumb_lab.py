# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Starts, stops and reports a lab of namespace hosts on this machine (stdlib only).

A lab host is one long-lived process (tini as PID 1) in its own network, mount, UTS, IPC and PID
namespaces, with a private /run (and /run/netns), /sys, and overlays over /etc and /var/lib. The
underlay switch is another such process holding a bridge; each host's ``ul0`` is a veth created
straight between the switch's namespace and the host's, so nothing is ever made in the root namespace.

With ``--segments S`` (S > 1) the underlay is S switches (segment s = 198.18.(s-1).0/24), the hosts are
split over them in consecutive blocks (see ``segment_of``), and a host ``router`` with an address
198.18.(s-1).1 on each segment (``ul0`` .. ``ul<S-1>``, ip_forward=1) joins them; every host routes the
other segments via its segment's router address. One segment is exactly the lab of before: no router.

    python3 netplumb_lab.py up --lab NAME [--hosts N] [--segments S] [--outside | --no-outside] [--check]
    python3 netplumb_lab.py down --lab NAME [--check]
    python3 netplumb_lab.py status --lab NAME

Prints one JSON object. Exit codes: 0 ok (up: lab matches), 1 error, 3 (status) lab not up.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

STATE_DIR = "/run/netplumb-lab"
MARK = "netplumb-lab"
PREFIX_LEN = 24
OUTSIDE_ADDRESS = "198.18.0.254"
MTU = 1500
LAB_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,15}$")
MAX_HOSTS = 200
MAX_SEGMENTS = 16
ROUTER = "router"
START_TIMEOUT = 15.0

# Runs as PID 1 of the new namespaces before tini takes over; $1 = host dir, $2 = hostname.
HOST_SETUP = r"""
set -eu
# A new mount namespace holds copies of the root's nsfs mounts: drop them, or they keep
# other people's namespaces alive and show up in "ip netns list" here.
umount -l /run/netns 2>/dev/null || true
if [ -n "$1" ]; then
  mkdir -p "$1/etc.upper" "$1/etc.work" "$1/varlib.upper" "$1/varlib.work"
  mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/etc.upper,workdir=$1/etc.work" /etc
  mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$1/varlib.upper,workdir=$1/varlib.work" /var/lib
  echo "$2" >/etc/hostname
fi
mount -t tmpfs -o mode=0755,size=64m netplumb-run /run
mkdir -p /run/netns /run/lock
mount -t sysfs sysfs /sys
hostname "$2"
exec -a "$0" tini -s -- sleep infinity
"""


class LabError(Exception):
    pass


def marker(lab: str, host: str) -> str:
    return f"{MARK}/{lab}/{host}"


def subnet(segment: int) -> str:
    """The first three octets of a segment's /24 (segments count from 1), inside 198.18.0.0/15."""
    return f"198.18.{segment - 1}"


def segment_of(index: int, hosts: int, segments: int) -> int:
    """Host h<index> (1-based) of N on S segments: consecutive blocks, sizes differing by at most one,
    the larger blocks first (4 on 2: h1 h2 | h3 h4; 5 on 2: h1 h2 h3 | h4 h5)."""
    return (index - 1) * segments // hosts + 1


def host_address(index: int, segment: int) -> str:
    # The host number stays in the last octet, so an address names its host whatever the segment.
    return f"{subnet(segment)}.{10 + index}"


def router_address(segment: int) -> str:
    return f"{subnet(segment)}.1"


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def starttime(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name in parentheses may contain spaces: split after the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def netns_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def is_host(pid: int, mark: str, start: int | None = None) -> bool:
    """True if PID is still the lab process it was: marker as argv[0] and, if known, same start time."""
    args = cmdline(pid)
    return bool(args) and args[0] == mark and (start is None or starttime(pid) == start)


def lab_processes(lab: str) -> list[int]:
    """Every process of this lab found by scanning /proc: PID 1s (marker as argv[0]) and their launchers
    (unshare, or bash before it execs tini, with the marker as an argument). Not, say, a grep for it."""
    prefix = f"{MARK}/{lab}/"
    found = []
    for entry in os.listdir("/proc"):
        args = cmdline(int(entry)) if entry.isdigit() else []
        if not args:
            continue
        ours = args[0].startswith(prefix) or (
            os.path.basename(args[0]) in ("unshare", "bash") and any(a.startswith(prefix) for a in args[1:])
        )
        if ours:
            found.append(int(entry))
    return found


def run(argv: list[str], stdin: str | None = None) -> str:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.stdout.strip()} (rc={proc.returncode})")
    return proc.stdout


def ip_batch(pid: int, commands: list[str]) -> None:
    run(["nsenter", "-t", str(pid), "-n", "--", "ip", "-batch", "-"], "\n".join(commands) + "\n")


def sysctl(pid: int, key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    run(["nsenter", "-t", str(pid), "-n", "--", "/bin/sh", "-c", f"echo {value} > {path}"])


@contextlib.contextmanager
def locked(state_dir: str):
    os.makedirs(state_dir, mode=0o755, exist_ok=True)
    fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class Lab:
    def __init__(self, name: str, state_dir: str = STATE_DIR):
        if not LAB_NAME_RE.match(name):
            raise LabError(f"invalid lab name {name!r}: lowercase letter, then up to 15 of [a-z0-9_-]")
        self.name = name
        self.state_dir = state_dir
        self.dir = os.path.join(state_dir, name)
        self.hosts_file = os.path.join(self.dir, "hosts.json")
        # An inventory source for the netplumb.container.lab inventory plugin, for labs not named "lab".
        self.inventory_file = os.path.join(self.dir, f"{name}.netplumb_lab.yml")

    def read(self) -> dict | None:
        try:
            with open(self.hosts_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def alive(self, state: dict | None) -> bool:
        if not state:
            return False
        switches = [seg["switch"] for seg in state.get("segments") or []] or [state["switch"]]
        procs = [*switches, *state["hosts"].values()]
        return all(
            is_host(p["pid"], p["marker"], p["starttime"]) and netns_inode(p["pid"]) == p["netns"] for p in procs
        )

    def status(self) -> dict:
        state = self.read()
        up = self.alive(state)
        return {"lab": self.name, "up": up, "state_dir": self.dir, **({"hosts": state["hosts"]} if up else {})}

    def _spawn(self, host: str, overlay: bool) -> subprocess.Popen:
        hostdir = os.path.join(self.dir, host)
        os.makedirs(hostdir, exist_ok=True)
        mark = marker(self.name, host)
        log = open(os.path.join(hostdir, "log"), "wb")  # noqa: SIM115 - handed to the child
        try:
            proc = subprocess.Popen(
                ["unshare", "--net", "--mount", "--uts", "--ipc", "--pid", "--fork", "--mount-proc",
                 "--propagation", "private", "--", "/bin/bash", "-c", HOST_SETUP, mark,
                 hostdir if overlay else "", host],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True,
            )  # fmt: skip
        finally:
            log.close()
        with open(os.path.join(hostdir, "launcher.pid"), "w") as f:
            f.write(f"{proc.pid}\n")
        return proc

    def _wait_ready(self, host: str, launcher: subprocess.Popen, deadline: float) -> dict:
        """The PID 1 of the host's namespaces, once its setup is done and tini runs as the marker."""
        mark = marker(self.name, host)
        while time.monotonic() < deadline:
            for entry in os.listdir("/proc"):
                if entry.isdigit() and ppid(int(entry)) == launcher.pid:
                    pid = int(entry)
                    args = cmdline(pid)
                    if args and args[0] == mark and len(args) > 1 and args[1] == "-s":
                        rec = {"pid": pid, "marker": mark, "starttime": starttime(pid), "netns": netns_inode(pid)}
                        with open(os.path.join(self.dir, host, "pid"), "w") as f:
                            f.write(f"{pid}\n")
                        return rec
            if launcher.poll() is not None:
                break
            time.sleep(0.01)
        with contextlib.suppress(OSError), open(os.path.join(self.dir, host, "log")) as f:
            log = f.read().strip()
        raise LabError(f"lab {self.name}: host {host} did not start: {log or 'timeout'}")

    def up(self, hosts: int, outside: bool, check: bool = False, segments: int = 1) -> dict:
        if not 1 <= hosts <= MAX_HOSTS:
            raise LabError(f"hosts must be between 1 and {MAX_HOSTS}, got {hosts}")
        if not 1 <= segments <= MAX_SEGMENTS:
            raise LabError(f"segments must be between 1 and {MAX_SEGMENTS}, got {segments}")
        names = [f"h{i}" for i in range(1, hosts + 1)] + (["outside"] if outside else [])
        routed = segments > 1
        if routed:
            names.append(ROUTER)
        state = self.read()
        if (
            self.alive(state)
            and sorted(state["hosts"]) == sorted(names)
            and len(state.get("segments") or [None]) == segments
        ):
            return {"changed": False, "lab": self.name, "inventory": self.inventory_file, **state}
        if check:
            return {"changed": True, "lab": self.name, "inventory": self.inventory_file, "hosts": {}}
        # Anything else (a different size, a crashed or half-made lab) is rebuilt from scratch.
        self.down()
        t0 = time.monotonic()
        switches = ["switch"] + [f"switch{s}" for s in range(2, segments + 1)]
        try:
            os.makedirs(self.dir, mode=0o755)
            procs = {sw: self._spawn(sw, overlay=False) for sw in switches}
            procs.update((n, self._spawn(n, overlay=True)) for n in names)
            deadline = time.monotonic() + START_TIMEOUT
            recs = {n: self._wait_ready(n, p, deadline) for n, p in procs.items()}
            switch_recs = [recs.pop(sw) for sw in switches]
            # (host, segment, interface in the host, address) for every underlay port.
            ports = []
            for n in names:
                if n == ROUTER:
                    ports += [(n, seg, f"ul{seg - 1}", router_address(seg)) for seg in range(1, segments + 1)]
                elif n == "outside":
                    ports.append((n, 1, "ul0", OUTSIDE_ADDRESS))
                else:
                    i = int(n[1:])
                    seg = segment_of(i, hosts, segments)
                    ports.append((n, seg, "ul0", host_address(i, seg)))
            for seg, switch in enumerate(switch_recs, start=1):
                wire = ["link set lo up", f"link add br0 mtu {MTU} type bridge", "link set br0 up"]
                for n, port_seg, ifname, _address in ports:
                    if port_seg != seg:
                        continue
                    # One segment keeps the names of the one-segment lab: ul-<host>.
                    peer = f"ul-{n}" if ifname == "ul0" else f"ul-{n}{ifname[2:]}"
                    netns = recs[n]["pid"]
                    wire.append(f"link add {peer} mtu {MTU} type veth peer name {ifname} mtu {MTU} netns {netns}")
                    wire.append(f"link set {peer} master br0 up")
                ip_batch(switch["pid"], wire)
            for n in names:
                mine = [(seg, ifname, address) for host, seg, ifname, address in ports if host == n]
                cmds = ["link set lo up"]
                for _seg, ifname, address in mine:
                    cmds += [f"address add {address}/{PREFIX_LEN} dev {ifname}", f"link set {ifname} up"]
                cmds += self._routes(n, mine[0][0], segments, outside)
                ip_batch(recs[n]["pid"], cmds)
                if n == "outside":
                    # The stand-in for the internet must never route for the lab.
                    sysctl(recs[n]["pid"], "net.ipv4.ip_forward", "0")
                elif n == ROUTER:
                    sysctl(recs[n]["pid"], "net.ipv4.ip_forward", "1")
                recs[n].update(address=mine[0][2], prefix=PREFIX_LEN, interface=mine[0][1])
                if routed:
                    recs[n]["segment"] = mine[0][0]
                if n == ROUTER:
                    recs[n]["addresses"] = [f"{address}/{PREFIX_LEN}" for _seg, _ifname, address in mine]
            state = {
                "lab": self.name,
                "switch": switch_recs[0],
                "hosts": recs,
                "outside": outside,
                "created": time.time(),
                "seconds": round(time.monotonic() - t0, 3),
            }
            if routed:
                state["segments"] = [
                    {"segment": seg, "subnet": f"{subnet(seg)}.0/{PREFIX_LEN}", "router": router_address(seg),
                     "switch": rec}
                    for seg, rec in enumerate(switch_recs, start=1)
                ]  # fmt: skip
            tmp = self.hosts_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(state, f, indent=1)
            os.rename(tmp, self.hosts_file)
            with open(self.inventory_file, "w") as f:
                f.write(f"---\nplugin: netplumb.container.lab\nlab: {self.name}\nstate_dir: {self.state_dir}\n")
        except BaseException:
            self.down()
            raise
        return {"changed": True, "lab": self.name, "inventory": self.inventory_file, **state}

    @staticmethod
    def _routes(host: str, segment: int, segments: int, outside: bool) -> list[str]:
        """ip commands for a host's routes: the other segments via the router, and the default route."""
        if host == ROUTER:
            return [f"route add default via {OUTSIDE_ADDRESS} dev ul0"] if outside else []
        others = [s for s in range(1, segments + 1) if s != segment]
        via = router_address(segment)
        cmds = [f"route add {subnet(s)}.0/{PREFIX_LEN} via {via} dev ul0" for s in others]
        if outside and host != "outside":
            # Segment 1 leaves through the outside host directly, the others through the router.
            cmds.append(f"route add default via {OUTSIDE_ADDRESS if segment == 1 else via} dev ul0")
        return cmds

    def down(self, check: bool = False) -> dict:
        """Kills every process of the lab (verified by marker) and removes its state; fine if nothing is there."""
        if check:
            return {"changed": os.path.isdir(self.dir) or bool(lab_processes(self.name)), "lab": self.name}
        killed = set()
        state = self.read() or {}
        switches = [seg.get("switch") for seg in state.get("segments") or []]
        recorded = [state.get("switch"), *switches, *state.get("hosts", {}).values()]
        targets = [(r["pid"], r["marker"], r["starttime"]) for r in recorded if r]
        targets += [(pid, None, None) for pid in lab_processes(self.name)]
        for pid, mark, start in targets:
            if pid in killed or (mark and not is_host(pid, mark, start)):
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(cmdline(p) and starttime(p) is not None for p in killed):
            if all(_is_zombie(p) for p in killed if cmdline(p)):
                break
            time.sleep(0.01)
        existed = os.path.isdir(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)
        return {"changed": bool(killed) or existed, "lab": self.name, "killed": sorted(killed)}


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--lab", default="lab", help="lab name (default: lab)")
    parser.add_argument("--hosts", type=int, default=3, help="number of hosts h1..hN (default: 3)")
    parser.add_argument("--segments", type=int, default=1,
                        help="underlay segments joined by the host 'router' (default: 1, no router)")  # fmt: skip
    parser.add_argument("--outside", action=argparse.BooleanOptionalAction, default=True,
                        help="add the host 'outside' (198.18.0.254), the default gateway of the others")  # fmt: skip
    parser.add_argument("--state-dir", default=os.environ.get("NETPLUMB_LAB_STATE_DIR", STATE_DIR))
    parser.add_argument("--check", action="store_true", help="up/down: only say whether anything would change")
    args = parser.parse_args(argv)
    try:
        if os.geteuid() != 0:
            raise LabError("the lab needs root")
        for tool in ("unshare", "nsenter", "tini", "ip"):
            if not shutil.which(tool):
                raise LabError(f"{tool} not found (Debian packages: util-linux, tini, iproute2)")
        lab = Lab(args.lab, args.state_dir)
        with locked(args.state_dir):
            if args.command == "up":
                result = lab.up(args.hosts, args.outside, args.check, args.segments)
            elif args.command == "down":
                result = lab.down(args.check)
            else:
                result = lab.status()
    except LabError as e:
        print(json.dumps({"failed": True, "msg": str(e)}))
        return 1
    print(json.dumps(result, indent=1, sort_keys=True))
    return 0 if args.command != "status" or result["up"] else 3


if __name__ == "__main__":
    sys.exit(main())
