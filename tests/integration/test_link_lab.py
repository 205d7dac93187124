"""netns + bridge + veth through ansible-playbook on a lab host: check -> apply -> check-idempotent -> idempotent,
diffs, real traffic between two containers on one bridge and to its gateway, isolation from the other hosts and
the root namespace, teardown that leaves the host as it was."""

from __future__ import annotations

from pathlib import Path

from .conftest import folded, root_view, task_results

HERE = Path(__file__).resolve().parent / "link"
HOST, OTHER = "h1", "h2"
SITE = {"netns": "Container namespaces", "bridge": "The bridge with its gateway addresses"}
SITE["veth"] = "One veth per container, eth0 inside"
DOWN = {"netns": "Delete the namespaces", "bridge": "Delete every bridge of this run the collection made"}
DOWN["veth"] = "Delete the veth pairs"


def play(lab, p: str, book: str, *flags: str) -> tuple[dict[str, dict], str]:
    """Results per module (netns, bridge, veth) of the lab host, and the run's folded stderr (warnings)."""
    report = lab.play(HERE / book, *flags, extra_vars={"target": HOST, "p": p})
    tasks = SITE if book == "site.yml" else DOWN
    return {module: task_results(report, name)[HOST] for module, name in tasks.items()}, folded(report["stderr"])


def ping(lab, ns: str, address: str) -> bool:
    return lab.sh(HOST, f"ip netns exec {ns} ping -c 1 -W 2 {address}", check=False).returncode == 0


def mine(names: set[str], p: str) -> set[str]:
    return {name for name in names if name.startswith(p)}


def test_check_apply_idempotent_traffic_teardown(lab, lab_prefix):
    p = lab_prefix
    links_before = lab.links(HOST)
    check, warnings = play(lab, p, "site.yml", "--check", "--diff")
    assert check["netns"]["changed"] and check["bridge"]["changed"] and check["veth"]["changed"]
    assert [a["op"] for a in check["veth"]["actions"]] == ["create", "create"]
    # the namespaces and the bridge come from earlier tasks that check mode did not run: planned, warned
    assert "does not exist" in warnings
    assert not mine(lab.netns(HOST), p) and not mine(lab.links(HOST), p)

    applied = play(lab, p, "site.yml", "--diff")[0]
    assert applied["veth"]["actions"] == check["veth"]["actions"]
    assert applied["veth"]["diff"]["before"] == {}
    after = applied["veth"]["diff"]["after"][f"{p}v1"]
    assert after["bridge"] == f"{p}br" and after["peer"]["netns"] == f"{p}-c1"
    assert after["peer"]["addresses"] == ["172.29.0.2/24", "fd00:29::2/64"]
    assert applied["bridge"]["diff"]["after"][f"{p}br"]["addresses"] == ["172.29.0.1/24", "fd00:29::1/64"]
    assert {f"{p}br", f"{p}v1", f"{p}v2"} <= lab.links(HOST)
    assert lab.links(HOST, f"{p}-c1") == {"lo", "eth0"}
    # isolation: nothing of it on another lab host, nor in the root namespace
    assert not mine(lab.netns(OTHER), p) and not mine(lab.links(OTHER), p)
    root_links, root_netns = root_view()
    assert not mine(root_links, p) and not mine(root_netns, p)

    again_check = play(lab, p, "site.yml", "--check", "--diff")[0]
    assert not any(again_check[m]["changed"] for m in ("netns", "bridge", "veth"))
    assert all(again_check[m]["diff"] == {"before": {}, "after": {}} for m in ("netns", "bridge", "veth"))
    again = play(lab, p, "site.yml")[0]
    assert not any(again[m]["changed"] for m in ("netns", "bridge", "veth"))

    assert ping(lab, f"{p}-c1", "172.29.0.3") and ping(lab, f"{p}-c2", "172.29.0.2")
    assert ping(lab, f"{p}-c1", "172.29.0.1") and ping(lab, f"{p}-c2", "fd00:29::1")
    assert ping(lab, f"{p}-c1", "fd00:29::3")

    down = play(lab, p, "teardown.yml", "--diff")[0]
    assert [a["summary"] for a in down["veth"]["actions"]] == [f"delete veth {p}v1", f"delete veth {p}v2"]
    assert [a["summary"] for a in down["bridge"]["actions"]] == [f"delete bridge {p}br"]
    assert sorted(a["name"] for a in down["netns"]["actions"]) == [f"{p}-c1", f"{p}-c2"]
    assert lab.links(HOST) == links_before and not mine(lab.netns(HOST), p)
    down_again = play(lab, p, "teardown.yml")[0]
    assert not any(down_again[m]["changed"] for m in ("netns", "bridge", "veth"))
