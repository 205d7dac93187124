"""Helpers for the main job's tests (site.yml, verify.yml, teardown.yml) on labs of their own.

Every test gets its own small lab (started by the launcher directly, ~0.2 s), so tests run in parallel
and may compare a whole host's state before and after.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from .conftest import REPO, Lab, launcher, run_playbook

PLAYBOOKS = REPO / "playbooks"

# What must be the same before site.yml and after teardown.yml (timestamps of iptables-save dropped).
SNAPSHOT = {
    "links": "ip -br link | awk '{print $1, $3}'",  # names and MACs; operstate settles in its own time
    "netns": "ip netns list",
    "routes": "ip route",
    "routes6": "ip -6 route",
    "nft": "nft list ruleset",
    "iptables": "iptables-save | grep -v '^#'",
    "ip6tables": "ip6tables-save | grep -v '^#'",
    "state_dir": "find /var/lib/netplumb 2>/dev/null | sort",
    "etc_netns": "find /etc/netns -mindepth 1 2>/dev/null | sort",  # the containers' hosts files
}
# iptables-nft leaves the built-in tables and chains it touched behind, empty (as with Docker); they
# hold nothing, and a legacy iptables always shows them. Rules and any other chain or table still count.
_BUILTIN = re.compile(
    r"^\s*(table (ip|ip6) (filter|nat|mangle|raw) \{|chain (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) \{"
    r"|type \w+ hook \w+ priority \S+; policy accept;|\}|\*(filter|nat|mangle|raw)|COMMIT"
    r"|:(INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) ACCEPT \[\d+:\d+\])\s*$"
)


class SiteLab:
    """A running lab plus an inventory directory with this test's group_vars and host_vars."""

    def __init__(self, lab: Lab, inv_dir: Path):
        self.lab, self.inv = lab, inv_dir

    def set_vars(self, group_vars: dict | None = None, host_vars: dict[str, dict] | None = None) -> None:
        """JSON is YAML: variables are written as they are given, replacing earlier ones."""
        for sub in ("group_vars", "host_vars"):
            shutil.rmtree(self.inv / sub, ignore_errors=True)
            (self.inv / sub).mkdir()
        (self.inv / "group_vars" / "lab_hosts.yml").write_text(json.dumps(group_vars or {}))
        for host, values in (host_vars or {}).items():
            (self.inv / "host_vars" / f"{host}.yml").write_text(json.dumps(values))

    def play(self, name: str, *args: str, check: bool = True) -> dict:
        return run_playbook(PLAYBOOKS / name, *args, inventory=self.inv, check=check)

    def sh(self, host: str, command: str, check: bool = True) -> str:
        return self.lab.sh(host, command, check=check).stdout

    def snapshot(self, host: str) -> dict[str, str]:
        state = {key: self.sh(host, command, check=False) for key, command in SNAPSHOT.items()}
        for key in ("nft", "iptables", "ip6tables"):
            state[key] = "\n".join(
                line for line in state[key].splitlines() if line.strip() and not _BUILTIN.match(line)
            )
        return state


def start_site_lab(new_lab, tmp_path: Path, hosts: int = 1, outside: bool = True) -> SiteLab:
    lab = new_lab(hosts=hosts, outside=outside)
    rc, out = launcher("up", "--lab", lab.name, "--hosts", str(hosts), "--outside" if outside else "--no-outside")
    assert rc == 0, out
    inv = tmp_path / "inventory"
    inv.mkdir()
    shutil.copy(lab.inventory, inv / lab.inventory.name)
    site = SiteLab(lab, inv)
    site.set_vars()
    return site


def host_tasks(report: dict, host: str, play_once: bool = True) -> list[str]:
    """Names of the tasks that ran on a host (not skipped), in order; without the run_once ones if not
    ``play_once`` (they report on the play's first host only)."""
    return [
        task["task"]["name"]
        for play in report.get("plays", [])
        for task in play["tasks"]
        if host in task["hosts"] and not task["hosts"][host].get("skipped")
        if play_once or not task["task"].get("run_once")
    ]


def changed_tasks(report: dict, host: str) -> list[str]:
    return [
        task["task"]["name"]
        for play in report.get("plays", [])
        for task in play["tasks"]
        if task["hosts"].get(host, {}).get("changed")
    ]


def failures(report: dict) -> dict[str, str]:
    """host -> message of its failed task."""
    out = {}
    for play in report.get("plays", []):
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                if result.get("failed"):
                    out[host] = f"{task['task']['name']}: {result.get('msg', '')}"
    return out


def refused_before_any_change(site: SiteLab, host_vars: dict[str, dict], messages: dict[str, str]) -> dict[str, str]:
    """site.yml with one bad case per host: each host fails with its message, changed nothing and is as it was
    (its snapshot). Returns the failure messages by host."""
    site.set_vars({}, host_vars)
    before = {host: site.snapshot(host) for host in messages}
    report = site.play("site.yml", check=False)
    assert report["rc"] != 0
    failed = failures(report)
    for host, message in messages.items():
        assert message in failed.get(host, ""), f"{host}: {failed.get(host)}"
        assert report["stats"][host]["changed"] == 0, host
        assert site.snapshot(host) == before[host], host
    return failed


def netns_list(site: SiteLab, host: str) -> set[str]:
    return {line.split()[0] for line in site.sh(host, "ip netns list").splitlines() if line.strip()}


def link(site: SiteLab, host: str, netns: str, ifname: str) -> dict:
    """One interface inside a container: {"mac", "addresses" (CIDRs, global v4/v6), "mtu", "master"...}."""
    data = json.loads(site.sh(host, f"ip -n {netns} -j addr show dev {ifname}"))[0]
    return {
        "mac": data["address"],
        "mtu": data["mtu"],
        "addresses": [f"{a['local']}/{a['prefixlen']}" for a in data["addr_info"] if a.get("scope") == "global"],
    }


def default_route(site: SiteLab, host: str, netns: str) -> str:
    routes = json.loads(site.sh(host, f"ip -n {netns} -j -4 route show default"))
    return " ".join(f"{r.get('gateway')} dev {r.get('dev')}" for r in routes)


def serve(site: SiteLab, host: str, netns: str | None, port: int, reply: str, seconds: int = 60) -> str:
    """A bounded TCP server in a namespace of a lab host, answering a fixed string; returns its PID there.

    Stop it (``site.sh(host, f"kill {pid}")``) before a teardown: a process inside a namespace keeps it
    and its links alive after the namespace's name is gone."""
    inner = f"timeout {seconds} socat TCP4-LISTEN:{port},reuseaddr,fork SYSTEM:'echo {reply}'"
    command = f"ip netns exec {netns} {inner}" if netns else inner
    pid = site.sh(host, f"{command} >/dev/null 2>&1 & echo $!").strip()
    where = f"ip netns exec {netns} " if netns else ""
    site.sh(host, f"for i in $(seq 50); do {where}ss -Hltn | grep -q ':{port} ' && exit 0; sleep 0.1; done; exit 1")
    return pid


def fetch(site: SiteLab, host: str, netns: str | None, address: str, port: int) -> str:
    inner = f"timeout 4 socat -T2 - TCP4:{address}:{port},connect-timeout=2"
    command = f"ip netns exec {netns} {inner}" if netns else inner
    return site.sh(host, command, check=False).strip()
