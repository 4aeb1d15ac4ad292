"""lambda_alarms against the emulator: the 4-step matrix, the alarms' shape, pruning and bad input."""

import json

import jsonschema
import pytest

from tests.collection.conftest import mutating
from tools import baseline

TOPIC = "arn:aws:sns:us-east-1:123456789012:on-call"


@pytest.fixture
def fleet(aws):
    baseline.provision(aws, "dev")


def alarms(aws):
    return {alarm["AlarmName"]: alarm for alarm in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]}


def test_four_step_matrix(aws, fleet, run_module, api_calls):
    args = {"suffix": "dev", "alarm_actions": [TOPIC]}
    checked = run_module("lambda_alarms", args, check=True, diff=True)
    assert checked["changed"] and mutating(api_calls) == [] and alarms(aws) == {}
    assert len(checked["alarms"]) == 18 and {entry["status"] for entry in checked["alarms"]} == {"planned-create"}
    billing = {entry["alarm_name"]: (entry["function_name"], entry["metrics"], entry["high_resolution"])
               for entry in checked["alarms"]}
    assert billing["lambdaopt-transform-dev-error-rate"] == ("transform-dev", 2, False)  # errors and invocations
    assert billing["lambdaopt-transform-dev-duration"] == ("transform-dev", 1, False)

    applied = run_module("lambda_alarms", args)
    assert applied["changed"] and len(alarms(aws)) == 18

    del api_calls[:]
    assert not run_module("lambda_alarms", args, check=True)["changed"]
    assert not run_module("lambda_alarms", args)["changed"]
    assert mutating(api_calls) == []


def test_alarm_shapes(aws, fleet, run_module):
    run_module("lambda_alarms", {"functions": ["transform-dev"]})
    found = alarms(aws)
    rate = found["lambdaopt-transform-dev-error-rate"]
    assert rate["Threshold"] == 1.0 and rate["ComparisonOperator"] == "GreaterThanThreshold"
    expression = [metric for metric in rate["Metrics"] if metric.get("Expression")]
    assert expression[0]["Expression"] == "100 * errors / invocations"
    duration = found["lambdaopt-transform-dev-duration"]
    assert (duration["MetricName"], duration["Statistic"], duration["Threshold"]) == ("Duration", "Maximum", 20000)
    throttles = found["lambdaopt-transform-dev-throttles"]
    assert (throttles["MetricName"], throttles["Threshold"]) == ("Throttles", 0)
    assert all(alarm["TreatMissingData"] == "notBreaching" for alarm in found.values())


FUNCTIONS = ("api-handler-dev", "transform-dev", "batch-processor-dev", "signature-verifier-dev", "webhook-relay-dev",
             "nightly-cleanup-dev")


def test_functions_with_a_dead_letter_queue_alarm_on_failed_sends_to_it(aws, fleet, run_module, api_calls):
    run_module("lambda_dlq", {"suffix": "dev"})
    args = {"suffix": "dev", "alarm_actions": [TOPIC]}
    del api_calls[:]
    checked = run_module("lambda_alarms", args, check=True)
    assert checked["changed"] and mutating(api_calls) == [] and alarms(aws) == {}
    # Three per function, one on failed sends to its queue, one on the queue's depth.
    assert len(checked["alarms"]) == 6 * 4 + 1
    assert run_module("lambda_alarms", args)["changed"] and len(alarms(aws)) == 25
    for function in FUNCTIONS:
        alarm = alarms(aws)[f"lambdaopt-{function}-dead-letter-errors"]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"], alarm["Threshold"],
                alarm["ComparisonOperator"]) == ("AWS/Lambda", "DeadLetterErrors", "Sum", 0.0, "GreaterThanThreshold")
        assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": function}]
        assert alarm["AlarmActions"] == [TOPIC]

    del api_calls[:]
    assert not run_module("lambda_alarms", args, check=True)["changed"]
    assert not run_module("lambda_alarms", args)["changed"]
    assert mutating(api_calls) == []


def test_the_dead_letter_errors_alarm_is_priced_like_the_others(aws, fleet, run_module):
    from ansible_collections.tap.lambdaopt.plugins.plugin_utils import prices, report, savings
    from ansible_collections.tap.lambdaopt.plugins.plugin_utils.run_results import read_run

    from tests.unit.test_savings import function
    run_module("lambda_dlq", {"functions": ["transform-dev"], "queue_name": "lambda-dlq-dev"})
    result = run_module("lambda_alarms", {"functions": ["transform-dev"]})
    entry = next(alarm for alarm in result["alarms"] if alarm["alarm_name"].endswith("-dead-letter-errors"))
    assert (entry["status"], entry["function_name"], entry["metrics"]) == ("created", "transform-dev", 1)
    usage = [function("transform-dev", 10_000)]
    data = report.assemble(usage, read_run(usage, {"alarms": dict(result)}, dry_run=False),
                           prices.load("us-east-1"), savings.Assumptions(), "123456789012", "us-east-1")
    lines = {line["item"]: line for line in data["functions"][0]["lines"]}
    priced = lines["Alarm lambdaopt-transform-dev-dead-letter-errors"]
    assert priced["after"]["expected"] == lines["Alarm lambdaopt-transform-dev-throttles"]["after"]["expected"] == 0.10


def test_a_function_that_loses_its_queue_loses_its_dead_letter_alarm_on_prune(aws, fleet, run_module):
    run_module("lambda_dlq", {"suffix": "dev"})
    run_module("lambda_alarms", {"suffix": "dev"})
    lambda_client = aws.client("lambda")
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName="transform-dev")
    lambda_client.update_function_configuration(FunctionName="transform-dev", DeadLetterConfig={"TargetArn": ""})
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName="transform-dev")
    assert not run_module("lambda_alarms", {"suffix": "dev"})["changed"]  # kept unless pruning
    pruned = run_module("lambda_alarms", {"suffix": "dev", "prune": True})
    assert [entry["alarm_name"] for entry in pruned["alarms"] if entry["status"] == "deleted"] == [
        "lambdaopt-transform-dev-dead-letter-errors"]
    assert "lambdaopt-api-handler-dev-dead-letter-errors" in alarms(aws)


def test_dead_letter_queues_get_a_depth_alarm(aws, fleet, run_module):
    run_module("lambda_dlq", {"suffix": "dev"})
    run_module("lambda_alarms", {"suffix": "dev"})
    result = run_module("lambda_alarms", {"suffix": "dev", "period": 120}, check=True)
    depth_entry = next(entry for entry in result["alarms"] if entry["alarm_name"].startswith("lambdaopt-dlq-"))
    assert (depth_entry["queue_name"], depth_entry["metrics"], depth_entry["high_resolution"],
            depth_entry["status"]) == ("lambda-dlq-dev", 1, False, "planned-update")
    depth = alarms(aws)["lambdaopt-dlq-lambda-dlq-dev-messages"]
    assert depth["Namespace"] == "AWS/SQS" and depth["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert depth["Dimensions"] == [{"Name": "QueueName", "Value": "lambda-dlq-dev"}]


def test_a_changed_threshold_updates_only_what_differs(aws, fleet, run_module):
    run_module("lambda_alarms", {"suffix": "dev"})
    result = run_module("lambda_alarms", {"suffix": "dev", "duration_threshold_ms": 10000}, diff=True)
    updated = {entry["alarm_name"] for entry in result["alarms"] if entry["status"] == "updated"}
    assert updated == {f"lambdaopt-{name}-dev-duration" for name in (
        "api-handler", "transform", "batch-processor", "signature-verifier", "webhook-relay", "nightly-cleanup")}
    assert alarms(aws)["lambdaopt-transform-dev-duration"]["Threshold"] == 10000


def test_prune_removes_alarms_of_deleted_functions_only(aws, fleet, run_module):
    run_module("lambda_alarms", {"suffix": "dev"})
    aws.client("cloudwatch").put_metric_alarm(
        AlarmName="lambdaopt-hand-made", MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
        Dimensions=[{"Name": "FunctionName", "Value": "gone-dev"}])
    aws.client("lambda").delete_function(FunctionName="transform-dev")
    kept = run_module("lambda_alarms", {"suffix": "dev"})
    assert "lambdaopt-transform-dev-duration" in alarms(aws) and not kept["changed"]
    pruned = run_module("lambda_alarms", {"suffix": "dev", "prune": True})
    deleted = {entry["alarm_name"] for entry in pruned["alarms"] if entry["status"] == "deleted"}
    assert deleted == {f"lambdaopt-transform-dev-{kind}" for kind in ("error-rate", "duration", "throttles")}
    assert "lambdaopt-hand-made" in alarms(aws)  # not ours: no marker
    assert len(alarms(aws)) == 5 * 3 + 1


@pytest.mark.parametrize("args, message", [
    ({"alarm_actions": ["arn:aws:sqs:us-east-1:123456789012:q"]}, "is not an SNS topic ARN"),
    ({"alarm_actions": ["on-call"]}, "is not an SNS topic ARN"),
    ({"error_rate_threshold": 100}, "error_rate_threshold must be at least 0 and below 100"),
    ({"error_rate_threshold": -1}, "error_rate_threshold must be at least 0 and below 100"),
    ({"duration_threshold_ms": 1_000_000}, "duration_threshold_ms must be above 0 and at most 900000"),
    ({"period": 45}, "period must be a multiple of 60, got 45"),
    # Lambda's metrics are standard resolution: a high-resolution period would mostly lack data.
    ({"period": 10}, "period must be a multiple of 60, got 10: Lambda's and SQS's metrics are standard resolution"),
    ({"period": 30}, "period must be a multiple of 60, got 30"),
    ({"period": 0}, "period must be a multiple of 60, got 0"),
    ({"evaluation_periods": 0}, "evaluation_periods must be at least 1"),
    ({"dead_letter_errors_threshold": -1}, "dead_letter_errors_threshold must not be negative"),
    ({"functions": [{"FunctionName": "x"}]}, "neither a function name"),
])
def test_bad_input_fails_before_any_api_call(aws, run_module, api_calls, args, message):
    result = run_module("lambda_alarms", {"suffix": "dev", **args})
    assert result.failed and message in result["msg"]
    assert api_calls == []


def marked_alarm(aws, name, dimension, value):
    """An alarm as this module marks its own, on a function or queue that does not exist."""
    aws.client("cloudwatch").put_metric_alarm(
        AlarmName=name, AlarmDescription="x. Managed by tap.lambdaopt.", MetricName="Errors", Namespace="AWS/Lambda",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
        Dimensions=[{"Name": dimension, "Value": value}])


def test_prune_matches_queues_by_the_same_suffix_rule_as_functions(aws, fleet, run_module):
    for name, dimension, value in (("lambdaopt-gone-dev-throttles", "FunctionName", "gone-dev"),
                                   ("lambdaopt-gonedev-throttles", "FunctionName", "gonedev"),
                                   ("lambdaopt-dlq-old-dlq-dev-messages", "QueueName", "old-dlq-dev"),
                                   ("lambdaopt-dlq-old-dlqdev-messages", "QueueName", "old-dlqdev"),
                                   ("lambdaopt-dlq-old-dlq-dev2-messages", "QueueName", "old-dlq-dev2")):
        marked_alarm(aws, name, dimension, value)
    pruned = run_module("lambda_alarms", {"suffix": "dev", "prune": True})
    deleted = {entry["alarm_name"] for entry in pruned["alarms"] if entry["status"] == "deleted"}
    assert deleted == {"lambdaopt-gone-dev-throttles", "lambdaopt-dlq-old-dlq-dev-messages"}
    assert {"lambdaopt-gonedev-throttles", "lambdaopt-dlq-old-dlqdev-messages",
            "lambdaopt-dlq-old-dlq-dev2-messages"} <= set(alarms(aws))


def test_alarms_without_actions_are_reported_as_notifying_no_one(aws, fleet, run_module, capfd):
    from ansible_collections.tap.lambdaopt.plugins.action.savings_report import summary_of
    from ansible_collections.tap.lambdaopt.plugins.plugin_utils import prices, report, report_render, savings
    from ansible_collections.tap.lambdaopt.plugins.plugin_utils.run_results import read_run

    from tests.unit.test_savings import function
    silent = run_module("lambda_alarms", {"functions": ["transform-dev"]}, check=True)
    assert silent["notifies_no_one"] is True
    assert "[WARNING]: alarms notify no one" in capfd.readouterr().err
    paging = run_module("lambda_alarms", {"functions": ["transform-dev"], "alarm_actions": [TOPIC]}, check=True)
    assert paging["notifies_no_one"] is False
    assert "alarms notify no one" not in capfd.readouterr().err

    usage = [function("transform-dev", 10_000)]
    reports = {name: report.assemble(usage, read_run(usage, {"alarms": dict(result)}, dry_run=True),
                                     prices.load("us-east-1"), savings.Assumptions(), "123456789012", "us-east-1")
               for name, result in (("silent", silent), ("paging", paging))}
    jsonschema.validate(reports["silent"], json.loads(report.SCHEMA.read_text()))
    assert [warning.startswith("alarms notify no one") for warning in reports["silent"]["warnings"]] == [True]
    assert reports["paging"]["warnings"] == []
    assert "alarms notify no one" in report_render.markdown(reports["silent"])
    assert "alarms notify no one" in report_render.html(reports["silent"])
    assert "alarms notify no one" not in report_render.markdown(reports["paging"])
    assert summary_of(reports["silent"])["warnings"] == reports["silent"]["warnings"]


def test_the_diff_shows_the_alarm_settings_that_change(aws, fleet, run_module):
    name = "lambdaopt-transform-dev-duration"
    planned = run_module("lambda_alarms", {"functions": ["transform-dev"]}, check=True, diff=True)
    assert planned["diff"]["before"][name] is None and planned["diff"]["after"][name]["Threshold"] == 20000.0
    run_module("lambda_alarms", {"functions": ["transform-dev"]})

    result = run_module("lambda_alarms", {"functions": ["transform-dev"], "duration_threshold_ms": 10000}, diff=True)
    assert list(result["diff"]["before"]) == list(result["diff"]["after"]) == [name]
    assert (result["diff"]["before"][name]["Threshold"], result["diff"]["after"][name]["Threshold"]) == (20000, 10000)
    assert result["summary"] == {"alarms": 3, "changed": 1, "unchanged": 2, "with_refusals": 0, "failed": 0}


def test_a_function_not_found_fails_the_task_after_the_others_get_their_alarms(aws, fleet, run_module):
    result = run_module("lambda_alarms", {"functions": ["transform-dev", "no-such-function-dev"]})
    assert result.failed and result["msg"] == "functions not found: no-such-function-dev"
    assert result["failed_functions"] == ["no-such-function-dev"]
    assert {entry["status"] for entry in result["alarms"]} == {"created"} and len(alarms(aws)) == 3
