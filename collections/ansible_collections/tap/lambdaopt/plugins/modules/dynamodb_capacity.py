#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dynamodb_capacity
short_description: Choose the billing mode and capacity of a fleet's DynamoDB tables from their consumed capacity
version_added: 0.2.0
description:
  - Measures what every selected table of one account-region consumed over the lookback window (C(AWS/DynamoDB)
    C(ConsumedReadCapacityUnits), C(ConsumedWriteCapacityUnits), C(ReadThrottleEvents) and C(WriteThrottleEvents),
    the Sum of each period, read in batched C(GetMetricData) calls) and recommends, and when asked sets, each
    table's billing mode - C(PROVISIONED) or C(PAY_PER_REQUEST) (on demand) - and its provisioned capacity.
  - For each side (read and write) the average is the consumed units a second over the hours with data, the peak
    the busiest period's units a second (its Sum divided by O(period_seconds)), and the spikiness the peak over the
    average. With hourly periods, bursts shorter than an hour are averaged into their hour; use O(period_seconds=60)
    to see them (CloudWatch keeps 1-minute data 15 days).
  - The recommendation is the cheaper mode that is safe for the traffic. Provisioned capacity sized at the peak
    times O(capacity_headroom) would run at an average utilization of consumption over capacity; it costs less
    than on demand when that utilization is at or above O(breakeven_utilization). In us-east-1 a write capacity
    unit-hour costs $0.00065 and a million write request units $0.625, so the breakeven is
    0.00065 / (3600 x 0.625e-6) = 0.289; the read side ($0.00013 and $0.125) has the same ratio. A write unit
    costs five read units in both modes, so the utilization compared is the cost-weighted one,
    (read + 5 x write consumed) / (read + 5 x write capacity), which makes the comparison the two modes' cost.
    Hours with no use at all after the first hour with data count as idle, since provisioned capacity is billed
    for them too.
  - A table that was throttled, or whose peak exceeds O(spiky_ratio) times its average on either side, is
    recommended on demand.
  - Guards, each reported under C(refused) with its risk. A table with throttle events is never lowered and never
    switched to provisioned. A spiky table is never switched to provisioned. Capacity never goes below the peak
    times the headroom. A table with fewer than O(min_hours) hours of data gets no automatic change. Those guards
    let explicit values through when O(allow_unsafe) is set, never C(auto). Never overridden are the limits on how
    often AWS lets a table change - no billing-mode switch within O(min_hours_between_switches) hours of the
    table's last switch to on demand, no decrease after the 27 a table may have in a day - and the refusal to switch
    a table with global secondary indexes to provisioned, since their capacity would need sizing too, which this
    module does not do. When a table's capacity is lowered, its global secondary indexes keep theirs, and the change
    says so.
  - Capacity is decided from consumed units, not from utilization, which depends on the capacity in force; so
    a table once sized, or switched, is decided the same by the next run, and a second run changes nothing.
  - Each changed table gets one C(UpdateTable) with all its changes, then the module waits until it is C(ACTIVE).
    One table failing does not stop the others; the task fails at the end and names it.
  - Every entry carries the C(recommendation), also when nothing is asked. In check mode nothing is changed and the
    plan is returned, with a diff under C(--diff).
options:
  suffix:
    description:
      - Select the tables whose names end in C(-<suffix>), e.g. C(dev) selects C(data-table-dev).
      - Lowercase letters, digits and inner hyphens.
      - One of O(suffix) and O(tables) is required; with both, only listed tables with the suffix.
    type: str
  tables:
    description:
      - Select these tables, by name or as the per-table results of an earlier run (anything with a C(table_name)
        key). Names that do not exist are reported and fail the task after the others are done.
    type: list
    elements: raw
  billing_mode:
    description:
      - C(auto) takes the recommendation where the guards allow it; C(PROVISIONED) or C(PAY_PER_REQUEST) asks for
        that mode, subject to the same guards. The billing mode is left alone when omitted, but every table's
        C(recommendation) is still returned.
      - A table switched to C(PROVISIONED) gets the capacity of O(capacity=auto), or O(read_capacity) and
        O(write_capacity) when given.
    type: str
    choices: [auto, PROVISIONED, PAY_PER_REQUEST]
  capacity:
    description:
      - C(auto) sets the read and write capacity of every table that is, or becomes, provisioned to its peak
        consumed units a second times O(capacity_headroom), rounded up, at least 1 - lowering idle capacity and
        raising capacity that is too small. Left alone when omitted.
    type: str
    choices: [auto]
  read_capacity:
    description: Read capacity units for the provisioned tables; wins over O(capacity=auto) for the read side.
    type: int
  write_capacity:
    description: Write capacity units for the provisioned tables; wins over O(capacity=auto) for the write side.
    type: int
  capacity_headroom:
    description: Capacity is kept at least this multiple of the peak consumed units a second (1 or more).
    type: float
    default: 1.5
  lookback_days:
    description: Window of consumed capacity to decide from, 1 to 455 days (15 with 1-minute, 63 with 5-minute periods).
    type: int
    default: 14
  period_seconds:
    description: Length of the periods the window is read in; the peak is the busiest period's average.
    type: int
    choices: [60, 300, 3600]
    default: 3600
  breakeven_utilization:
    description:
      - Cost-weighted average utilization (0 to 1) above which provisioned capacity costs less than on demand.
        0.29 is the us-east-1 ratio of a capacity unit-hour to an hour of request units at one unit a second.
    type: float
    default: 0.29
  switch_margin:
    description:
      - A table leaves its billing mode only when its utilization is beyond the breakeven by this share of it (0 to
        1) - below 0.29 x 0.9 for a provisioned table to go on demand, above 0.29 x 1.1 for an on-demand one to go
        provisioned with the defaults - so that a table whose use wavers near the breakeven does not switch back and
        forth from run to run.
    type: float
    default: 0.1
  spiky_ratio:
    description: A table whose peak exceeds this multiple of its average, on either side, is spiky (1 or more).
    type: float
    default: 4
  min_hours:
    description: Fewer hours with data than this in the window is too little data for any change.
    type: int
    default: 24
  min_hours_between_switches:
    description:
      - No billing-mode switch within this many hours of the table's last switch to on demand, which AWS limits.
    type: int
    default: 24
  allow_unsafe:
    description:
      - Apply explicit values even when they break a guard or cannot be checked for lack of data. The limits AWS
        enforces (switches, decreases a day, indexes' capacity) are never overridden, and C(auto) never is unsafe.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - tap.lambdaopt maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Put every dev table in its cheaper billing mode, sized from its use
  tap.lambdaopt.dynamodb_capacity:
    suffix: dev
    billing_mode: auto
    capacity: auto

- name: Only recommend billing modes in prod, and lower idle capacity
  tap.lambdaopt.dynamodb_capacity:
    suffix: prod
    capacity: auto
  register: tables

- name: Switch one table to on demand
  tap.lambdaopt.dynamodb_capacity:
    tables: [data-table-prod]
    billing_mode: PAY_PER_REQUEST

- name: Decide from peaks per minute over the last week
  tap.lambdaopt.dynamodb_capacity:
    suffix: dev
    capacity: auto
    period_seconds: 60
    lookback_days: 7
"""

RETURN = r"""
changed:
  description: Whether any table was changed (or would be, in check mode).
  returned: always
  type: bool
  sample: true
tables:
  description: One entry per selected table, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    table_name:
      description: The table's name.
      type: str
      sample: data-table-dev
    table_arn:
      description: The table's ARN.
      type: str
      sample: arn:aws:dynamodb:us-east-1:123456789012:table/data-table-dev
    status:
      description: C(changed), C(unchanged), C(planned) (check mode) or C(failed).
      type: str
      sample: changed
    before:
      description: Billing mode and provisioned capacity before the task; no capacity (null) when on demand.
      type: dict
      sample: {"billing_mode": "PROVISIONED", "read_capacity": 100, "write_capacity": 100}
    after:
      description: The same after the task, as read back from DynamoDB (planned values in check mode).
      type: dict
      sample: {"billing_mode": "PROVISIONED", "read_capacity": 10, "write_capacity": 5}
    usage:
      description:
        - What the table consumed in the window. C(hours) counts the hours with data, over which the averages are
          taken; C(span_hours) the hours from the first of them to the end of the window. Averages and peaks are
          capacity units a second; the peak is the busiest period's. Null where there is no data.
        - C(unknown_metrics) lists the metrics C(GetMetricData) could not answer (status C(InternalError) or
          C(Forbidden)) with the reason; a table with any is not changed (insufficient data), as unknown is not zero.
      type: dict
      sample: {"window": {"start": "2026-11-10T04:00:00+00:00", "end": "2026-11-24T04:12:09+00:00", "days": 14},
               "period_seconds": 3600, "hours": 336, "span_hours": 336,
               "read": {"average": 4.0123, "peak": 6.4401, "spikiness": 1.61},
               "write": {"average": 2.0048, "peak": 3.2311, "spikiness": 1.61},
               "throttle_events": {"read": 0, "write": 0}, "unknown_metrics": {}}
    recommendation:
      description: The cheaper safe billing mode and the capacity it needs, with the reason, whatever was asked.
      type: dict
      sample: {"billing_mode": "PROVISIONED", "read_capacity": 10, "write_capacity": 5,
               "reason": "steady: provisioned at peak x headroom 1.5 (10 RCU, 5 WCU) would run at 40% read and 40%
                          write utilization, 40% cost-weighted (a write unit costs 5 read units in either mode), at or
                          above the breakeven 29%, so provisioned costs less"}
    changes:
      description: Each change made (or planned), with its reason, and its risk when O(allow_unsafe) let it through.
      type: list
      elements: dict
      sample: [{"field": "read_capacity", "before": 100, "after": 10, "requested": "auto",
                "reason": "peak 6.4401 read units/s x headroom 1.5 = 10", "risk": null}]
    refused:
      description: Each requested change not made, with the reason and the risk it would have run.
      type: list
      elements: dict
      sample: [{"field": "billing_mode", "before": "PAY_PER_REQUEST", "after": "PAY_PER_REQUEST",
                "requested": "PROVISIONED", "risk": "AWS limits capacity-mode switches",
                "reason": "the table switched to on demand 0.1 hours ago, less than 24 hours: it cannot switch to
                           PROVISIONED yet"}]
    last_switch_to_on_demand:
      description: When the table last switched to on demand (ISO 8601, UTC), or null if it never did.
      type: str
      sample: "2026-11-24T04:12:11+00:00"
    global_secondary_indexes:
      description: How many global secondary indexes the table has; their capacity is left alone.
      type: int
      sample: 0
    error:
      description: Why the table failed, when it did.
      type: str
      returned: when status is failed
failed_tables:
  description: Names of tables that could not be changed or were not found.
  returned: always
  type: list
  elements: str
  sample: []
summary:
  description: How many tables were changed, unchanged, refused something, or failed.
  returned: always
  type: dict
  sample: {"tables": 2, "changed": 1, "unchanged": 1, "with_refusals": 1, "failed": 0}
diff:
  description: The settings of the tables changed (or to be changed), before and after, by table name.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"data-table-dev": {"billing_mode": "PROVISIONED", "read_capacity": 100, "write_capacity": 100}},
           "after": {"data-table-dev": {"billing_mode": "PROVISIONED", "read_capacity": 10, "write_capacity": 5}}}
"""

import re
from datetime import UTC, datetime

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.tap.lambdaopt.plugins.module_utils import journal
from ansible_collections.tap.lambdaopt.plugins.module_utils._dynamodb import metrics as table_metrics
from ansible_collections.tap.lambdaopt.plugins.module_utils._dynamodb.api import (
    ON_DEMAND,
    request_throughput,
    table_settings,
    wait_until_active,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._dynamodb.plan import (
    AUTO,
    TablePolicy,
    TableState,
    plan_table,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import (
    aws_client,
    has_suffix,
    suffix_errors,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.metric_data import lookback_errors
from ansible_collections.tap.lambdaopt.plugins.module_utils.results import bulk_result, finish
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import run_bounded

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

TABLE_NAME_PATTERN = re.compile(r"[a-zA-Z0-9_.-]{3,255}")
# Tables updated at once: each waits until it is ACTIVE again, which can take minutes on AWS.
PARALLEL_UPDATES = 4


def table_name_of(entry) -> str | None:
    """A `tables` entry is a name, or a per-table result of this module."""
    if isinstance(entry, dict):
        entry = entry.get("table_name")
    return entry if isinstance(entry, str) and TABLE_NAME_PATTERN.fullmatch(entry) else None


def option_errors(params: dict) -> list:
    """Problems with the options, found before any API call."""
    errors = suffix_errors(params.get("suffix"))
    for entry in params.get("tables") or []:
        if table_name_of(entry) is None:
            errors.append(f"tables entry {entry!r} is neither a table name nor a result with table_name")
    for name in ("read_capacity", "write_capacity"):
        if params[name] is not None and params[name] < 1:
            errors.append(f"{name} must be at least 1, got {params[name]}")
    if params["billing_mode"] == ON_DEMAND and (params["read_capacity"] or params["write_capacity"]):
        errors.append("read_capacity and write_capacity need provisioned tables, not billing_mode PAY_PER_REQUEST")
    if params["capacity_headroom"] < 1:
        errors.append(f"capacity_headroom must be at least 1, got {params['capacity_headroom']:g}")
    for name in ("breakeven_utilization", "switch_margin"):
        if not 0 <= params[name] <= 1:
            errors.append(f"{name} must be between 0 and 1, got {params[name]:g}")
    if params["spiky_ratio"] < 1:
        errors.append(f"spiky_ratio must be at least 1, got {params['spiky_ratio']:g}")
    for name in ("min_hours", "min_hours_between_switches"):
        if params[name] < 0:
            errors.append(f"{name} must be 0 or more, got {params[name]}")
    errors += lookback_errors(params["lookback_days"], params["period_seconds"])
    return errors


def state_of(table: dict) -> TableState:
    """The decisions' view of a DescribeTable answer's Table."""
    settings = table_settings(table)
    last = (table.get("BillingModeSummary") or {}).get("LastUpdateToPayPerRequestDateTime")
    return TableState(
        billing_mode=settings["billing_mode"],
        read_capacity=settings["read_capacity"],
        write_capacity=settings["write_capacity"],
        last_switch_to_on_demand=last.astimezone(UTC) if last else None,
        global_secondary_indexes=len(table.get("GlobalSecondaryIndexes") or []),
        decreases_today=(table.get("ProvisionedThroughput") or {}).get("NumberOfDecreasesToday") or 0,
    )


class TableCapacity:
    def __init__(self, module: AnsibleAWSModule):
        self.module = module
        self.params = module.params
        self.dynamodb = aws_client(module, "dynamodb")
        self.requests = {key: self.params[key] for key in ("billing_mode", "capacity", "read_capacity",
                                                           "write_capacity")}
        self.policy = TablePolicy(
            capacity_headroom=self.params["capacity_headroom"],
            breakeven_utilization=self.params["breakeven_utilization"],
            switch_margin=self.params["switch_margin"],
            spiky_ratio=self.params["spiky_ratio"],
            min_hours=self.params["min_hours"],
            min_hours_between_switches=self.params["min_hours_between_switches"],
            allow_unsafe=self.params["allow_unsafe"],
        )

    def selected_names(self) -> list:
        suffix = self.params["suffix"]
        if self.params["tables"] is not None:
            names = list(dict.fromkeys(table_name_of(entry) for entry in self.params["tables"]))
        else:
            paginator = self.dynamodb.get_paginator("list_tables")
            names = [name for page in paginator.paginate() for name in page["TableNames"]]
        if suffix is not None:
            names = [name for name in names if has_suffix(name, suffix)]
        return sorted(names)

    def describe(self, name: str) -> dict | None:
        try:
            return self.dynamodb.describe_table(TableName=name)["Table"]
        except self.dynamodb.exceptions.ResourceNotFoundException:
            return None

    def found(self) -> tuple[dict, list]:
        """({name: DescribeTable's Table} of the selected tables, names asked for that do not exist)."""
        described, missing = {}, []
        for name in self.selected_names():
            table = self.describe(name)
            if table is None:
                missing.append(name)
            else:
                described[name] = table
        return described, missing

    def plan(self, described: dict) -> list:
        measured = table_metrics.measure(aws_client(self.module, "cloudwatch"), sorted(described),
                                         self.params["lookback_days"], self.params["period_seconds"])
        now = datetime.now(UTC)
        entries = []
        for name, table in sorted(described.items()):
            state = state_of(table)
            plan = plan_table(state, self.requests, table_metrics.evidence_of(measured[name]), self.policy, now)
            entries.append({
                "table_name": name,
                "table_arn": table["TableArn"],
                "status": "planned" if plan.changes else "unchanged",
                "before": table_settings(table),
                "after": plan.after(state),
                "usage": measured[name],
                "recommendation": plan.recommendation.as_dict(),
                "changes": [decision.as_dict() for decision in plan.changes],
                "refused": [decision.as_dict() for decision in plan.refused],
                "last_switch_to_on_demand": (state.last_switch_to_on_demand.isoformat()
                                             if state.last_switch_to_on_demand else None),
                "global_secondary_indexes": state.global_secondary_indexes,
            })
        return entries

    def update(self, entry: dict, table_status: str) -> None:
        if table_status != "ACTIVE":
            # DynamoDB refuses to update a table that is still being created or updated.
            wait_until_active(self.dynamodb, entry["table_name"])
        # Announced to the run's journal (journal.py) first, as the change record holds it.
        reasons = "; ".join(change["reason"] for change in entry["changes"] if change.get("reason"))
        accepted = journal.announce("table", entry["table_arn"], table_name=entry["table_name"],
                                    before=entry["before"], after=entry["after"], reason=reasons or None)
        request_throughput(self.dynamodb, entry["table_name"], entry["after"])
        accepted()
        wait_until_active(self.dynamodb, entry["table_name"])

    def apply(self, entries: list, described: dict) -> None:
        pending = {entry["table_name"]: entry for entry in entries if entry["status"] == "planned"}
        outcomes = run_bounded(lambda name: self.update(pending[name], described[name]["TableStatus"]),
                               sorted(pending), PARALLEL_UPDATES)
        for name, entry in pending.items():
            _result, error = outcomes[name]
            try:
                table = self.describe(name)
            except (BotoCoreError, ClientError) as read_error:
                table, error = None, error or read_error
            if table is not None:
                entry["after"] = table_settings(table)
            elif error is None:
                error = "the table was deleted while it was being changed"
            if error is not None:
                entry.update(status="failed", error=str(error))
            else:
                entry["status"] = "changed"

    def run(self) -> dict:
        described, missing = self.found()
        entries = self.plan(described)
        if not self.module.check_mode:
            self.apply(entries, described)
        result = bulk_result(self.module, "tables", entries, missing, lambda entry: entry["table_name"])
        if not entries and not missing:
            self.module.warn("no tables matched the selection; nothing to do")
        return result


def main():
    argument_spec = dict(
        suffix=dict(type="str"),
        tables=dict(type="list", elements="raw"),
        billing_mode=dict(type="str", choices=[AUTO, "PROVISIONED", ON_DEMAND]),
        capacity=dict(type="str", choices=[AUTO]),
        read_capacity=dict(type="int"),
        write_capacity=dict(type="int"),
        capacity_headroom=dict(type="float", default=1.5),
        lookback_days=dict(type="int", default=14),
        period_seconds=dict(type="int", choices=[60, 300, 3600], default=3600),
        breakeven_utilization=dict(type="float", default=0.29),
        switch_margin=dict(type="float", default=0.1),
        spiky_ratio=dict(type="float", default=4),
        min_hours=dict(type="int", default=24),
        min_hours_between_switches=dict(type="int", default=24),
        allow_unsafe=dict(type="bool", default=False),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, required_one_of=[["suffix", "tables"]],
                              supports_check_mode=True)
    errors = option_errors(module.params)
    if errors:
        module.fail_json(msg="; ".join(errors))

    try:
        result = TableCapacity(module).run()
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg="Could not decide the tables' capacity")
    finish(module, result, "could not change the capacity of")


if __name__ == "__main__":
    main()
