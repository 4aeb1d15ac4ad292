"""lambda_rightsize against the emulator, with context it reads from AWS itself: a DynamoDB stream consumer falling
behind (IteratorAge rising) keeps its memory, the integration timeout is the API's own (a REST API's or an HTTP
API's), and a leaking function measured through Logs Insights is sized for its trend."""

from datetime import timedelta

import pytest

from tests.collection.usage_histories import PROFILES, with_usage, worst_seconds
from tools import simulator
from tools.usage_model import FunctionConfig, default_end, simulate

ACCOUNT = "123456789012"



def by_name(result) -> dict:
    return {entry["function_name"]: entry for entry in result["functions"]}


def test_a_dynamodb_stream_consumer_whose_iterator_age_rises_keeps_its_memory(aws, make_function, run_module):
    # Three days of usage: too few for a trend, whose fit over a steady function's daily noise can pass for growth
    # at some times of day (the days are counted from the window's start), and would refuse first.
    for name in ("verifier-dev", "indexer-dev"):
        with_usage(aws, make_function, name, "steady-light", days=3)
    dynamodb = aws.client("dynamodb")
    table = dynamodb.create_table(
        TableName="orders-dev", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})["TableDescription"]
    for name in ("verifier-dev", "indexer-dev"):
        aws.client("lambda").create_event_source_mapping(EventSourceArn=table["LatestStreamArn"], FunctionName=name,
                                                         BatchSize=100, StartingPosition="LATEST")
    simulator.write_iterator_age(aws, "verifier-dev", [2500 * 1.25 ** day for day in range(14)], default_end())
    simulator.write_iterator_age(aws, "indexer-dev", [900.0 - 10 * day for day in range(14)], default_end())

    entries = by_name(run_module("lambda_rightsize", {"functions": ["verifier-dev", "indexer-dev"],
                                                      "memory_size": "auto"}, check=True))
    behind, keeping_up = entries["verifier-dev"], entries["indexer-dev"]
    assert behind["after"]["memory_size"] == 3008
    (refusal,) = behind["refused"]
    assert refusal["context"] == "stream" and refusal["reason"].startswith(
        "the stream of DynamoDB table orders-dev: IteratorAge rose over the window")
    (source,) = behind["context"]["triggers"]["event_sources"]
    assert source["type"] == "dynamodb" and source["iterator_age_ms"][-1] > source["iterator_age_ms"][0]
    assert keeping_up["after"]["memory_size"] < 3008 and keeping_up["refused"] == []


def rest_api(aws, function_arn: str, timeout_ms: int) -> str:
    """A REST API whose proxy method invokes the function, its integration timing out after `timeout_ms`."""
    apigateway = aws.client("apigateway")
    api = apigateway.create_rest_api(name="records-api-dev")
    (root,) = [item["id"] for item in apigateway.get_resources(restApiId=api["id"])["items"]]
    proxy = apigateway.create_resource(restApiId=api["id"], parentId=root, pathPart="{proxy+}")
    apigateway.put_method(restApiId=api["id"], resourceId=proxy["id"], httpMethod="ANY", authorizationType="NONE")
    apigateway.put_integration(
        restApiId=api["id"], resourceId=proxy["id"], httpMethod="ANY", type="AWS_PROXY", integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations",
        timeoutInMillis=timeout_ms)
    return api["id"]


def http_api(aws, function_arn: str, timeout_ms: int) -> str:
    """An HTTP API whose Lambda proxy integration invokes the function, timing out after `timeout_ms`."""
    apigatewayv2 = aws.client("apigatewayv2")
    api = apigatewayv2.create_api(Name="shop-dev", ProtocolType="HTTP")
    apigatewayv2.create_integration(ApiId=api["ApiId"], IntegrationType="AWS_PROXY", IntegrationUri=function_arn,
                                    PayloadFormatVersion="2.0", TimeoutInMillis=timeout_ms)
    return api["ApiId"]


@pytest.mark.parametrize(("make_api", "kind", "label"), [(rest_api, "rest", "REST API records-api-dev"),
                                                         (http_api, "http", "HTTP API shop-dev")])
def test_the_integration_timeout_is_read_from_the_api(aws, make_function, run_module, make_api, kind, label):
    usage = with_usage(aws, make_function, "handler-dev", "cpu-bound")
    function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:handler-dev"
    api_id = make_api(aws, function_arn, 8000)
    aws.client("lambda").add_permission(
        FunctionName="handler-dev", StatementId="api", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*/*/*")

    (info,) = run_module("lambda_usage_info", {"functions": ["handler-dev"]})["functions"]
    assert info["triggers"]["apis"] == [{"id": api_id, "name": label.split()[-1], "type": kind,
                                         "integration_timeout_ms": 8000}]
    # The option (29 s) would allow far less memory than the API's own 8 s does.
    (entry,) = run_module("lambda_rightsize", {"functions": ["handler-dev"], "usage": [info],
                                               "memory_size": "auto", "timeout": "auto"}, check=True)["functions"]
    max_duration = max(invocation.duration_ms for invocation in usage.invocations)
    assert worst_seconds(max_duration, 3008, entry["after"]["memory_size"]) <= 8
    assert worst_seconds(max_duration, 3008, entry["after"]["memory_size"] // 2) > 8  # the guard had work to do
    (memory,) = [decision for decision in entry["changes"] + entry["refused"] if decision["field"] == "memory_size"]
    assert memory["context"] == "api_gateway" and f"8 s integration timeout of {label} ({api_id})" in memory["reason"]


def test_an_api_that_cannot_be_found_falls_back_to_the_option_with_a_note(aws, make_function, run_module):
    with_usage(aws, make_function, "handler-dev", "cpu-bound")
    aws.client("lambda").add_permission(
        FunctionName="handler-dev", StatementId="api", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:g0ne4p1/*/*/*")
    (entry,) = run_module("lambda_rightsize", {"functions": ["handler-dev"], "memory_size": "auto",
                                               "api_integration_timeout": 20}, check=True)["functions"]
    assert entry["context"]["triggers"]["apis"] == [{"id": "g0ne4p1", "name": None, "type": None,
                                                     "integration_timeout_ms": None}]
    assert any(note.startswith("API g0ne4p1's integration timeout taken as api_integration_timeout 20 s: neither")
               for note in entry["context"]["notes"])


def test_a_leaking_function_measured_through_logs_insights_is_sized_for_its_trend(aws, make_function, run_module):
    usage = with_usage(aws, make_function, "leaky-dev", "leaking")
    (info,) = run_module("lambda_usage_info", {"functions": ["leaky-dev"], "logs_insights": "always"})["functions"]
    assert info["sources"]["memory"] == "REPORT lines (Logs Insights)" and info["sources"]["insights_fallback"] is None
    days = info["daily_max_memory_used_mb"]
    assert len(days) >= 14 and days[-1][1] > days[0][1] + 100

    (entry,) = run_module("lambda_rightsize", {"functions": ["leaky-dev"], "usage": [info], "memory_size": "auto",
                                               "trend_horizon_days": 14}, check=True)["functions"]
    (memory,) = entry["changes"]
    assert memory["context"] == "trend" and "MB/day" in memory["reason"]
    two_weeks_on = simulate("leaky-dev", PROFILES["leaking"], FunctionConfig(entry["after"]["memory_size"], 300),
                            end=default_end() + timedelta(days=14), days=28, traffic_scale=0.25)
    assert not two_weeks_on.out_of_memory, "sized for the trend, it lasts the horizon"
    assert max(invocation.max_memory_used_mb for invocation in usage.invocations) < entry["after"]["memory_size"]
    assert entry["context"]["notes"] == []
