# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""network_info: what the collection has on a host, as ``docker network inspect`` shows it, plus drift.

Two halves. ``read_snapshot`` reads everything once (the host's links, every
named namespace through a socket opened inside it, owned routes, VXLAN FDB and
neighbour entries, the IPAM stores, the nat record, the firewall) into plain
JSON-able data; it only ever looks (namespaces are opened, never created, and
no lock file is created). ``assemble`` is pure: snapshot -> the documented
result, including the drift list with a fix for each finding, and is what the
unit tests feed from fixtures.
"""

from __future__ import annotations

import glob
import ipaddress
import json
import os
import shutil
import socket
from typing import Any, Callable, Iterator

from ansible_collections.netplumb.container.plugins.module_utils import _netlink
from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError
from ansible_collections.netplumb.container.plugins.module_utils._links import LinkState, netns_owned, read_view
from ansible_collections.netplumb.container.plugins.module_utils._model import OWNER_MARK
from ansible_collections.netplumb.container.plugins.module_utils._netlink import (
    Netlink,
    list_netns,
)
from ansible_collections.netplumb.container.plugins.module_utils._netns import FOREIGN, LOCALHOST_LINES, read_name_file
from ansible_collections.netplumb.container.plugins.module_utils._route import (
    RTPROT_NETPLUMB,
    route_from_dump,
)
from ansible_collections.netplumb.container.plugins.module_utils._rtnl import route_network

DEFAULT_IPAM_DIR = "/var/lib/netplumb/ipam"
DEFAULT_NAT_RECORD = "/var/lib/netplumb/nat.json"
AF_BRIDGE = 7
NUD_PERMANENT = 0x80
RTPROT_KERNEL = 2

ARGUMENT_SPEC: dict[str, Any] = {
    "ipam_dir": {"type": "path", "default": DEFAULT_IPAM_DIR},
    "nat_record": {"type": "path", "default": DEFAULT_NAT_RECORD},
    "firewall": {"type": "bool", "default": True},
}


# ---------------------------------------------------------------- reading (kernel and files)


def read_snapshot(nl: Netlink, params: dict[str, Any]) -> dict[str, Any]:
    """Everything, read once; changes nothing."""
    errors: list[str] = []
    ipr = nl.ipr(None)
    reader = nl.reader
    host = read_view(reader, None)
    snap: dict[str, Any] = {"errors": errors}
    snap["host_links"] = [_link(x, host.by_index) for x in sorted(host.by_name.values(), key=lambda x: x.name)]
    vxlans = [x for x in host.by_name.values() if x.kind == "vxlan"]
    _vxlan_info(ipr, snap["host_links"], host.by_index)
    snap["routes"] = _owned_routes(reader, {x.index: x.name for x in host.by_index.values()})
    snap["fdb"], snap["neighbours"] = _vxlan_tables(ipr, vxlans)
    snap["all_netns"] = list_netns()
    wanted_nsids = {x.peer_nsid for x in host.by_name.values() if x.kind == "veth" and x.peer_nsid is not None}
    snap["netns"], nsids = _namespaces(reader, snap["all_netns"], wanted_nsids, errors)
    for link in snap["host_links"]:
        if link.get("peer_nsid") is not None:
            link["peer_netns"] = nsids.get(link.pop("peer_nsid"))
    snap["ipam"] = read_ipam_records(params.get("ipam_dir") or DEFAULT_IPAM_DIR, errors)
    snap["nat"] = read_nat_record(params.get("nat_record") or DEFAULT_NAT_RECORD, errors)
    snap["registry"] = read_registry(params.get("ipam_dir") or DEFAULT_IPAM_DIR, errors)
    snap["firewall"] = read_firewall(snap["nat"], errors) if params.get("firewall", True) else None
    return snap


def _vxlan_info(ipr, links: list[dict[str, Any]], by_index: dict[int, LinkState]) -> None:
    """VXLAN settings (one GET per VXLAN device: the fast reader keeps only what the link engines compare)."""
    for link in links:
        if link["kind"] != "vxlan":
            continue
        data = {}
        for msg in ipr.get_links(link["index"]):
            info = msg.get_attr("IFLA_LINKINFO")
            nla = info.get_attr("IFLA_INFO_DATA") if info is not None else None
            if nla is not None and hasattr(nla, "get"):
                data = dict(nla.get("attrs", []))
        underlay = by_index.get(data.get("IFLA_VXLAN_LINK") or 0)
        link["vxlan"] = {
            "vni": data.get("IFLA_VXLAN_ID"),
            "port": data.get("IFLA_VXLAN_PORT"),
            "local": data.get("IFLA_VXLAN_LOCAL") or data.get("IFLA_VXLAN_LOCAL6"),
            "dev": underlay.name if underlay else None,
            "learning": bool(data.get("IFLA_VXLAN_LEARNING")),
        }


def _link(link: LinkState, by_index: dict[int, LinkState]) -> dict[str, Any]:
    master = by_index.get(link.master) if link.master else None
    out: dict[str, Any] = {
        "name": link.name,
        "index": link.index,
        "kind": link.kind,
        "owned": link.alias == OWNER_MARK,
        "mtu": link.mtu,
        "mac": link.mac,
        "up": link.up,
        "master": master.name if master else None,
        "addresses": list(link.addresses),
    }
    if master is not None and master.kind == "bridge":
        out["hairpin"] = bool(link.slave.get("IFLA_BRPORT_MODE"))
    if link.kind == "veth":
        out["peer_index"] = link.peer_index
        if link.peer_nsid is not None:
            out["peer_nsid"] = link.peer_nsid
        else:
            peer = by_index.get(link.peer_index) if link.peer_index else None
            out["peer_name"] = peer.name if peer else None
    return out


def _owned_routes(reader, names: dict[int, str]) -> list[dict[str, Any]]:
    """The host's routes with the collection's protocol (78), every table."""
    out = []
    for found in reader.routes(None, table=None):
        if found["proto"] != RTPROT_NETPLUMB:
            continue
        route = route_from_dump(found, None, names)
        if route is not None:
            out.append(
                {
                    "dst": route.dst,
                    "via": route.via,
                    "dev": route.dev,
                    "onlink": bool(route.onlink),
                    "table": route.table,
                    "metric": route.metric,
                }
            )
    return sorted(out, key=lambda r: (r["table"], ":" in r["dst"], r["dst"]))


def _vxlan_tables(ipr, devices: list[LinkState]) -> tuple[dict[str, list], dict[str, list]]:
    """Per VXLAN device: its FDB entries (MAC -> remote VTEP) and its neighbour entries (address -> MAC)."""
    fdb: dict[str, list] = {d.name: [] for d in devices}
    neigh: dict[str, list] = {d.name: [] for d in devices}
    if not devices:
        return fdb, neigh
    by_index = {d.index: d.name for d in devices}
    for msg in ipr.get_neighbours(family=AF_BRIDGE):
        dev = by_index.get(msg["ifindex"])
        mac = msg.get_attr("NDA_LLADDR")
        if dev is None or mac is None:
            continue
        fdb[dev].append(
            {"mac": mac.lower(), "dst": msg.get_attr("NDA_DST"), "permanent": bool(msg["state"] & NUD_PERMANENT)}
        )
    for family in (socket.AF_INET, socket.AF_INET6):
        for msg in ipr.get_neighbours(family=family):
            dev = by_index.get(msg["ifindex"])
            mac = msg.get_attr("NDA_LLADDR")
            if dev is None or mac is None:
                continue
            permanent = bool(msg["state"] & NUD_PERMANENT)
            neigh[dev].append({"address": msg.get_attr("NDA_DST"), "mac": mac.lower(), "permanent": permanent})
    for table in (fdb, neigh):
        for entries in table.values():
            entries.sort(key=lambda e: str(e.get("mac")) + str(e.get("address") or e.get("dst")))
    return fdb, neigh


def _namespaces(
    reader, names: list[str], wanted_nsids: set[int], errors: list[str]
) -> tuple[dict[str, Any], dict[int, str]]:
    """Every named namespace through the fast reader (links and addresses by netnsid where the kernel allows):
    owned ones, and foreign ones wired into the host, in full; the others only as far as their lo."""
    out: dict[str, Any] = {}
    nsids: dict[int, str] = {}
    for name in names:
        try:
            nsid = reader.nsid(name)
            if nsid is not None:
                nsids[nsid] = name
            view = read_view(reader, name)
            owned = netns_owned(view)
            if not owned and nsid not in wanted_nsids:
                continue
            routes = []
            for msg in reader.routes(name):
                if msg["proto"] == RTPROT_KERNEL:
                    continue  # the kernel's own prefix routes follow from the addresses
                dev = view.by_index.get(msg["oif"]) if msg["oif"] else None
                routes.append(
                    {
                        "dst": route_network(msg),
                        "via": msg["gateway"],
                        "dev": dev.name if dev else None,
                        "protocol": msg["proto"],
                    }
                )
            out[name] = {
                "owned": owned,
                "links": [_link(x, view.by_index) for x in sorted(view.by_name.values(), key=lambda x: x.index)],
                "routes": routes,
                "names": hosts_file_names(name),
            }
        except (NetplumbError, OSError, _netlink.NetlinkError) as exc:
            errors.append(f"netns {name}: cannot read: {getattr(exc, 'msg', None) or exc}")
        finally:
            reader.forget(name)  # one open socket at a time, also with hundreds of namespaces
    return out, nsids


def read_ipam_records(ipam_dir: str, errors: list[str]) -> dict[str, Any]:
    """network -> {store, pools, endpoints: {name: {netns, addresses}}}, through the ipam engine's loader.

    The one place that knows how the IPAM store is read (the format belongs to _ipam).
    """
    from ansible_collections.netplumb.container.plugins.module_utils import _ipam

    out: dict[str, Any] = {}
    paths = sorted(glob.glob(os.path.join(ipam_dir, "*.json")))
    for network, path, state in _stores(paths, _ipam.FORMAT, "IPAM store", _ipam.load_network, errors):
        if state is None:
            continue
        data = _ipam.dump_network(network, state)
        out[network] = {"store": path, "pools": data["pools"], "endpoints": data["endpoints"]}
    return out


def _stores(
    paths: list[str], fmt: str, what: str, load: Callable[[Any, Any, str], Any], errors: list[str]
) -> Iterator[tuple[str, str, Any]]:
    """(name, path, loaded) of each ``<name>.json`` in ``paths``, read through its engine's loader; a file the
    loader refuses is an entry in ``errors``, not an exception."""
    from ansible_collections.netplumb.container.plugins.module_utils._store import JsonStore

    for path in paths:
        name = os.path.basename(path)[: -len(".json")]
        store = JsonStore(path, fmt, what)
        try:
            yield name, path, load(store.read(), store, name)
        except NetplumbError as exc:
            errors.append(exc.msg)


def read_nat_record(path: str, errors: list[str]) -> dict[str, Any] | None:
    """The nat engine's policy record: {path, backend, variant, networks: [...]} (None when there is none)."""
    from ansible_collections.netplumb.container.plugins.module_utils._firewall.engine import record_store

    try:
        data = record_store(path).read()
    except NetplumbError as exc:
        errors.append(exc.msg)
        return None
    if data is None:
        return None
    networks = data.get("networks") if isinstance(data.get("networks"), list) else []
    return {
        "path": path,
        "backend": data.get("backend"),
        "variant": data.get("variant"),
        "networks": [n for n in networks if isinstance(n, dict) and n.get("name")],
    }


def read_registry(ipam_dir: str, errors: list[str]) -> dict[str, Any] | None:
    """The endpoints the roles' definitions made (``<ipam_dir>/definitions/*.json``): name -> mode, definition.

    Read through the ipam engine's loader, like the stores; None when no definition was ever recorded.
    """
    from ansible_collections.netplumb.container.plugins.module_utils import _ipam

    paths = sorted(glob.glob(os.path.join(ipam_dir, "definitions", "*.json")))
    if not paths:
        return None
    modes: dict[str, str] = {}
    definitions: dict[str, str] = {}
    what = "endpoint definition record"
    for definition, _path, members in _stores(paths, _ipam.DEFINITION_FORMAT, what, _ipam.load_definition, errors):
        for name, member in members.items():
            modes[name] = member["mode"]
            definitions[name] = definition
    return {
        "path": os.path.join(ipam_dir, "definitions"),
        "endpoints": sorted(modes),
        "modes": modes,
        "definitions": definitions,
    }


def read_firewall(nat: dict[str, Any] | None, errors: list[str]) -> dict[str, Any]:
    """What each backend holds of the collection's, and whether the recorded backend matches the record."""
    from ansible_collections.netplumb.container.plugins.module_utils._firewall import backend as bk
    from ansible_collections.netplumb.container.plugins.module_utils._firewall import iptables, nftables
    from ansible_collections.netplumb.container.plugins.module_utils._firewall.model import (
        derive_rules,
        network_from_dict,
        rendered_families,
    )

    out: dict[str, Any] = {"nftables": None, "iptables": {}, "stale": None}
    try:
        if shutil.which("nft"):
            have = bk.nft_read()
            if have is not None:
                out["nftables"] = {
                    "table": f"{nftables.FAMILY} {nftables.TABLE}",
                    "chains": {c: len(r) for c, r in sorted(have["rules"].items())},
                    "user_rules": nftables.user_rules(have),
                }
        variants = []
        if nat and nat.get("backend") == "iptables" and nat.get("variant"):
            variants.append(nat["variant"])
        elif shutil.which("iptables"):
            variants.append(bk.default_variant())
        ipt_have = {}
        for variant in variants:
            for fam in (4, 6):
                have = bk.ipt_read(variant, fam)
                ipt_have[(variant, fam)] = have
                chains = {f"{t}/{c}": len(s) for t in iptables.TABLES for c, s in sorted(have[t]["chains"].items())}
                if chains:
                    out["iptables"][f"{variant}/ipv{fam}"] = chains
        if nat and nat.get("networks") and nat.get("backend"):
            networks = [network_from_dict(n) for n in nat["networks"]]
            rules = derive_rules(networks, owner=nat["path"])  # the record's path marks the rules as its own
            if nat["backend"] == "nftables":
                have = bk.nft_read() if shutil.which("nft") else None
                out["stale"] = nftables.differs(nftables.render(rules), have)
            else:
                stale = []
                for fam in rendered_families(networks, "iptables"):
                    have = ipt_have.get((nat.get("variant"), fam)) or bk.ipt_read(nat.get("variant"), fam)
                    stale += [f"ipv{fam}:{c}" for c in iptables.differs(iptables.render(rules, fam), have)]
                out["stale"] = stale
    except (NetplumbError, KeyError, TypeError) as exc:
        errors.append(getattr(exc, "msg", f"firewall: cannot compare with the record: {exc!r}"))
    return out


# ---------------------------------------------------------------- assembling (pure)


def hosts_file_names(netns: str) -> list[dict[str, Any]] | None:
    """The names a container resolves from the hosts file the collection wrote for it (after the localhost
    lines); None when it has no such file (none, or someone else's)."""
    text = read_name_file(netns, "hosts")
    if text is None or text == FOREIGN:
        return None
    fixed = {address for address, _names in LOCALHOST_LINES}
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and not words[0].startswith("#") and words[0] not in fixed:
            out.append({"address": words[0], "names": words[1:]})
    return out


def assemble(snap: dict[str, Any]) -> dict[str, Any]:
    """The documented result from a snapshot. Pure."""
    host_links = {x["name"]: x for x in snap["host_links"]}
    nat = snap.get("nat") or {"networks": []}
    ipam = snap.get("ipam") or {}
    registry = snap.get("registry")
    netns = snap.get("netns") or {}

    # (netns, ifindex) -> the host end of its veth
    host_end = {(x.get("peer_netns"), x.get("peer_index")): x for x in host_links.values() if x["kind"] == "veth"}
    networks = _networks(host_links, nat, ipam)
    by_bridge = {n["bridge"]: n for n in networks if n.get("bridge")}
    held = {
        (net, rec["netns"]): (endpoint, rec)
        for net, data in ipam.items()
        for endpoint, rec in data["endpoints"].items()
    }
    endpoints = []
    for name, ns in sorted(netns.items()):
        links = []
        for link in ns["links"]:
            if link["name"] == "lo":
                continue
            peer = host_end.get((name, link["index"]))
            bridge = peer["master"] if peer else None
            network = by_bridge.get(bridge, {}).get("name") if bridge else None
            links.append(
                {
                    "name": link["name"],
                    "kind": link["kind"],
                    "mac": link["mac"],
                    "mtu": link["mtu"],
                    "up": link["up"],
                    "addresses": link["addresses"],
                    "owned": link["owned"],
                    "host_veth": peer["name"] if peer else None,
                    "bridge": bridge,
                    "network": network,
                }
            )
        records = [
            {"network": net, "endpoint": held[(net, name)][0], "addresses": held[(net, name)][1]["addresses"]}
            for net in sorted(ipam)
            if (net, name) in held
        ]
        endpoints.append(
            {
                "name": name,
                "netns": name,
                "owned": ns["owned"],
                "mode": "bridge" if any(x["kind"] == "veth" for x in links) else "none",
                "links": links,
                "routes": ns["routes"],
                "ipam": records,
                "registered": registry is not None and name in registry["endpoints"],
                "definition": (registry or {}).get("definitions", {}).get(name),
                "names": ns.get("names"),
            }
        )
    recorded_ns = {rec["netns"] for data in ipam.values() for rec in data["endpoints"].values()}
    for name in (registry or {}).get("endpoints", []):
        if name not in netns and name not in recorded_ns:
            # host and container:<name> modes have no namespace of their own
            endpoints.append(
                {
                    "name": name,
                    "netns": None,
                    "owned": False,
                    "mode": registry["modes"][name],
                    "links": [],
                    "routes": [],
                    "ipam": [],
                    "registered": True,
                    "definition": registry["definitions"].get(name),
                    "names": None,
                }
            )
    for network in networks:
        network["containers"] = [
            {
                "endpoint": e["name"],
                "netns": e["netns"],
                "interface": link["name"],
                "host_veth": link["host_veth"],
                "mac": link["mac"],
                "addresses": link["addresses"],
            }
            for e in endpoints
            for link in e["links"]
            if link["network"] == network["name"] and network["name"]
        ]
    published = _published(nat, ipam, endpoints)
    mesh = _mesh(snap, host_links)
    result = {
        "networks": networks,
        "endpoints": endpoints,
        "ipam": [
            {
                "network": net,
                "store": data["store"],
                "pools": data["pools"],
                "allocations": [
                    {"endpoint": ep, "netns": rec["netns"], "addresses": rec["addresses"]}
                    for ep, rec in sorted(data["endpoints"].items())
                ],
            }
            for net, data in sorted(ipam.items())
        ],
        "published": published,
        "firewall": _firewall(snap),
        "mesh": mesh,
        "errors": list(snap.get("errors") or []),
    }
    result["drift"] = find_drift(snap, result)
    return result


def _networks(host_links: dict[str, Any], nat: dict[str, Any], ipam: dict[str, Any]) -> list[dict[str, Any]]:
    recorded = {n["name"]: n for n in nat.get("networks") or []}
    gateways = {}  # gateway address -> bridge name, to find the bridge of an IPAM-only network
    for link in host_links.values():
        if link["kind"] == "bridge":
            for cidr in link["addresses"]:
                gateways[cidr.split("/")[0]] = link["name"]
    out = []
    seen_bridges = set()
    for name in sorted(set(recorded) | set(ipam)):
        rec = recorded.get(name)
        pools = (ipam.get(name) or {}).get("pools") or []
        bridge = (
            rec["bridge"]
            if rec
            else next(
                (gateways[p["gateway"]] for p in pools if p["gateway"] in gateways),
                None,
            )
        )
        subnets = [p["subnet"] for p in pools] or list(rec["subnets"] if rec else [])
        out.append(_network(name, bridge, host_links.get(bridge) if bridge else None, subnets, pools, rec, ipam))
        seen_bridges.add(bridge)
    for link in host_links.values():
        if link["kind"] == "bridge" and link["owned"] and link["name"] not in seen_bridges:
            subnets = [str(ipaddress.ip_interface(c).network) for c in link["addresses"]]
            out.append(_network(None, link["name"], link, subnets, [], None, ipam))
    for network in out:
        bridge = network["bridge"]
        network["ports"] = [
            {
                "name": x["name"],
                "kind": x["kind"],
                "owned": x["owned"],
                "netns": x.get("peer_netns"),
                "hairpin": x.get("hairpin", False),
            }
            for x in sorted(host_links.values(), key=lambda x: x["name"])
            if bridge and x["master"] == bridge
        ]
    return out


def _network(name, bridge, link, subnets, pools, rec, ipam) -> dict[str, Any]:
    policy = None
    if rec:
        policy = {k: rec.get(k) for k in ("masquerade", "outbound_address", "icc", "internal", "isolate", "hairpin")}
    return {
        "name": name,
        "bridge": bridge,
        "present": link is not None,
        "owned": bool(link and link["owned"]),
        "subnets": subnets,
        "gateways": [p["gateway"] for p in pools],
        "addresses": link["addresses"] if link else [],
        "mtu": link["mtu"] if link else None,
        "mac": link["mac"] if link else None,
        "up": link["up"] if link else None,
        "ipam_store": (ipam.get(name) or {}).get("store") if name else None,
        "policy": policy,
    }


def _published(nat: dict[str, Any], ipam: dict[str, Any], endpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    owner = {}
    for net, data in ipam.items():
        for endpoint, rec in data["endpoints"].items():
            for address in rec["addresses"]:
                owner[(net, address)] = endpoint
    # an address counts only on the network's own bridge: another namespace may use the same one elsewhere
    live = {
        (link["network"], addr.split("/")[0]): e["name"]
        for e in endpoints
        for link in e["links"]
        for addr in link["addresses"]
    }
    out = []
    for net in nat.get("networks") or []:
        for pub in net.get("publish") or []:
            address = pub.get("container_address")
            out.append(
                {
                    "network": net["name"],
                    "bridge": net.get("bridge"),
                    "host_ip": pub.get("host_ip"),
                    "host_port": pub.get("host_port"),
                    "proto": pub.get("proto", "tcp"),
                    "container_address": address,
                    "container_port": pub.get("container_port"),
                    "endpoint": owner.get((net["name"], address)) or live.get((net["name"], address)),
                }
            )
    return sorted(out, key=lambda p: (p["network"], p["proto"], p["host_port"] or 0, p["host_ip"] or ""))


def _firewall(snap: dict[str, Any]) -> dict[str, Any]:
    nat = snap.get("nat")
    fw = snap.get("firewall")
    return {
        "backend": nat.get("backend") if nat else None,
        "iptables_variant": nat.get("variant") if nat else None,
        "record": nat.get("path") if nat else None,
        "networks": [n["name"] for n in nat["networks"]] if nat else [],
        "read": fw is not None,
        "nftables": fw["nftables"] if fw else None,
        "iptables": fw["iptables"] if fw else None,
        "stale_chains": fw["stale"] if fw else None,
    }


def _mesh(snap: dict[str, Any], host_links: dict[str, Any]) -> dict[str, Any]:
    fdb = snap.get("fdb") or {}
    neigh = snap.get("neighbours") or {}
    devices = []
    for link in host_links.values():
        if link["kind"] != "vxlan":
            continue
        devices.append(
            {
                "name": link["name"],
                "owned": link["owned"],
                "mtu": link["mtu"],
                "mac": link["mac"],
                "up": link["up"],
                **link["vxlan"],
                "fdb": [e for e in fdb.get(link["name"], []) if e["mac"] != "00:00:00:00:00:00" or e["dst"]],
                "neighbours": neigh.get(link["name"], []),
            }
        )
    peers = []
    for route in snap.get("routes") or []:
        dev = host_links.get(route["dev"] or "")
        peer: dict[str, Any] = {"subnet": route["dst"], "via": route["via"], "dev": route["dev"]}
        if dev is not None and dev["kind"] == "vxlan":
            mac = next((n["mac"] for n in neigh.get(dev["name"], []) if n["address"] == route["via"]), None)
            remote = next((f["dst"] for f in fdb.get(dev["name"], []) if mac and f["mac"] == mac), None)
            peer.update(backend="vxlan", vtep_mac=mac, underlay=remote)
        elif route["via"]:
            peer.update(backend="host-gw", vtep_mac=None, underlay=route["via"])
        else:
            peer.update(backend="direct", vtep_mac=None, underlay=None)
        peers.append(peer)
    return {"routes": list(snap.get("routes") or []), "vxlan": devices, "peers": peers}


# ---------------------------------------------------------------- drift


def _finding(kind: str, obj: str, problem: str, command: str | None, task: dict[str, Any]) -> dict[str, Any]:
    """One drift finding; without a shell command, the fix is the task run ad hoc."""
    if command is None:
        ((module, args),) = task.items()
        command = f"ansible <this host> -m {module} -a '{json.dumps(args, sort_keys=True)}'"
    return {"kind": kind, "object": obj, "problem": problem, "fix": {"command": command, "task": task}}


def find_drift(snap: dict[str, Any], result: dict[str, Any]) -> list[dict[str, Any]]:
    """Owned objects no record lists, records whose objects are missing, foreign objects on owned bridges."""
    out: list[dict[str, Any]] = []
    ipam = snap.get("ipam") or {}
    netns = snap.get("netns") or {}
    registry = snap.get("registry")
    recorded_ns = {rec["netns"] for data in ipam.values() for rec in data["endpoints"].values()}
    registered = set(registry["endpoints"]) if registry else set()
    host_links = {x["name"]: x for x in snap["host_links"]}
    all_netns = set(snap.get("all_netns") or [])
    recorded = {n["name"]: n for n in (snap.get("nat") or {}).get("networks") or []}

    for name, ns in sorted(netns.items()):
        if ns["owned"] and name not in recorded_ns and name not in registered:
            out.append(
                _finding(
                    "netns_unrecorded",
                    f"netns {name}",
                    f"namespace {name} was made by netplumb.container but no IPAM store and no endpoint "
                    "definition record lists it (a leak: its container was removed without its namespace)",
                    f"ip netns del {name}",
                    {"netplumb.container.netns": {"config": [{"name": name}], "state": "deleted"}},
                )
            )
    for network in result["networks"]:
        store = ipam.get(network["name"] or "")
        if store is None:
            continue
        held = {a for rec in store["endpoints"].values() for a in rec["addresses"]}
        for container in network["containers"]:
            missing = [a for a in container["addresses"] if a.split("/")[0] not in held]
            if missing:
                out.append(
                    _finding(
                        "address_unrecorded",
                        f"netns {container['netns']}",
                        f"{container['interface']} in netns {container['netns']} uses {', '.join(missing)} on "
                        f"network {network['name']}, but the IPAM store {store['store']} does not hold it "
                        "(the address may be handed out again)",
                        f"ip netns del {container['netns']}   # or record the address again with the task",
                        {
                            "netplumb.container.ipam": {
                                "network": network["name"],
                                "pools": store["pools"],
                                "state_dir": os.path.dirname(store["store"]),
                                "config": [
                                    {
                                        "endpoint": container["endpoint"],
                                        "netns": container["netns"],
                                        "addresses": [a.split("/")[0] for a in missing],
                                    }
                                ],
                            }
                        },
                    )
                )
    for net, data in sorted(ipam.items()):
        for endpoint, rec in sorted(data["endpoints"].items()):
            if rec["netns"] not in all_netns:
                out.append(
                    _finding(
                        "record_without_netns",
                        f"ipam {net}/{endpoint}",
                        f"the IPAM store of {net} holds {', '.join(rec['addresses'])} for {endpoint}, whose "
                        f"namespace {rec['netns']} does not exist",
                        None,
                        {
                            "netplumb.container.ipam": {
                                "network": net,
                                "config": [{"endpoint": endpoint}],
                                "state": "deleted",
                                "state_dir": os.path.dirname(data["store"]),
                            }
                        },
                    )
                )
    for network in result["networks"]:
        if network["name"] and network["bridge"] and not network["present"]:
            out.append(
                _finding(
                    "bridge_missing",
                    f"bridge {network['bridge']}",
                    f"network {network['name']} is recorded but its bridge {network['bridge']} does not exist",
                    "ansible-playbook playbooks/site.yml --limit <this host>   # the bridge_network role",
                    {
                        "netplumb.container.bridge": {
                            "config": [
                                {
                                    "name": network["bridge"],
                                    "addresses": _gateway_cidrs(network),
                                }
                            ]
                        }
                    },
                )
            )
        if network["name"] is None:
            out.append(
                _finding(
                    "bridge_unrecorded",
                    f"bridge {network['bridge']}",
                    f"bridge {network['bridge']} was made by netplumb.container but no IPAM store or nat record "
                    "names its network",
                    f"ip link del {network['bridge']}",
                    {"netplumb.container.bridge": {"config": [{"name": network["bridge"]}], "state": "deleted"}},
                )
            )
        if network["owned"]:
            for port in network["ports"]:
                if not port["owned"]:
                    out.append(
                        _finding(
                            "foreign_port",
                            f"link {port['name']}",
                            f"{port['name']} is a port of {network['bridge']} but was not made by netplumb.container",
                            f"ip link set dev {port['name']} nomaster",
                            {},
                        )
                    )
    for pub in result["published"]:
        if pub["endpoint"] is None:
            label = f"{pub['host_ip']}:{pub['host_port']}/{pub['proto']}"
            out.append(
                _finding(
                    "publish_without_endpoint",
                    f"publish {label}",
                    f"network {pub['network']} (bridge {pub['bridge']}) publishes {label} to "
                    f"{pub['container_address']}, which no "
                    "container holds",
                    "ansible-playbook playbooks/site.yml --limit <this host>   # the endpoints role withdraws it",
                    {
                        "netplumb.container.nat": {
                            "config": [
                                {
                                    "network": pub["network"],
                                    "bridge": pub["bridge"],
                                    "subnets": recorded[pub["network"]].get("subnets"),
                                    "publish": [
                                        _publish_entry(p)
                                        for p in result["published"]
                                        if p["network"] == pub["network"] and p["endpoint"] is not None
                                    ],
                                }
                            ]
                        }
                    },
                )
            )
    fw = result["firewall"]
    if fw["stale_chains"]:
        out.append(
            _finding(
                "firewall_stale",
                f"firewall {fw['backend']}",
                f"the {fw['backend']} rules differ from the recorded policy ({', '.join(fw['stale_chains'])}): "
                "flushed or reloaded by another tool, or changed by hand",
                "ansible-playbook playbooks/site.yml --limit <this host>   # nat renders the rules again",
                {
                    "netplumb.container.nat": {
                        "config": [
                            {"network": n, "bridge": recorded[n].get("bridge"), "subnets": recorded[n].get("subnets")}
                            for n in fw["networks"]
                        ],
                        "backend": fw["backend"],
                        "record_path": fw["record"],
                    }
                },
            )
        )
    out += _mesh_drift(result["mesh"], host_links)
    return out


def _gateway_cidrs(network: dict[str, Any]) -> list[str]:
    out = []
    for subnet, gateway in zip(network["subnets"], network["gateways"]):
        out.append(f"{gateway}/{ipaddress.ip_network(subnet).prefixlen}")
    return out


def _publish_entry(pub: dict[str, Any]) -> dict[str, Any]:
    return {
        "host_ip": pub["host_ip"],
        "host_port": pub["host_port"],
        "container_address": pub["container_address"],
        "container_port": pub["container_port"],
        "proto": pub["proto"],
    }


def _mesh_drift(mesh: dict[str, Any], host_links: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for peer in mesh["peers"]:
        if peer["backend"] == "vxlan" and (peer["vtep_mac"] is None or peer["underlay"] is None):
            what = "neighbour entry" if peer["vtep_mac"] is None else "FDB entry"
            out.append(
                _finding(
                    "mesh_incomplete",
                    f"route {peer['subnet']}",
                    f"the route to {peer['subnet']} goes through {peer['dev']} via {peer['via']}, but the "
                    f"{what} that carries it to the peer is missing (traffic to that slice is black-holed)",
                    "ansible-playbook playbooks/site.yml   # the fleet role rebuilds the mesh",
                    {},
                )
            )
    for device in mesh["vxlan"]:
        if not device["owned"]:
            continue
        routed = {p["via"] for p in mesh["peers"] if p["dev"] == device["name"]}
        used_macs = {n["mac"] for n in device["neighbours"] if n["address"] in routed}
        for entry in device["fdb"]:
            if entry["permanent"] and entry["mac"] not in used_macs and entry["mac"] != "00:00:00:00:00:00":
                out.append(
                    _finding(
                        "mesh_stale",
                        f"fdb {entry['mac']} dev {device['name']}",
                        f"{device['name']} forwards {entry['mac']} to {entry['dst']}, but no route of the mesh uses "
                        "it (a peer that left)",
                        f"bridge fdb del {entry['mac']} dev {device['name']} dst {entry['dst']}",
                        {},
                    )
                )
        for entry in device["neighbours"]:
            if entry["permanent"] and entry["address"] not in routed:
                out.append(
                    _finding(
                        "mesh_stale",
                        f"neighbour {entry['address']} dev {device['name']}",
                        f"{device['name']} has a permanent neighbour {entry['address']} ({entry['mac']}) that no "
                        "route of the mesh uses (a peer that left)",
                        f"ip neigh del {entry['address']} dev {device['name']}",
                        {},
                    )
                )
    return out


def gather(nl: Netlink, params: dict[str, Any]) -> dict[str, Any]:
    """read_snapshot + assemble: the module's whole job."""
    snap = read_snapshot(nl, params)
    result = assemble(snap)
    result["changed"] = False
    result["summary"] = summary(result)
    return result


def summary(result: dict[str, Any]) -> dict[str, int]:
    return {
        "networks": len(result["networks"]),
        "endpoints": len(result["endpoints"]),
        "published": len(result["published"]),
        "peers": len(result["mesh"]["peers"]),
        "drift": len(result["drift"]),
    }
