#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lambda_alarms
short_description: CloudWatch alarms for a fleet of Lambda functions and their dead-letter queues
version_added: 0.1.0
description:
  - Ensures, for each selected function, an error-rate alarm (metric math C(100 * Errors / Invocations)), a
    duration alarm and a throttles alarm; for each function with a dead-letter queue, an alarm on
    C(DeadLetterErrors) (failed events Lambda could not send to the queue, and dropped - for instance when the
    role may not use the queue's KMS key); and for each SQS dead-letter queue the functions send to, an alarm on
    messages waiting in it.
  - Alarm names derive from the function (C(lambdaopt-<function>-error-rate), C(-duration), C(-throttles),
    C(-dead-letter-errors)) and the queue (C(lambdaopt-dlq-<queue>-messages)), so they are found again. With
    O(suffix), only functions and queues whose names end in C(-<suffix>) exactly are the suffix's. An alarm
    that already matches is left alone, ignoring the fields AWS sets itself (state, ARN, timestamps).
  - With O(prune), deletes alarms this module created for functions (or queues) that no longer exist, and the
    C(DeadLetterErrors) alarm of a selected function that no longer has a dead-letter queue.
  - Check mode returns the plan, C(--diff) shows it. Input is checked before any API call.
options:
  error_rate_threshold:
    description: Alarm when more than this percentage of invocations fail (0-100).
    type: float
    default: 1
  duration_threshold_ms:
    description: Alarm when duration (O(duration_statistic)) exceeds this many milliseconds (1-900000).
    type: float
    default: 20000
  duration_statistic:
    description: The duration statistic compared with the threshold.
    type: str
    choices: [Average, Maximum, p90, p95, p99]
    default: Maximum
  throttles_threshold:
    description: Alarm when more requests than this are throttled in a period.
    type: float
    default: 0
  dlq_messages_threshold:
    description: Alarm when more messages than this wait in a dead-letter queue.
    type: float
    default: 0
  dead_letter_errors_threshold:
    description: Alarm when Lambda fails to send more failed events than this to a function's dead-letter queue
      in a period (C(DeadLetterErrors), Sum).
    type: float
    default: 0
  dlq_alarms:
    description: Also alarm on the dead-letter queues the functions send to (messages waiting), and on each such
      function's failures to send to its queue (C(DeadLetterErrors)).
    type: bool
    default: true
  period:
    description:
      - Seconds per evaluation period, a multiple of 60.
      - Lambda's and SQS's metrics are standard resolution (one data point a minute), so an alarm on them with a
        high-resolution period (10, 20 or 30 seconds) would find most periods without data; such a period is refused.
    type: int
    default: 300
  evaluation_periods:
    description: Periods that must breach before the alarm fires.
    type: int
    default: 1
  treat_missing_data:
    description: How periods without data count.
    type: str
    choices: [breaching, notBreaching, ignore, missing]
    default: notBreaching
  alarm_actions:
    description:
      - SNS topic ARNs notified when an alarm fires.
      - Without any, the alarms notify no one; the module warns, returns RV(notifies_no_one), and the savings report
        and the run summary say so.
    type: list
    elements: str
    default: []
  ok_actions:
    description: SNS topic ARNs notified when an alarm recovers.
    type: list
    elements: str
    default: []
  prune:
    description: Delete alarms this module created for functions or queues that no longer exist.
    type: bool
    default: false
extends_documentation_fragment:
  - tap.lambdaopt.fleet
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - tap.lambdaopt maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Alarm on the dev fleet, paging the on-call topic
  tap.lambdaopt.lambda_alarms:
    suffix: dev
    alarm_actions:
      - arn:aws:sns:us-east-1:123456789012:on-call

- name: Stricter alarms for prod, cleaning up after deleted functions
  tap.lambdaopt.lambda_alarms:
    suffix: prod
    error_rate_threshold: 0.5
    duration_statistic: p99
    evaluation_periods: 3
    prune: true
"""

RETURN = r"""
alarms:
  description: Every alarm the module manages for the selection, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    alarm_name:
      description: The alarm's name.
      type: str
      sample: lambdaopt-api-handler-dev-error-rate
    status:
      description: C(unchanged), C(created), C(updated), C(deleted), or C(planned-create), C(planned-update),
        C(planned-delete) in check mode; C(failed) (with C(error)) for those an AWS error stopped the task
        before, while those done before it keep their status.
      type: str
      sample: created
    function_name:
      description: The function the alarm watches.
      type: str
      returned: for function alarms
      sample: api-handler-dev
    queue_name:
      description: The dead-letter queue the alarm watches.
      type: str
      returned: for queue alarms
      sample: lambda-dlq-dev
    metrics:
      description: Metrics the alarm evaluates; CloudWatch bills each of them as an alarm metric.
      type: int
      sample: 2
    high_resolution:
      description: Whether the alarm evaluates a period under 60 seconds, billed at the high-resolution price.
      type: bool
      sample: false
notifies_no_one:
  description: Whether the alarms the module manages for the selection have no O(alarm_actions), so that an alarm
    that fires notifies no one.
  returned: always
  type: bool
  sample: false
failed_functions:
  description: Names given in O(functions) that do not exist.
  returned: always
  type: list
  elements: str
  sample: []
summary:
  description: How many alarms the task manages, changed (or would change), unchanged, refused something or failed;
    C(failed) counts the functions not found too.
  returned: always
  type: dict
  sample: {"alarms": 18, "changed": 18, "unchanged": 0, "with_refusals": 0, "failed": 0}
diff:
  description: The settings this module sets of each alarm created, updated or deleted (or to be), before and
    after, by alarm name; C(null) where the alarm does not exist.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"lambdaopt-api-handler-dev-duration": null},
           "after": {"lambdaopt-api-handler-dev-duration": {"MetricName": "Duration", "Threshold": 20000.0}}}
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.tap.lambdaopt.plugins.module_utils import alarms, journal
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.discovery import discover, list_functions
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import (
    FLEET_ARGUMENT_SPEC,
    FLEET_REQUIRED_ONE_OF,
    aws_client,
    fleet_selection_errors,
    has_suffix,
    parse_whole_arn,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.results import (
    CREATED,
    DELETED,
    PLANNED_CREATE,
    PLANNED_DELETE,
    PLANNED_UPDATE,
    UNCHANGED,
    UPDATED,
    bulk_result,
    fail_part_way,
    finish,
    not_applied,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

# CloudWatch's PutMetricAlarm quota is a few calls a second per account-region.
PUT_ALARMS_PER_SECOND = 3
DELETE_BATCH = 100
# What a planned put becomes once CloudWatch accepted it.
PUT_DONE = {PLANNED_CREATE: CREATED, PLANNED_UPDATE: UPDATED}


def input_errors(params: dict) -> list:
    errors = fleet_selection_errors(params)
    if not 0 <= params["error_rate_threshold"] < 100:
        errors.append(f"error_rate_threshold must be at least 0 and below 100, got {params['error_rate_threshold']:g}")
    if not 0 < params["duration_threshold_ms"] <= 900_000:
        errors.append("duration_threshold_ms must be above 0 and at most 900000, "
                      f"got {params['duration_threshold_ms']:g}")
    for name in ("throttles_threshold", "dlq_messages_threshold", "dead_letter_errors_threshold"):
        if params[name] < 0:
            errors.append(f"{name} must not be negative")
    if params["period"] < 60 or params["period"] % 60:
        errors.append(f"period must be a multiple of 60, got {params['period']}: Lambda's and SQS's metrics are "
                      "standard resolution (one data point a minute), so a shorter period would mostly lack data")
    if params["evaluation_periods"] < 1 or params["period"] * params["evaluation_periods"] > 86400:
        errors.append("evaluation_periods must be at least 1, and period x evaluation_periods at most a day")
    for option in ("alarm_actions", "ok_actions"):
        for arn in params[option]:
            if not alarms.SNS_ARN.fullmatch(arn):
                errors.append(f"{option} entry {arn!r} is not an SNS topic ARN "
                              "(arn:aws:sns:<region>:<account>:<topic>)")
    return errors


def policy_of(params: dict) -> alarms.AlarmPolicy:
    return alarms.AlarmPolicy(
        error_rate_percent=params["error_rate_threshold"], duration_ms=params["duration_threshold_ms"],
        duration_statistic=params["duration_statistic"], throttles=params["throttles_threshold"],
        dlq_messages=params["dlq_messages_threshold"], dead_letter_errors=params["dead_letter_errors_threshold"],
        period=params["period"],
        evaluation_periods=params["evaluation_periods"], treat_missing_data=params["treat_missing_data"],
        alarm_actions=tuple(params["alarm_actions"]), ok_actions=tuple(params["ok_actions"]),
    )


def queue_name_of(target: str | None) -> str | None:
    """The name of the SQS queue a dead-letter target is, or None for none or an SNS topic."""
    parts = parse_whole_arn(target)
    return parts["resource"] if parts and parts["service"] == "sqs" else None


def existing_alarms(cloudwatch) -> dict:
    paginator = cloudwatch.get_paginator("describe_alarms")
    return {alarm["AlarmName"]: alarm for page in paginator.paginate(AlarmNamePrefix=alarms.PREFIX, AlarmTypes=[
        "MetricAlarm"]) for alarm in page["MetricAlarms"]}


def prunable(existing: dict, wanted: dict, all_functions: set, queues: set, suffix: str | None,
             without_queue: set) -> list:
    """Our alarms for functions or queues that are gone (within the suffix, when one is given), and the
    dead-letter alarms of the selected functions `without_queue` (that no longer have a dead-letter queue)."""
    names = []
    dead_letter_alarms = {alarms.dead_letter_alarm_name(function) for function in without_queue}
    for name, alarm in existing.items():
        if name in wanted or alarms.MARKER not in (alarm.get("AlarmDescription") or ""):
            continue
        if name in dead_letter_alarms:
            names.append(name)
            continue
        dimensions = {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []}
        for metric in alarm.get("Metrics") or []:
            dimensions.update({d["Name"]: d["Value"] for d in metric.get("MetricStat", {}).get("Metric", {}).get(
                "Dimensions", [])})
        function, queue = dimensions.get("FunctionName"), dimensions.get("QueueName")
        if function and function not in all_functions and (suffix is None or has_suffix(function, suffix)):
            names.append(name)
        elif queue and queue not in queues and (suffix is None or has_suffix(queue, suffix)):
            names.append(name)
    return sorted(names)


def arn_builder(existing: dict, functions: list):
    """The ARN of an alarm by name: an existing one's own, a new one's in the account-region of the fleet."""
    function_arn = next((function["function_arn"] for function in functions), None)

    def arn_of(name: str) -> str | None:
        if name in existing:
            return existing[name].get("AlarmArn")
        return alarms.alarm_arn(function_arn, name) if function_arn else None

    return arn_of


def announce_alarm(entry: dict, change: str, arn_of):
    """Announce one alarm's change to the run's journal; returns what marks it accepted."""
    return journal.announce("alarm", arn_of(entry["alarm_name"]), alarm_name=entry["alarm_name"],
                            function_name=entry.get("function_name"), queue_name=entry.get("queue_name"),
                            change=change)


class FleetAlarms:
    """The alarms of a fleet: those its functions and their dead-letter queues should have, against those that
    exist; puts what differs and, with prune, deletes ours that watch nothing any more."""

    def __init__(self, module: AnsibleAWSModule):
        self.module = module
        self.params = module.params
        self.policy = policy_of(module.params)
        self.lambda_client = aws_client(module, "lambda")
        self.cloudwatch = aws_client(module, "cloudwatch")
        # What the module is doing, for the message of an AWS error that stops it.
        self.doing = "read the fleet's alarms"
        self.functions: list = []
        self.missing: list = []
        self.wanted: dict = {}  # alarm name -> put_metric_alarm parameters
        self.existing: dict = {}  # alarm name -> DescribeAlarms' alarm
        self.entries: list = []

    def wanted_alarms(self) -> dict:
        wanted = {}
        with_queues = self.params["dlq_alarms"]
        for function in self.functions:
            wanted.update({alarm["AlarmName"]: alarm
                           for alarm in alarms.function_alarms(function["function_name"], self.policy)})
            if function["configuration"]["dead_letter_target"] and with_queues:
                alarm = alarms.dead_letter_alarm(function["function_name"], self.policy)
                wanted[alarm["AlarmName"]] = alarm
        if with_queues:
            queues = {queue_name_of(function["configuration"]["dead_letter_target"])
                      for function in self.functions} - {None}
            wanted.update({alarm["AlarmName"]: alarm for alarm in (alarms.queue_alarm(queue, self.policy)
                                                                   for queue in queues)})
        return wanted

    def to_prune(self) -> list:
        """Our alarms on functions or queues of the account-region that are gone, and the dead-letter alarms of the
        selected functions that no longer have a queue."""
        account_functions = list_functions(self.lambda_client)
        every_function = {function["FunctionName"] for function in account_functions}
        every_queue = {queue_name_of(function.get("DeadLetterConfig", {}).get("TargetArn"))
                       for function in account_functions} - {None}
        without_queue = {function["function_name"] for function in self.functions
                         if not function["configuration"]["dead_letter_target"]}
        return prunable(self.existing, self.wanted, every_function, every_queue, self.params["suffix"],
                        without_queue)

    def plan(self, to_delete: list) -> list:
        entries = []
        for name in sorted(self.wanted):
            current = self.existing.get(name)
            if current and alarms.matches(current, self.wanted[name]):
                status = UNCHANGED
            else:
                status = PLANNED_UPDATE if current else PLANNED_CREATE
            entries.append({"alarm_name": name, "status": status, **alarms.billing_of(self.wanted[name])})
        entries += [{"alarm_name": name, "status": PLANNED_DELETE, **alarms.billing_of(self.existing[name])}
                    for name in to_delete]
        return entries

    def apply(self, to_delete: list) -> None:
        """Put, then delete. Each change is announced to the run's journal (journal.py) before its call, as a change
        record holds it; each alarm put or deleted keeps its status should a later call fail."""
        self.doing = "put the fleet's alarms"
        limiter = RateLimiter(PUT_ALARMS_PER_SECOND)
        arn_of = arn_builder(self.existing, self.functions)
        for entry in self.entries:
            if entry["status"] in PUT_DONE:
                change = PUT_DONE[entry["status"]]
                accepted = announce_alarm(entry, change, arn_of)
                limiter.acquire()
                self.cloudwatch.put_metric_alarm(**self.wanted[entry["alarm_name"]])
                entry["status"] = change
                accepted()
        for start in range(0, len(to_delete), DELETE_BATCH):
            batch = set(to_delete[start:start + DELETE_BATCH])
            deleting = [entry for entry in self.entries
                        if entry["alarm_name"] in batch and entry["status"] == PLANNED_DELETE]
            marks = [announce_alarm(entry, DELETED, arn_of) for entry in deleting]
            self.cloudwatch.delete_alarms(AlarmNames=sorted(batch))
            for entry in deleting:
                entry["status"] = DELETED
            for accepted in marks:
                accepted()

    def run(self) -> dict:
        self.functions, self.missing = discover(self.lambda_client, self.params, need_concurrency=False)
        self.wanted = self.wanted_alarms()
        self.existing = existing_alarms(self.cloudwatch)
        to_delete = self.to_prune() if self.params["prune"] else []
        self.entries = self.plan(to_delete)
        if not self.module.check_mode:
            self.apply(to_delete)
        result = self.result()
        if result["notifies_no_one"]:
            self.module.warn(alarms.NOTIFY_NO_ONE)
        return result

    def diff_of(self, entry: dict) -> tuple:
        """An alarm's settings before and after, in the fields this collection sets (None where it has none)."""
        name = entry["alarm_name"]
        return (alarms.comparable(self.existing[name]) if name in self.existing else None,
                alarms.comparable(self.wanted[name]) if name in self.wanted else None)

    def result(self) -> dict:
        """The module's result from the alarms planned (and put or deleted) so far."""
        return bulk_result(self.module, "alarms", self.entries, self.missing, lambda entry: entry["alarm_name"],
                           failed_key="functions", diff_of=self.diff_of,
                           # The functions not found: an alarm that failed is in `alarms`, with its error.
                           failed_functions=list(self.missing),
                           notifies_no_one=bool(self.wanted) and not self.params["alarm_actions"])

    def result_not_applied(self, error: Exception) -> dict:
        """The result once `error` stopped the module: every alarm still planned failed with it."""
        not_applied(self.module, self.entries, str(error))
        return self.result()


def main():
    argument_spec = dict(
        error_rate_threshold=dict(type="float", default=1),
        duration_threshold_ms=dict(type="float", default=20000),
        duration_statistic=dict(type="str", choices=["Average", "Maximum", "p90", "p95", "p99"], default="Maximum"),
        throttles_threshold=dict(type="float", default=0),
        dlq_messages_threshold=dict(type="float", default=0),
        dead_letter_errors_threshold=dict(type="float", default=0),
        dlq_alarms=dict(type="bool", default=True),
        period=dict(type="int", default=300),
        evaluation_periods=dict(type="int", default=1),
        treat_missing_data=dict(type="str", choices=["breaching", "notBreaching", "ignore", "missing"],
                                default="notBreaching"),
        alarm_actions=dict(type="list", elements="str", default=[]),
        ok_actions=dict(type="list", elements="str", default=[]),
        prune=dict(type="bool", default=False),
        **FLEET_ARGUMENT_SPEC,
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, required_one_of=FLEET_REQUIRED_ONE_OF,
                              supports_check_mode=True)
    errors = input_errors(module.params)
    if errors:
        module.fail_json(msg="; ".join(errors))

    fleet_alarms = FleetAlarms(module)
    try:
        result = fleet_alarms.run()
    except (BotoCoreError, ClientError) as error:
        # Each alarm put or deleted before the error is returned with its status, so that the change record holds it.
        fail_part_way(module, error, f"Could not {fleet_alarms.doing}", fleet_alarms.result_not_applied(error))
    finish(module, result, "functions not found")


if __name__ == "__main__":
    main()
