"""The ipam module through ansible-playbook on lab hosts: check -> apply -> check-idempotent -> idempotent, with
diffs. Endpoint stores live on every lab host (its private /var/lib); the host subnets are leased once per play on
the controller (run_once, delegate_to localhost), in a lease file of the test's own."""

from __future__ import annotations

import os

from .conftest import task_results, write_playbook

HOSTS = ("h1", "h2", "h3")
ENDPOINTS, FLEET = "Addresses for three endpoints, dual stack", "One subnet per host, once per play, on the controller"
PLAYBOOK = """\
    - hosts: lab_hosts
      gather_facts: false
      tasks:
        - name: Addresses for three endpoints, dual stack
          netplumb.container.ipam:
            network: itest
            pools:
              - subnet: 172.30.0.0/24
                aux_addresses: {router: 172.30.0.2}
              - subnet: fd00:30::/64
            config:
              - endpoint: web1
              - endpoint: web2
                address: 172.30.0.100
              - endpoint: db1
            state: overridden
            state_dir: "{{ state_dir }}"

        - name: One subnet per host, once per play, on the controller
          netplumb.container.ipam:
            cluster:
              range: 10.244.0.0/16
              prefixlen: 24
              lease_file: "{{ lease_file }}"
              hosts: "{{ groups['lab_hosts'] }}"
              pinned: {h3: 10.244.100.0/24}
              exclude: [10.244.0.0/24]
          run_once: true
          delegate_to: localhost
    """

FAILING = """\
    - hosts: h1
      gather_facts: false
      tasks:
        - name: More endpoints than a /30 holds
          netplumb.container.ipam:
            network: itest
            subnet: 172.30.0.0/30
            config: [{endpoint: x1}, {endpoint: x2}]
            state_dir: "{{ state_dir }}"
    """


def stored(lab, host: str, path: str) -> str | None:
    proc = lab.sh(host, f"cat {path}", check=False)
    return proc.stdout if proc.returncode == 0 else None


def test_check_apply_idempotent(lab, lab_prefix, tmp_path):
    state_dir = f"/var/lib/{lab_prefix}-ipam"  # in every lab host's private /var/lib; Lab.purge removes it
    store, lease = f"{state_dir}/itest.json", tmp_path / "subnets.json"
    book = write_playbook(tmp_path, PLAYBOOK)
    extra = {"state_dir": state_dir, "lease_file": str(lease)}

    def run(*flags):
        report = lab.play(book, *flags, extra_vars=extra)
        fleet = task_results(report, FLEET)
        assert len(fleet) == 1, "the cluster task runs once per play"
        return task_results(report, ENDPOINTS), next(iter(fleet.values()))

    checked, fleet = run("--check", "--diff")
    assert set(checked) == set(HOSTS)
    for eps in checked.values():
        assert eps["changed"] and eps["diff"]["after_header"] == store and "web1" in eps["diff"]["after"]
    assert fleet["changed"]
    assert all(stored(lab, host, store) is None for host in HOSTS) and not lease.exists()

    applied, fleet_applied = run("--diff")
    for host, eps in applied.items():
        assert eps["changed"] and eps["allocations"] == checked[host]["allocations"]
        assert eps["allocations"]["web1"] == {
            "netns": "web1",
            "addresses": ["172.30.0.3/24", "fd00:30::2/64"],
            "ipv4": "172.30.0.3",
            "prefixlen": 24,
            "gateway": "172.30.0.1",
            "ipv6": "fd00:30::2",
            "prefixlen6": 64,
            "gateway6": "fd00:30::1",
            "mac": "02:42:ac:1e:00:03",
        }
        assert eps["allocations"]["web2"]["ipv4"] == "172.30.0.100"
        assert eps["allocations"]["db1"]["ipv4"] == "172.30.0.4"
        assert set(eps["diff"]["after"]) == {"web1", "web2", "db1"} and eps["diff"]["before"] == {}
    assert fleet_applied["subnets"] == {"h1": "10.244.1.0/24", "h2": "10.244.2.0/24", "h3": "10.244.100.0/24"}
    assert fleet_applied["diff"]["after"] == fleet_applied["subnets"]
    # each host has a store of its own; the controller's /var/lib has none (the lease file is the controller's)
    before = {host: stored(lab, host, store) for host in HOSTS}
    assert all(before.values()) and not os.path.exists(state_dir) and lease.exists()
    lease_bytes = lease.read_bytes()

    for flags in (("--check", "--diff"), ("--diff",)):
        again, fleet_again = run(*flags)
        for host, eps in again.items():
            assert not eps["changed"] and eps["actions"] == []
            assert eps["allocations"] == applied[host]["allocations"]
        assert not fleet_again["changed"] and fleet_again["actions"] == []
        assert fleet_again["subnets"] == fleet_applied["subnets"], "the host -> subnet map is stable"
        assert {host: stored(lab, host, store) for host in HOSTS} == before and lease.read_bytes() == lease_bytes


def test_failure_is_clear_and_changes_nothing(lab, lab_prefix, tmp_path):
    state_dir = f"/var/lib/{lab_prefix}-ipam"
    report = lab.play(write_playbook(tmp_path, FAILING), check=False, extra_vars={"state_dir": state_dir})
    assert report["rc"] != 0
    result = task_results(report, "More endpoints than a /30 holds")["h1"]
    assert result["failed"] and "pool 172.30.0.0/30 is exhausted" in result["msg"]
    assert stored(lab, "h1", f"{state_dir}/itest.json") is None
