# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deciding, from a change record and what the account holds now, what a rollback puts back (pure).

A recorded value is put back only where it is still what the run left. Where it is already the
"before" value there is nothing to do; where someone changed it since, it is drift: reported, and kept
unless forced. Which records are acted on at all is record_trust's to decide, before anything here runs.

Reservations and provisioned concurrency put back draw on the account's unreserved pool, which every function
without a reservation shares, the fleet's and everyone else's: their restores are planned against one pool and its
budget (plan_budget), as lambda_rightsize and lambda_provisioned_concurrency plan theirs, and one the pool has no
room for is refused. Force overrides a change made since the run, never the account's budget."""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.tap.lambdaopt.plugins.module_utils import policy_merge
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.concurrency import refused_after_reread
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.log_groups import default_group
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import ConcurrencyPool
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import has_suffix
from ansible_collections.tap.lambdaopt.plugins.module_utils.results import (
    DRIFTED,
    FAILED,
    FORCED,
    KEPT,
    MISSING,
    REFUSED,
    RESTORED,
    UNCHANGED,
)

# A decision to put a value back; every other decision (UNCHANGED, DRIFTED, KEPT, MISSING) leaves it, and is the
# item's status as it stands.
RESTORE = "restore"
FORCE = "force"  # over a change made since the record

FUNCTION_FIELDS = ("memory_size", "timeout", "reserved_concurrency", "tracing_mode", "dead_letter_target",
                   "environment")
KEPT_ALARM_REASON = "the record does not hold the alarm's earlier definition; it stays as it is"
KEPT_RESOURCE_REASONS = {
    "created": "created by the run and kept: a queue may hold failed events and a secret's value would be lost; "
               "delete it by hand once nothing uses it",
    "updated": "changed by the run and kept: its earlier settings or value are not recorded (secret values never are)",
    # journal.INTERRUPTED: announced in a journal, its call not seen accepted.
    "interrupted": "the run was stopped while creating or changing it, so it may or may not exist or have changed; "
                   "if it does, it is kept: delete it by hand once nothing uses it",
}
SERVED_VERSION_REASON = ("published by the run and kept: alias {aliases} serves it (after the rollback); delete it by "
                         "hand once nothing does")
VERSION = "lambda_version"
# The settings whose restore may take from the account's unreserved pool.
RESERVED = "reserved_concurrency"
PROVISIONED = "provisioned_concurrency"
BUDGET_REASON = ("putting back {what} would take {takes} from the account's unreserved pool and leave {left} "
                 "unreserved, below {floor}: the rest of the account keeps its budget, with force or without")
# The same, found when the account's settings are read again after the decreases, before the first raise.
REFIT_REASON = refused_after_reread(BUDGET_REASON)
UNOWNED_GROUP_REASON = ("{function} logs to {owner}, not to this group, so it is not the collection's to change (the "
                        "function's logging was changed since the run, or the record names a group it never managed)")


def outside_suffix(record: dict, suffix: str) -> list:
    """The functions and tables a (checked) record names that are not of `suffix`: a run of a suffix changes only
    functions and tables whose names end in -<suffix>, so a journal or record of that suffix names no other."""
    names = {("function", change["function_name"]) for change in record["changes"]}
    names |= {("function", alarm["function_name"]) for alarm in record["alarms"] if alarm["function_name"]}
    names |= {("table", table["table_name"]) for table in record.get("tables", [])}
    names |= {("function", alias["function_name"]) for alias in record.get("aliases", [])}
    names |= {("function", resource["name"]) for resource in record["resources"] if resource["kind"] == VERSION}
    return [f"{kind} {name}" for kind, name in sorted(names) if not has_suffix(name, suffix)]


def managed_environment(variables: dict, change: dict) -> dict:
    """The variables of `variables` that the recorded environment change is about."""
    keys = set(change["before"] or {}) | set(change["after"] or {})
    return {key: variables[key] for key in sorted(keys) if key in variables}


def restored_environment(variables: dict, change: dict) -> dict:
    """The function's whole environment with the recorded variables as they were before the run."""
    restored = {key: value for key, value in variables.items() if key not in (change["after"] or {})}
    restored.update(change["before"] or {})
    return restored


@dataclass
class PlanItem:
    """One recorded value: its item in the result (`entry`), and what the rollback decided for it (`decision`; None
    until settle_decisions decides it), which the result does not show: the item's status says what came of it.
    `takes`: what putting a reservation or an allocation back takes from the account's unreserved pool, as
    plan_budget planned it (negative: what it gives back)."""
    entry: dict
    decision: str | None
    takes: int = 0


def decide(current, before, after, force: bool) -> str:
    """RESTORE, UNCHANGED (already the before value), DRIFTED (kept) or FORCE (drift overwritten)."""
    if current == before:
        return UNCHANGED
    if current == after:
        return RESTORE
    return FORCE if force else DRIFTED


def item(kind: str, name: str, field: str, before, after, current, decision: str | None, **extra) -> PlanItem:
    return PlanItem({"kind": kind, "name": name, "field": field, "before": before, "after": after, "current": current,
                     **extra}, decision)


def plan_functions(changes: list, current: dict, force: bool) -> tuple[list, dict]:
    """(items, {function: {field: value to restore}}) for the recorded function fields. `current` maps each
    function that exists to its configuration, with its whole environment under "environment" (and, where Lambda
    cannot decrypt it, why under "environment_error": then the variables are unknown, neither the run's nor the
    record's, and the item fails rather than be called unchanged or be written over)."""
    items, work = [], {}
    for change in changes:
        name, field = change["function_name"], change["field"]
        if field not in FUNCTION_FIELDS:
            continue
        if name not in current:
            items.append(item("function", name, field, change["before"], change["after"], None, MISSING))
            continue
        configuration = current[name]
        if field == "environment" and configuration.get("environment_error"):
            items.append(item("function", name, field, change["before"], change["after"], None, FAILED,
                              error=configuration["environment_error"]))
            continue
        now = (managed_environment(configuration["environment"], change) if field == "environment"
               else configuration[field])
        decision = decide(now, change["before"], change["after"], force)
        items.append(item("function", name, field, change["before"], change["after"], now, decision))
        if decision in (RESTORE, FORCE):
            value = (restored_environment(configuration["environment"], change) if field == "environment"
                     else change["before"])
            if field == "dead_letter_target" and value is None:
                value = ""  # Lambda removes a dead-letter target given an empty ARN
            work.setdefault(name, {})[field] = value
    return items, work


def plan_retention(changes: list, current: dict, force: bool, owners: dict) -> list:
    """Items for the recorded log retention changes; `current` maps log group names to retention days, `owners`
    each function that exists to the group it logs to now. A group is changed only while its function logs to it
    (a function that is gone, to its default group): a retention put back on any other group could delete logs
    the collection never managed, so that item is kept, whatever force says."""
    items = []
    for change in changes:
        if change["field"] != "log_retention_days":
            continue
        group, function = change["log_group_name"], change["function_name"]
        owner = owners.get(function, default_group(function))
        if group != owner:
            items.append(item("log_group", group, "retention_in_days", change["before"], change["after"],
                              current.get(group), KEPT,
                              reason=UNOWNED_GROUP_REASON.format(function=function, owner=owner)))
            continue
        if group not in current:
            items.append(item("log_group", group, "retention_in_days", change["before"], change["after"], None,
                              MISSING))
            continue
        items.append(item("log_group", group, "retention_in_days", change["before"], change["after"],
                          current[group], decide(current[group], change["before"], change["after"], force)))
    return items


def plan_policies(policies: list, current: dict, force: bool) -> list:
    """Items for the recorded role policies; `current` maps (role, policy name) to the document now. A record holds
    the run's own statements of a policy others may share, so only those are compared (and put back): statements
    added since by another suffix's run, or by hand, are neither drift nor undone."""
    items = []
    for policy in policies:
        now = policy_merge.owned(current[(policy["role_name"], policy["policy_name"])],
                                 policy_merge.sids_of(policy["before"], policy["after"]))
        if policy_merge.same_statements(now, policy["before"]):
            decision = UNCHANGED
        elif policy_merge.same_statements(now, policy["after"]):
            decision = RESTORE
        else:
            decision = FORCE if force else DRIFTED
        items.append(item("role_policy", policy["role_name"], policy["policy_name"], policy["before"],
                          policy["after"], now, decision))
    return items


def plan_alarms(alarms: list, existing: set) -> list:
    items = []
    for alarm in alarms:
        if alarm["change"] == "created":
            decision = RESTORE if alarm["alarm_name"] in existing else UNCHANGED
            items.append(item("alarm", alarm["alarm_name"], "exists", False, True,
                              alarm["alarm_name"] in existing, decision))
        else:
            items.append(item("alarm", alarm["alarm_name"], alarm["change"], None, None, None, KEPT,
                              reason=KEPT_ALARM_REASON))
    return items


def plan_resources(resources: list) -> list:
    """Items for the queues and secrets the run created or changed: all kept (the canary's versions are
    plan_versions')."""
    return [item(entry["kind"], entry["name"], entry["change"], None, None, None, KEPT,
                 reason=KEPT_RESOURCE_REASONS.get(entry["change"], KEPT_RESOURCE_REASONS["updated"]))
            for entry in resources if entry["kind"] != VERSION]


def plan_aliases(aliases: list, current: dict, force: bool) -> list:
    """Items for the aliases a canary moved; `current` maps (function, alias) to the alias's function_version and
    additional_version_weights now, and lacks the key when the alias is gone. An alias is put back only where it
    still holds the run's last `after`, whose version and routing are compared whole."""
    items = []
    for alias in aliases:
        key = (alias["function_name"], alias["alias_name"])
        decision = MISSING if key not in current else decide(current[key], alias["before"], alias["after"], force)
        items.append(item("alias", f"{key[0]}:{key[1]}", "routing", alias["before"], alias["after"], current.get(key),
                          decision))
    return items


def served_versions(routings: dict) -> dict:
    """{version: [aliases]} of the versions a function's aliases ({alias: routing}) serve, by weight or whole."""
    served: dict = {}
    for alias, routing in sorted(routings.items()):
        for version in (routing["function_version"], *routing["additional_version_weights"]):
            served.setdefault(version, []).append(alias)
    return served


def routings_after(function_name: str, routings: dict, alias_items: list) -> dict:
    """The function's aliases as the rollback leaves them: each alias put back (or, before it acted, to be put back)
    holds its `before`; one whose update failed holds what it held."""
    restored = {planned.entry["name"].split(":", 1)[1]: planned.entry["before"] for planned in alias_items
                if planned.entry["name"].split(":", 1)[0] == function_name
                and planned.entry.get("status", planned.decision) in (RESTORE, FORCE, RESTORED, FORCED)}
    return {**routings, **restored}


def version_of(resource: dict) -> str | None:
    """The version number a lambda_version's ARN names (None for a function's ARN: a publication not seen
    accepted)."""
    qualified = resource["arn"].split(":function:", 1)[1].split(":")
    return qualified[1] if len(qualified) > 1 else None


def plan_versions(resources: list, existing: dict, routings: dict, alias_items: list) -> list:
    """Items for the versions the canary published or deleted. `existing` maps each function that exists to its
    published version numbers, `routings` to {alias: routing} now. A version the run created is deleted only where
    no alias serves it once the aliases are put back (`alias_items`, decided or done); one the run deleted is gone
    as before; one whose publication was not seen accepted is reported."""
    items = []
    for entry in resources:
        if entry["kind"] != VERSION:
            continue
        name, version = entry["name"], version_of(entry)
        if entry["change"] != "created" or version is None:
            reason = None if entry["change"] == "deleted" else KEPT_RESOURCE_REASONS["interrupted"]
            items.append(item(VERSION, f"{name}:{version or '?'}", "exists", False, entry["change"] == "created",
                              None, UNCHANGED if reason is None else KEPT, **({"reason": reason} if reason else {})))
            continue
        exists = version in existing.get(name, set())
        serving = served_versions(routings_after(name, routings.get(name, {}), alias_items)).get(version)
        if exists and serving:
            items.append(item(VERSION, f"{name}:{version}", "exists", False, True, True, KEPT,
                              reason=SERVED_VERSION_REASON.format(aliases=", ".join(serving))))
        else:
            items.append(item(VERSION, f"{name}:{version}", "exists", False, True, exists,
                              RESTORE if exists else UNCHANGED))
    return items


def plan_provisioned(changes: list, current: dict) -> list:
    """Items for the recorded provisioned concurrency changes; `current` maps (function, qualifier) to the
    allocation now (0 for none), or lacks the key when the function is gone. Drift is decided later, with force."""
    items = []
    for change in changes:
        if change["field"] != "provisioned_concurrency":
            continue
        key = (change["function_name"], change["qualifier"])
        items.append(item("alias", f"{key[0]}:{key[1]}", "provisioned_concurrency", change["before"], change["after"],
                          current.get(key), MISSING if key not in current else None))
    return items


def plan_tables(tables: list, current: dict) -> list:
    """Items for the recorded table throughput changes; `current` maps table names to their settings now."""
    return [item("table", table["table_name"], "throughput", table["before"], table["after"],
                 current.get(table["table_name"]), MISSING if table["table_name"] not in current else None)
            for table in tables]


def settle_decisions(items: list, force: bool) -> list:
    """Decide every item the planners left undecided."""
    for planned in items:
        if planned.decision is None:
            planned.decision = decide(planned.entry["current"], planned.entry["before"], planned.entry["after"], force)
    return items


@dataclass(frozen=True)
class FunctionConcurrency:
    """What a function holds of the account's concurrency: its reservation (None: it draws on the unreserved pool)
    and {qualifier: provisioned concurrency} of its aliases and versions."""
    reserved: int | None
    provisioned: dict

    @property
    def taken(self) -> int:
        """What it takes from the unreserved pool: its reservation, or without one, everything provisioned for it
        (a reservation covers the provisioned concurrency of the function's aliases and versions)."""
        return self.reserved if self.reserved is not None else sum(self.provisioned.values())


def leave_gone(items: list, functions: set) -> None:
    """The items (of a function, or `function:qualifier`) of `functions`, deleted since they were read: MISSING, as
    plan_functions finds a function that does not exist, nothing of them is put back."""
    for planned in items:
        if planned.entry["name"].split(":", 1)[0] in functions:
            planned.decision = MISSING
            planned.entry["current"] = None
            planned.entry.pop("error", None)


def budget_candidates(items: list) -> list:
    """The items whose restore goes to the account's concurrency: reservations and allocations to be put back."""
    return [planned for planned in items
            if planned.decision in (RESTORE, FORCE) and planned.entry["field"] in (RESERVED, PROVISIONED)]


def restore_raises(planned: PlanItem) -> bool:
    """Whether putting the item back raises what is reserved or provisioned (a reservation added back does)."""
    before, current = planned.entry["before"], planned.entry["current"]
    if planned.entry["field"] == RESERVED:
        return before is not None and (current is None or before > current)
    return before > (current or 0)


def owner(planned: PlanItem) -> str:
    """The function a reservation or allocation item is of."""
    return planned.entry["name"] if planned.entry["field"] == RESERVED else planned.entry["name"].rsplit(":", 1)[0]


def _restored(planned: PlanItem, holding: FunctionConcurrency) -> FunctionConcurrency:
    if planned.entry["field"] == RESERVED:
        return FunctionConcurrency(planned.entry["before"], holding.provisioned)
    qualifier = planned.entry["name"].rsplit(":", 1)[1]
    return FunctionConcurrency(holding.reserved, {**holding.provisioned, qualifier: planned.entry["before"]})


def _refuse(planned: PlanItem, template: str, pool: ConcurrencyPool, takes: int) -> None:
    before = planned.entry["before"]
    what = (f"the reservation of {before}" if planned.entry["field"] == RESERVED
            else f"{before} provisioned concurrency")
    planned.decision = REFUSED
    planned.entry["reason"] = template.format(what=what, takes=takes, left=pool.unreserved - takes,
                                              floor=pool.describe_floor())


def restored_holdings(held: dict, items: list) -> dict:
    """`held` ({function: FunctionConcurrency}) with the reservations and allocations of `items` put back."""
    holdings = dict(held)
    for planned in items:
        holdings[owner(planned)] = _restored(planned, holdings[owner(planned)])
    return holdings


def _fit(candidates: list, held: dict, pool: ConcurrencyPool, template: str) -> list:
    """Put `candidates` back one by one against `held` and `pool`, in the order of what each takes from the pool
    as `held` stands, smallest first. What each takes is reckoned as the restores before it leave its function: a
    reservation put back after an allocation of its function takes what the allocation did not, and an allocation
    put back after its function's reservation takes nothing. A raise that would leave the pool below its floor is
    refused with `template`; the others' `takes` say what they take, and `held` and `pool` end as they leave them.
    Returns those refused."""
    def takes(planned: PlanItem) -> int:
        holding = held[owner(planned)]
        return _restored(planned, holding).taken - holding.taken

    refused = []
    for planned in sorted(candidates, key=lambda planned: (takes(planned), planned.entry["name"],
                                                           planned.entry["field"])):
        taken = takes(planned)
        if taken > 0 and restore_raises(planned) and pool.unreserved - taken < pool.floor:
            _refuse(planned, template, pool, taken)
            refused.append(planned)
            continue
        planned.takes = taken
        pool.unreserved -= taken
        held[owner(planned)] = _restored(planned, held[owner(planned)])
    return refused


def plan_budget(items: list, held: dict, pool: ConcurrencyPool) -> None:
    """Plan the reservations and allocations among `items` to be put back against one pool, as the other modules
    plan theirs: first those that give back to the pool (or take nothing from it), so that what a decrease frees is
    there for the raises, then the raises, smallest first. A raise that would leave the pool below its floor (the
    account's budget) is refused with the budget's reason, whatever force decided; a decrease always goes. The
    others' `takes` say what they take. `held` maps each function of the items to its FunctionConcurrency now; it and
    `pool` end as the plan leaves them."""
    _fit(budget_candidates(items), held, pool, BUDGET_REASON)


def refit(items: list, held: dict, pool: ConcurrencyPool) -> list:
    """The planned raises of reservations and allocations among `items`, checked again as plan_budget planned them,
    against `pool` as the account reports it after the decreases (other teams may have taken from it meanwhile, a
    decrease may have failed) and `held`, each function's FunctionConcurrency then: each that no longer fits is
    refused, naming the budget. What a raise takes is reckoned again from what is accepted before it, not taken from
    the plan: a reservation planned after its function's allocation took only what the allocation left, and an
    allocation planned after its function's reservation nothing, which no longer holds once the other is refused.
    Returns those refused."""
    return _fit(budget_candidates(items), held, pool, REFIT_REASON)
