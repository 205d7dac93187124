# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet as a picture: network_info results of every host -> one model -> Mermaid, Graphviz DOT, endpoint list.

Pure: no I/O, no Ansible state; playbooks/inspect.yml writes what these return.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any


def fleet_model(hostvars: Any, var: str = "netplumb_inspect") -> dict[str, Any]:
    """{hosts: [...], links: [...]} from the hosts whose ``var`` holds a network_info result."""
    infos = {}
    for host in sorted(hostvars):
        result = hostvars[host].get(var) if hasattr(hostvars[host], "get") else None
        if result and isinstance(result, dict) and "networks" in result and not result.get("failed"):
            infos[host] = result
    return build_model(infos)


def build_model(infos: dict[str, dict[str, Any]]) -> dict[str, Any]:
    owner: dict[str, tuple[str, str]] = {}  # subnet -> (host, network node id)
    hosts = []
    for host, info in sorted(infos.items()):
        networks = []
        for net in info.get("networks") or []:
            if not net.get("bridge"):
                continue
            node = node_id(host, net["bridge"])
            for subnet in net.get("subnets") or []:
                owner[subnet] = (host, node)
            networks.append(
                {
                    "id": node,
                    "name": net.get("name") or net["bridge"],
                    "bridge": net["bridge"],
                    "subnets": list(net.get("subnets") or []),
                    "gateways": list(net.get("gateways") or []),
                    "present": bool(net.get("present")),
                    "containers": [
                        {
                            "id": node_id(host, "c", c["endpoint"]),
                            "name": c["endpoint"],
                            "interface": c.get("interface"),
                            "addresses": list(c.get("addresses") or []),
                            "mac": c.get("mac"),
                        }
                        for c in net.get("containers") or []
                    ],
                }
            )
        hosts.append(
            {
                "id": node_id(host),
                "name": host,
                "networks": networks,
                "published": list(info.get("published") or []),
                "drift": len(info.get("drift") or []),
                "underlay": None,
                "peers": list((info.get("mesh") or {}).get("peers") or []),
                "endpoints": list(info.get("endpoints") or []),
            }
        )
    by_name = {h["name"]: h for h in hosts}
    seen: dict[tuple[str, ...], dict[str, Any]] = {}
    routed: set[str] = set()  # the node ids of the bridges the mesh routes to: the hosts' fleet slices
    for host in hosts:
        for peer in host["peers"]:
            target = owner.get(peer["subnet"]) or _containing(owner, peer["subnet"])
            if target is None or target[0] == host["name"]:
                continue
            routed.add(target[1])
            if peer.get("underlay"):
                by_name[target[0]]["underlay"] = peer["underlay"]
            pair = tuple(sorted((host["name"], target[0])))
            link = seen.setdefault(pair, {"backends": set(), "directions": set(), "subnets": set()})
            link["backends"].add(peer.get("backend") or "route")
            link["directions"].add(host["name"])
            link["subnets"].add(peer["subnet"])
    links = []
    for pair, link in sorted(seen.items()):
        ends = [_slice_node(by_name[h], routed) for h in pair]
        links.append(
            {
                "hosts": list(pair),
                "from": ends[0],
                "to": ends[1],
                "backend": "/".join(sorted(link["backends"])),
                "both_ways": len(link["directions"]) == 2,
                "subnets": sorted(link["subnets"]),
            }
        )
    for host in hosts:
        host.pop("peers")
    return {"hosts": hosts, "links": links}


def _containing(owner: dict[str, tuple[str, str]], subnet: str) -> tuple[str, str] | None:
    net = ipaddress.ip_network(subnet, strict=False)
    for candidate, found in sorted(owner.items()):
        cand = ipaddress.ip_network(candidate, strict=False)
        if cand.version == net.version and (net.subnet_of(cand) or cand.subnet_of(net)):
            return found
    return None


def _slice_node(host: dict[str, Any], routed: set[str]) -> str:
    """The host's bridge that the mesh routes to (its fleet slice); else its first bridge; else the host."""
    ids = [n["id"] for n in host["networks"]]
    return ([i for i in ids if i in routed] or ids or [host["id"]])[0]


def node_id(*parts: str) -> str:
    """A Mermaid/DOT-safe identifier (letters, digits, _) that stays unique per input."""
    return "n_" + "__".join(re.sub(r"[^A-Za-z0-9]", lambda m: f"_{ord(m.group()):x}_", part) for part in parts)


def _esc_mermaid(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _mermaid_lines(parts: list[str]) -> str:
    return "<br/>".join(_esc_mermaid(x) for x in parts)


def _bridge_title(net: dict[str, Any]) -> str:
    return net["bridge"] if net["name"] == net["bridge"] else f"{net['bridge']} ({net['name']})"


def _ports(host: dict[str, Any], container: str) -> list[str]:
    out = []
    for pub in host["published"]:
        if pub.get("endpoint") == container:
            ip = pub.get("host_ip") or "0.0.0.0"
            ip = "" if ip in ("0.0.0.0", "::") else f"{ip}:"
            out.append(f"{ip}{pub['host_port']}→{pub['container_port']}/{pub.get('proto', 'tcp')}")
    return out


def _addresses(container: dict[str, Any]) -> list[str]:
    return [a.split("/")[0] for a in container["addresses"]]


def fleet_mermaid(model: dict[str, Any], title: str = "The fleet") -> str:
    """A Markdown page with one Mermaid flowchart: hosts, bridges (slices), containers, ports, mesh links."""
    lines = ["flowchart LR"]
    for host in model["hosts"]:
        label = host["name"] + (f" · underlay {host['underlay']}" if host["underlay"] else "")
        if host["drift"]:
            label += f" · {host['drift']} drift"
        lines.append(f'  subgraph {host["id"]}["{_esc_mermaid(label)}"]')
        lines.append("    direction TB")
        for net in host["networks"]:
            parts = [_bridge_title(net), ", ".join(net["subnets"])] + ([] if net["present"] else ["bridge missing"])
            lines.append(f'    {net["id"]}[["{_mermaid_lines(parts)}"]]')
            for ctr in net["containers"]:
                parts = [ctr["name"], *_addresses(ctr), *_ports(host, ctr["name"])]
                lines.append(f'    {ctr["id"]}(["{_mermaid_lines(parts)}"])')
                lines.append(f"    {ctr['id']} ---|{_esc_mermaid(ctr['interface'] or '')}| {net['id']}")
        lines.append("  end")
    for link in model["links"]:
        arrow = "<-->" if link["both_ways"] else "-->"
        label = link["backend"] + ("" if link["both_ways"] else " (one way)")
        lines.append(f"  {link['from']} {arrow}|{label}| {link['to']}")
    if not model["hosts"]:
        lines.append('  empty["no host returned network_info"]')
    return f"# {title}\n\nWritten by playbooks/inspect.yml.\n\n```mermaid\n" + "\n".join(lines) + "\n```\n"


def _dot_label(*lines: str) -> str:
    """A quoted DOT label with one line per argument."""
    return '"' + "\\n".join(x.replace("\\", "\\\\").replace('"', '\\"') for x in lines) + '"'


def fleet_dot(model: dict[str, Any], title: str = "fleet") -> str:
    """The same picture as Graphviz DOT (render with ``dot -Tsvg``)."""
    lines = [
        f"graph {_dot_label(title)} {{",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for host in model["hosts"]:
        label = [host["name"]]
        if host["underlay"]:
            label.append(f"underlay {host['underlay']}")
        if host["drift"]:
            label.append(f"{host['drift']} drift")
        lines.append(f"  subgraph cluster_{host['id']} {{")
        lines.append(f"    label={_dot_label(*label)}; style=rounded;")
        for net in host["networks"]:
            style = "box" if net["present"] else "box, style=dashed"
            text = _dot_label(_bridge_title(net), *net["subnets"])
            lines.append(f"    {net['id']} [shape={style}, label={text}];")
            for ctr in net["containers"]:
                text = _dot_label(ctr["name"], *_addresses(ctr), *_ports(host, ctr["name"]))
                lines.append(f"    {ctr['id']} [shape=ellipse, label={text}];")
                lines.append(f"    {ctr['id']} -- {net['id']} [label={_dot_label(ctr['interface'] or '')}];")
        lines.append("  }")
    for link in model["links"]:
        label = link["backend"] + ("" if link["both_ways"] else " (one way)")
        style = "bold" if link["both_ways"] else "dashed"
        lines.append(f"  {link['from']} -- {link['to']} [label={_dot_label(label)}, style={style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def fleet_endpoints(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Every endpoint of the fleet, one entry each, machine-readable (endpoints.json)."""
    out = []
    for host in model["hosts"]:
        for endpoint in host["endpoints"]:
            links = [x for x in endpoint.get("links") or [] if x.get("kind") == "veth" or x.get("network")]
            out.append(
                {
                    "host": host["name"],
                    "name": endpoint["name"],
                    "netns": endpoint.get("netns"),
                    "mode": endpoint.get("mode"),
                    "addresses": [a.split("/")[0] for x in links for a in x.get("addresses") or []],
                    "interfaces": [
                        {
                            "name": x["name"],
                            "network": x.get("network"),
                            "bridge": x.get("bridge"),
                            "host_veth": x.get("host_veth"),
                            "mac": x.get("mac"),
                            "addresses": list(x.get("addresses") or []),
                        }
                        for x in links
                    ],
                    "published": [
                        {k: p.get(k) for k in ("host_ip", "host_port", "container_port", "proto")}
                        for p in host["published"]
                        if p.get("endpoint") == endpoint["name"]
                    ],
                }
            )
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "fleet_model": fleet_model,
            "fleet_mermaid": fleet_mermaid,
            "fleet_dot": fleet_dot,
            "fleet_endpoints": fleet_endpoints,
        }
