# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stdout callback for the integration tests: one JSON document of every task result (ansible-core has
no JSON callback any more; ansible.posix is not a dependency)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: netplumb_test_json
type: stdout
short_description: Task results as one JSON document (tests only)
description:
  - Prints one JSON document with the results of every task per play and host, and the stats.
  - Warnings go to stderr, as with the default callback.
"""

import json

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "netplumb_test_json"

    def __init__(self) -> None:
        super().__init__()
        self.plays: list[dict] = []

    def v2_playbook_on_play_start(self, play) -> None:
        self.plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        # run_once: the task reports on the first host only (its facts still reach every host).
        record = {
            "name": task.get_name(),
            "run_once": bool(task.run_once),
            "action": task.resolved_action or task.action,
        }
        self.plays[-1]["tasks"].append({"task": record, "hosts": {}})

    def v2_playbook_on_handler_task_start(self, task) -> None:
        self.v2_playbook_on_task_start(task, False)

    def _record(self, result, **flags) -> None:
        data = dict(result._result)
        data.update(flags)
        self.plays[-1]["tasks"][-1]["hosts"][result._host.get_name()] = json.loads(
            json.dumps(data, default=str)  # tagged/unsafe strings -> plain JSON
        )
        # Warnings (and deprecations) to stderr, as "[WARNING]: ...", like the default callback; stdout stays JSON.
        handle = getattr(self, "_handle_warnings", None)
        if handle is not None:
            handle(dict(result._result))

    def v2_runner_on_ok(self, result) -> None:
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result) -> None:
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result) -> None:
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats) -> None:
        summary = {h: stats.summarize(h) for h in sorted(stats.processed)}
        self._display.display(json.dumps({"plays": self.plays, "stats": summary}))
