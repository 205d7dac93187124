# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One host-wide lock around every read-plan-apply cycle that changes the host.

Two runs that read the same state and both act on it collide (both create the
same veth; the second fails half-way). Every module that changes the host
holds this flock from its read to its last write, so a second run waits and
then reads what the first one made. No pyroute2 here: ipam uses it too.
Doc fragment: netplumb.container.host_lock (keep in sync with HOST_LOCK_SPEC).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from typing import Any, Iterator

from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError
from ansible_collections.netplumb.container.plugins.module_utils._validate import parse_int

HOST_LOCK_PATH = "/run/netplumb/host.lock"
DEFAULT_LOCK_TIMEOUT = 300
HOST_LOCK_SPEC = {"lock_timeout": {"type": "int", "default": DEFAULT_LOCK_TIMEOUT}}


class LockTimeoutError(KernelError):
    """Another run held the host lock for longer than ``lock_timeout``; nothing was changed."""


@contextlib.contextmanager
def host_lock(timeout: Any = DEFAULT_LOCK_TIMEOUT, path: str = HOST_LOCK_PATH) -> Iterator[None]:
    """Hold the host lock for the block; wait up to ``timeout`` seconds (0: try once) for it."""
    seconds = parse_int(timeout, "lock_timeout", 0, 86400)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        _acquire(fd, path, seconds)
        # The holder's pid, for the message a waiting run gives when it times out.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing releases the flock


def _acquire(fd: int, path: str, seconds: int) -> None:
    deadline = time.monotonic() + seconds
    pause = 0.01
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise KernelError(f"host lock {path}: {exc.strerror}") from None
        left = deadline - time.monotonic()
        if left <= 0:
            raise LockTimeoutError(
                f"host lock {path}: still held by {_holder(fd)} after waiting lock_timeout={seconds} s "
                "(another netplumb.container run is changing this host); nothing was changed"
            )
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.5)


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return f"pid {text}" if text.isdigit() else "another process (pid unknown)"
