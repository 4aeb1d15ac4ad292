"""A function configured for JSON logs in a shared group gets its platform records there, in streams named as Lambda
names them; a text function keeps its REPORT lines in its own group.

Sources: Lambda developer guide, "Configuring CloudWatch log groups" (a custom group's streams are
`YYYY/MM/DD/<function_name>[<function_version>]<GUID>`) and "Configuring JSON and plain text log formats"; Lambda
Telemetry API schema reference (platform.report: record.metrics durationMs, billedDurationMs, memorySizeMB,
maxMemoryUsedMB, initDurationMs; record.status).
"""

import json
import re
from datetime import timedelta

from tools import simulator

SHARED = "/shared/pipeline-dev"
END = simulator.default_end()


def events(aws, group):
    pages = aws.client("logs").get_paginator("filter_log_events").paginate(logGroupName=group)
    return [event for page in pages for event in page["events"]]


def test_json_records_land_in_the_configured_group_and_text_stays_as_it_was(aws, make_function):
    make_function("structured-dev", MemorySize=1024, LoggingConfig={"LogFormat": "JSON", "LogGroup": SHARED})
    make_function("plain-dev", MemorySize=1024)
    results = simulator.simulate_fleet(aws, "dev", days=1, end=END, traffic_scale=0.05)

    shared = events(aws, SHARED)
    assert {event["logStreamName"].split("/")[3].split("[")[0] for event in shared} == {"structured-dev"}
    assert all(re.fullmatch(r"\d{4}/\d{2}/\d{2}/structured-dev\[\$LATEST\][0-9a-f]{32}", event["logStreamName"])
               for event in shared)
    records = [json.loads(event["message"]) for event in shared]
    reports = [record for record in records if record.get("type") == "platform.report"]
    usage = results["structured-dev"]
    assert len(reports) == len(usage.invocations) > 0
    assert not any(event["message"].startswith("REPORT") for event in shared)
    assert {record.get("type") for record in records} >= {"platform.start", "platform.runtimeDone",
                                                         "platform.report"}
    assert max(report["record"]["metrics"]["maxMemoryUsedMB"] for report in reports) == max(
        invocation.max_memory_used_mb for invocation in usage.invocations)
    assert {report["record"]["metrics"]["memorySizeMB"] for report in reports} == {1024}
    assert {report["record"]["status"] for report in reports} <= {"success", "error", "timeout"}

    plain = events(aws, "/aws/lambda/plain-dev")
    assert all(re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", event["logStreamName"]) for event in plain)
    assert sum(event["message"].startswith("REPORT") for event in plain) == len(results["plain-dev"].invocations)
    groups = {group["logGroupName"] for group in aws.client("logs").describe_log_groups()["logGroups"]}
    assert "/aws/lambda/structured-dev" not in groups


def test_incoming_bytes_are_published_for_the_group_the_function_logs_to(aws, make_function):
    make_function("structured-dev", LoggingConfig={"LogFormat": "JSON", "LogGroup": SHARED})
    make_function("also-shared-dev", LoggingConfig={"LogGroup": SHARED})
    results = simulator.simulate_fleet(aws, "dev", days=1, end=END, traffic_scale=0.05)
    written = sum(len(message.encode()) for name, usage in results.items() for invocation in usage.invocations
                  for message in simulator.log_messages(invocation, "JSON" if name == "structured-dev" else "Text"))
    datapoints = aws.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Logs", MetricName="IncomingBytes", Dimensions=[{"Name": "LogGroupName", "Value": SHARED}],
        StartTime=END - timedelta(days=2), EndTime=END + timedelta(hours=1), Period=86400, Statistics=["Sum"],
    )["Datapoints"]
    assert sum(point["Sum"] for point in datapoints) == written
