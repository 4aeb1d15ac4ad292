"""CloudWatch metric reads as AWS answers them, and fast enough for fleet-sized calls."""

from __future__ import annotations

import threading
from typing import Any

from moto.cloudwatch.models import CloudWatchBackend

# The patches swap a narrowed lookup in on the backend for one call, so such calls take turns.
_metrics_lookup = threading.Lock()


def apply() -> None:
    metric_data_lookup()
    exact_statistics_dimensions()


def metric_data_lookup() -> None:
    """Speed only, no behaviour: moto answers each GetMetricData query by scanning every stored data
    point once per period, which makes a fleet-sized call (thousands of queries over hundreds of
    thousands of points) take hours. Each plain query is answered by moto itself, over only the
    points of its own metric and dimensions, so the answers are moto's own."""
    original = CloudWatchBackend.get_metric_data

    def get_metric_data(self: CloudWatchBackend, queries: list[dict[str, Any]], start_time: Any, end_time: Any,
                        scan_by: str = "TimestampAscending") -> list[dict[str, Any]]:
        if len(queries) < 2 or any("MetricStat" not in query for query in queries):
            return original(self, queries, start_time, end_time, scan_by)
        by_metric: dict[tuple, list] = {}
        for datum in self.get_all_metrics():
            key = (datum.namespace, datum.name, frozenset((d.name, d.value) for d in datum.dimensions))
            by_metric.setdefault(key, []).append(datum)
        results = []
        unpatched = self.get_all_metrics
        with _metrics_lookup:
            try:
                for query in queries:
                    metric = query["MetricStat"]["Metric"]
                    key = (metric["Namespace"], metric["MetricName"],
                           frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])))
                    self.get_all_metrics = lambda key=key: by_metric.get(key, [])
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
