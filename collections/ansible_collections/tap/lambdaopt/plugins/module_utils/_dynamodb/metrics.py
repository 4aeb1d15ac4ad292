# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What DynamoDB tables consumed over a lookback window: AWS/DynamoDB metrics of every table, read in batched
GetMetricData calls, reduced to the average, peak and spikiness of each side and the throttle events."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from ansible_collections.tap.lambdaopt.plugins.module_utils import metric_data
from ansible_collections.tap.lambdaopt.plugins.module_utils._dynamodb.plan import SideUsage, TableEvidence

NAMESPACE = "AWS/DynamoDB"
# (result key, metric); each read as its Sum per period.
METRICS = (
    ("read", "ConsumedReadCapacityUnits"),
    ("write", "ConsumedWriteCapacityUnits"),
    ("read_throttle_events", "ReadThrottleEvents"),
    ("write_throttle_events", "WriteThrottleEvents"),
)
HOUR_SECONDS = 3600


def window(lookback_days: int, period_seconds: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The lookback window ending now, its start on a period boundary so periods line up with whole hours."""
    start, end = metric_data.window(lookback_days, now)
    epoch = int(start.timestamp())
    return datetime.fromtimestamp(epoch - epoch % period_seconds, UTC), end


def fetch_table_metrics(cloudwatch, table_names: list, start: datetime, end: datetime, period_seconds: int) -> dict:
    """{table: {key: [(period start, Sum), ...], "unknown": {key: why}}} for every table, in calls of up to 500
    queries through GetMetricData's paginator. A period without a data point is left out, as CloudWatch leaves it
    out; a metric GetMetricData could not answer (InternalError, Forbidden) has no points and is listed under
    "unknown" with the reason."""
    queries, keys = [], {}
    for index, name in enumerate(table_names):
        for position, (key, metric) in enumerate(METRICS):
            query_id = f"t{index}m{position}"
            queries.append(metric_data.metric_query(query_id, NAMESPACE, metric, [{"Name": "TableName", "Value": name}],
                                                    "Sum", period_seconds))
            keys[query_id] = (name, key)
    answers = metric_data.run_metric_queries(cloudwatch, queries, start, end)
    series: dict = {name: {**{key: [] for key, _metric_name in METRICS}, "unknown": {}} for name in table_names}
    for query_id, (name, key) in keys.items():
        series[name][key] = answers.points.get(query_id, [])
        if query_id in answers.unknown:
            series[name]["unknown"][key] = answers.unknown[query_id]
    return series


def _hour_of(timestamp: datetime) -> datetime:
    return timestamp.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _side(points: list, hours: int, period_seconds: int) -> dict:
    if not hours:
        return {"average": None, "peak": None, "spikiness": None}
    average = sum(value for _timestamp, value in points) / (hours * HOUR_SECONDS)
    peak = max((value for _timestamp, value in points), default=0.0) / period_seconds
    return {"average": round(average, 4), "peak": round(peak, 4),
            "spikiness": round(peak / average, 2) if average > 0 else None}


def usage_of(series: dict, start: datetime, end: datetime, lookback_days: int, period_seconds: int) -> dict:
    """A table's usage as the module returns it: consumed units a second on each side, averaged over the hours with
    data, the busiest period's rate as the peak, and throttle events over the window."""
    with_data = {_hour_of(timestamp) for key in ("read", "write") for timestamp, _value in series[key]}
    hours = len(with_data)
    span = math.ceil((end - min(with_data)).total_seconds() / HOUR_SECONDS) if with_data else 0
    return {
        "window": {"start": start.isoformat(), "end": end.isoformat(), "days": lookback_days},
        "period_seconds": period_seconds,
        "hours": hours,
        "span_hours": max(span, hours),
        "read": _side(series["read"], hours, period_seconds),
        "write": _side(series["write"], hours, period_seconds),
        "throttle_events": {side: int(round(sum(value for _timestamp, value in series[f"{side}_throttle_events"])))
                            for side in ("read", "write")},
        # Metrics CloudWatch could not answer: the figures above then leave them out, so they decide nothing.
        "unknown_metrics": dict(sorted(series.get("unknown", {}).items())),
    }


def evidence_of(table_usage: dict) -> TableEvidence:
    """The decisions' view of a usage entry."""
    def side(name: str) -> SideUsage:
        figures = table_usage[name]
        return SideUsage(average=figures["average"], peak=figures["peak"])

    return TableEvidence(
        hours=table_usage["hours"],
        read=side("read"),
        write=side("write"),
        read_throttle_events=table_usage["throttle_events"]["read"],
        write_throttle_events=table_usage["throttle_events"]["write"],
        span_hours=table_usage["span_hours"],
        unknown=tuple(sorted((table_usage.get("unknown_metrics") or {}).items())),
    )


def measure(cloudwatch, table_names: list, lookback_days: int, period_seconds: int,
            now: datetime | None = None) -> dict:
    """{table: usage} for every table."""
    start, end = window(lookback_days, period_seconds, now)
    series = fetch_table_metrics(cloudwatch, table_names, start, end, period_seconds)
    return {name: usage_of(series[name], start, end, lookback_days, period_seconds) for name in table_names}
