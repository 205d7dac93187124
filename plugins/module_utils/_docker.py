# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker's daemon.json: the settings that hand a fleet slice to dockerd, merged into the user's file.

Pure parts: ``daemon_settings`` (a slice -> the keys to write) and ``address_pools`` (Docker's
default-address-pools minus the ranges they must not take), ``merge``/``unmerge`` (the file's
content before -> after). The module's cycle (``run``) reads the file and the record once, plans
and writes both atomically.

The record (``/var/lib/netplumb/docker-daemon.json``) remembers, per file, which keys the
collection set, to what, and what they held before, so that ``state=absent`` restores the user's
values and never removes a key the user changed since: dockerd refuses unknown keys, so no
ownership mark can live in daemon.json itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import os
from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._ipam import parse_default_pools
from ansible_collections.netplumb.container.plugins.module_utils._model import Action
from ansible_collections.netplumb.container.plugins.module_utils._store import JsonStore, StoreError
from ansible_collections.netplumb.container.plugins.module_utils._validate import (
    check_abs_path,
    parse_json_object,
)

DEFAULT_PATH = "/etc/docker/daemon.json"
DEFAULT_RECORD = "/var/lib/netplumb/docker-daemon.json"
RECORD_FORMAT = "netplumb.container/docker-daemon"
STATES = ("present", "absent")
KIND = "docker daemon config"
# Keys that cannot go together with the ones the collection writes (dockerd refuses bip with bridge).
CONFLICTS = {
    "bridge": "dockerd refuses 'bip' together with 'bridge' (docker0 must be Docker's own bridge on the slice)",
}


# ---------------------------------------------------------------- what the fleet writes (pure)


def address_pools(pools: Any, exclude: list[str], what: str) -> list[dict[str, Any]]:
    """Docker's default-address-pools without any part of ``exclude`` (the cluster ranges, the underlay).

    A pool that overlaps a range is split into the pieces around it; pieces smaller than the pool's
    ``size`` cannot hold one network and are dropped, as is a pool left with nothing."""
    parsed = parse_default_pools(pools, what)
    nets = [ipaddress.ip_network(e, strict=False) for e in exclude]
    out: list[dict[str, Any]] = []
    for pool in parsed:
        pieces = [pool.base]
        for net in (n for n in nets if n.version == 4):
            kept = []
            for piece in pieces:
                if not piece.overlaps(net):
                    kept.append(piece)
                elif not piece.subnet_of(net):
                    kept += list(piece.address_exclude(net)) if net.subnet_of(piece) else []
            pieces = kept
        for piece in sorted(p for p in pieces if p.prefixlen <= pool.size):
            out.append({"base": str(piece), "size": pool.size})
    if not out:
        raise ValidationError(
            f"{what}: no pool is left outside {', '.join(exclude)}; Docker's user-defined networks need one "
            "(give pools outside the cluster range)"
        )
    return out


def daemon_settings(subnet: str, subnet6: str | None, mtu: int | None, pools: list[dict[str, Any]]) -> dict[str, Any]:
    """The daemon.json keys that put docker0 on the slice (gateway: its first address, as the slice network's).

    ``ip-masq`` is off: the collection masquerades the slice itself, except towards the cluster, so the
    containers of other hosts see the real addresses (flannel's way with Docker)."""
    net = ipaddress.ip_network(subnet)
    out: dict[str, Any] = {
        "bip": f"{net.network_address + 1}/{net.prefixlen}",
        "fixed-cidr": str(net),
        "ip-masq": False,
        "default-address-pools": pools,
    }
    if mtu is not None:
        out["mtu"] = mtu
    if subnet6:
        out["ipv6"] = True
        out["fixed-cidr-v6"] = str(ipaddress.ip_network(subnet6))
    return out


# ---------------------------------------------------------------- the merge (pure)


@dataclasses.dataclass(frozen=True)
class Entry:
    """What the record holds for one file: whether the collection created it, and per key what it
    set and what was there before (``had`` False: the key was absent)."""

    created: bool
    keys: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"created": self.created, "keys": self.keys}


def check_conflicts(current: dict[str, Any], path: str) -> None:
    for key, why in CONFLICTS.items():
        if current.get(key) not in (None, ""):
            raise ConflictError(
                f"docker daemon config {path}: it sets {key!r} = {current[key]!r}, but {why}; remove {key!r} "
                "from the file (nothing was changed)"
            )


def merge(
    current: dict[str, Any] | None, settings: dict[str, Any], entry: Entry | None, path: str
) -> tuple[dict[str, Any], Entry, list[str]]:
    """(the file's new content, the record entry, warnings): the user's keys kept, ``settings`` written,
    keys the collection set before and no longer sets given back."""
    existing = current or {}
    check_conflicts(existing, path)
    entry = entry or Entry(created=current is None, keys={})
    after = dict(existing)
    keys: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    for key, info in entry.keys.items():
        if key not in settings:
            warnings += _give_back(after, key, info, path)
    for key, value in settings.items():
        before = entry.keys.get(key)
        if before is None:
            before = {"had": key in existing, "previous": existing.get(key)}
        keys[key] = {"had": before["had"], "previous": before["previous"], "set": value}
        after[key] = value
    return after, Entry(entry.created, keys), warnings


def unmerge(current: dict[str, Any] | None, entry: Entry | None, path: str) -> tuple[dict[str, Any] | None, list[str]]:
    """(the file's content without the collection's keys, None: remove the file; warnings)."""
    if entry is None or current is None:
        return current, []
    after = dict(current)
    warnings: list[str] = []
    for key, info in entry.keys.items():
        warnings += _give_back(after, key, info, path)
    if entry.created and not after:
        return None, warnings
    return after, warnings


def _give_back(after: dict[str, Any], key: str, info: dict[str, Any], path: str) -> list[str]:
    """The user's value back (or the key gone), unless the key was changed since the collection set it."""
    if key not in after:
        return []
    if after[key] != info["set"]:
        return [
            f"docker daemon config {path}: {key!r} was changed after netplumb set it "
            f"({info['set']!r} -> {after[key]!r}); it was left as it is"
        ]
    if info["had"]:
        after[key] = info["previous"]
    else:
        del after[key]
    return []


def render(content: dict[str, Any]) -> str:
    return json.dumps(content, indent=2) + "\n"


# ---------------------------------------------------------------- the module's cycle


@dataclasses.dataclass(frozen=True)
class Request:
    path: str
    state: str
    settings: dict[str, Any]
    record: JsonStore


def validate(params: dict[str, Any]) -> Request:
    path = os.path.normpath(check_abs_path(params.get("path") or DEFAULT_PATH, "docker_daemon path"))
    state = params.get("state") or "present"
    if state not in STATES:
        raise ValidationError(f"docker_daemon state must be one of {', '.join(STATES)}, got {state!r}")
    settings = params.get("settings") or {}
    if not isinstance(settings, dict):
        raise ValidationError(f"docker_daemon settings must be a mapping of daemon.json keys, got {settings!r}")
    if state == "present" and not settings:
        raise ValidationError("docker_daemon: state=present needs settings (the daemon.json keys to write)")
    for key, value in settings.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(f"docker_daemon settings: key {key!r} is not a daemon.json key")
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise ValidationError(f"docker_daemon settings: {key} = {value!r} cannot be written as JSON") from None
        if key in CONFLICTS:
            raise ValidationError(f"docker_daemon settings: {key!r} cannot be set here: {CONFLICTS[key]}")
    record = check_abs_path(params.get("record_path") or DEFAULT_RECORD, "docker_daemon record_path")
    return Request(path, state, dict(settings), JsonStore(record, RECORD_FORMAT, "docker daemon record"))


def read_config(path: str) -> dict[str, Any] | None:
    """The parsed file; None when there is none."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"docker daemon config {path}: cannot read: {exc}") from None
    if not text.strip():
        return {}  # dockerd reads an empty file as no settings
    return parse_json_object(text, f"docker daemon config {path}")


def write_config(path: str, content: dict[str, Any] | None) -> None:
    """Replace the file atomically (its mode kept), or remove it (``content`` None)."""
    if content is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.netplumb.tmp")
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        try:
            mode = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(render(content))
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise StoreError(f"docker daemon config {path}: write failed: {exc.strerror}") from None


def read_record(store: JsonStore) -> dict[str, Entry]:
    data = store.read() or {}
    try:
        return {p: Entry(bool(e["created"]), dict(e["keys"])) for p, e in (data.get("files") or {}).items()}
    except (KeyError, TypeError, AttributeError) as exc:
        raise store.corrupt(f"an entry is unreadable ({exc})") from None


def write_record(store: JsonStore, files: dict[str, Entry]) -> None:
    if files:
        store.write({"files": {p: e.to_dict() for p, e in sorted(files.items())}})
        return
    # Nothing recorded any more: the record goes, with its lock and the directory once empty.
    for path in (store.path, store.lock_path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    with contextlib.suppress(OSError):
        os.rmdir(store.directory)


def run(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """Validate -> lock the record -> read file and record once -> plan (pure) -> write unless checking."""
    req = validate(params)
    with req.record.locked(write=not check_mode):
        current = read_config(req.path)
        files = read_record(req.record)
        entry = files.get(req.path)
        if req.state == "present":
            after, new_entry, warnings = merge(current, req.settings, entry, req.path)
            new_files = {**files, req.path: new_entry}
        else:
            after, warnings = unmerge(current, entry, req.path)
            new_files = {p: e for p, e in files.items() if p != req.path}
        file_changed = after != current
        record_changed = new_files != files
        actions = _actions(req.path, current, after) if file_changed else []
        if record_changed and not file_changed:
            actions.append(Action("update", "docker daemon record", req.record.path, phase=1))
        if not check_mode:
            if file_changed:
                write_config(req.path, after)
            if record_changed:
                write_record(req.record, new_files)
    result: dict[str, Any] = {
        "changed": file_changed or record_changed,
        "config_changed": file_changed,
        "actions": [a.to_result() for a in actions],
        "path": req.path,
        "config": after,
        "diff": {
            "before": render(current) if current is not None else "",
            "after": render(after) if after is not None else "",
            "before_header": req.path,
            "after_header": req.path,
        },
    }
    if warnings:
        result["warnings"] = warnings
    return result


def _actions(path: str, current: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Action]:
    if after is None:
        return [Action("delete", KIND, path)]
    existing = current or {}
    changed = {k: v for k, v in after.items() if existing.get(k, _MISSING) != v}
    removed = sorted(k for k in existing if k not in after)
    params: dict[str, Any] = dict(changed)
    if removed:
        params["removed"] = removed
    return [Action("create" if current is None else "update", KIND, path, params=params)]


_MISSING = object()
