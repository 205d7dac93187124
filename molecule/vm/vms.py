"""Start and stop the Debian VMs of molecule/vm (QEMU TCG, see VM-NOTES.md), and the local apt repository.

    vms.py up STATE_DIR N      boots vm1..vmN from the cached image (scripts/vm-image), prints JSON
    vms.py down STATE_DIR      stops everything `up` started there; fine when nothing runs

Each VM: a qcow2 overlay on the shared base image, SSH forwarded from a free port on 127.0.0.1, eth0 =
QEMU user-mode NIC (10.0.2.15 via 10.0.2.2), eth1 = a multicast socket NIC on 127.0.0.1 shared by all
VMs of the run: their private L2 segment (the fleet's underlay, 198.19.77.N/24). Nothing is created in
the machine's root namespace. The guests' apt source is an HTTP server on 127.0.0.1 serving the image's
repository (python3-pyroute2, nftables, iptables), reached from the guests at 10.0.2.2.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNDERLAY = "198.19.77.{}/24"
BOOT_TIMEOUT = 900


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def image() -> Path:
    out = subprocess.run(["bash", str(REPO / "scripts" / "vm-image")], stdout=subprocess.PIPE, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


def ssh_argv(key: Path, port: int) -> list[str]:
    return [
        "ssh", "-i", str(key), "-p", str(port), "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
        "-o", "LogLevel=ERROR", "root@127.0.0.1",
    ]  # fmt: skip


def owned_pid(pidfile: Path, state: Path) -> int | None:
    """The pid in pidfile if that process is still ours (its command line names the state dir)."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if str(state).encode() in cmdline else None


def stop(pidfile: Path, state: Path) -> None:
    pid = owned_pid(pidfile, state)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        for _attempt in range(100):
            if owned_pid(pidfile, state) is None:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)


def down(state: Path) -> dict:
    stopped = 0
    if state.is_dir():
        for pidfile in sorted(state.glob("*.pid")):
            stopped += owned_pid(pidfile, state) is not None
            stop(pidfile, state)
        shutil.rmtree(state, ignore_errors=True)
    return {"stopped": stopped}


def up(state: Path, count: int) -> dict:
    t0 = time.monotonic()
    down(state)
    img = image()
    t_image = time.monotonic() - t0
    state.mkdir(parents=True)
    http_port = free_port()
    # Copies, not links: a newer image built meanwhile removes this one (the VMs keep their open base).
    # The server runs from the state dir's copy so that `down` recognises it by its command line.
    shutil.copytree(img / "apt", state / "apt")
    key = state / "id_ed25519"
    shutil.copy(img / "id_ed25519", key)
    key.chmod(0o600)
    with open(state / "http.log", "w") as log:
        http = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(state / "apt"),
             str(http_port)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    (state / "http.pid").write_text(f"{http.pid}\n")
    # A random group and port per run: two runs at once never share a segment.
    mcast = f"230.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}:{free_port()}"
    instances = []
    for n in range(1, count + 1):
        name, port = f"vm{n}", free_port()
        disk = state / f"{name}.qcow2"
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(img / "base.qcow2"), str(disk)],
            check=True,
        )
        append = (
            "root=/dev/vda rw console=ttyS0 quiet mitigations=off net.ifnames=0 nokaslr "
            f"netplumb.hostname={name} netplumb.underlay={UNDERLAY.format(n)} "
            f"netplumb.apt=http://10.0.2.2:{http_port}/"
        )
        argv = [
            "qemu-system-x86_64", "-name", name, "-accel", "tcg,tb-size=256", "-cpu", "qemu64", "-machine", "q35",
            "-smp", "1", "-m", "512", "-display", "none", "-serial", f"file:{state / name}.console",
            "-monitor", "none", "-daemonize", "-pidfile", f"{state / name}.pid",
            "-kernel", str(img / "vmlinux"), "-initrd", str(img / "initramfs.cpio"), "-append", append,
            "-drive", f"file={disk},if=virtio,format=qcow2,cache=unsafe",
            "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22",
            "-device", "virtio-net-pci,netdev=n0",
            "-netdev", f"socket,id=n1,mcast={mcast},localaddr=127.0.0.1",
            "-device", f"virtio-net-pci,netdev=n1,mac=52:54:00:77:00:{n:02x}",
        ]  # fmt: skip
        subprocess.run(argv, check=True)
        instances.append({"instance": name, "address": "127.0.0.1", "user": "root", "port": port,
                          "identity_file": str(key),
                          "underlay": UNDERLAY.format(n)})  # fmt: skip
    t_boot = time.monotonic()
    pending = {i["instance"]: i for i in instances}
    deadline = t_boot + BOOT_TIMEOUT
    while pending and time.monotonic() < deadline:
        for name, inst in list(pending.items()):
            if owned_pid(state / f"{name}.pid", state) is None:
                raise SystemExit(f"{name} exited while booting; see {state / name}.console")
            probe = subprocess.run([*ssh_argv(key, inst["port"]), "true"], capture_output=True, timeout=60, check=False)
            if probe.returncode == 0:
                inst["ssh_after_s"] = round(time.monotonic() - t_boot, 1)
                del pending[name]
        time.sleep(2)
    if pending:
        raise SystemExit(f"no SSH from {', '.join(pending)} within {BOOT_TIMEOUT} s; see {state}/*.console")
    for inst in instances:
        pid = owned_pid(state / f"{inst['instance']}.pid", state)
        rss = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS"))
        inst["rss_mib"] = int(rss.split()[1]) // 1024
    report = {
        "instances": instances,
        "image_s": round(t_image, 1),
        "boot_to_ssh_s": round(time.monotonic() - t_boot, 1),
        "http_port": http_port,
    }
    (state / "up.json").write_text(json.dumps(report, indent=1))
    # Kept after destroy, for bench/README.md's figures.
    (REPO / ".build" / "vm" / "last-up.json").write_text(json.dumps(report, indent=1))
    return report


def main() -> None:
    if len(sys.argv) < 3 or sys.argv[1] not in ("up", "down"):
        raise SystemExit(__doc__)
    state = Path(sys.argv[2]).resolve()
    if sys.argv[1] == "up":
        print(json.dumps(up(state, int(sys.argv[3]))))
    else:
        print(json.dumps(down(state)))


if __name__ == "__main__":
    main()
