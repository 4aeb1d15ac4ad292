# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which change records tap.lambdaopt.lambda_rollback acts on (pure): a record whose digest matches its
content, whose shape is the schema's, and which asks only for what the collection itself manages.

Why the checks are written here instead of running jsonschema over data/change_record.schema.json:
lambda_rollback is a module, and module_utils may import only the stdlib, boto3, botocore and ansible;
the execution environment (awx/ee-python-requirements.txt) installs no jsonschema, and the schema file
is not shipped with a module. These checks cover every field rollback reads, with the schema's types,
enums and patterns (tests/unit/test_record_trust.py holds both to the same verdicts), and add what a
schema cannot say: ARNs in the record's own account and region, policy statements that grant only what
the collection grants, names a rollback may write to.

A record is refused as a whole, before any AWS call. One item asking for something the collection never
writes means the file is not as the collection wrote it, so none of its other items can be trusted.

The digest detects a record changed after it was written (a hand edit, a bad merge); it is not a
signature: whoever can write the file can compute a new one. What keeps a forged record from taking
anything is the scope check, which does not depend on the digest.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime

from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import scaling
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import MEMORY_LIMITS_MB, TIMEOUT_LIMITS_S
from ansible_collections.tap.lambdaopt.plugins.module_utils.alarms import PREFIX as ALARM_PREFIX
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import parse_whole_arn
from ansible_collections.tap.lambdaopt.plugins.module_utils.record_schema import APPLIED, KIND, SCHEMA_VERSION
from ansible_collections.tap.lambdaopt.plugins.module_utils.retention import VALID_RETENTION_DAYS

DIGEST_KEY = "digest"
DIGEST_PREFIX = "sha256:"

FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a name, never an ARN (which may name another account)
QUALIFIER = re.compile(r"[A-Za-z0-9$_-]{1,128}")
ALIAS_NAME = re.compile(r"(?![0-9]+$)[A-Za-z0-9_-]{1,128}")  # Lambda's: a version number is no alias name
VERSION_NUMBER = re.compile(r"[1-9][0-9]{0,9}")  # a published version; the canary never routes to $LATEST
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
LOG_GROUP_NAME = re.compile(r"[.\-_/#A-Za-z0-9]{1,512}")
TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MODULE_NAME = re.compile(r"tap\.lambdaopt\.[a-z_]+")
ACCOUNT_ID = re.compile(r"[0-9]{12}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")
# lambda_dlq's per-function queues of one suffix, which a role policy near IAM's size limit grants by this pattern.
QUEUE_PATTERN = re.compile(r"\*-[A-Za-z0-9_-]+-dlq")

TOP_KEYS = {"schema_version", "kind", "mode", "recorded_at", "account_id", "region", "changes", "role_policies",
            "alarms", "resources", "refused", "failed", DIGEST_KEY}
OPTIONAL_TOP_KEYS = {"tables", "aliases"}
CHANGE_KEYS = {"function_name", "field", "before", "after", "module", "reason"}
# `evidence`: which evidence of how the function scales a right-sizing change was projected with.
OPTIONAL_CHANGE_KEYS = {"log_group_name", "log_group_existed", "qualifier", "evidence"}
POLICY_KEYS = {"role_name", "policy_name", "before", "after", "module"}
ALARM_KEYS = {"alarm_name", "function_name", "queue_name", "change", "module"}
ALARM_CHANGES = ("created", "updated", "deleted")
RESOURCE_KEYS = {"kind", "name", "arn", "change", "module"}
RESOURCE_SERVICES = {"sqs_queue": "sqs", "secret": "secretsmanager", "lambda_version": "lambda"}
CANARY_MODULE = "tap.lambdaopt.lambda_canary"
# What a canary does to a version: the journal's `interrupted` for a creation not seen accepted.
VERSION_CHANGES = ("created", "deleted", "interrupted")
ALIAS_KEYS = {"function_name", "alias_name", "before", "after", "module"}
ROUTING_KEYS = {"function_version", "additional_version_weights"}
TABLE_KEYS = {"table_name", "before", "after", "module", "reason"}
THROUGHPUT_KEYS = {"billing_mode", "read_capacity", "write_capacity"}
BILLING_MODES = ("PROVISIONED", "PAY_PER_REQUEST")
TRACING_MODES = ("Active", "PassThrough")
STATEMENT_KEYS = {"Sid", "Effect", "Action", "Resource"}


@dataclass(frozen=True)
class Grant:
    """Actions one statement of a collection policy may allow, and the service every Resource ARN must
    belong to (None: the actions take no resource, and Resource is "*")."""
    actions: frozenset
    service: str | None


@dataclass(frozen=True)
class ManagedPolicy:
    module: str
    grants: tuple


# The inline policies the collection writes (the modules' POLICY_NAME), with all they may grant.
MANAGED_POLICIES = {
    "lambdaopt-xray-write": ManagedPolicy("tap.lambdaopt.lambda_tracing", (
        Grant(frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"}), None),)),
    "lambdaopt-dlq-send": ManagedPolicy("tap.lambdaopt.lambda_dlq", (
        Grant(frozenset({"sqs:SendMessage"}), "sqs"),
        Grant(frozenset({"kms:Decrypt", "kms:GenerateDataKey"}), "kms"))),
    "lambdaopt-secrets-read": ManagedPolicy("tap.lambdaopt.lambda_secrets", (
        Grant(frozenset({"secretsmanager:GetSecretValue"}), "secretsmanager"),)),
}


class RecordError(ValueError):
    """The record cannot be rolled back here."""


def canonical_json(record: dict) -> bytes:
    """The bytes the digest is taken over: the record without its digest, as JSON with keys sorted, no
    whitespace between tokens, and non-ASCII characters as themselves, in UTF-8."""
    content = {key: value for key, value in record.items() if key != DIGEST_KEY}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest(record: dict) -> str:
    return DIGEST_PREFIX + hashlib.sha256(canonical_json(record)).hexdigest()


def with_digest(record: dict) -> dict:
    return {**record, DIGEST_KEY: digest(record)}


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def lookup(table: dict, key):
    """table[key], or None for a key that is not there or not even text."""
    return table.get(key) if isinstance(key, str) else None


class Checker:
    """Collects every problem of a record, each naming its item."""

    def __init__(self, record: dict):
        self.record = record
        self.account = record.get("account_id")
        self.region = record.get("region")
        self.problems: list = []

    def add(self, where: str, problem: str) -> None:
        self.problems.append(f"{where}: {problem}")

    def keys(self, where: str, entry, required: set, optional: set = frozenset()) -> bool:
        """Whether entry is an object with the required keys and no others (reported otherwise)."""
        if not isinstance(entry, dict):
            self.add(where, "is not an object")
            return False
        missing, unknown = required - set(entry), set(entry) - required - optional
        if missing:
            self.add(where, f"lacks {', '.join(sorted(missing))}")
        if unknown:
            self.add(where, f"has {', '.join(sorted(unknown))}, which the collection never records")
        return not missing

    def name(self, where: str, value, pattern: re.Pattern, what: str) -> None:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            self.add(where, f"{value!r} is not {what}")

    def arn(self, where: str, value, services: tuple, queue_pattern: bool = False) -> None:
        """An ARN of one of the services, in the record's own account and region, naming no wildcard (but, with
        `queue_pattern`, the pattern of a suffix's per-function dead-letter queues)."""
        parts = parse_whole_arn(value)
        if not parts or parts["service"] not in services:
            self.add(where, f"{value!r} is not an ARN of {' or '.join(services)}")
        elif ("*" in value or "?" in value) and not (queue_pattern and parts["service"] == "sqs"
                                                     and QUEUE_PATTERN.fullmatch(parts["resource"])):
            self.add(where, f"{value} names a wildcard; the collection grants and sets single resources, or its "
                            "per-function dead-letter queues of a suffix (*-<suffix>-dlq)")
        elif self.account is None:
            self.add(where, f"the record names no account, so {value} cannot be shown to be in it")
        elif (parts["account_id"], parts["region"]) != (self.account, self.region):
            self.add(where, f"{value} is outside the record's account {self.account} and region {self.region}; "
                            "the collection acts only in the account-region it was run for")

    def module(self, where: str, value) -> None:
        self.name(where, value, MODULE_NAME, "a tap.lambdaopt module")

    def top(self) -> bool:
        record = self.record
        if not self.keys("record", record, TOP_KEYS, OPTIONAL_TOP_KEYS):
            return False
        if not isinstance(record["recorded_at"], str) or not _is_datetime(record["recorded_at"]):
            self.add("recorded_at", f"{record['recorded_at']!r} is not a date-time")
        if self.account is not None and not (isinstance(self.account, str) and ACCOUNT_ID.fullmatch(self.account)):
            self.add("account_id", f"{self.account!r} is not a 12-digit account id")
        self.name("region", self.region, REGION, "an AWS region")
        lists = ["changes", "role_policies", "alarms", "resources", "refused", "failed"]
        lists += [key for key in sorted(OPTIONAL_TOP_KEYS) if key in record]
        wrong = [key for key in lists if not isinstance(record[key], list)]
        for key in wrong:
            self.add(key, "is not a list")
        return not wrong

    def change(self, index: int, change) -> None:
        if not self.keys(f"changes[{index}]", change, CHANGE_KEYS, OPTIONAL_CHANGE_KEYS):
            return
        field = change["field"]
        where = f"{change['function_name']} {field}"
        self.name(where, change["function_name"], FUNCTION_NAME, "a Lambda function name")
        self.module(where, change["module"])
        if field == "log_retention_days":
            self.name(where, change.get("log_group_name"), LOG_GROUP_NAME, "a log group name")
        if field == "provisioned_concurrency":
            self.name(where, change.get("qualifier"), QUALIFIER, "an alias or version")
        if "evidence" in change and change["evidence"] not in scaling.EVIDENCE:
            self.add(where, f"evidence {change['evidence']!r} is not one the collection decides from")
        check = lookup(FIELD_CHECKS, field)
        if check is None:
            self.add(where, f"{field!r} is not a setting the collection changes")
            return
        for side in ("before", "after"):
            check(self, f"{where} {side}", change[side])

    def memory_size(self, where: str, value) -> None:
        if not (is_int(value) and MEMORY_LIMITS_MB[0] <= value <= MEMORY_LIMITS_MB[1]):
            self.add(where, f"{value!r} is not a memory size Lambda allows ({MEMORY_LIMITS_MB[0]}-"
                            f"{MEMORY_LIMITS_MB[1]} MB)")

    def timeout(self, where: str, value) -> None:
        if not (is_int(value) and TIMEOUT_LIMITS_S[0] <= value <= TIMEOUT_LIMITS_S[1]):
            self.add(where, f"{value!r} is not a timeout Lambda allows ({TIMEOUT_LIMITS_S[0]}-"
                            f"{TIMEOUT_LIMITS_S[1]} s)")

    def concurrency(self, where: str, value, none_allowed: bool = True) -> None:
        if not ((value is None and none_allowed) or (is_int(value) and value >= 0)):
            self.add(where, f"{value!r} is not a concurrency")

    def tracing_mode(self, where: str, value) -> None:
        if value not in TRACING_MODES:
            self.add(where, f"{value!r} is not a tracing mode ({', '.join(TRACING_MODES)})")

    def dead_letter_target(self, where: str, value) -> None:
        if value is not None:
            self.arn(where, value, ("sqs", "sns"))

    def environment(self, where: str, value) -> None:
        """Only the variables lambda_secrets sets: each carries the ARN of a secret, never a value."""
        if value is None:
            return
        if not isinstance(value, dict):
            self.add(where, "is not a set of environment variables")
            return
        for key, arn in value.items():
            self.name(where, key, ENV_NAME, "an environment variable name")
            self.arn(f"{where} {key}", arn, ("secretsmanager",))

    def retention(self, where: str, value) -> None:
        if value is not None and not (is_int(value) and value in VALID_RETENTION_DAYS):
            self.add(where, f"{value!r} is not a retention CloudWatch Logs allows")

    def role_policy(self, index: int, policy) -> None:
        if not self.keys(f"role_policies[{index}]", policy, POLICY_KEYS):
            return
        name = policy["policy_name"]
        where = f"role policy {name} of {policy['role_name']}"
        self.name(where, policy["role_name"], ROLE_NAME, "an IAM role name")
        managed = lookup(MANAGED_POLICIES, name)
        if managed is None:
            self.add(where, f"{name!r} is not a policy the collection writes "
                            f"({', '.join(sorted(MANAGED_POLICIES))})")
            return
        if policy["module"] != managed.module:
            self.add(where, f"is written by {managed.module}, not {policy['module']!r}")
        for side in ("before", "after"):
            self.policy_document(f"{where} {side}", policy[side], name, managed)

    def policy_document(self, where: str, document, name: str, managed: ManagedPolicy) -> None:
        if document is None:
            return
        if not isinstance(document, dict):
            self.add(where, "is not a policy document")
            return
        unknown = set(document) - {"Version", "Statement"}
        if unknown:
            self.add(where, f"has {', '.join(sorted(unknown))}, which the collection never writes")
        statements = document.get("Statement")
        statements = [statements] if isinstance(statements, dict) else statements
        if not isinstance(statements, list):
            self.add(where, "has no statements")
            return
        for number, statement in enumerate(statements, 1):
            self.statement(f"{where} statement {number}", statement, name, managed)

    def statement(self, where: str, statement, name: str, managed: ManagedPolicy) -> None:
        if not isinstance(statement, dict):
            self.add(where, "is not a statement")
            return
        unknown = set(statement) - STATEMENT_KEYS
        if unknown:
            self.add(where, f"has {', '.join(sorted(unknown))}, which the collection never writes")
        if statement.get("Effect") != "Allow":
            self.add(where, f"Effect {statement.get('Effect')!r} is not one the collection writes")
        actions = as_list(statement.get("Action"))
        if not actions or not all(isinstance(action, str) for action in actions):
            self.add(where, "has no actions")
            return
        # IAM compares action names without regard to case.
        asked = {action.lower() for action in actions}
        grant = next((grant for grant in managed.grants
                      if asked <= {action.lower() for action in grant.actions}), None)
        if grant is None:
            allowed = sorted(action for grant in managed.grants for action in grant.actions)
            self.add(where, f"grants {', '.join(actions)}, beyond what {name} grants ({', '.join(allowed)})")
            return
        resources = as_list(statement.get("Resource"))
        if grant.service is None:
            if resources != ["*"]:
                self.add(where, f"Resource {statement.get('Resource')!r} is not what {name} names (\"*\")")
            return
        if not resources:
            self.add(where, "names no resource")
        for resource in resources:
            self.arn(where, resource, (grant.service,), queue_pattern=True)

    def alarm(self, index: int, alarm) -> None:
        if not self.keys(f"alarms[{index}]", alarm, ALARM_KEYS):
            return
        where = f"alarm {alarm['alarm_name']}"
        if not isinstance(alarm["alarm_name"], str) or not alarm["alarm_name"].startswith(ALARM_PREFIX):
            self.add(where, f"is not named as the collection names its alarms ({ALARM_PREFIX}...)")
        if alarm["change"] not in ALARM_CHANGES:
            self.add(where, f"change {alarm['change']!r} is not one of {', '.join(ALARM_CHANGES)}")
        for key in ("function_name", "queue_name"):
            if alarm[key] is not None and not isinstance(alarm[key], str):
                self.add(where, f"{key} {alarm[key]!r} is not a name")
        self.module(where, alarm["module"])

    def resource(self, index: int, resource) -> None:
        if not self.keys(f"resources[{index}]", resource, RESOURCE_KEYS):
            return
        where = f"{resource['kind']} {resource['name']}"
        service = lookup(RESOURCE_SERVICES, resource["kind"])
        if service is None:
            self.add(where, f"{resource['kind']!r} is not a kind of resource the collection creates")
        elif resource["arn"] is not None:
            self.arn(where, resource["arn"], (service,))
        if not isinstance(resource["name"], str) or not isinstance(resource["change"], str):
            self.add(where, "name and change are not text")
        if resource["kind"] == "lambda_version":
            self.lambda_version(where, resource)
        else:
            self.module(where, resource["module"])

    def lambda_version(self, where: str, resource: dict) -> None:
        """A version the canary published or deleted: of the function named, by the ARN of the version (or, for a
        publication not seen accepted, of the function, the version being unknown)."""
        self.name(where, resource["name"], FUNCTION_NAME, "a Lambda function name")
        if resource["change"] not in VERSION_CHANGES:
            self.add(where, f"change {resource['change']!r} is not one of {', '.join(VERSION_CHANGES)}")
        if resource["module"] != CANARY_MODULE:
            self.add(where, f"is published by {CANARY_MODULE}, not {resource['module']!r}")
        parts = parse_whole_arn(resource["arn"]) if isinstance(resource["arn"], str) else None
        named, _colon, version = ((parts or {}).get("resource") or "").removeprefix("function:").partition(":")
        if parts is None or named != resource["name"] or not (
                VERSION_NUMBER.fullmatch(version) or (not version and resource["change"] == "interrupted")):
            self.add(where, f"{resource['arn']!r} is not the ARN of a version of {resource['name']}")

    def alias(self, index: int, alias) -> None:
        if not self.keys(f"aliases[{index}]", alias, ALIAS_KEYS):
            return
        where = f"alias {alias['alias_name']} of {alias['function_name']}"
        self.name(where, alias["function_name"], FUNCTION_NAME, "a Lambda function name")
        self.name(where, alias["alias_name"], ALIAS_NAME, "a Lambda alias name")
        if alias["module"] != CANARY_MODULE:
            self.add(where, f"is moved by {CANARY_MODULE}, not {alias['module']!r}")
        for side in ("before", "after"):
            routing = alias[side]
            if not self.keys(f"{where} {side}", routing, ROUTING_KEYS):
                continue
            self.name(f"{where} {side}", routing["function_version"], VERSION_NUMBER, "a version number")
            weights = routing["additional_version_weights"]
            if not isinstance(weights, dict):
                self.add(f"{where} {side}", "additional_version_weights is not a map of versions to weights")
                continue
            for version, weight in weights.items():
                self.name(f"{where} {side}", version, VERSION_NUMBER, "a version number")
                if not (isinstance(weight, (int, float)) and not isinstance(weight, bool) and 0 <= weight <= 1):
                    self.add(f"{where} {side}", f"weight {weight!r} of version {version} is not between 0 and 1")

    def table(self, index: int, table) -> None:
        if not self.keys(f"tables[{index}]", table, TABLE_KEYS):
            return
        where = f"table {table['table_name']}"
        self.name(where, table["table_name"], TABLE_NAME, "a DynamoDB table name")
        self.module(where, table["module"])
        for side in ("before", "after"):
            settings = table[side]
            if not self.keys(f"{where} {side}", settings, THROUGHPUT_KEYS):
                continue
            if settings["billing_mode"] not in BILLING_MODES:
                self.add(f"{where} {side}", f"{settings['billing_mode']!r} is not a billing mode")
            for key in ("read_capacity", "write_capacity"):
                if not (settings[key] is None or (is_int(settings[key]) and settings[key] >= 1)):
                    self.add(f"{where} {side}", f"{key} {settings[key]!r} is not a capacity")

    def run(self) -> list:
        if not self.top():
            return self.problems
        for index, change in enumerate(self.record["changes"]):
            self.change(index, change)
        for index, policy in enumerate(self.record["role_policies"]):
            self.role_policy(index, policy)
        for index, alarm in enumerate(self.record["alarms"]):
            self.alarm(index, alarm)
        for index, resource in enumerate(self.record["resources"]):
            self.resource(index, resource)
        for index, table in enumerate(self.record.get("tables", [])):
            self.table(index, table)
        for index, alias in enumerate(self.record.get("aliases", [])):
            self.alias(index, alias)
        return self.problems


FIELD_CHECKS = {
    "memory_size": Checker.memory_size,
    "timeout": Checker.timeout,
    "reserved_concurrency": Checker.concurrency,
    "tracing_mode": Checker.tracing_mode,
    "dead_letter_target": Checker.dead_letter_target,
    "environment": Checker.environment,
    "log_retention_days": Checker.retention,
    "provisioned_concurrency": lambda checker, where, value: checker.concurrency(where, value, none_allowed=False),
}


def _is_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def digest_problem(record: dict) -> str | None:
    recorded = record.get(DIGEST_KEY)
    if recorded is None:
        return "the record has no digest"
    try:
        actual = digest(record)
    except (TypeError, ValueError):
        return "the record's content is not JSON"
    if recorded != actual:
        return ("the record's digest does not match its content: it was changed after "
                "tap.lambdaopt.change_record wrote it, and a changed record is never rolled back (force does "
                "not override this); roll back from the file as it was written")
    return None


def check_record(record) -> None:
    """Raise RecordError naming every problem of the record; return when rollback may act on it."""
    if not isinstance(record, dict) or record.get("kind") != KIND:
        raise RecordError("record is not a tap.lambdaopt change record (read the file with from_json)")
    version = record.get("schema_version")
    if version == 1:
        raise RecordError(
            "record schema_version 1 carries no digest, so a change made to the file since it was written cannot "
            "be detected, and it is not rolled back (tap.lambdaopt 0.1 wrote version 1 records); roll "
            "it back with the collection version that wrote it, or put its before values back by hand")
    if version != SCHEMA_VERSION:
        raise RecordError(f"record schema_version {version!r} is not supported ({SCHEMA_VERSION} is)")
    if record.get("mode") != APPLIED:
        raise RecordError("record is of a dry run, which changed nothing; there is nothing to roll back")
    problems = [problem for problem in [digest_problem(record)] if problem]
    problems += Checker(record).run()
    if problems:
        raise RecordError("the record is refused and nothing was changed: " + "; ".join(problems))
