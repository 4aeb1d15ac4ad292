"""lambda_usage_info and lambda_rightsize against an emulator answering as real accounts do: a metric GetMetricData
is forbidden to read or answers in pages, a Logs Insights query that fails, a function without a log group
(tools/emulator_patches/metric_data_status.py, insights_status.py)."""

from datetime import UTC, datetime, timedelta

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import metrics as lambda_metrics

from tools.emulator_patches import insights_status, metric_data_status

NOW = datetime.now(UTC).replace(microsecond=0)
REPORT = ("REPORT RequestId: r-{index}\tDuration: 20.5 ms\tBilled Duration: 21 ms\tMemory Size: 1024 MB\t"
          "Max Memory Used: {used} MB\t")


@pytest.fixture
def measured_functions(aws, make_function):
    """Functions that ran 60 times over three days, with their REPORT lines ({name: max memory used}), and one that
    never ran and has no log group."""
    cloudwatch, logs = aws.client("cloudwatch"), aws.client("logs")
    used = {"alpha-dev": 101, "bravo-dev": 202}
    for name, max_used in used.items():
        make_function(name)
        for day in range(3):
            cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[
                {"MetricName": metric, "Dimensions": [{"Name": "FunctionName", "Value": name}],
                 "Timestamp": NOW - timedelta(days=day, hours=2), "Value": value}
                for metric, value in (("Invocations", 20), ("ConcurrentExecutions", 2))])
        group = f"/aws/lambda/{name}"
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="2026/11/30/[$LATEST]0123456789abcdef")
        stamp = int((NOW - timedelta(hours=1)).timestamp() * 1000)
        logs.put_log_events(logGroupName=group, logStreamName="2026/11/30/[$LATEST]0123456789abcdef", logEvents=[
            {"timestamp": stamp + index, "message": REPORT.format(index=index, used=max_used - index % 2)}
            for index in range(60)])
    make_function("silent-dev")
    return used


def by_name(result):
    return {entry["function_name"]: entry for entry in result["functions"]}


def test_a_forbidden_metric_is_unknown_not_zero_and_decides_nothing(measured_functions, run_module):
    metric_data_status.answer_status("Invocations", "bravo-dev", "Forbidden")
    metric_data_status.answer_status("Invocations", "alpha-dev", "PartialData")
    result = run_module("lambda_usage_info", {"suffix": "dev"})
    assert not result.failed, result.get("msg")
    entries = by_name(result)
    alpha, bravo, silent = entries["alpha-dev"], entries["bravo-dev"], entries["silent-dev"]
    assert alpha["invocations"] == 60 and alpha["unknown_metrics"] == {}  # its pages, merged
    assert result["api_calls"]["get_metric_data_calls"] == 2  # the second page of the one call
    assert bravo["invocations"] is None
    assert bravo["unknown_metrics"]["invocations"].startswith("GetMetricData answered Forbidden")
    assert bravo["sources"]["invocations"].startswith("unknown: GetMetricData answered Forbidden")
    assert bravo["peak_concurrency"] == 2 and bravo["max_memory_used_mb"]["max"] == 202  # the rest still answered
    assert silent["invocations"] == 0 and silent["unknown_metrics"] == {}  # answered, no data: none happened

    planned = by_name(run_module("lambda_rightsize", {"suffix": "dev", "memory_size": "auto"}, check=True))
    assert planned["alpha-dev"]["after"]["memory_size"] < 1024 - 256  # enough evidence: lowered
    (refusal,) = planned["bravo-dev"]["refused"]
    assert refusal["field"] == "memory_size"
    assert refusal["reason"].startswith("insufficient data: invocations unknown (GetMetricData answered Forbidden")
    assert planned["bravo-dev"]["after"] == planned["bravo-dev"]["before"]


def test_a_failed_insights_batch_reads_only_its_own_groups_events(measured_functions, run_module, monkeypatch):
    # One group a query, so that each function is its own batch (AWS: up to 50 groups a query).
    monkeypatch.setattr(lambda_metrics, "MAX_GROUPS_PER_INSIGHTS_QUERY", 1)
    insights_status.end_queries("/aws/lambda/bravo-dev", "Failed")
    entries = by_name(run_module("lambda_usage_info", {"suffix": "dev"}))
    alpha, bravo, silent = entries["alpha-dev"], entries["bravo-dev"], entries["silent-dev"]
    assert bravo["sources"]["insights_fallback"] == "Logs Insights query ended Failed"
    assert bravo["max_memory_used_mb"]["max"] == 202 and bravo["samples"]["report_lines"] == 60
    # alpha's query completed: Insights measured it, bravo's failure took nothing from it.
    assert alpha["sources"]["memory"] == "REPORT lines (Logs Insights)"
    assert alpha["sources"]["insights_fallback"] is None
    assert alpha["max_memory_used_mb"]["max"] == 101
    # No log group: never named to Insights, never read.
    assert silent["sources"]["memory"] == "no log group" and silent["sources"]["insights_fallback"] is None


def test_a_missing_log_group_does_not_fail_the_query_of_the_others(measured_functions, run_module, api_calls):
    entries = by_name(run_module("lambda_usage_info", {"suffix": "dev"}))
    # One query for alpha and bravo (AWS fails a whole query naming a group that does not exist).
    assert api_calls.count(("logs", "StartQuery")) == 1
    for name in ("alpha-dev", "bravo-dev"):
        assert entries[name]["sources"]["memory"] == "REPORT lines (Logs Insights)"
    assert entries["alpha-dev"]["max_memory_used_mb"]["max"] == 101
    assert entries["silent-dev"]["sources"]["memory"] == "no log group"
    assert api_calls.count(("logs", "FilterLogEvents")) == 0  # Insights answered for both; no event was read


def test_the_event_sample_is_bounded_and_reported(measured_functions, run_module):
    entries = by_name(run_module("lambda_usage_info", {"suffix": "dev", "logs_insights": "never",
                                                       "max_report_events": 10}))
    alpha = entries["alpha-dev"]
    assert alpha["samples"]["report_lines"] == 10 and alpha["samples"]["report_lines_limit"] == 10
    assert alpha["samples"]["report_lines_sampled"] is True
    assert alpha["invocations"] == 60  # the metrics are whole; only the REPORT lines are a sample
    bounded = run_module("lambda_usage_info", {"suffix": "dev", "max_report_events": 0})
    assert bounded.failed and "max_report_events must be at least 1" in bounded["msg"]
