# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place where a NetplumbError becomes ``fail_json`` and a result becomes ``exit_json``.

Its own file so that modules without a Netlink session (ipam) use it without
importing pyroute2 (about 0.25 s per task).
"""

from __future__ import annotations

import json
import math
import sys
import traceback
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.netplumb.container.plugins.module_utils._errors import (
    MissingDependencyError,
    NetplumbError,
    UnexpectedError,
)


def new_module(**kwargs: Any) -> AnsibleModule:
    """``AnsibleModule(**kwargs)``, failing like any other bad option where ansible-core's own checks raise.

    ansible-core's int check lets ``OverflowError`` out for an infinite number (``mtu: .inf``, ``"Infinity"``):
    without this the user would see a bare traceback.
    """
    try:
        return AnsibleModule(**kwargs)
    except OverflowError as exc:  # NaN is a ValueError, which ansible-core reports itself
        bad = ", ".join(_non_finite(_raw_params())) or "an option"
        result = {"failed": True, "msg": f"{bad}: not a finite number ({exc})", "exception": traceback.format_exc()}
        # No AnsibleModule exists to fail_json with: the same JSON and exit status, written as fail_json does.
        print(json.dumps(result))  # pylint: disable=ansible-bad-function
        sys.exit(1)  # pylint: disable=ansible-bad-function


def _raw_params() -> dict[str, Any]:
    """The arguments as Ansible handed them over (read again: AnsibleModule kept them in basic._ANSIBLE_ARGS)."""
    from ansible.module_utils.basic import _load_params

    return _load_params()


def _non_finite(value: Any, path: str = "") -> list[str]:
    """The option paths (a.b[0].c) whose value is an infinite or not-a-number number or numeric string."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _non_finite(item, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in _non_finite(item, f"{path}[{index}]")]
    if isinstance(value, float) and not math.isfinite(value):
        return [path]
    if isinstance(value, str):
        try:
            return [] if Decimal(value.strip()).is_finite() else [path]
        except InvalidOperation:
            return []
    return []


def exit_with(module: AnsibleModule, cycle: Callable[[], dict[str, Any]], what: str = "") -> None:
    """Exit with what ``cycle()`` returns; ``diff`` only when diff mode is on.

    The last catch-all: anything unexpected becomes a failure naming ``what`` (the module's objects),
    with the traceback in ``exception``, never a bare traceback.
    """
    try:
        result = cycle()
    except MissingDependencyError as exc:
        module.fail_json(msg=missing_required_lib(exc.library, reason=exc.hint), exception=exc.reason)
    except UnexpectedError as exc:
        module.fail_json(msg=exc.msg, changed=exc.changed, actions=_actions(exc), exception=exc.exception)
    except NetplumbError as exc:
        module.fail_json(**{**exc.result, "msg": exc.msg, "changed": exc.changed, "actions": _actions(exc)})
    except Exception as exc:
        where = what or module._name
        module.fail_json(
            msg=f"{where}: unexpected error {type(exc).__name__}: {exc}",
            exception=traceback.format_exc(),
            changed=False,
        )
    for warning in result.pop("warnings", []):
        module.warn(warning)
    diff = result.pop("diff", None)
    if module._diff and diff is not None:
        result["diff"] = diff
    module.exit_json(**result)


def _actions(exc: NetplumbError) -> list[dict[str, Any]]:
    return [a.to_result() for a in exc.done]
