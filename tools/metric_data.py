"""Write simulated CloudWatch metric data within the limits of one PutMetricData call."""

from __future__ import annotations

# CloudWatch accepts at most this many data in one PutMetricData call.
METRIC_DATA_PER_CALL = 1000


def put_metric_data(cloudwatch, namespace: str, data: list[dict]) -> None:
    for start in range(0, len(data), METRIC_DATA_PER_CALL):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start:start + METRIC_DATA_PER_CALL])
