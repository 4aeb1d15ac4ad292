# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an optimization run did to each function, read from the results its tasks registered.

In a dry run the tasks only plan (status C(planned...)) and the plan is what counts; after a real run
only what was applied counts, so a failed update leaves its function as it was - unless AWS accepted part of it
first (the entry names those fields under C(accepted)), and then its C(after) is what it was read back to hold."""

from __future__ import annotations

from dataclasses import dataclass, field

from ansible_collections.tap.lambdaopt.plugins.module_utils.alarms import NOTIFY_NO_ONE
from ansible_collections.tap.lambdaopt.plugins.module_utils.results import partly_applied

# The registered results the report reads, by the task option that carries each.
TASKS = ("rightsize", "log_retention", "tracing", "dead_letter_queues", "alarms", "secrets",
         "provisioned_concurrency", "tables")
APPLIED = ("changed", "created", "updated", "deleted")


def took_effect(status: str | None, dry_run: bool) -> bool:
    status = status or ""
    return status.startswith("planned") if dry_run else status in APPLIED


def left_as_after(entry: dict, dry_run: bool) -> bool:
    """Whether an entry's `after` is what the run left (or, in a dry run, would leave): applied, or, after a real
    run, failed once AWS had accepted part of it (then its `after` is what it was read back to hold)."""
    return took_effect(entry.get("status"), dry_run) or (not dry_run and partly_applied(entry))


def ran(result) -> bool:
    """Whether a registered result comes from a task that ran (not skipped, not undefined)."""
    return isinstance(result, dict) and not result.get("skipped")


@dataclass
class AlarmChange:
    alarm_name: str
    added: bool  # created; otherwise deleted
    metrics: int
    high_resolution: bool


@dataclass
class Outcome:
    """One function's settings before and after the run, and what the run added to it."""

    memory_before: int | None = None
    memory_after: int | None = None
    retention: dict | None = None  # {"stored_bytes", "before", "after", "exists"} when log_retention ran
    tracing_before: bool = False
    tracing_after: bool = False
    dead_letter_added: bool = False
    secrets_added: int = 0
    alarms: list = field(default_factory=list)
    # {"entry": the alias's result, "before": n, "after": n} per alias with provisioned concurrency
    provisioned: list = field(default_factory=list)
    changes: list = field(default_factory=list)
    refused: list = field(default_factory=list)
    failed: list = field(default_factory=list)


@dataclass
class RunOutcome:
    dry_run: bool
    functions: dict
    shared_alarms: list
    secrets_created: list
    tasks: dict  # task -> whether it ran
    # {"entry": the table's result, "before": {...}, "after": {...}} per table
    tables: list = field(default_factory=list)
    table_changes: list = field(default_factory=list)
    # What the run leaves that someone should act on, e.g. alarms that notify no one.
    warnings: list = field(default_factory=list)


def _by_function(result, key: str = "functions") -> dict:
    return {entry["function_name"]: entry for entry in (result or {}).get(key) or [] if "function_name" in entry}


def _by_log_group_user(result) -> dict:
    """{function name: the entry of the log group it logs to}: log_retention has one entry per group, shared by
    every function of the run that logs to it (`function_names`)."""
    return {name: entry for entry in (result or {}).get("log_groups") or [] if "function_name" in entry
            for name in entry.get("function_names") or [entry["function_name"]]}


def _queue_name(arn: str | None) -> str | None:
    return arn.rsplit(":", 1)[-1] if arn else None


def _note_failure(outcome: Outcome, task: str, entry: dict | None) -> None:
    if entry and entry.get("status") == "failed":
        outcome.failed.append({"task": task, "error": entry.get("error") or "failed"})


def _rightsize(outcome: Outcome, entry: dict | None, dry_run: bool) -> None:
    if not entry:
        return
    outcome.memory_before = entry["before"]["memory_size"]
    applied = left_as_after(entry, dry_run)
    outcome.memory_after = entry["after"]["memory_size"] if applied else outcome.memory_before
    if applied:
        outcome.changes += [{"setting": change["field"], "before": change["before"],
                             "after": entry["after"][change["field"]] if "accepted" in entry else change["after"],
                             "reason": change["reason"]} for change in entry.get("changes") or []
                            if change["field"] in entry.get("accepted", [change["field"]])]
    outcome.refused += [{"setting": refusal["field"], "requested": refusal.get("requested"),
                         "reason": refusal["reason"], "risk": refusal.get("risk"), "context": refusal.get("context")}
                        for refusal in entry.get("refused") or []]
    _note_failure(outcome, "lambda_rightsize", entry)


def _retention(outcome: Outcome, entry: dict | None, dry_run: bool, name: str) -> None:
    if not entry:
        return
    before = entry["before"]["retention_in_days"]
    applied = left_as_after(entry, dry_run)
    after = entry["after"]["retention_in_days"] if applied else before
    outcome.retention = {"stored_bytes": int(entry.get("stored_bytes") or 0), "before": before, "after": after,
                         "exists": entry["before"].get("exists", True), "log_group_name": entry.get("log_group_name")}
    if name != entry["function_name"]:
        return  # a shared group's change, refusal and failure are told once, with the first function that uses it
    if applied:
        outcome.changes.append({"setting": "log_retention_days", "before": before, "after": after,
                                "reason": entry.get("reason")})
    if entry.get("status") == "refused":
        outcome.refused.append({"setting": "log_retention_days", "requested": None, "reason": entry.get("reason"),
                                "risk": "permanent loss of older log events"})
    _note_failure(outcome, "log_retention", entry)


def _tracing(outcome: Outcome, entry: dict | None, dry_run: bool, mode_before: str | None) -> None:
    before = (entry or {}).get("before", {}).get("tracing_mode", mode_before)
    outcome.tracing_before = outcome.tracing_after = before == "Active"
    if entry and left_as_after(entry, dry_run):
        after = entry["after"]["tracing_mode"]
        outcome.tracing_after = after == "Active"
        if after != before:
            outcome.changes.append({"setting": "tracing_mode", "before": before, "after": after,
                                    "reason": "X-Ray traces each sampled request; the role may only write traces"})
    _note_failure(outcome, "lambda_tracing", entry)


def _dead_letter(outcome: Outcome, entry: dict | None, dry_run: bool) -> None:
    if entry and left_as_after(entry, dry_run):
        before = entry["before"].get("dead_letter_target")
        after = entry["after"].get("dead_letter_target")
        if after != before:
            outcome.dead_letter_added = before is None
            outcome.changes.append({"setting": "dead_letter_queue", "before": _queue_name(before),
                                    "after": _queue_name(after),
                                    "reason": "failed asynchronous invocations are kept instead of dropped"})
    _note_failure(outcome, "lambda_dlq", entry)


def _secrets(outcome: Outcome, entry: dict | None, dry_run: bool) -> None:
    if entry and left_as_after(entry, dry_run):
        before = set(entry["before"].get("variables") or {})
        after = set(entry["after"].get("variables") or {})
        outcome.secrets_added = len(after - before)
        if after != before:
            outcome.changes.append({"setting": "secrets", "before": sorted(before), "after": sorted(after),
                                    "reason": "read from Secrets Manager at run time; values are never shown"})
    _note_failure(outcome, "lambda_secrets", entry)


def _alarm_changes(result, dry_run: bool) -> list:
    changes = []
    for entry in (result or {}).get("alarms") or []:
        status = entry.get("status") or ""
        if not took_effect(status, dry_run) or status.endswith("update") or status == "updated":
            continue  # an update keeps the alarm, and its price
        change = AlarmChange(entry["alarm_name"], added=not status.endswith("delete") and status != "deleted",
                             metrics=int(entry.get("metrics") or 1),
                             high_resolution=bool(entry.get("high_resolution")))
        changes.append((entry.get("function_name"), change))
    return changes


def _created_secrets(result, dry_run: bool) -> list:
    created = []
    for secret in (result or {}).get("secrets") or []:
        status = secret.get("status")
        if status == "created" or (dry_run and status == "planned" and secret.get("action") == "create"):
            created.append(secret.get("secret_name") or secret.get("env"))
    return created


def _settled(entry: dict, dry_run: bool) -> dict:
    """The entry's settings once the run is over: its planned or applied `after`, else its `before`."""
    return entry["after"] if took_effect(entry.get("status"), dry_run) else entry["before"]


def _refusals(setting: str, entry: dict) -> list:
    return [{"setting": setting, "requested": refusal.get("requested"), "reason": refusal["reason"],
             "risk": refusal.get("risk")} for refusal in entry.get("refused") or []]


def _provisioned(outcome: Outcome, entries: list, dry_run: bool) -> None:
    for entry in entries:
        setting = f"provisioned_concurrency ({entry['qualifier']})"
        before = entry["before"]["provisioned_concurrency"]
        after = _settled(entry, dry_run)["provisioned_concurrency"]
        outcome.provisioned.append({"entry": entry, "before": before, "after": after})
        if after != before:
            outcome.changes += [{"setting": setting, "before": before, "after": after, "reason": change["reason"]}
                                for change in entry.get("changes") or []]
        outcome.refused += _refusals(setting, entry)
        _note_failure(outcome, "lambda_provisioned_concurrency", entry)


def _tables(result, dry_run: bool) -> tuple[list, list]:
    tables, changes = [], []
    for entry in (result or {}).get("tables") or []:
        after = _settled(entry, dry_run)
        tables.append({"entry": entry, "before": entry["before"], "after": after})
        if after != entry["before"]:
            changes += [{"setting": f"{entry['table_name']} {change['field']}", "before": change["before"],
                         "after": change["after"], "reason": change["reason"]} for change in entry.get("changes") or []]
    return tables, changes


def read_run(usage: list, results: dict, dry_run: bool) -> RunOutcome:
    """Each function's Outcome from the registered results (a task that did not run is None or skipped)."""
    results = {task: results.get(task) if ran(results.get(task)) else None for task in TASKS}
    rightsize = _by_function(results["rightsize"])
    retention = _by_log_group_user(results["log_retention"])
    tracing = _by_function(results["tracing"])
    dead_letter = _by_function(results["dead_letter_queues"])
    secrets = _by_function(results["secrets"])
    alarm_changes = _alarm_changes(results["alarms"], dry_run)
    aliases: dict = {}
    for entry in (results["provisioned_concurrency"] or {}).get("aliases") or []:
        aliases.setdefault(entry["function_name"], []).append(entry)
    functions = {}
    for function in usage:
        name = function["function_name"]
        configuration = function.get("configuration") or {}
        outcome = Outcome(memory_before=configuration.get("memory_size"),
                          memory_after=configuration.get("memory_size"))
        _rightsize(outcome, rightsize.get(name), dry_run)
        _retention(outcome, retention.get(name), dry_run, name)
        _tracing(outcome, tracing.get(name), dry_run, configuration.get("tracing_mode"))
        _dead_letter(outcome, dead_letter.get(name), dry_run)
        _secrets(outcome, secrets.get(name), dry_run)
        _provisioned(outcome, aliases.get(name, []), dry_run)
        outcome.alarms = [change for owner, change in alarm_changes if owner == name]
        added = [change.alarm_name for change in outcome.alarms if change.added]
        if added:
            outcome.changes.append({"setting": "alarms", "before": None, "after": added,
                                    "reason": "alarms on error rate, duration and throttles"})
        functions[name] = outcome
    tables, table_changes = _tables(results["tables"], dry_run)
    return RunOutcome(
        dry_run=dry_run,
        functions=functions,
        shared_alarms=[change for owner, change in alarm_changes if owner not in functions],
        secrets_created=_created_secrets(results["secrets"], dry_run),
        tasks={task: results[task] is not None for task in TASKS},
        tables=tables,
        table_changes=table_changes,
        warnings=[NOTIFY_NO_ONE] if (results["alarms"] or {}).get("notifies_no_one") else [],
    )
