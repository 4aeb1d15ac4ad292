"""Aliases, versions and per-version metrics as AWS keeps and checks them (tools/emulator_patches/lambda_aliases.py).

Sources: Lambda API reference, CreateAlias, UpdateAlias (RevisionId, PreconditionFailedException),
AliasRoutingConfiguration (AdditionalVersionWeights: keys `[0-9]+`, values 0.0 to 1.0), PublishVersion (RevisionId,
CodeSha256), DeleteFunction, ProvisionedConcurrencyConfigListItem (the allocation of a weighted alias "fluctuates
depending on the amount of concurrency that is provisioned for the function versions"); Lambda developer guide,
"Implement Lambda canary deployments using a weighted alias" (at most two versions, the same execution role and
dead-letter queue configuration, both published: not `$LATEST`) and "Types of metrics for Lambda functions"
(ExecutedVersion); CloudWatch user guide, "Percentiles" (from raw values, or statistic sets of a single value).
"""

from datetime import UTC, datetime, timedelta

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tools import simulator
from tools.emulator_patches import lambda_states
from tools.usage_model import load_profiles

NAME = "signature-verifier-test"  # the cpu-bound profile, by tools/usage_profiles.yaml's name for it
WAIT = {"Delay": 1}


@pytest.fixture(autouse=True)
def instant_updates():
    """Functions are created Active and updated at once: the update state machine is not what is tested here."""
    lambda_states.configure(update_reads=0, pending_reads=0)
    yield
    lambda_states.configure()


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture
def lambda_(aws):
    # Without botocore's own checks, values out of AWS's ranges reach the emulator, whose answer is under test.
    return aws.client("lambda", config=Config(parameter_validation=False))


@pytest.fixture
def versions(make_function, lambda_):
    """The function with version 1 at 3008 MB and version 2 at 512 MB, and the alias `live` on version 1."""
    make_function(NAME, active=True, MemorySize=3008, Timeout=300)
    assert lambda_.publish_version(FunctionName=NAME)["Version"] == "1"
    lambda_.update_function_configuration(FunctionName=NAME, MemorySize=512)
    lambda_.get_waiter("function_updated_v2").wait(FunctionName=NAME, WaiterConfig=WAIT)
    assert lambda_.publish_version(FunctionName=NAME)["Version"] == "2"
    lambda_.create_alias(FunctionName=NAME, Name="live", FunctionVersion="1")
    return lambda_


def route(lambda_, weights: dict, **extra) -> dict:
    return lambda_.update_alias(FunctionName=NAME, Name="live", RoutingConfig={"AdditionalVersionWeights": weights},
                                **extra)


def test_a_weighted_alias_keeps_its_routing_until_it_is_cleared(versions):
    route(versions, {"2": 0.1})
    alias = versions.get_alias(FunctionName=NAME, Name="live")
    assert (alias["FunctionVersion"], alias["RoutingConfig"]) == ("1", {"AdditionalVersionWeights": {"2": 0.1}})
    listed = versions.list_aliases(FunctionName=NAME)["Aliases"]
    assert listed[0]["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    moved = versions.update_alias(FunctionName=NAME, Name="live", FunctionVersion="2",
                                  RoutingConfig={"AdditionalVersionWeights": {}})
    assert moved["FunctionVersion"] == "2" and not moved.get("RoutingConfig")
    assert not versions.get_alias(FunctionName=NAME, Name="live").get("RoutingConfig")


@pytest.mark.parametrize(("weights", "code"), [
    ({"2": 1.5}, "ValidationException"),
    ({"2": -0.1}, "ValidationException"),
    ({"$LATEST": 0.1}, "ValidationException"),
    ({"2": 0.1, "3": 0.1}, "InvalidParameterValueException"),
    ({"1": 0.1}, "InvalidParameterValueException"),
    ({"9": 0.1}, "ResourceNotFoundException"),
])
def test_a_routing_configuration_aws_refuses_is_refused(versions, weights, code):
    if "3" in weights:
        versions.update_function_configuration(FunctionName=NAME, MemorySize=1024)
        versions.get_waiter("function_updated_v2").wait(FunctionName=NAME, WaiterConfig=WAIT)
        versions.publish_version(FunctionName=NAME)
    with pytest.raises(ClientError) as excinfo:
        route(versions, weights)
    assert error_code(excinfo) == code
    assert not versions.get_alias(FunctionName=NAME, Name="live").get("RoutingConfig")


def test_an_alias_on_latest_cannot_route(versions):
    versions.create_alias(FunctionName=NAME, Name="head", FunctionVersion="$LATEST")
    with pytest.raises(ClientError) as excinfo:
        versions.update_alias(FunctionName=NAME, Name="head", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    assert error_code(excinfo) == "InvalidParameterValueException" and "$LATEST" in str(excinfo.value)
    with pytest.raises(ClientError) as excinfo:
        versions.create_alias(FunctionName=NAME, Name="fresh", FunctionVersion="$LATEST",
                              RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    assert error_code(excinfo) == "InvalidParameterValueException"


def test_both_versions_need_the_same_role_and_dead_letter_queue(aws, versions):
    other_role = aws.client("iam").create_role(RoleName="other-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    versions.update_function_configuration(FunctionName=NAME, Role=other_role)
    versions.get_waiter("function_updated_v2").wait(FunctionName=NAME, WaiterConfig=WAIT)
    assert versions.publish_version(FunctionName=NAME)["Version"] == "3"
    with pytest.raises(ClientError) as excinfo:
        route(versions, {"3": 0.1})
    assert error_code(excinfo) == "InvalidParameterValueException" and "role" in str(excinfo.value)
    queue = aws.client("sqs").create_queue(QueueName="dlq")["QueueUrl"]
    arn = aws.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    first_role = versions.get_function_configuration(FunctionName=NAME, Qualifier="1")["Role"]
    versions.update_function_configuration(FunctionName=NAME, Role=first_role, DeadLetterConfig={"TargetArn": arn})
    versions.get_waiter("function_updated_v2").wait(FunctionName=NAME, WaiterConfig=WAIT)
    assert versions.publish_version(FunctionName=NAME)["Version"] == "4"
    with pytest.raises(ClientError) as excinfo:
        route(versions, {"4": 0.1})
    assert error_code(excinfo) == "InvalidParameterValueException" and "dead-letter" in str(excinfo.value)


def test_each_alias_update_has_a_new_revision_and_a_stale_one_is_refused(versions):
    first = versions.get_alias(FunctionName=NAME, Name="live")["RevisionId"]
    second = route(versions, {"2": 0.1}, RevisionId=first)["RevisionId"]
    assert second != first
    with pytest.raises(ClientError) as excinfo:
        route(versions, {}, RevisionId=first)
    assert error_code(excinfo) == "PreconditionFailedException"
    assert versions.get_alias(FunctionName=NAME, Name="live")["RoutingConfig"] == {"AdditionalVersionWeights":
                                                                                    {"2": 0.1}}


def test_publish_version_is_conditional_on_revision_and_code(versions):
    versions.update_function_configuration(FunctionName=NAME, Timeout=60)
    versions.get_waiter("function_updated_v2").wait(FunctionName=NAME, WaiterConfig=WAIT)
    latest = versions.get_function_configuration(FunctionName=NAME)
    with pytest.raises(ClientError) as excinfo:
        versions.publish_version(FunctionName=NAME, RevisionId="stale")
    assert error_code(excinfo) == "PreconditionFailedException"
    with pytest.raises(ClientError) as excinfo:
        versions.publish_version(FunctionName=NAME, CodeSha256="not-the-code")
    assert error_code(excinfo) == "InvalidParameterValueException"
    published = versions.publish_version(FunctionName=NAME, RevisionId=latest["RevisionId"],
                                         CodeSha256=latest["CodeSha256"])
    assert (published["Version"], published["Timeout"]) == ("3", 60)


def test_a_version_an_alias_serves_cannot_be_deleted(versions):
    route(versions, {"2": 0.1})
    for version in ("1", "2"):
        with pytest.raises(ClientError) as excinfo:
            versions.delete_function(FunctionName=NAME, Qualifier=version)
        assert error_code(excinfo) == "ResourceConflictException" and "live" in str(excinfo.value)
    route(versions, {})
    versions.delete_function(FunctionName=NAME, Qualifier="2")
    remaining = [version["Version"] for version in versions.list_versions_by_function(FunctionName=NAME)["Versions"]]
    assert remaining == ["$LATEST", "1"]


def test_provisioned_concurrency_stays_on_the_alias_and_is_reallocated_when_it_routes_or_moves(versions):
    versions.put_provisioned_concurrency_config(FunctionName=NAME, Qualifier="live", ProvisionedConcurrentExecutions=5)
    assert versions.get_provisioned_concurrency_config(FunctionName=NAME, Qualifier="live")["Status"] == "READY"

    def statuses():
        return [(config["FunctionArn"].rsplit(":", 1)[-1], config["Status"], config[
            "RequestedProvisionedConcurrentExecutions"]) for config in versions.list_provisioned_concurrency_configs(
                FunctionName=NAME)["ProvisionedConcurrencyConfigs"]]

    route(versions, {"2": 0.1})
    assert statuses() == [("live", "IN_PROGRESS", 5)]
    assert statuses() == [("live", "READY", 5)]
    versions.update_alias(FunctionName=NAME, Name="live", FunctionVersion="2",
                          RoutingConfig={"AdditionalVersionWeights": {}})
    assert versions.get_provisioned_concurrency_config(FunctionName=NAME, Qualifier="live")["Status"] == "IN_PROGRESS"
    assert statuses() == [("live", "READY", 5)]
    versions.update_alias(FunctionName=NAME, Name="live", Description="same versions, nothing to provision")
    assert statuses() == [("live", "READY", 5)]


def metric_query(query_id: str, dimensions: list, stat: str, period: int, metric: str = "Duration") -> dict:
    return {"Id": query_id, "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": metric,
                                                      "Dimensions": dimensions}, "Period": period, "Stat": stat}}


def test_percentiles_come_from_raw_values_and_never_from_a_spread_statistic_set(aws):
    cloudwatch = aws.client("cloudwatch")
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    raw = [{"Name": "FunctionName", "Value": "f"}, {"Name": "Resource", "Value": "f:live"},
           {"Name": "ExecutedVersion", "Value": "2"}]
    aggregated = [{"Name": "FunctionName", "Value": "f"}]
    cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": "Duration", "Dimensions": raw, "Timestamp": start + timedelta(minutes=1), "Unit": "Milliseconds",
         "Values": [10.0, 20.0, 900.0], "Counts": [90, 9, 1]},
        {"MetricName": "Duration", "Dimensions": raw, "Timestamp": start + timedelta(minutes=2), "Unit": "Milliseconds",
         "Value": 1000.0},
        {"MetricName": "Duration", "Dimensions": aggregated, "Timestamp": start + timedelta(minutes=1),
         "Unit": "Milliseconds", "StatisticValues": {"SampleCount": 100, "Sum": 2000, "Minimum": 5, "Maximum": 80}},
    ])
    answer = cloudwatch.get_metric_data(MetricDataQueries=[
        metric_query("p99", raw, "p99", 1800), metric_query("p50", raw, "p50", 1800),
        metric_query("most", raw, "Maximum", 1800), metric_query("spread", aggregated, "p99", 1800),
    ], StartTime=start, EndTime=start + timedelta(minutes=30))
    values = {result["Id"]: result["Values"] for result in answer["MetricDataResults"]}
    # 101 values: the 99th percentile by nearest rank is the 100th smallest.
    assert values == {"p99": [900.0], "p50": [10.0], "most": [1000.0], "spread": []}


def test_the_simulator_writes_a_bake_period_per_version_at_each_versions_memory(aws, versions):
    route(versions, {"2": 0.5})
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    ran = simulator.write_bake_metrics(aws, NAME, "live", start, 30, traffic_scale=150)
    assert {version: {invocation.memory_size for invocation in invocations}
            for version, invocations in ran.items()} == {"1": {3008}, "2": {512}}
    assert all(start <= invocation.start < start + timedelta(minutes=30)
               for invocations in ran.values() for invocation in invocations)

    def figures(version: str) -> dict:
        dimensions = [{"Name": "FunctionName", "Value": NAME}, {"Name": "Resource", "Value": f"{NAME}:live"},
                      {"Name": "ExecutedVersion", "Value": version}]
        queries = [metric_query("p99", dimensions, "p99", 1800),
                   metric_query("count", dimensions, "Sum", 1800, metric="Invocations")]
        answer = aws.client("cloudwatch").get_metric_data(MetricDataQueries=queries, StartTime=start,
                                                          EndTime=start + timedelta(minutes=30))
        return {result["Id"]: sum(result["Values"]) for result in answer["MetricDataResults"]}

    old, new = figures("1"), figures("2")
    assert (old["count"], new["count"]) == (len(ran["1"]), len(ran["2"]))
    assert min(old["count"], new["count"]) > 50
    profile = load_profiles()[0]["cpu-bound"]
    expected = profile.duration_factor(512) / profile.duration_factor(3008)
    assert new["p99"] / old["p99"] == pytest.approx(expected, rel=0.25)
