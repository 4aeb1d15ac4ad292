# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's write-ahead journal: the "before" of every change, on disk before the change is made.

optimize.yml names one journal file per run and host in the environment variable LAMBDAOPT_JOURNAL. Before each
mutating call on a function, an alias's provisioned concurrency or a log group, the module appends an `intent`
line (the resource, and each field's value before and after) and flushes it to disk (fsync); once the service
accepted the change, a `done` line. A run killed at any instant - an AWX job cancelled, its node lost - leaves
every change it may have made on disk with its earlier value: the change record, written at the end of the run,
may never be.

An intent without its `done` is a change that may or may not have landed. Nothing claims it did: rollback reads
the resource and puts the "before" back only where it holds the intent's "after", exactly as for a record.

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
from datetime import UTC, datetime

from ansible_collections.tap.lambdaopt.plugins.module_utils.record_trust import with_digest

ENVIRONMENT_VARIABLE = "LAMBDAOPT_JOURNAL"
KIND = "tap.lambdaopt journal"
GENESIS = "sha256:" + "0" * 64
# Which module makes a change to each field (the change record names it; record_trust checks the name).
FIELD_MODULES = {
    "memory_size": "tap.lambdaopt.lambda_rightsize",
    "timeout": "tap.lambdaopt.lambda_rightsize",
    "reserved_concurrency": "tap.lambdaopt.lambda_rightsize",
    "tracing_mode": "tap.lambdaopt.lambda_tracing",
    "dead_letter_target": "tap.lambdaopt.lambda_dlq",
    "log_retention_days": "tap.lambdaopt.log_retention",
    "provisioned_concurrency": "tap.lambdaopt.lambda_provisioned_concurrency",
}


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


class Journal:
    """Appends to one journal file; safe across the threads of one module (run_bounded) and across processes."""

    def __init__(self, path: str):
        self.path = path
        self.lock = threading.Lock()

    def append(self, event: str, **fields) -> str:
        """Write one line and flush it to disk before returning its digest (the intent's id for `done`)."""
        with self.lock:
            directory = os.path.dirname(self.path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                entry = {"kind": KIND, "event": event, "at": datetime.now(UTC).isoformat(), **fields,
                         "prev": self.last_digest(descriptor)}
                entry["digest"] = line_digest(entry)
                os.write(descriptor, (json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            return entry["digest"]

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

    def done(self, intent_id: str) -> None:
        self.append("done", intent=intent_id)


def from_environment() -> Journal | None:
    """The journal optimize.yml names for this run, or None (a rollback, a test, a dry run write none)."""
    path = os.environ.get(ENVIRONMENT_VARIABLE)
    return Journal(path) if path else None


def account_and_region(arn: str) -> tuple:
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise JournalError(f"{arn!r} is not an ARN")
    return parts[4], parts[3]


def as_record(text: str) -> dict:
    """The journal as a change record (its digest taken here: the journal's chain was checked instead), its
    changes in the order they were announced, each marked whether the service was seen to accept it. Only function,
    alias and log group settings are journaled; everything else a run does is in its change record alone."""
    entries = parse(text)
    finished = {entry["intent"] for entry in entries if entry["event"] == "done"}
    changes, places = {}, set()
    for entry in entries:
        if entry["event"] != "intent":
            continue
        places.add(account_and_region(entry["resource_arn"]))
        for field, values in entry["fields"].items():
            change = {"function_name": entry["function_name"], "field": field, "before": values["before"],
                      "after": values["after"], "module": FIELD_MODULES.get(field, "unknown"),
                      "reason": "journaled, accepted" if entry["digest"] in finished
                      else "journaled, not seen accepted: the run was stopped during the call"}
            for where in ("log_group_name", "qualifier"):
                if where in entry:
                    change[where] = entry[where]
            key = (change["function_name"], field, change.get("log_group_name"), change.get("qualifier"))
            if key in changes:  # announced again on a retry: the earliest before stands
                change["before"] = changes[key]["before"]
            changes[key] = change
    if len(places) > 1:
        raise JournalError(f"the journal names resources of more than one account-region: {sorted(places)}")
    account_id, region = places.pop() if places else (None, None)
    started = entries[0]["at"] if entries else datetime.now(UTC).isoformat()
    return with_digest({
        "schema_version": 2, "kind": "tap.lambdaopt change record", "mode": "applied", "recorded_at": started,
        "account_id": account_id, "region": region, "changes": list(changes.values()), "role_policies": [],
        "alarms": [], "resources": [], "refused": [], "failed": []})
