"""What the roles expose of the modules, on a lab host with real traffic (issue 9): a port published on all
addresses also on ``::`` for a dual-stack container, ``publish_to_other_networks``, the default route of a
container on an internal and a normal network, ``gateway_network``, a fixed ``mac``, per-container
``sysctls`` and a network's ``outbound_address``."""

from __future__ import annotations

from .sitelab import changed_tasks, default_route, fetch, link, start_site_lab

# IPv6 on the lab's IPv4-only underlay, added by the test inside its own lab (nodad: usable at once).
H1_V6, OUTSIDE_V6 = "fd18:6::11", "fd18:6::254"
# A second host address on h1's ul0, not used by the lab (h1 is .11, the outside host .254).
OUTBOUND = "198.18.0.201"


def serve_both(site, netns: str, port: int, reply: str) -> str:
    """A TCP server on both families in a container; returns its PID."""
    inner = f"timeout 600 socat TCP6-LISTEN:{port},ipv6only=0,reuseaddr,fork SYSTEM:'echo {reply}'"
    pid = site.sh("h1", f"ip netns exec {netns} {inner} >/dev/null 2>&1 & echo $!").strip()
    site.sh(
        "h1",
        f"for i in $(seq 50); do ip netns exec {netns} ss -Hltn | grep -q ':{port} ' && exit 0; sleep 0.1; done;"
        " exit 1",
    )
    return pid


def fetch6(site, host: str, address: str, port: int) -> str:
    return site.sh(host, f"timeout 4 socat -T2 - TCP6:[{address}]:{port},connect-timeout=2", check=False).strip()


def test_published_port_on_both_families_and_to_other_networks(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=1, outside=True)
    h1 = site.lab.state()["hosts"]["h1"]["address"]
    site.sh("h1", f"ip addr add {H1_V6}/64 dev ul0 nodad")
    site.sh("outside", f"ip addr add {OUTSIDE_V6}/64 dev ul0 nodad")

    def apply(to_others) -> None:
        networks = [
            {"name": "fronta", "bridge": "br-fa", "subnet": "172.30.1.0/24", "subnet6": "fd00:30:1::/64"},
            {"name": "backb", "bridge": "br-bb", "subnet": "172.30.2.0/24"},
        ]
        if to_others is not None:
            networks[0]["publish_to_other_networks"] = to_others
        containers = [
            {"name": "web", "networks": ["fronta"], "publish": ["8080:80"]},
            {"name": "client", "networks": ["backb"]},
        ]
        site.set_vars({"bridge_network_networks": networks, "endpoints_containers": containers})
        site.play("site.yml")

    apply(None)
    again = site.play("site.yml")
    assert again["stats"]["h1"]["changed"] == 0, changed_tasks(again, "h1")
    pid = serve_both(site, "web", 80, "hello-web")
    try:
        assert fetch(site, "outside", None, h1, 8080) == "hello-web"
        # Docker's proxy listens on :: too: the same port on h1's IPv6 address reaches web's IPv6 address.
        assert fetch6(site, "outside", H1_V6, 8080) == "hello-web"
        web6 = [a for a in link(site, "h1", "web", "eth0")["addresses"] if ":" in a]
        assert web6 and web6[0].startswith("fd00:30:1::")
        # Without the option a container of another network does not reach it through the host address.
        assert fetch(site, "h1", "client", h1, 8080) == ""
        # A string, read with Ansible's rules.
        apply("yes")
        assert fetch(site, "h1", "client", h1, 8080) == "hello-web"
        assert fetch6(site, "outside", H1_V6, 8080) == "hello-web"
        apply(False)
        assert fetch(site, "h1", "client", h1, 8080) == ""
        assert fetch(site, "outside", None, h1, 8080) == "hello-web"
    finally:
        site.sh("h1", f"kill {pid}", check=False)


def test_gateway_mac_sysctls_and_outbound_address(new_lab, tmp_path):
    site = start_site_lab(new_lab, tmp_path, hosts=1, outside=True)
    h1 = site.lab.state()["hosts"]["h1"]["address"]
    outside = site.lab.state()["hosts"]["outside"]["address"]
    site.sh("h1", f"ip addr add {OUTBOUND}/24 dev ul0 nodad")
    networks = [
        {"name": "inner", "bridge": "br-in", "subnet": "172.31.1.0/24", "internal": True},
        {"name": "outer", "bridge": "br-out", "subnet": "172.31.2.0/24", "outbound_address": OUTBOUND},
        {"name": "third", "bridge": "br-th", "subnet": "172.31.3.0/24"},
    ]
    mac = "02:aa:bb:cc:dd:01"
    containers = [
        {"name": "both", "networks": ["inner", "outer"]},
        {"name": "chosen", "networks": ["outer", "third"], "gateway_network": "third"},
        {"name": "fixed", "networks": ["outer"], "mac": mac, "sysctls": {"net.ipv4.ip_default_ttl": 77}},
    ]
    site.set_vars({"bridge_network_networks": networks, "endpoints_containers": containers})
    site.play("site.yml")

    # Docker's rule: the first network that is not internal takes the default route.
    assert default_route(site, "h1", "both") == "172.31.2.1 dev eth1"
    assert default_route(site, "h1", "chosen") == "172.31.3.1 dev eth1"
    assert link(site, "h1", "fixed", "eth0")["mac"] == mac
    assert site.sh("h1", "ip netns exec fixed sysctl -n net.ipv4.ip_default_ttl").strip() == "77"
    assert site.sh("h1", "sysctl -n net.ipv4.ip_default_ttl").strip() != "77", "the host's value changed"

    # The outside host tells each container the source address it sees.
    server = "timeout 600 socat TCP4-LISTEN:9000,reuseaddr,fork SYSTEM:'echo $SOCAT_PEERADDR'"
    pid = site.sh("outside", f"{server} >/dev/null 2>&1 & echo $!").strip()
    site.sh("outside", "for i in $(seq 50); do ss -Hltn | grep -q ':9000 ' && exit 0; sleep 0.1; done; exit 1")
    try:
        assert fetch(site, "h1", "both", outside, 9000) == OUTBOUND, "outer's outbound_address"
        assert fetch(site, "h1", "fixed", outside, 9000) == OUTBOUND
        assert fetch(site, "h1", "chosen", outside, 9000) == h1, "third masquerades to the host's address"
    finally:
        site.sh("outside", f"kill {pid}", check=False)
