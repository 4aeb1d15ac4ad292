# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The change record of a run: every value the run changed, before and after, and the module that
changed it, so that tap.lambdaopt.lambda_rollback can put each one back. The record carries the digest
of its content (record_trust.digest), which rollback checks before it acts on anything."""

from __future__ import annotations

from datetime import UTC, datetime

from ansible_collections.tap.lambdaopt.plugins.module_utils import record_schema
from ansible_collections.tap.lambdaopt.plugins.module_utils.record_trust import with_digest
from ansible_collections.tap.lambdaopt.plugins.plugin_utils.run_results import (
    MODULES,
    Change,
    Refusal,
    RunResults,
    read,
)


def _change(change: Change) -> dict:
    return {"function_name": change.name, "field": change.field, "before": change.before, "after": change.after,
            "module": change.module, "reason": change.reason, **change.where}


def _refusal(refusal: Refusal) -> dict:
    return {"function_name": refusal.name, "field": refusal.field, "requested": refusal.requested,
            "reason": refusal.reason, "risk": refusal.risk, "module": refusal.module, **refusal.where}


def _tables(run: RunResults) -> list:
    """One entry per table whose throughput the run changed, with the reasons of each of its fields' changes."""
    reasons: dict = {}
    for change in run.changes:
        if change.task == "tables" and change.reason:
            reasons.setdefault(change.name, []).append(change.reason)
    return [{"table_name": table.name, "before": table.before, "after": table.after, "module": MODULES["tables"],
             "reason": "; ".join(reasons.get(table.name, [])) or None}
            for table in run.settled["tables"] if table.before != table.after]


def of_run(run: RunResults, account_id: str | None, region: str, now: datetime | None = None) -> dict:
    """The change record of what a run did, as read from its registered results."""
    return with_digest({
        "schema_version": record_schema.SCHEMA_VERSION,
        "kind": record_schema.KIND,
        "mode": record_schema.DRY_RUN if run.dry_run else record_schema.APPLIED,
        "recorded_at": (now or datetime.now(UTC)).replace(microsecond=0).isoformat(),
        "account_id": account_id,
        "region": region,
        "changes": [_change(change) for change in run.changes if change.task != "tables"],
        # Of a role policy, only the keys rollback reads.
        "role_policies": [{"role_name": policy.role_name, "policy_name": policy.policy_name, "before": policy.before,
                           "after": policy.after, "module": policy.module} for policy in run.role_policies],
        "alarms": [{"alarm_name": alarm.alarm_name, "function_name": alarm.function_name,
                    "queue_name": alarm.queue_name, "change": alarm.change, "module": alarm.module}
                   for alarm in run.alarms],
        "resources": [{"kind": resource.kind, "name": resource.name, "arn": resource.arn, "change": resource.change,
                       "module": resource.module} for resource in run.resources],
        "tables": _tables(run),
        "aliases": [{"function_name": alias.function_name, "alias_name": alias.alias_name, "before": alias.before,
                     "after": alias.after, "module": alias.module} for alias in run.aliases],
        "refused": [_refusal(refusal) for refusal in run.refusals],
        "failed": [{"function_name": failure.name, "module": failure.module, "error": failure.error}
                   for failure in run.failures],
    })


def build(results: dict, dry_run: bool, account_id: str | None, region: str, now: datetime | None = None) -> dict:
    """The change record of a run, from the results its tasks registered."""
    return of_run(read(results, dry_run), account_id, region, now)


def file_name(record: dict) -> str:
    recorded = datetime.fromisoformat(record["recorded_at"]).strftime("%Y%m%dT%H%M%SZ")
    return f"lambdaopt-changes-{record['account_id'] or 'unknown-account'}-{record['region']}-{recorded}.json"
