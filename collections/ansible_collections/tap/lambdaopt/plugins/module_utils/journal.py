# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's write-ahead journal: the "before" of every change, on disk before the change is made.

optimize.yml names one journal file per run and host in the environment variable LAMBDAOPT_JOURNAL. Before each
mutating call the module appends an `intent` line and flushes it to disk (fsync); once the service accepted the
change, a `done` line. A run killed at any instant - an AWX job cancelled, its node lost - leaves every change it
may have made on disk with its earlier value: the change record, written at the end of the run, may never be.
What is journaled is what a change record holds, in the same shapes, so that rollback reads either alike:
- a function's settings (memory, timeout, reserved concurrency, tracing, dead-letter target, and of its environment
  only the variables the update changes - lambda_secrets changes only those it manages, each holding a secret's ARN;
  never the function's other variables, which may hold secrets), an alias's provisioned concurrency, a log group's
  retention: `Journal.intent`, each field's value before and after;
- everything else, through `announce(subject, resource_arn, ...)`, with the keys of the record's entry: `role_policy`
  (role_name, policy_name, and the run's own statements before and after), `alarm` (alarm_name, function_name,
  queue_name, change: created, updated or deleted), `table` (table_name, before, after, reason) and `resource`
  (resource_kind sqs_queue, secret or lambda_version, name, change; a new secret's or version's ARN comes with its
  `done`, which says `reused` where Lambda answered with a version it already had) and `alias` (function_name,
  alias_name, and the alias's function_version and additional_version_weights before and after each move, change:
  weight shifted, promoted or rolled back). The module of each is implied by its
  subject (SUBJECT_MODULES) or, for a role policy, by the policy's name.

An intent without its `done` is a change that may or may not have landed. Nothing claims it did: rollback reads
the resource and puts the "before" back only where it holds the intent's "after", exactly as for a record - a role
policy by its statements, a table by its throughput, an alias by its version and routing; an alarm announced as
created is deleted only where it exists, a version announced as created only where no alias serves it.
An alarm's update or deletion, and a queue's or secret's creation or change, are never undone (a record only reports
them): of those, only the accepted ones are listed as made, and a queue or secret announced but not seen accepted is
listed as `interrupted` - it may exist.

Each line carries the digest of the line before it and its own (a hash chain): a line edited, removed or
reordered since it was written breaks the chain, and the journal is refused as a whole, as an edited change
record is. The one exception is a last line cut short by the kill itself (no newline, not JSON), which is
dropped: the change it announced was never attempted, since the line had to be on disk first.

Only this stdlib is used: module_utils must import with the stdlib, boto3, botocore and ansible alone."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from ansible_collections.tap.lambdaopt.plugins.module_utils import record_schema
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import parse_whole_arn
from ansible_collections.tap.lambdaopt.plugins.module_utils.record_trust import MANAGED_POLICIES, with_digest

ENVIRONMENT_VARIABLE = "LAMBDAOPT_JOURNAL"
KIND = "tap.lambdaopt journal"
GENESIS = "sha256:" + "0" * 64
# The keys every line has; an intent's own fields are named otherwise (a resource's kind is `resource_kind`).
RESERVED_KEYS = frozenset({"kind", "event", "at", "prev", "digest"})
# Which module makes a change to each field (the change record names it; record_trust checks the name).
FIELD_MODULES = {
    "memory_size": "tap.lambdaopt.lambda_rightsize",
    "timeout": "tap.lambdaopt.lambda_rightsize",
    "reserved_concurrency": "tap.lambdaopt.lambda_rightsize",
    "tracing_mode": "tap.lambdaopt.lambda_tracing",
    "dead_letter_target": "tap.lambdaopt.lambda_dlq",
    "log_retention_days": "tap.lambdaopt.log_retention",
    "provisioned_concurrency": "tap.lambdaopt.lambda_provisioned_concurrency",
    "environment": "tap.lambdaopt.lambda_secrets",
}
# Which module makes each other kind of change announced (a role policy's is its policy name's: MANAGED_POLICIES).
SUBJECT_MODULES = {
    "alarm": "tap.lambdaopt.lambda_alarms",
    "table": "tap.lambdaopt.dynamodb_capacity",
    "sqs_queue": "tap.lambdaopt.lambda_dlq",
    "secret": "tap.lambdaopt.lambda_secrets",
    "alias": "tap.lambdaopt.lambda_canary",
    "lambda_version": "tap.lambdaopt.lambda_canary",
}
# The sections of a change record a journal fills.
SECTIONS = ("changes", "role_policies", "alarms", "resources", "tables", "aliases")
ACCEPTED = "journaled, accepted"
NOT_SEEN_ACCEPTED = "journaled, not seen accepted: the run was stopped during the call"
# The `change` of a queue or secret whose creation or change was announced but not seen accepted.
INTERRUPTED = "interrupted"


class JournalError(ValueError):
    """The journal cannot be rolled back, and why."""


def line_digest(entry: dict) -> str:
    content = {key: value for key, value in entry.items() if key != "digest"}
    return "sha256:" + hashlib.sha256(
        json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")).hexdigest()


def parse(text: str) -> list:
    """The journal's entries, each checked against the chain; raises JournalError naming the first broken line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        lines.pop()  # cut short by a kill while it was written: its change was never attempted
    entries, previous = [], GENESIS
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except ValueError:
            raise JournalError(f"line {number} is not JSON: the journal was changed after it was written") from None
        if not isinstance(entry, dict) or entry.get("kind") != KIND:
            raise JournalError(f"line {number} is not a line of a tap.lambdaopt journal")
        if entry.get("prev") != previous or entry.get("digest") != line_digest(entry):
            raise JournalError(f"line {number} does not follow the line before it (its digest or the chain does not "
                               "match): the journal was changed after it was written, and it is never rolled back "
                               "(force does not override this)")
        previous = entry["digest"]
        entries.append(entry)
    return entries


# {path: (the file's size, its last line's digest)} as this process last wrote it. Appends are serialised by flock,
# so a file still of that size holds no line since, and the next append takes its `prev` from here instead of reading
# and checking the whole chain again (which made a fleet's appends quadratic: minutes for 1,000 functions). A file of
# any other size - another process wrote to it - is read and checked in full, as the first append to it is.
_LAST_WRITTEN: dict[str, tuple[int, str]] = {}


class Journal:
    """Appends to one journal file; safe across the threads of one module (run_bounded) and across processes."""

    def __init__(self, path: str):
        self.path = path
        self.lock = threading.Lock()

    def append(self, event: str, **fields) -> str:
        """Write one line and flush it to disk before returning its digest (the intent's id for `done`)."""
        reserved = RESERVED_KEYS & set(fields)
        if reserved:
            raise ValueError(f"a journal line's own keys cannot be given: {', '.join(sorted(reserved))}")
        with self.lock:
            directory = os.path.dirname(self.path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                entry = {"kind": KIND, "event": event, "at": datetime.now(UTC).isoformat(), **fields,
                         "prev": self.previous_digest(descriptor)}
                entry["digest"] = line_digest(entry)
                os.write(descriptor, (json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
                os.fsync(descriptor)
                _LAST_WRITTEN[self.path] = (os.fstat(descriptor).st_size, entry["digest"])
            finally:
                os.close(descriptor)
            return entry["digest"]

    def previous_digest(self, descriptor: int) -> str:
        """The digest the next line chains to: as this process last wrote it while the file is unchanged since."""
        written = _LAST_WRITTEN.get(self.path)
        if written is not None and written[0] == os.fstat(descriptor).st_size:
            return written[1]
        return self.last_digest(descriptor)

    @staticmethod
    def last_digest(descriptor: int) -> str:
        size = os.fstat(descriptor).st_size
        if not size:
            return GENESIS
        os.lseek(descriptor, 0, os.SEEK_SET)
        text = b""
        while len(text) < size:
            chunk = os.read(descriptor, size - len(text))
            if not chunk:
                break
            text += chunk
        if not text.endswith(b"\n"):
            # A line cut short by a kill: dropped from the file, so that this line starts one of its own.
            os.ftruncate(descriptor, text.rfind(b"\n") + 1)
        entries = parse(text.decode("utf-8"))
        return entries[-1]["digest"] if entries else GENESIS

    def intent(self, resource_arn: str, function_name: str, changes: dict, before: dict, **extra) -> str:
        """Before the call: {field: value} about to be written, and what each field holds now."""
        fields = {field: {"before": before[field], "after": value} for field, value in changes.items()}
        return self.append("intent", resource_arn=resource_arn, function_name=function_name, fields=fields, **extra)

    def done(self, intent_id: str, **extra) -> None:
        """Mark an intent accepted; `extra` holds what only the answer tells (a new secret's ARN)."""
        self.append("done", intent=intent_id, **extra)


def from_environment() -> Journal | None:
    """The journal optimize.yml names for this run, or None (a rollback, a test, a dry run write none)."""
    path = os.environ.get(ENVIRONMENT_VARIABLE)
    return Journal(path) if path else None


def announce(subject: str, resource_arn: str | None, **entry) -> Callable[..., None]:
    """Announce a change other than a function's settings (see the module's docstring for each subject's keys) to
    the run's journal, flushed to disk, before the call that makes it. Returns what marks it accepted, to call once
    the service answered, with anything only the answer tells. Without a journal, neither writes anything."""
    journal = from_environment()
    if journal is None:
        return lambda **extra: None
    intent = journal.append("intent", subject=subject, resource_arn=resource_arn, **entry)
    return lambda **extra: journal.done(intent, **extra)


def changed_variables(variables: dict, wanted: dict) -> tuple[dict, dict]:
    """(before, after) of only the environment variables an update from `variables` to `wanted` adds, changes or
    removes: what a journal may hold of an environment, whose other variables may hold secrets."""
    keys = sorted(key for key in set(variables) | set(wanted)
                  if key not in variables or key not in wanted or variables[key] != wanted[key])
    return ({key: variables[key] for key in keys if key in variables},
            {key: wanted[key] for key in keys if key in wanted})


def account_and_region(arn: str) -> tuple:
    """(account, region) of an ARN; the region is empty for a global service's (an IAM role's)."""
    parts = parse_whole_arn(arn)
    if parts is None:
        raise JournalError(f"{arn!r} is not an ARN")
    return parts["account_id"], parts["region"]


class Reading:
    """A journal's intents gathered as a change record holds them: each resource once, with the earliest "before"
    (a change announced again on a retry keeps what the resource held before the first) and the latest "after"."""

    def __init__(self, entries: list):
        self.done = {entry["intent"]: entry for entry in entries if entry["event"] == "done"}
        self.changes, self.role_policies, self.alarms, self.resources, self.tables = {}, {}, {}, {}, {}
        self.aliases: dict = {}
        self.accounts, self.regions = set(), set()

    def place(self, arn: str | None) -> None:
        if arn:
            account, region = account_and_region(arn)
            self.accounts.add(account)
            if region:
                self.regions.add(region)

    @staticmethod
    def keep_first_before(found: dict, key, entry: dict) -> None:
        if key in found:
            entry["before"] = found[key]["before"]
        found[key] = entry

    def read(self, entry: dict) -> None:
        self.place(entry.get("resource_arn"))
        reader = {None: self.function_fields, "role_policy": self.role_policy, "alarm": self.alarm,
                  "table": self.table, "resource": self.resource, "alias": self.alias}.get(entry.get("subject"))
        if reader is None:
            raise JournalError(f"an intent is about {entry.get('subject')!r}, which the collection never journals")
        reader(entry)

    def function_fields(self, entry: dict) -> None:
        for field, values in entry["fields"].items():
            change = {"function_name": entry["function_name"], "field": field, "before": values["before"],
                      "after": values["after"], "module": FIELD_MODULES.get(field, "unknown"),
                      "reason": ACCEPTED if entry["digest"] in self.done else NOT_SEEN_ACCEPTED}
            for where in ("log_group_name", "qualifier"):
                if where in entry:
                    change[where] = entry[where]
            key = (change["function_name"], field, change.get("log_group_name"), change.get("qualifier"))
            self.keep_first_before(self.changes, key, change)

    def role_policy(self, entry: dict) -> None:
        managed = MANAGED_POLICIES.get(entry["policy_name"])
        self.keep_first_before(self.role_policies, (entry["role_name"], entry["policy_name"]), {
            "role_name": entry["role_name"], "policy_name": entry["policy_name"], "before": entry["before"],
            "after": entry["after"], "module": managed.module if managed else "unknown"})

    def alarm(self, entry: dict) -> None:
        # A creation is undone only where the alarm exists; an update or deletion is only reported, so only one
        # that was seen accepted is claimed.
        if entry["change"] == "created" or entry["digest"] in self.done:
            self.alarms.setdefault(entry["alarm_name"], {
                "alarm_name": entry["alarm_name"], "function_name": entry.get("function_name"),
                "queue_name": entry.get("queue_name"), "change": entry["change"],
                "module": SUBJECT_MODULES["alarm"]})

    def table(self, entry: dict) -> None:
        self.keep_first_before(self.tables, entry["table_name"], {
            "table_name": entry["table_name"], "before": entry["before"], "after": entry["after"],
            "module": SUBJECT_MODULES["table"], "reason": entry.get("reason")})

    def alias(self, entry: dict) -> None:
        # A move not seen accepted may have landed: rollback compares the alias with its `after` before acting.
        self.keep_first_before(self.aliases, (entry["function_name"], entry["alias_name"]), {
            "function_name": entry["function_name"], "alias_name": entry["alias_name"], "before": entry["before"],
            "after": entry["after"], "module": SUBJECT_MODULES["alias"]})

    def resource(self, entry: dict) -> None:
        done = self.done.get(entry["digest"])
        key = (entry["resource_kind"], entry["name"])
        if done is None and key in self.resources:
            return  # announced again after an accepted attempt: that one stands
        if done is not None and done.get("reused"):
            return  # the service answered with what already existed (a version published before): nothing was made
        self.resources[key] = {
            "kind": entry["resource_kind"], "name": entry["name"],
            "arn": (done or {}).get("arn") or entry["resource_arn"], "change": entry["change"] if done else INTERRUPTED,
            "module": SUBJECT_MODULES.get(entry["resource_kind"], "unknown")}


def function_changes_so_far() -> list:
    """The function settings this run has changed or may have changed so far, as a change record lists them (each
    with `reason` ACCEPTED or NOT_SEEN_ACCEPTED): what a module planning from lambda_usage_info's reading of the
    fleet, made at the start of the run, must take into account. Nothing without a journal (a dry run writes none)."""
    path = os.environ.get(ENVIRONMENT_VARIABLE)
    if not path or not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as stream:
        entries = parse(stream.read())
    reading = Reading(entries)
    for entry in entries:
        if entry["event"] == "intent" and entry.get("subject") is None:
            reading.function_fields(entry)
    return list(reading.changes.values())


def as_record(text: str, region: str | None = None) -> dict:
    """The journal as a change record (its digest taken here: the journal's chain was checked instead), each
    section in the order its resources were first announced. `region` is taken for a journal whose only resources
    are global (IAM roles), such as one of a run killed right after its first grant."""
    entries = parse(text)
    reading = Reading(entries)
    for entry in entries:
        if entry["event"] == "intent":
            reading.read(entry)
    if len(reading.accounts) > 1 or len(reading.regions) > 1:
        raise JournalError("the journal names resources of more than one account-region: accounts "
                           f"{sorted(reading.accounts)}, regions {sorted(reading.regions)}")
    account_id = next(iter(reading.accounts), None)
    started = entries[0]["at"] if entries else datetime.now(UTC).isoformat()
    return with_digest({
        "schema_version": record_schema.SCHEMA_VERSION, "kind": record_schema.KIND, "mode": record_schema.APPLIED,
        "recorded_at": started, "account_id": account_id, "region": next(iter(reading.regions), region),
        "changes": list(reading.changes.values()), "role_policies": list(reading.role_policies.values()),
        "alarms": list(reading.alarms.values()), "resources": list(reading.resources.values()),
        "tables": list(reading.tables.values()), "aliases": list(reading.aliases.values()), "refused": [],
        "failed": []})
