# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""tap.lambdaopt.permission_check reads the collection's IAM policy here, on the controller (the policies are files
of the collection, which a module on the host cannot reach), and hands it to the module, which asks IAM."""

from __future__ import annotations

import json
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.tap.lambdaopt.plugins.module_utils import permissions

POLICIES = Path(__file__).resolve().parents[2] / "policies"
POLICY_FILES = {"run": permissions.RUN_POLICY, "read_only": permissions.READ_ONLY_POLICY}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        arguments = dict(self._task.args)
        if arguments.get("policy_document") is None:
            # A dry run needs only reads, and is checked against the read-only policy.
            name = arguments.get("policy") or ("read_only" if self._task.check_mode else "run")
            if name not in POLICY_FILES:
                raise AnsibleActionFail(f"policy must be one of {sorted(POLICY_FILES)}, not {name!r}")
            arguments.update(policy=name, policy_document=json.loads((POLICIES / POLICY_FILES[name]).read_text()))
        result.update(self._execute_module(module_name="tap.lambdaopt.permission_check", module_args=arguments,
                                           task_vars=task_vars))
        return result
