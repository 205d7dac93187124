"""netplumb.container.netns through ansible-playbook on lab hosts: check, apply, check again, apply again."""

from __future__ import annotations

import json
import os

from .conftest import root_view, task_results, write_playbook

TASK = "Namespaces"


def playbook(tmp_path, hosts: str, config: list[dict], state: str = "merged"):
    return write_playbook(
        tmp_path,
        f"""\
        - name: netns on lab hosts
          hosts: {hosts}
          gather_facts: false
          tasks:
            - name: {TASK}
              netplumb.container.netns:
                config: {json.dumps(config)}
                state: {state}
        """,
        f"netns-{hosts}-{state}.yml",
    )


def test_check_apply_check_idempotent(lab, tmp_path, lab_prefix):
    prefix = lab_prefix
    web, router = f"{prefix}-web", f"{prefix}-rt"
    config = [{"name": web}, {"name": router, "sysctls": {"net.ipv4.ip_forward": 1}}]
    pb = playbook(tmp_path, "lab_hosts", config)
    hosts = {"h1", "h2", "h3"}

    check = task_results(lab.play(pb, "--check", "--diff"), TASK)
    assert set(check) == hosts
    for result in check.values():
        assert result["changed"] is True
        assert [(a["op"], a["name"]) for a in result["actions"]] == [("create", web), ("create", router)]
        assert sorted(result["diff"]["after"]) == sorted([web, router]) and result["diff"]["before"] == {}
    for host in hosts:
        assert not {web, router} & lab.netns(host), "check mode created a namespace"

    apply = task_results(lab.play(pb, "--diff"), TASK)
    for result in apply.values():
        assert result["changed"] is True
        assert {a["name"] for a in result["actions"]} == {web, router}
        assert result["diff"]["after"][router]["sysctls"] == {"net.ipv4.ip_forward": "1"}
    for host in hosts:
        assert {web, router} <= lab.netns(host)
        assert lab.sh(host, f"ip netns exec {router} cat /proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
        assert "UP" in lab.sh(host, f"ip netns exec {web} ip -o link show lo").stdout

    for args in (["--check", "--diff"], ["--diff"]):
        again = task_results(lab.play(pb, *args), TASK)
        assert set(again) == hosts
        for result in again.values():
            assert result["changed"] is False and result["actions"] == []
            assert result["diff"] == {"before": {}, "after": {}}


def test_namespace_of_one_host_is_invisible_elsewhere(lab, tmp_path, lab_prefix):
    only = f"{lab_prefix}-only"
    before_links, before_netns = root_view()
    lab.play(playbook(tmp_path, "h1", [{"name": only}]))
    assert only in lab.netns("h1")
    assert only not in lab.netns("h2")
    assert only not in lab.netns("outside")
    assert only not in root_view()[1]
    assert not os.path.exists(f"/run/netns/{only}")
    # The lab host's named namespaces are its own: the root's are not visible in there either.
    assert not (before_netns - {only}) & lab.netns("h1")
    assert before_links  # sanity: the root view was read


def test_deleted_again(lab, tmp_path, lab_prefix):
    gone = f"{lab_prefix}-gone"
    lab.play(playbook(tmp_path, "h2", [{"name": gone}]))
    pb = playbook(tmp_path, "h2", [{"name": gone}], state="deleted")
    first = task_results(lab.play(pb, "--diff"), TASK)["h2"]
    assert first["changed"] is True and [a["op"] for a in first["actions"]] == ["delete"]
    assert gone not in lab.netns("h2")
    second = task_results(lab.play(pb), TASK)["h2"]
    assert second["changed"] is False
