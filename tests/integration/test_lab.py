"""The lab itself: isolation, idempotence, crash cleanup, coexistence, the connection and inventory plugins."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import REPO, ansible_env, launcher, root_view, run_playbook, task_results

NS_KINDS = ("net", "mnt", "uts", "ipc", "pid")


def untag(obj: dict):
    """ansible-inventory --list marks strings from inventory plugins as unsafe: {"__ansible_unsafe": value}."""
    return obj["__ansible_unsafe"] if set(obj) == {"__ansible_unsafe"} else obj


def ns_inode(pid: int | str, kind: str) -> int:
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def lab_pids(name: str) -> list[int]:
    """Every process carrying the lab's marker (argv), found without trusting the lab's own state."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except (OSError, ValueError):
            continue
        if any(a.startswith(f"netplumb-lab/{name}/".encode()) for a in argv):
            found.append(int(entry))
    return found


def test_hosts_have_their_own_namespaces(lab):
    state = lab.state()
    assert sorted(state["hosts"]) == ["h1", "h2", "h3", "outside"]
    pids = [rec["pid"] for rec in state["hosts"].values()] + [state["switch"]["pid"]]
    for kind in NS_KINDS:
        inodes = [ns_inode(pid, kind) for pid in pids]
        assert len(set(inodes)) == len(pids), f"{kind} namespace shared between lab processes"
        assert ns_inode(os.getpid(), kind) not in inodes, f"a lab process is in the root {kind} namespace"
    for host, rec in state["hosts"].items():
        assert lab.sh(host, "hostname").stdout.strip() == host
        assert lab.sh(host, "cat /etc/hostname").stdout.strip() == host
        assert lab.sh(host, "echo $$").stdout.strip() != ""
        assert lab.sh(host, "cat /proc/1/cmdline | tr '\\0' ' '").stdout.startswith(rec["marker"])
        assert lab.sh(host, "ls /sys/class/net").stdout.split() == ["lo", "ul0"]
        assert lab.sh(host, "ip netns list").stdout.strip() == ""


def test_underlay(lab):
    state = lab.state()
    for i in (1, 2, 3):
        rec = state["hosts"][f"h{i}"]
        assert rec["address"] == f"198.18.0.{10 + i}"
        addr = lab.sh(f"h{i}", "ip -br -4 addr show ul0").stdout.split()
        assert addr[1] == "UP" and addr[2] == f"198.18.0.{10 + i}/24"
        assert "mtu 1500" in lab.sh(f"h{i}", "ip link show ul0").stdout
        assert lab.sh(f"h{i}", "ip -4 route show default").stdout.split()[:3] == ["default", "via", "198.18.0.254"]
    for host in state["hosts"]:
        assert "UP" in lab.sh(host, "ip -o link show lo").stdout.split("<", 1)[1].split(">")[0].split(",")
    assert lab.sh("outside", "cat /proc/sys/net/ipv4/ip_forward").stdout.strip() == "0"
    assert lab.sh("outside", "ip -br -4 addr show ul0").stdout.split()[2] == "198.18.0.254/24"
    lab.sh("h1", "ping -c1 -W2 198.18.0.12")
    lab.sh("h1", "ping -c1 -W2 198.18.0.254")
    lab.sh("h3", "ping -c1 -W2 198.18.0.11")


def test_private_etc_var_lib_run(lab, tmp_path, prefix):
    name = f"{prefix}.txt"
    pb = tmp_path / "files.yml"
    pb.write_text(
        f"""- name: files in h1
  hosts: h1
  gather_facts: false
  tasks:
    - name: Write
      ansible.builtin.copy:
        dest: "{{{{ item }}}}"
        content: hello
        mode: "0644"
      loop: [/etc/{name}, /var/lib/{name}, /run/{name}]
    - name: Read
      ansible.builtin.slurp:
        src: /etc/{name}
      register: got
    - name: Fetch
      ansible.builtin.fetch:
        src: /var/lib/{name}
        dest: {tmp_path}/fetched
        flat: true
"""
    )
    run_playbook(pb, inventory=lab.inventory)
    assert task_results(run_playbook(pb, inventory=lab.inventory), "Write")["h1"]["changed"] is False
    assert (tmp_path / "fetched").read_text() == "hello"
    for d in ("/etc", "/var/lib", "/run"):
        assert lab.sh("h1", f"cat {d}/{name}").stdout == "hello"
        assert lab.sh("h2", f"test -e {d}/{name}", check=False).returncode == 1
        assert not Path(d, name).exists(), f"{d}/{name} leaked into the root"


def test_facts_inside_a_host(lab, tmp_path):
    pb = tmp_path / "facts.yml"
    pb.write_text("- name: facts\n  hosts: h2\n  gather_facts: true\n  gather_subset: [network]\n  tasks: []\n")
    facts = task_results(run_playbook(pb, inventory=lab.inventory), "Gathering Facts")["h2"]["ansible_facts"]
    assert facts["ansible_hostname"] == "h2"
    assert facts["ansible_default_ipv4"]["address"] == "198.18.0.12"
    assert sorted(facts["ansible_interfaces"]) == ["lo", "ul0"]


def test_up_twice_is_the_same_lab(lab):
    before = lab.state()
    report = lab.up()
    assert task_results(report, "Start or stop the lab")["localhost"]["changed"] is False
    after = lab.state()
    assert after["hosts"] == before["hosts"] and after["switch"] == before["switch"]


def test_inventory_plugin_and_group_vars(lab, tmp_path):
    inv = tmp_path / "inv"
    (inv / "group_vars").mkdir(parents=True)
    shutil.copy(lab.inventory, inv / "lab.netplumb_lab.yml")
    (inv / "group_vars" / "lab_hosts.yml").write_text("greeting: from-group-vars\n")
    out = subprocess.run(
        [str(Path(os.sys.executable).parent / "ansible-inventory"), "-i", str(inv), "--list"],
        capture_output=True, text=True, env=ansible_env(), check=True,
    ).stdout  # fmt: skip
    data = json.loads(out, object_hook=untag)
    assert sorted(data["lab_hosts"]["hosts"]) == ["h1", "h2", "h3"]
    assert data["lab_outside"]["hosts"] == ["outside"]
    h1 = data["_meta"]["hostvars"]["h1"]
    assert h1["ansible_connection"] == "netplumb.container.lab"
    assert h1["netplumb_lab_name"] == lab.name
    assert h1["netplumb_lab_underlay_address"] == "198.18.0.11"
    assert h1["greeting"] == "from-group-vars"
    assert "greeting" not in data["_meta"]["hostvars"]["outside"]


def test_two_labs_at_once(lab, new_lab):
    other = new_lab(hosts=1, outside=False)
    other.up()
    mine, theirs = lab.state(), other.state()
    assert mine["switch"]["netns"] != theirs["switch"]["netns"]
    assert theirs["hosts"]["h1"]["address"] == mine["hosts"]["h1"]["address"] == "198.18.0.11"
    # Separate switches: the other lab's h1 reaches nobody at the session lab's addresses.
    assert other.sh("h1", "ping -c1 -W1 198.18.0.12", check=False).returncode != 0
    assert other.sh("h1", "ip -4 route show default").stdout.strip() == ""
    lab.sh("h1", "ping -c1 -W2 198.18.0.12")


def test_nothing_in_the_root_namespace(new_lab):
    links_before, netns_before = root_view()
    one = new_lab(hosts=2)
    one.up()
    links_up, netns_up = root_view()
    state = one.state()
    lab_netns = {rec["netns"] for rec in [*state["hosts"].values(), state["switch"]]}
    new_root_netns = set()
    for name in netns_up - netns_before:
        with contextlib.suppress(OSError):  # someone else's, gone again
            new_root_netns.add(os.stat(f"/run/netns/{name}").st_ino)
    one.down()
    links_after = root_view()[0]
    # Other test runs may add or remove their own objects meanwhile: only what the lab would make counts.
    ours = {"br0", "ul0", "ul-h1", "ul-h2", "ul-outside"}
    assert not (links_up - links_before) & ours and not (links_after - links_before) & ours
    assert not new_root_netns & lab_netns, "a lab namespace is mounted in the root's /run/netns"
    assert not Path(one.state_dir, one.name).exists()
    assert lab_pids(one.name) == []


def test_down_twice(new_lab):
    one = new_lab(hosts=1)
    one.up()
    first, second = one.down(), one.down()
    assert task_results(first, "Start or stop the lab")["localhost"]["changed"] is True
    assert task_results(second, "Start or stop the lab")["localhost"]["changed"] is False
    assert lab_pids(one.name) == []


def test_down_after_kill_9(new_lab, tmp_path):
    one = new_lab(hosts=2)
    one.up()
    state = one.state()
    for rec in [*state["hosts"].values(), state["switch"]]:
        os.kill(rec["pid"], signal.SIGKILL)
    time.sleep(0.2)
    assert launcher("status", "--lab", one.name)[0] == 3

    # The connection refuses a dead host with a clear message instead of entering another process.
    pb = tmp_path / "ping.yml"
    pb.write_text("- name: ping\n  hosts: h1\n  gather_facts: false\n  tasks:\n    - name: Ping\n"
                  "      ansible.builtin.ping:\n")  # fmt: skip
    result = task_results(run_playbook(pb, inventory=one.inventory, check=False), "Ping")["h1"]
    assert result.get("unreachable") and "no longer the lab host" in result["msg"]

    one.down()
    assert lab_pids(one.name) == []
    assert not Path(one.state_dir, one.name).exists()


def test_down_after_crash_without_state(new_lab):
    """Processes whose state file never got written (a launcher killed mid-up) are found by their marker."""
    one = new_lab(hosts=1)
    one.up()
    os.unlink(Path(one.state_dir, one.name, "hosts.json"))
    assert lab_pids(one.name)
    one.down()
    assert lab_pids(one.name) == []


def test_failed_up_leaves_nothing(tmp_path):
    """A host that cannot start (here: an unknown lab name is fine, but 0 hosts is refused) changes nothing."""
    name = "ibad" + os.urandom(3).hex()
    rc, out = launcher("up", "--lab", name, "--hosts", "0")
    assert rc == 1 and "hosts must be between" in out["msg"]
    assert not Path("/run/netplumb-lab", name).exists()
    rc, out = launcher("up", "--lab", "Bad/Name")
    assert rc == 1 and "invalid lab name" in out["msg"]


def test_failed_setup_is_rolled_back(tmp_path):
    """A host whose setup fails mid-way: up fails, and every process and file it made is gone."""
    name = "ifail" + os.urandom(3).hex()
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    # A tini that exits at once: the hosts never become ready.
    (tmp_path / "tini").write_text("#!/bin/sh\nexit 7\n")
    (tmp_path / "tini").chmod(0o755)
    proc = subprocess.run(
        [os.sys.executable, str(REPO / "roles/lab/files/netplumb_lab.py"), "up", "--lab", name, "--hosts", "2"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 1 and "did not start" in proc.stdout
    assert lab_pids(name) == []
    assert not Path("/run/netplumb-lab", name).exists()


@pytest.mark.parametrize("flag", ["--outside", "--no-outside"])
def test_status_reports(new_lab, flag):
    one = new_lab(hosts=1, outside=flag == "--outside")
    one.up()
    rc, out = launcher("status", "--lab", one.name)
    assert rc == 0 and out["up"] is True
    assert ("outside" in out["hosts"]) is (flag == "--outside")


def test_inventory_of_a_lab_that_is_not_up(tmp_path):
    source = tmp_path / "gone.netplumb_lab.yml"
    source.write_text("plugin: netplumb.container.lab\nlab: inotthere\n")
    proc = subprocess.run(
        [str(Path(os.sys.executable).parent / "ansible-inventory"), "-i", str(source), "--list"],
        capture_output=True, text=True, env=ansible_env(), check=True,
    )  # fmt: skip
    assert "lab 'inotthere' is not up" in proc.stderr and "lab_up.yml -e lab_name=inotthere" in proc.stderr
    data = json.loads(proc.stdout, object_hook=untag)
    assert data["_meta"]["hostvars"] == {} and "lab_hosts" in data["lab"]["children"]


def test_check_mode_changes_nothing(new_lab):
    one = new_lab(hosts=1)
    task = "Start or stop the lab"
    up = [REPO / "playbooks" / "lab_up.yml", "-e", f"lab_name={one.name}", "-e", "lab_hosts=1", "--check"]
    assert task_results(run_playbook(*up), task)["localhost"]["changed"] is True
    assert not Path(one.state_dir, one.name).exists() and lab_pids(one.name) == []
    one.up()
    pids = sorted(lab_pids(one.name))
    assert task_results(run_playbook(*up), task)["localhost"]["changed"] is False
    down = [REPO / "playbooks" / "lab_down.yml", "-e", f"lab_name={one.name}", "--check"]
    assert task_results(run_playbook(*down), task)["localhost"]["changed"] is True
    assert sorted(lab_pids(one.name)) == pids


def test_other_size_rebuilds(new_lab):
    one = new_lab(hosts=1, outside=False)
    one.up()
    first = one.state()
    one.hosts, one.outside = 2, True
    one.up()
    second = one.state()
    assert sorted(second["hosts"]) == ["h1", "h2", "outside"]
    assert second["hosts"]["h1"]["pid"] != first["hosts"]["h1"]["pid"]
    old = {rec["pid"] for rec in first["hosts"].values()}
    assert not old & {rec["pid"] for rec in second["hosts"].values()}
    assert not old & set(lab_pids(one.name)), "the old hosts still run"
    one.sh("h2", "ping -c1 -W2 198.18.0.254")
