"""Ansible callback: marks each task's start, and the run's end, in the local emulator's call ledger.

Enabled for one command only, e.g. by tools/benchmark.py:

    ANSIBLE_CALLBACK_PLUGINS=tools/callback_plugins ANSIBLE_CALLBACKS_ENABLED=ledger_marks \
    LAMBDAOPT_LEDGER_MARKS=/tmp/marks.jsonl ansible-playbook playbooks/optimize.yml ...

At each task's start and at the end of the run it reads the emulator's ledger over HTTP
(GET {AWS_ENDPOINT_URL}/lambdaopt-api/ledger, see tools/api_quotas.py) and appends one JSON line to the marks file:
the time (time.monotonic(), which every process on the machine shares), the task and the ledger as it was. The
calls a task made are the difference between its mark and the next one: tasks of one host run one after another,
and each task's calls have been answered before the next task starts. Each task's result adds a line with its
status. The ledger is read, never reset, so the run's own counts stay whole.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: ledger_marks
type: aggregate
short_description: Marks task boundaries in the local AWS emulator's call ledger
description:
  - At each task's start and at the end of the playbook, reads the emulator's call ledger and appends it, with the
    time and the task, to a JSON lines file; each task's result appends its status.
requirements:
  - enable in configuration (callbacks_enabled)
options:
  endpoint:
    description: The emulator's endpoint, whose C(/lambdaopt-api/ledger) is read.
    type: str
    required: true
    env:
      - name: AWS_ENDPOINT_URL
  marks_file:
    description: The JSON lines file the marks are appended to.
    type: path
    required: true
    env:
      - name: LAMBDAOPT_LEDGER_MARKS
"""

LEDGER_PATH = "/lambdaopt-api/ledger"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "ledger_marks"
    CALLBACK_NEEDS_ENABLED = True

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        endpoint = self.get_option("endpoint")
        self._ledger_url = endpoint.rstrip("/") + LEDGER_PATH
        # The ledger is the local emulator's: never send requests for it anywhere else.
        if urllib.parse.urlsplit(endpoint).hostname not in LOOPBACK:
            self._display.warning(f"ledger_marks reads the local emulator's ledger only, not {endpoint}: disabled")
            self.disabled = True
        self._marks_file = self.get_option("marks_file")

    def _ledger(self):
        try:
            with urllib.request.urlopen(self._ledger_url, timeout=30) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as error:
            self._display.warning(f"ledger_marks could not read {self._ledger_url}: {error}")
            return None

    def _append(self, mark):
        with open(self._marks_file, "a", encoding="utf-8") as marks:
            marks.write(json.dumps(mark) + "\n")

    def _mark(self, kind, **fields):
        # Reading the ledger takes milliseconds, counted in the task that ends here.
        ledger = self._ledger()
        self._append({"mark": kind, "at": time.monotonic(), "ledger": ledger, **fields})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._mark("task", uuid=task._uuid, name=task.get_name(), action=task.action)

    def v2_playbook_on_handler_task_start(self, task):
        self._mark("task", uuid=task._uuid, name=task.get_name(), action=task.action)

    def _result(self, result, status):
        self._append({"mark": "result", "uuid": result.task._uuid, "status": status})

    def v2_runner_on_ok(self, result):
        self._result(result, "changed" if result.is_changed() else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._result(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._result(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._mark("end")
