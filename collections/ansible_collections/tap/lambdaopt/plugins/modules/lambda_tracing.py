#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lambda_tracing
short_description: Set X-Ray tracing on a fleet of Lambda functions
version_added: 0.1.0
description:
  - Sets C(TracingConfig) on each selected function of one account-region, in one task.
  - With C(Active), gives each function's execution role a statement in its inline policy C(lambdaopt-xray-write)
    with the two actions tracing needs, C(xray:PutTraceSegments) and C(xray:PutTelemetryRecords), and nothing
    more. X-Ray does not scope these actions to resources, so the statement names C(*).
  - The statement is named (Sid) after the suffix, e.g. C(LambdaoptXrayWriteFordev), and merged with what the
    policy holds; statements of other suffixes, or written by hand, are never touched, so a role shared by
    several fleets, or with functions outside any fleet, keeps every grant they need.
  - With C(PassThrough), drops this suffix's statement again, unless a function on the role (of any suffix, or of
    none) still traces; the result then says which (C(reason)). A policy left with no statement is deleted. It
    never touches other policies of the role.
  - A role whose inline policies would together exceed IAM's limit of 10,240 characters is not written, and its
    functions fail with the reason.
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
  - tap.lambdaopt.execution_roles
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - tap.lambdaopt maintainers (!UNKNOWN)
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
    reason:
      description: Why the role keeps X-Ray write though this function stops tracing.
      type: str
      returned: when a function on the role still traces
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
    - Each execution role whose inline policy of this module the task changed (or would change), with this
      suffix's statements of it before and after (C(null) where there were or are none), so that the change can
      be undone without touching other statements.
    - C(status) is C(planned) in check mode; C(changed) once written, even where the role's functions then
      failed (the policy stays, and the change record holds it); C(failed), with C(error) and C(after) equal to
      C(before), when IAM refused it.
  returned: always
  type: list
  elements: dict
  sample: [{"role_name": "api-handler-role-dev", "policy_name": "lambdaopt-xray-write", "before": null,
            "after": {"Version": "2012-10-17", "Statement": [{"Sid": "LambdaoptXrayWriteFordev", "Effect": "Allow",
                      "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "Resource": "*"}]},
            "status": "changed"}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.tap.lambdaopt.plugins.module_utils import policy_merge, roles
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.api import grant_then_apply
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.discovery import discover, list_functions
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import (
    FLEET_ARGUMENT_SPEC,
    FLEET_REQUIRED_ONE_OF,
    UPDATE_ARGUMENT_SPEC,
    aws_client,
    fleet_selection_errors,
    update_option_errors,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.results import bulk_result, finish

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

POLICY_NAME = "lambdaopt-xray-write"
GRANT = "XrayWrite"
# X-Ray's trace-write actions support no resource-level scoping.
TRACE_WRITE_ACTIONS = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]


def trace_write_statement(sid: str) -> dict:
    return policy_merge.statement(sid, TRACE_WRITE_ACTIONS, ["*"])


def tracing_users(functions: list, role_arns: set, leaving: set) -> dict:
    """{role ARN: names of its functions that trace and keep tracing}: every function of the account-region on one
    of `role_arns` with tracing Active, except those in `leaving` (this task turns their tracing off)."""
    users: dict = {}
    for function in functions:
        if function.get("Role") in role_arns and function["FunctionName"] not in leaving and (
                function.get("TracingConfig") or {}).get("Mode") == "Active":
            users.setdefault(function["Role"], []).append(function["FunctionName"])
    return users


def plan(iam, functions: list, mode: str, suffix: str | None, account_functions: list | None = None,
         known_policies: dict | None = None) -> tuple[list, dict]:
    """(entries, {role: RolePolicy}). The role's trace-write statement of this suffix is added with Active; with
    PassThrough it is dropped, unless a function on the role (of any suffix, or of none) still traces."""
    keepers = tracing_users(account_functions or [], {function["configuration"]["role_arn"] for function in functions},
                            {function["function_name"] for function in functions})
    names_by_role: dict = {}
    for function in functions:
        names_by_role.setdefault(roles.role_name(function["configuration"]["role_arn"]), []).append(
            function["function_name"])
    policies, wanted = {}, {}  # roles shared by several functions are read once
    entries = []
    for function in functions:
        role_arn = function["configuration"]["role_arn"]
        role = roles.role_name(role_arn)
        if role not in policies:
            keep = mode == "Active" or bool(keepers.get(role_arn))

            def build(current, role=role, keep=keep):
                sid, owned = policy_merge.run_sids(current, GRANT, suffix, names_by_role[role])
                wanted[role] = trace_write_statement(sid)
                return owned, [wanted[role]] if keep else [], None

            policies[role] = roles.plan_role_policy(iam, role, POLICY_NAME, build, role_arn,
                                                    (known_policies or {}).get(role))
        policy = policies[role]
        granted = policy_merge.same_statements(policy.before, policy_merge.document_of([wanted[role]]))
        before = {"tracing_mode": function["configuration"]["tracing_mode"], "role_policy": granted}
        after = {"tracing_mode": mode, "role_policy": mode == "Active" or (granted and bool(keepers.get(role_arn)))}
        entry = {"function_name": function["function_name"], "role_name": role, "before": before, "after": after,
                 "status": "unchanged" if before == after else "planned"}
        if mode != "Active" and keepers.get(role_arn) and granted:
            entry["reason"] = (f"its role keeps X-Ray write while {', '.join(sorted(keepers[role_arn]))} on it "
                               "traces")
        if policy.error and entry["status"] == "planned":
            entry.update(status="failed", after=before, error=policy.error)
        entries.append(entry)
    return entries, policies


def apply(module, iam, lambda_client, entries: list, policies: dict, functions: list) -> dict:
    """Grant, then set tracing; {role: the error its grant met, or None}. `functions`: as discovered."""
    pending = [entry for entry in entries if entry["status"] == "planned"]

    # Tracing goes on only where the role can already write traces.
    return grant_then_apply(
        lambda_client, pending, lambda role: roles.write_role_policy(iam, policies[role]),
        lambda entry: {"tracing_mode": entry["after"]["tracing_mode"]}
        if entry["before"]["tracing_mode"] != entry["after"]["tracing_mode"] else {},
        module.params["requests_per_second"], module.params["max_workers"],
        read={function["function_name"]: function for function in functions},
    )


def main():
    argument_spec = dict(
        mode=dict(type="str", choices=["Active", "PassThrough"], default="Active"),
        roles=dict(type="dict"),
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
        # Turning tracing off, the role's other functions say whether it still needs to write traces.
        account_functions = list_functions(lambda_client) if module.params["mode"] != "Active" else None
        known = roles.policies_to_plan_from(
            module, iam, [roles.role_name(function["configuration"]["role_arn"]) for function in functions])
        entries, policies = plan(iam, functions, module.params["mode"], module.params["suffix"], account_functions,
                                 known)
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg="Could not read the fleet's tracing")
    granted = None if module.check_mode else apply(module, iam, lambda_client, entries, policies, functions)

    finish(module, bulk_result(module, "functions", entries, missing,
                               role_policies=roles.role_policy_changes(policies, POLICY_NAME, granted)),
           "could not set tracing")


if __name__ == "__main__":
    main()
