"""fleet_docker with the real daemon (Debian's docker.io 20.10): two lab hosts of one fleet (host-gw) hand their
slices to dockerd through daemon.json, and Docker's own containers on the two hosts reach each other by their
real addresses, both ways; a published port works from the outside host, an unpublished one does not; over
VXLAN (MTU 1450 in daemon.json) after Docker's restart too; a second run changes nothing; teardown_fleet.yml
gives daemon.json back and removes the collection's rules and routes, leaving Docker's."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .conftest import task_results
from .sitelab import changed_tasks, start_site_lab

DOCKERD = shutil.which("dockerd")
DOCKER = "/usr/bin/docker"  # Debian's client, whatever else is on PATH
if DOCKERD is None or not Path(DOCKER).exists():
    pytest.skip(
        "docker.io is not installed and could not be installed (scripts/bootstrap runs "
        "'apt-get install --no-install-recommends docker.io')",
        allow_module_level=True,
    )

HOSTS = ["h1", "h2"]
UNDERLAY = {"h1": "198.18.0.11", "h2": "198.18.0.12"}
PORT = 7070
IMAGE = "netplumb-test:1"
# The user's own keys, which every run must keep (storage-driver only here: dockerd refuses it twice).
USER_KEYS = {"log-level": "warn", "storage-driver": "vfs"}
# The cgroup v1 hierarchies runc uses; name=systemd too, or 'docker exec' cannot join the container's cgroups.
CGROUPS = {c: c for c in ("cpuset", "cpu", "cpuacct", "memory", "devices", "freezer", "blkio", "pids")}
CGROUPS["systemd"] = "none,name=systemd"


@pytest.fixture(scope="module")
def image_tar(tmp_path_factory) -> Path:
    """No registry: an image of this machine's sh and socat with their libraries (``docker import``)."""
    root = tmp_path_factory.mktemp("image") / "rootfs"
    for binary in ("/bin/sh", shutil.which("socat") or "/usr/bin/socat"):
        real = Path(binary).resolve()
        files = [(real, Path(binary))]
        ldd = subprocess.run(["ldd", str(real)], capture_output=True, text=True, check=True).stdout
        files += [(Path(w), Path(w)) for line in ldd.splitlines() for w in line.split() if w.startswith("/")]
        for src, dst in files:
            (root / dst.relative_to("/")).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / dst.relative_to("/"))
    tar = root.parent / "image.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
    return tar


class Dockerd:
    """dockerd inside a lab host, every path private to the test (short: containerd's socket path is limited)."""

    def __init__(self, site, host: str, base: Path) -> None:
        self.site, self.host, self.dir = site, host, base / host
        self.sock = self.dir / "sock"

    def cli(self, args: str, check: bool = True) -> str:
        return self.site.sh(self.host, f"{DOCKER} -H unix://{self.sock} {args}", check=check)

    def start(self) -> None:
        # A fresh tmpfs with the cgroup v1 controllers (LAB-NOTES.md), once per host (a marker on the tmpfs).
        mounts = " && ".join(
            f"mkdir /sys/fs/cgroup/{c} && mount -t cgroup -o {o} cgroup /sys/fs/cgroup/{c}" for c, o in CGROUPS.items()
        )
        self.site.sh(
            self.host,
            "[ -e /sys/fs/cgroup/.netplumb-test ] || { mount -t tmpfs cgroup_root /sys/fs/cgroup && "
            f"touch /sys/fs/cgroup/.netplumb-test && {mounts}; }}",
        )
        d = self.dir
        self.site.sh(
            self.host,
            f"mkdir -p {d}/data {d}/exec; {DOCKERD} --config-file /etc/docker/daemon.json --data-root {d}/data "
            f"--exec-root {d}/exec -H unix://{self.sock} --pidfile {d}/pid >>{d}/log 2>&1 &",
        )
        deadline = time.monotonic() + 120
        while self.cli("version --format '{{.Server.Version}}'", check=False).strip() == "":
            if time.monotonic() > deadline:
                pytest.fail(f"dockerd on {self.host} did not start: {(d / 'log').read_text()[-3000:]}")
            time.sleep(0.3)

    def stop(self) -> None:
        pidfile = self.dir / "pid"
        if not pidfile.exists():
            return
        pid = pidfile.read_text().strip()
        self.site.sh(
            self.host,
            f"kill {pid} 2>/dev/null; for i in $(seq 300); do kill -0 {pid} 2>/dev/null || exit 0; sleep 0.1; done; "
            f"kill -9 {pid}",
            check=False,
        )

    def run_web(self, tar: Path) -> str:
        """A container answering on PORT with the address it sees the client come from, and 'published' on 80
        (published as 8080); returns its address."""
        if IMAGE not in self.cli("images --format '{{.Repository}}:{{.Tag}}'"):
            self.cli(f"import {tar} {IMAGE}")
        serve = (
            f"socat TCP4-LISTEN:{PORT},reuseaddr,fork SYSTEM:'echo from \\$SOCAT_PEERADDR' & "
            "exec socat TCP4-LISTEN:80,reuseaddr,fork SYSTEM:'echo published'"
        )
        self.cli(f'run -d --name web --restart always -p 8080:80 {IMAGE} /bin/sh -c "{serve}"')
        return self.address()

    def address(self) -> str:
        """The container's address, once it runs (after a restart of dockerd, --restart always brings it back)."""
        for _attempt in range(300):
            found = self.cli("inspect -f '{{.NetworkSettings.IPAddress}}' web").strip()
            if found:
                return found
            time.sleep(0.2)
        pytest.fail(f"the container web on {self.host} did not come back: {self.cli('ps -a', check=False)}")

    def fetch(self, address: str, port: int = PORT) -> str:
        return self.cli(f"exec web socat -T5 - TCP4:{address}:{port},connect-timeout=5", check=False).strip()


@pytest.fixture
def docker_fleet(new_lab, tmp_path, image_tar):
    site = start_site_lab(new_lab, tmp_path, hosts=2, outside=True)
    base = Path(tempfile.mkdtemp(prefix="npd", dir="/tmp"))
    daemons = {h: Dockerd(site, h, base) for h in HOSTS}
    try:
        yield site, daemons
    finally:
        for daemon in daemons.values():
            daemon.stop()
        site.lab.down(check=False)  # its mounts (cgroups, Docker's netns files) go with the hosts
        shutil.rmtree(base, ignore_errors=True)


def daemon_json(site, host: str) -> dict:
    return json.loads(site.sh(host, "cat /etc/docker/daemon.json"))


def leases(site) -> dict[str, str]:
    return json.loads((site.inv / ".netplumb-fleet-leases.json").read_text())["leases"]


def wait_reached(daemon: Dockerd, address: str, want: str) -> str:
    """Docker's container may need a moment after (re)start before its listener is up."""
    got = ""
    for _attempt in range(50):
        got = daemon.fetch(address)
        if got == want:
            break
        time.sleep(0.2)
    return got


def test_docker_containers_of_two_hosts_reach_each_other(docker_fleet, image_tar):
    site, daemons = docker_fleet
    started = time.monotonic()
    for host in HOSTS:
        site.sh(host, f"mkdir -p /etc/docker && echo '{json.dumps(USER_KEYS)}' >/etc/docker/daemon.json")
    site.set_vars({"fleet_docker": "yes", "fleet_docker_restart": "false", "fleet_backend": "host-gw"})

    # Check mode: the diff shows the new keys, nothing is written.
    checked = site.play("site_fleet.yml", "--check", "--diff")
    for host in HOSTS:
        assert daemon_json(site, host) == USER_KEYS
        assert "NETPLUMB" not in site.sh(host, "iptables-save")
    planned = task_results(checked, "Docker's daemon.json holds the slice")
    for host in HOSTS:
        assert planned[host]["changed"] and planned[host]["config"]["log-level"] == "warn", planned[host]
        assert planned[host]["config"]["bip"].startswith("10.244."), planned[host]

    site.play("site_fleet.yml")
    subnets = leases(site)
    for host in HOSTS:
        config = daemon_json(site, host)
        gateway = subnets[host].rsplit(".", 1)[0] + ".1"
        assert config == {
            **USER_KEYS,
            "bip": f"{gateway}/24",
            "fixed-cidr": subnets[host],
            "ip-masq": False,
            "default-address-pools": config["default-address-pools"],
            "mtu": 1500,
        }, host
        assert all(not p["base"].startswith("10.244.") for p in config["default-address-pools"])
        assert "docker0" not in site.sh(host, "ip -br link"), "the collection must leave docker0 to Docker"
        peer = next(h for h in HOSTS if h != host)
        assert f"{subnets[peer]} via {UNDERLAY[peer]} dev ul0" in site.sh(host, "ip route show proto 78")

    addresses = {}
    for host in HOSTS:
        daemons[host].start()
        assert f"{subnets[host].rsplit('.', 1)[0]}.1/24" in site.sh(host, "ip -br addr show dev docker0")
        addresses[host] = daemons[host].run_web(image_tar)
    for src, dst in itertools.permutations(HOSTS, 2):
        got = wait_reached(daemons[src], addresses[dst], f"from {addresses[src]}")
        assert got == f"from {addresses[src]}", f"{src} web -> {dst} web ({addresses[dst]}): {got!r}"

    # The outside host reaches the published port, not the container's other port, even routed to it.
    for host in HOSTS:
        got = site.sh("outside", f"timeout 10 socat -T5 - TCP4:{UNDERLAY[host]}:8080,connect-timeout=5", check=False)
        assert got.strip() == "published", f"outside -> {host}:8080: {got!r}"
    site.sh("outside", "ip route add 10.244.0.0/16 via 198.18.0.11")
    try:
        direct = site.sh(
            "outside", f"timeout 5 socat -T3 - TCP4:{addresses['h1']}:{PORT},connect-timeout=3", check=False
        )
        assert direct.strip() == "", f"outside reached the unpublished port {addresses['h1']}:{PORT}: {direct!r}"
    finally:
        site.sh("outside", "ip route del 10.244.0.0/16 via 198.18.0.11", check=False)

    # VXLAN: the fleet MTU drops to 1450, daemon.json follows and Docker uses it once restarted (the test's
    # part of the handler). Docker re-creates its chains on a restart; the collection's are its own.
    site.set_vars({"fleet_docker": "yes", "fleet_docker_restart": "false", "fleet_backend": "vxlan"})
    site.play("site_fleet.yml")
    for host in HOSTS:
        assert daemon_json(site, host)["mtu"] == 1450, host
        assert "mtu 1450" in site.sh(host, "ip link show dev fleet.1")
        daemons[host].stop()
        daemons[host].start()
        addresses[host] = daemons[host].address()
        mtu = daemons[host].cli("exec web /bin/sh -c 'read m </sys/class/net/eth0/mtu; echo $m'").strip()
        assert mtu == "1450", f"{host}: the container's MTU is {mtu}"
    for src, dst in itertools.permutations(HOSTS, 2):
        got = wait_reached(daemons[src], addresses[dst], f"from {addresses[src]}")
        assert got == f"from {addresses[src]}", f"over VXLAN, after Docker's restart: {src} -> {dst}: {got!r}"

    again = site.play("site_fleet.yml")
    for host in HOSTS:
        assert again["stats"][host]["changed"] == 0, (host, changed_tasks(again, host))

    # Teardown: daemon.json as the user had it, no NETPLUMB chains or fleet routes; Docker's own stay.
    site.play("teardown_fleet.yml")
    for host in HOSTS:
        assert daemon_json(site, host) == USER_KEYS, host
        rules = site.sh(host, "iptables-save")
        assert "NETPLUMB" not in rules and ":DOCKER-USER" in rules and "-j DOCKER" in rules, (host, rules)
        assert site.sh(host, "ip route show proto 78").strip() == ""
        assert site.sh(host, "find /var/lib/netplumb 2>/dev/null || true").strip() == ""
        assert "web" in daemons[host].cli("ps --format '{{.Names}}'")
    print(f"test_fleet_docker: {time.monotonic() - started:.1f} s from the first play to teardown")
