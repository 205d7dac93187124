"""netplumb.container.netns through ansible-playbook on lab hosts: check, apply, check again, apply again."""

from __future__ import annotations

import os
import textwrap

import pytest

from .conftest import root_view, run_playbook, task_results

TASK = "Namespaces"


def playbook(tmp_path, hosts: str, config: list[dict], state: str = "merged"):
    import json

    path = tmp_path / "netns.yml"
    path.write_text(
        textwrap.dedent(f"""\
        - name: netns on lab hosts
          hosts: {hosts}
          gather_facts: false
          tasks:
            - name: {TASK}
              netplumb.container.netns:
                config: {json.dumps(config)}
                state: {state}
        """)
    )
    return path


def netns_in(lab, host: str) -> set[str]:
    out = lab.sh(host, "ip netns list").stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.fixture
def cleanup_hosts(lab):
    """Deletes, in every lab host, the namespaces a test made (their names carry its prefix)."""
    made: list[str] = []
    yield made
    for host in lab.state()["hosts"]:
        for name in made:
            lab.sh(host, f"ip netns del {name}", check=False)


def test_check_apply_check_idempotent(lab, tmp_path, prefix, cleanup_hosts):
    web, router = f"{prefix}-web", f"{prefix}-rt"
    cleanup_hosts += [web, router]
    config = [{"name": web}, {"name": router, "sysctls": {"net.ipv4.ip_forward": 1}}]
    pb = playbook(tmp_path, "lab_hosts", config)
    hosts = {"h1", "h2", "h3"}

    check = task_results(run_playbook(pb, "--check", "--diff", inventory=lab.inventory), TASK)
    assert set(check) == hosts
    for result in check.values():
        assert result["changed"] is True
        assert [(a["op"], a["name"]) for a in result["actions"]] == [("create", web), ("create", router)]
        assert sorted(result["diff"]["after"]) == sorted([web, router]) and result["diff"]["before"] == {}
    for host in hosts:
        assert not {web, router} & netns_in(lab, host), "check mode created a namespace"

    apply = task_results(run_playbook(pb, "--diff", inventory=lab.inventory), TASK)
    for result in apply.values():
        assert result["changed"] is True
        assert {a["name"] for a in result["actions"]} == {web, router}
        assert result["diff"]["after"][router]["sysctls"] == {"net.ipv4.ip_forward": "1"}
    for host in hosts:
        assert {web, router} <= netns_in(lab, host)
        assert lab.sh(host, f"ip netns exec {router} cat /proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
        assert "UP" in lab.sh(host, f"ip netns exec {web} ip -o link show lo").stdout

    for args in (["--check", "--diff"], ["--diff"]):
        again = task_results(run_playbook(pb, *args, inventory=lab.inventory), TASK)
        assert set(again) == hosts
        for result in again.values():
            assert result["changed"] is False and result["actions"] == []
            assert result["diff"] == {"before": {}, "after": {}}


def test_namespace_of_one_host_is_invisible_elsewhere(lab, tmp_path, prefix, cleanup_hosts):
    only = f"{prefix}-only"
    cleanup_hosts.append(only)
    before_links, before_netns = root_view()
    run_playbook(playbook(tmp_path, "h1", [{"name": only}]), inventory=lab.inventory)
    assert only in netns_in(lab, "h1")
    assert only not in netns_in(lab, "h2")
    assert only not in netns_in(lab, "outside")
    assert only not in root_view()[1]
    assert not os.path.exists(f"/run/netns/{only}")
    # The lab host's named namespaces are its own: the root's are not visible in there either.
    assert not (before_netns - {only}) & netns_in(lab, "h1")
    assert before_links  # sanity: the root view was read


def test_deleted_again(lab, tmp_path, prefix, cleanup_hosts):
    gone = f"{prefix}-gone"
    cleanup_hosts.append(gone)
    run_playbook(playbook(tmp_path, "h2", [{"name": gone}]), inventory=lab.inventory)
    pb = playbook(tmp_path, "h2", [{"name": gone}], state="deleted")
    first = task_results(run_playbook(pb, "--diff", inventory=lab.inventory), TASK)["h2"]
    assert first["changed"] is True and [a["op"] for a in first["actions"]] == ["delete"]
    assert gone not in netns_in(lab, "h2")
    second = task_results(run_playbook(pb, inventory=lab.inventory), TASK)["h2"]
    assert second["changed"] is False
