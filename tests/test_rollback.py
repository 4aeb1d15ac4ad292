"""Every run recorded, and undone from its record: optimize, then roll back to the baseline, field by
field; rolling back twice changes nothing; a value changed by hand since the run is reported and kept. The same
record, carried into the Pulumi stack, declares the optimized fleet."""

import dataclasses
import json

import jsonschema

from tests.conftest import account_state
from tests.test_pulumi_carry_back import check_the_record_carried_into_the_stack_declares_the_fleet
from tests.test_setup import COLLECTION, run

SCHEMA = COLLECTION / "data" / "change_record.schema.json"


def rollback(emulator, record, *extra):
    return run(["ansible-playbook", "playbooks/rollback.yml", "-e", f"record={record}", *extra], env=emulator.environ())


def check_record_holds_every_change_with_its_module(path):
    record = json.loads(path.read_text())
    jsonschema.validate(record, json.loads(SCHEMA.read_text()), format_checker=jsonschema.FormatChecker())
    assert record["mode"] == "applied" and record["account_id"] == "123456789012"
    fields = {(change["function_name"], change["field"]): change for change in record["changes"]}
    assert fields["transform-dev", "memory_size"]["before"] == 3008
    assert fields["transform-dev", "memory_size"]["module"] == "tap.lambdaopt.lambda_rightsize"
    assert fields["transform-dev", "log_retention_days"] == {**fields["transform-dev", "log_retention_days"],
                                                             "before": None, "after": 7}
    assert fields["transform-dev", "tracing_mode"]["after"] == "Active"
    assert set(fields["transform-dev", "environment"]["after"]) == {"API_KEY_SECRET_ARN"}
    assert {policy["policy_name"] for policy in record["role_policies"]} == {
        "lambdaopt-xray-write", "lambdaopt-dlq-send", "lambdaopt-secrets-read"}
    # Four per function (one on dead-letter errors) and the queue's.
    assert len([alarm for alarm in record["alarms"] if alarm["change"] == "created"]) == 25
    assert {(entry["kind"], entry["change"]) for entry in record["resources"]} == {
        ("sqs_queue", "created")}  # the baseline's secret is wired in as it is: tap.lambdaopt did not write it
    # Too little data; and the stream consumer falling behind keeps its memory.
    assert {refusal["function_name"] for refusal in record["refused"]} == {"nightly-cleanup-dev",
                                                                           "signature-verifier-dev"}
    assert "rollback-test-api-key-1234" not in path.read_text()
    provisioned = fields["api-handler-dev", "provisioned_concurrency"]
    assert (provisioned["qualifier"], provisioned["before"]) == ("live", 150) and provisioned["after"] < 150
    [table] = record["tables"]
    assert table["table_name"] == "data-table-dev" and table["before"]["read_capacity"] == 100


def without_memory_of(state: dict, name: str) -> dict:
    """An account_state with one function's memory left out."""
    functions = dict(state["functions"])
    functions[name] = {**functions[name], "view": dataclasses.replace(functions[name]["view"], memory_size=None)}
    return {**state, "functions": functions}


# One real run serves every check of its record (a run is the longest part of each): the record is whole, carries
# into the Pulumi stack, and rolls back - a value changed by hand since kept unless forced, a second rollback a no-op.
def test_the_record_holds_every_change_carries_into_the_stack_and_rolls_back_once_keeping_a_hand_made_change(
        emulator, aws, optimized, tmp_path):
    before, record = optimized
    check_record_holds_every_change_with_its_module(record)
    check_the_record_carried_into_the_stack_declares_the_fleet(aws, record, tmp_path)
    optimized_state = account_state(aws)
    assert optimized_state["provisioned_concurrency"] != before["provisioned_concurrency"]
    assert optimized_state["tables"] != before["tables"]
    planned = rollback(emulator, record, "--check")
    assert planned.returncode == 0 and "changed=1" in planned.stdout, planned.stdout[-3000:]
    assert account_state(aws) == optimized_state  # check mode changed nothing

    lambda_client = aws.client("lambda")
    lambda_client.update_function_configuration(FunctionName="transform-dev", MemorySize=256)
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName="transform-dev")
    kept = rollback(emulator, record)
    assert kept.returncode == 0, kept.stdout[-3000:]
    assert "changed since the record, kept: ['transform-dev']" in kept.stdout
    after = account_state(aws)
    assert after["functions"]["transform-dev"]["view"].memory_size == 256  # kept
    assert without_memory_of(after, "transform-dev") == without_memory_of(before, "transform-dev")  # the rest back

    forced = rollback(emulator, record, "-e", "force=true")
    assert forced.returncode == 0, forced.stdout[-3000:]
    assert account_state(aws) == before
    again = rollback(emulator, record)
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-3000:]
    assert account_state(aws) == before
    checked_again = rollback(emulator, record, "--check")
    assert checked_again.returncode == 0 and "changed=0" in checked_again.stdout, checked_again.stdout[-3000:]
