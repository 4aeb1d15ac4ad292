# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fleet's usage over a lookback window, read in bulk: AWS/Lambda metrics through batched
GetMetricData, memory and duration statistics from REPORT lines."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from ansible_collections.tap.lambdaopt.plugins.module_utils import log_groups, report_lines
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter, run_bounded

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass

MAX_QUERIES_PER_CALL = 500
MAX_GROUPS_PER_INSIGHTS_QUERY = 50
DAY_SECONDS = 86400
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
)
METRIC_SOURCE = "AWS/Lambda metrics (GetMetricData)"
LOG_METRIC_SOURCE = "AWS/Logs IncomingBytes (GetMetricData)"


def window(lookback_days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    end = (now or datetime.now(UTC)).replace(microsecond=0)
    return end - timedelta(days=lookback_days), end


def metric_query(query_id: str, namespace: str, metric: str, dimensions: list, statistic: str, period: int) -> dict:
    """One GetMetricData query: `statistic` of the metric with exactly these dimensions, per `period` seconds."""
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions},
            "Period": period,
            "Stat": statistic,
        },
        "ReturnData": True,
    }


def _query(query_id: str, function_name: str, metric: str, statistic: str, period: int,
           namespace: str = "AWS/Lambda", log_group: str | None = None) -> dict:
    # Lambda metrics are per function; log metrics per log group: the function's own, named after it, unless its
    # LoggingConfig names another (possibly shared) group.
    dimension = ({"Name": "FunctionName", "Value": function_name} if namespace == "AWS/Lambda"
                 else {"Name": "LogGroupName", "Value": log_group or f"/aws/lambda/{function_name}"})
    return metric_query(query_id, namespace, metric, [dimension], statistic, period)


def combine(statistic: str, points: list):
    """The (timestamp, value) points of the window as one figure: the largest of maxima, the sum of sums."""
    if not points:
        return None
    values = [value for _, value in points]
    return max(values) if statistic == "Maximum" else sum(values)


def run_metric_queries(cloudwatch, queries: list, start: datetime, end: datetime) -> tuple[dict, int]:
    """({query id: [(period start, value), ...]}, GetMetricData calls made), in calls of up to 500 queries.
    A period without a data point is left out, as CloudWatch leaves it out."""
    collected: dict = {}
    calls = 0
    paginator = cloudwatch.get_paginator("get_metric_data")
    for offset in range(0, len(queries), MAX_QUERIES_PER_CALL):
        batch = queries[offset:offset + MAX_QUERIES_PER_CALL]
        for page in paginator.paginate(MetricDataQueries=batch, StartTime=start, EndTime=end):
            calls += 1
            for result in page["MetricDataResults"]:
                collected.setdefault(result["Id"], []).extend(
                    zip(result.get("Timestamps", []), result.get("Values", []), strict=True))
    return collected, calls


def fetch_metrics(cloudwatch, names: list, start: datetime, end: datetime,
                  log_groups: dict | None = None) -> tuple[dict, int]:
    """({name: {key: value}}, GetMetricData calls made), every function's metrics in calls of up to
    500 queries. A metric with no data points is None. `log_groups` ({name: group}) names the group of a
    function that does not log to its own; a log metric is the whole group's."""
    queries, keys = [], {}
    for index, name in enumerate(names):
        for position, (key, namespace, metric, statistic) in enumerate(METRICS):
            query_id = f"f{index}m{position}"
            queries.append(_query(query_id, name, metric, statistic, DAY_SECONDS, namespace,
                                  (log_groups or {}).get(name)))
            keys[query_id] = (name, key, statistic)
    collected, calls = run_metric_queries(cloudwatch, queries, start, end)
    values: dict = {name: {} for name in names}
    for query_id, (name, key, statistic) in keys.items():
        values[name][key] = combine(statistic, collected.get(query_id, []))
    return values, calls


def fetch_duration_p99(cloudwatch, names: list, start: datetime, end: datetime) -> dict | None:
    """{name: p99 duration in ms over the window}, or None where the endpoint cannot compute
    percentiles (an emulator) — the REPORT line statistics then stand in."""
    period = int((end - start).total_seconds()) // 60 * 60
    queries = [_query(f"p{index}", name, "Duration", "p99", period) for index, name in enumerate(names)]
    found = {}
    try:
        for offset in range(0, len(queries), MAX_QUERIES_PER_CALL):
            response = cloudwatch.get_metric_data(
                MetricDataQueries=queries[offset:offset + MAX_QUERIES_PER_CALL], StartTime=start, EndTime=end)
            for result in response["MetricDataResults"]:
                if result.get("Values"):
                    found[names[int(result["Id"][1:])]] = max(result["Values"])
    except (BotoCoreError, ClientError):
        return None
    return found


def _insights_stats(logs, groups: list, start: datetime, end: datetime, poll_seconds: float) -> dict:
    """Statistics for every group through Logs Insights, 50 groups a query. Raises ValueError when
    Insights does not answer the query as asked."""
    started = []
    for offset in range(0, len(groups), MAX_GROUPS_PER_INSIGHTS_QUERY):
        started.append(logs.start_query(
            logGroupNames=groups[offset:offset + MAX_GROUPS_PER_INSIGHTS_QUERY],
            startTime=int(start.timestamp()), endTime=int(end.timestamp()),
            queryString=report_lines.INSIGHTS_QUERY,
        )["queryId"])
    stats: dict = {}
    for query_id in started:
        while True:
            response = logs.get_query_results(queryId=query_id)
            if response["status"] not in ("Scheduled", "Running"):
                break
            # Insights has no waiter; its queries finish in seconds.
            time.sleep(poll_seconds)
        if response["status"] != "Complete":
            raise ValueError(f"Logs Insights query ended {response['status']}")
        stats.update(report_lines.stats_from_insights(response["results"]))
    return stats


def _event_stats(logs, groups: list, start: datetime, end: datetime, requests_per_second: float,
                 max_workers: int) -> dict:
    """Statistics for every group from its report events (either log format), read and parsed here, per log
    source: a shared group's lines are attributed to their functions by stream name."""
    limiter = RateLimiter(requests_per_second)

    def read(group):
        pages = iter(logs.get_paginator("filter_log_events").paginate(
            logGroupName=group, filterPattern=report_lines.FILTER_PATTERN,
            startTime=int(start.timestamp() * 1000), endTime=int(end.timestamp() * 1000),
        ))
        lines: dict = {group: []}
        while True:
            limiter.acquire()  # before each page: every page is one FilterLogEvents call
            page = next(pages, None)
            if page is None:
                return {source: report_lines.stats_from_lines(found) for source, found in lines.items()}
            for event in page["events"]:
                line = report_lines.parse_report(event["message"])
                if line is not None:
                    source = log_groups.source_of_stream(group, event.get("logStreamName", ""))
                    lines.setdefault(source, []).append(line)

    results = run_bounded(read, groups, max_workers)
    stats = {}
    for group, (result, error) in results.items():
        if error is None:
            stats.update(result)
        elif getattr(error, "response", {}).get("Error", {}).get("Code") == "ResourceNotFoundException":
            stats[group] = report_lines.no_report_lines("no log group")
        else:
            raise error
    return stats


def fetch_report_stats(logs, groups: list, start: datetime, end: datetime, insights: str = "auto",
                       requests_per_second: float = 5, max_workers: int = 4, poll_seconds: float = 1.0) -> dict:
    """{log source: ReportStats}, a source per group and per other function with lines in it
    (log_groups.source_key). `insights`: 'auto' tries Logs Insights and reads the events where
    it cannot answer, 'always' requires Insights, 'never' reads the events."""
    if insights != "never" and groups:
        try:
            stats = _insights_stats(logs, groups, start, end, poll_seconds)
            for group in groups:
                stats.setdefault(group, report_lines.no_report_lines("REPORT lines (Logs Insights)"))
            return stats
        except (ValueError, ClientError):
            if insights == "always":
                raise
    return _event_stats(logs, groups, start, end, requests_per_second, max_workers)
