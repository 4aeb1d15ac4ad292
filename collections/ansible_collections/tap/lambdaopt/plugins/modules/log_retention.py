#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: log_retention
short_description: Set the log retention of a fleet of Lambda functions
version_added: 0.1.0
description:
  - Sets the retention of the log group each selected function really logs to (its C(LoggingConfig.LogGroup),
    C(/aws/lambda/<function>) by default), once per group however many of the functions share it, creating a
    missing group with the retention already set. Never deletes a log group.
  - A group that functions outside the selection also log to is shared with them; shortening its retention deletes
    their older events too, so it is refused, naming them, unless O(allow_shared_log_groups) is set. Finding them
    reads every function's C(LoggingConfig) (one more C(ListFunctions) pass).
  - Shortening retention permanently deletes the events older than the new period. It needs
    O(allow_data_loss), or O(export_bucket) to export the events to S3 first; otherwise it is refused and
    reported with the stored bytes at stake, and each guard it breaks under C(refused). Check mode and C(--diff)
    show the same.
  - Accepts only the retention periods CloudWatch Logs accepts, checked before any API call.
options:
  retention_days:
    description: Days to keep log events.
    type: int
    required: true
    choices: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
              3288, 3653]
  allow_data_loss:
    description: Shorten retention even though events older than the new period are deleted.
    type: bool
    default: false
  allow_shared_log_groups:
    description:
      - Shorten the retention of a log group that functions outside the selection also log to (it still needs
        O(allow_data_loss) or O(export_bucket)). The result names those functions either way.
    type: bool
    default: false
  export_bucket:
    description:
      - Before shortening a group's retention, export its events older than the new period to this S3
        bucket (C(CreateExportTask)) and wait for the export to complete. The bucket must allow CloudWatch
        Logs to write to it.
    type: str
  export_prefix:
    description: Key prefix for exports; the log group's name is appended.
    type: str
    default: lambdaopt-exports
  export_timeout:
    description: Seconds to wait for each export before giving up on that group.
    type: int
    default: 900
extends_documentation_fragment:
  - tap.lambdaopt.fleet
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - tap.lambdaopt maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Keep dev logs for a week, accepting that older events go
  tap.lambdaopt.log_retention:
    suffix: dev
    retention_days: 7
    allow_data_loss: true

- name: Keep prod logs for 30 days, archiving older events to S3 first
  tap.lambdaopt.log_retention:
    suffix: prod
    retention_days: 30
    export_bucket: my-log-archive
"""

RETURN = r"""
log_groups:
  description: One entry per log group the selected functions log to, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    log_group_name:
      description: The log group.
      type: str
      sample: /aws/lambda/transform-dev
    function_name:
      description: The (first, by name) selected function that logs to it.
      type: str
      sample: transform-dev
    function_names:
      description: Every selected function that logs to it.
      type: list
      elements: str
      sample: [transform-dev]
    shared_with:
      description: Functions outside the selection that log to it too.
      type: list
      elements: str
      sample: []
    status:
      description: C(created), C(changed), C(unchanged), C(planned) (check mode), C(refused) or C(failed).
      type: str
      sample: changed
    before:
      description: Retention before the task (C(null) days means never expire; C(exists) false for a missing group).
      type: dict
      sample: {"exists": true, "retention_in_days": null}
    after:
      description: Retention after the task (planned in check mode).
      type: dict
      sample: {"exists": true, "retention_in_days": 7}
    reason:
      description: Why, including what shortening deletes.
      type: str
      sample: "shortening retention from never expire to 7 days deletes events older than 7 days, of up to 1528205
        stored bytes (allowed by allow_data_loss)"
    refused:
      description:
        - Each guard that shortening the group's retention breaks, with the reason, what to set to proceed, and the
          risk it would have run; empty unless C(status) is C(refused).
        - A group shared with functions outside the selection, shortened without O(allow_data_loss) or
          O(export_bucket), names both O(allow_shared_log_groups) and the data loss.
      type: list
      elements: dict
      sample: [{"field": "retention_in_days", "before": null, "requested": 7, "after": null,
                "reason": "shortening retention from never expire to 7 days deletes events older than 7 days, of up to
                           1528205 stored bytes: set allow_data_loss or export_bucket to proceed",
                "risk": "permanent loss of older log events"}]
    stored_bytes:
      description: Bytes the group stores now.
      type: int
      sample: 1528205
    bytes_at_stake:
      description: Upper bound of the bytes that shortening deletes (the group's stored bytes), 0 otherwise.
      type: int
      sample: 1528205
    export:
      description: The export made before shortening, when O(export_bucket) is set.
      type: dict
      returned: when exported
      sample: {"task_id": "a1b2", "destination": "s3://my-log-archive/lambdaopt-exports/aws/lambda/x",
               "status": "COMPLETED"}
    error:
      description: Why the group failed, when it did.
      type: str
      returned: when status is failed
failed_log_groups:
  description: Log groups (or missing functions) that could not be handled.
  returned: always
  type: list
  elements: str
  sample: []
summary:
  description: How many log groups were changed (created included), unchanged, refused something, or failed (with the
    functions not found).
  returned: always
  type: dict
  sample: {"log_groups": 3, "changed": 2, "unchanged": 0, "with_refusals": 1, "failed": 0}
diff:
  description: C(before) and C(after) of each log group changed or created (or to be), by log group name.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"/aws/lambda/transform-dev": {"exists": true, "retention_in_days": null}},
           "after": {"/aws/lambda/transform-dev": {"exists": true, "retention_in_days": 7}}}
"""

import time
from dataclasses import dataclass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import discovery, log_groups
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.discovery import discover
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import (
    FLEET_ARGUMENT_SPEC,
    FLEET_REQUIRED_ONE_OF,
    aws_client,
    fleet_selection_errors,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.decisions import Decision
from ansible_collections.tap.lambdaopt.plugins.module_utils.journal import from_environment
from ansible_collections.tap.lambdaopt.plugins.module_utils.results import (
    CHANGED,
    CREATED,
    FAILED,
    PLANNED,
    REFUSED,
    UNCHANGED,
    bulk_result,
    finish,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.retention import (
    CREATE,
    NO_CHANGE,
    REFUSE,
    SET,
    VALID_RETENTION_DAYS,
    export_and_wait,
    plan_retention,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import run_bounded

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

DAY_MS = 86_400_000
# PutRetentionPolicy calls in flight at once: at its quota of 5 a second, four keep it busy while each takes up to
# 800 ms to answer.
WRITE_WORKERS = 4


@dataclass
class GroupPlan:
    """A log group's entry in the result, and what the run does with the group (retention.CREATE, SET, NO_CHANGE
    or REFUSE), which the result does not show."""
    entry: dict
    action: str


def fleet_groups(functions: list) -> dict:
    """{log group: sorted names of the selected functions that log to it}."""
    members: dict = {}
    for function in functions:
        name = function["function_name"]
        group = function["configuration"].get("log_group") or log_groups.default_group(name)
        members.setdefault(group, []).append(name)
    return {group: sorted(names) for group, names in members.items()}


def plan(functions: list, groups: dict, users: dict, params: dict) -> list:
    """One GroupPlan per group the selected functions log to; `users` ({group: every function that logs to it})
    tells who else a shared group's retention affects."""
    plans = []
    desired = params["retention_days"]
    for name, members in sorted(fleet_groups(functions).items()):
        group = groups.get(name)
        current = group.get("retentionInDays") if group else None
        stored = int(group.get("storedBytes", 0)) if group else 0
        outside = sorted(set(users.get(name, [])) - set(members))
        decision = plan_retention(group is not None, current, desired, stored, params["allow_data_loss"],
                                  exporting=bool(params["export_bucket"]), shared_with=outside,
                                  allow_shared=params["allow_shared_log_groups"])
        plans.append(GroupPlan(action=decision.action, entry={
            "log_group_name": name,
            "function_name": members[0],
            "function_names": members,
            "shared_with": outside,
            "status": {NO_CHANGE: UNCHANGED, REFUSE: REFUSED}.get(decision.action, PLANNED),
            "before": {"exists": group is not None, "retention_in_days": current},
            "after": {"exists": True,
                      "retention_in_days": current if decision.action in (NO_CHANGE, REFUSE) else desired},
            "reason": decision.reason,
            "refused": [Decision("retention_in_days", current, desired, current, refusal.reason, refusal.risk,
                                 refused=True).as_dict() for refusal in decision.refusals],
            "stored_bytes": stored,
            "bytes_at_stake": stored if decision.shortens else 0,
        }))
    return plans


def exports_first(item: GroupPlan, params: dict) -> bool:
    """Whether the group's events are exported to S3 before its retention is shortened."""
    return item.action == SET and bool(item.entry["bytes_at_stake"]) and bool(params["export_bucket"])


def apply(logs, plans: list, params: dict, function_arns: dict) -> None:
    """Set each planned group's retention; each change is announced to the run's journal (journal.py) first.

    A group exported first is handled alone: an account runs one export at a time. The others are set by
    WRITE_WORKERS threads at once, the client pacing them all to PutRetentionPolicy's quota, so that the quota, not
    the time each call takes to answer, bounds a fleet's run."""
    journal = from_environment()
    writes = [item for item in plans if item.action in (CREATE, SET)]
    for item in writes:
        if exports_first(item, params):
            apply_one(logs, item, params, function_arns, journal)
    rest = [item for item in writes if not exports_first(item, params)]
    outcomes = run_bounded(lambda index: apply_one(logs, rest[index], params, function_arns, journal),
                           list(range(len(rest))), WRITE_WORKERS)
    # apply_one records every AWS and export failure in its group's entry; anything else is a fault to surface.
    unexpected = next((error for _result, error in outcomes.values() if error is not None), None)
    if unexpected is not None:
        raise unexpected


def apply_one(logs, item: GroupPlan, params: dict, function_arns: dict, journal) -> None:
    """Create (where missing), export (where asked) and set one group's retention; a failure is its entry's."""
    entry = item.entry
    group = entry["log_group_name"]
    created = False
    try:
        if item.action == CREATE:
            try:
                logs.create_log_group(logGroupName=group)
            except logs.exceptions.ResourceAlreadyExistsException:
                pass  # created meanwhile, by Lambda itself
            created = True
        elif exports_first(item, params):
            until = int(time.time() * 1000) - params["retention_days"] * DAY_MS
            # A custom group's name need not start with a slash (LoggingConfig.LogGroup may name any group).
            prefix = f"{params['export_prefix'].rstrip('/')}/{group.lstrip('/')}"
            entry["export"] = export_and_wait(logs, group, until, params["export_bucket"], prefix,
                                              params["export_timeout"])
            if entry["export"]["status"] != "COMPLETED":
                raise RuntimeError(f"export to S3 ended {entry['export']['status']}; retention left as it was")
        intent = None
        if journal is not None:
            intent = journal.intent(function_arns[entry["function_name"]], entry["function_name"],
                                    {"log_retention_days": params["retention_days"]},
                                    {"log_retention_days": entry["before"]["retention_in_days"]},
                                    log_group_name=group)
        logs.put_retention_policy(logGroupName=group, retentionInDays=params["retention_days"])
        if intent is not None:
            journal.done(intent)
        entry["status"] = CREATED if item.action == CREATE else CHANGED
    except (BotoCoreError, ClientError, RuntimeError) as error:
        entry["status"] = FAILED
        entry["error"] = str(error)
        entry["after"] = entry["before"]
        if created:  # the group exists, with the retention it was created with (none)
            entry.update(after={"exists": True, "retention_in_days": None}, accepted=["exists"])


class LogRetention:
    def __init__(self, module: AnsibleAWSModule):
        self.module = module
        self.params = module.params
        self.logs = aws_client(module, "logs")
        self.lambda_client = aws_client(module, "lambda")

    def run(self) -> dict:
        # One listing answers both which functions are selected and who else logs to their groups.
        listing = discovery.list_functions(self.lambda_client)
        functions, missing = discover(self.lambda_client, self.params, need_concurrency=False, listing=listing)
        groups = log_groups.describe_groups(self.logs, fleet_groups(functions), default_groups=len(listing))
        plans = plan(functions, groups, log_groups.users_by_group(listing), self.params)
        if not self.module.check_mode:
            apply(self.logs, plans, self.params,
                  {function["function_name"]: function["function_arn"] for function in functions})
        entries = [item.entry for item in plans]
        self.warn_of_refusals(entries)
        return bulk_result(self.module, "log_groups", entries, missing, lambda entry: entry["log_group_name"])

    def warn_of_refusals(self, entries: list) -> None:
        refused = [entry for entry in entries if entry["status"] == REFUSED]
        shared = [f"{entry['log_group_name']} (shared with {', '.join(entry['shared_with'])})" for entry in refused
                  if entry["shared_with"] and not self.params["allow_shared_log_groups"]]
        if len(shared) < len(refused):
            self.module.warn(f"retention not shortened for {len(refused) - len(shared)} log groups: set "
                             "allow_data_loss or export_bucket")
        if shared:
            self.module.warn(f"retention not shortened for log groups that functions outside the fleet also use: "
                             f"{'; '.join(shared)}; set allow_shared_log_groups to proceed")


def main():
    argument_spec = dict(
        retention_days=dict(type="int", required=True, choices=list(VALID_RETENTION_DAYS)),
        allow_data_loss=dict(type="bool", default=False),
        allow_shared_log_groups=dict(type="bool", default=False),
        export_bucket=dict(type="str"),
        export_prefix=dict(type="str", default="lambdaopt-exports"),
        export_timeout=dict(type="int", default=900),
        **FLEET_ARGUMENT_SPEC,
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, required_one_of=FLEET_REQUIRED_ONE_OF,
                              supports_check_mode=True)
    errors = fleet_selection_errors(module.params)
    if module.params["export_timeout"] < 1:
        errors.append("export_timeout must be at least 1 second")
    if errors:
        module.fail_json(msg="; ".join(errors))

    try:
        # Each group's change is tried on its own (a failure is its entry's); what escapes is a read of the fleet.
        result = LogRetention(module).run()
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg="Could not read the fleet's log groups")
    finish(module, result, "could not set retention")


if __name__ == "__main__":
    main()
