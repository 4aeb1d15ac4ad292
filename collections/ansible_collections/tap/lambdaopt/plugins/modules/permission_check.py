#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: permission_check
short_description: Check, before anything changes, that the credentials may do what a run's steps need
version_added: 0.3.0
description:
  - Asks IAM's policy simulator (C(iam:SimulatePrincipalPolicy)) whether the caller may perform every action of
    the collection's IAM policy that the enabled O(steps) need, on the fleet's resources (functions C(*-<suffix>),
    their log groups, the collection's queues, alarms, run lock and tables). Fails, naming every action missing
    and on what, so that a run stops before its first change rather than part-way through.
  - The caller is the principal of C(sts:GetCallerIdentity); an assumed role is simulated as its role
    (C(arn:aws:sts::<account>:assumed-role/<role>/<session>) becomes C(arn:aws:iam::<account>:role/<role>)), a user
    as itself.
  - Where IAM cannot tell (the caller may not use C(iam:SimulatePrincipalPolicy), is no IAM user or role - the root
    user, a federated user - or its role has a path the assumed-role ARN does not show), the task warns that the
    check was skipped, and succeeds, so that the run goes on as it would have without it.
  - The policy is the collection's own (C(policies/lambdaopt-run.json), or C(policies/lambdaopt-read-only.json) in
    check mode, a dry run needing only reads), read on the controller; O(policy_document) checks another.
  - The simulator evaluates the caller's identity policies and permissions boundary, not service control
    policies or resource policies; an action an SCP denies still fails the run when it is made.
  - Makes no change; C(changed) is always false.
options:
  suffix:
    description:
      - The fleet's suffix; the policy's C({{ suffix }}) placeholders become it.
      - Without it (a rollback from a change record, which does not name its suffix) the check is skipped with a
        warning, before any AWS call.
    type: str
  steps:
    description:
      - The run's enabled steps; the statements every run needs (Sids beginning with C(Read)) are always checked.
    type: list
    elements: str
    choices: [run_lock, provisioned, rightsize, canary, retention, export, tracing, dead_letter, alarms, secrets,
              tables, rollback]
    default: []
  policy:
    description:
      - Which of the collection's policies to check against. Defaults to C(read_only) in check mode, else C(run).
    type: str
    choices: [run, read_only]
  policy_document:
    description:
      - A policy document to check against instead, with C({{ suffix }}) placeholders and Sids named as the
        collection's are (a statement whose Sid names no step is not checked).
    type: dict
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - tap.lambdaopt contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Check the credentials may right-size and set retention on the dev fleet
  tap.lambdaopt.permission_check:
    suffix: dev
    steps: [run_lock, rightsize, retention]

- name: Check a dry run's reads only
  tap.lambdaopt.permission_check:
    suffix: "{{ suffix }}"
    policy: read_only
"""

RETURN = r"""
checked:
  description: Whether IAM's simulator was asked; false when the check was skipped (with a warning saying why).
  returned: always
  type: bool
  sample: true
principal:
  description: The IAM principal simulated (or the caller, when the check was skipped; null without O(suffix)).
  returned: always
  type: str
  sample: arn:aws:iam::123456789012:role/lambdaopt-dev
policy:
  description: The collection's policy checked against, or C(given) for O(policy_document).
  returned: always
  type: str
  sample: run
actions:
  description: How many actions were simulated.
  returned: always
  type: int
  sample: 42
missing:
  description: Each action the caller may not perform, on which resource, and IAM's decision.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "lambda:UpdateFunctionConfiguration",
            "resource": "arn:aws:lambda:us-east-1:123456789012:function:*-dev", "decision": "implicitDeny"}]
skipped:
  description: Why the check was skipped; null when it was made.
  returned: always
  type: str
  sample: null
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.tap.lambdaopt.plugins.module_utils import permissions
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import SUFFIX_PATTERN, aws_client
from ansible_collections.tap.lambdaopt.plugins.module_utils.results import finish

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

# Answers that mean IAM will not simulate this caller, rather than that something is wrong.
CANNOT_SIMULATE = ("AccessDenied", "AccessDeniedException", "NoSuchEntity", "InvalidInput")


def skipped(principal: str, policy: str, reason: str) -> dict:
    return dict(changed=False, checked=False, principal=principal, policy=policy, actions=0, missing=[],
                skipped=reason)


def simulate(iam, principal: str, requests: list) -> list:
    results = []
    paginator = iam.get_paginator("simulate_principal_policy")
    for request in requests:
        for page in paginator.paginate(PolicySourceArn=principal, ActionNames=list(request.actions),
                                       ResourceArns=list(request.resources)):
            results.extend(page["EvaluationResults"])
    return results


def check(module, document: dict, policy: str) -> dict:
    params = module.params
    identity = aws_client(module, "sts").get_caller_identity()
    caller = identity["Arn"]
    principal = permissions.principal_to_simulate(caller)
    if principal is None:
        reason = f"IAM's policy simulator takes an IAM user or role, not {caller}"
        module.warn(f"permission check skipped: {reason}; the run goes on unchecked")
        return skipped(caller, policy, reason)
    statements = permissions.statements_for(permissions.render(document, params["suffix"]), params["steps"])
    partition = caller.split(":", 2)[1]
    requests = permissions.requests(statements, partition, module.region, identity["Account"])
    try:
        results = simulate(aws_client(module, "iam"), principal, requests)
    except is_boto3_error_code(list(CANNOT_SIMULATE)) as error:
        code = error.response["Error"]["Code"]
        reason = (f"{caller} may not use iam:SimulatePrincipalPolicy on {principal}" if code.startswith("AccessDenied")
                  else f"IAM did not simulate {principal}: {error.response['Error'].get('Message', code)}")
        module.warn(f"permission check skipped: {reason}; the run goes on unchecked, and a missing permission "
                    "will stop it when first needed")
        return skipped(principal, policy, reason)
    missing = permissions.denied(results)
    result = dict(changed=False, checked=True, principal=principal, policy=policy,
                  actions=sum(len(request.actions) for request in requests), missing=missing, skipped=None)
    if missing:
        module.fail_json(msg=permissions.missing_message(missing, principal), **result)
    return result


def main():
    argument_spec = dict(
        suffix=dict(type="str"),
        steps=dict(type="list", elements="str", default=[],
                   choices=[step for step in permissions.STEPS if step != permissions.READ]),
        policy=dict(type="str", choices=["run", "read_only"]),
        policy_document=dict(type="dict"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    if params["suffix"] and not SUFFIX_PATTERN.fullmatch(params["suffix"]):
        module.fail_json(msg=f"suffix {params['suffix']!r} must be lowercase letters, digits and inner hyphens")
    if params["policy_document"] is None:
        module.fail_json(msg="no policy_document: run this module as tap.lambdaopt.permission_check, whose action "
                             "reads the collection's policy on the controller, or pass one")
    policy = params["policy"] or ("given" if params["policy_document"] else "run")
    if not params["suffix"]:
        module.warn("permission check skipped: no suffix to scope the policy to (pass -e suffix=...)")
        module.exit_json(**skipped(None, policy, "no suffix"))
    try:
        result = check(module, params["policy_document"], policy)
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg="Could not check the caller's permissions")
    finish(module, result, "could not check the caller's permissions")


if __name__ == "__main__":
    main()
