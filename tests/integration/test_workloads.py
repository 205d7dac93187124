"""Workloads in the collection's containers (docs/workloads.md), on a 2-host fleet lab (host-gw) of its own:
a listener started with `ip netns exec` in web on h1 (with /etc/netns/web/ files bind-mounted) reached from db on
h2 with its real source address; and podman (Debian's, inside the lab host, private storage) running a listener
in web on h2 with --network ns:/run/netns/web, reached from db on h1."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from .sitelab import start_site_lab

PORT = 7171
PODMAN_PORT = 8081


def address(site, host: str, netns: str) -> str:
    data = json.loads(site.sh(host, f"ip -n {netns} -j -4 addr show dev eth0"))[0]
    return next(a["local"] for a in data["addr_info"] if a.get("scope") == "global")


def fetch(site, host: str, netns: str, target: str, port: int, send: str = "") -> str:
    sent = f"printf '{send}' | " if send else ""
    command = f"{sent}ip netns exec {netns} timeout 20 socat -T10 - TCP4:{target}:{port},connect-timeout=10"
    return site.sh(host, command, check=False).strip()


@pytest.fixture
def fleet2(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=2, outside=False)
    site.set_vars(
        {
            "fleet_backend": "host-gw",
            "fleet_underlay_interface": "ul0",
            "fleet_cni": True,  # podman also runs as a CNI runtime on the slice
            "endpoints_containers": [{"name": "web"}, {"name": "db"}],
        }
    )
    site.play("site_fleet.yml")
    return site


def busybox_image(tmp_path: Path) -> Path:
    """A one-file image: static busybox (Debian's busybox-static) and a page for its httpd."""
    busybox = shutil.which("busybox")
    if busybox is None or "statically linked" not in os.popen(f"file -L {busybox}").read():
        pytest.skip("podman test: a static busybox (Debian's busybox-static) is needed to build the image")
    root = tmp_path / "image"
    (root / "bin").mkdir(parents=True)
    (root / "www").mkdir()
    shutil.copy(busybox, root / "bin" / "busybox")
    (root / "www" / "index.html").write_text("podman-workload\n")
    tar = tmp_path / "busybox.tar"
    with tarfile.open(tar, "w") as out:
        out.add(root, arcname=".")
    return tar


def test_ip_netns_exec_and_podman_listeners_reached_from_the_other_host(fleet2, tmp_path):
    site = fleet2
    web1, db2 = address(site, "h1", "web"), address(site, "h2", "db")

    # ip netns exec: the process lives in web's namespace and sees /etc/netns/web/hosts as /etc/hosts.
    site.sh("h1", f"mkdir -p /etc/netns/web && printf '{db2} peer-db\\n' >/etc/netns/web/hosts")
    assert site.sh("h1", "ip netns exec web getent hosts peer-db").split()[0] == db2
    assert "peer-db" not in site.sh("h1", "cat /etc/hosts"), "bind-mounted for the namespace only"
    site.sh(
        "h1",
        f"ip netns exec web timeout 120 socat TCP4-LISTEN:{PORT},reuseaddr,fork "
        "SYSTEM:'echo from $SOCAT_PEERADDR' >/dev/null 2>&1 &",
    )
    site.sh("h1", f"for i in $(seq 300); do ip netns exec web ss -Hltn | grep -q ':{PORT} ' && exit 0; sleep 0.1; "
            "done; exit 1")  # fmt: skip
    assert fetch(site, "h2", "db", web1, PORT) == f"from {db2}"
    site.sh("h1", f"pkill -f 'TCP4-LISTEN:{PORT},' || true", check=False)

    # podman: a container that joins web's namespace on h2, reached from db on h1.
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (scripts/bootstrap installs Debian's podman)")
    tar = busybox_image(tmp_path)
    web2 = address(site, "h2", "web")
    store = tmp_path / "podman"
    cgroup = f"netplumb-test-{os.getpid()}"
    podman = (
        f"podman --root {store}/root --runroot /run/netplumb-test-podman --tmpdir {store}/tmp "
        "--cgroup-manager cgroupfs --events-backend file --log-level error"
    )
    # runc needs cgroup v1 controllers, which the lab host's fresh /sys lacks (LAB-NOTES.md, as for Docker).
    mounts = " && ".join(
        f"mkdir -p /sys/fs/cgroup/{c} && mount -t cgroup -o {c} cgroup /sys/fs/cgroup/{c}"
        for c in ("cpuset", "cpu", "cpuacct", "memory", "devices", "freezer", "blkio", "pids")
    )
    ready = site.lab.sh(
        "h2", f"[ -e /sys/fs/cgroup/.netplumb-test ] || {{ mount -t tmpfs cgroup_root /sys/fs/cgroup && "
        f"touch /sys/fs/cgroup/.netplumb-test && {mounts}; }}", check=False,
    )  # fmt: skip
    if ready.returncode != 0:
        pytest.skip(f"podman test: the cgroup v1 controllers cannot be mounted in a lab host: {ready.stderr.strip()}")
    try:
        imported = site.lab.sh("h2", f"{podman} import {tar} localhost/netplumb-test-busybox:1", check=False)
        assert imported.returncode == 0, imported.stderr
        run = site.lab.sh(
            "h2",
            f"{podman} run -d --name web-http --cgroup-parent /{cgroup} --network ns:/run/netns/web "
            f"localhost/netplumb-test-busybox:1 /bin/busybox httpd -f -p {PODMAN_PORT} -h /www",
            check=False,
        )
        assert run.returncode == 0, run.stderr
        site.sh("h2", f"for i in $(seq 300); do ip netns exec web ss -Hltn | grep -q ':{PODMAN_PORT} ' && exit 0; "
                "sleep 0.1; done; exit 1")  # fmt: skip
        got = fetch(site, "h1", "db", web2, PODMAN_PORT, send="GET / HTTP/1.0\\r\\n\\r\\n")
        assert "200 OK" in got and "podman-workload" in got, got

        # podman as a CNI runtime: its own container on the fleet's conflist (fleet_cni), with a published port.
        run = site.lab.sh(
            "h2",
            f"{podman} --network-backend cni --cni-config-dir /etc/cni/net.d run -d --name cni-http "
            f"--cgroup-parent /{cgroup} --network netplumb-fleet -p {PODMAN_PORT}:80 "
            "localhost/netplumb-test-busybox:1 /bin/busybox httpd -f -p 80 -h /www",
            check=False,
        )
        assert run.returncode == 0, run.stderr
        cni2 = web2.rsplit(".", 1)[0] + ".128"  # host-local's first address of CNI's half of h2's slice
        assert cni2 in site.sh("h2", "ls /var/lib/cni/networks/netplumb-fleet/"), "host-local's lease"
        send = "GET / HTTP/1.0\\r\\n\\r\\n"
        for _attempt in range(100):  # httpd starts after podman returns
            got = fetch(site, "h1", "db", cni2, 80, send=send)
            if "200 OK" in got:
                break
        assert "podman-workload" in got, got
        published = fetch(site, "h1", "db", "198.18.0.12", PODMAN_PORT, send=send)
        assert "podman-workload" in published, published
    finally:
        site.lab.sh("h2", f"{podman} rm -f -t 0 web-http cni-http", check=False)
        # cgroup v1 hierarchies are the machine's: leave no directory of this test behind (a controller may
        # still be busy with the killed container for a moment).
        left = site.lab.sh(
            "h2",
            f"for i in $(seq 50); do for d in /sys/fs/cgroup/*/{cgroup}; do [ -d $d ] && find $d -depth -type d "
            "-exec rmdir {} \\; 2>/dev/null; done; ls -d /sys/fs/cgroup/*/" + cgroup + " 2>/dev/null || exit 0; "
            "sleep 0.2; done; exit 1",
            check=False,
        )
        assert left.returncode == 0, f"cgroups left behind: {left.stdout}"
