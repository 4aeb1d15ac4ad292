# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fleet's usage over a lookback window, read in bulk: AWS/Lambda metrics through batched
GetMetricData, memory and duration statistics from REPORT lines."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import log_groups, report_lines
from ansible_collections.tap.lambdaopt.plugins.module_utils.metric_data import (
    DAY_SECONDS,
    combine,
    metric_query,
    run_metric_queries,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter, paced_pages, run_bounded

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass

MAX_GROUPS_PER_INSIGHTS_QUERY = 50
# AWS runs up to 100 Insights queries at once per account, dashboards' and other users' included: leave them room.
MAX_RUNNING_INSIGHTS_QUERIES = 10
# A query still running after this long is stopped and its groups' events are read instead.
INSIGHTS_DEADLINE_SECONDS = 300
# Report events read per log group from the events (a sample when the window holds more): about 3 MB of events.
DEFAULT_MAX_REPORT_EVENTS = 10000
INSIGHTS_SOURCE = "REPORT lines (Logs Insights)"
NO_LOG_GROUP = "no log group"
INSIGHTS_NAMESPACE = "LambdaInsights"
# (result key, namespace, metric, statistic) per function; daily points are combined client-side.
METRICS = (
    ("invocations", "AWS/Lambda", "Invocations", "Sum"),
    ("errors", "AWS/Lambda", "Errors", "Sum"),
    ("throttles", "AWS/Lambda", "Throttles", "Sum"),
    ("duration_sum", "AWS/Lambda", "Duration", "Sum"),
    ("duration_samples", "AWS/Lambda", "Duration", "SampleCount"),
    ("duration_max", "AWS/Lambda", "Duration", "Maximum"),
    ("peak_concurrency", "AWS/Lambda", "ConcurrentExecutions", "Maximum"),
    # Uncompressed bytes the function's log group ingested: what CloudWatch Logs bills ingestion on.
    ("log_ingested_bytes", "AWS/Logs", "IncomingBytes", "Sum"),
    # CPU time per invocation, where the function runs the Lambda Insights extension (CloudWatch user guide,
    # "Metrics collected by Lambda Insights": cpu_total_time, the sum of system and user CPU time, dimension
    # function_name): with its duration, how much of the function's time is CPU work. No data without Insights.
    ("cpu_time_sum", INSIGHTS_NAMESPACE, "cpu_total_time", "Sum"),
    ("cpu_time_samples", INSIGHTS_NAMESPACE, "cpu_total_time", "SampleCount"),
)
METRIC_SOURCE = "AWS/Lambda metrics (GetMetricData)"
INSIGHTS_METRIC_SOURCE = "LambdaInsights metrics (GetMetricData)"
LOG_METRIC_SOURCE = "AWS/Logs IncomingBytes (GetMetricData)"


def _query(query_id: str, function_name: str, metric: str, statistic: str, period: int,
           namespace: str = "AWS/Lambda", log_group: str | None = None) -> dict:
    # Lambda metrics are per function, Lambda Insights' too under another name; log metrics per log group: the
    # function's own, named after it, unless its LoggingConfig names another (possibly shared) group.
    if namespace == "AWS/Lambda":
        dimension = {"Name": "FunctionName", "Value": function_name}
    elif namespace == INSIGHTS_NAMESPACE:
        dimension = {"Name": "function_name", "Value": function_name}
    else:
        dimension = {"Name": "LogGroupName", "Value": log_group or f"/aws/lambda/{function_name}"}
    return metric_query(query_id, namespace, metric, [dimension], statistic, period)


def fetch_metrics(cloudwatch, names: list, start: datetime, end: datetime,
                  log_groups: dict | None = None) -> tuple[dict, int, dict]:
    """({name: {key: value}}, GetMetricData calls made, {name: {key: why unknown}}), every function's metrics in
    calls of up to 500 queries. A metric with no data points is None, and so is one GetMetricData could not answer
    (listed in the third item). `log_groups` ({name: group}) names the group of a function that does not log to its
    own; a log metric is the whole group's."""
    queries, keys = [], {}
    for index, name in enumerate(names):
        for position, (key, namespace, metric, statistic) in enumerate(METRICS):
            query_id = f"f{index}m{position}"
            queries.append(_query(query_id, name, metric, statistic, DAY_SECONDS, namespace,
                                  (log_groups or {}).get(name)))
            keys[query_id] = (name, key, statistic)
    answers = run_metric_queries(cloudwatch, queries, start, end)
    values: dict = {name: {} for name in names}
    unknown: dict = {name: {} for name in names}
    for query_id, (name, key, statistic) in keys.items():
        values[name][key] = combine(statistic, answers.points.get(query_id, []))
        if key == "duration_max":
            # The daily maxima themselves too: what a trend in duration is fitted to.
            values[name]["duration_max_daily"] = sorted(answers.points.get(query_id, []))
        if query_id in answers.unknown:
            unknown[name][key] = answers.unknown[query_id]
    return values, answers.calls, unknown


def fetch_duration_p99(cloudwatch, names: list, start: datetime, end: datetime) -> dict | None:
    """{name: p99 duration in ms over the window} for the functions CloudWatch answered in full, or None where the
    endpoint cannot compute percentiles (an emulator) — the REPORT line statistics then stand in."""
    period = int((end - start).total_seconds()) // 60 * 60
    queries = [_query(f"p{index}", name, "Duration", "p99", period) for index, name in enumerate(names)]
    try:
        answers = run_metric_queries(cloudwatch, queries, start, end)
    except (BotoCoreError, ClientError):
        return None
    return {names[int(query_id[1:])]: max(value for _stamp, value in points)
            for query_id, points in answers.points.items() if points}


def _error_code(error: Exception) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__


def _insights_stats(logs, groups: list, start: datetime, end: datetime, poll_seconds: float, deadline_seconds: float,
                    strict: bool, clock: Callable[[], float] = time.monotonic) -> tuple[dict, dict]:
    """({log source: ReportStats} of the batches Logs Insights answered, {group: why not} for the groups of the
    batches it did not), 50 groups a query, at most MAX_RUNNING_INSIGHTS_QUERIES running at once.

    Each batch stands alone (CloudWatch Logs API reference, StartQuery, GetQueryResults, StopQuery): a query that
    could not start, ended `Failed`, `Timeout`, `Cancelled` or `Unknown`, or answered without the statistics asked
    for (an emulator) gives up that batch only; one still running after `deadline_seconds` is stopped (StopQuery)
    and given up. `strict` raises instead: a ClientError as AWS answered it, a ValueError for a query that did not
    complete."""
    waiting = [groups[offset:offset + MAX_GROUPS_PER_INSIGHTS_QUERY]
               for offset in range(0, len(groups), MAX_GROUPS_PER_INSIGHTS_QUERY)]
    running: dict = {}  # query id: (its groups, when it started)
    stats: dict = {}
    given_up: dict = {}

    def give_up(batch: list, reason: str, error: Exception | None = None) -> None:
        if strict:
            raise error if error is not None else ValueError(reason)
        given_up.update(dict.fromkeys(batch, reason))

    while waiting or running:
        while waiting and len(running) < MAX_RUNNING_INSIGHTS_QUERIES:
            batch = waiting.pop(0)
            try:
                query_id = logs.start_query(logGroupNames=batch, startTime=int(start.timestamp()),
                                            endTime=int(end.timestamp()),
                                            queryString=report_lines.INSIGHTS_QUERY)["queryId"]
            except ClientError as error:
                give_up(batch, f"Logs Insights could not start the query ({_error_code(error)})", error)
                continue
            running[query_id] = (batch, clock())
        for query_id, (batch, started) in list(running.items()):
            try:
                response = logs.get_query_results(queryId=query_id)
            except ClientError as error:
                del running[query_id]
                give_up(batch, f"Logs Insights results could not be read ({_error_code(error)})", error)
                continue
            status = response["status"]
            if status in ("Scheduled", "Running"):
                if clock() - started < deadline_seconds:
                    continue
                del running[query_id]
                try:
                    logs.stop_query(queryId=query_id)
                except ClientError:
                    pass  # it ended meanwhile, or cannot be stopped: either way its answer is not waited for
                give_up(batch, f"Logs Insights query still {status} after {deadline_seconds:g} s: stopped")
                continue
            del running[query_id]
            if status != "Complete":
                give_up(batch, f"Logs Insights query ended {status}")
                continue
            try:
                answered = report_lines.stats_from_insights(response["results"], start)
            except ValueError as error:
                give_up(batch, str(error))
                continue
            stats.update(answered)
            for group in batch:
                stats.setdefault(group, report_lines.no_report_lines(INSIGHTS_SOURCE))
        if running:
            # Insights has no waiter; its queries finish in seconds.
            time.sleep(poll_seconds)
    return stats, given_up


def _event_stats(logs, groups: list, start: datetime, end: datetime, requests_per_second: float,
                 max_workers: int, max_events: int) -> dict:
    """Statistics for every group from its report events (either log format), read and parsed here, per log
    source: a shared group's lines are attributed to their functions by stream name. At most `max_events` events
    matching the report filter are read per group, oldest first: a chatty function costs a bounded time and
    memory, and its figures say they are a sample."""
    limiter = RateLimiter(requests_per_second)

    def read(group):
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName=group, filterPattern=report_lines.FILTER_PATTERN,
            startTime=int(start.timestamp() * 1000), endTime=int(end.timestamp() * 1000),
            PaginationConfig={"MaxItems": max_events},
        )
        lines: dict = {group: []}
        daily: dict = {group: {}}  # {source: {day in the window: max memory used}}
        for page in paced_pages(pages, limiter):
            for event in page["events"]:
                line = report_lines.parse_report(event["message"])
                if line is not None:
                    source = log_groups.source_of_stream(group, event.get("logStreamName", ""))
                    lines.setdefault(source, []).append(line)
                    day = int((event.get("timestamp", 0) / 1000 - start.timestamp()) // DAY_SECONDS)
                    days = daily.setdefault(source, {})
                    days[day] = max(days.get(day, 0), line.max_memory_used_mb)
        # The paginator stops at MaxItems with a token to resume from: there was more to read.
        sampled = pages.resume_token is not None
        return {source: replace(report_lines.stats_from_lines(found), sample_limit=max_events,
                                sampled=sampled, daily_max_memory_mb=tuple(sorted(daily[source].items())))
                for source, found in lines.items()}

    results = run_bounded(read, groups, max_workers)
    stats = {}
    for group, (result, error) in results.items():
        if error is None:
            stats.update(result)
        elif _error_code(error) == "ResourceNotFoundException":
            stats[group] = report_lines.no_report_lines(NO_LOG_GROUP)
        else:
            raise error
    return stats


def fetch_report_stats(logs, groups: list, start: datetime, end: datetime, insights: str = "auto",
                       requests_per_second: float = 5, max_workers: int = 4, poll_seconds: float = 1.0,
                       existing: set | None = None, max_events: int = DEFAULT_MAX_REPORT_EVENTS,
                       insights_deadline_seconds: float = INSIGHTS_DEADLINE_SECONDS,
                       clock: Callable[[], float] = time.monotonic) -> dict:
    """{log source: ReportStats}, a source per group and per other function with lines in it
    (log_groups.source_key). `insights`: 'auto' tries Logs Insights and reads the events of the batches it
    cannot answer, 'always' requires Insights, 'never' reads the events (at most `max_events` per group).

    `existing`, when given, holds the groups known to exist (one DescribeLogGroups listing, log_groups): the others
    are "no log group" without a call, and never named to Insights, which fails a whole query for one missing
    group."""
    if existing is not None:
        missing = [group for group in groups if group not in existing]
        groups = [group for group in groups if group in existing]
    else:
        missing = []
    stats = {group: report_lines.no_report_lines(NO_LOG_GROUP) for group in missing}
    fallback: dict = {}
    if insights != "never" and groups:
        answered, fallback = _insights_stats(logs, groups, start, end, poll_seconds, insights_deadline_seconds,
                                             strict=insights == "always", clock=clock)
        stats.update(answered)
        groups = [group for group in groups if group in fallback]
    for source, read in _event_stats(logs, groups, start, end, requests_per_second, max_workers,
                                     max_events).items():
        group = source.split("[", 1)[0]
        stats[source] = replace(read, insights_fallback=fallback.get(group)) if group in fallback else read
    return stats
