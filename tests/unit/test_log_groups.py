"""Which group a function logs to, whose lines a shared group holds, and reports in both log formats.

Sources: Lambda API reference, LoggingConfig; Lambda developer guide, "Configuring CloudWatch log groups" (custom
group streams are `YYYY/MM/DD/<function_name>[<version>]<GUID>`), "Configuring JSON and plain text log formats";
Lambda Telemetry API schema reference (platform.report).
"""

import json
from datetime import UTC, datetime
from unittest.mock import ANY

import boto3
import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import log_groups, report_lines
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import metrics as lambda_metrics
from botocore.stub import Stubber

START, END = datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)
TEXT_REPORT = ("REPORT RequestId: 3f0c\tDuration: 102.25 ms\tBilled Duration: 103 ms\tMemory Size: 3008 MB\t"
               "Max Memory Used: 75 MB\t")
SHARED = "/shared/pipeline"


def platform_report(used_mb: int, duration_ms: float = 12.5, init_ms: float | None = None) -> str:
    metrics = {"durationMs": duration_ms, "billedDurationMs": int(duration_ms) + 1, "memorySizeMB": 1024,
               "maxMemoryUsedMB": used_mb}
    if init_ms is not None:
        metrics["initDurationMs"] = init_ms
    return json.dumps({"time": "2026-11-20T10:00:00.000Z", "type": "platform.report",
                       "record": {"requestId": "r-1", "metrics": metrics, "status": "success"}})


def test_the_group_and_format_come_from_logging_config():
    own = {"FunctionName": "plain-dev"}
    assert log_groups.group_of(own) == "/aws/lambda/plain-dev" and log_groups.format_of(own) == "Text"
    custom = {"FunctionName": "structured-dev", "LoggingConfig": {"LogFormat": "JSON", "LogGroup": SHARED}}
    assert log_groups.group_of(custom) == SHARED and log_groups.format_of(custom) == "JSON"
    assert log_groups.users_by_group([custom, own, {"FunctionName": "other", "LoggingConfig": {"LogGroup": SHARED}}]) \
        == {SHARED: ["other", "structured-dev"], "/aws/lambda/plain-dev": ["plain-dev"]}


@pytest.mark.parametrize("stream, owner", [
    ("2026/11/20/structured-dev[$LATEST]0123456789abcdef0123456789abcdef", "structured-dev"),
    ("2026/11/20/structured-dev[7]0123456789abcdef", "structured-dev"),
    ("2026/11/20/[$LATEST]0123456789abcdef0123456789abcdef", None),
    ("hand-made-stream", None),
])
def test_a_stream_names_its_function_only_in_a_custom_group(stream, owner):
    assert log_groups.stream_owner(stream) == owner


def test_log_sources_keep_a_default_group_keyed_by_its_name():
    assert log_groups.source_key("/aws/lambda/plain-dev", None) == "/aws/lambda/plain-dev"
    assert log_groups.source_key("/aws/lambda/plain-dev", "plain-dev") == "/aws/lambda/plain-dev"
    assert log_groups.source_key(SHARED, "structured-dev") == "/shared/pipeline[structured-dev]"
    # Another function writing into plain-dev's default group is told apart by its stream.
    assert log_groups.source_key("/aws/lambda/plain-dev", "intruder") == "/aws/lambda/plain-dev[intruder]"


def test_a_platform_report_record_reads_like_a_report_line():
    line = report_lines.parse_report(platform_report(68, 2.34, init_ms=170.14))
    assert (line.max_memory_used_mb, line.memory_size_mb, line.duration_ms, line.billed_duration_ms,
            line.init_duration_ms, line.status) == (68, 1024, 2.34, 3, 170.14, "success")
    assert report_lines.parse_report(TEXT_REPORT).max_memory_used_mb == 75
    for other in ('{"time": "t", "type": "platform.start", "record": {"requestId": "r-1"}}',
                  '{"level": "INFO", "message": "platform.report is mentioned here"}',
                  '{"type": "platform.report", "record": {"metrics": {}}}', "{not json platform.report",
                  "START RequestId: r-1 Version: $LATEST"):
        assert report_lines.parse_report(other) is None


@pytest.fixture
def logs():
    client = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber


def insights_row(group: str, owner: str | None, **fields) -> list:
    row = [{"field": "@log", "value": f"123456789012:{group}"}]
    if owner is not None:
        row.append({"field": "owner", "value": owner})
    return row + [{"field": key, "value": str(value)} for key, value in fields.items()]


def test_insights_statistics_come_out_per_function_of_a_shared_group(logs):
    """One query over both groups; rows by @log and the stream's owner (empty in a default group's streams)."""
    client, stubber = logs
    stubber.add_response("start_query", {"queryId": "q-1"}, {
        "logGroupNames": [SHARED, "/aws/lambda/plain-dev"], "startTime": int(START.timestamp()),
        "endTime": int(END.timestamp()), "queryString": report_lines.INSIGHTS_QUERY})
    stubber.add_response("get_query_results", {"status": "Complete", "results": [
        insights_row(SHARED, "structured-dev", report_lines=300, max_memory=412_000_000, memory_size=1_024_000_000),
        insights_row(SHARED, "outside-fleet", report_lines=90, max_memory=900_000_000, memory_size=1_024_000_000),
        insights_row("/aws/lambda/plain-dev", "", report_lines=120, max_memory=75_000_000,
                     memory_size=3_008_000_000),
    ]}, {"queryId": "q-1"})
    stats = lambda_metrics.fetch_report_stats(client, [SHARED, "/aws/lambda/plain-dev"], START, END, insights="always",
                                              poll_seconds=0)
    stubber.assert_no_pending_responses()
    assert stats["/shared/pipeline[structured-dev]"].max_memory_used_mb == 412
    assert stats["/shared/pipeline[outside-fleet]"].max_memory_used_mb == 900
    assert stats["/aws/lambda/plain-dev"].max_memory_used_mb == 75
    assert stats["/aws/lambda/plain-dev"].memory_size_mb == 3008


def test_the_insights_query_reads_both_formats_and_groups_by_stream_owner():
    query = report_lines.INSIGHTS_QUERY
    assert 'type = "platform.report"' in query and '@type = "REPORT"' in query
    assert "record.metrics.maxMemoryUsedMB * 1000000" in query and "parse @logStream" in query
    assert query.endswith("by @log, owner, bin(1d), size_bytes")


def test_log_events_of_a_shared_group_are_attributed_by_stream(logs):
    client, stubber = logs
    stubber.add_response("filter_log_events", {"events": [
        {"logStreamName": "2026/11/20/structured-dev[$LATEST]aa", "message": platform_report(412), "timestamp": 1},
        {"logStreamName": "2026/11/20/structured-dev[$LATEST]aa", "message": platform_report(300), "timestamp": 2},
        {"logStreamName": "2026/11/20/outside-fleet[$LATEST]bb", "message": TEXT_REPORT, "timestamp": 3},
        {"logStreamName": "2026/11/20/structured-dev[$LATEST]aa",
         "message": '{"time": "t", "type": "platform.start", "record": {}}', "timestamp": 4},
    ]}, {"logGroupName": SHARED, "filterPattern": report_lines.FILTER_PATTERN, "startTime": ANY, "endTime": ANY})
    stats = lambda_metrics.fetch_report_stats(client, [SHARED], START, END, insights="never")
    stubber.assert_no_pending_responses()
    assert stats["/shared/pipeline[structured-dev]"].report_lines == 2
    assert stats["/shared/pipeline[structured-dev]"].max_memory_used_mb == 412
    assert stats["/shared/pipeline[outside-fleet]"].max_memory_used_mb == 75
    assert stats[SHARED].report_lines == 0  # nothing of a function whose own group this is
