"""Reading metrics and logs as real accounts answer, against responses shaped as AWS documents them (botocore's
Stubber checks every request and response against the service model).

Sources: CloudWatch API reference, GetMetricData and MetricDataResult (StatusCode Complete | PartialData |
InternalError | Forbidden, Messages, NextToken); CloudWatch Logs API reference, StartQuery, GetQueryResults (status
Scheduled | Running | Complete | Failed | Cancelled | Timeout | Unknown), StopQuery, FilterLogEvents,
DescribeLogGroups.
"""

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import metric_data
from ansible_collections.tap.lambdaopt.plugins.module_utils._dynamodb import metrics as table_metrics
from ansible_collections.tap.lambdaopt.plugins.module_utils._dynamodb import plan as table_plan
from ansible_collections.tap.lambdaopt.plugins.module_utils._dynamodb.api import PROVISIONED
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import evidence as lambda_evidence
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import metrics as lambda_metrics
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import plan as lambda_plan
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import report_lines
from ansible_collections.tap.lambdaopt.plugins.module_utils._provisioned import metrics as alias_metrics
from ansible_collections.tap.lambdaopt.plugins.module_utils._provisioned import plan as provisioned_plan
from botocore.stub import ANY, Stubber

START = datetime(2026, 11, 16, tzinfo=UTC)
END = datetime(2026, 11, 30, tzinfo=UTC)
DAY = [START + timedelta(days=index) for index in range(4)]
LINE = ("REPORT RequestId: r-{0}\tDuration: {0}.5 ms\tBilled Duration: {1} ms\tMemory Size: 1024 MB\t"
        "Max Memory Used: {0} MB\t")


def report(value: int) -> str:
    return LINE.format(value, value + 1)


def client(service: str):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture
def cloudwatch():
    metrics = client("cloudwatch")
    with Stubber(metrics) as stubber:
        yield metrics, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def logs():
    reader = client("logs")
    with Stubber(reader) as stubber:
        yield reader, stubber
        stubber.assert_no_pending_responses()


def query(query_id: str, metric: str = "Invocations", function_name: str = "fn") -> dict:
    return metric_data.metric_query(query_id, "AWS/Lambda", metric, [{"Name": "FunctionName", "Value": function_name}],
                                    "Sum", metric_data.DAY_SECONDS)


def result(query_id: str, status: str = "Complete", values: tuple = (), days: tuple = (), messages=None) -> dict:
    answer = {"Id": query_id, "Label": query_id, "StatusCode": status, "Values": list(values),
              "Timestamps": list(days)}
    if messages:
        answer["Messages"] = [{"Code": status, "Value": message} for message in messages]
    return answer


def expect_metric_data(stubber, queries: list, results: list, next_token: str | None = None,
                       token_sent: str | None = None) -> None:
    response = {"MetricDataResults": results, "Messages": []}
    if next_token:
        response["NextToken"] = next_token
    request = {"MetricDataQueries": queries, "StartTime": START, "EndTime": END}
    if token_sent:
        request["NextToken"] = token_sent
    stubber.add_response("get_metric_data", response, request)


# GetMetricData


def test_partial_data_is_paged_to_the_end_and_merged(cloudwatch):
    metrics, stubber = cloudwatch
    queries = [query("a"), query("b", function_name="other")]
    expect_metric_data(stubber, queries, [result("a", "PartialData", (1.0, 2.0), DAY[:2]),
                                          result("b", "Complete", (7.0,), DAY[:1])], next_token="page-2")
    expect_metric_data(stubber, queries, [result("a", "Complete", (3.0, 4.0), DAY[2:]), result("b")],
                       token_sent="page-2")
    answers = metric_data.run_metric_queries(metrics, queries, START, END)
    assert answers.calls == 2 and answers.unknown == {}
    assert [value for _, value in answers.points["a"]] == [1.0, 2.0, 3.0, 4.0]
    assert answers.points["b"] == [(DAY[0], 7.0)]


@pytest.mark.parametrize("status", ["InternalError", "Forbidden"])
def test_an_internal_error_or_forbidden_query_is_unknown_with_the_reason_never_zero(cloudwatch, status):
    metrics, stubber = cloudwatch
    queries = [query("a"), query("b", function_name="other")]
    expect_metric_data(stubber, queries, [result("a", status, (5.0,), DAY[:1], messages=["not for you"]),
                                          result("b")])
    answers = metric_data.run_metric_queries(metrics, queries, START, END)
    assert answers.unknown == {"a": f"GetMetricData answered {status}: not for you"}
    assert "a" not in answers.points  # the point it did send is not summed as if it were all
    assert answers.points["b"] == []  # complete without data points: nothing happened


def test_a_failed_query_stays_unknown_even_when_a_later_page_calls_it_complete(cloudwatch):
    metrics, stubber = cloudwatch
    queries = [query("a"), query("b", function_name="other")]
    expect_metric_data(stubber, queries, [result("a", "PartialData", (1.0,), DAY[:1]), result("b", "Forbidden")],
                       next_token="page-2")
    expect_metric_data(stubber, queries, [result("a", "Complete", (2.0,), DAY[1:2]), result("b", "Complete")],
                       token_sent="page-2")
    answers = metric_data.run_metric_queries(metrics, queries, START, END)
    assert set(answers.unknown) == {"b"} and [value for _, value in answers.points["a"]] == [1.0, 2.0]


def test_partial_data_without_a_token_or_a_query_left_unanswered_is_unknown(cloudwatch):
    metrics, stubber = cloudwatch
    queries = [query("a"), query("b", function_name="other"), query("c", function_name="third")]
    expect_metric_data(stubber, queries, [result("a", "PartialData", (1.0,), DAY[:1]), result("b")])
    answers = metric_data.run_metric_queries(metrics, queries, START, END)
    assert set(answers.unknown) == {"a", "c"}
    assert "PartialData" in answers.unknown["a"] and "no result" in answers.unknown["c"]


def test_fetch_metrics_tells_unknown_from_no_data(cloudwatch):
    metrics, stubber = cloudwatch
    names = ["quiet", "hidden"]
    results = []
    for index, name in enumerate(names):
        for position, (key, *_rest) in enumerate(lambda_metrics.METRICS):
            query_id = f"f{index}m{position}"
            if name == "hidden" and key in ("invocations", "peak_concurrency"):
                results.append(result(query_id, "Forbidden", messages=["no cloudwatch:GetMetricData on it"]))
            else:
                results.append(result(query_id))
    stubber.add_response("get_metric_data", {"MetricDataResults": results},
                         {"MetricDataQueries": ANY, "StartTime": START, "EndTime": END})
    values, calls, unknown = lambda_metrics.fetch_metrics(metrics, names, START, END)
    assert calls == 1
    assert values["quiet"]["invocations"] is None and unknown["quiet"] == {}
    assert values["hidden"]["invocations"] is None
    assert set(unknown["hidden"]) == {"invocations", "peak_concurrency"}
    assert unknown["hidden"]["invocations"] == "GetMetricData answered Forbidden: no cloudwatch:GetMetricData on it"


# Decisions on unknown figures


def test_unknown_invocations_are_insufficient_evidence_for_every_decision():
    reason = "GetMetricData answered Forbidden"
    evidence = lambda_plan.Evidence(invocations=None, report_lines=5000, memory_size_mb=3008, max_memory_used_mb=100,
                                    max_duration_ms=200, peak_concurrency=3, unknown=(("invocations", reason),))
    plan = lambda_plan.plan_function(3008, 300, None, {"memory_size": "auto", "timeout": "auto",
                                                       "reserved_concurrency": "auto"},
                                evidence, lambda_plan.ConcurrencyPool(unreserved=900, floor=100), lambda_plan.Policy())
    assert plan.changes == [] and len(plan.refused) == 3
    assert all(f"invocations unknown ({reason})" in decision.reason for decision in plan.refused)
    # Zero invocations where CloudWatch answered is a different statement: too few, not unknown.
    quiet = lambda_plan.Evidence(invocations=0, report_lines=0, memory_size_mb=3008)
    assert quiet.shortfall(lambda_plan.Policy()) == "insufficient data: 0 invocations in the window, 50 needed"


def test_unknown_peak_concurrency_refuses_the_reservation_and_says_why():
    evidence = lambda_plan.Evidence(invocations=5000, report_lines=5000, memory_size_mb=1024, max_memory_used_mb=100,
                                    max_duration_ms=200, peak_concurrency=None,
                                    unknown=(("peak_concurrency", "GetMetricData answered InternalError"),))
    decision = lambda_plan.plan_concurrency(None, "auto", evidence, lambda_plan.ConcurrencyPool(900, 100),
                                            lambda_plan.Policy())
    assert decision.refused and "peak concurrency unknown (GetMetricData answered InternalError)" in decision.reason


# Logs Insights, batch by batch


def start_query(stubber, query_id: str, groups: list) -> None:
    stubber.add_response("start_query", {"queryId": query_id}, {
        "logGroupNames": groups, "startTime": int(START.timestamp()), "endTime": int(END.timestamp()),
        "queryString": report_lines.INSIGHTS_QUERY})


def query_results(stubber, query_id: str, status: str, rows: list | None = None) -> None:
    stubber.add_response("get_query_results", {"status": status, "results": rows or []}, {"queryId": query_id})


def insights_row(group: str, used_mb: int) -> list:
    return [{"field": "@log", "value": f"123456789012:{group}"}, {"field": "report_lines", "value": "60"},
            {"field": "max_memory", "value": str(used_mb * 1_000_000)}, {"field": "memory_size", "value": "1024000000"}]


def filter_events(stubber, group: str, messages: list, next_token: str | None = None,
                  token_sent: str | None = None) -> None:
    response = {"events": [{"message": message, "timestamp": 1, "logStreamName": "2026/11/20/[$LATEST]abc"}
                           for message in messages]}
    request = {"logGroupName": group, "filterPattern": report_lines.FILTER_PATTERN, "startTime": ANY,
               "endTime": ANY}
    if next_token:
        response["nextToken"] = next_token
    if token_sent:
        request["nextToken"] = token_sent
    stubber.add_response("filter_log_events", response, request)


@pytest.fixture
def one_group_a_query(monkeypatch):
    monkeypatch.setattr(lambda_metrics, "MAX_GROUPS_PER_INSIGHTS_QUERY", 1)


@pytest.mark.usefixtures("one_group_a_query")
def test_each_batch_stands_alone_failed_timed_out_and_cancelled_ones_read_their_events(logs):
    reader, stubber = logs
    groups = [f"/aws/lambda/{name}" for name in ("ok", "failed", "timeout", "cancelled", "unknown")]
    for index, group in enumerate(groups):
        start_query(stubber, f"q{index}", [group])
    query_results(stubber, "q0", "Complete", [insights_row(groups[0], 91)])
    for index, status in enumerate(("Failed", "Timeout", "Cancelled", "Unknown"), start=1):
        query_results(stubber, f"q{index}", status)
    for index, group in enumerate(groups[1:], start=1):
        filter_events(stubber, group, [report(40 + index)])
    # One reader thread, so the stubbed reads come in order.
    stats = lambda_metrics.fetch_report_stats(reader, groups, START, END, poll_seconds=0, max_workers=1)
    assert stats[groups[0]].source == "REPORT lines (Logs Insights)" and stats[groups[0]].max_memory_used_mb == 91
    assert stats[groups[0]].insights_fallback is None and stats[groups[0]].sample_limit is None
    for index, status in enumerate(("Failed", "Timeout", "Cancelled", "Unknown"), start=1):
        read = stats[groups[index]]
        assert read.source == "REPORT lines (log events)" and read.max_memory_used_mb == 40 + index
        assert read.insights_fallback == f"Logs Insights query ended {status}"


@pytest.mark.usefixtures("one_group_a_query")
def test_a_query_past_its_deadline_is_stopped_and_only_its_batch_reads_events(logs):
    reader, stubber = logs
    slow, quick = "/aws/lambda/slow", "/aws/lambda/quick"
    start_query(stubber, "q-slow", [slow])
    start_query(stubber, "q-quick", [quick])
    query_results(stubber, "q-slow", "Running")
    query_results(stubber, "q-quick", "Complete", [insights_row(quick, 64)])
    query_results(stubber, "q-slow", "Running")  # polled again: past the deadline now
    stubber.add_response("stop_query", {"success": True}, {"queryId": "q-slow"})
    filter_events(stubber, slow, [report(70)])
    ticks = iter([0, 0, 10, 301])  # started, started, first poll, second poll
    stats = lambda_metrics.fetch_report_stats(reader, [slow, quick], START, END, poll_seconds=0,
                                              insights_deadline_seconds=300, clock=lambda: next(ticks))
    assert stats[quick].max_memory_used_mb == 64 and stats[quick].source == "REPORT lines (Logs Insights)"
    assert stats[slow].max_memory_used_mb == 70
    assert stats[slow].insights_fallback == "Logs Insights query still Running after 300 s: stopped"


@pytest.mark.usefixtures("one_group_a_query")
def test_a_stop_refused_because_the_query_just_ended_still_falls_back(logs):
    reader, stubber = logs
    start_query(stubber, "q", ["/aws/lambda/slow"])
    query_results(stubber, "q", "Scheduled")
    stubber.add_client_error("stop_query", service_error_code="InvalidParameterException",
                             service_message="Query is not running", http_status_code=400)
    filter_events(stubber, "/aws/lambda/slow", [report(33)])
    ticks = iter([0, 500])
    stats = lambda_metrics.fetch_report_stats(reader, ["/aws/lambda/slow"], START, END, poll_seconds=0,
                                              clock=lambda: next(ticks))
    assert stats["/aws/lambda/slow"].max_memory_used_mb == 33
    assert "still Scheduled" in stats["/aws/lambda/slow"].insights_fallback


@pytest.mark.usefixtures("one_group_a_query")
def test_a_query_that_cannot_start_falls_back_alone_unless_insights_is_required(logs):
    reader, stubber = logs
    start_query(stubber, "q0", ["/aws/lambda/a"])
    stubber.add_client_error("start_query", service_error_code="LimitExceededException", http_status_code=400)
    query_results(stubber, "q0", "Complete", [insights_row("/aws/lambda/a", 50)])
    filter_events(stubber, "/aws/lambda/b", [report(20)])
    stats = lambda_metrics.fetch_report_stats(reader, ["/aws/lambda/a", "/aws/lambda/b"], START, END, poll_seconds=0)
    assert stats["/aws/lambda/a"].max_memory_used_mb == 50
    assert stats["/aws/lambda/b"].insights_fallback == ("Logs Insights could not start the query "
                                                        "(LimitExceededException)")
    with pytest.raises(ValueError, match="ended Failed"):
        start_query(stubber, "q1", ["/aws/lambda/a"])
        query_results(stubber, "q1", "Failed")
        lambda_metrics.fetch_report_stats(reader, ["/aws/lambda/a"], START, END, insights="always", poll_seconds=0)


@pytest.mark.usefixtures("one_group_a_query")
def test_no_more_than_ten_queries_run_at_once(logs):
    reader, stubber = logs
    groups = [f"/aws/lambda/fn-{index:02d}" for index in range(12)]
    for index in range(10):
        start_query(stubber, f"q{index}", [groups[index]])
    for index in range(10):
        query_results(stubber, f"q{index}", "Complete")
    for index in (10, 11):
        start_query(stubber, f"q{index}", [groups[index]])
    for index in (10, 11):
        query_results(stubber, f"q{index}", "Complete")
    stats = lambda_metrics.fetch_report_stats(reader, groups, START, END, poll_seconds=0)
    assert all(stats[group].source == "REPORT lines (Logs Insights)" for group in groups)


def test_groups_that_do_not_exist_are_never_named_to_insights_nor_read(logs):
    reader, stubber = logs
    start_query(stubber, "q", ["/aws/lambda/here"])
    query_results(stubber, "q", "Complete", [insights_row("/aws/lambda/here", 88)])
    stats = lambda_metrics.fetch_report_stats(reader, ["/aws/lambda/gone", "/aws/lambda/here"], START, END,
                                              poll_seconds=0, existing={"/aws/lambda/here"})
    assert stats["/aws/lambda/gone"].source == "no log group" and stats["/aws/lambda/gone"].report_lines == 0
    assert stats["/aws/lambda/here"].max_memory_used_mb == 88


# The log events, a bounded sample


def test_the_events_read_per_group_are_bounded_and_the_sample_says_so(logs):
    reader, stubber = logs
    filter_events(stubber, "/aws/lambda/chatty", [report(10), report(11)], next_token="more")
    filter_events(stubber, "/aws/lambda/chatty", [report(12), report(99)], next_token="even-more", token_sent="more")
    filter_events(stubber, "/aws/lambda/calm", [report(5)])
    stats = lambda_metrics.fetch_report_stats(reader, ["/aws/lambda/chatty", "/aws/lambda/calm"], START, END,
                                              insights="never", max_events=3, max_workers=1)
    chatty, calm = stats["/aws/lambda/chatty"], stats["/aws/lambda/calm"]
    assert (chatty.report_lines, chatty.max_memory_used_mb, chatty.sample_limit, chatty.sampled) == (3, 12, 3, True)
    assert (calm.report_lines, calm.sample_limit, calm.sampled) == (1, 3, False)
    assert chatty.insights_fallback is None  # Insights was not asked


# The whole measurement


def test_measure_reports_a_forbidden_metric_unknown_and_the_function_undecided(cloudwatch, logs):
    metrics, metric_stubber = cloudwatch
    reader, log_stubber = logs
    functions = [{"function_name": name, "configuration": {"memory_size": 1024}} for name in ("seen", "hidden")]
    results = []
    for index, name in enumerate(("seen", "hidden")):
        for position, (key, *_rest) in enumerate(lambda_metrics.METRICS):
            query_id = f"f{index}m{position}"
            if name == "hidden" and key == "invocations":
                results.append(result(query_id, "Forbidden"))
            elif key == "invocations":
                results.append(result(query_id, values=(80.0,), days=DAY[:1]))
            else:
                results.append(result(query_id))
    metric_stubber.add_response("get_metric_data", {"MetricDataResults": results}, None)
    metric_stubber.add_response("get_metric_data", {"MetricDataResults": [result("p0"), result("p1")]}, None)
    log_stubber.add_response("describe_log_groups", {"logGroups": [{"logGroupName": "/aws/lambda/hidden"},
                                                                   {"logGroupName": "/aws/lambda/seen"}]},
                             {"logGroupNamePrefix": "/aws/lambda/", "limit": 50})
    log_stubber.add_response("start_query", {"queryId": "q"}, None)
    log_stubber.add_response("get_query_results", {"status": "Complete", "results": [
        insights_row("/aws/lambda/hidden", 300), insights_row("/aws/lambda/seen", 200)]}, {"queryId": "q"})
    lambda_evidence.measure(metrics, reader, functions, 14)
    seen, hidden = functions
    assert seen["invocations"] == 80 and seen["unknown_metrics"] == {}
    assert seen["errors"] == 0  # answered, no data points: none happened
    assert hidden["invocations"] is None
    assert hidden["unknown_metrics"] == {"invocations": "GetMetricData answered Forbidden"}
    assert hidden["sources"]["invocations"] == "unknown: GetMetricData answered Forbidden"
    assert hidden["max_memory_used_mb"]["max"] == 300  # the logs still answered
    assert lambda_evidence.evidence_of(hidden).shortfall(lambda_plan.Policy()).startswith(
        "insufficient data: invocations unknown")
    assert lambda_evidence.evidence_of(seen).shortfall(lambda_plan.Policy()) is None


# Aliases and tables read through the same plumbing


def test_an_alias_with_an_unknown_spillover_is_not_lowered_as_idle():
    reason = "GetMetricData answered InternalError"
    usage_entry = alias_metrics.usage_of({"invocations": 7000.0, "spillover_invocations": None,
                                          "peak_provisioned_executions": 10.0, "peak_concurrency": 10.0,
                                          "unknown": {"spillover_invocations": reason}}, {"days": 14})
    assert usage_entry["spillover_invocations"] is None and usage_entry["invocations"] == 7000
    assert usage_entry["unknown_metrics"] == {"spillover_invocations": reason}
    evidence = provisioned_plan.AliasEvidence(
        invocations=usage_entry["invocations"], spillover_invocations=usage_entry["spillover_invocations"],
        peak_provisioned_executions=usage_entry["peak_provisioned_executions"],
        peak_concurrency=usage_entry["peak_concurrency"], unknown=tuple(usage_entry["unknown_metrics"].items()))
    decision = provisioned_plan.plan_provisioned_concurrency(
        100, "auto", evidence,
        provisioned_plan.Headroom(reserved=None, provisioned_elsewhere=0, unreserved=900, floor=100),
        provisioned_plan.ProvisioningPolicy())
    assert decision.refused and decision.after == 100
    assert decision.reason == f"insufficient data: spillover_invocations unknown ({reason})"


def test_a_table_with_an_unknown_metric_keeps_its_capacity():
    hours = [END - timedelta(hours=index) for index in range(1, 49)]
    series = {"read": [(hour, 3600.0) for hour in hours], "write": [(hour, 3600.0) for hour in hours],
              "read_throttle_events": [], "write_throttle_events": [],
              "unknown": {"read_throttle_events": "GetMetricData answered Forbidden"}}
    table_usage = table_metrics.usage_of(series, START, END, 14, 3600)
    assert table_usage["unknown_metrics"] == {"read_throttle_events": "GetMetricData answered Forbidden"}
    state = table_plan.TableState(PROVISIONED, 100, 100)
    plan = table_plan.plan_table(state, {"capacity": "auto"}, table_metrics.evidence_of(table_usage),
                                 table_plan.TablePolicy(), END)
    assert plan.changes == [] and plan.refused
    assert all("read_throttle_events unknown (GetMetricData answered Forbidden)" in decision.reason
               for decision in plan.refused)


def test_a_decision_from_sampled_report_lines_says_so():
    function = {"configuration": {"memory_size": 1024}, "invocations": 90000, "max_memory_used_mb": {"max": 100},
                "duration_ms": {"max": 200.0, "p999": 150.0}, "peak_concurrency": 3,
                "samples": {"report_lines": 10000, "report_lines_sampled": True, "observed_memory_size_mb": 1024}}
    evidence = lambda_evidence.evidence_of(function)
    assert evidence.report_sample == 10000
    memory = lambda_plan.plan_memory(1024, "auto", evidence, lambda_plan.Policy())
    assert "max memory used 100 MB (in a sample: the window's first 10000 REPORT lines)" in memory.reason
    whole = lambda_evidence.evidence_of({**function, "samples": {**function["samples"], "report_lines_sampled": False}})
    assert whole.report_sample is None and "sample" not in lambda_plan.plan_memory(1024, "auto", whole,
                                                                                   lambda_plan.Policy()).reason
