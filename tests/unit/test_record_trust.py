"""Which change records rollback acts on, without AWS: the digest, the shape, and only what the collection
manages; the same verdicts as data/change_record.schema.json where the schema can say it."""

import copy
import hashlib
import json

import jsonschema
import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import record_trust
from ansible_collections.tap.lambdaopt.plugins.module_utils.dlq_encryption import dlq_policy
from ansible_collections.tap.lambdaopt.plugins.modules import lambda_dlq, lambda_secrets, lambda_tracing

from tests.test_setup import COLLECTION

SCHEMA = json.loads((COLLECTION / "data" / "change_record.schema.json").read_text())
ACCOUNT, REGION = "123456789012", "us-east-1"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:lambda-dlq-dev"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:api-key-dev-AbCdEf"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:transform-dev"
FOREIGN_QUEUE = f"arn:aws:sqs:{REGION}:999999999999:collector"
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def change(field, before, after, module="tap.lambdaopt.lambda_rightsize", **extra):
    return {"function_name": "transform-dev", "field": field, "before": before, "after": after, "module": module,
            "reason": None, **extra}


def policy(name, module, after, before=None):
    return {"role_name": "transform-role-dev", "policy_name": name, "before": before, "after": after,
            "module": module}


def genuine() -> dict:
    """A record as tap.lambdaopt.change_record writes it, with a change of every kind and the policies the
    modules really write."""
    return record_trust.with_digest({
        "schema_version": 2, "kind": "tap.lambdaopt change record", "mode": "applied",
        "recorded_at": "2026-11-30T20:00:00+00:00", "account_id": ACCOUNT, "region": REGION,
        "changes": [
            change("memory_size", 3008, 1024), change("timeout", 300, 30), change("reserved_concurrency", None, 50),
            change("tracing_mode", "PassThrough", "Active", "tap.lambdaopt.lambda_tracing"),
            change("dead_letter_target", None, QUEUE, "tap.lambdaopt.lambda_dlq"),
            change("environment", {}, {"API_KEY_SECRET_ARN": SECRET}, "tap.lambdaopt.lambda_secrets"),
            change("log_retention_days", None, 7, "tap.lambdaopt.log_retention", log_group_name="/aws/lambda/t-dev",
                   log_group_existed=True),
            change("provisioned_concurrency", 150, 102, "tap.lambdaopt.lambda_provisioned_concurrency",
                   qualifier="live"),
        ],
        "role_policies": [
            policy(lambda_tracing.POLICY_NAME, "tap.lambdaopt.lambda_tracing", {
                "Version": "2012-10-17",
                "Statement": [lambda_tracing.trace_write_statement("LambdaoptXrayWriteFordev")]}),
            policy(lambda_dlq.POLICY_NAME, "tap.lambdaopt.lambda_dlq", dlq_policy([QUEUE], [KEY]),
                   before=dlq_policy([QUEUE], [])),
            policy(lambda_secrets.POLICY_NAME, "tap.lambdaopt.lambda_secrets", lambda_secrets.read_policy([SECRET])),
        ],
        "alarms": [{"alarm_name": "lambdaopt-transform-dev-error-rate", "function_name": "transform-dev",
                    "queue_name": None, "change": "created", "module": "tap.lambdaopt.lambda_alarms"}],
        "resources": [{"kind": "sqs_queue", "name": "lambda-dlq-dev", "arn": QUEUE, "change": "created",
                       "module": "tap.lambdaopt.lambda_dlq"},
                      {"kind": "secret", "name": "api-key-dev", "arn": SECRET, "change": "updated",
                       "module": "tap.lambdaopt.lambda_secrets"},
                      {"kind": "lambda_version", "name": "transform-dev", "arn": f"{FUNCTION}:4", "change": "created",
                       "module": "tap.lambdaopt.lambda_canary"}],
        "tables": [{"table_name": "data-table-dev", "module": "tap.lambdaopt.dynamodb_capacity", "reason": None,
                    "before": {"billing_mode": "PROVISIONED", "read_capacity": 100, "write_capacity": 100},
                    "after": {"billing_mode": "PROVISIONED", "read_capacity": 7, "write_capacity": 4}}],
        "aliases": [{"function_name": "transform-dev", "alias_name": "live", "module": "tap.lambdaopt.lambda_canary",
                     "before": {"function_version": "3", "additional_version_weights": {}},
                     "after": {"function_version": "4", "additional_version_weights": {}}}],
        "refused": [], "failed": [],
    })


def tampered(edit) -> dict:
    """The genuine record edited by `edit`, with a digest that matches the edit: only the other checks can
    refuse it."""
    record = copy.deepcopy(genuine())
    edit(record)
    return record_trust.with_digest(record)


def refusal(record) -> str:
    with pytest.raises(record_trust.RecordError) as raised:
        record_trust.check_record(record)
    return str(raised.value)


def test_a_genuine_record_is_trusted_and_fits_the_schema():
    record = genuine()
    record_trust.check_record(record)
    jsonschema.validate(record, SCHEMA, format_checker=jsonschema.FormatChecker())
    # How the file is laid out does not matter: the digest is over the content.
    record_trust.check_record(json.loads(json.dumps(record, indent=2)))


def test_the_digest_is_the_sha256_of_the_documented_canonical_json():
    record = genuine()
    content = {key: value for key, value in record.items() if key != "digest"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert record["digest"] == "sha256:" + hashlib.sha256(canonical).hexdigest()


@pytest.mark.parametrize("edit", [
    lambda record: record["changes"][0].update(before=2048),  # memory: 3008 -> a plausible 2048
    lambda record: record.update(recorded_at="2026-11-30T21:00:00+00:00"),
    lambda record: record["refused"].append({"function_name": "x", "field": "memory_size", "requested": 1,
                                             "reason": "r", "risk": None, "module": "tap.lambdaopt.lambda_rightsize"}),
])
def test_a_record_edited_since_it_was_written_is_refused_by_its_digest(edit):
    record = copy.deepcopy(genuine())
    edit(record)
    assert "digest does not match its content" in refusal(record)
    assert "force does not override this" in refusal(record)


def test_a_record_without_a_digest_is_refused():
    record = genuine()
    del record["digest"]
    assert "the record has no digest" in refusal(record)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, SCHEMA)


def test_a_record_of_schema_version_1_is_refused_saying_how_to_proceed():
    record = tampered(lambda record: record.update(schema_version=1))
    message = refusal(record)
    assert "schema_version 1 carries no digest" in message
    assert "roll it back with the collection version that wrote it, or put its before values back by hand" in message


@pytest.mark.parametrize("record, message", [
    ({"kind": "something else"}, "not a tap.lambdaopt change record"),
    ({"kind": "tap.lambdaopt change record", "schema_version": 3}, "schema_version 3 is not supported"),
    ({"kind": "tap.lambdaopt change record", "schema_version": 2, "mode": "dry_run"}, "dry run"),
])
def test_records_that_cannot_be_rolled_back(record, message):
    assert message in refusal(record)


ADMIN_POLICIES = {
    "admin statement in the after document": (
        lambda record: record["role_policies"][0].update(after=ADMIN),
        "role policy lambdaopt-xray-write of transform-role-dev after statement 1: grants *, beyond what "
        "lambdaopt-xray-write grants (xray:PutTelemetryRecords, xray:PutTraceSegments)"),
    "admin statement in the before document": (
        lambda record: record["role_policies"][2].update(before=ADMIN),
        "role policy lambdaopt-secrets-read of transform-role-dev before statement 1: grants *"),
    "iam:* added to the secrets policy": (
        lambda record: record["role_policies"][2]["after"]["Statement"].append(
            {"Effect": "Allow", "Action": ["iam:*"], "Resource": "*"}),
        "role policy lambdaopt-secrets-read of transform-role-dev after statement 2: grants iam:*"),
    "an action wildcard within the service": (
        lambda record: record["role_policies"][2]["after"]["Statement"][0].update(Action="secretsmanager:*"),
        "grants secretsmanager:*, beyond what lambdaopt-secrets-read grants"),
    "NotAction": (
        lambda record: record["role_policies"][0]["after"]["Statement"][0].update(NotAction="iam:PassRole"),
        "statement 1: has NotAction, which the collection never writes"),
    "a policy of another name": (
        lambda record: record["role_policies"][0].update(policy_name="AdministratorAccess"),
        "role policy AdministratorAccess of transform-role-dev: 'AdministratorAccess' is not a policy the "
        "collection writes"),
    "send to every queue": (
        lambda record: record["role_policies"][1]["after"]["Statement"][0].update(Resource="*"),
        "role policy lambdaopt-dlq-send of transform-role-dev after statement 1: '*' is not an ARN of sqs"),
    "read every secret of the account": (
        lambda record: record["role_policies"][2]["after"]["Statement"][0].update(
            Resource=f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:*"),
        "names a wildcard"),
    "a KMS key of another account": (
        lambda record: record["role_policies"][1]["after"]["Statement"][1].update(
            Resource=KEY.replace(ACCOUNT, "999999999999")),
        "is outside the record's account 123456789012 and region us-east-1"),
}


@pytest.mark.parametrize("edit, message", ADMIN_POLICIES.values(), ids=ADMIN_POLICIES.keys())
def test_a_policy_granting_more_than_the_collection_grants_is_refused(edit, message):
    assert message in refusal(tampered(edit))


FOREIGN = {
    "a dead-letter target in another account": (
        lambda record: record["changes"][4].update(before=FOREIGN_QUEUE),
        f"transform-dev dead_letter_target before: {FOREIGN_QUEUE} is outside the record's account 123456789012"),
    "a dead-letter target in another region": (
        lambda record: record["changes"][4].update(before=QUEUE.replace(REGION, "eu-west-1")),
        "is outside the record's account 123456789012 and region us-east-1"),
    "a queue of another account in the send policy": (
        lambda record: record["role_policies"][1]["before"]["Statement"][0].update(Resource=FOREIGN_QUEUE),
        f"role policy lambdaopt-dlq-send of transform-role-dev before statement 1: {FOREIGN_QUEUE} is outside"),
    "a queue resource of another account": (
        lambda record: record["resources"][0].update(arn=FOREIGN_QUEUE),
        f"sqs_queue lambda-dlq-dev: {FOREIGN_QUEUE} is outside"),
    "a function named by another account's ARN": (
        lambda record: record["changes"][0].update(
            function_name="arn:aws:lambda:us-east-1:999999999999:function:transform-dev"),
        "is not a Lambda function name"),
    "a table named by its ARN": (
        lambda record: record["tables"][0].update(
            table_name="arn:aws:dynamodb:us-east-1:999999999999:table/data-table-dev"),
        "is not a DynamoDB table name"),
    "a secret of another account in the environment": (
        lambda record: record["changes"][5].update(before={"API_KEY_SECRET_ARN": SECRET.replace(ACCOUNT, "9" * 12)}),
        "transform-dev environment before API_KEY_SECRET_ARN: arn:aws:secretsmanager:us-east-1:999999999999"),
    "an ARN hiding behind another": (
        lambda record: record["changes"][4].update(before="arn:x " + QUEUE),
        "is not an ARN of sqs or sns"),
}


@pytest.mark.parametrize("edit, message", FOREIGN.values(), ids=FOREIGN.keys())
def test_anything_outside_the_records_account_and_region_is_refused(edit, message):
    assert message in refusal(tampered(edit))


OUT_OF_SCOPE = {
    "memory below Lambda's floor": (lambda record: record["changes"][0].update(before=64),
                                    "transform-dev memory_size before: 64 is not a memory size Lambda allows"),
    "a timeout beyond Lambda's limit": (lambda record: record["changes"][1].update(before=3600),
                                        "transform-dev timeout before: 3600 is not a timeout Lambda allows"),
    "a plain value in the environment": (
        lambda record: record["changes"][5].update(before={"NODE_OPTIONS": "--require /tmp/x.js"}),
        "transform-dev environment before NODE_OPTIONS: '--require /tmp/x.js' is not an ARN of secretsmanager"),
    "an alarm of another name": (lambda record: record["alarms"][0].update(alarm_name="billing-alarm"),
                                 "alarm billing-alarm: is not named as the collection names its alarms"),
    "a setting the collection never changes": (lambda record: record["changes"][0].update(field="role"),
                                               "'role' is not a setting the collection changes"),
    "a key the collection never records": (lambda record: record["changes"][0].update(code="s3://x"),
                                           "changes[0]: has code, which the collection never records"),
    "a retention CloudWatch Logs refuses": (lambda record: record["changes"][6].update(before=10),
                                            "10 is not a retention CloudWatch Logs allows"),
    "a policy said to be written by another module": (
        lambda record: record["role_policies"][0].update(module="tap.lambdaopt.lambda_secrets"),
        "is written by tap.lambdaopt.lambda_tracing, not 'tap.lambdaopt.lambda_secrets'"),
}


@pytest.mark.parametrize("edit, message", OUT_OF_SCOPE.values(), ids=OUT_OF_SCOPE.keys())
def test_values_and_names_the_collection_never_writes_are_refused(edit, message):
    assert message in refusal(tampered(edit))


def test_every_item_at_fault_is_named_at_once():
    def edit(record):
        record["changes"][4]["before"] = FOREIGN_QUEUE
        record["role_policies"][0]["after"] = ADMIN
    message = refusal(tampered(edit))
    assert "transform-dev dead_letter_target before" in message and "role policy lambdaopt-xray-write" in message


# Mutations the schema can express as well: it must refuse them too, so that the file and the code agree.
SCHEMA_REFUSES = [ADMIN_POLICIES["a policy of another name"][0], OUT_OF_SCOPE["an alarm of another name"][0],
                  OUT_OF_SCOPE["a setting the collection never changes"][0],
                  OUT_OF_SCOPE["a key the collection never records"][0],
                  FOREIGN["a function named by another account's ARN"][0], FOREIGN["a table named by its ARN"][0],
                  lambda record: record.update(region="not a region"),
                  lambda record: record.update(extra=True)]


@pytest.mark.parametrize("edit", SCHEMA_REFUSES)
def test_the_schema_refuses_what_the_checks_refuse(edit):
    record = tampered(edit)
    refusal(record)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, SCHEMA)


def test_the_policy_names_are_the_modules_own():
    assert set(record_trust.MANAGED_POLICIES) == {lambda_tracing.POLICY_NAME, lambda_dlq.POLICY_NAME,
                                                  lambda_secrets.POLICY_NAME}
    assert set(SCHEMA["properties"]["role_policies"]["items"]["properties"]["policy_name"]["enum"]) == set(
        record_trust.MANAGED_POLICIES)


def test_the_policies_the_modules_write_for_several_resources_are_trusted():
    second_secret = SECRET.replace("api-key", "database-url")

    def edit(record):
        record["role_policies"][1]["after"] = dlq_policy([QUEUE, QUEUE.replace("lambda-dlq-dev", "other-dlq")],
                                                         [KEY, KEY.replace("1234abcd", "5678abcd")])
        record["role_policies"][2]["after"] = lambda_secrets.read_policy([SECRET, second_secret])
    record_trust.check_record(tampered(edit))


def test_a_record_without_an_account_trusts_no_arn():
    message = refusal(tampered(lambda record: record.update(account_id=None)))
    assert f"transform-dev dead_letter_target after: the record names no account, so {QUEUE} cannot be" in message


def test_a_suffixs_per_function_queues_collapsed_to_their_pattern_are_trusted_and_nothing_wider():
    pattern = f"arn:aws:sqs:{REGION}:{ACCOUNT}:*-dev-dlq"
    record_trust.check_record(tampered(lambda record: record["role_policies"][1].update(
        after=dlq_policy([pattern], [KEY]))))
    for wider in (f"arn:aws:sqs:{REGION}:{ACCOUNT}:*", f"arn:aws:sqs:{REGION}:{ACCOUNT}:*-dlq",
                  f"arn:aws:sqs:{REGION}:{ACCOUNT}:*-d?v-dlq"):
        assert "names a wildcard" in refusal(tampered(lambda record, wider=wider: record["role_policies"][1].update(
            after=dlq_policy([wider], [KEY]))))
    # A dead-letter target is one queue, never a pattern.
    assert "names a wildcard" in refusal(tampered(lambda record: record["changes"][4].update(after=pattern)))


def test_a_record_of_an_earlier_version_without_aliases_is_trusted():
    record = copy.deepcopy(genuine())
    del record["aliases"]
    record["resources"] = [resource for resource in record["resources"] if resource["kind"] != "lambda_version"]
    record = record_trust.with_digest(record)
    record_trust.check_record(record)
    jsonschema.validate(record, SCHEMA)


def alias_edit(**edits):
    return lambda record: record["aliases"][0].update(**edits)


def routing(version="4", **weights):
    return {"function_version": version, "additional_version_weights": weights}


CANARY = {
    "an alias named by its ARN": (alias_edit(alias_name=f"{FUNCTION}:live"), "is not a Lambda alias name"),
    "an alias named as a version": (alias_edit(alias_name="7"), "'7' is not a Lambda alias name"),
    "a function named by its ARN": (alias_edit(function_name=FUNCTION), "is not a Lambda function name"),
    "an alias on $LATEST": (alias_edit(before=routing("$LATEST")), "'$LATEST' is not a version number"),
    "a weight above 1": (alias_edit(after=routing("3", **{"4": 1.5})), "weight 1.5 of version 4 is not between 0"),
    "a weight to a version that is not a number": (alias_edit(after=routing("3", live=0.1)),
                                                   "'live' is not a version number"),
    "a routing with a key the canary never writes": (alias_edit(after={**routing(), "description": "x"}),
                                                     "has description, which the collection never records"),
    "an alias said to be moved by another module": (alias_edit(module="tap.lambdaopt.lambda_rightsize"),
                                                    "is moved by tap.lambdaopt.lambda_canary, not"),
    "a version of another function": (lambda record: record["resources"][2].update(arn=f"{FUNCTION}-x:4"),
                                      "is not the ARN of a version of transform-dev"),
    "a version without its number": (lambda record: record["resources"][2].update(arn=FUNCTION),
                                     "is not the ARN of a version of transform-dev"),
    "a version of another account": (
        lambda record: record["resources"][2].update(arn=FUNCTION.replace(ACCOUNT, "999999999999") + ":4"),
        "is outside the record's account"),
    "a version said to be published by another module": (
        lambda record: record["resources"][2].update(module="tap.lambdaopt.lambda_dlq"),
        "is published by tap.lambdaopt.lambda_canary, not"),
    "a change the canary never makes to a version": (lambda record: record["resources"][2].update(change="updated"),
                                                     "change 'updated' is not one of created, deleted, interrupted"),
}


@pytest.mark.parametrize("edit, message", CANARY.values(), ids=CANARY.keys())
def test_aliases_and_versions_the_canary_never_writes_are_refused(edit, message):
    assert message in refusal(tampered(edit))


@pytest.mark.parametrize("key", ["an alias named as a version", "an alias on $LATEST", "a weight above 1",
                                 "an alias said to be moved by another module"])
def test_the_schema_refuses_the_aliases_the_checks_refuse(key):
    record = tampered(CANARY[key][0])
    refusal(record)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, SCHEMA)
