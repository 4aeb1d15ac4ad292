"""CloudWatch metric reads as AWS answers them, and fast enough for fleet-sized calls."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.cloudwatch.models import CloudWatchBackend

# The patches swap a narrowed lookup in on the backend for one call, so such calls take turns.
_metrics_lookup = threading.Lock()


def apply() -> None:
    metric_data_lookup()
    exact_statistics_dimensions()
    start_time_rounding()


def rounded_start(start: datetime, now: datetime | None = None) -> datetime:
    """GetMetricData's StartTime as CloudWatch takes it (API reference, GetMetricData, StartTime): less than 15 days
    ago, down to the whole minute (12:32:34 is 12:32:00); 15 to 63 days ago, to 5 minutes; older, to the hour. A
    window that starts mid-minute still holds the data point stamped at that minute."""
    moment = start if start.tzinfo else start.replace(tzinfo=UTC)
    age = (now or datetime.now(UTC)) - moment
    step = 60 if age < timedelta(days=15) else 300 if age < timedelta(days=63) else 3600
    rounded = moment.replace(microsecond=0) - timedelta(seconds=int(moment.timestamp()) % step)
    return rounded if start.tzinfo else rounded.replace(tzinfo=None)


def start_time_rounding() -> None:
    """moto takes StartTime as given, so a window starting at 12:32:34 misses the point stamped 12:32:00."""
    original = CloudWatchBackend.get_metric_data

    def get_metric_data(self: CloudWatchBackend, queries: list[dict[str, Any]], start_time: Any, end_time: Any,
                        scan_by: str = "TimestampAscending") -> list[dict[str, Any]]:
        return original(self, queries, rounded_start(start_time), end_time, scan_by)

    CloudWatchBackend.get_metric_data = get_metric_data


def _metric_key(namespace: str, name: str, dimensions: frozenset) -> tuple:
    return namespace, name, dimensions


def _points_by_metric(backend: CloudWatchBackend) -> dict[tuple, list]:
    """The backend's published data points grouped by metric (namespace, name, whole dimension set), kept on the
    backend and extended with the points published since the last call: moto only ever appends to its list, so
    indexing its new tail is enough, and a replaced or shortened list is indexed afresh."""
    stored = backend.metric_data
    index = getattr(backend, "_lambdaopt_points", None)
    if index is None or index["source"] is not stored or index["indexed"] > len(stored):
        index = {"source": stored, "indexed": 0, "by_metric": {}}
        backend._lambdaopt_points = index
    by_metric = index["by_metric"]
    # PutMetricData appends without this lock: index exactly the tail taken, so a point appended meanwhile is
    # indexed on the next call rather than skipped.
    tail = stored[index["indexed"]:]
    _group_by_metric(tail, by_metric)
    index["indexed"] += len(tail)
    return by_metric


def _group_by_metric(points: list, into: dict[tuple, list] | None = None) -> dict[tuple, list]:
    """`points` added to `into` (or a new dict) under their metric's key."""
    grouped = {} if into is None else into
    for datum in points:
        grouped.setdefault(_metric_key(datum.namespace, datum.name, _dimension_set(datum)), []).append(datum)
    return grouped


def metric_points(backend: CloudWatchBackend, namespace: str, name: str, dimensions: frozenset) -> list:
    """The data points of one metric (its namespace, name and whole dimension set): those published, from the
    index, and those AWS services provide on the fly (moto's providers, few)."""
    key = _metric_key(namespace, name, dimensions)
    with _metrics_lookup:
        published = list(_points_by_metric(backend).get(key, []))
    return published + _group_by_metric(backend.aws_metric_data).get(key, [])


def metric_data_lookup() -> None:
    """Speed only, no behaviour: moto answers each GetMetricData query by scanning every stored data
    point once per period, which makes a fleet-sized call (thousands of queries over hundreds of
    thousands of points) take hours. Each plain query is answered by moto itself, over only the
    points of its own metric and dimensions, so the answers are moto's own. The points are indexed
    once and the index grows with them, since a fleet's reads come in many calls."""
    original = CloudWatchBackend.get_metric_data

    def get_metric_data(self: CloudWatchBackend, queries: list[dict[str, Any]], start_time: Any, end_time: Any,
                        scan_by: str = "TimestampAscending") -> list[dict[str, Any]]:
        if len(queries) < 2 or any("MetricStat" not in query for query in queries):
            return original(self, queries, start_time, end_time, scan_by)
        results = []
        unpatched = self.get_all_metrics
        with _metrics_lookup:
            by_metric = _points_by_metric(self)
            # Metrics AWS services provide on the fly (moto's providers) are few; they join every lookup.
            provided = _group_by_metric(self.aws_metric_data)
            try:
                for query in queries:
                    metric = query["MetricStat"]["Metric"]
                    key = _metric_key(metric["Namespace"], metric["MetricName"],
                                      frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])))
                    points = by_metric.get(key, []) + provided.get(key, [])
                    self.get_all_metrics = lambda points=points: points
                    results.extend(original(self, [query], start_time, end_time, scan_by))
            finally:
                self.get_all_metrics = unpatched
        return results

    CloudWatchBackend.get_metric_data = get_metric_data


def _dimension_set(datum: Any) -> frozenset:
    return frozenset((dimension.name, dimension.value) for dimension in datum.dimensions)


def exact_statistics_dimensions() -> None:
    """AWS answers GetMetricStatistics from the data points published with exactly the dimensions asked for (a
    metric is its namespace, name and whole dimension set); moto also counts points that carry more dimensions,
    so a function's Invocations would include those Lambda publishes per alias as well."""
    original = CloudWatchBackend.get_metric_statistics

    def get_metric_statistics(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Any:
        dimensions = kwargs["dimensions"] if "dimensions" in kwargs else args[6]
        wanted = frozenset((dimension["Name"], dimension["Value"]) for dimension in dimensions or [])
        unpatched = self.get_all_metrics
        with _metrics_lookup:
            try:
                self.get_all_metrics = lambda: [datum for datum in unpatched() if _dimension_set(datum) == wanted]
                return original(self, *args, **kwargs)
            finally:
                self.get_all_metrics = unpatched

    CloudWatchBackend.get_metric_statistics = get_metric_statistics
