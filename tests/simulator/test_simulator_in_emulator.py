"""The simulator's history lands in the emulator in AWS's own shapes, and reads back to the profile."""

import re
from datetime import timedelta

import pytest

from tools import baseline, simulator
from tools.usage_model import FunctionConfig, load_profiles, simulate

END = simulator.default_end()
REPORT = re.compile(
    r"^REPORT RequestId: (?P<request>[0-9a-f-]{36})\tDuration: (?P<duration>[\d.]+) ms\t"
    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<size>\d+) MB\tMax Memory Used: (?P<used>\d+) MB\t"
    r"(?:Init Duration: (?P<init>[\d.]+) ms\t)?(?:Status: (?P<status>\w+)\t)?(?:Error Type: (?P<error>[\w.]+)\t)?$"
)
PROFILES, ASSIGNED = load_profiles()


def report_lines(aws, function_name):
    pages = aws.client("logs").get_paginator("filter_log_events").paginate(
        logGroupName=f"/aws/lambda/{function_name}", filterPattern="REPORT")
    return [REPORT.match(event["message"]) for page in pages for event in page["events"]
            if event["message"].startswith("REPORT")]


def metric_sum(aws, function_name, metric, statistic="Sum"):
    datapoints = aws.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda", MetricName=metric,
        Dimensions=[{"Name": "FunctionName", "Value": function_name}],
        StartTime=END - timedelta(days=15), EndTime=END + timedelta(hours=1), Period=86400, Statistics=[statistic],
    )["Datapoints"]
    values = [point[statistic] for point in datapoints]
    return max(values) if statistic == "Maximum" else sum(values)


@pytest.fixture(scope="module")
def simulated(emulator):
    """One simulated baseline fleet, shared by the read-only tests of this module."""
    emulator.reset()
    session = emulator.session()
    baseline.provision(session, "dev")
    return session, simulator.simulate_fleet(session, "dev", end=END)


@pytest.fixture
def fleet(simulated):
    return simulated[1]


@pytest.fixture
def reader(simulated):
    return simulated[0]


def test_every_fleet_function_gets_its_assigned_profile(fleet):
    assert {name: usage.profile.name for name, usage in fleet.items()} == {
        f"{function}-dev": profile for function, profile in ASSIGNED.items()}


@pytest.mark.parametrize("function", ["transform-dev", "batch-processor-dev", "webhook-relay-dev"])
def test_report_lines_parse_back_to_the_profile(reader, fleet, function):
    usage = fleet[function]
    parsed = report_lines(reader, function)
    assert all(parsed), "every REPORT line has Lambda's format"
    assert len(parsed) == len(usage.invocations)
    assert {int(line["size"]) for line in parsed} == {3008}
    assert max(int(line["used"]) for line in parsed) == round(usage.profile.memory_peak_mb)
    assert sorted(float(line["duration"]) for line in parsed) == sorted(i.duration_ms for i in usage.invocations)
    assert sum(1 for line in parsed if line["init"]) == sum(1 for i in usage.invocations if i.init_duration_ms)
    assert sorted(int(line["billed"]) for line in parsed) == sorted(i.billed_duration_ms for i in usage.invocations)


def test_metrics_agree_with_the_log_lines(reader, fleet):
    aws = reader
    for function in ("api-handler-dev", "webhook-relay-dev"):
        usage = fleet[function]
        assert metric_sum(aws, function, "Invocations") == len(usage.invocations)
        assert metric_sum(aws, function, "Errors") == usage.errors
        assert metric_sum(aws, function, "Throttles") == 0
        assert metric_sum(aws, function, "ConcurrentExecutions", "Maximum") == usage.peak_concurrency
        assert metric_sum(aws, function, "Duration", "Maximum") == pytest.approx(
            max(i.duration_ms for i in usage.invocations))
    assert metric_sum(aws, "api-handler-dev", "ConcurrentExecutions", "Maximum") >= 85


def test_replaying_a_profile_needs_no_emulator():
    profile = PROFILES[ASSIGNED["signature-verifier"]]
    replay = simulate("signature-verifier-dev", profile, FunctionConfig(512, 5), end=END)
    assert replay.timeouts > 0


def test_the_alias_reports_its_own_use_of_the_allocation(reader, fleet):
    usage = fleet["api-handler-dev"]
    cloudwatch = reader.client("cloudwatch")
    dimensions = [{"Name": "FunctionName", "Value": "api-handler-dev"},
                  {"Name": "Resource", "Value": "api-handler-dev:live"}]

    def statistic(metric, name):
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/Lambda", MetricName=metric, Dimensions=dimensions, StartTime=END - timedelta(days=15),
            EndTime=END + timedelta(hours=1), Period=86400, Statistics=[name])["Datapoints"]
        return [point[name] for point in points]

    assert sum(statistic("Invocations", "Sum")) == len(usage.invocations)  # all its traffic goes through `live`
    assert max(statistic("ProvisionedConcurrentExecutions", "Maximum")) == usage.peak_concurrency  # 150 covers it
    assert sum(statistic("ProvisionedConcurrencySpilloverInvocations", "Sum")) == 0
    utilization = max(statistic("ProvisionedConcurrencyUtilization", "Maximum"))
    assert utilization == pytest.approx(usage.peak_concurrency / 150, abs=1e-4)
    assert max(statistic("Duration", "Maximum")) == pytest.approx(max(i.duration_ms for i in usage.invocations))


def test_a_function_with_lambda_insights_publishes_its_cpu_time(reader, fleet):
    usage = fleet["api-handler-dev"]
    cloudwatch = reader.client("cloudwatch")

    def statistic(function, name):
        return [point[name] for point in cloudwatch.get_metric_statistics(
            Namespace="LambdaInsights", MetricName="cpu_total_time",
            Dimensions=[{"Name": "function_name", "Value": function}], StartTime=END - timedelta(days=15),
            EndTime=END + timedelta(hours=1), Period=86400, Statistics=[name])["Datapoints"]]

    assert sum(statistic("api-handler-dev", "SampleCount")) == len(usage.invocations)
    # At 3,008 MB every invocation has a full vCPU: its CPU time is the profile's CPU share of its duration.
    expected = sum(invocation.duration_ms for invocation in usage.invocations) * usage.profile.cpu_bound_share
    assert sum(statistic("api-handler-dev", "Sum")) == pytest.approx(expected, rel=1e-3)
    assert statistic("transform-dev", "SampleCount") == []  # without the extension, nothing
