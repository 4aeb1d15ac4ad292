# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Log retention decisions for the functions' log groups (pure), and the export that can precede them."""

from __future__ import annotations

import time
from dataclasses import dataclass

# The only retentionInDays values CloudWatch Logs accepts.
VALID_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)
EXPORT_DONE = ("COMPLETED", "CANCELLED", "FAILED")

# What to do with a log group: create it with the retention, set the retention, leave it, or refuse to shorten it.
CREATE, SET, NO_CHANGE, REFUSE = "create", "set", "none", "refuse"
DATA_LOSS_RISK = "permanent loss of older log events"
SHARED_LOSS_RISK = "permanent loss of older log events of functions outside the fleet"


@dataclass(frozen=True)
class Refusal:
    """One guard a shortening breaks: why it is refused, how to proceed, and the risk it would have run."""
    reason: str
    risk: str


@dataclass(frozen=True)
class RetentionPlan:
    action: str  # CREATE, SET, NO_CHANGE or REFUSE
    shortens: bool
    reason: str
    # Every guard a refused shortening breaks, so that one run names all it needs.
    refusals: tuple = ()


def describe(days: int | None) -> str:
    return "never expire" if days is None else f"{days} days"


def plan_retention(exists: bool, current: int | None, desired: int, stored_bytes: int,
                   allow_data_loss: bool, exporting: bool, shared_with: list | None = None,
                   allow_shared: bool = False) -> RetentionPlan:
    """What to do with one log group. Shortening retention deletes every event older than the new
    period, so it needs an export first or an explicit acceptance of the loss. A group that functions outside
    the fleet also log to (`shared_with`, LoggingConfig.LogGroup) loses their events too: shortening it is refused
    unless `allow_shared`, and every plan for it names them. A refused plan lists each guard it breaks."""
    others = f"shared with {', '.join(shared_with)} outside the fleet" if shared_with else ""
    if not exists:
        return RetentionPlan(CREATE, False, f"log group missing: created with retention {describe(desired)}")
    if current == desired:
        return RetentionPlan(NO_CHANGE, False, f"retention already {describe(desired)}")
    shortens = current is None or desired < current
    if not shortens:
        lengthened = f"retention lengthened from {describe(current)} to {describe(desired)}"
        return RetentionPlan(SET, False, f"{lengthened} (the group is {others})" if others else lengthened)
    loss = (f"shortening retention from {describe(current)} to {describe(desired)} deletes events older than "
            f"{desired} days, of up to {stored_bytes} stored bytes")
    refusals = []
    if others and not allow_shared:
        refusals.append(Refusal(f"the group is {others}, whose events older than {desired} days it deletes too: "
                                "set allow_shared_log_groups to proceed", SHARED_LOSS_RISK))
    if not (exporting or allow_data_loss):
        refusals.append(Refusal(f"{loss}: set allow_data_loss or export_bucket to proceed", DATA_LOSS_RISK))
    if others:
        loss = f"{loss}, theirs too: the group is {others}"
        if not allow_shared:
            return RetentionPlan(REFUSE, True, f"{loss}; set allow_shared_log_groups to proceed", tuple(refusals))
        loss = f"{loss} (allowed by allow_shared_log_groups)"
    if exporting:
        return RetentionPlan(SET, True, f"{loss}; they are exported to S3 first")
    if allow_data_loss:
        return RetentionPlan(SET, True, f"{loss} (allowed by allow_data_loss)")
    return RetentionPlan(REFUSE, True, f"{loss}: set allow_data_loss or export_bucket to proceed", tuple(refusals))


def export_and_wait(logs, group: str, until_ms: int, bucket: str, prefix: str, timeout_s: float,
                    poll_s: float = 2.0, clock=time.monotonic, sleep=time.sleep) -> dict:
    """Export a group's events up to `until_ms` to S3 and wait until the task ends (one export runs
    at a time per account, so callers export group by group)."""
    task_id = logs.create_export_task(
        taskName=f"lambdaopt-{group.strip('/').replace('/', '-')}"[:512],
        logGroupName=group, fromTime=0, to=until_ms, destination=bucket, destinationPrefix=prefix,
    )["taskId"]
    deadline = clock() + timeout_s
    while True:
        task = logs.describe_export_tasks(taskId=task_id)["exportTasks"][0]
        status = task["status"]["code"]
        if status in EXPORT_DONE:
            break
        if clock() > deadline:
            status = "TIMED_OUT"
            break
        # CloudWatch Logs has no waiter for export tasks.
        sleep(poll_s)
    return {"task_id": task_id, "destination": f"s3://{bucket}/{prefix}", "status": status}
