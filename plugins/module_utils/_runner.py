# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one cycle every resource module runs, and its shared argument spec.

validate all input -> read the kernel once -> plan (pure) -> apply unless in
check mode -> result with ``changed``, ``actions`` and (when asked) ``diff``.
Errors are typed in module_utils and become ``fail_json`` in one place (_exit.exit_with).
"""

from __future__ import annotations

from typing import Any, Hashable, Protocol

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netplumb.container.plugins.module_utils import _netlink
from ansible_collections.netplumb.container.plugins.module_utils._errors import (
    KernelError,
    NetplumbError,
    UnexpectedError,
)
from ansible_collections.netplumb.container.plugins.module_utils._exit import exit_with
from ansible_collections.netplumb.container.plugins.module_utils._hostlock import (
    DEFAULT_LOCK_TIMEOUT,
    HOST_LOCK_SPEC,
    host_lock,
)
from ansible_collections.netplumb.container.plugins.module_utils._model import STATES, Action
from ansible_collections.netplumb.container.plugins.module_utils._netlink import (
    Netlink,
    netlink_error_text,
)
from ansible_collections.netplumb.container.plugins.module_utils._plan import (
    Resource,
    Scope,
    diff_view,
    plan,
    target_state,
)
from ansible_collections.netplumb.container.plugins.module_utils._validate import parse_bool

PREFIX_SCOPE_OPTIONS = {"prefix": {"type": "str", "required": True}}


def resource_argument_spec(
    config_options: dict[str, Any], scope_options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """config/state/scope/force/lock_timeout, shared by the resource modules.

    Doc fragments: netplumb.container.resource and netplumb.container.host_lock.

    ``scope`` is ``{prefix}`` unless a resource whose objects have no name to
    match passes its own ``scope_options`` (routes: ``{netns, table}``); its
    engine then builds the Scope (``scope_from``) and its module documents ``scope``.
    """
    return {
        "config": {"type": "list", "elements": "dict", "options": config_options},
        "state": {"type": "str", "choices": list(STATES), "default": "merged"},
        "scope": {"type": "dict", "options": scope_options or PREFIX_SCOPE_OPTIONS},
        "force": {"type": "bool", "default": False},
        **HOST_LOCK_SPEC,
    }


class Engine(Protocol):
    """A resource's engine: its planner ``resource`` plus kernel I/O.

    Optional: ``scope_from(params) -> Scope | None`` for a scope other than ``{prefix}``;
    ``derive(nl, have, after, params) -> list[Action]`` adds actions that follow from the
    target state as a whole (a firewall ruleset rendered from all objects). An engine adds keys to
    the result through ``params["report"]`` (the bridges a teardown kept).
    """

    resource: Resource

    def validate(self, params: dict[str, Any]) -> list[Any]: ...

    def read(self, nl: Netlink, want: list[Any], params: dict[str, Any]) -> dict[Hashable, Any]: ...

    def apply(self, nl: Netlink, action: Action) -> None: ...

    def render(self, obj: Any) -> dict[str, Any]: ...


def scope_from(params: dict[str, Any]) -> Scope | None:
    scope = params.get("scope")
    return Scope(prefix=scope["prefix"]) if scope else None


def converge(engine: Engine, params: dict[str, Any], check_mode: bool, nl: Netlink) -> dict[str, Any]:
    """The cycle without Ansible: returns the result dict, raises NetplumbError.

    The engine sees the module's parameters plus the cycle's ``check_mode``, a ``warnings`` list to
    append to and a ``report`` dict of extra result keys, so that it keeps nothing of the cycle in its
    own attributes.
    """
    params = {
        **params,
        # With Ansible's rules once for every engine and the planner ("false" is false), also for direct callers.
        "force": parse_bool(params.get("force"), "force", default=False),
        "check_mode": check_mode,
        "warnings": [],
        "report": {},
    }
    resource = engine.resource
    want = engine.validate(params)
    try:
        have = engine.read(nl, want, params)
    except NetplumbError:
        raise
    except (OSError, _netlink.NetlinkError) as exc:
        raise KernelError(f"{resource.kind}: reading the current state failed: {netlink_error_text(exc)}") from None
    scope = (getattr(engine, "scope_from", None) or scope_from)(params)
    after = target_state(resource, have, want, params["state"], scope, params["force"])
    actions = plan(resource, have, after)
    derive = getattr(engine, "derive", None)
    if derive is not None:  # actions that follow from the target state as a whole (a firewall ruleset)
        actions = sorted(actions + derive(nl, have, after, params), key=lambda a: a.phase)
    if not check_mode:
        apply_all(engine, nl, actions)
    listed = {resource.key(obj) for obj in want}
    shown = sorted(
        (k for k in set(have) | set(after) if k in listed or have.get(k) != after.get(k)),
        key=resource.label,
    )
    result = {
        **params["report"],
        "changed": bool(actions),
        "actions": [a.to_result() for a in actions],
        "before": [engine.render(have[k]) for k in shown if k in have],
        "after": [engine.render(after[k]) for k in shown if k in after],
        # An engine whose objects carry long texts shows them whole only in the diff (render_diff).
        "diff": diff_view(resource, have, after, getattr(engine, "render_diff", engine.render)),
    }
    if params["warnings"]:
        result["warnings"] = params["warnings"]
    return result


def apply_all(engine: Engine, nl: Netlink, actions: list[Action]) -> None:
    """Apply in order; an error carries the actions done, with the failing one if it had started (``started``)."""
    done: list[Action] = []
    for action in actions:
        try:
            engine.apply(nl, action)
        except NetplumbError as exc:
            exc.done = done + ([action] if getattr(exc, "started", False) else [])
            raise
        except (OSError, _netlink.NetlinkError) as exc:  # pyroute2 0.9's NetlinkError is not an OSError
            where = f" in netns {action.netns}" if action.netns else ""
            raise KernelError(
                f"{action.kind} {action.name}{where}: {action.op} failed: {netlink_error_text(exc)}",
                done + ([action] if getattr(exc, "started", False) else []),
            ) from None
        except Exception as exc:
            raise UnexpectedError(f"{action.kind} {action.name}: {action.op}", exc, done) from exc
        done.append(action)


def run_module(module: AnsibleModule, engine: Engine) -> None:
    """Run the cycle for an AnsibleModule, holding the host lock, and exit with its result."""

    def cycle() -> dict[str, Any]:
        with host_lock(module.params.get("lock_timeout", DEFAULT_LOCK_TIMEOUT)), Netlink() as nl:
            return converge(engine, module.params, module.check_mode, nl)

    exit_with(module, cycle)
