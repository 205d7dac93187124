# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Want + have -> target state -> ordered actions. Pure: no kernel, no Ansible.

Every resource module plans the same way: the ``state`` decides which objects
exist afterwards (the target), and the actions are the difference between
what is there now and that target. ``changed`` is ``bool(actions)``.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Protocol, TypeVar

from ansible_collections.netplumb.container.plugins.module_utils._errors import ConflictError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._model import Action

Obj = TypeVar("Obj")


class Resource(Protocol[Obj]):
    """What a resource tells the planner about its objects."""

    kind: str
    # Optional ``adopts_foreign`` (default True): False refuses to take over an existing object
    # the collection did not create unless ``force`` (namespaces).

    def key(self, obj: Obj) -> Hashable: ...

    def label(self, key: Hashable) -> str: ...

    def owned(self, obj: Obj) -> bool: ...

    def merge(self, have: Obj | None, want: Obj, replace: bool) -> Obj: ...

    def create(self, obj: Obj) -> list[Action]: ...

    def update(self, have: Obj, want: Obj) -> list[Action]: ...

    def delete(self, obj: Obj) -> list[Action]: ...


class NamedResource:
    """The common case of a Resource: objects keyed and labelled by ``name``, owned as read (``owned``)."""

    kind: str
    adopts_foreign = True

    def key(self, obj: Any) -> Hashable:
        return obj.name

    def label(self, key: Hashable) -> str:
        return str(key)

    def owned(self, obj: Any) -> bool:
        return obj.owned


class Scope:
    """Which existing objects ``overridden`` and ``deleted`` (without config) may remove.

    Only objects the collection owns, and among those only the ones the
    caller's scope matches (a name prefix, or a resource-specific test).
    """

    def __init__(self, prefix: str | None = None, match: Callable[[Any], bool] | None = None) -> None:
        self.prefix = prefix
        self._match = match

    def covers(self, name: str, obj: Any = None) -> bool:
        if self.prefix is not None and not name.startswith(self.prefix):
            return False
        return self._match is None or self._match(obj)


def target_state(
    resource: Resource,
    have: dict[Hashable, Any],
    want: list[Any],
    state: str,
    scope: Scope | None,
    force: bool = False,
    scope_name: Callable[[Any], str] | None = None,
) -> dict[Hashable, Any]:
    """The objects that should exist when the run is done."""
    after = dict(have)
    needs_scope = state == "overridden" or (state == "deleted" and not want)
    if needs_scope and scope is None:
        raise ValidationError(
            f"state={state}{' without config' if state == 'deleted' else ''} removes {resource.kind} objects "
            "that are not listed, so it needs an explicit scope (for example scope: {prefix: ...}); "
            f"it only ever removes {resource.kind} objects that netplumb.container created"
        )
    if state == "deleted":
        if want:
            for obj in want:
                key = resource.key(obj)
                if key not in have:
                    continue
                if not resource.owned(have[key]) and not force:
                    raise ConflictError(
                        f"{resource.kind} {resource.label(key)} exists but was not created by netplumb.container; "
                        "refusing to delete it (set force: true to delete it anyway)"
                    )
                del after[key]
        else:
            for key, obj in have.items():
                if resource.owned(obj) and scope.covers(_name(scope_name, obj, resource, key), obj):
                    del after[key]
        return after

    wanted = set()
    for obj in want:
        key = resource.key(obj)
        wanted.add(key)
        current = have.get(key)
        if (
            current is not None
            and not resource.owned(current)
            and not force
            and not getattr(resource, "adopts_foreign", True)
        ):
            raise ConflictError(
                f"{resource.kind} {resource.label(key)} exists but was not created by netplumb.container; "
                "refusing to adopt it (set force: true to manage it anyway)"
            )
        after[key] = resource.merge(have.get(key), obj, replace=state in ("replaced", "overridden"))
    if state == "overridden":
        for key, obj in have.items():
            if key in wanted:
                continue
            if resource.owned(obj) and scope.covers(_name(scope_name, obj, resource, key), obj):
                del after[key]
    return after


def _name(scope_name, obj, resource, key) -> str:
    return scope_name(obj) if scope_name else resource.label(key)


def plan(resource: Resource, have: dict[Hashable, Any], after: dict[Hashable, Any]) -> list[Action]:
    """Actions that turn ``have`` into ``after``, ordered by phase (stable within a phase)."""
    actions: list[Action] = []
    for key, obj in have.items():
        if key not in after:
            actions.extend(resource.delete(obj))
    for key, obj in after.items():
        if key not in have:
            actions.extend(resource.create(obj))
        elif obj != have[key]:
            actions.extend(resource.update(have[key], obj))
    return sorted(actions, key=lambda a: a.phase)


def diff_view(resource: Resource, have: dict, after: dict, render: Callable[[Any], dict]) -> dict[str, Any]:
    """before/after of the objects the run touches, keyed by their label."""
    touched = [k for k in set(have) | set(after) if have.get(k) != after.get(k)]
    touched.sort(key=resource.label)
    before = {resource.label(k): render(have[k]) for k in touched if k in have}
    later = {resource.label(k): render(after[k]) for k in touched if k in after}
    return {"before": before, "after": later}
