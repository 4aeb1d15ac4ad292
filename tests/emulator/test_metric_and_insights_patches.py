"""The emulator answers GetMetricData's per-query status codes and Logs Insights' unfinished queries as AWS does,
on demand (tools/emulator_patches/metric_data_status.py and insights_status.py)."""

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from tools.emulator_patches import insights_status, metric_data_status

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
START = NOW - timedelta(days=7)


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def query(query_id: str, metric: str, function_name: str) -> dict:
    return {"Id": query_id, "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric,
                   "Dimensions": [{"Name": "FunctionName", "Value": function_name}]},
        "Period": 86400, "Stat": "Sum"}}


@pytest.fixture
def cloudwatch(aws):
    """Four daily Invocations points (1, 2, 3, 4) and Errors points for functions `a` and `b`."""
    client = aws.client("cloudwatch")
    for name in ("a", "b"):
        for day in range(4):
            client.put_metric_data(Namespace="AWS/Lambda", MetricData=[
                {"MetricName": metric, "Dimensions": [{"Name": "FunctionName", "Value": name}],
                 "Timestamp": NOW - timedelta(days=day, hours=1), "Value": day + 1}
                for metric in ("Invocations", "Errors")])
    return client


def test_queries_answer_complete_unless_told_otherwise(cloudwatch):
    response = cloudwatch.get_metric_data(MetricDataQueries=[query("q", "Invocations", "a")], StartTime=START,
                                          EndTime=NOW)
    (result,) = response["MetricDataResults"]
    assert result["StatusCode"] == "Complete" and sorted(result["Values"]) == [1, 2, 3, 4]
    assert "NextToken" not in response


@pytest.mark.parametrize("status", ["Forbidden", "InternalError"])
def test_a_failed_query_answers_its_status_without_data_points_and_the_others_complete(cloudwatch, status):
    # AWS, CloudWatch API reference, MetricDataResult: StatusCode Complete | InternalError | PartialData | Forbidden,
    # per query, with Messages (MessageData Code/Value) saying more.
    metric_data_status.answer_status("Invocations", "a", status)
    response = cloudwatch.get_metric_data(MetricDataQueries=[query("qa", "Invocations", "a"),
                                                             query("qb", "Invocations", "b"),
                                                             query("ea", "Errors", "a")],
                                          StartTime=START, EndTime=NOW)
    results = {result["Id"]: result for result in response["MetricDataResults"]}
    assert results["qa"]["StatusCode"] == status and results["qa"]["Values"] == []
    assert results["qa"]["Messages"][0]["Code"] == status
    assert results["qb"]["StatusCode"] == "Complete" and sorted(results["qb"]["Values"]) == [1, 2, 3, 4]
    assert results["ea"]["StatusCode"] == "Complete" and len(results["ea"]["Values"]) == 4


def test_partial_data_comes_with_a_next_token_that_returns_the_rest(cloudwatch):
    # AWS, MetricDataResult: "PartialData means that an incomplete set of data points were returned. You can use the
    # NextToken value that was returned and repeat your request to get more data points."
    metric_data_status.answer_status("Invocations", "a", "PartialData")
    queries = [query("qa", "Invocations", "a"), query("qb", "Invocations", "b")]
    first = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=START, EndTime=NOW)
    results = {result["Id"]: result for result in first["MetricDataResults"]}
    assert results["qa"]["StatusCode"] == "PartialData" and len(results["qa"]["Values"]) == 2
    assert results["qb"]["StatusCode"] == "Complete" and len(results["qb"]["Values"]) == 4
    second = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=START, EndTime=NOW,
                                        NextToken=first["NextToken"])
    results_2 = {result["Id"]: result for result in second["MetricDataResults"]}
    assert results_2["qa"]["StatusCode"] == "Complete"
    assert sorted(results["qa"]["Values"] + results_2["qa"]["Values"]) == [1, 2, 3, 4]
    assert results_2["qb"]["Values"] == []  # already complete: nothing more
    assert "NextToken" not in second
    # The paginator follows the token, and the pages together hold every point once.
    pages = list(cloudwatch.get_paginator("get_metric_data").paginate(MetricDataQueries=queries, StartTime=START,
                                                                      EndTime=NOW))
    assert len(pages) == 2
    assert sorted(value for page in pages for result in page["MetricDataResults"] if result["Id"] == "qa"
                  for value in result["Values"]) == [1, 2, 3, 4]


def test_a_next_token_cloudwatch_did_not_issue_is_refused(cloudwatch):
    # AWS, GetMetricData errors: InvalidNextToken.
    metric_data_status.answer_status("Invocations", "a", "PartialData")
    with pytest.raises(ClientError) as excinfo:
        cloudwatch.get_metric_data(MetricDataQueries=[query("qa", "Invocations", "a")], StartTime=START, EndTime=NOW,
                                   NextToken="not-a-token")
    assert error_code(excinfo) == "InvalidNextToken"


def test_reset_forgets_the_statuses(emulator, cloudwatch):
    metric_data_status.answer_status("Invocations", "a", "Forbidden")
    emulator.reset()
    client = emulator.session().client("cloudwatch")
    client.put_metric_data(Namespace="AWS/Lambda", MetricData=[{
        "MetricName": "Invocations", "Dimensions": [{"Name": "FunctionName", "Value": "a"}],
        "Timestamp": NOW - timedelta(hours=1), "Value": 5}])
    (result,) = client.get_metric_data(MetricDataQueries=[query("qa", "Invocations", "a")], StartTime=START,
                                       EndTime=NOW)["MetricDataResults"]
    assert result["StatusCode"] == "Complete" and result["Values"] == [5]


def test_an_unknown_status_is_not_accepted():
    with pytest.raises(ValueError):
        metric_data_status.answer_status("Invocations", "a", "Sideways")


@pytest.fixture
def logs(aws):
    client = aws.client("logs")
    for name in ("/aws/lambda/a", "/aws/lambda/b"):
        client.create_log_group(logGroupName=name)
    return client


def start(logs, groups):
    return logs.start_query(logGroupNames=groups, startTime=int(START.timestamp()), endTime=int(NOW.timestamp()),
                            queryString="fields @message")["queryId"]


def test_a_query_naming_a_missing_group_fails_as_a_whole(logs):
    # AWS, StartQuery: ResourceNotFoundException "Log group '<name>' does not exist for account ID '<account>'",
    # even when the other named groups exist.
    with pytest.raises(ClientError) as excinfo:
        start(logs, ["/aws/lambda/a", "/aws/lambda/gone"])
    assert error_code(excinfo) == "ResourceNotFoundException"
    assert "/aws/lambda/gone" in excinfo.value.response["Error"]["Message"]


@pytest.mark.parametrize("status", ["Failed", "Timeout", "Cancelled", "Unknown"])
def test_a_query_ends_in_the_status_it_is_made_to_and_the_others_complete(logs, status):
    # AWS, GetQueryResults: status Scheduled | Running | Complete | Failed | Cancelled | Timeout | Unknown.
    insights_status.end_queries("/aws/lambda/a", status)
    failing, other = start(logs, ["/aws/lambda/a", "/aws/lambda/b"]), start(logs, ["/aws/lambda/b"])
    answer = logs.get_query_results(queryId=failing)
    assert (answer["status"], answer["results"]) == (status, [])
    assert logs.get_query_results(queryId=other)["status"] == "Complete"


def test_a_running_query_stays_running_until_stopped_and_then_is_cancelled(logs):
    # AWS, StopQuery: stops a query in progress ({"success": true}); once ended, "the operation returns an error
    # indicating that the specified query is not running".
    insights_status.end_queries("/aws/lambda/a", "Running")
    running = start(logs, ["/aws/lambda/a"])
    assert [logs.get_query_results(queryId=running)["status"] for _ in range(3)] == ["Running"] * 3
    assert logs.stop_query(queryId=running)["success"] is True
    assert logs.get_query_results(queryId=running)["status"] == "Cancelled"
    with pytest.raises(ClientError) as excinfo:
        logs.stop_query(queryId=running)
    assert error_code(excinfo) == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        logs.stop_query(queryId=start(logs, ["/aws/lambda/b"]))  # complete at once in the emulator
    assert error_code(excinfo) == "InvalidParameterException"


def test_at_most_a_hundred_queries_run_at_once(logs):
    # AWS, StartQuery: "You can have up to 100 concurrent CloudWatch Logs insights queries"; LimitExceededException
    # beyond.
    insights_status.end_queries("/aws/lambda/a", "Running")
    running = [start(logs, ["/aws/lambda/a"]) for _ in range(100)]
    with pytest.raises(ClientError) as excinfo:
        start(logs, ["/aws/lambda/b"])
    assert error_code(excinfo) == "LimitExceededException"
    logs.stop_query(queryId=running[0])
    assert logs.get_query_results(queryId=start(logs, ["/aws/lambda/b"]))["status"] == "Complete"


def test_reset_forgets_the_outcomes(emulator, logs):
    insights_status.end_queries("/aws/lambda/a", "Failed")
    emulator.reset()
    client = emulator.session().client("logs")
    client.create_log_group(logGroupName="/aws/lambda/a")
    assert client.get_query_results(queryId=start(client, ["/aws/lambda/a"]))["status"] == "Complete"


def test_a_start_time_is_rounded_down_as_cloudwatch_rounds_it(aws):
    """CloudWatch rounds StartTime down (to the minute within 15 days): a window from 12:32:34 holds 12:32:00's
    point."""
    from tools.emulator_patches.cloudwatch import rounded_start

    client = aws.client("cloudwatch")
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    client.put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": "Invocations", "Dimensions": [{"Name": "FunctionName", "Value": "a"}], "Timestamp": minute,
         "Value": 7}])
    answer = client.get_metric_data(MetricDataQueries=[{**query("q", "Invocations", "a"), "MetricStat": {
        **query("q", "Invocations", "a")["MetricStat"], "Period": 60}}],
        StartTime=minute + timedelta(seconds=34), EndTime=minute + timedelta(minutes=2))
    assert answer["MetricDataResults"][0]["Values"] == [7.0]
    now = datetime(2026, 12, 1, 12, 40, 0, tzinfo=UTC)
    assert rounded_start(datetime(2026, 12, 1, 12, 32, 34, tzinfo=UTC), now) == datetime(2026, 12, 1, 12, 32,
                                                                                         tzinfo=UTC)
    assert rounded_start(datetime(2026, 11, 1, 12, 32, 34, tzinfo=UTC), now) == datetime(2026, 11, 1, 12, 30,
                                                                                         tzinfo=UTC)
    assert rounded_start(datetime(2026, 8, 1, 12, 32, 34, tzinfo=UTC), now) == datetime(2026, 8, 1, 12, tzinfo=UTC)
