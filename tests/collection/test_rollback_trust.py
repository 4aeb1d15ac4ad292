"""lambda_rollback acts on no record it cannot trust: one that asks for an admin policy, a queue of another
account, or that was edited by hand is refused before any AWS call, naming what is wrong, with force or without;
an alarm of a recorded name that the collection does not manage stops the rollback before anything changes; a
genuine record still rolls back."""

import copy

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import alarms, record_trust

from tests.collection.conftest import mutating
from tests.unit.test_record_trust import ADMIN, FOREIGN_QUEUE, genuine, tampered


def hand_edited_memory(record):
    """What someone editing the file by hand does: a memory value changed, the digest left as it was."""
    edited = copy.deepcopy(record)
    edited["changes"][0]["before"] = 2048
    return edited


REFUSED = {
    "an admin policy": (tampered(lambda record: record["role_policies"][0].update(after=ADMIN)),
                        "role policy lambdaopt-xray-write of transform-role-dev after statement 1: grants *"),
    "a queue of another account": (tampered(lambda record: record["changes"][4].update(before=FOREIGN_QUEUE)),
                                   f"transform-dev dead_letter_target before: {FOREIGN_QUEUE} is outside the "
                                   "record's account 123456789012"),
    "a hand-edited memory value": (hand_edited_memory(genuine()),
                                   "the record's digest does not match its content"),
}


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("check", [False, True])
@pytest.mark.parametrize("record, message", REFUSED.values(), ids=REFUSED.keys())
def test_an_untrusted_record_is_refused_before_any_call(run_module, api_calls, record, message, force, check):
    result = run_module("lambda_rollback", {"record": record, "force": force}, check=check)
    assert result.failed and message in result["msg"], result.get("msg")
    assert "the record is refused and nothing was changed" in result["msg"]
    assert api_calls == []


def alarm_and_memory_record(alarm_name: str) -> dict:
    return record_trust.with_digest({
        "schema_version": 2, "kind": "tap.lambdaopt change record", "mode": "applied",
        "recorded_at": "2026-11-30T20:00:00+00:00", "account_id": "123456789012", "region": "us-east-1",
        "changes": [{"function_name": "transform-dev", "field": "memory_size", "before": 3008, "after": 1024,
                     "module": "tap.lambdaopt.lambda_rightsize", "reason": None}],
        "role_policies": [], "resources": [], "refused": [], "failed": [],
        "alarms": [{"alarm_name": alarm_name, "function_name": "transform-dev", "queue_name": None,
                    "change": "created", "module": "tap.lambdaopt.lambda_alarms"}],
    })


def put_alarm(aws, name: str, description: str) -> None:
    aws.client("cloudwatch").put_metric_alarm(
        AlarmName=name, AlarmDescription=description, Namespace="AWS/Lambda", MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": "transform-dev"}], Statistic="Sum", Period=300,
        EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold")


def alarm_names(aws) -> list:
    return [alarm["AlarmName"] for alarm in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]]


def memory(aws) -> int:
    return aws.client("lambda").get_function_configuration(FunctionName="transform-dev")["MemorySize"]


def test_an_alarm_the_collection_does_not_manage_stops_the_rollback_before_any_change(aws, make_function,
                                                                                     run_module, api_calls):
    make_function("transform-dev", active=True, MemorySize=1024)
    put_alarm(aws, "lambdaopt-transform-dev-error-rate", "the on-call team's own alarm")
    api_calls.clear()
    result = run_module("lambda_rollback", {"record": alarm_and_memory_record("lambdaopt-transform-dev-error-rate"),
                                            "force": True})
    assert result.failed and "alarm lambdaopt-transform-dev-error-rate" in result["msg"], result.get("msg")
    assert alarms.MARKER in result["msg"]
    assert ("cloudwatch", "DescribeAlarms") in api_calls and mutating(api_calls) == []
    assert memory(aws) == 1024 and alarm_names(aws) == ["lambdaopt-transform-dev-error-rate"]


def test_a_genuine_record_still_rolls_back(aws, make_function, run_module):
    make_function("transform-dev", active=True, MemorySize=1024)
    put_alarm(aws, "lambdaopt-transform-dev-error-rate", f"transform-dev: error rate. {alarms.MARKER}.")
    record = alarm_and_memory_record("lambdaopt-transform-dev-error-rate")
    planned = run_module("lambda_rollback", {"record": record}, check=True, diff=True)
    assert planned["changed"] and planned["summary"] == {"planned": 2} and memory(aws) == 1024
    # The diff goes from what each value is now to what the record holds it was before the run.
    assert planned["diff"] == {
        "before": {"function transform-dev memory_size": 1024, "alarm lambdaopt-transform-dev-error-rate exists": True},
        "after": {"function transform-dev memory_size": 3008, "alarm lambdaopt-transform-dev-error-rate exists": False}}
    assert all("decision" not in item for item in planned["items"])
    result = run_module("lambda_rollback", {"record": record})
    assert not result.failed, result.get("msg")
    assert result["summary"] == {"restored": 2}
    assert memory(aws) == 3008 and alarm_names(aws) == []


def test_the_retention_of_a_group_the_function_does_not_log_to_is_kept(aws, make_function, run_module):
    make_function("transform-dev", active=True)
    logs = aws.client("logs")
    logs.create_log_group(logGroupName="/aws/cloudtrail/audit")
    logs.put_retention_policy(logGroupName="/aws/cloudtrail/audit", retentionInDays=3653)
    record = alarm_and_memory_record("lambdaopt-transform-dev-error-rate")
    record["alarms"] = []
    record["changes"] = [{"function_name": "transform-dev", "field": "log_retention_days", "before": 1, "after": 3653,
                          "module": "tap.lambdaopt.log_retention", "reason": None,
                          "log_group_name": "/aws/cloudtrail/audit", "log_group_existed": True}]
    result = run_module("lambda_rollback", {"record": record_trust.with_digest(record), "force": True})
    assert not result.failed and not result["changed"], result.get("msg")
    [item] = result["items"]
    assert item["status"] == "kept" and "transform-dev logs to /aws/lambda/transform-dev" in item["reason"]
    [group] = logs.describe_log_groups(logGroupNamePrefix="/aws/cloudtrail/audit")["logGroups"]
    assert group["retentionInDays"] == 3653
