"""Choosing the backend: a pure function of (snapshot, requested, recorded), as a table."""

from __future__ import annotations

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, KernelError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import backend as bk
from ansible_collections.netplumb.container.plugins.module_utils._firewall import iptables

OURS = "*filter\n:NETPLUMB-FORWARD - [0:0]\n-A FORWARD -m comment --comment netplumb.container -j NETPLUMB-FORWARD\n"
NFT_DROP = ("nftables", "nft chain inet fw forward (policy drop)")
IPT_NFT_DROP = ("iptables-nft", "nft chain ip filter FORWARD (policy drop)")
LEGACY_DROP = ("iptables-legacy", "iptables-legacy filter FORWARD (policy DROP)")


def snap(nft=False, own_nft=False, own=(), variants=("nft", "legacy"), default="nft", legacy=False, drops=()):
    ipt = {(v, f): iptables.parse_save(OURS if v in own else "") for v in variants for f in (4, 6)}
    table = {"chains": {}, "rules": {}} if own_nft else None
    return bk.Snapshot(nft, table, tuple(variants), default, legacy, ipt, tuple(drops))


@pytest.mark.parametrize(
    ("snapshot", "requested", "recorded", "expected"),
    [
        (snap(nft=True), "auto", None, ("nftables", None, "no other firewall in the way")),
        (snap(nft=False), "auto", None, ("iptables", "nft", "nft is not installed")),
        (snap(nft=True, own_nft=True), "auto", None, ("nftables", None, "table inet netplumb exists")),
        (snap(nft=True, own=("nft",)), "auto", None, ("iptables", "nft", "NETPLUMB chains exist")),
        (snap(nft=True, own=("legacy",)), "auto", None, ("iptables", "legacy", "NETPLUMB chains exist")),
        (
            snap(nft=True, legacy=True),
            "auto",
            None,
            ("iptables", "legacy", "iptables rules are in use (legacy tables)"),
        ),
        (
            snap(nft=True, drops=[IPT_NFT_DROP]),
            "auto",
            None,
            ("iptables", "nft", f"iptables rules are in use ({IPT_NFT_DROP[1]})"),
        ),
        (
            snap(nft=True, own_nft=True),
            "auto",
            "iptables",
            ("iptables", "nft", "recorded backend of this host's policy"),
        ),
        (
            snap(nft=True, own_nft=True, own=("nft",)),
            "auto",
            "nftables",
            ("nftables", None, "recorded backend of this host's policy"),
        ),
        (snap(nft=True), "iptables", None, ("iptables", "nft", "requested")),
        (snap(nft=True, default="legacy", variants=("legacy",)), "iptables", None, ("iptables", "legacy", "requested")),
    ],
)
def test_choose(snapshot, requested, recorded, expected):
    assert bk.choose(snapshot, requested, recorded) == expected


@pytest.mark.parametrize(
    ("snapshot", "requested", "error", "message"),
    [
        (
            snap(nft=True, own_nft=True, own=("nft",)),
            "auto",
            ConflictError,
            "set backend: nftables or backend: iptables",
        ),
        (snap(nft=False), "nftables", KernelError, "nft command is not installed"),
        (
            snap(nft=True, drops=[IPT_NFT_DROP]),
            "nftables",
            ConflictError,
            r"ip filter FORWARD \(policy drop\).*Use backend: iptables",
        ),
        (
            snap(nft=True, drops=[NFT_DROP]),
            "iptables",
            ConflictError,
            r"inet fw forward \(policy drop\) drops forwarded",
        ),
        (snap(nft=True, legacy=True, drops=[IPT_NFT_DROP]), "iptables", ConflictError, "iptables-legacy"),
        (
            snap(nft=True, variants=("nft",), legacy=True),
            "iptables",
            KernelError,
            "iptables-legacy tools are not installed",
        ),
    ],
)
def test_choose_refuses(snapshot, requested, error, message):
    with pytest.raises(error, match=message):
        bk.choose(snapshot, requested, None)


def test_legacy_drop_is_fine_for_legacy_itself():
    assert bk.choose(snap(nft=True, legacy=True, drops=[LEGACY_DROP]), "auto", None)[:2] == ("iptables", "legacy")


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward"),
        ("net.ipv4.conf.br.100.route_localnet", "/proc/sys/net/ipv4/conf/br.100/route_localnet"),
        ("net.bridge.bridge-nf-call-iptables", "/proc/sys/net/bridge/bridge-nf-call-iptables"),
    ],
)
def test_sysctl_path_keeps_dots_in_interface_names(key, path):
    assert bk.sysctl_path(key) == path
