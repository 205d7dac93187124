# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netns resource: named network namespaces, their loopback, sysctls and name files.

Ownership: a namespace the collection creates gets OWNER_MARK as the alias of
its ``lo``. The mark lives inside the namespace, so it dies with it and
cannot be left behind or forged by reusing a name.

Name files: ``/etc/netns/<name>/hosts`` and ``resolv.conf``, which ``ip netns exec``
bind-mounts over /etc/hosts and /etc/resolv.conf. A file the collection writes starts
with FILE_MARK; a file without it is someone else's and is never written or removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import ipaddress
import os
from typing import Any, Hashable

from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._hostsfile import HostsTable
from ansible_collections.netplumb.container.plugins.module_utils._model import OWNER_MARK, Action, as_dict
from ansible_collections.netplumb.container.plugins.module_utils._netlink import (
    Netlink,
    list_netns,
    netns_exists,
    normalise_sysctl,
    per_device_default,
    sysctl_path,
)
from ansible_collections.netplumb.container.plugins.module_utils._plan import NamedResource
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_netns_name,
    check_unique,
    config_list,
    parse_bool,
    parse_hosts_entries,
    parse_resolv_conf,
)

ETC_NETNS = "/etc/netns"
FILE_MARK = "# Written by netplumb.container"
# A name file that exists without FILE_MARK: read, reported, never written or removed.
FOREIGN = "(not written by netplumb.container: left as it is)"
NAME_FILES = {"hosts": "hosts", "resolv_conf": "resolv.conf"}
HOST_RESOLV = ("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf")
LOCALHOST_LINES = (
    ("127.0.0.1", ("localhost",)),
    ("::1", ("localhost", "ip6-localhost", "ip6-loopback")),
    ("fe00::0", ("ip6-localnet",)),
    ("ff00::0", ("ip6-mcastprefix",)),
    ("ff02::1", ("ip6-allnodes",)),
    ("ff02::2", ("ip6-allrouters",)),
)


@dataclasses.dataclass(frozen=True)
class Netns:
    name: str
    loopback_up: bool | None = True
    sysctls: tuple[tuple[str, str], ...] = ()
    owned: bool = True
    hosts: str | None = None  # the file's text; None: not managed (absent or left as it is)
    resolv_conf: str | None = None

    @property
    def sysctl_map(self) -> dict[str, str]:
        return dict(self.sysctls)


class NetnsResource(NamedResource):
    kind = "netns"
    # A namespace of the same name made by someone else (Docker, ip netns add) is not silently taken over.
    adopts_foreign = False

    def merge(self, have: Netns | None, want: Netns, replace: bool) -> Netns:
        # sysctls are only ever set, never reset: the kernel has no "unset".
        sysctls = dict(have.sysctls) if have else {}
        sysctls.update(want.sysctls)
        files = {}
        for key in NAME_FILES:
            old, new = (getattr(have, key) if have else None), getattr(want, key)
            files[key] = old if new is None or old == FOREIGN else new
        return Netns(
            name=want.name,
            loopback_up=want.loopback_up,
            sysctls=tuple(sorted(sysctls.items())),
            owned=have.owned if have else True,
            **files,
        )

    def create(self, obj: Netns) -> list[Action]:
        params: dict[str, Any] = {"loopback_up": obj.loopback_up}
        if obj.sysctls:
            params["sysctls"] = obj.sysctl_map
        params.update(_file_summaries(obj, None))
        return [Action("create", self.kind, obj.name, params=params, phase=1, after=obj)]

    def update(self, have: Netns, want: Netns) -> list[Action]:
        params: dict[str, Any] = {}
        if have.loopback_up != want.loopback_up:
            params["loopback_up"] = want.loopback_up
        changed = {k: v for k, v in want.sysctls if have.sysctl_map.get(k) != v}
        if changed:
            params["sysctls"] = changed
        params.update(_file_summaries(want, have))
        return [Action("update", self.kind, want.name, params=params, phase=1, after=want)] if params else []

    def delete(self, obj: Netns) -> list[Action]:
        return [Action("delete", self.kind, obj.name, phase=0)]


def _file_summaries(want: Netns, have: Netns | None) -> dict[str, str]:
    """The name files an action writes, as the user reads it: the path and its size (the text is in the diff)."""
    out = {}
    for key, filename in NAME_FILES.items():
        text = getattr(want, key)
        if text is not None and text != FOREIGN and text != (getattr(have, key) if have else None):
            out[key] = f"{os.path.join(ETC_NETNS, want.name, filename)} ({text.count(chr(10))} lines)"
    return out


class NetnsEngine:
    resource = NetnsResource()

    def validate(self, params: dict[str, Any]) -> list[Netns]:
        config = config_list(params.get("config"), params["state"])
        if params.get("scope"):
            check_netns_name(params["scope"]["prefix"] or "x", "scope.prefix")
        tables = parse_hosts_tables(params.get("hosts_tables"))
        want = []
        for entry in config:
            name = check_netns_name(entry.get("name"))
            sysctls = {}
            for key, value in (entry.get("sysctls") or {}).items():
                sysctls[check_sysctl_key(key, name)] = sysctl_value(value, key, name)
            loopback = entry.get("loopback_up")
            hosts = parse_hosts_entries(entry.get("hosts"), f"netns {name}: hosts")
            table = entry.get("hosts_table")
            if table is not None:
                if table not in tables:
                    raise ValidationError(f"netns {name}: hosts_table {table!r} is not one of hosts_tables")
                hosts = tables[table].merged(hosts or ())
            resolv = parse_resolv_conf(entry.get("resolv_conf"), f"netns {name}: resolv_conf")
            want.append(
                Netns(
                    name=name,
                    loopback_up=parse_bool(loopback, f"netns {name}: loopback_up", default=True),
                    sysctls=tuple(sorted(sysctls.items())),
                    hosts=None if hosts is None else render_hosts(name, hosts),
                    resolv_conf=None if resolv is None else self.resolv_text(name, resolv, params),
                )
            )
        check_unique(want, lambda n: n.name, "netns")
        return want

    def resolv_text(self, name: str, spec: dict[str, Any], params: dict[str, Any]) -> str:
        """A namespace's resolv.conf; what the spec leaves out comes from the host's, read once per run."""
        if "host_resolver" not in params:
            params["host_resolver"] = host_resolver(read_host_resolv())
        text, warning = render_resolv(name, spec, params["host_resolver"])
        if warning and warning not in params["warnings"]:
            params["warnings"].append(warning)
        return text

    def read(self, nl: Netlink, want: list[Netns], params: dict[str, Any]) -> dict[Hashable, Netns]:
        # The kernel is the only judge of a sysctl value: try each in a scratch namespace before any change.
        nl.trial_sysctls(sorted({(key, value) for ns in want for key, value in ns.sysctls}))
        keys = sorted({key for ns in want for key in ns.sysctl_map})
        everything = params["state"] == "overridden" or (params["state"] == "deleted" and not want)
        names = list_netns() if everything else [n.name for n in want if netns_exists(n.name)]
        have = {}
        for name in names:
            have[name] = self.read_one(nl, name, keys)
        for index, ns in enumerate(want):
            current = have.get(ns.name)
            for key, filename in NAME_FILES.items():
                if getattr(ns, key) is None:
                    continue
                if current is None and read_name_file(ns.name, filename) == FOREIGN:
                    # No namespace yet, someone else's file already: the plan must not promise to write it.
                    want[index] = ns = dataclasses.replace(ns, **{key: None})
                elif current is None or getattr(current, key) != FOREIGN:
                    continue
                params["warnings"].append(
                    f"netns {ns.name}: {os.path.join(ETC_NETNS, ns.name, filename)} was not written by "
                    f"netplumb.container (its first line is not '{FILE_MARK} ...'); it is left as it is. "
                    "Remove it to let the collection write it."
                )
        return have

    def read_one(self, nl: Netlink, name: str, sysctl_keys: list[str]) -> Netns:
        # One link dump through the reader's socket (by netnsid): no socket opened in the namespace.
        lo = next((link for link in nl.reader.links(name) if link["index"] == 1), None)
        if lo is None:
            raise KernelError(f"netns {name}: has no loopback interface")
        values = []
        for key in sysctl_keys:
            value = nl.read_sysctl(name, key)
            if value is not None:
                values.append((key, value))
        return Netns(
            name=name,
            loopback_up=lo["up"],
            sysctls=tuple(values),
            owned=lo["alias"] == OWNER_MARK,
            hosts=read_name_file(name, "hosts"),
            resolv_conf=read_name_file(name, "resolv.conf"),
        )

    def apply(self, nl: Netlink, action: Action) -> None:
        name = action.name
        if action.op == "delete":
            # Files first: a run killed in between leaves a namespace, which the next run deletes with them.
            remove_name_files(name)
            nl.delete_netns(name)
            return
        if action.op == "create":
            nl.create_netns(name)
        try:
            # lo is ifindex 1 in every namespace; one request sets its mark and state.
            alias = OWNER_MARK if action.op == "create" else None
            if alias is not None or "loopback_up" in action.params:
                nl.reader.set_link(name, 1, up=action.params.get("loopback_up"), alias=alias)
            for key, value in (action.params.get("sysctls") or {}).items():
                nl.write_sysctl(name, key, value)
            for key, filename in NAME_FILES.items():
                if key in action.params:
                    write_name_file(name, filename, getattr(action.after, key))
        except Exception as exc:
            # The namespace exists now, whatever failed after: the run has changed the host.
            exc.started = True  # type: ignore[attr-defined]
            raise

    def render(self, obj: Netns) -> dict[str, Any]:
        """before/after: a name file as its size and digest. Its text grows with the fleet, and every namespace
        listed in every result made the results of a 20-host fleet ~2 MB per host; the diff has the text."""
        data = self.render_diff(obj)
        for key in NAME_FILES:
            if data[key] is not None and data[key] != FOREIGN:
                data[key] = text_summary(data[key])
        return data

    def render_diff(self, obj: Netns) -> dict[str, Any]:
        data = as_dict(obj)
        data["sysctls"] = obj.sysctl_map
        return data


def text_summary(text: str) -> str:
    """A file's text as its line count and the start of its SHA-256: equal texts, equal summaries."""
    return f"{text.count(chr(10))} lines, sha256 {hashlib.sha256(text.encode()).hexdigest()[:16]}"


def parse_hosts_tables(value: Any) -> dict[str, HostsTable]:
    """hosts_tables: [{name, entries}] -> name -> table, each parsed and deduplicated once for all namespaces."""
    out: dict[str, HostsTable] = {}
    for index, table in enumerate(value or []):
        name = table.get("name") if isinstance(table, dict) else None
        if not isinstance(name, str) or not name or name in out:
            raise ValidationError(f"hosts_tables[{index}].name: {name!r} is missing or listed more than once")
        out[name] = HostsTable(parse_hosts_entries(table.get("entries") or [], f"hosts_tables[{index}].entries") or ())
    return out


def render_hosts(netns: str, entries: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """A hosts file: the mark, localhost as Docker writes it, then the entries in order."""
    lines = [f"{FILE_MARK} for netns {netns}; rewritten on every run, edits are lost."]
    lines += [f"{address}\t{' '.join(names)}" for address, names in LOCALHOST_LINES + tuple(entries)]
    return "\n".join(lines) + "\n"


def host_resolver(texts: list[str]) -> dict[str, Any]:
    """The host's resolver settings, Docker's way: nameservers that are not loopback (a container cannot reach
    the host's 127.0.0.53); when /etc/resolv.conf has only loopback ones, those of systemd-resolved's upstream
    file (the second text) if there is one. Also what was dropped, for the warning."""
    first = parse_resolv_text(texts[0] if texts else "")
    chosen = first
    if first["nameservers"] and not _reachable(first["nameservers"]) and len(texts) > 1:
        upstream = parse_resolv_text(texts[1])
        if _reachable(upstream["nameservers"]):
            chosen = {**upstream, "search": first["search"] or upstream["search"]}
    return {**chosen, "nameservers": _reachable(chosen["nameservers"]), "dropped": first["nameservers"]}


def _reachable(servers: list[str]) -> list[str]:
    return [s for s in servers if not ipaddress.ip_address(s.split("%")[0]).is_loopback]


def parse_resolv_text(text: str) -> dict[str, list[str]]:
    """nameserver, search (or domain) and options lines of a resolv.conf; the last search/domain line wins."""
    out: dict[str, list[str]] = {"nameservers": [], "search": [], "options": []}
    for line in text.splitlines():
        words = line.split()
        if len(words) < 2 or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver":
            try:
                ipaddress.ip_address(words[1].split("%")[0])
            except ValueError:
                continue
            out["nameservers"].append(words[1])
        elif words[0] in ("search", "domain"):
            out["search"] = words[1:]
        elif words[0] == "options":
            out["options"] += words[1:]
    return out


def render_resolv(netns: str, spec: dict[str, Any], host: dict[str, Any]) -> tuple[str, str | None]:
    """A namespace's resolv.conf: what the spec gives, the rest from the host (see host_resolver), and a
    warning when it ends with no nameserver. No public resolver is put in (Docker's 8.8.8.8): a container's
    queries never go where the user did not send them; names in its hosts file resolve without one."""
    servers = list(spec["nameservers"]) if spec["nameservers"] is not None else host["nameservers"]
    search = list(spec["search"]) if spec["search"] is not None else host["search"]
    options = list(spec["options"]) if spec["options"] is not None else host["options"]
    lines = [f"{FILE_MARK} for netns {netns}; rewritten on every run, edits are lost."]
    warning = None
    if not servers:
        dropped = ", ".join(host["dropped"]) or "none"
        lines.append(f"# No nameserver: the host's are loopback only or none ({dropped}), not reachable from here.")
        if spec["nameservers"] is None:
            warning = (
                f"the host's resolv.conf has no nameserver a container can reach (it lists: {dropped}); the "
                "containers' resolv.conf lists none, so only the names in their hosts files resolve. Give "
                "nameservers (resolv_conf.nameservers; the endpoints role's endpoints_dns) to resolve others."
            )
    lines += [f"nameserver {s}" for s in servers]
    if search:
        lines.append("search " + " ".join(search))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n", warning


def read_host_resolv() -> list[str]:
    texts = []
    for path in HOST_RESOLV:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                texts.append(handle.read())
        except OSError:
            if not texts:
                texts.append("")
    return texts


def name_file_path(netns: str, filename: str) -> str:
    return os.path.join(ETC_NETNS, netns, filename)


def read_name_file(netns: str, filename: str) -> str | None:
    """The text of a name file the collection wrote, FOREIGN for anyone else's, None when there is none."""
    try:
        with open(name_file_path(netns, filename), encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KernelError(f"netns {netns}: reading {name_file_path(netns, filename)} failed: {exc.strerror}") from None
    return text if text.startswith(FILE_MARK) else FOREIGN


def write_name_file(netns: str, filename: str, text: str) -> None:
    """Replace a name file atomically (temporary file, fsync, rename), unless it turned foreign meanwhile."""
    path = name_file_path(netns, filename)
    if read_name_file(netns, filename) == FOREIGN:
        raise KernelError(f"netns {netns}: {path} was written by someone else during this run; it was left as it is")
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = f"{path}.netplumb-tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        try:
            view = memoryview(text.encode())
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove_name_files(netns: str) -> None:
    """Remove the name files the collection wrote, and the directory once empty; anyone else's stay."""
    for filename in NAME_FILES.values():
        if read_name_file(netns, filename) not in (None, FOREIGN):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name_file_path(netns, filename))
    with contextlib.suppress(OSError):
        os.rmdir(os.path.join(ETC_NETNS, netns))


def check_sysctl_key(key: Any, netns: str) -> str:
    """Only per-namespace (net.*) sysctls that exist on this kernel."""
    if not isinstance(key, str) or not key.startswith("net.") or "/" in key or ".." in key:
        raise ValidationError(
            f"netns {netns}: sysctl {key!r} is not a per-namespace sysctl (it must start with 'net.')"
        )
    probe = per_device_default(key)
    if not os.path.exists(sysctl_path(probe)):
        raise ValidationError(f"netns {netns}: unknown sysctl {key!r} (no {sysctl_path(probe)} on this kernel)")
    return key


def sysctl_value(value: Any, key: str, netns: str) -> str:
    """A sysctl value as the kernel reads it: a number, or printable ASCII text (fields separated by blanks)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) or (isinstance(value, str) and value.strip()):
        text = normalise_sysctl(value)
        if len(text) <= 256 and all(" " <= ch <= "~" for ch in text):
            return text
    raise ValidationError(
        f"netns {netns}: sysctl {key}: {value!r} is not a valid value (a number, or printable ASCII text of "
        "at most 256 characters)"
    )
