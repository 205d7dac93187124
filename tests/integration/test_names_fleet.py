"""Names across the fleet on a lab of its own (2 hosts, host-gw): each container's /etc/netns/<name>/hosts
and resolv.conf, read through `ip netns exec` as a program in the container reads them: real lookups of
`name` and `name.host` across hosts, a ping by name, check mode and a rerun that change nothing, a container
added on one host and removed on the other seen on the next run, someone else's hosts file left as it is,
teardown removing the files.

Lookups are only made for names the hosts files hold (files come before dns): a miss would ask a nameserver."""

from __future__ import annotations

from .sitelab import changed_tasks, start_site_lab

HOSTS = ["h1", "h2"]
FOREIGN = "10.9.9.9 mine\n"


def containers(*names: str) -> dict:
    return {"endpoints_containers": [{"name": n} for n in names]}


def addr(site, host: str, netns: str) -> str:
    return site.sh(host, f"ip -n {netns} -4 -o addr show dev eth0").split()[3].split("/")[0]


def lookup(site, host: str, netns: str, name: str) -> str:
    """What getent answers inside the container: the address of the first line that has the name."""
    got = site.lab.sh(host, f"ip netns exec {netns} getent hosts {name}", check=False)
    assert got.returncode == 0, f"{host}/{netns}: {name} does not resolve: {got.stdout}{got.stderr}"
    return got.stdout.split()[0]


def hosts_file(site, host: str, netns: str) -> str:
    return site.sh(host, f"cat /etc/netns/{netns}/hosts", check=False)


def etc_netns(site, host: str) -> str:
    return site.sh(host, "find /etc/netns 2>/dev/null | sort", check=False)


def warnings_of(report: dict, host: str, task: str) -> list[str]:
    for play in report["plays"]:
        for t in play["tasks"]:
            if t["task"]["name"].endswith(task) and host in t["hosts"]:
                return t["hosts"][host].get("warnings") or []
    return []


NETNS_TASK = "A namespace per container, with its hosts file and resolv.conf"


def test_names_across_two_hosts(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=2, outside=False)
    # h1's resolver is loopback only (as with systemd-resolved, without its upstream file): the containers get
    # no nameserver, and a warning. h2's has one the containers can reach, besides a loopback one.
    site.sh("h1", "printf 'nameserver 127.0.0.53\\nsearch corp.test\\n' >/etc/resolv.conf")
    site.sh("h2", "printf 'nameserver 127.0.0.1\\nnameserver 198.18.0.99\\noptions ndots:2\\n' >/etc/resolv.conf")
    # Someone else's hosts file for beta, written before the collection made beta.
    site.sh("h2", f"mkdir -p /etc/netns/beta && printf '{FOREIGN}' >/etc/netns/beta/hosts")
    group = {"fleet_backend": "host-gw", "fleet_underlay_interface": "ul0"}
    site.set_vars(group, {"h1": containers("web", "db", "alpha"), "h2": containers("web", "beta")})

    site.play("site_fleet.yml", "--check", "--diff")
    assert etc_netns(site, "h1") == ""
    assert etc_netns(site, "h2").split() == ["/etc/netns", "/etc/netns/beta", "/etc/netns/beta/hosts"]
    assert site.sh("h1", "ip netns list") == ""

    report = site.play("site_fleet.yml")
    a = {(h, n): addr(site, h, n) for h, n in [("h1", "web"), ("h1", "db"), ("h1", "alpha"), ("h2", "web")]}
    a["h2", "beta"] = addr(site, "h2", "beta")
    # By name on its own host, by name.host on any host, and the other host's containers by bare name.
    assert lookup(site, "h1", "db", "web") == a["h1", "web"]
    assert lookup(site, "h1", "db", "web.h1") == a["h1", "web"]
    assert lookup(site, "h1", "db", "web.h2") == a["h2", "web"]
    assert lookup(site, "h1", "db", "beta") == a["h2", "beta"]
    assert lookup(site, "h2", "web", "web") == a["h2", "web"], "a container's own name is its own"
    assert lookup(site, "h2", "web", "alpha") == a["h1", "alpha"]
    assert lookup(site, "h2", "web", "db.h1") == a["h1", "db"]
    ping = site.lab.sh("h1", "ip netns exec db ping -c1 -W3 web.h2 && ip netns exec db ping -c1 -W3 beta", check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr

    assert hosts_file(site, "h2", "beta") == FOREIGN, "someone else's file is left as it is"
    warned = warnings_of(report, "h2", NETNS_TASK)
    assert any("/etc/netns/beta/hosts was not written by netplumb.container" in w for w in warned), warned
    # resolv.conf, as the container sees it: Docker's rule without its public fallback.
    r1 = site.sh("h1", "ip netns exec web cat /etc/resolv.conf").splitlines()
    assert r1[0].startswith("# Written by netplumb.container") and "search corp.test" in r1
    assert not [line for line in r1 if line.startswith("nameserver")], r1
    assert any("no nameserver a container can reach" in w for w in warnings_of(report, "h1", NETNS_TASK))
    r2 = site.sh("h2", "ip netns exec beta cat /etc/resolv.conf").splitlines()
    assert [line for line in r2 if not line.startswith("#")] == ["nameserver 198.18.0.99", "options ndots:2"], r2

    again = site.play("site_fleet.yml")
    for host in HOSTS:
        assert again["stats"][host]["changed"] == 0, (host, changed_tasks(again, host))

    # alpha leaves h1 (purge), gamma arrives on h2: both hosts' files follow on the next run.
    site.set_vars(
        {**group, "endpoints_purge": "yes"},
        {"h1": containers("web", "db"), "h2": containers("web", "beta", "gamma")},
    )
    site.play("site_fleet.yml")
    assert "alpha" not in hosts_file(site, "h2", "web") and "alpha" not in hosts_file(site, "h1", "db")
    assert "/etc/netns/alpha" not in etc_netns(site, "h1"), "the files go with the container"
    assert lookup(site, "h1", "db", "gamma.h2") == addr(site, "h2", "gamma")
    assert lookup(site, "h2", "gamma", "db") == a["h1", "db"]

    site.play("teardown_fleet.yml")
    assert etc_netns(site, "h1").split() == ["/etc/netns"]
    assert etc_netns(site, "h2").split() == ["/etc/netns", "/etc/netns/beta", "/etc/netns/beta/hosts"]
    assert hosts_file(site, "h2", "beta") == FOREIGN
