"""Simulated CloudWatch metric data, and writing it within the limits of one PutMetricData call."""

from __future__ import annotations

from datetime import datetime

# CloudWatch accepts at most this many data in one PutMetricData call.
METRIC_DATA_PER_CALL = 1000


def gauge_datum(name: str, dimensions: list[dict], timestamp: datetime, value: float, unit: str = "Count") -> dict:
    """A gauge read once in the period: its maximum is the value."""
    return {"MetricName": name, "Dimensions": dimensions, "Timestamp": timestamp, "Unit": unit,
            "StatisticValues": {"SampleCount": 1, "Sum": value, "Minimum": value, "Maximum": value}}


def put_metric_data(cloudwatch, namespace: str, data: list[dict]) -> None:
    for start in range(0, len(data), METRIC_DATA_PER_CALL):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start:start + METRIC_DATA_PER_CALL])
