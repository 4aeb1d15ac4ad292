"""Reading what a handler printed: JSON log lines and CloudWatch Embedded Metric Format (EMF) lines."""

import json
import time

# The units CloudWatch accepts (MetricDatum.Unit).
CLOUDWATCH_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}


def check_emf(document: dict) -> None:
    """Assert that `document` follows the EMF specification."""
    metadata = document["_aws"]
    timestamp = metadata["Timestamp"]
    assert isinstance(timestamp, int) and not isinstance(timestamp, bool)
    assert abs(timestamp - time.time() * 1000) < 60_000, "Timestamp must be epoch milliseconds, now"
    assert metadata["CloudWatchMetrics"]
    for directive in metadata["CloudWatchMetrics"]:
        assert isinstance(directive["Namespace"], str) and directive["Namespace"]
        for dimension_set in directive["Dimensions"]:
            assert 1 <= len(dimension_set) <= 30
            for name in dimension_set:
                assert isinstance(document[name], str) and document[name], f"dimension {name} has no value"
        assert 1 <= len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert metric["Unit"] in CLOUDWATCH_UNITS
            value = document[metric["Name"]]
            assert isinstance(value, int | float) and not isinstance(value, bool), f"{metric['Name']} is not a number"


def printed(capsys) -> tuple[list[dict], list[dict]]:
    """The log lines and the (checked) EMF lines printed so far; every line must be one JSON object."""
    logs, metrics = [], []
    for line in capsys.readouterr().out.splitlines():
        document = json.loads(line)
        if "_aws" in document:
            check_emf(document)
            metrics.append(document)
        else:
            logs.append(document)
    return logs, metrics


def metric_values(document: dict) -> dict:
    """Name → value of every metric an EMF line publishes."""
    return {
        metric["Name"]: document[metric["Name"]]
        for directive in document["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
