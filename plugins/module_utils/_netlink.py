# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pyroute2 adapter: namespaces and netlink sockets, without forking.

pyroute2's ``netns.create()`` and ``IPRoute(netns=...)`` fork a helper
process per namespace (about 21 ms each, see PERF-NOTES). Here the calling
thread enters the namespace with setns(2), opens its netlink socket there and
goes back: a netlink socket stays bound to the namespace it was opened in.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import importlib.util
import os
import re
import traceback
from typing import Any, Iterator

from ansible_collections.netplumb.container.plugins.module_utils._errors import (
    KernelError,
    MissingDependencyError,
    ValidationError,
)
from ansible_collections.netplumb.container.plugins.module_utils._rtnl import RtnlReader

NETNS_RUN_DIR = "/run/netns"
_PER_DEVICE = re.compile(r"^(net\.ipv[46]\.(?:conf|neigh))\.([^.]+)\.(.+)$")
_DIST_INFO = re.compile(r"^pyroute2-([0-9][^-]*?)(?:-py[0-9.]+)?\.(?:dist|egg)-info$")
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_BIND = 0x1000
MS_SHARED = 1 << 20
MNT_DETACH = 2
IFF_UP = 0x1

_libc = ctypes.CDLL(None, use_errno=True)

PYROUTE2_MIN = (0, 7)
PYROUTE2_INSTALL = "install the package python3-pyroute2 (Debian, Ubuntu) or pyroute2 from PyPI"


class _NotLoaded(Exception):
    """Stands for pyroute2's NetlinkError until pyroute2 is loaded: nothing can raise that before."""


# pyroute2 is loaded on the first pyroute2 socket, not on import: importing it costs ~0.25 s per module
# run (more under load), and reads and the hot writes go through _rtnl's raw sockets. Catch
# ``_netlink.NetlinkError`` by attribute, at the time of the exception, so that the real class is seen.
pyroute2: Any = None
IPRoute: Any = None
NetlinkError: type[Exception] = _NotLoaded
_LOAD_ERROR: list[str] = []


def load_pyroute2() -> bool:
    """Import pyroute2 once; False (the traceback kept for require_pyroute2) when it cannot be imported."""
    global pyroute2, IPRoute, NetlinkError
    if pyroute2 is not None:
        return True
    if _LOAD_ERROR:
        return False
    try:
        import pyroute2 as module
        from pyroute2 import IPRoute as ipr_class
        from pyroute2.netlink.exceptions import NetlinkError as error_class
    except ImportError:
        _LOAD_ERROR.append(traceback.format_exc())
        return False
    pyroute2, IPRoute, NetlinkError = module, ipr_class, error_class
    return True


def __getattr__(name: str) -> Any:
    if name == "PYROUTE2_IMPORT_ERROR":  # the import's traceback, None when pyroute2 imports
        return None if load_pyroute2() else _LOAD_ERROR[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def require_pyroute2() -> None:
    """Raise MissingDependencyError unless pyroute2 >= 0.7 is installed (importing it only if its version
    is not written beside it)."""
    try:
        spec = importlib.util.find_spec("pyroute2")
    except (ImportError, ValueError):
        spec = None
    found = _installed_version(spec.origin) if spec is not None and spec.origin else None
    if spec is None or found is None:
        if not load_pyroute2():
            raise MissingDependencyError(
                "the Python library pyroute2 (>= 0.7) is required on the managed host",
                library="pyroute2 >= 0.7",
                reason=_LOAD_ERROR[0],
                hint=f"by netplumb.container; {PYROUTE2_INSTALL}",
            )
        found = pyroute2_version()
    if found < PYROUTE2_MIN:
        text = ".".join(map(str, found))
        raise MissingDependencyError(
            f"pyroute2 {text} is too old; netplumb.container needs pyroute2 >= 0.7",
            library="pyroute2 >= 0.7",
            reason="version too old",
            hint=f"by netplumb.container, found pyroute2 {text} which is too old; {PYROUTE2_INSTALL}",
        )


def _installed_version(origin: str) -> tuple[int, ...] | None:
    """The version in the name of the dist-info (pip) or egg-info (Debian) beside the package; None if none."""
    site = os.path.dirname(os.path.dirname(origin))
    try:
        names = os.listdir(site)
    except OSError:
        return None
    found = [m.group(1) for m in map(_DIST_INFO.match, names) if m]
    return _version_tuple(found[0]) if len(found) == 1 else None


def pyroute2_version() -> tuple[int, ...]:
    raw = getattr(pyroute2, "__version__", None)
    # Debian's python3-pyroute2 0.7.2 says __version__ = "unknown": its package metadata knows.
    if not raw or not str(raw)[:1].isdigit():
        from importlib.metadata import version

        raw = version("pyroute2")
    return _version_tuple(str(raw))


def _version_tuple(raw: str) -> tuple[int, ...]:
    parts = []
    for piece in raw.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def netns_path(name: str) -> str:
    return os.path.join(NETNS_RUN_DIR, name)


def list_netns() -> list[str]:
    """Names of the namespaces in /run/netns (those that are really mounted)."""
    try:
        names = sorted(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return []
    return [name for name in names if netns_exists(name)]


def netns_exists(name: str) -> bool:
    """True if /run/netns/NAME is a mounted namespace (not a stale file)."""
    path = netns_path(name)
    try:
        st = os.stat(path)
        parent = os.stat(NETNS_RUN_DIR)
    except OSError:
        return False
    # A live entry is an nsfs bind mount, on another device than the directory.
    return st.st_dev != parent.st_dev


class Netlink:
    """One IPRoute socket per namespace, opened lazily and closed together.

    Use as a context manager. ``None`` is the namespace the module runs in.
    """

    def __init__(self) -> None:
        require_pyroute2()
        self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self._sockets: dict[str | None, Any] = {}
        self._reader: RtnlReader | None = None

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for sock in self._sockets.values():
            with contextlib.suppress(Exception):
                sock.close()
        self._sockets.clear()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        with contextlib.suppress(OSError):
            os.close(self._home)

    @property
    def reader(self) -> RtnlReader:
        """Reads (links, addresses, routes) of any namespace, decoded without pyroute2 (see _rtnl)."""
        if self._reader is None:
            self._reader = RtnlReader(home_fd=self._home)
        return self._reader

    def ipr(self, netns: str | None = None) -> Any:
        """The pyroute2 socket of a namespace; never creates the namespace."""
        if netns not in self._sockets:
            if not load_pyroute2():
                require_pyroute2()  # raises, with the import's traceback
            if netns is None:
                self._sockets[None] = IPRoute()
            else:
                with self.entered(netns):
                    self._sockets[netns] = IPRoute()
        return self._sockets[netns]

    @contextlib.contextmanager
    def entered(self, netns: str | None) -> Iterator[None]:
        """Run the block inside a namespace (for /proc/sys and socket opening)."""
        if netns is None:
            yield
            return
        try:
            fd = os.open(netns_path(netns), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise KernelError(f"netns {netns}: does not exist") from None
        try:
            _check(_libc.setns(fd, CLONE_NEWNET), f"netns {netns}: setns")
            try:
                yield
            finally:
                _check(_libc.setns(self._home, CLONE_NEWNET), "setns back to the module's namespace")
        finally:
            os.close(fd)

    def forget(self, netns: str) -> None:
        if self._reader is not None:
            self._reader.forget(netns)
        sock = self._sockets.pop(netns, None)
        if sock is not None:
            with contextlib.suppress(Exception):
                sock.close()

    def create_netns(self, name: str) -> None:
        """Create /run/netns/NAME like ``ip netns add``, without forking."""
        _ensure_run_dir()
        path = netns_path(name)
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444))
        except FileExistsError:
            if netns_exists(name):
                raise KernelError(f"netns {name}: create failed: File exists") from None
        reader = self.reader  # made here, so that its own socket stays in the module's namespace
        try:
            _check(_libc.unshare(CLONE_NEWNET), f"netns {name}: unshare")
            try:
                _check(
                    _libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", MS_BIND, None),
                    f"netns {name}: bind mount",
                )
                # Open its (plain) socket while we are inside anyway.
                reader.adopt_socket(name)
            finally:
                _check(_libc.setns(self._home, CLONE_NEWNET), "setns back to the module's namespace")
        except (OSError, NetlinkError) as exc:
            with contextlib.suppress(OSError):
                _libc.umount2(path.encode(), MNT_DETACH)
                os.unlink(path)
            raise KernelError(f"netns {name}: create failed: {netlink_error_text(exc)}") from None

    def delete_netns(self, name: str) -> bool:
        """Delete like ``ip netns del``; False if it was already gone."""
        self.forget(name)
        path = netns_path(name)
        if _libc.umount2(path.encode(), MNT_DETACH) != 0:
            err = ctypes.get_errno()
            if err not in (errno.EINVAL, errno.ENOENT):
                raise KernelError(f"netns {name}: delete failed: {os.strerror(err)}")
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise KernelError(f"netns {name}: delete failed: {exc.strerror}") from None
        return True

    def read_sysctl(self, netns: str | None, key: str) -> str | None:
        """A sysctl as the namespace sees it; None if it does not exist there."""
        with self.entered(netns):
            try:
                with open(sysctl_path(key), encoding="ascii") as handle:
                    return normalise_sysctl(handle.read())
            except FileNotFoundError:
                return None

    def trial_sysctls(self, items: list[tuple[str, str]]) -> None:
        """Write each (key, value) in a scratch namespace that vanishes afterwards; ValidationError if refused."""
        if not items:
            return
        _check(_libc.unshare(CLONE_NEWNET), "unshare a scratch namespace for the sysctl check")
        try:
            for key, value in items:
                probe = per_device_default(key)
                try:
                    with open(sysctl_path(probe), "w", encoding="ascii") as handle:
                        handle.write(value)
                except FileNotFoundError:
                    raise ValidationError(
                        f"sysctl {key}: the kernel has it only in the initial namespace, not in a new one"
                    ) from None
                except OSError as exc:
                    raise ValidationError(
                        f"sysctl {key}: the kernel refuses the value {value!r} ({exc.strerror}); nothing was changed"
                    ) from None
        finally:
            _check(_libc.setns(self._home, CLONE_NEWNET), "setns back to the module's namespace")

    def write_sysctl(self, netns: str | None, key: str, value: str) -> None:
        with self.entered(netns):
            try:
                with open(sysctl_path(key), "w", encoding="ascii") as handle:
                    handle.write(value)
            except OSError as exc:
                where = f"netns {netns}" if netns else "host"
                raise KernelError(f"{where}: sysctl {key}={value} failed: {exc.strerror}") from None


def per_device_default(key: str) -> str:
    """net.ipv4.conf.eth0.x -> net.ipv4.conf.default.x: the entry every namespace has for a per-device sysctl."""
    match = _PER_DEVICE.match(key)
    if match and match.group(2) not in ("all", "default"):
        return f"{match.group(1)}.default.{match.group(3)}"
    return key


def sysctl_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


def normalise_sysctl(value: object) -> str:
    """Kernel sysctls print tab-separated fields and a newline; compare them folded."""
    return " ".join(str(value).split())


def _ensure_run_dir() -> None:
    """Make /run/netns a shared mount, as iproute2 does, so later mount namespaces see new entries."""
    os.makedirs(NETNS_RUN_DIR, mode=0o755, exist_ok=True)
    target = NETNS_RUN_DIR.encode()
    if _libc.mount(b"none", target, b"none", MS_SHARED | MS_REC, None) == 0:
        return
    if ctypes.get_errno() != errno.EINVAL:
        return  # not fatal: the namespace file still works in this mount namespace
    if _libc.mount(target, target, b"none", MS_BIND | MS_REC, None) == 0:
        _libc.mount(b"none", target, b"none", MS_SHARED | MS_REC, None)


def netlink_error_text(exc: BaseException) -> str:
    """'File exists' rather than '(17, 'File exists')'."""
    if isinstance(exc, NetlinkError) and getattr(exc, "code", None):
        return os.strerror(exc.code)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def link_flags_up(link) -> bool:
    return bool(link["flags"] & IFF_UP)
