"""netplumb.container.route through ansible-playbook on lab hosts: check -> apply -> check -> apply -> deleted.

Routes live in namespaces inside a lab host (module option netns), made by the fixture or by the netns
module in the play: the lab host's own routing table is shared by the whole session's tests.
"""

from __future__ import annotations

import pytest

from ansible_collections.netplumb.container.tests.topology import route_pair

from .conftest import folded, task_results, write_playbook

ROUTES = """\
    - hosts: "{{ target }}"
      gather_facts: false
      tasks:
        - name: Routes in namespace a
          netplumb.container.route:
            config:
              - {dst: 10.99.0.0/24, via: 10.9.0.2, netns: "{{ ns_a }}"}
              - {dst: "fd00:99::/64", via: "fd00:9::2", netns: "{{ ns_a }}"}
              - {dst: 10.98.0.0/24, dev: v0, table: 100, netns: "{{ ns_a }}"}
            state: "{{ route_state }}"
            scope: {netns: "{{ ns_a }}"}
    """

WITH_NETNS = """\
    - hosts: "{{ target }}"
      gather_facts: false
      tasks:
        - name: A namespace that does not exist before the play
          netplumb.container.netns:
            config:
              - name: "{{ ns_c }}"

        - name: A route in it, on its lo
          netplumb.container.route:
            config:
              - {dst: 10.55.0.0/24, dev: lo, netns: "{{ ns_c }}"}
    """


def own_routes(lab, host, ns):
    text = lab.sh(host, f"ip -n {ns} -4 route show table all; ip -n {ns} -6 route show table all").stdout
    return [line for line in text.splitlines() if " proto 78 " in line + " "]


def ping(lab, host, ns, addr):
    return lab.sh(host, f"ip netns exec {ns} ping -c3 -i0.3 -W1 -q {addr}", check=False).returncode == 0


@pytest.fixture
def spaces(lab, lab_prefix):
    """On h3: <p>-a and <p>-b joined by a veth pair; b answers on 10.99.0.1 and fd00:99::1 (its lo)."""
    a, b = f"{lab_prefix}-a", f"{lab_prefix}-b"
    lab.sh("h3", "set -e; " + "; ".join(f"ip {cmd}" for cmd in route_pair(a, b)))
    return lab_prefix, a, b


def test_check_apply_idempotent_then_deleted(lab, spaces, tmp_path):
    a = spaces[1]
    lab.sh("h3", f"ip -n {a} route add 10.50.0.0/16 via 10.9.0.2")  # foreign: must survive
    book = write_playbook(tmp_path, ROUTES)
    args = {"target": "h3", "ns_a": a, "route_state": "overridden"}

    def run(*flags, **extra):
        return task_results(lab.play(book, *flags, extra_vars={**args, **extra}), "Routes in namespace a")["h3"]

    check = run("--check", "--diff")
    assert check["changed"] and len(check["actions"]) == 3
    assert own_routes(lab, "h3", a) == [], "check mode changes nothing"
    labels = sorted(check["diff"]["after"])
    assert labels == [
        f"10.98.0.0/24 table 100 in netns {a}",
        f"10.99.0.0/24 in netns {a}",
        f"fd00:99::/64 in netns {a}",
    ]
    assert check["diff"]["before"] == {}
    assert check["diff"]["after"][f"10.99.0.0/24 in netns {a}"]["via"] == "10.9.0.2"

    applied = run("--diff")
    assert applied["changed"] and applied["diff"] == check["diff"]
    assert [x["summary"] for x in applied["actions"]] == [x["summary"] for x in check["actions"]]
    assert len(own_routes(lab, "h3", a)) == 3
    assert ping(lab, "h3", a, "10.99.0.1") and ping(lab, "h3", a, "fd00:99::1")

    again = run("--check", "--diff")
    assert again["changed"] is False and again["actions"] == []
    assert again["diff"] == {"before": {}, "after": {}}
    again = run("--diff")
    assert again["changed"] is False and again["actions"] == []

    gone = run("--diff", route_state="deleted")
    assert gone["changed"] and sorted(gone["diff"]["before"]) == labels and gone["diff"]["after"] == {}
    assert own_routes(lab, "h3", a) == [], "after deleted nothing of it is left"
    assert not ping(lab, "h3", a, "10.99.0.1")
    assert "10.50.0.0/16 via 10.9.0.2" in lab.sh("h3", f"ip -n {a} route show").stdout


def test_check_mode_route_in_a_namespace_an_earlier_task_creates(lab, lab_prefix, tmp_path):
    c = f"{lab_prefix}-c"
    book = write_playbook(tmp_path, WITH_NETNS)
    args = {"target": "h2", "ns_c": c}
    report = lab.play(book, "--check", extra_vars=args)
    check = task_results(report, "A route in it, on its lo")["h2"]
    assert check["changed"] and [x["op"] for x in check["actions"]] == ["create"]
    warning = f"[WARNING]: netns {c} does not exist (yet); needed by route 10.55.0.0/24 in netns {c}"
    assert warning in folded(report["stderr"]), "a warning, not a failure"
    assert c not in lab.netns("h2")

    applied = task_results(lab.play(book, extra_vars=args), "A route in it, on its lo")["h2"]
    assert applied["changed"]
    assert own_routes(lab, "h2", c) == ["10.55.0.0/24 dev lo proto 78 scope link "]
    assert c not in lab.netns("h1"), "made on h2 only"
    report = lab.play(book, "--check", extra_vars=args)
    assert task_results(report, "A route in it, on its lo")["h2"]["changed"] is False
    assert "[WARNING]" not in report["stderr"]
