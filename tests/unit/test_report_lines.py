"""REPORT lines: parsing, exact statistics, and the Logs Insights path against AWS's documented shapes."""

from datetime import UTC, datetime

import boto3
import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import metrics as lambda_metrics
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import report_lines
from botocore.stub import ANY, Stubber

LINE = ("REPORT RequestId: 3604209a-e9a3-11e6-939a-754dd98c7be3\tDuration: 102.25 ms\tBilled Duration: 103 ms\t"
        "Memory Size: 3008 MB\tMax Memory Used: 75 MB\tInit Duration: 150.10 ms\t")
START = datetime(2026, 11, 9, tzinfo=UTC)
END = datetime(2026, 11, 23, tzinfo=UTC)


def test_a_report_line_parses_to_its_figures():
    line = report_lines.parse_report_line(LINE)
    assert line == report_lines.ReportLine(102.25, 103, 3008, 75, 150.10, None)


def test_warm_timeout_and_out_of_memory_lines_parse():
    warm = report_lines.parse_report_line(LINE.replace("Init Duration: 150.10 ms\t", ""))
    assert warm.init_duration_ms is None and warm.max_memory_used_mb == 75
    timed_out = report_lines.parse_report_line(LINE + "Status: timeout\t")
    assert timed_out.status == "timeout"
    out_of_memory = LINE.replace("75 MB", "3008 MB") + "Status: error\tError Type: Runtime.OutOfMemory\t"
    oom = report_lines.parse_report_line(out_of_memory)
    assert oom.status == "error" and oom.max_memory_used_mb == 3008


@pytest.mark.parametrize("other", [
    "START RequestId: 3604209a Version: $LATEST",
    "END RequestId: 3604209a",
    '{"level": "INFO", "message": "REPORT generated"}',
    "[ERROR]\t3604209a\tRuntimeError: upstream call failed",
])
def test_other_log_lines_are_not_report_lines(other):
    assert report_lines.parse_report_line(other) is None


def test_statistics_are_exact_over_the_lines():
    lines = [report_lines.ReportLine(float(ms), ms + 1, 1024, 50 + ms % 7, 200.0 if ms % 10 == 0 else None, None)
             for ms in range(1, 1001)]
    stats = report_lines.stats_from_lines(lines)
    assert stats.report_lines == 1000
    assert stats.max_duration_ms == 1000 and stats.p99_duration_ms == 990 and stats.p999_duration_ms == 999
    assert stats.avg_duration_ms == 500.5 and stats.avg_billed_duration_ms == 501.5
    assert stats.max_memory_used_mb == 56 and stats.cold_starts == 100 and stats.memory_size_mb == 1024


def test_no_lines_means_unknown_not_zero():
    stats = report_lines.stats_from_lines([])
    assert stats.report_lines == 0 and stats.max_memory_used_mb is None and stats.avg_duration_ms is None


def insights_row(group: str, **fields) -> list:
    return [{"field": "@log", "value": f"123456789012:{group}"}] + [
        {"field": key, "value": str(value)} for key, value in fields.items()]


@pytest.fixture
def logs():
    client = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber


def test_insights_statistics_convert_memory_from_bytes(logs):
    client, stubber = logs
    stubber.add_response("start_query", {"queryId": "q-1"}, {
        "logGroupNames": ["/aws/lambda/a", "/aws/lambda/b"], "startTime": int(START.timestamp()),
        "endTime": int(END.timestamp()), "queryString": report_lines.INSIGHTS_QUERY})
    stubber.add_response("get_query_results", {"status": "Running", "results": []}, {"queryId": "q-1"})
    stubber.add_response("get_query_results", {
        "status": "Complete",
        "statistics": {"recordsMatched": 5120.0, "recordsScanned": 20480.0, "bytesScanned": 2_000_000.0},
        "results": [insights_row("/aws/lambda/a", report_lines=5000, max_memory=91_000_000, p99_memory=82_000_000,
                                 avg_duration=123.49, max_duration=303.82, p99_duration=214.1, p999_duration=254.9,
                                 avg_billed=129.5, cold_starts=133, avg_init=241.0, max_init=296.8,
                                 memory_size=3_008_000_000)],
    }, {"queryId": "q-1"})
    stats = lambda_metrics.fetch_report_stats(client, ["/aws/lambda/a", "/aws/lambda/b"], START, END, insights="always",
                                              poll_seconds=0)
    stubber.assert_no_pending_responses()
    a = stats["/aws/lambda/a"]
    assert (a.max_memory_used_mb, a.p99_memory_used_mb, a.memory_size_mb) == (91, 82, 3008)
    assert a.report_lines == 5000 and a.p999_duration_ms == 254.9 and a.source == "REPORT lines (Logs Insights)"
    assert stats["/aws/lambda/b"].report_lines == 0  # no REPORT lines: no row


def test_insights_queries_take_at_most_50_groups(logs):
    client, stubber = logs
    groups = [f"/aws/lambda/fn-{index:03d}" for index in range(120)]
    for index, size in enumerate((50, 50, 20)):
        stubber.add_response("start_query", {"queryId": f"q-{index}"}, {
            "logGroupNames": groups[index * 50:index * 50 + size], "startTime": ANY, "endTime": ANY,
            "queryString": ANY})
    for index in range(3):
        stubber.add_response("get_query_results", {"status": "Complete", "results": []}, {"queryId": f"q-{index}"})
    stats = lambda_metrics.fetch_report_stats(client, groups, START, END, insights="always", poll_seconds=0)
    stubber.assert_no_pending_responses()
    assert len(stats) == 120


def test_an_endpoint_that_ignores_the_stats_falls_back_to_log_events(logs):
    client, stubber = logs
    stubber.add_response("start_query", {"queryId": "q-1"}, {"logGroupNames": ["/aws/lambda/a"], "startTime": ANY,
                                                              "endTime": ANY, "queryString": ANY})
    stubber.add_response("get_query_results", {"status": "Complete", "results": [[{"field": "@ptr", "value": "1"}]]},
                         {"queryId": "q-1"})
    stubber.add_response("filter_log_events", {"events": [{"message": LINE, "timestamp": 1}]}, {
        "logGroupName": "/aws/lambda/a", "filterPattern": report_lines.FILTER_PATTERN, "startTime": ANY,
        "endTime": ANY})
    stats = lambda_metrics.fetch_report_stats(client, ["/aws/lambda/a"], START, END, insights="auto", poll_seconds=0)
    stubber.assert_no_pending_responses()
    assert stats["/aws/lambda/a"].max_memory_used_mb == 75
    assert stats["/aws/lambda/a"].source == "REPORT lines (log events)"


def test_always_insights_does_not_fall_back(logs):
    client, stubber = logs
    stubber.add_client_error("start_query", service_error_code="AccessDeniedException", http_status_code=400)
    with pytest.raises(Exception, match="AccessDenied"):
        lambda_metrics.fetch_report_stats(client, ["/aws/lambda/a"], START, END, insights="always", poll_seconds=0)
