"""Integration tests: the collection through ansible-playbook on lab hosts (root only).

The session's lab has a unique name, so runs (and other people's labs) never collide; it is torn
down in a finalizer, also when tests fail. Helpers run playbooks with the JSON callback and look
inside lab hosts with nsenter (through the same verified PID as the connection plugin).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

if os.geteuid() != 0:
    pytest.skip("integration tests need root (they start lab hosts)", allow_module_level=True)

from ansible_collections.netplumb.container.plugins.plugin_utils._lab import (
    DEFAULT_STATE_DIR,
    host_pid,
    nsenter_argv,
)

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LAUNCHER = REPO / "roles" / "lab" / "files" / "netplumb_lab.py"


def ansible_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO / ".build"),
        ANSIBLE_STDOUT_CALLBACK="netplumb_test_json",
        ANSIBLE_CALLBACK_PLUGINS=str(Path(__file__).resolve().parent / "callback_plugins"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
    )
    env.update(extra)
    return env


def run_playbook(
    playbook: str | Path,
    *args: str,
    inventory: str | Path | None = None,
    check: bool = True,
    extra_vars: dict | None = None,
) -> dict:
    """Runs ansible-playbook and returns the JSON callback's report (plays, tasks, stats), plus its rc and stderr
    (where Ansible prints warnings)."""
    argv = [str(BIN / "ansible-playbook"), str(playbook), *args]
    if inventory:
        argv += ["-i", str(inventory)]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(), cwd=REPO, check=False)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        report = {}
    report["rc"], report["stderr"] = proc.returncode, proc.stderr
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(argv)} failed (rc={proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    return report


def task_results(report: dict, task_name: str) -> dict[str, dict]:
    """host -> result of the task with that name (last play that ran it)."""
    found: dict[str, dict] = {}
    for play in report.get("plays", []):
        for task in play["tasks"]:
            name = task["task"]["name"]  # a role's tasks are named "<role> : <task>"
            if name == task_name or name.endswith(f" : {task_name}"):
                found = task["hosts"]
    return found


def write_playbook(tmp_path: Path, text: str, name: str = "play.yml") -> Path:
    """A playbook file in the test's temporary folder."""
    path = Path(tmp_path) / name
    path.write_text(textwrap.dedent(text))
    return path


def folded(text: str) -> str:
    """Whitespace folded to single spaces (Ansible wraps long warnings)."""
    return " ".join(text.split())


def launcher(*args: str) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, str(LAUNCHER), *args], capture_output=True, text=True, check=False)
    return proc.returncode, json.loads(proc.stdout)


@dataclass
class Lab:
    name: str
    hosts: int = 3
    outside: bool = True
    state_dir: str = DEFAULT_STATE_DIR
    segments: int = 1

    @property
    def inventory(self) -> Path:
        return Path(self.state_dir) / self.name / f"{self.name}.netplumb_lab.yml"

    def state(self) -> dict:
        with open(Path(self.state_dir) / self.name / "hosts.json") as f:
            return json.load(f)

    def up(self) -> dict:
        extra = ["-e", f"lab_name={self.name}", "-e", f"lab_hosts={self.hosts}", "-e", f"lab_outside={self.outside}",
                 "-e", f"lab_segments={self.segments}"]  # fmt: skip
        return run_playbook(REPO / "playbooks" / "lab_up.yml", *extra)

    def down(self, check: bool = True) -> dict:
        return run_playbook(REPO / "playbooks" / "lab_down.yml", "-e", f"lab_name={self.name}", check=check)

    def sh(self, host: str, command: str, check: bool = True) -> subprocess.CompletedProcess:
        """A shell command inside every namespace of a lab host."""
        argv = [*nsenter_argv(host_pid(self.name, host, self.state_dir)), "/bin/sh", "-c", command]
        return subprocess.run(argv, capture_output=True, text=True, check=check)

    def play(self, playbook: str | Path, *args: str, check: bool = True, extra_vars: dict | None = None) -> dict:
        """run_playbook against this lab's inventory."""
        return run_playbook(playbook, *args, inventory=self.inventory, check=check, extra_vars=extra_vars)

    def netns(self, host: str) -> set[str]:
        """Names of the lab host's named network namespaces."""
        out = self.sh(host, "ip netns list").stdout
        return {line.split()[0] for line in out.splitlines() if line.strip()}

    def links(self, host: str, netns: str | None = None) -> set[str]:
        """Names of the links in the lab host's own network namespace (or in one of its named namespaces)."""
        out = self.sh(host, f"ip {f'-n {netns} ' if netns else ''}-br link").stdout
        return {line.split()[0].split("@")[0] for line in out.splitlines() if line.strip()}

    def purge(self, prefix: str) -> None:
        """Removes, in every lab host, the namespaces, links and /var/lib entries whose names start with prefix."""
        script = (
            f"p={prefix}; "
            "for n in $(ip netns list | cut -d' ' -f1); do case $n in $p*) ip netns del $n;; esac; done; "
            "for n in $(ip -br link | cut -d' ' -f1 | cut -d@ -f1); do case $n in $p*) ip link del $n;; esac; done; "
            'rm -rf /var/lib/"$p"*'
        )
        for host in self.state()["hosts"]:
            self.sh(host, script, check=False)


def unique_lab_name() -> str:
    return "i" + uuid.uuid4().hex[:7]


def root_view() -> tuple[set[str], set[str]]:
    """Names of the root namespace's links and named network namespaces."""
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return (
        {line.split()[0].split("@")[0] for line in links.splitlines() if line.strip()},
        {line.split()[0] for line in netns.splitlines() if line.strip()},
    )


@pytest.fixture(scope="session")
def lab():
    """A running 3-host lab (plus outside) for the whole session, with a name of its own."""
    the_lab = Lab(unique_lab_name())
    try:
        the_lab.up()
        yield the_lab
    finally:
        the_lab.down(check=False)


@pytest.fixture
def lab_prefix(lab, prefix):
    """The test's prefix; afterwards every lab host loses what carries it (see Lab.purge), also on failure."""
    try:
        yield prefix
    finally:
        lab.purge(prefix)


@pytest.fixture
def new_lab():
    """Factory for extra labs in one test; every one is torn down afterwards."""
    made: list[Lab] = []

    def make(**kw) -> Lab:
        made.append(Lab(unique_lab_name(), **kw))
        return made[-1]

    yield make
    for extra in made:
        extra.down(check=False)


# The multi-host labs, longest first (CI's "slowest durations"): 245 s, 150 s, and 60-150 s each.
LONGEST = (
    "test_fleet.py",
    "test_names_fleet.py",
    "test_fleet_docker.py",
    "test_fleet_cni.py",
    "test_inspect_tutorial.py",
)


def pytest_collection_modifyitems(config, items):
    """The longest tests (the fleet labs, then the site playbooks' own labs) first: with pytest-xdist they then
    overlap with the short ones instead of running last on one worker. A stable sort: the order within each group
    stays."""

    def rank(item) -> int:
        name = item.path.name if item.path.parent.name == "integration" else ""
        if name in LONGEST:
            return LONGEST.index(name)
        return len(LONGEST) if name.startswith("test_site") else len(LONGEST) + 1

    items.sort(key=rank)
