# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A JSON document on the host (or controller): flock-ed, replaced atomically. Serves ipam and nat.

Locking: a flock on ``<path>.lock`` (never on the document itself, which the
rename replaces). A run that may write holds the exclusive lock from reading
the document until it is written back, so two runs never lose each other's
changes; closing the lock file (``release()``, the end of a ``with``, or the
end of the process) drops it.

Writing: a temporary file beside the document, fsync, rename over the
document, fsync of the directory. A reader sees the old or the new document,
never a torn one, also after a crash or SIGKILL at any point.

A format marker (``fmt``) is optional: with one, the document carries
``format`` and ``version`` and a file without that marker (another tool's, an
older or newer format) is refused, never reset.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError


class StoreError(NetplumbError):
    """A store, record or lease file that cannot be read, trusted or written."""


class StoreLock:
    """A held flock; a shared lock on a store that was never written holds nothing (``fd`` None)."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> StoreLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class JsonStore:
    """One JSON document: ``read``, ``write``, ``locked``. ``fmt`` is the format marker (None: none);
    ``what`` names the document in errors."""

    def __init__(self, path: str, fmt: str | None, what: str, version: int = 1) -> None:
        self.path = path
        self.what = what
        self.fmt = fmt
        self.version = version
        self.lock_path = path + ".lock"
        self.directory = os.path.dirname(path) or "."
        self.tmp_path = os.path.join(self.directory, "." + os.path.basename(path) + ".tmp")

    def locked(self, write: bool) -> StoreLock:
        """Exclusive lock for a run that may write; shared (and only if the lock file exists) to look.

        Use it in ``with``, or keep it and ``release()`` it when the run is done.
        """
        try:
            if write:
                os.makedirs(self.directory, mode=0o755, exist_ok=True)
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            else:
                try:
                    fd = os.open(self.lock_path, os.O_RDONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    return StoreLock(None)  # nothing was ever written here; a check run creates nothing
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
            except OSError:
                os.close(fd)
                raise
        except OSError as exc:
            raise StoreError(f"{self.what} {self.path}: cannot lock {self.lock_path}: {exc.strerror}") from None
        return StoreLock(fd)

    def read(self) -> dict[str, Any] | None:
        """The document, or None if there is none. Foreign or corrupt content is an error, never a reset."""
        try:
            with open(self.path, "rb") as fh:
                raw = fh.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"{self.what} {self.path}: cannot read: {exc.strerror}") from None
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise self.corrupt(f"not valid JSON ({exc})") from None
        if self.fmt is None:
            if not isinstance(data, dict):
                raise self.corrupt("not a JSON object")
            return data
        if not isinstance(data, dict) or data.get("format") != self.fmt:
            raise self.corrupt(f"not a {self.fmt} file (no format marker {self.fmt!r})")
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self.corrupt(f"bad version {version!r}")
        if version > self.version:
            raise self.corrupt(f"written by a newer netplumb.container (format version {version} > {self.version})")
        return data

    def corrupt(self, detail: str) -> StoreError:
        return StoreError(f"{self.what} {self.path} is unusable: {detail}; it was left untouched, fix or remove it")

    def write(self, data: dict[str, Any]) -> None:
        """Replace the document (the caller holds the exclusive lock)."""
        if self.fmt is not None:
            data = {"format": self.fmt, "version": self.version, **data}
        body = (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()
        try:
            fd = os.open(self.tmp_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                try:
                    view = memoryview(body)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(self.tmp_path, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(self.tmp_path)
                raise
            # The rename is durable only once the directory entry is.
            dfd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            raise StoreError(f"{self.what} {self.path}: write failed: {exc.strerror}") from None
