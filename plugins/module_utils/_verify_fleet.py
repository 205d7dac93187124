# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet matrix of playbooks/verify_fleet.yml: which paths to try between hosts, and the N x N table.

Each host of the fleet has one probe container (a network namespace). From it, every other host's probe
container is pinged, connected to over TCP (a listener that answers with the address it sees the
connection come from, so masquerading shows), and pinged with the don't-fragment bit at the full fleet
MTU. The probes themselves run in playbooks/files/verify_fleet.sh, whose output lines are parsed here.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils._endpoints import parse_containers
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_netns_name,
    parse_ip,
    parse_mtu,
    parse_subnet,
)

BLOCKED_VAR = "verify_fleet_blocked"
# A DF ping of the full MTU: IPv4 header (20) + ICMP header (8) are not payload.
ICMP_OVERHEAD = 28


def probe_container(containers: list[dict[str, Any]], network_names: list[str], override: Any = None) -> str:
    """The host's probe container: the override, else the first bridge-mode container of the endpoints list."""
    if override not in (None, ""):
        return check_netns_name(override, "verify_fleet_container")
    for endpoint in parse_containers(containers or [], network_names):
        if endpoint.mode == "bridge":
            return endpoint.name
    raise ValidationError(
        "verify_fleet: no bridge-mode container in endpoints_containers; set verify_fleet_container to a "
        "network namespace to probe from"
    )


def parse_source(stdout: str) -> dict[str, Any]:
    """The script's `source` output: `eth0 <address>/<prefix> <mtu>` for the probe container."""
    fields = stdout.split()
    if len(fields) != 3 or fields[0] != "eth0":
        raise ValidationError(f"verify_fleet: cannot read the probe container's eth0: {stdout.strip()!r}")
    return {"address": fields[1].split("/")[0], "mtu": int(fields[2])}


def parse_blocked(blocked: Any, hosts: list[str]) -> list[dict[str, Any]]:
    """verify_fleet_blocked: entries {to: host | address | network, from: host (optional, default every host)}."""
    if blocked in (None, ""):
        return []
    if not isinstance(blocked, list):
        raise ValidationError(f"{BLOCKED_VAR}: must be a list, got {blocked!r}")
    out = []
    for index, entry in enumerate(blocked):
        where = f"{BLOCKED_VAR}[{index}]"
        if not isinstance(entry, dict) or "to" not in entry or set(entry) - {"from", "to"}:
            raise ValidationError(f"{where}: must be a mapping with 'to' and optionally 'from', got {entry!r}")
        source = entry.get("from")
        if source is not None and source not in hosts:
            raise ValidationError(f"{where}.from: {source!r} is not a host of the fleet ({', '.join(hosts)})")
        target = entry["to"]
        if isinstance(target, str) and target in hosts:
            out.append({"from": source, "host": target})
            continue
        network = parse_subnet(target, f"{where}.to (a host of the fleet, an address or a network)")
        out.append({"from": source, "network": str(network)})
    return out


def path_targets(
    me: str, hosts: dict[str, dict[str, Any]], blocked: list[dict[str, Any]], addresses: dict[str, list[str]]
) -> list[dict[str, Any]]:
    """What the probe container of host ``me`` tries: every other host's probe container, and the addresses
    in blocked networks.

    ``hosts``: host -> its probe source ({container, address, mtu}); ``addresses``: host -> every address of
    its containers (for blocked networks).
    """
    applies = [b for b in blocked if b["from"] in (None, me)]
    targets = []
    for peer in sorted(hosts, key=_host_order):
        if peer == me:
            continue
        expect = not any(b.get("host") == peer for b in applies)
        targets.append({"to": peer, "address": hosts[peer]["address"], "expect": expect})
    for rule in applies:
        if "network" not in rule:
            continue
        network = ipaddress.ip_network(rule["network"])
        found = False
        for peer in sorted(addresses, key=_host_order):
            for address in addresses[peer]:
                if ipaddress.ip_address(address) not in network:
                    continue
                found = True
                if peer != me:
                    targets.append({"to": f"{peer}:{address}", "address": address, "expect": False})
        if not found:
            raise ValidationError(
                f"{BLOCKED_VAR}: the network {rule['network']} holds no container address of the fleet: "
                "nothing to check"
            )
    return _unique(targets)


def _unique(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for target in targets:
        # A probe container that is also in a blocked network: blocked wins (the stricter expectation).
        if target["address"] in seen:
            seen[target["address"]]["expect"] &= target["expect"]
        else:
            seen[target["address"]] = dict(target)
    return list(seen.values())


def script_args(targets: list[dict[str, Any]]) -> list[str]:
    """``<address>:<e|b>`` per target: e = expected to reach (a few tries), b = expected blocked (one try)."""
    return [f"{parse_ip(t['address'], 'target')}:{'e' if t['expect'] else 'b'}" for t in targets]


def fleet_mtu(explicit: Any, fleet_fact: Any, source_mtu: int) -> int:
    """The size of the don't-fragment ping: verify_fleet_mtu, else the fleet role's MTU, else the container's."""
    for value, what in ((explicit, "verify_fleet_mtu"), (fleet_fact, "fleet_mtu")):
        if value not in (None, ""):
            return parse_mtu(value, what)
    return source_mtu


def parse_paths(stdout: str) -> dict[str, dict[str, Any]]:
    """The script's `paths` output: `<address> ping 0|1`, `<address> tcp <seen address>|-`, `<address> mtu 0|1`."""
    out: dict[str, dict[str, Any]] = {}
    for line in stdout.splitlines():
        fields = line.split()
        if len(fields) != 3 or fields[1] not in ("ping", "tcp", "mtu"):
            continue
        address, kind, value = fields
        entry = out.setdefault(address, {})
        entry[kind] = (value if value != "-" else None) if kind == "tcp" else value == "1"
    return out


def outcome(target: dict[str, Any], result: dict[str, Any], source: str, mtu: int) -> tuple[str, list[str]]:
    """(cell text, problems) for one path; the cell is short (ok, blocked, REACHED, HOLE <what failed>), the
    problems say it in words."""
    ping, seen, df = result.get("ping", False), result.get("tcp"), result.get("mtu", False)
    reached = ping or seen is not None
    if not target["expect"]:
        return ("REACHED" if reached else "blocked"), (["reached, expected blocked"] if reached else [])
    short, problems = [], []
    if not ping:
        short.append("ping")
        problems.append("no ping")
    if seen is None:
        short.append("tcp")
        problems.append("no tcp")
    elif seen != source:
        short.append(f"src={seen}")
        problems.append(f"tcp source seen as {seen}, not {source}")
    if ping and not df:
        short.append(f"df{mtu}")
        problems.append(f"no don't-fragment ping of {mtu} bytes")
    return ("HOLE " + ",".join(short), problems) if problems else ("ok", [])


def matrix(hosts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The table and the failures from every host's results.

    ``hosts``: host -> {source: {container, address, mtu}, mtu, targets: [...], results: parse_paths(...)}.
    """
    names = sorted(hosts, key=_host_order)
    cells: dict[tuple[str, str], str] = {}
    failures, extra = [], []
    for me in names:
        data = hosts[me]
        for target in data["targets"]:
            result = data["results"].get(target["address"], {})
            text, problems = outcome(target, result, data["source"]["address"], data["mtu"])
            if target["to"] in hosts:
                cells[(me, target["to"])] = text
            else:
                extra.append(f"{me} -> {target['to']}: {text}")
            failures += [f"{me} -> {target['to']}: {problem}" for problem in problems]
    width = max([len("from \\ to"), *(len(n) for n in names)]) + 2
    columns = {n: max(width, *(len(cells.get((m, n), "")) + 2 for m in names)) for n in names}
    rows = ["from \\ to".ljust(width) + "".join(n.ljust(columns[n]) for n in names)]
    for me in names:
        rows.append(me.ljust(width) + "".join(cells.get((me, n), "-").ljust(columns[n]) for n in names))
    rows = [row.rstrip() for row in rows]
    sources = [f"{n}: {hosts[n]['source']['container']} {hosts[n]['source']['address']} mtu {hosts[n]['mtu']}"
               for n in names]  # fmt: skip
    return {"rows": rows + extra, "sources": sources, "failures": failures}


def _host_order(name: str) -> list[Any]:
    # Natural order: h2 before h10 (text and numbers alternate, so positions compare like with like).
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
