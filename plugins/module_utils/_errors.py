# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors: raised in module_utils, turned into fail_json in one place."""

from __future__ import annotations

import traceback


class NetplumbError(Exception):
    """Base error. ``done`` lists the actions already applied when it was raised."""

    def __init__(self, msg: str, done: list | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.done = list(done or [])
        self.result: dict = {}  # more keys for the failed result (a probe's outcomes)

    @property
    def changed(self) -> bool:
        return bool(self.done)


class ValidationError(NetplumbError):
    """Bad input; raised before anything touches the kernel."""


class ConflictError(NetplumbError):
    """The kernel holds an object that makes the request unsafe (not owned, wrong type)."""


class KernelError(NetplumbError):
    """An operation on the kernel failed part way; ``done`` says what was applied."""


class MissingDependencyError(NetplumbError):
    """A Python library the engine needs is missing or too old."""

    def __init__(self, msg: str, library: str, reason: str, hint: str | None = None) -> None:
        super().__init__(msg)
        self.library = library
        self.reason = reason
        # Completes missing_required_lib's "This is required ..." sentence: who needs it, what to install.
        self.hint = hint


class UnexpectedError(NetplumbError):
    """Anything else raised while working on an object (a bug): the message names the object, and
    ``exception`` keeps the traceback for the result."""

    def __init__(self, where: str, exc: BaseException, done: list | None = None) -> None:
        super().__init__(f"{where}: unexpected error {type(exc).__name__}: {exc}", done)
        self.exception = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
