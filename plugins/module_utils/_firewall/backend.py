# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Talking to the firewall tools: one read of everything into a Snapshot, the backend choice (pure), sysctls.

Every command runs in the namespace of the calling thread (a child inherits
it), so the engine works inside whatever namespace it is run in.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, KernelError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import iptables, nftables

DEFAULT_RECORD = "/var/lib/netplumb/nat.json"


def run(argv: list[str], stdin: str | None = None, ok_missing: bool = False) -> str | None:
    """Run a firewall tool; None when ``ok_missing`` and it says the object does not exist."""
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False, timeout=60)
    except FileNotFoundError:
        raise KernelError(f"firewall: {argv[0]} is not installed") from None
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip()
        if ok_missing and "No such file or directory" in err:
            return None
        raise KernelError(f"firewall: {' '.join(argv[:3])} failed: {err.splitlines()[0] if err else proc.returncode}")
    return proc.stdout


# --- nftables -----------------------------------------------------------------------------------


def nft_read() -> dict[str, Any] | None:
    out = run(["nft", "-j", "list", "table", nftables.FAMILY, nftables.TABLE], ok_missing=True)
    return None if out is None else nftables.parse_listing(json.loads(out))


def nft_apply(batch: dict[str, Any]) -> None:
    run(["nft", "-j", "-f", "-"], stdin=json.dumps(batch))


def nft_forward_drops() -> list[tuple[str, str]]:
    """(owner, description) of every forward base chain with policy drop outside our table."""
    if not shutil.which("nft"):
        return []
    out = run(["nft", "-j", "list", "chains"]) or "{}"
    drops = []
    for item in json.loads(out).get("nftables", []):
        chain = item.get("chain")
        if not chain or chain.get("hook") != "forward" or chain.get("policy") != "drop":
            continue
        if chain["family"] == nftables.FAMILY and chain["table"] == nftables.TABLE:
            continue
        ipt = chain["family"] in ("ip", "ip6") and chain["table"] == "filter" and chain["name"] == "FORWARD"
        owner = "iptables-nft" if ipt else "nftables"
        drops.append((owner, f"nft chain {chain['family']} {chain['table']} {chain['name']} (policy drop)"))
    return drops


# --- iptables -----------------------------------------------------------------------------------


def iptables_tool(variant: str, family: int, what: str = "") -> str:
    base = "iptables" if family == 4 else "ip6tables"
    suffix = f"-{what}" if what else ""
    name = f"{base}-{variant}{suffix}"
    if shutil.which(name):
        return name
    if default_variant() == variant and shutil.which(base + suffix):
        return base + suffix
    raise KernelError(f"firewall: {name} is not installed (the iptables {variant} variant is needed)")


def default_variant() -> str:
    """What plain ``iptables`` is on this host: 'nft' or 'legacy'."""
    if not shutil.which("iptables"):
        return "nft" if shutil.which("iptables-nft") else "legacy"
    out = run(["iptables", "--version"]) or ""
    return "nft" if "nf_tables" in out else "legacy"


def legacy_in_use(family: int = 4) -> bool:
    """The legacy (x_tables) kernel tables of this IP family exist in this namespace."""
    name = "ip_tables_names" if family == 4 else "ip6_tables_names"
    try:
        with open(f"/proc/thread-self/net/{name}", encoding="ascii") as handle:
            return bool(handle.read().strip())
    except OSError:
        return False


def ipt_read(variant: str, family: int) -> dict[str, Any]:
    if variant == "legacy" and not legacy_in_use(family):
        return iptables.parse_save("")
    return iptables.parse_save(run([iptables_tool(variant, family, "save")]) or "")


def ipt_apply(variant: str, family: int, text: str) -> None:
    run([iptables_tool(variant, family, "restore"), "--noflush"], stdin=text)


def ipt_has_own(have: dict[str, Any]) -> bool:
    return any(have[t]["chains"] or have[t]["jumps"] for t in iptables.TABLES)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Everything the engine needs to know about the firewall, read once per run."""

    has_nft: bool
    nft: dict[str, Any] | None  # the table inet netplumb, parsed (None: absent)
    variants: tuple[str, ...]  # iptables variants whose tools are installed
    default_variant: str  # what plain ``iptables`` is
    legacy_in_use: bool  # legacy x_tables exist in this namespace (IPv4)
    ipt: dict[tuple[str, int], dict[str, Any]]  # (variant, family) -> parsed iptables-save
    drops: tuple[tuple[str, str], ...]  # (owner, what) of forward drops outside the collection's objects


def read_snapshot() -> Snapshot:
    has_nft = bool(shutil.which("nft"))
    default = default_variant()
    variants = tuple(
        v for v in ("nft", "legacy") if shutil.which(f"iptables-{v}") or (shutil.which("iptables") and default == v)
    )
    ipt = {(v, fam): ipt_read(v, fam) for v in variants for fam in (4, 6)}
    drops = nft_forward_drops() if has_nft else []
    if "legacy" in variants and legacy_in_use() and ipt[("legacy", 4)]["filter"]["policies"].get("FORWARD") == "DROP":
        drops.append(("iptables-legacy", "iptables-legacy filter FORWARD (policy DROP)"))
    return Snapshot(
        has_nft=has_nft,
        nft=nft_read() if has_nft else None,
        variants=variants,
        default_variant=default,
        legacy_in_use=legacy_in_use(),
        ipt=ipt,
        drops=tuple(drops),
    )


def choose(snap: Snapshot, requested: str, recorded: str | None) -> tuple[str, str | None, str]:
    """(backend, iptables variant, why): a pure function of what is there, what is asked and what is recorded.
    Refuses mixes that would silently break traffic."""
    own_ipt = [v for v in snap.variants if ipt_has_own(snap.ipt[(v, 4)])]
    own_nft = snap.nft is not None
    drops = list(snap.drops)
    if requested == "auto":
        if own_nft and own_ipt and recorded is None:
            raise ConflictError(
                "nat backend auto: both the nftables table inet netplumb and iptables NETPLUMB chains exist; "
                "set backend: nftables or backend: iptables explicitly (the other one is then removed)"
            )
        if recorded:
            backend, why = recorded, "recorded backend of this host's policy"
        elif own_nft:
            backend, why = "nftables", "table inet netplumb exists"
        elif own_ipt:
            backend, why = "iptables", "NETPLUMB chains exist"
        elif drops or snap.legacy_in_use:
            backend, why = (
                "iptables",
                "iptables rules are in use (" + (drops[0][1] if drops else "legacy tables") + ")",
            )
        elif snap.has_nft:
            backend, why = "nftables", "no other firewall in the way"
        else:
            backend, why = "iptables", "nft is not installed"
    else:
        backend, why = requested, "requested"
    if backend == "nftables":
        if not snap.has_nft:
            raise KernelError("nat backend nftables: the nft command is not installed (install nftables)")
        if drops:
            raise ConflictError(
                f"nat backend nftables: {', '.join(what for _owner, what in drops)} drops forwarded traffic, "
                "and an accept in table inet netplumb cannot override another table's drop, so published ports "
                "and outbound traffic would silently break. Use backend: iptables (its jumps go first in FORWARD), "
                "or set that FORWARD policy to ACCEPT"
            )
        return backend, None, why
    variant = own_ipt[0] if own_ipt else ("legacy" if snap.legacy_in_use else snap.default_variant)
    if variant not in snap.variants:
        raise KernelError(f"nat backend iptables: the iptables-{variant} tools are not installed")
    tool = "iptables-" + variant
    foreign = [d for owner, d in drops if owner != tool]
    if foreign:
        raise ConflictError(
            f"nat backend iptables ({tool}): {', '.join(foreign)} drops forwarded traffic outside the tables "
            f"{tool} manages, so the NETPLUMB accepts cannot override it; set that policy to ACCEPT or add "
            "accepts there for the bridges"
        )
    return backend, variant, why


# --- sysctls (of the namespace the calling thread is in) ----------------------------------------


def sysctl_path(key: str) -> str:
    """/proc/sys path of a dotted key; an interface name in net.*.conf.<dev>.* may itself hold dots."""
    parts = key.split(".")
    if parts[1:3] == ["ipv4", "conf"] or parts[1:3] == ["ipv6", "conf"]:
        parts = [*parts[:3], ".".join(parts[3:-1]), parts[-1]]
    return "/proc/sys/" + "/".join(parts)


def read_sysctl(key: str) -> str | None:
    try:
        with open(sysctl_path(key), encoding="ascii") as handle:
            return " ".join(handle.read().split())
    except FileNotFoundError:
        return None


def write_sysctl(key: str, value: str) -> None:
    try:
        with open(sysctl_path(key), "w", encoding="ascii") as handle:
            handle.write(value)
    except OSError as exc:
        raise KernelError(f"sysctl {key}={value} failed: {exc.strerror}") from None
