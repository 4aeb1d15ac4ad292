"""Each emulator patch reproduces one documented AWS behaviour that moto's server lacks."""

from datetime import UTC, datetime, timedelta

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tools.emulator import emulator_session

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:lambda-dlq-dev"
# Botocore checks lower bounds before sending; switching that off shows what the service answers.
UNVALIDATED = Config(parameter_validation=False)


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_dead_letter_config_from_create_is_returned_by_get_and_list(aws, make_function):
    make_function("with-dlq", DeadLetterConfig={"TargetArn": QUEUE_ARN})
    lambda_ = aws.client("lambda")
    assert lambda_.get_function_configuration(FunctionName="with-dlq")["DeadLetterConfig"] == {"TargetArn": QUEUE_ARN}
    (listed,) = lambda_.list_functions()["Functions"]
    assert listed["DeadLetterConfig"] == {"TargetArn": QUEUE_ARN}


def test_dead_letter_config_is_set_and_removed_by_update(aws, make_function):
    make_function("plain", active=True)
    lambda_ = aws.client("lambda")
    assert "DeadLetterConfig" not in lambda_.get_function_configuration(FunctionName="plain")
    lambda_.update_function_configuration(FunctionName="plain", DeadLetterConfig={"TargetArn": QUEUE_ARN})
    lambda_.get_waiter("function_updated_v2").wait(FunctionName="plain", WaiterConfig={"Delay": 1})
    assert lambda_.get_function_configuration(FunctionName="plain")["DeadLetterConfig"]["TargetArn"] == QUEUE_ARN
    # AWS removes the queue when the target is empty.
    lambda_.update_function_configuration(FunctionName="plain", DeadLetterConfig={"TargetArn": ""})
    assert "DeadLetterConfig" not in lambda_.get_function_configuration(FunctionName="plain")


def test_tracing_config_is_changed_by_update(aws, make_function):
    make_function("traced", active=True)
    lambda_ = aws.client("lambda")
    assert lambda_.get_function_configuration(FunctionName="traced")["TracingConfig"] == {"Mode": "PassThrough"}
    lambda_.update_function_configuration(FunctionName="traced", TracingConfig={"Mode": "Active"})
    assert lambda_.get_function_configuration(FunctionName="traced")["TracingConfig"] == {"Mode": "Active"}


def test_an_update_leaves_unnamed_fields_alone(aws, make_function):
    make_function("keep", active=True, DeadLetterConfig={"TargetArn": QUEUE_ARN}, TracingConfig={"Mode": "Active"})
    lambda_ = aws.client("lambda")
    lambda_.update_function_configuration(FunctionName="keep", MemorySize=1024)
    configuration = lambda_.get_function_configuration(FunctionName="keep")
    assert configuration["MemorySize"] == 1024
    assert configuration["DeadLetterConfig"] == {"TargetArn": QUEUE_ARN}
    assert configuration["TracingConfig"] == {"Mode": "Active"}


def test_account_settings_report_the_unreserved_pool(aws, make_function):
    make_function("reserved")
    lambda_ = aws.client("lambda")
    limits = lambda_.get_account_settings()["AccountLimit"]
    assert limits["ConcurrentExecutions"] == 1000
    assert limits["UnreservedConcurrentExecutions"] == 1000
    lambda_.put_function_concurrency(FunctionName="reserved", ReservedConcurrentExecutions=50)
    assert lambda_.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 950
    assert lambda_.get_account_settings()["AccountUsage"]["FunctionCount"] == 1


def test_reservations_cannot_push_the_unreserved_pool_below_its_floor(aws, make_function):
    make_function("greedy")
    lambda_ = aws.client("lambda")
    lambda_.put_function_concurrency(FunctionName="greedy", ReservedConcurrentExecutions=900)
    with pytest.raises(ClientError) as excinfo:
        lambda_.put_function_concurrency(FunctionName="greedy", ReservedConcurrentExecutions=901)
    assert error_code(excinfo) == "InvalidParameterValueException"
    assert "minimum value of [100]" in str(excinfo.value)


def test_list_functions_pages_at_most_fifty(aws, make_function):
    for index in range(120):
        make_function(f"paged-{index:03d}")
    lambda_ = aws.client("lambda")
    first = lambda_.list_functions()
    assert len(first["Functions"]) == 50 and "NextMarker" in first
    second = lambda_.list_functions(Marker=first["NextMarker"])
    third = lambda_.list_functions(Marker=second["NextMarker"])
    assert len(second["Functions"]) == 50 and len(third["Functions"]) == 20 and "NextMarker" not in third
    assert len(lambda_.list_functions(MaxItems=10)["Functions"]) == 10
    pages = lambda_.get_paginator("list_functions").paginate()
    names = [function["FunctionName"] for page in pages for function in page["Functions"]]
    assert sorted(names) == [f"paged-{index:03d}" for index in range(120)]


@pytest.mark.parametrize("settings, field", [
    ({"MemorySize": 127}, "memorySize"),
    ({"MemorySize": 10241}, "memorySize"),
    ({"Timeout": 0}, "timeout"),
    ({"Timeout": 901}, "timeout"),
])
def test_out_of_range_memory_and_timeout_are_rejected(emulator, aws, make_function, settings, field):
    make_function("limited", active=True)
    lambda_ = aws.client("lambda", config=UNVALIDATED)
    with pytest.raises(ClientError) as excinfo:
        lambda_.update_function_configuration(FunctionName="limited", **settings)
    assert error_code(excinfo) == "ValidationException" and field in str(excinfo.value)
    with pytest.raises(ClientError) as excinfo:
        make_function("never-created", **settings)
    assert error_code(excinfo) == "ValidationException"
    assert lambda_.get_function_configuration(FunctionName="limited")["MemorySize"] == 128


def test_the_limits_themselves_are_accepted(aws, make_function):
    make_function("edges", active=True, MemorySize=10240, Timeout=900)
    aws.client("lambda").update_function_configuration(FunctionName="edges", MemorySize=128, Timeout=1)


def test_only_the_documented_retention_periods_are_accepted(aws):
    logs = aws.client("logs")
    logs.create_log_group(logGroupName="/aws/lambda/kept")
    logs.put_retention_policy(logGroupName="/aws/lambda/kept", retentionInDays=7)
    with pytest.raises(ClientError) as excinfo:
        logs.put_retention_policy(logGroupName="/aws/lambda/kept", retentionInDays=8)
    assert error_code(excinfo) == "InvalidParameterException"
    (group,) = logs.describe_log_groups()["logGroups"]
    assert group["retentionInDays"] == 7


def test_accounts_are_isolated_and_reached_by_assuming_a_role(emulator, aws, make_function):
    make_function("home-only")
    other = emulator_session(emulator.endpoint, account_id="210987654321")
    assert other.client("sts").get_caller_identity()["Account"] == "210987654321"
    assert other.client("lambda").list_functions()["Functions"] == []
    other.client("logs").create_log_group(logGroupName="/aws/lambda/elsewhere")
    assert aws.client("logs").describe_log_groups()["logGroups"] == []


def test_a_fleet_sized_metric_query_answers_as_single_queries_do(aws):
    from datetime import datetime, timedelta
    cloudwatch = aws.client("cloudwatch")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for index, name in enumerate(["a", "b", "c"]):
        cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[
            {"MetricName": metric, "Dimensions": [{"Name": "FunctionName", "Value": name}],
             "Timestamp": now - timedelta(hours=hour), "Value": float(index * 10 + hour)}
            for metric in ("Invocations", "Errors") for hour in range(1, 30)])

    def query(name, metric, stat):
        return {"Id": f"{name}{metric[0]}{stat[0]}".lower(), "MetricStat": {"Metric": {
            "Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": [{"Name": "FunctionName", "Value": name}]},
            "Period": 86400, "Stat": stat}}

    queries = [query(n, m, s) for n in "abc" for m in ("Invocations", "Errors") for s in ("Sum", "Maximum")]
    window = {"StartTime": now - timedelta(days=3), "EndTime": now}
    together = {r["Id"]: r["Values"] for r in cloudwatch.get_metric_data(MetricDataQueries=queries, **window)[
        "MetricDataResults"]}
    alone = {q["Id"]: cloudwatch.get_metric_data(MetricDataQueries=[q], **window)["MetricDataResults"][0]["Values"]
             for q in queries}
    assert together == alone
    assert sum(together["bis"]) == sum(10 + hour for hour in range(1, 30))
    # Points published after a read are in the next read (the lookup's index grows with the data).
    cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": "Invocations", "Dimensions": [{"Name": "FunctionName", "Value": "b"}],
         "Timestamp": now - timedelta(hours=1), "Value": 1000.0}])
    again = {r["Id"]: r["Values"] for r in cloudwatch.get_metric_data(MetricDataQueries=queries, **window)[
        "MetricDataResults"]}
    assert sum(again["bis"]) == sum(together["bis"]) + 1000
    assert again["ais"] == together["ais"]


@pytest.fixture
def aliased(aws, make_function):
    """A function with version 1 behind the alias `live`."""
    make_function("aliased", active=True)
    lambda_ = aws.client("lambda")
    version = lambda_.publish_version(FunctionName="aliased")["Version"]
    lambda_.create_alias(FunctionName="aliased", Name="live", FunctionVersion=version)
    return lambda_


def test_provisioned_concurrency_is_allocated_on_an_alias(aliased):
    put = aliased.put_provisioned_concurrency_config(FunctionName="aliased", Qualifier="live",
                                                     ProvisionedConcurrentExecutions=20)
    assert (put["Status"], put["RequestedProvisionedConcurrentExecutions"]) == ("IN_PROGRESS", 20)
    got = aliased.get_provisioned_concurrency_config(FunctionName="aliased", Qualifier="live")
    assert (got["Status"], got["AllocatedProvisionedConcurrentExecutions"]) == ("READY", 20)
    (listed,) = aliased.list_provisioned_concurrency_configs(FunctionName="aliased")["ProvisionedConcurrencyConfigs"]
    assert listed["FunctionArn"].endswith(":function:aliased:live")
    # Without a reservation of its own, the function takes it from the account's unreserved pool.
    assert aliased.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000 - 20
    aliased.delete_provisioned_concurrency_config(FunctionName="aliased", Qualifier="live")
    with pytest.raises(aliased.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        aliased.get_provisioned_concurrency_config(FunctionName="aliased", Qualifier="live")


@pytest.mark.parametrize("qualifier, requested, error", [
    ("$LATEST", 5, "InvalidParameterValueException"),       # never on unpublished code
    ("missing", 5, "ResourceNotFoundException"),            # the alias must exist
    ("live", 901, "InvalidParameterValueException"),        # the unreserved pool keeps its floor of 100
])
def test_provisioned_concurrency_is_refused_where_aws_refuses_it(aliased, qualifier, requested, error):
    with pytest.raises(ClientError) as raised:
        aliased.put_provisioned_concurrency_config(FunctionName="aliased", Qualifier=qualifier,
                                                   ProvisionedConcurrentExecutions=requested)
    assert error_code(raised) == error


def test_provisioned_concurrency_stays_within_the_functions_reservation(aliased):
    aliased.put_function_concurrency(FunctionName="aliased", ReservedConcurrentExecutions=10)
    with pytest.raises(aliased.exceptions.InvalidParameterValueException):
        aliased.put_provisioned_concurrency_config(FunctionName="aliased", Qualifier="live",
                                                   ProvisionedConcurrentExecutions=11)
    aliased.put_provisioned_concurrency_config(FunctionName="aliased", Qualifier="live",
                                               ProvisionedConcurrentExecutions=10)


def _table(aws, mode="PROVISIONED"):
    client = aws.client("dynamodb", config=Config(retries={"max_attempts": 1}))
    throughput = {"ProvisionedThroughput": {"ReadCapacityUnits": 50, "WriteCapacityUnits": 50}} \
        if mode == "PROVISIONED" else {}
    client.create_table(TableName="switching", BillingMode=mode, **throughput,
                        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    return client


def test_a_switch_to_on_demand_is_recorded_and_clears_the_capacity(aws):
    client = _table(aws)
    assert "LastUpdateToPayPerRequestDateTime" not in client.describe_table(TableName="switching")["Table"][
        "BillingModeSummary"]
    client.update_table(TableName="switching", BillingMode="PAY_PER_REQUEST")
    table = client.describe_table(TableName="switching")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["BillingModeSummary"]["LastUpdateToPayPerRequestDateTime"].year >= 2025
    assert (table["ProvisionedThroughput"]["ReadCapacityUnits"],
            table["ProvisionedThroughput"]["WriteCapacityUnits"]) == (0, 0)


def test_at_most_four_switches_to_on_demand_a_day(aws):
    client = _table(aws)
    for _ in range(4):
        client.update_table(TableName="switching", BillingMode="PAY_PER_REQUEST")
        client.update_table(TableName="switching", BillingMode="PROVISIONED",
                            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
    with pytest.raises(client.exceptions.LimitExceededException):
        client.update_table(TableName="switching", BillingMode="PAY_PER_REQUEST")


def test_capacity_decreases_are_counted(aws):
    client = _table(aws)
    for read, write in ((60, 50), (10, 5)):  # a rise, then a decrease
        client.update_table(TableName="switching",
                            ProvisionedThroughput={"ReadCapacityUnits": read, "WriteCapacityUnits": write})
    assert client.describe_table(TableName="switching")["Table"]["ProvisionedThroughput"][
        "NumberOfDecreasesToday"] == 1


def test_statistics_count_only_the_exact_dimensions_asked_for(aws):
    cloudwatch = aws.client("cloudwatch")
    now = datetime.now(UTC).replace(microsecond=0)
    function = [{"Name": "FunctionName", "Value": "api"}]
    alias = [*function, {"Name": "Resource", "Value": "api:live"}]
    cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": "Invocations", "Dimensions": function, "Timestamp": now, "Value": 10},
        {"MetricName": "Invocations", "Dimensions": alias, "Timestamp": now, "Value": 10}])

    def total(dimensions):
        points = cloudwatch.get_metric_statistics(Namespace="AWS/Lambda", MetricName="Invocations",
                                                  Dimensions=dimensions, StartTime=now - timedelta(hours=1),
                                                  EndTime=now + timedelta(hours=1), Period=7200,
                                                  Statistics=["Sum"])["Datapoints"]
        return sum(point["Sum"] for point in points)

    assert (total(function), total(alias)) == (10, 10)
