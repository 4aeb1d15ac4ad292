#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lambda_dlq
short_description: Give a fleet of Lambda functions an SQS dead-letter queue
version_added: 0.1.0
description:
  - Ensures an SQS queue for failed asynchronous invocations, one for the whole suffix (C(lambda-dlq-<suffix>))
    or one per function (C(<function>-dlq)), with 14-day message retention and server-side encryption
    (SQS-managed keys, SSE-SQS, or the KMS key O(kms_key_id)), tagged. An existing queue that is already
    encrypted with a KMS key keeps its key unless O(kms_key_id) names another; an unencrypted one gets SSE-SQS.
  - Grants each function's execution role C(sqs:SendMessage) on its queue only, in the inline policy
    C(lambdaopt-dlq-send), then sets the function's C(DeadLetterConfig).
  - The grants are statements named after the suffix (C(LambdaoptDlqSendFor<suffix>),
    C(LambdaoptDlqKeyFor<suffix>)), merged with what the policy holds; statements of other suffixes, or written by
    hand, are never touched, and a queue the suffix's statement names stays in it while another function of the
    role still sends to it.
  - Once the role's inline policies would pass 8,192 characters, the suffix's per-function queues are granted as
    one pattern, C(arn:...:*-<suffix>-dlq); a role that would still exceed IAM's limit of 10,240 characters is not
    written, and its functions fail with the reason.
  - When the queue is encrypted with a customer managed KMS key, the same policy grants C(kms:GenerateDataKey)
    and C(kms:Decrypt) on exactly that key's ARN (read with C(kms:DescribeKey)). Without them Lambda cannot send
    to the queue and drops the failed events, counted only by the C(DeadLetterErrors) metric. SSE-SQS and the
    AWS managed key C(alias/aws/sqs) need no grant (its key policy already allows every principal of the
    account that may use SQS).
  - A function that already sends to a different dead-letter queue keeps it unless O(replace_existing) is set;
    the result says so. When that queue is encrypted with a customer managed key, the role gets the same KMS
    grant on it.
  - A function whose queue's key cannot be resolved (no C(kms:DescribeKey) permission, deleted, disabled or
    pending deletion), or whose kept queue cannot be read, fails with the reason, and its dead-letter target is
    left as it was.
  - Check mode returns the plan, C(--diff) shows it; a second run changes nothing. One function failing does
    not stop the others; the task fails at the end and names it.
options:
  queue_name:
    description: Name of the shared queue. Defaults to C(lambda-dlq-<suffix>); required without O(suffix).
    type: str
  per_function:
    description: One queue per function, named C(<function>-dlq), instead of one shared queue.
    type: bool
    default: false
  kms_key_id:
    description:
      - Encrypt with this KMS key (key id, key ARN, alias name or alias ARN) instead of SQS-managed keys.
      - Without it, a queue the module creates uses SSE-SQS, and an existing queue keeps the KMS key it has.
    type: str
  queue_tags:
    description: Tags for the queues the module creates or manages.
    type: dict
    default: {}
  replace_existing:
    description: Point functions that already have a different dead-letter queue at this one.
    type: bool
    default: false
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
- name: One encrypted dead-letter queue for the dev fleet
  tap.lambdaopt.lambda_dlq:
    suffix: dev
    queue_tags:
      Environment: dev

- name: A queue per function, encrypted with our own key
  tap.lambdaopt.lambda_dlq:
    suffix: prod
    per_function: true
    kms_key_id: alias/lambda-dlq
"""

RETURN = r"""
queues:
  description: The queues the functions send to, and what was done to them.
  returned: always
  type: list
  elements: dict
  sample: [{"queue_name": "lambda-dlq-dev", "queue_arn": "arn:aws:sqs:us-east-1:123456789012:lambda-dlq-dev",
            "status": "created", "attributes": {"MessageRetentionPeriod": "1209600", "SqsManagedSseEnabled": "true"}}]
  contains:
    status:
      description:
        - C(created), C(changed), C(unchanged), C(planned) (check mode) or C(failed) (its KMS key cannot be used,
          or SQS refused it, or an AWS error stopped the task before it; the queue is left as it is).
        - A queue created or changed before a later step of it failed keeps C(created) or C(changed), with
          C(error); no function is pointed at it.
      type: str
    kms_key_arn:
      description: The customer managed KMS key the queue encrypts with.
      type: str
      returned: when the queue is encrypted with a customer managed key
    error:
      description: Why the queue cannot be used.
      type: str
      returned: when the queue failed, or a step of it did
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
      description:
        - C(changed), C(unchanged), C(kept_existing), C(planned) (check mode) or C(failed).
        - A function keeping its own queue is C(changed) (C(planned)) when its role was given the KMS grant
          that queue needs, else C(kept_existing).
      type: str
      sample: changed
    before:
      description: Dead-letter target and whether the role may send to the queue, before the task.
      type: dict
      sample: {"dead_letter_target": null, "role_policy": false}
    after:
      description: The same after the task (planned in check mode).
      type: dict
      sample: {"dead_letter_target": "arn:aws:sqs:us-east-1:123456789012:lambda-dlq-dev", "role_policy": true}
    kms_key_arn:
      description: The customer managed KMS key the function's queue encrypts with, which its role may use.
      type: str
      returned: when the queue is encrypted with a customer managed key
      sample: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
    reason:
      description: Why a function kept its existing queue.
      type: str
      returned: when the function keeps a queue of its own
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
  sample: [{"role_name": "api-handler-role-dev", "policy_name": "lambdaopt-dlq-send", "before": null,
            "after": {"Version": "2012-10-17", "Statement": []}, "status": "changed"}]
summary:
  description: How many functions were changed (or would be), unchanged, refused something or failed; C(failed)
    counts the functions not found too.
  returned: always
  type: dict
  sample: {"functions": 6, "changed": 6, "unchanged": 0, "with_refusals": 0, "failed": 0}
diff:
  description: C(before) and C(after) of each function changed (or to be changed), by function name.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"api-handler-dev": {"dead_letter_target": null, "role_policy": false}},
           "after": {"api-handler-dev": {"dead_letter_target": "arn:aws:sqs:us-east-1:123456789012:lambda-dlq-dev",
                                         "role_policy": true}}}
"""

import fnmatch
from dataclasses import dataclass, field

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.tap.lambdaopt.plugins.module_utils import journal, policy_merge, roles
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.api import grant_then_apply
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.discovery import discover, list_functions
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import (
    FLEET_ARGUMENT_SPEC,
    FLEET_REQUIRED_ONE_OF,
    UPDATE_ARGUMENT_SPEC,
    aws_client,
    fleet_selection_errors,
    format_arn,
    parse_whole_arn,
    retry_iam_propagation,
    update_option_errors,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.dlq_encryption import (
    SQS_MISSING_QUEUE_CODES,
    dlq_policy,
    qualified_key_id,
    queue_key_id,
    resolve_key,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.results import (
    CHANGED,
    CREATED,
    FAILED,
    KEPT_EXISTING,
    PLANNED,
    UNCHANGED,
    acted,
    bulk_result,
    fail_part_way,
    finish,
    not_applied,
)

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

POLICY_NAME = "lambdaopt-dlq-send"
SEND_GRANT = "DlqSend"
KEY_GRANT = "DlqKey"
RETENTION_SECONDS = str(14 * 24 * 3600)
QUEUE_NAME_LIMIT = 80
CREATE = "create"
UPDATE = "update"


def desired_attributes(kms_key_id: str | None, current: dict | None = None) -> dict:
    """The queue's settings: SSE-SQS unless a KMS key is asked for. A queue already encrypted with a KMS key
    keeps it when none is asked for: switching someone's own key to SQS-managed keys would undo their choice."""
    attributes = {"MessageRetentionPeriod": RETENTION_SECONDS}
    if kms_key_id:
        attributes["KmsMasterKeyId"] = kms_key_id
    elif not (current or {}).get("KmsMasterKeyId"):
        attributes["SqsManagedSseEnabled"] = "true"
    return attributes


def queue_arn(function_arn: str, queue_name: str) -> str:
    """The ARN of a queue in the account-region of a function."""
    return format_arn(parse_whole_arn(function_arn), service="sqs", resource=queue_name)


def is_queue_arn(arn: str) -> bool:
    """Whether a dead-letter target is an SQS queue (the other kind is an SNS topic)."""
    parts = parse_whole_arn(arn)
    return bool(parts) and parts["service"] == "sqs"


@dataclass
class QueuePlan:
    """A queue as the module returns it (`entry`), and what creating or changing it takes, kept beside the entry."""

    entry: dict
    action: str  # CREATE or UPDATE
    kms_key_id: str | None  # the KMS key it is (to be) encrypted with, as SQS names it
    url: str | None = None
    stale: dict = field(default_factory=dict)  # the attributes an existing queue is to be given


@dataclass
class FunctionTarget:
    """A function as the module returns it (`entry`), and the dead-letter target its role is granted for: the queue
    of this task (`queue`), or, for a function keeping its own queue, that queue when its key needs a grant; None
    when its role gets no grant."""

    entry: dict
    target: str | None = None
    queue: QueuePlan | None = None


class DeadLetterQueues:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.sqs = aws_client(module, "sqs")
        self.iam = aws_client(module, "iam")
        self.lambda_client = aws_client(module, "lambda")
        self.kms = aws_client(module, "kms")
        # What the module is doing, for the message of an AWS error that stops it.
        self.doing = "set up the dead-letter queues"
        self.keys: dict = {}  # qualified key id -> (key ARN to grant or None, error or None)
        self.granted: dict = {}  # role -> the error its grant met, or None
        self.account_functions: list | None = None  # ListFunctions, read only when a grant may be dropped
        self.selected: list = []  # the functions of this task
        self.missing: list = []
        self.queues: list = []  # [QueuePlan]
        self.functions: list = []  # [FunctionTarget]
        self.found: dict = {}  # {name: the function as discovered}
        self.policies: dict = {}  # role -> roles.RolePolicy

    def queue_for(self, function_name: str) -> str:
        if self.params["per_function"]:
            return f"{function_name}-dlq"
        return self.params["queue_name"] or f"lambda-dlq-{self.params['suffix']}"

    def plan_queue(self, name: str, arn: str) -> QueuePlan:
        kms_key_id = self.params["kms_key_id"]
        try:
            url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except is_boto3_error_code(SQS_MISSING_QUEUE_CODES):
            return QueuePlan({"queue_name": name, "queue_arn": arn, "status": PLANNED,
                              "attributes": desired_attributes(kms_key_id), "tags": self.params["queue_tags"]},
                             CREATE, kms_key_id)
        current = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        wanted = desired_attributes(kms_key_id, current)
        stale = {key: value for key, value in wanted.items() if current.get(key) != value}
        tags = self.sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        missing_tags = {key: str(value) for key, value in self.params["queue_tags"].items()
                        if tags.get(key) != str(value)}
        return QueuePlan({"queue_name": name, "queue_arn": current.get("QueueArn", arn),
                          "status": PLANNED if stale or missing_tags else UNCHANGED,
                          "attributes": {**{key: current.get(key) for key in wanted}, **stale}, "tags": missing_tags},
                         UPDATE, kms_key_id or current.get("KmsMasterKeyId") or None, url=url, stale=stale)

    def key_of(self, key_id: str, queue: str) -> tuple[str | None, str | None]:
        """(customer managed key ARN to grant, or None; why the key cannot be used, or None), read once per key."""
        qualified = qualified_key_id(key_id, queue)
        if qualified not in self.keys:
            self.keys[qualified] = resolve_key(self.kms, key_id, queue)
        return self.keys[qualified]

    def resolve_queue_key(self, queue: QueuePlan) -> None:
        """A queue whose key cannot be used is neither created nor changed: no function is pointed at it."""
        if not queue.kms_key_id:
            return
        key_arn, error = self.key_of(queue.kms_key_id, queue.entry["queue_arn"])
        if error:
            queue.entry.update(status=FAILED, error=error)
        elif key_arn:
            queue.entry["kms_key_arn"] = key_arn

    def plan_kept(self, function: FunctionTarget, current: str, target: str, grants: dict) -> None:
        """A function that keeps its own dead-letter queue: its role gets the KMS grant that queue needs."""
        entry = function.entry
        entry["reason"] = f"already sends to {current}; set replace_existing to use {target}"
        key_arn = None
        if is_queue_arn(current):
            key_id, error = queue_key_id(self.sqs, current)
            if key_id and not error:
                key_arn, error = self.key_of(key_id, current)
            if error:
                entry.update(status=FAILED, error=f"dead-letter queue {current}: {error}")
                return
        if key_arn:
            function.target = current
            entry["kms_key_arn"] = key_arn
            grants.setdefault(entry["role_name"], (set(), set()))[1].add(key_arn)
        else:
            entry["status"] = KEPT_EXISTING

    def plan(self, functions: list) -> tuple[list, list, dict]:
        """([QueuePlan], [FunctionTarget], {role: roles.RolePolicy})."""
        self.selected = [function["function_name"] for function in functions]
        queues = {}
        for function in functions:
            name = self.queue_for(function["function_name"])
            if name not in queues:
                queues[name] = self.plan_queue(name, queue_arn(function["function_arn"], name))
        for queue in queues.values():
            self.resolve_queue_key(queue)
        grants: dict = {}  # role -> (queue ARNs its functions send to, customer managed keys those queues use)
        targets = []
        for function in functions:
            queue = queues[self.queue_for(function["function_name"])]
            current = function["configuration"]["dead_letter_target"]
            planned = FunctionTarget({"function_name": function["function_name"],
                                      "role_name": roles.role_name(function["configuration"]["role_arn"]),
                                      "before": {"dead_letter_target": current}})
            targets.append(planned)
            entry = planned.entry
            if current and current != queue.entry["queue_arn"] and not self.params["replace_existing"]:
                self.plan_kept(planned, current, queue.entry["queue_arn"], grants)
                continue
            if queue.entry["status"] == FAILED:
                entry.update(status=FAILED,
                             error=f"dead-letter queue {queue.entry['queue_name']}: {queue.entry['error']}")
                continue
            planned.target, planned.queue = queue.entry["queue_arn"], queue
            queue_arns, key_arns = grants.setdefault(entry["role_name"], (set(), set()))
            queue_arns.add(planned.target)
            if queue.entry.get("kms_key_arn"):
                entry["kms_key_arn"] = queue.entry["kms_key_arn"]
                key_arns.add(queue.entry["kms_key_arn"])
        names_by_role: dict = {}
        role_arns = {}
        for function in functions:
            role = roles.role_name(function["configuration"]["role_arn"])
            names_by_role.setdefault(role, []).append(function["function_name"])
            role_arns[role] = function["configuration"]["role_arn"]
        known = roles.policies_to_plan_from(self.module, self.iam, list(grants))
        policies = {role: roles.plan_role_policy(self.iam, role, POLICY_NAME,
                                                 self.statements_builder(role, *grants[role], names_by_role[role]),
                                                 role_arns[role], known.get(role))
                    for role in grants}
        for planned in targets:
            entry = planned.entry
            if planned.target is None:  # failed, or keeps its own queue and needs no grant
                entry["after"] = entry["before"]
                continue
            policy = policies[entry["role_name"]]
            entry["before"]["role_policy"] = policy_merge.same_statements(policy.current, policy.wanted)
            entry["after"] = {"dead_letter_target": planned.target, "role_policy": True}
            if entry["before"] != entry["after"]:
                entry["status"] = PLANNED
                if policy.error:
                    entry.update(status=FAILED, after=entry["before"], error=policy.error)
            else:
                entry["status"] = KEPT_EXISTING if "reason" in entry else UNCHANGED
        return list(queues.values()), targets, policies

    def other_targets(self, role: str, selected: set) -> list:
        """The dead-letter targets of the role's functions outside this task (any suffix, or none), listed once."""
        if self.account_functions is None:
            self.account_functions = list_functions(self.lambda_client)
        return [function["DeadLetterConfig"]["TargetArn"] for function in self.account_functions
                if roles.role_name(function.get("Role", "")) == role and function["FunctionName"] not in selected
                and (function.get("DeadLetterConfig") or {}).get("TargetArn")]

    def statements_builder(self, role: str, queue_arns: set, key_arns: set, names: list):
        """plan_role_policy's `build` for one role: its suffix's statements send to the queues its functions in this
        task use, and to those a statement of the suffix names that another function of the role still sends to."""
        suffix = self.params["suffix"]

        def build(current):
            send_sid, send_owned = policy_merge.run_sids(current, SEND_GRANT, suffix, names)
            kms_sid, kms_owned = policy_merge.run_sids(current, KEY_GRANT, suffix, names)
            owned = send_owned | kms_owned
            queues, keys = set(queue_arns), set(key_arns)
            held = policy_merge.statements_of(policy_merge.owned(current, owned))
            held_queues = {arn for entry in held if "sqs:SendMessage" in policy_merge.as_list(entry["Action"])
                           for arn in policy_merge.as_list(entry["Resource"])}
            dropped = held_queues - queues
            if dropped:
                targets = self.other_targets(role, set(self.selected))
                still_used = {arn for arn in dropped if any(fnmatch.fnmatchcase(target, arn) for target in targets)}
                if still_used:
                    # Which of the held keys those queues use is not read: the keys stay with them.
                    queues |= still_used
                    keys |= {arn for entry in held if "sqs:SendMessage" not in policy_merge.as_list(entry["Action"])
                             for arn in policy_merge.as_list(entry["Resource"])}
            statements = dlq_policy(sorted(queues), sorted(keys), send_sid, kms_sid)["Statement"]
            collapsed = dlq_policy(policy_merge.collapsed_queues(queues, suffix), sorted(keys), send_sid,
                                   kms_sid)["Statement"]
            return owned, statements, collapsed

        return build

    def apply_queues(self) -> None:
        """Create or update each planned queue. One AWS refuses is failed, with the error; one created or changed
        before a later step of it failed keeps that status, with the error: it exists as it was left."""
        for queue in self.queues:
            if queue.entry["status"] != PLANNED:
                continue
            try:
                self.apply_queue(queue)
            except (BotoCoreError, ClientError) as error:
                queue.entry["error"] = str(error)
                if queue.entry["status"] == PLANNED:
                    queue.entry["status"] = FAILED

    def apply_queue(self, queue: QueuePlan) -> None:
        """Create or change one queue, announced to the run's journal (journal.py) first: a killed run's rollback
        then lists it, as a change record does."""
        entry = queue.entry
        accepted = journal.announce("resource", entry["queue_arn"], resource_kind="sqs_queue", name=entry["queue_name"],
                                    change=CREATED if queue.action == CREATE else CHANGED)
        if queue.action == CREATE:
            created = self.sqs.create_queue(QueueName=entry["queue_name"], Attributes=entry["attributes"],
                                            tags={key: str(value) for key, value in entry["tags"].items()})
            queue.url = created["QueueUrl"]
            entry["status"] = CREATED
            accepted()
            entry["queue_arn"] = self.sqs.get_queue_attributes(
                QueueUrl=queue.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            return
        if queue.stale:
            self.sqs.set_queue_attributes(QueueUrl=queue.url, Attributes=queue.stale)
            entry["status"] = CHANGED
        if entry["tags"]:
            self.sqs.tag_queue(QueueUrl=queue.url, Tags=entry["tags"])
        entry["status"] = CHANGED
        accepted()

    def apply(self) -> None:
        self.apply_queues()
        targets = {}
        for function in self.functions:
            entry, queue = function.entry, function.queue
            if entry["status"] == PLANNED and queue is not None and queue.entry.get("error"):
                entry.update(status=FAILED, after=entry["before"],
                             error=f"dead-letter queue {queue.entry['queue_name']}: {queue.entry['error']}")
            targets[entry["function_name"]] = function.target

        def grant(role):
            roles.write_role_policy(self.iam, self.policies[role])
            self.granted[role] = None

        # The queue is set only once the role may send to it; Lambda checks it against the role, whose new grant
        # may take seconds to reach Lambda, so the update that sets it waits for that (retry_iam_propagation).
        self.granted.update(grant_then_apply(
            self.lambda_client, [function.entry for function in self.functions
                                 if function.entry["status"] == PLANNED], grant,
            lambda entry: {"dead_letter_target": targets[entry["function_name"]]}
            if entry["before"]["dead_letter_target"] != targets[entry["function_name"]] else {},
            self.params["requests_per_second"], self.params["max_workers"], update_call=retry_iam_propagation,
            read=self.found,
        ))

    def run(self) -> dict:
        functions, self.missing = discover(self.lambda_client, self.params, need_concurrency=False)
        self.found = {function["function_name"]: function for function in functions}
        self.queues, self.functions, self.policies = self.plan(functions)
        if not self.module.check_mode:
            self.apply()
        return self.result()

    def result(self) -> dict:
        """The module's result from the queues and functions planned (and changed) so far."""
        queues = [queue.entry for queue in self.queues]
        return bulk_result(
            self.module, "functions", [function.entry for function in self.functions], self.missing,
            changed=any(acted(queue) for queue in queues), queues=queues,
            role_policies=roles.role_policy_changes(self.policies, POLICY_NAME,
                                                    None if self.module.check_mode else self.granted),
        )

    def result_not_applied(self, error: Exception) -> dict:
        """The result once `error` stopped the module: every queue and function still planned failed with it."""
        reason = f"could not {self.doing}: {error}"
        not_applied(self.module, [queue.entry for queue in self.queues], reason)
        not_applied(self.module, [function.entry for function in self.functions], reason)
        return self.result()


def input_errors(params: dict) -> list:
    errors = fleet_selection_errors(params)
    if params["per_function"] and params["queue_name"]:
        errors.append("queue_name and per_function are mutually exclusive")
    if not params["per_function"] and not params["queue_name"] and not params["suffix"]:
        errors.append("queue_name is required when no suffix is given")
    name = params["queue_name"] or ""
    if name and (len(name) > QUEUE_NAME_LIMIT or not name.replace("-", "").replace("_", "").isalnum()):
        errors.append(f"queue_name {name!r} is not a valid SQS queue name (letters, digits, - and _, up to 80)")
    return errors + update_option_errors(params)


def main():
    argument_spec = dict(
        queue_name=dict(type="str"),
        per_function=dict(type="bool", default=False),
        kms_key_id=dict(type="str", no_log=False),
        queue_tags=dict(type="dict", default={}),
        replace_existing=dict(type="bool", default=False),
        roles=dict(type="dict"),
        **FLEET_ARGUMENT_SPEC,
        **UPDATE_ARGUMENT_SPEC,
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, required_one_of=FLEET_REQUIRED_ONE_OF,
                              supports_check_mode=True)
    errors = input_errors(module.params)
    if errors:
        module.fail_json(msg="; ".join(errors))

    manager = DeadLetterQueues(module)
    try:
        result = manager.run()
    except (BotoCoreError, ClientError) as error:
        # Every queue and function planned or changed so far is returned, so that the change record holds it.
        fail_part_way(module, error, f"Could not {manager.doing}", manager.result_not_applied(error))
    finish(module, result, "could not set dead-letter queues")


if __name__ == "__main__":
    main()
