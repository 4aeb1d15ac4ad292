"""The emulator computes Logs Insights statistics (tools/emulator_patches/insights_statistics.py): the usage
query's figures and daily series agree with those read from the same log events, and a query it cannot
evaluate is refused, never answered wrongly."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import metrics as lambda_metrics
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import report_lines
from botocore.exceptions import ClientError

from tools.emulator_patches import insights_statistics

END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
START = END - timedelta(days=3)


def report(request: int, duration: float, used_mb: int, init: float | None = None) -> str:
    line = (f"REPORT RequestId: r-{request}\tDuration: {duration:.2f} ms\tBilled Duration: {int(duration) + 1} ms\t"
            f"Memory Size: 1024 MB\tMax Memory Used: {used_mb} MB\t")
    return line + (f"Init Duration: {init:.2f} ms\t" if init is not None else "")


def platform_report(duration: float, used_mb: int) -> str:
    return json.dumps({"time": "t", "type": "platform.report", "record": {"requestId": "j", "status": "success",
                       "metrics": {"durationMs": duration, "billedDurationMs": int(duration) + 1,
                                   "memorySizeMB": 512, "maxMemoryUsedMB": used_mb}}})


@pytest.fixture
def groups(aws):
    """Three days of a leaking function's REPORT lines in its own group (with START and END lines around them),
    and two functions' JSON platform.report records in a shared group."""
    logs = aws.client("logs")
    for group in ("/aws/lambda/leaky-dev", "/shared/pipeline"):
        logs.create_log_group(logGroupName=group)
    request = 0
    for day in range(3):
        moment = START + timedelta(days=day, hours=2)
        stream = f"{moment:%Y/%m/%d}/[$LATEST]abc{day}"
        logs.create_log_stream(logGroupName="/aws/lambda/leaky-dev", logStreamName=stream)
        events = []
        for index in range(20):
            request += 1
            at = int((moment + timedelta(minutes=index)).timestamp() * 1000)
            events += [{"timestamp": at, "message": f"START RequestId: r-{request} Version: $LATEST"},
                       {"timestamp": at, "message": report(request, 100 + index * 3.5 + day, 150 + 12 * day + index,
                                                           init=240.5 if index == 0 else None)}]
        logs.put_log_events(logGroupName="/aws/lambda/leaky-dev", logStreamName=stream, logEvents=events)
        for owner, used in (("orders-dev", 300 + day), ("refunds-dev", 90)):
            shared = f"{moment:%Y/%m/%d}/{owner}[$LATEST]def{day}"
            logs.create_log_stream(logGroupName="/shared/pipeline", logStreamName=shared)
            logs.put_log_events(logGroupName="/shared/pipeline", logStreamName=shared, logEvents=[
                {"timestamp": int(moment.timestamp() * 1000) + index, "message": platform_report(50.0 + index, used)}
                for index in range(5)])
    return logs


def test_the_usage_query_agrees_with_the_log_events(groups):
    names = ["/aws/lambda/leaky-dev", "/shared/pipeline"]
    by_insights = lambda_metrics.fetch_report_stats(groups, names, START, END, insights="always", poll_seconds=0)
    by_events = lambda_metrics.fetch_report_stats(groups, names, START, END, insights="never")
    assert set(by_insights) == set(by_events)
    measured = {"/aws/lambda/leaky-dev", "/shared/pipeline[orders-dev]", "/shared/pipeline[refunds-dev]"}
    assert measured <= set(by_events)
    assert by_events["/shared/pipeline"].report_lines == by_insights["/shared/pipeline"].report_lines == 0
    for source in sorted(measured):
        read, answered = by_events[source], by_insights[source]
        assert answered.source == lambda_metrics.INSIGHTS_SOURCE
        for figure in ("report_lines", "max_memory_used_mb", "avg_duration_ms", "max_duration_ms",
                       "avg_billed_duration_ms", "cold_starts", "avg_init_duration_ms", "max_init_duration_ms",
                       "memory_size_mb"):
            assert getattr(answered, figure) == pytest.approx(getattr(read, figure)), (source, figure)
        # Durations per memory size (what scaling is fitted to): the days' spreads pool into the window's.
        assert len(answered.durations_by_memory_size) == 1
        for by_size, from_events in zip(answered.durations_by_memory_size, read.durations_by_memory_size, strict=True):
            assert (by_size.memory_mb, by_size.invocations) == (from_events.memory_mb, from_events.invocations)
            assert by_size.mean_ms == pytest.approx(from_events.mean_ms)
            assert by_size.stddev_ms == pytest.approx(from_events.stddev_ms, abs=0.01)
            assert by_size.max_ms == pytest.approx(from_events.max_ms)
            assert by_size.p999_ms >= from_events.p999_ms
        # A percentile combined from the days is never below the window's own.
        assert answered.p99_memory_used_mb >= read.p99_memory_used_mb
        assert answered.p99_duration_ms >= read.p99_duration_ms
        # The same days' maxima: Insights' days are UTC days, the events' whole days from the window's start.
        assert [used for _, used in answered.daily_max_memory_mb] == [used for _, used in read.daily_max_memory_mb]
    assert [used for _, used in by_insights["/aws/lambda/leaky-dev"].daily_max_memory_mb] == [169, 181, 193]


def test_bin_rounds_the_timestamp_down_to_its_period(groups):
    query_id = groups.start_query(logGroupNames=["/aws/lambda/leaky-dev"], startTime=int(START.timestamp()),
                                  endTime=int(END.timestamp()),
                                  queryString='filter @type = "REPORT" | stats count(*) as n, max(@maxMemoryUsed) '
                                              'as used by bin(1h)')["queryId"]
    response = groups.get_query_results(queryId=query_id)
    rows = sorted(({cell["field"]: cell["value"] for cell in row} for row in response["results"]),
                  key=lambda row: row["bin(1h)"])
    assert response["status"] == "Complete" and len(rows) == 3 * 1  # each day's 20 lines lie within one hour
    first = START + timedelta(hours=2)
    assert rows[0] == {"bin(1h)": f"{first:%Y-%m-%d %H}:00:00.000", "n": "20", "used": "169000000"}


@pytest.mark.parametrize("query", [
    "stats median(@duration) by @log",  # not an aggregation it computes
    "stats max(@duration) by @log | sort @log",  # nor a command it evaluates
    "filter @type = | stats count(*)",
    "stats count(*) by bin(1fortnight)",
    f"stats max(@duration) by @log, bin(1d) | limit {report_lines.INSIGHTS_MAX_ROWS + 1}",
])
def test_a_query_it_cannot_evaluate_is_refused(groups, query):
    with pytest.raises(ClientError) as refused:
        groups.start_query(logGroupNames=["/aws/lambda/leaky-dev"], startTime=int(START.timestamp()),
                           endTime=int(END.timestamp()), queryString=query)
    assert refused.value.response["Error"]["Code"] == "MalformedQueryException"


def test_switched_off_it_answers_as_moto_does(groups):
    insights_statistics.answer_like_moto()
    names = ["/aws/lambda/leaky-dev"]
    with pytest.raises(ValueError, match="without the requested statistics"):
        lambda_metrics.fetch_report_stats(groups, names, START, END, insights="always", poll_seconds=0)
