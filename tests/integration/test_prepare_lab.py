"""The prepare role on lab hosts: one probe, nothing installed when nothing is missing, the underlay facts,
and a clear failure naming the host and the package where something is missing and may not be installed.

(The lab hosts share this machine's filesystem, so nothing is ever installed here: molecule/vm installs
python3-pyroute2 and nftables for real, in VMs.)"""

from __future__ import annotations

import json

import yaml

from .conftest import REPO, folded, task_results, write_playbook
from .hostpython import no_pyroute2_python, old_pyroute2_python
from .sitelab import host_tasks, start_site_lab

PROBE = "Find what the host has (changes nothing)"
INSTALL_TASKS = (
    "Install with apt (no python3-apt needed on the host)",
    "Install with the distribution's package manager",
)


# Issue 11's cap on site.yml, which the prepare role must not raise on a host that has everything.
SITE_MODULE_CALLS = 6
CONTAINERS = [{"name": "web", "publish": ["8080:80"]}, {"name": "db"}]


def module_calls(report: dict, host: str) -> list[str]:
    """Tasks that ran a module on the host: bench/bench_site.py's rule (the result carries an invocation)."""
    return [
        task["task"]["name"]
        for play in report["plays"]
        for task in play["tasks"]
        if (result := task["hosts"].get(host)) and not result.get("skipped")
        for _call in result.get("results") or ([result] if "invocation" in result else [])
    ]


def prepare_playbook(tmp_path, **role_vars) -> str:
    play = [
        {
            "name": "prepare",
            "hosts": "lab_hosts",
            "gather_facts": False,
            "roles": [{"role": "netplumb.container.prepare", "vars": role_vars}],
            "tasks": [
                {
                    "name": "Report the facts",
                    "ansible.builtin.debug": {
                        "msg": "{{ [netplumb_underlay_interface, netplumb_underlay_address, netplumb_underlay_mtu] }}"
                    },
                }
            ],
        }
    ]
    return write_playbook(tmp_path, json.dumps(play), "prepare.yml")


def underlay_of(lab, host: str, iface: str) -> tuple[str, int]:
    info = json.loads(lab.sh(host, f"ip -j -4 addr show dev {iface}").stdout)[0]
    addr = info["addr_info"][0]
    return f"{addr['local']}/{addr['prefixlen']}", info["mtu"]


def test_nothing_missing_installs_nothing_and_sets_the_underlay_facts(lab, tmp_path):
    report = lab.play(prepare_playbook(tmp_path, prepare_underlay_interface="ul0"))
    assert report["stats"]["h1"]["changed"] == 0
    for task in INSTALL_TASKS:
        assert all(result.get("skipped") for result in task_results(report, task).values())
    facts = task_results(report, "Report the facts")
    for host in ("h1", "h2", "h3"):
        address, mtu = underlay_of(lab, host, "ul0")
        assert facts[host]["msg"] == ["ul0", address, mtu]


def test_default_route_interface_by_default(lab, tmp_path):
    facts = task_results(lab.play(prepare_playbook(tmp_path)), "Report the facts")
    for host in ("h1", "h2", "h3"):
        route = json.loads(lab.sh(host, "ip -j -4 route show default").stdout)
        if route:
            address, mtu = underlay_of(lab, host, route[0]["dev"])
            assert facts[host]["msg"] == [route[0]["dev"], address, mtu]
        else:
            assert facts[host]["msg"] == [None, None, None]


def test_missing_pyroute2_named_per_host_when_install_is_off(lab, tmp_path):
    pb = prepare_playbook(tmp_path, prepare_install=False)
    report = lab.play(pb, "-e", f"ansible_python_interpreter={no_pyroute2_python()}", check=False)
    assert report["rc"] != 0
    failed = task_results(report, "Say where nothing can be installed")
    for host in ("h1", "h2", "h3"):
        msg = folded(failed[host]["msg"])
        assert msg.startswith(f"prepare: {host} lacks pyroute2"), msg
        assert "python3-pyroute2" in msg and 'pip install "pyroute2>=0.7"' in msg, msg
    assert report["stats"]["h1"]["changed"] == 0


def test_too_old_pyroute2_counts_as_missing(lab, tmp_path):
    pb = prepare_playbook(tmp_path, prepare_install=False)
    report = lab.play(pb, "-e", f"ansible_python_interpreter={old_pyroute2_python()}", check=False)
    found = task_results(report, PROBE)["h1"]
    assert json.loads(found["stdout"])["pyroute2"] == "0.6.13"
    assert "lacks pyroute2" in folded(task_results(report, "Say where nothing can be installed")["h1"]["msg"])


def test_bad_backend_fails_before_probing(lab, tmp_path):
    report = lab.play(prepare_playbook(tmp_path, prepare_firewall_backend="pf"), check=False)
    assert report["rc"] != 0
    failed = [
        folded(result.get("msg", ""))
        for play in report["plays"]
        for task in play["tasks"]
        for result in task["hosts"].values()
        if result.get("failed")
    ]
    assert failed and all("prepare_firewall_backend" in msg and "pf" in msg for msg in failed), failed
    assert task_results(report, PROBE) == {}


def prepare_task_names() -> set[str]:
    def names(tasks: list[dict]) -> set[str]:
        return {t["name"] for t in tasks} | {n for t in tasks for n in names(t.get("block", []))}

    return names(yaml.safe_load((REPO / "roles" / "prepare" / "tasks" / "main.yml").read_text()))


def test_site_playbooks_prepare_each_host_first_with_one_probe_and_no_module_call(new_lab, tmp_path):
    """site.yml on h1 (twice: converge, then the steady state) and site_fleet.yml on h2: the prepare role runs
    first on each host, probes once, installs nothing and calls no module; site.yml stays within its cap."""
    site = start_site_lab(new_lab, tmp_path, hosts=2, outside=False)
    # Hosts of a lab without outside have no default route: the fleet's underlay is named.
    site.set_vars({"endpoints_containers": CONTAINERS, "fleet_underlay_interface": "ul0"})
    prepare = prepare_task_names()
    for playbook, host in (("site.yml", "h1"), ("site_fleet.yml", "h2"), ("site.yml", "h1")):
        report = site.play(playbook, "-e", f"netplumb_hosts={host}")
        # Without the "role : " prefix of tasks from roles
        ran = [name.split(" : ", 1)[-1] for name in host_tasks(report, host)]
        calls = [name.split(" : ", 1)[-1] for name in module_calls(report, host)]
        # Once, before anything reads or changes the host.
        assert ran.count(PROBE) == 1 and ran.index(PROBE) < ran.index(calls[0]), ran
        assert not set(INSTALL_TASKS) & set(ran), ran
        assert calls and not prepare & set(calls), calls
        if playbook == "site.yml":
            assert len(calls) <= SITE_MODULE_CALLS, calls
    # The steady state: the prepare role reports no change where nothing was missing.
    assert report["stats"]["h1"]["changed"] == 0, report["stats"]
