# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nftables backend: the rule model as one ``inet`` table the collection owns.

Rules are rendered in the canonical JSON form that ``nft -j list`` prints
back (nft 1.0.x drops the implied ``meta nfproto``/``meta l4proto``
dependencies and adds ``family`` to snat/dnat), so "differs" is a plain
comparison of expression lists. One ``nft -j -f -`` transaction replaces the
collection's chains; the ``user`` chain is created when missing and never
flushed: it is the user's place, evaluated first from ``forward``.
"""

from __future__ import annotations

import json
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

FAMILY = "inet"
TABLE = "netplumb"
USER_CHAIN = "user"
# logical chain -> (nft chain name, base chain spec or None)
CHAIN_SPECS: dict[str, tuple[str, dict[str, Any] | None]] = {
    PRE: ("prerouting", {"type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}),
    OUT: ("output", {"type": "nat", "hook": "output", "prio": -100, "policy": "accept"}),
    POST: ("postrouting", {"type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}),
    FWD: ("forward", {"type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}),
    ISO1: ("isolation-stage-1", None),
    ISO2: ("isolation-stage-2", None),
    PUB: ("published", None),
    DNAT: ("dnat", None),
    RAW: ("raw-prerouting", {"type": "filter", "hook": "prerouting", "prio": -300, "policy": "accept"}),
    INPUT: ("input", {"type": "filter", "hook": "input", "prio": 0, "policy": "accept"}),
}
OWN_CHAINS = [name for name, _spec in CHAIN_SPECS.values()]
_IPPROTO = {4: "ip", 6: "ip6"}
_NFPROTO = {4: "ipv4", 6: "ipv6"}


def _match(left: dict[str, Any], right: Any, neg: bool = False, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": "!=" if neg else op, "left": left, "right": right}}


def _addr(cidr: str) -> Any:
    net = ip_net(cidr)
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def _payload(proto: str, field: str) -> dict[str, Any]:
    return {"payload": {"protocol": proto, "field": field}}


def rule_expr(rule: Rule) -> list[dict[str, Any]]:
    """The canonical expression list of one rule (order as nft prints it back)."""
    expr: list[dict[str, Any]] = []
    fam = rule.family
    if rule.local_dst:
        expr.append(_match({"fib": {"result": "type", "flags": ["daddr"]}}, "local"))
    if fam and not (rule.saddr or rule.daddr):
        expr.append(_match({"meta": {"key": "nfproto"}}, _NFPROTO[fam]))
    if rule.saddr:
        expr.append(_match(_payload(_IPPROTO[fam], "saddr"), _addr(rule.saddr), rule.saddr_neg))
    if rule.daddr:
        expr.append(_match(_payload(_IPPROTO[fam], "daddr"), _addr(rule.daddr), rule.daddr_neg))
    if rule.iif:
        expr.append(_match({"meta": {"key": "iifname"}}, rule.iif, rule.iif_neg))
    if rule.oif:
        expr.append(_match({"meta": {"key": "oifname"}}, rule.oif, rule.oif_neg))
    if rule.local_dst_not_iif:
        expr.append(_match({"fib": {"result": "type", "flags": ["daddr", "iif"]}}, "local", neg=True))
    if rule.ct == "established,related":
        expr.append(_match({"ct": {"key": "state"}}, ["established", "related"], op="in"))
    elif rule.ct in ("dnat", "dnat-reply"):
        expr.append(_match({"ct": {"key": "status"}}, "dnat", op="in"))
    if rule.ct == "dnat-reply":
        expr.append(_match({"ct": {"key": "direction"}}, "reply"))
    if rule.proto:
        expr.append(_match(_payload(rule.proto, "dport"), rule.dport))
    expr.append(_verdict(rule))
    return expr


def _verdict(rule: Rule) -> dict[str, Any]:
    if rule.verdict == "jump":
        return {"jump": {"target": CHAIN_SPECS[rule.target][0]}}
    if rule.verdict == "snat":
        return {"snat": {"family": _IPPROTO[rule.family], "addr": rule.target}}
    if rule.verdict == "dnat":
        nat: dict[str, Any] = {"family": _IPPROTO[rule.family], "addr": rule.target}
        if rule.to_port:
            nat["port"] = rule.to_port
        return {"dnat": nat}
    return {rule.verdict: None}


def render(rules: list[Rule]) -> dict[str, list[dict[str, Any]]]:
    """nft chain name -> list of {expr, comment?}: the table's wanted content (user chain excluded)."""
    chains: dict[str, list[dict[str, Any]]] = {name: [] for name in OWN_CHAINS}
    chains["forward"].append({"expr": [{"jump": {"target": USER_CHAIN}}], "comment": OWNER_MARK})
    for rule in rules:
        item: dict[str, Any] = {"expr": rule_expr(rule)}
        if rule.comment:
            item["comment"] = rule.comment
        chains[CHAIN_SPECS[rule.chain][0]].append(item)
    return chains


def parse_listing(data: dict[str, Any]) -> dict[str, Any]:
    """``nft -j list table inet netplumb`` -> {"chains": {name: spec}, "rules": {chain: [{expr, comment?}]}}."""
    chains: dict[str, dict[str, Any]] = {}
    rules: dict[str, list[dict[str, Any]]] = {}
    for item in data.get("nftables", []):
        if "chain" in item:
            spec = item["chain"]
            chains[spec["name"]] = {k: spec[k] for k in ("type", "hook", "prio", "policy") if k in spec}
            rules.setdefault(spec["name"], [])
        elif "rule" in item:
            rule = item["rule"]
            entry: dict[str, Any] = {"expr": rule["expr"]}
            if rule.get("comment"):
                entry["comment"] = rule["comment"]
            rules.setdefault(rule["chain"], []).append(entry)
    return {"chains": chains, "rules": rules}


def differs(want: dict[str, list], have: dict[str, Any] | None) -> list[str]:
    """Names of the collection's chains whose content (or base spec) is not as wanted."""
    if have is None:
        return sorted(want)
    out = []
    for name, spec in CHAIN_SPECS.values():
        base_differs = name not in have["chains"] or have["chains"][name] != (spec or {})
        if base_differs or _canon(have["rules"].get(name, [])) != _canon(want[name]):
            out.append(name)
    return sorted(out)


def _canon(items: list[dict[str, Any]]) -> str:
    return json.dumps(items, sort_keys=True)


def transaction(want: dict[str, list], have: dict[str, Any] | None) -> dict[str, Any]:
    """One atomic batch: table, every own chain (re)declared and flushed, user chain only if missing, rules."""
    table = {"family": FAMILY, "name": TABLE}
    cmds: list[dict[str, Any]] = [{"add": {"table": dict(table, comment=OWNER_MARK)}}]
    for name, spec in CHAIN_SPECS.values():
        chain = {"family": FAMILY, "table": TABLE, "name": name}
        if have is not None and name in have["chains"] and have["chains"][name] != (spec or {}):
            cmds.append({"delete": {"chain": dict(chain)}})  # a base chain with another hook/priority
        cmds.append({"add": {"chain": dict(chain, **(spec or {}))}})
        cmds.append({"flush": {"chain": dict(chain)}})
    if have is None or USER_CHAIN not in have["chains"]:
        cmds.append({"add": {"chain": {"family": FAMILY, "table": TABLE, "name": USER_CHAIN}}})
    for name in OWN_CHAINS:
        for item in want[name]:
            rule = {"family": FAMILY, "table": TABLE, "chain": name, "expr": item["expr"]}
            if "comment" in item:
                rule["comment"] = item["comment"]
            cmds.append({"add": {"rule": rule}})
    return {"nftables": cmds}


def teardown(have: dict[str, Any] | None) -> dict[str, Any] | None:
    """Remove the collection's table; keep the user chain (and a table holding it) if it has rules."""
    if have is None:
        return None
    table = {"family": FAMILY, "name": TABLE}
    if not have["rules"].get(USER_CHAIN):
        return {"nftables": [{"delete": {"table": table}}]}
    cmds: list[dict[str, Any]] = []
    for name in OWN_CHAINS:
        if name in have["chains"]:
            cmds.append({"flush": {"chain": {"family": FAMILY, "table": TABLE, "name": name}}})
    for name in OWN_CHAINS:
        if name in have["chains"] and name != "forward":
            cmds.append({"delete": {"chain": {"family": FAMILY, "table": TABLE, "name": name}}})
    fwd = {"family": FAMILY, "table": TABLE, "chain": "forward", "comment": OWNER_MARK}
    cmds.append({"add": {"rule": dict(fwd, expr=[{"jump": {"target": USER_CHAIN}}])}})
    return {"nftables": cmds}


def marked(have: dict[str, Any]) -> bool:
    """The table carries the ownership mark (the comment of the jump to the user chain)."""
    return any(item.get("comment") == OWNER_MARK for item in have["rules"].get("forward", []))


def owner(have: dict[str, Any] | None) -> str | None:
    """The record whose rules the table holds (the comment of the jump to isolation stage 1)."""
    for item in (have or {"rules": {}})["rules"].get("forward", []):
        if str(item.get("comment", "")).startswith("record="):
            return item["comment"][len("record=") :]
    return None


def user_rules(have: dict[str, Any] | None) -> int:
    return len(have["rules"].get(USER_CHAIN, [])) if have else 0
