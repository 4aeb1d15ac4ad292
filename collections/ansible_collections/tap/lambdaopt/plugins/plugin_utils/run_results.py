# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an optimization run did, read once from the results its tasks registered.

`read` walks the registered results and gives what the run did as plain records - the settings it changed, the
changes it refused, the entries that failed, each resource as the run left it - from which the change record
(change_record.py) is written, and from which `read_run` gathers, function by function, what the savings report
prices. Neither of those reads a registered result itself.

In a dry run the tasks only plan (status C(planned...)) and the plan is what counts; after a real run
only what was applied counts, so a failed update leaves its resource as it was - unless AWS accepted part of it
first (the entry names those fields under C(accepted)), and then its C(after) is what it was read back to hold."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ansible_collections.tap.lambdaopt.plugins.module_utils.alarms import NOTIFY_NO_ONE
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import format_arn, parse_whole_arn
from ansible_collections.tap.lambdaopt.plugins.module_utils.results import (
    CHANGED,
    CREATED,
    DELETED,
    FAILED,
    REFUSED,
    UPDATED,
    partly_applied,
)

# The registered results a run hands over, by the task option that carries each, and the module that registers it.
MODULES = {
    "rightsize": "tap.lambdaopt.lambda_rightsize",
    "log_retention": "tap.lambdaopt.log_retention",
    "tracing": "tap.lambdaopt.lambda_tracing",
    "dead_letter_queues": "tap.lambdaopt.lambda_dlq",
    "alarms": "tap.lambdaopt.lambda_alarms",
    "secrets": "tap.lambdaopt.lambda_secrets",
    "provisioned_concurrency": "tap.lambdaopt.lambda_provisioned_concurrency",
    "tables": "tap.lambdaopt.dynamodb_capacity",
    "canary": "tap.lambdaopt.lambda_canary",
}
TASKS = tuple(MODULES)
APPLIED = (CHANGED, CREATED, UPDATED, DELETED)
# The tasks that change one resource per entry, in the order their changes, refusals and failures are read: the
# key of the result that lists the entries, and the key that names each entry's resource (an alias by its function,
# a log group by the first function of the run that logs to it).
ENTRY_TASKS = {
    "rightsize": ("functions", "function_name"),
    "provisioned_concurrency": ("aliases", "function_name"),
    "log_retention": ("log_groups", "function_name"),
    "tracing": ("functions", "function_name"),
    "dead_letter_queues": ("functions", "function_name"),
    "secrets": ("functions", "function_name"),
    "tables": ("tables", "table_name"),
    "canary": ("aliases", "function_name"),
}
# The configuration field of a function each hardening task changes, as its entries' before and after name it.
HARDENED_FIELDS = {
    "tracing": ("tracing_mode", "tracing_mode"),
    "dead_letter_queues": ("dead_letter_target", "dead_letter_target"),
    # Only the variables lambda_secrets manages: the function's other variables were never touched.
    "secrets": ("environment", "variables"),
}
RETENTION_RISK = "permanent loss of older log events"
# What of an alias a canary moves: the version it points to and its routing.
ROUTING_KEYS = ("function_version", "additional_version_weights")
# What of a canary's verdict says it was rolled back after its bake period.
ROLLED_BACK = "rolled_back"
# What a run that creates, updates or deletes something did to it, by its planned action.
DONE = {"create": CREATED, "update": UPDATED, "delete": DELETED}


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
class Change:
    """A setting the run changed (or, in a dry run, would change): of a function, or of a table."""

    task: str
    name: str
    field: str
    before: object
    after: object
    reason: str | None = None
    # What else names the setting: an alias's qualifier, a log group's name and whether the run created it.
    where: dict = dataclasses.field(default_factory=dict)

    @property
    def module(self) -> str:
        return MODULES[self.task]


@dataclass
class Refusal:
    """A change a guard refused, and the risk it would have run."""

    task: str
    name: str
    field: str
    requested: object
    reason: str | None
    risk: str | None
    context: str | None = None  # the guard of the function's context that refused it, if one did
    where: dict = dataclasses.field(default_factory=dict)

    @property
    def module(self) -> str:
        return MODULES[self.task]


@dataclass
class Failure:
    """An entry that failed: the resource it names stays as it was, unless AWS accepted part of the change."""

    task: str
    name: str
    error: str | None

    @property
    def module(self) -> str:
        return MODULES[self.task]


@dataclass
class Settled:
    """One resource as the run left it (or, in a dry run, would leave it): its `after` is its `before` unless
    the run's change took effect."""

    task: str
    name: str
    before: dict
    after: dict
    entry: dict  # the registered entry, for what only a price needs (stored bytes, usage, memory size)


@dataclass
class RolePolicy:
    """An inline policy the run wrote to a role, or that a function it changed depends on."""

    task: str
    role_name: str
    policy_name: str
    before: dict | None
    after: dict | None

    @property
    def module(self) -> str:
        return MODULES[self.task]


@dataclass
class AlarmChange:
    alarm_name: str
    function_name: str | None
    queue_name: str | None
    change: str  # created, updated or deleted
    metrics: int
    high_resolution: bool

    @property
    def added(self) -> bool:
        return self.change != DELETED

    @property
    def module(self) -> str:
        return MODULES["alarms"]


@dataclass
class Resource:
    """A queue or secret the run created or changed (a secret's value is never read)."""

    task: str
    kind: str
    name: str
    arn: str | None
    change: str

    @property
    def module(self) -> str:
        return MODULES[self.task]


@dataclass
class AliasMove:
    """An alias a canary left pointing elsewhere, or routing otherwise, than before the run."""

    function_name: str
    alias_name: str
    before: dict
    after: dict

    @property
    def module(self) -> str:
        return MODULES["canary"]


@dataclass
class RunResults:
    """What a run did, as read once from the results its tasks registered."""

    dry_run: bool
    ran: dict  # task -> whether it ran
    changes: list = field(default_factory=list)
    refusals: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    settled: dict = field(default_factory=dict)  # task -> [Settled], for the tasks of ENTRY_TASKS
    alarms: list = field(default_factory=list)
    resources: list = field(default_factory=list)
    role_policies: list = field(default_factory=list)
    aliases: list = field(default_factory=list)  # [AliasMove]
    notifies_no_one: bool = False


class Reader:
    def __init__(self, results: dict, dry_run: bool):
        self.results = {task: results.get(task) if ran(results.get(task)) else None for task in TASKS}
        self.run = RunResults(dry_run=dry_run, ran={task: self.results[task] is not None for task in TASKS})
        self.readers = {"rightsize": self.rightsize, "provisioned_concurrency": self.provisioned_concurrency,
                        "log_retention": self.log_retention, "tracing": self.hardened,
                        "dead_letter_queues": self.hardened, "secrets": self.hardened, "tables": self.tables,
                        "canary": self.canary}

    def listed(self, task: str, key: str) -> list:
        return (self.results[task] or {}).get(key) or []

    def change(self, task: str, name: str, field_name: str, before, after, reason=None, **where) -> None:
        self.run.changes.append(Change(task, name, field_name, before, after, reason, where))

    def entries(self, task: str) -> None:
        """Each entry of a task that changes one resource per entry: what the run left it holding, what it changed,
        refused and failed."""
        settled = self.run.settled.setdefault(task, [])
        roles = set()
        key, name_key = ENTRY_TASKS[task]
        for entry in self.listed(task, key):
            name = entry[name_key]
            # A failed entry part of whose change was made counts, with the `after` it was read back to hold.
            applied = left_as_after(entry, self.run.dry_run)
            after = entry["after"] if applied else entry["before"]
            settled.append(Settled(task, name, entry["before"], after, entry))
            if applied:
                roles.add(entry.get("role_name"))
            self.readers[task](task, entry, name, applied)
            if entry.get("status") == FAILED:
                self.run.failures.append(Failure(task, name, entry.get("error")))
        if task in HARDENED_FIELDS:
            self.role_policies(task, roles)

    def refusals(self, task: str, name: str, entry: dict, **where) -> None:
        self.run.refusals += [Refusal(task, name, refusal["field"], refusal.get("requested"), refusal["reason"],
                                      refusal.get("risk"), refusal.get("context"), where)
                              for refusal in entry.get("refused") or []]

    def rightsize(self, task: str, entry: dict, name: str, applied: bool) -> None:
        # Which evidence of how the function scales with memory its decisions were projected with.
        evidence = {"evidence": entry["scaling"]["evidence"]} if entry.get("scaling") else {}
        if applied:
            for change in entry.get("changes") or []:
                # Of a function that failed part-way, only what Lambda accepted, as it was read back.
                after = entry["after"][change["field"]] if "accepted" in entry else change["after"]
                if change["field"] in entry.get("accepted", [change["field"]]) and change["before"] != after:
                    self.change(task, name, change["field"], change["before"], after, change.get("reason"),
                                **evidence)
        self.refusals(task, name, entry, **evidence)

    def provisioned_concurrency(self, task: str, entry: dict, name: str, applied: bool) -> None:
        before = entry["before"]["provisioned_concurrency"]
        after = entry["after"]["provisioned_concurrency"]
        if applied and before != after:
            reason = next((change.get("reason") for change in entry.get("changes") or []), None)
            self.change(task, name, "provisioned_concurrency", before, after, reason, qualifier=entry["qualifier"])
        self.refusals(task, name, entry, qualifier=entry["qualifier"])

    def log_retention(self, task: str, entry: dict, name: str, applied: bool) -> None:
        before, after = entry["before"]["retention_in_days"], entry["after"]["retention_in_days"]
        existed = entry["before"].get("exists", True)
        if applied and (before != after or not existed):
            self.change(task, name, "log_retention_days", before, after, entry.get("reason"),
                        log_group_name=entry.get("log_group_name"), log_group_existed=existed)
        if entry.get("status") == REFUSED:
            self.run.refusals.append(Refusal(task, name, "log_retention_days", None, entry.get("reason"),
                                             RETENTION_RISK))

    def hardened(self, task: str, entry: dict, name: str, applied: bool) -> None:
        field_name, source = HARDENED_FIELDS[task]
        before, after = entry["before"].get(source), entry["after"].get(source)
        if applied and before != after:
            self.change(task, name, field_name, before, after)

    def tables(self, task: str, entry: dict, name: str, applied: bool) -> None:
        """A table's throughput, one change per field."""
        if applied and entry["before"] != entry["after"]:
            for change in entry.get("changes") or []:
                self.change(task, name, change.get("field"), change.get("before"), change.get("after"),
                            change.get("reason"))

    def canary(self, task: str, entry: dict, name: str, applied: bool) -> None:
        """An alias the canary moved, and the version it published that the alias now serves. A failed entry counts
        with the routing it says it left. A dry run's planned moves are left out: the version a canary would publish
        has no number until it is published."""
        if entry.get("qualifier") is None:
            return  # a function without an alias: nothing to deliver through one
        before = {key: entry["before"][key] for key in ROUTING_KEYS}
        after = {key: entry["after"][key] for key in ROUTING_KEYS}
        if not self.run.dry_run and before != after:
            self.run.aliases.append(AliasMove(name, entry["qualifier"], before, after))
            canary = entry.get("canary") or {}
            served = (after["function_version"], *after["additional_version_weights"])
            parts = parse_whole_arn(entry.get("alias_arn"))
            if canary.get("created") and canary.get("version") in served and parts and not any(
                    resource.kind == "lambda_version" and resource.name == name for resource in self.run.resources):
                self.run.resources.append(Resource(task, "lambda_version", name, format_arn(
                    parts, resource=f"function:{name}:{canary['version']}"), CREATED))
        self.refusals(task, name, entry, qualifier=entry["qualifier"])

    def role_policies(self, task: str, roles: set) -> None:
        """The policies of the roles whose functions changed, and any a real run wrote (it stays written even
        when the functions then failed); a grant that failed left the policy as it was, so it is no change."""
        for policy in self.listed(task, "role_policies"):
            status = policy.get("status")
            if status != FAILED and (status == CHANGED or policy["role_name"] in roles):
                self.run.role_policies.append(RolePolicy(task, policy["role_name"], policy["policy_name"],
                                                         policy["before"], policy["after"]))

    def alarms(self) -> None:
        for alarm in self.listed("alarms", "alarms"):
            status = alarm.get("status") or ""
            if took_effect(status, self.run.dry_run):
                action = status.removeprefix("planned-")
                self.run.alarms.append(AlarmChange(alarm["alarm_name"], alarm.get("function_name"),
                                                   alarm.get("queue_name"), DONE.get(action, action),
                                                   int(alarm.get("metrics") or 1), bool(alarm.get("high_resolution"))))
        self.run.notifies_no_one = bool((self.results["alarms"] or {}).get("notifies_no_one"))

    def resources(self, task: str, key: str, kind: str, name_key: str, arn_key: str) -> None:
        for resource in self.listed(task, key):
            status = resource.get("status") or ""
            if took_effect(status, self.run.dry_run):
                self.run.resources.append(Resource(task, kind, resource[name_key], resource.get(arn_key),
                                                   DONE.get(resource.get("action"), status)))


def read(results: dict, dry_run: bool) -> RunResults:
    """What the run did, from the registered results by task (a task that did not run is None or skipped)."""
    reader = Reader(results, dry_run)
    for task in ENTRY_TASKS:
        reader.entries(task)
    reader.alarms()
    reader.resources("dead_letter_queues", "queues", "sqs_queue", "queue_name", "queue_arn")
    reader.resources("secrets", "secrets", "secret", "secret_name", "secret_arn")
    return reader.run


# --- What the savings report prices, function by function ---

# In the report's order, the tasks whose changes, refusals and failures a function's row tells.
FUNCTION_TASKS = ("rightsize", "log_retention", "tracing", "dead_letter_queues", "secrets",
                  "provisioned_concurrency")
# Why the hardening changes, as the report tells a reader who did not write the policy.
EXPLANATIONS = {
    "tracing_mode": "X-Ray traces each sampled request; the role may only write traces",
    "dead_letter_target": "failed asynchronous invocations are kept instead of dropped",
    "environment": "read from Secrets Manager at run time; values are never shown",
}


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
    # Of a function served through an alias, whether its right-sizing reached the alias's traffic (see delivery).
    delivery: str | None = None


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


def _queue_name(arn: str | None) -> str | None:
    if not arn:
        return None
    parts = parse_whole_arn(arn)
    return parts["resource"] if parts else arn


def _report_change(change: Change) -> dict | None:
    """A change as the report tells it; None for one it does not (secrets whose values alone changed)."""
    setting, before, after = change.field, change.before, change.after
    if change.task == "dead_letter_queues":
        setting, before, after = "dead_letter_queue", _queue_name(before), _queue_name(after)
    elif change.task == "secrets":
        before, after = sorted(before or {}), sorted(after or {})
        if before == after:
            return None
        setting = "secrets"
    elif change.task == "provisioned_concurrency":
        setting = f"provisioned_concurrency ({change.where['qualifier']})"
    told = {"setting": setting, "before": before, "after": after,
            "reason": EXPLANATIONS.get(change.field, change.reason)}
    if change.where.get("evidence"):
        told["evidence"] = change.where["evidence"]
    return told


def _report_refusal(refusal: Refusal) -> dict:
    told = {"setting": refusal.field, "requested": refusal.requested, "reason": refusal.reason, "risk": refusal.risk}
    if refusal.task == "provisioned_concurrency":
        told["setting"] = f"provisioned_concurrency ({refusal.where['qualifier']})"
    if refusal.task == "rightsize":
        told["context"] = refusal.context  # only lambda_rightsize guards a function's context
        if refusal.where.get("evidence"):
            told["evidence"] = refusal.where["evidence"]
    return told


def _in_report_order(items: list) -> list:
    return sorted(items, key=lambda item: FUNCTION_TASKS.index(item.task))


class ByFunction:
    """What the reading holds of each function of the report, by function name."""

    def __init__(self, run: RunResults):
        self.items: dict = {}
        for kind, items in (("changes", run.changes), ("refusals", run.refusals), ("failures", run.failures),
                            ("aliases", run.settled["provisioned_concurrency"])):
            for item in items:
                if item.task in FUNCTION_TASKS:
                    self.items.setdefault((kind, item.name), []).append(item)
        self.rightsized = {function.name: function for function in run.settled["rightsize"]}
        self.traced = {function.name: function for function in run.settled["tracing"]}
        # log_retention has one entry per group, shared by every function of the run that logs to it.
        self.log_groups = {name: group for group in run.settled["log_retention"]
                           for name in group.entry.get("function_names") or [group.name]}
        self.canaries: dict = {}
        for alias in run.settled.get("canary", []):
            if alias.entry.get("qualifier"):
                self.canaries.setdefault(alias.name, []).append(alias.entry)
        # Without a canary entry, a function is known to be served through an alias by its provisioned concurrency.
        self.served_through: dict = {}
        for alias in run.settled["provisioned_concurrency"]:
            qualifier = alias.entry.get("qualifier")
            if qualifier and not qualifier.isdigit():
                self.served_through.setdefault(alias.name, []).append(qualifier)
        self.alarms: dict = {}
        for alarm in priced_alarms(run):
            self.alarms.setdefault(alarm.function_name, []).append(alarm)

    def of(self, kind: str, name: str) -> list:
        """The function's changes, refusals, failures or aliases, in the report's order of tasks."""
        return _in_report_order(self.items.get((kind, name), []))


def priced_alarms(run: RunResults) -> list:
    """The alarms the run added or deleted: an update keeps the alarm, and its price."""
    return [alarm for alarm in run.alarms if alarm.change != UPDATED]


# The settings a canary delivers to an alias's traffic: what lambda_rightsize changes of $LATEST that the alias's
# version does not get otherwise.
DELIVERED_FIELDS = ("memory_size", "timeout")


def _alias_delivery(entry: dict) -> str:
    """What became of one alias's canary, as the report tells it."""
    status, verdict = entry.get("status"), entry.get("verdict") or {}
    if status == CHANGED:
        return "promoted"
    if verdict.get("decision") == ROLLED_BACK:
        return f"rolled back: {verdict.get('reason')}"
    if status == FAILED:
        return f"not delivered: the canary failed: {entry.get('error')}"
    if (status or "").startswith("planned"):
        return "planned: through a canary"
    if status == REFUSED:
        return f"not delivered: {entry.get('reason')}"
    return f"not through a canary: {entry.get('reason')}"


def delivery(name: str, changes: list, by_function: ByFunction) -> str | None:
    """Whether a function's right-sizing reached the traffic of the aliases it is served through: promoted by a
    canary, rolled back, or only reported (the alias still runs its old version). None for a function that is not
    known to be served through an alias, or whose memory size and timeout the run did not change."""
    if not any(change.task == "rightsize" and change.field in DELIVERED_FIELDS for change in changes):
        return None
    told = {entry["qualifier"]: _alias_delivery(entry) for entry in by_function.canaries.get(name, [])}
    for alias in by_function.served_through.get(name, []):
        told.setdefault(alias, f"not delivered: served through alias {alias} without a canary")
    if len(told) > 1:
        return "; ".join(f"alias {alias}: {text}" for alias, text in sorted(told.items()))
    return next(iter(told.values()), None)


def _retention(group: Settled) -> dict:
    entry = group.entry
    return {"stored_bytes": int(entry.get("stored_bytes") or 0), "before": group.before["retention_in_days"],
            "after": group.after["retention_in_days"], "exists": group.before.get("exists", True),
            "log_group_name": entry.get("log_group_name")}


def _outcome(function: dict, by_function: ByFunction) -> Outcome:
    name = function["function_name"]
    configuration = function.get("configuration") or {}
    outcome = Outcome(memory_before=configuration.get("memory_size"), memory_after=configuration.get("memory_size"))
    rightsized = by_function.rightsized.get(name)
    if rightsized:
        outcome.memory_before = rightsized.before["memory_size"]
        outcome.memory_after = rightsized.after["memory_size"]
    group = by_function.log_groups.get(name)
    if group:
        outcome.retention = _retention(group)
    tracing_before = configuration.get("tracing_mode")
    if name in by_function.traced:
        tracing_before = by_function.traced[name].before.get("tracing_mode", tracing_before)
    outcome.tracing_before = outcome.tracing_after = tracing_before == "Active"
    changes = by_function.of("changes", name)
    for change in changes:
        if change.field == "tracing_mode":
            outcome.tracing_after = change.after == "Active"
        elif change.field == "dead_letter_target":
            outcome.dead_letter_added = change.before is None
        elif change.field == "environment":
            outcome.secrets_added = len(set(change.after or {}) - set(change.before or {}))
    outcome.provisioned = [{"entry": alias.entry, "before": alias.before["provisioned_concurrency"],
                            "after": alias.after["provisioned_concurrency"]}
                           for alias in by_function.of("aliases", name)]
    outcome.changes = [told for told in map(_report_change, changes) if told is not None]
    outcome.refused = [_report_refusal(refusal) for refusal in by_function.of("refusals", name)]
    outcome.failed = [{"task": failure.module.removeprefix("tap.lambdaopt."), "error": failure.error or "failed"}
                      for failure in by_function.of("failures", name)]
    outcome.delivery = delivery(name, changes, by_function)
    outcome.alarms = by_function.alarms.get(name, [])
    added = [alarm.alarm_name for alarm in outcome.alarms if alarm.added]
    if added:
        outcome.changes.append({"setting": "alarms", "before": None, "after": added,
                                "reason": "alarms on error rate, duration and throttles"})
    return outcome


def read_run(usage: list, results: dict, dry_run: bool) -> RunOutcome:
    """Each function's Outcome, from the registered results read once (a task that did not run is None or
    skipped)."""
    run = read(results, dry_run)
    by_function = ByFunction(run)
    functions = {function["function_name"]: _outcome(function, by_function) for function in usage}
    return RunOutcome(
        dry_run=dry_run,
        functions=functions,
        shared_alarms=[alarm for alarm in priced_alarms(run) if alarm.function_name not in functions],
        secrets_created=[resource.name for resource in run.resources
                         if resource.kind == "secret" and resource.change == CREATED],
        tasks=run.ran,
        tables=[{"entry": table.entry, "before": table.before, "after": table.after}
                for table in run.settled["tables"]],
        table_changes=[{"setting": f"{change.name} {change.field}", "before": change.before, "after": change.after,
                        "reason": change.reason} for change in run.changes if change.task == "tables"],
        warnings=[NOTIFY_NO_ONE] if run.notifies_no_one else [],
    )
