# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How every tap.lambdaopt module reports: one vocabulary of entry statuses, one bulk result, one way to end.

A module acts on many resources of one kind (functions, log groups, alarms, aliases, tables, a record's items)
and returns one entry per resource, each with a `status`. `bulk_result` turns the entries into the module's
result; `finish` ends the module with it, failing the task, after every other resource was done, when any
resource failed or was not found; `fail_part_way` ends it on an unexpected AWS error with what was done so far."""

from __future__ import annotations

# An entry's status. Check mode plans; a real run then changes, creates, updates or deletes what it planned.
PLANNED = "planned"
PLANNED_CREATE = "planned-create"
PLANNED_UPDATE = "planned-update"
PLANNED_DELETE = "planned-delete"
CHANGED = "changed"
CREATED = "created"
UPDATED = "updated"
DELETED = "deleted"
# A rollback puts a recorded change back, over a later change only when forced; unforced, that change stays.
RESTORED = "restored"
FORCED = "forced"
DRIFTED = "drifted"
UNCHANGED = "unchanged"
# Left as it is, with the reason: a guard refused the change, or what is there is someone else's.
REFUSED = "refused"
KEPT = "kept"
# A function that already sends somewhere of its own (its dead-letter queue) and keeps it.
KEPT_EXISTING = "kept_existing"
MISSING = "missing"
FAILED = "failed"

PLANNED_STATUSES = frozenset((PLANNED, PLANNED_CREATE, PLANNED_UPDATE, PLANNED_DELETE))
# An entry in one of these statuses was (or in check mode would be) changed.
ACTED_STATUSES = PLANNED_STATUSES | {CHANGED, CREATED, UPDATED, DELETED, RESTORED, FORCED}


def partly_applied(entry: dict) -> bool:
    """A failed entry part of whose change AWS accepted (`accepted`): its `after` is what it then held."""
    return entry.get("status") == FAILED and bool(entry.get("accepted"))


def acted(entry: dict) -> bool:
    """Whether an entry was (or would be) changed, even in part."""
    return entry["status"] in ACTED_STATUSES or partly_applied(entry)


def bulk_result(module, kind: str, entries: list, missing=(), key=None, *, failed_key: str | None = None,
                diff_of=None, changed: bool = False, **extra) -> dict:
    """The result of a module that acts on many resources of one kind:

    - `changed`: any entry was (or would be) changed, even in part, or `changed` says something else was;
    - the entries under `kind`;
    - `failed_<failed_key or kind>`: the names (`key(entry)`) of the entries that failed, then those not found;
    - `summary`: how many entries, changed, unchanged, with refusals, failed;
    - under --diff, before and after of every entry acted on, by name: `diff_of(entry)` gives the pair, by
      default the entry's own `before` and `after`.

    `extra` adds to the result, or replaces a part of it (a module with a summary of its own passes it)."""
    key = key or (lambda entry: entry["function_name"])
    acted_on = [entry for entry in entries if acted(entry)]
    failed = [key(entry) for entry in entries if entry["status"] == FAILED] + list(missing)
    result = {
        "changed": changed or bool(acted_on),
        kind: entries,
        f"failed_{failed_key or kind}": failed,
        "summary": {
            kind: len(entries),
            "changed": len(acted_on),
            "unchanged": sum(1 for entry in entries if entry["status"] == UNCHANGED),
            "with_refusals": sum(1 for entry in entries if entry.get("refused")),
            "failed": len(failed),
        },
    }
    if module._diff:
        diff_of = diff_of or (lambda entry: (entry["before"], entry["after"]))
        pairs = {key(entry): diff_of(entry) for entry in acted_on}
        result["diff"] = {"before": {name: pair[0] for name, pair in pairs.items()},
                          "after": {name: pair[1] for name, pair in pairs.items()}}
    result.update(extra)
    return result


def failed_names(result: dict) -> list:
    """Every name a result lists as failed or not found, whatever its kind."""
    return [name for field, names in result.items() if field.startswith("failed_") for name in names or ()]


def finish(module, result: dict, failure: str) -> None:
    """End a module with its result: a failed task whose message is `failure` and every name that failed or was
    not found, after all the others were done; otherwise a success."""
    failed = failed_names(result)
    if failed:
        module.fail_json(msg=f"{failure}: {', '.join(failed)}", **result)
    module.exit_json(**result)


def fail_part_way(module, error: Exception, msg: str, result: dict) -> None:
    """End a module that met an unexpected AWS error part-way, as fail_json_aws does (its detail in the
    message), with the result gathered so far, so that what was done is recorded. Build `result` after
    `not_applied`: an entry still planned in a real run was never applied, and fails with the run."""
    module.fail_json_aws(error, msg=msg, **result)


def not_applied(module, entries: list, reason: str) -> list:
    """In a real run, mark every entry still planned as failed, never applied, for `reason`; returns `entries`."""
    if not module.check_mode:
        for entry in entries:
            if entry["status"] in PLANNED_STATUSES:
                entry.update(status=FAILED, error=f"not applied: {reason}")
                if "before" in entry:
                    entry["after"] = entry["before"]
    return entries
