#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: lambda_tracing
short_description: Set X-Ray tracing on a fleet of Lambda functions
version_added: 0.1.0
description:
  - Sets C(TracingConfig) on each selected function of one account-region, in one task.
  - With C(Active), gives each function's execution role an inline policy (C(lambdaopt-xray-write)) with
    the two actions tracing needs, C(xray:PutTraceSegments) and C(xray:PutTelemetryRecords), and nothing
    more. X-Ray does not scope these actions to resources, so the policy names C(*).
  - With C(PassThrough), removes that policy again. It never touches other policies of the role.
  - The role is given its permission before tracing is switched on. Check mode returns the plan; C(--diff)
    shows it. One function failing does not stop the others; the task fails at the end and names it.
options:
  mode:
    description: The tracing mode to set.
    type: str
    choices: [Active, PassThrough]
    default: Active
extends_documentation_fragment:
  - tap.lambdaopt.fleet
  - tap.lambdaopt.updates
  - tap.lambdaopt.function_updates
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - tap.lambdaopt maintainers
"""

EXAMPLES = r"""
- name: Trace every dev function
  tap.lambdaopt.lambda_tracing:
    suffix: dev

- name: Stop tracing the batch functions
  tap.lambdaopt.lambda_tracing:
    suffix: prod
    name_pattern: "batch-*"
    mode: PassThrough
"""

RETURN = r"""
functions:
  description: One entry per selected function, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    function_name:
      description: The function's name.
      type: str
      sample: api-handler-dev
    status:
      description: C(changed), C(unchanged), C(planned) (check mode) or C(failed).
      type: str
      sample: changed
    before:
      description: Tracing mode, and whether the role has the trace-write policy, before the task.
      type: dict
      sample: {"tracing_mode": "PassThrough", "role_policy": false}
    after:
      description: The same after the task (planned in check mode).
      type: dict
      sample: {"tracing_mode": "Active", "role_policy": true}
    role_name:
      description: The function's execution role.
      type: str
      sample: api-handler-role-dev
    error:
      description: Why the function failed, when it did.
      type: str
      returned: when status is failed
failed_functions:
  description: Names of functions that could not be changed or were not found.
  returned: always
  type: list
  elements: str
  sample: []
role_policies:
  description:
    - Each execution role whose inline policy of this module the task changed (or would change), with the
      policy document before and after (C(null) where the role had or keeps none), so that the change can be
      undone.
    - C(status) is C(planned) in check mode; C(changed) once written, even where the role's functions then
      failed (the policy stays, and the change record holds it); C(failed), with C(error) and C(after) equal to
      C(before), when IAM refused it.
  returned: always
  type: list
  elements: dict
  sample: [{"role_name": "api-handler-role-dev", "policy_name": "lambdaopt-xray-write", "before": null,
            "after": {"Version": "2012-10-17", "Statement": []}, "status": "changed"}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.tap.lambdaopt.plugins.module_utils import roles
from ansible_collections.tap.lambdaopt.plugins.module_utils.applying import grant_then_apply
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import (
    FLEET_ARGUMENT_SPEC,
    FLEET_REQUIRED_ONE_OF,
    UPDATE_ARGUMENT_SPEC,
    aws_client,
    exit_with_function_results,
    fleet_selection_errors,
    update_option_errors,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.fleet_usage import discover

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

POLICY_NAME = "lambdaopt-xray-write"
TRACE_WRITE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "WriteXRayTraces",
        "Effect": "Allow",
        "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
        # X-Ray's trace-write actions support no resource-level scoping.
        "Resource": "*",
    }],
}


def plan(iam, functions: list, mode: str) -> tuple[list, dict]:
    """(entries, {role: (policy document now, document wanted)})."""
    documents = {}  # roles shared by several functions are read once
    entries = []
    for function in functions:
        role = roles.role_name(function["configuration"]["role_arn"])
        if role not in documents:
            documents[role] = (roles.inline_policy(iam, role, POLICY_NAME),
                               TRACE_WRITE_POLICY if mode == "Active" else None)
        before = {"tracing_mode": function["configuration"]["tracing_mode"],
                  "role_policy": documents[role][0] == TRACE_WRITE_POLICY}
        after = {"tracing_mode": mode, "role_policy": mode == "Active"}
        entries.append({
            "function_name": function["function_name"],
            "role_name": role,
            "before": before,
            "after": after,
            "status": "unchanged" if before == after else "planned",
        })
    return entries, documents


def apply(module, iam, lambda_client, entries: list) -> dict:
    """Grant, then set tracing; {role: the error its grant met, or None}."""
    pending = [entry for entry in entries if entry["status"] == "planned"]
    policy_changes = {entry["role_name"] for entry in pending
                      if entry["before"]["role_policy"] != entry["after"]["role_policy"]}

    def grant(role):
        if role not in policy_changes:
            return
        if module.params["mode"] == "Active":
            roles.put_inline_policy(iam, role, POLICY_NAME, TRACE_WRITE_POLICY)
        else:
            roles.delete_inline_policy(iam, role, POLICY_NAME)

    # Tracing goes on only where the role can already write traces.
    return grant_then_apply(
        lambda_client, pending, grant,
        lambda entry: {"tracing_mode": entry["after"]["tracing_mode"]}
        if entry["before"]["tracing_mode"] != entry["after"]["tracing_mode"] else {},
        module.params["requests_per_second"], module.params["max_workers"],
    )


def main():
    argument_spec = dict(
        mode=dict(type="str", choices=["Active", "PassThrough"], default="Active"),
        **FLEET_ARGUMENT_SPEC,
        **UPDATE_ARGUMENT_SPEC,
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, required_one_of=FLEET_REQUIRED_ONE_OF,
                              supports_check_mode=True)
    errors = fleet_selection_errors(module.params) + update_option_errors(module.params)
    if errors:
        module.fail_json(msg="; ".join(errors))

    lambda_client, iam = aws_client(module, "lambda"), aws_client(module, "iam")
    try:
        functions, missing = discover(lambda_client, module.params, need_concurrency=False)
        entries, documents = plan(iam, functions, module.params["mode"])
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg="Could not read the fleet's tracing")
    granted = None if module.check_mode else apply(module, iam, lambda_client, entries)

    exit_with_function_results(module, entries, missing, "could not set tracing",
                               role_policies=roles.policy_changes(documents, POLICY_NAME, granted))


if __name__ == "__main__":
    main()
