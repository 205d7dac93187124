# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""iptables backend: the rule model as Docker-style chains with the collection's prefix.

Only chains the collection owns are ever flushed: a restore payload
declares them (``:CHAIN - [0:0]`` creates or flushes a user chain, also with
``--noflush``) and appends their rules. Built-in chains only get jump rules,
each ensured exactly once (missing ones inserted, duplicates deleted). The
user chain is declared only when missing, so its rules survive every run.
Rules are rendered exactly as ``iptables-save`` prints them (the same for
iptables-nft and iptables-legacy), so comparing is comparing lines.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils._firewall.model import (
    DNAT,
    FWD,
    INPUT,
    ISO1,
    ISO2,
    OUT,
    POST,
    PRE,
    PUB,
    RAW,
    Rule,
    ip_net,
)
from ansible_collections.netplumb.container.plugins.module_utils._model import OWNER_MARK

PREFIX = "NETPLUMB"
USER_CHAIN = f"{PREFIX}-USER"
# logical chain -> (table, chain); PRE/OUT rules are the jump rules in the built-in chains.
CHAIN_MAP = {
    PRE: ("nat", "PREROUTING"),
    OUT: ("nat", "OUTPUT"),
    DNAT: ("nat", PREFIX),
    POST: ("nat", f"{PREFIX}-POSTROUTING"),
    FWD: ("filter", f"{PREFIX}-FORWARD"),
    ISO1: ("filter", f"{PREFIX}-ISOLATION-STAGE-1"),
    ISO2: ("filter", f"{PREFIX}-ISOLATION-STAGE-2"),
    PUB: ("filter", PREFIX),
    RAW: ("raw", f"{PREFIX}-PREROUTING"),
    INPUT: ("filter", f"{PREFIX}-INPUT"),
}
OWN_CHAINS = {
    "filter": [
        f"{PREFIX}-FORWARD",
        f"{PREFIX}-ISOLATION-STAGE-1",
        f"{PREFIX}-ISOLATION-STAGE-2",
        PREFIX,
        f"{PREFIX}-INPUT",
    ],
    "nat": [PREFIX, f"{PREFIX}-POSTROUTING"],
    "raw": [f"{PREFIX}-PREROUTING"],
}
TABLES = ("filter", "nat", "raw")
BUILTIN = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "raw": ("PREROUTING", "OUTPUT"),
}
MARK = f"-m comment --comment {OWNER_MARK}"
# Jumps that are inserted at the top of their built-in chain (the rest are appended, as Docker does);
# INPUT and raw PREROUTING hold drops that another tool's accept must not pre-empt.
_INSERTED = {("filter", "FORWARD"), ("nat", "POSTROUTING"), ("filter", "INPUT"), ("raw", "PREROUTING")}


def _addr(cidr: str, family: int) -> str:
    return str(ip_net(cidr))


def rule_spec(rule: Rule, family: int, comment: str | None = None) -> str:
    """A rule's match and target part, exactly as iptables-save prints it (quotes aside)."""
    parts: list[str] = []
    for value, neg, flag in (
        (rule.saddr, rule.saddr_neg, "-s"),
        (rule.daddr, rule.daddr_neg, "-d"),
        (rule.iif, rule.iif_neg, "-i"),
        (rule.oif, rule.oif_neg, "-o"),
    ):
        if value:
            parts += (["!"] if neg else []) + [flag, _addr(value, family) if flag in ("-s", "-d") else value]
    if rule.proto:
        parts += ["-p", rule.proto, "-m", rule.proto, "--dport", str(rule.dport)]
    if rule.ct == "established,related":
        parts += ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"]
    elif rule.ct == "dnat":
        parts += ["-m", "conntrack", "--ctstate", "DNAT"]
    elif rule.ct == "dnat-reply":
        parts += ["-m", "conntrack", "--ctstate", "DNAT", "--ctdir", "REPLY"]
    if rule.local_dst:
        parts += ["-m", "addrtype", "--dst-type", "LOCAL"]
    if rule.local_dst_not_iif:
        parts += ["-m", "addrtype", "!", "--dst-type", "LOCAL", "--limit-iface-in"]
    comment = comment or rule.comment
    if comment:
        parts += ["-m", "comment", "--comment", comment]
    parts += ["-j", _target(rule, family)]
    return " ".join(parts)


def _target(rule: Rule, family: int) -> str:
    if rule.verdict == "jump":
        return CHAIN_MAP[rule.target][1]
    if rule.verdict == "snat":
        return f"SNAT --to-source {rule.target}"
    if rule.verdict == "dnat":
        host = f"[{rule.target}]" if family == 6 else rule.target
        return f"DNAT --to-destination {host}:{rule.to_port}" if rule.to_port else f"DNAT --to-destination {host}"
    return rule.verdict.upper()


def render(rules: list[Rule], family: int) -> dict[str, Any]:
    """{"chains": {table: {chain: [spec]}}, "jumps": {table: {builtin: [spec]}}} for one IP family."""
    chains = {t: {c: [] for c in OWN_CHAINS[t]} for t in TABLES}
    jumps: dict[str, dict[str, list[str]]] = {
        "filter": {
            "FORWARD": [f"{MARK} -j {USER_CHAIN}", f"{MARK} -j {PREFIX}-FORWARD"],
            "INPUT": [f"{MARK} -j {PREFIX}-INPUT"],
        },
        "nat": {"PREROUTING": [], "OUTPUT": [], "POSTROUTING": [f"{MARK} -j {PREFIX}-POSTROUTING"]},
        "raw": {"PREROUTING": [f"{MARK} -j {PREFIX}-PREROUTING"]},
    }
    for rule in rules:
        if rule.family not in (None, family):
            continue
        table, chain = CHAIN_MAP[rule.chain]
        if chain in BUILTIN[table]:
            jumps[table][chain].append(rule_spec(rule, family, comment=OWNER_MARK))
        else:
            chains[table][chain].append(rule_spec(rule, family))
    return {"chains": chains, "jumps": jumps}


def parse_save(text: str) -> dict[str, Any]:
    """iptables-save output -> policies, the collection's chains and the built-in jumps into them."""
    out: dict[str, Any] = {t: {"policies": {}, "chains": {}, "jumps": {}, "other": 0} for t in TABLES}
    table = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("*"):
            table = line[1:] if line[1:] in TABLES else None
            continue
        if table is None or not line or line.startswith("#") or line == "COMMIT":
            continue
        cur = out[table]
        if line.startswith(":"):
            name, policy = line[1:].split()[:2]
            if name in BUILTIN[table]:
                cur["policies"][name] = policy
            elif _owned(name):
                cur["chains"][name] = []
            continue
        if not line.startswith("-A "):
            continue
        chain, _sep, spec = line[3:].partition(" ")
        spec = spec.replace('"', "")
        if _owned(chain):
            cur["chains"].setdefault(chain, []).append(spec)
        elif chain in BUILTIN[table] and _jumps_to_own(spec):
            cur["jumps"].setdefault(chain, []).append(spec)
        else:
            cur["other"] += 1
    return out


def _owned(chain: str) -> bool:
    return chain == PREFIX or chain.startswith(PREFIX + "-")


def _jumps_to_own(spec: str) -> bool:
    words = spec.split()
    return "-j" in words and _owned(words[words.index("-j") + 1])


def differs(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    """ "table/chain" names whose content is not as wanted (jumps included)."""
    out = []
    for table in TABLES:
        for chain, specs in want["chains"][table].items():
            if have[table]["chains"].get(chain) != specs:
                out.append(f"{table}/{chain}")
        if USER_CHAIN not in have["filter"]["chains"] and table == "filter":
            out.append(f"filter/{USER_CHAIN}")
        for chain in BUILTIN[table]:
            if _jump_fix(want["jumps"][table].get(chain, []), have[table]["jumps"].get(chain, []), table, chain):
                out.append(f"{table}/{chain}")
    return sorted(set(out))


def _jump_fix(want: list[str], have: list[str], table: str, chain: str) -> list[str]:
    """Restore lines that leave exactly the wanted jumps in a built-in chain, in the wanted order."""
    if (table, chain) in _INSERTED:
        if have == want:
            return []
        # Relative order matters here (the user chain first): delete ours and insert them again.
        lines = [f"-D {chain} {spec}" for spec in have]
        return lines + [f"-I {chain} {i + 1} {spec}" for i, spec in enumerate(want)]
    lines = []
    remaining = list(have)
    for spec in have:
        if spec not in want or remaining.count(spec) > 1:
            lines.append(f"-D {chain} {spec}")
            remaining.remove(spec)
    lines += [f"-A {chain} {spec}" for spec in want if spec not in remaining]
    return lines


def payload(want: dict[str, Any], have: dict[str, Any]) -> str:
    """The ``iptables-restore --noflush`` input that makes ``have`` equal to ``want`` (both tables)."""
    text: list[str] = []
    for table in TABLES:
        lines: list[str] = []
        for chain in OWN_CHAINS[table]:
            lines.append(f":{chain} - [0:0]")
        if table == "filter" and USER_CHAIN not in have["filter"]["chains"]:
            lines.append(f":{USER_CHAIN} - [0:0]")
        for chain in BUILTIN[table]:
            lines += _jump_fix(want["jumps"][table].get(chain, []), have[table]["jumps"].get(chain, []), table, chain)
        for chain in OWN_CHAINS[table]:
            lines += [f"-A {chain} {spec}" for spec in want["chains"][table][chain]]
        text += [f"*{table}", *lines, "COMMIT"]
    return "\n".join(text) + "\n"


def teardown_payload(have: dict[str, Any]) -> str | None:
    """Remove jumps and chains; keep the user chain (and its jump) when it holds rules."""
    keep_user = bool(have["filter"]["chains"].get(USER_CHAIN))
    text: list[str] = []
    for table in TABLES:
        lines: list[str] = []
        for chain, specs in have[table]["jumps"].items():
            for spec in specs:
                if not (keep_user and spec.endswith(f"-j {USER_CHAIN}")):
                    lines.append(f"-D {chain} {spec}")
        names = [c for c in have[table]["chains"] if not (keep_user and c == USER_CHAIN)]
        lines += [f"-F {c}" for c in names] + [f"-X {c}" for c in names]
        if lines:
            text += [f"*{table}", *lines, "COMMIT"]
    return "\n".join(text) + "\n" if text else None


def owner(have: dict[str, Any]) -> str | None:
    """The record whose rules the chains hold (the comment of the jump to isolation stage 1)."""
    for spec in have["filter"]["chains"].get(f"{PREFIX}-FORWARD", []):
        words = spec.split()
        if "--comment" in words and words[words.index("--comment") + 1].startswith("record="):
            return words[words.index("--comment") + 1][len("record=") :]
    return None


def empty(have: dict[str, Any]) -> bool:
    """Nothing of the collection's left (a user chain with rules and its jump do not count)."""
    for table in TABLES:
        for chain, specs in have[table]["chains"].items():
            if chain != USER_CHAIN or not specs:
                return False
        for specs in have[table]["jumps"].values():
            if any(not s.endswith(f"-j {USER_CHAIN}") for s in specs) or len(specs) > 1:
                return False
    return True
