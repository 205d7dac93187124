# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place where a NetplumbError becomes ``fail_json`` and a result becomes ``exit_json``.

Its own file so that modules without a Netlink session (ipam) use it without
importing pyroute2 (about 0.25 s per task).
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.netplumb.container.plugins.module_utils._errors import (
    MissingDependencyError,
    NetplumbError,
    UnexpectedError,
)


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
