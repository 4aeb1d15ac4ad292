# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GetMetricData plumbing shared by every metrics layer: the lookback window, one query, batched calls of up to
500 queries followed through their pages, and which figures CloudWatch left unknown."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# How long CloudWatch keeps data points of each period, in days (hourly and coarser ones: 455 days).
RETENTION_DAYS = {60: 15, 300: 63, 3600: 455}

MAX_QUERIES_PER_CALL = 500
DAY_SECONDS = 86400
# MetricDataResult status codes that leave a query's figure unknown.
UNKNOWN_STATUSES = ("InternalError", "Forbidden")


def window(lookback_days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    end = (now or datetime.now(UTC)).replace(microsecond=0)
    return end - timedelta(days=lookback_days), end


def lookback_errors(lookback_days: int, period_seconds: int | None = None) -> list:
    """Why a lookback window cannot be read, if it cannot: it holds at least a day and no more days than CloudWatch
    keeps data points of the period - hourly ones where the caller has no period option."""
    retention = RETENTION_DAYS.get(period_seconds or 3600, RETENTION_DAYS[3600])
    if 1 <= lookback_days <= retention:
        return []
    if period_seconds is None:
        return [f"lookback_days must be between 1 and {retention} (CloudWatch keeps hourly data {retention} days)"]
    return [f"lookback_days must be between 1 and {retention} with period_seconds {period_seconds} "
            f"(CloudWatch keeps such data {retention} days)"]


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


def combine(statistic: str, points: list):
    """The (timestamp, value) points of the window as one figure: the largest of maxima, the sum of sums."""
    if not points:
        return None
    values = [value for _stamp, value in points]
    return max(values) if statistic == "Maximum" else sum(values)


@dataclass
class MetricAnswers:
    """What GetMetricData answered for a set of queries: {query id: [(period start, value), ...]} for the queries
    it answered in full, {query id: why the figure is unknown} for the others, and the calls made."""

    points: dict = field(default_factory=dict)
    unknown: dict = field(default_factory=dict)
    calls: int = 0


def _unknown_reason(result: dict) -> str:
    messages = "; ".join(message.get("Value") or message.get("Code") or "" for message in result.get("Messages", []))
    return f"GetMetricData answered {result['StatusCode']}" + (f": {messages}" if messages else "")


def run_metric_queries(cloudwatch, queries: list, start: datetime, end: datetime) -> MetricAnswers:
    """Every query's data points, in calls of up to 500 queries, each followed through its pages (NextToken) and
    merged. A period without a data point is left out, as CloudWatch leaves it out.

    Each result carries a StatusCode (CloudWatch API reference, MetricDataResult): `Complete`; `PartialData`, more
    on the next page; `InternalError` or `Forbidden`. A query answered InternalError or Forbidden on any page, left
    PartialData by the last page, or not answered at all is unknown: its points are dropped, never summed as if
    they were all there."""
    answers = MetricAnswers()
    paginator = cloudwatch.get_paginator("get_metric_data")
    for offset in range(0, len(queries), MAX_QUERIES_PER_CALL):
        batch = queries[offset:offset + MAX_QUERIES_PER_CALL]
        last_status: dict = {}
        for page in paginator.paginate(MetricDataQueries=batch, StartTime=start, EndTime=end):
            answers.calls += 1
            for result in page["MetricDataResults"]:
                query_id = result["Id"]
                answers.points.setdefault(query_id, []).extend(
                    zip(result.get("Timestamps", []), result.get("Values", []), strict=True))
                last_status[query_id] = result.get("StatusCode", "Complete")
                if last_status[query_id] in UNKNOWN_STATUSES:
                    answers.unknown.setdefault(query_id, _unknown_reason(result))
        for query in batch:
            status = last_status.get(query["Id"])
            if status is None:
                answers.unknown.setdefault(query["Id"], "GetMetricData returned no result for the query")
            elif status == "PartialData":
                answers.unknown.setdefault(query["Id"], "GetMetricData answered PartialData without a NextToken "
                                                        "for the rest")
    for query_id in answers.unknown:
        answers.points.pop(query_id, None)
    return answers
