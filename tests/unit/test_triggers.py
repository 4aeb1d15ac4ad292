"""Reading what invokes a fleet's functions, against responses shaped as AWS documents them (botocore's Stubber
validates each): one paginated ListEventSourceMappings for the account-region, a qualified FunctionArn
attributed to its function, one GetQueueAttributes per queue, one listing of the integrations of each API Gateway
API a resource policy names, and what could not be read said to be unknown."""

import json
from datetime import UTC, datetime

import boto3
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import triggers
from botocore.stub import ANY, Stubber

ACCOUNT = "123456789012"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs-dev"
STREAM = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/clicks-dev"


def client(service):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def mapping(function_arn, source, batch_size, state="Enabled"):
    return {"UUID": "00000000-0000-0000-0000-000000000000", "FunctionArn": function_arn,
            "EventSourceArn": source, "BatchSize": batch_size, "State": state}


def function_arn(name, qualifier=None):
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}" + (f":{qualifier}" if qualifier else "")


def api_policy(resource, api_id):
    """A resource policy as AddPermission writes it for an API Gateway API (Lambda developer guide)."""
    condition = {"ArnLike": {"AWS:SourceArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*/*/*"}} \
        if api_id else {}
    return {"Version": "2012-10-17", "Id": "default", "Statement": [
        {"Sid": "api", "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
         "Action": "lambda:InvokeFunction", "Resource": resource, **({"Condition": condition} if condition else {})}]}


def integration_uri(target):
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn(target)}/invocations"


def no_aliases(lambdas, name, policy):
    lambdas.add_response("list_aliases", {"Aliases": []}, {"FunctionName": name})
    lambdas.add_response("get_policy", {"Policy": json.dumps(policy)}, {"FunctionName": name})


def test_triggers_are_read_in_bulk_and_unknowns_are_said():
    lambda_, sqs, cloudwatch = client("lambda"), client("sqs"), client("cloudwatch")
    apigateway, apigatewayv2 = client("apigateway"), client("apigatewayv2")
    with Stubber(lambda_) as lambdas, Stubber(sqs) as queues, Stubber(cloudwatch) as metrics, \
            Stubber(apigateway) as rest:
        lambdas.add_response("list_event_source_mappings", {
            "EventSourceMappings": [mapping(function_arn("consumer-dev"), QUEUE, 10),
                                    mapping(function_arn("other-team"), QUEUE, 5)],
            "NextMarker": "page-2"}, {})
        lambdas.add_response("list_event_source_mappings", {
            "EventSourceMappings": [mapping(function_arn("reader-dev", "live"), STREAM, 100)]}, {"Marker": "page-2"})
        queues.add_response("get_queue_url", {"QueueUrl": "https://sqs/jobs-dev"},
                            {"QueueName": "jobs-dev", "QueueOwnerAWSAccountId": ACCOUNT})
        queues.add_response("get_queue_attributes", {"Attributes": {"VisibilityTimeout": "120"}},
                            {"QueueUrl": "https://sqs/jobs-dev", "AttributeNames": ["VisibilityTimeout"]})
        policy = api_policy(function_arn("api-dev", "live"), "a1b2c3d4e5")
        # The API's permission is on the alias it invokes: only the alias's policy names API Gateway.
        lambdas.add_response("list_aliases", {"Aliases": [{"Name": "live", "FunctionVersion": "1"}]},
                             {"FunctionName": "api-dev"})
        lambdas.add_client_error("get_policy", "ResourceNotFoundException", http_status_code=404,
                                 expected_params={"FunctionName": "api-dev"})
        lambdas.add_response("get_policy", {"Policy": json.dumps(policy)}, {"FunctionName": "api-dev",
                                                                            "Qualifier": "live"})
        lambdas.add_response("list_aliases", {"Aliases": []}, {"FunctionName": "consumer-dev"})
        lambdas.add_client_error("get_policy", "ResourceNotFoundException", http_status_code=404,
                                 expected_params={"FunctionName": "consumer-dev"})
        lambdas.add_response("list_aliases", {"Aliases": []}, {"FunctionName": "reader-dev"})
        lambdas.add_client_error("get_policy", "AccessDeniedException", http_status_code=403,
                                 expected_params={"FunctionName": "reader-dev"})
        metrics.add_response("get_metric_data", {"MetricDataResults": [{
            "Id": "age0", "Label": "IteratorAge", "StatusCode": "Complete",
            "Timestamps": [datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)],
            "Values": [9000.0, 100.0]}]}, {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY})
        rest.add_response("get_rest_api", {"id": "a1b2c3d4e5", "name": "records-api-dev"},
                          {"restApiId": "a1b2c3d4e5"})
        # The proxy method's integration states no timeout of its own: a REST API's default, 29 s.
        rest.add_response("get_resources", {"items": [
            {"id": "root1", "path": "/"},
            {"id": "proxy1", "path": "/{proxy+}", "resourceMethods": {"ANY": {
                "httpMethod": "ANY",
                "methodIntegration": {"type": "AWS_PROXY", "uri": integration_uri("api-dev:live")}}}},
        ]}, {"restApiId": "a1b2c3d4e5", "embed": ["methods"]})
        functions = [{"function_name": name} for name in ("api-dev", "consumer-dev", "reader-dev")]
        triggers.read_triggers(lambda_, sqs, cloudwatch, functions, 14, requests_per_second=1000,
                               apigateway=apigateway, apigatewayv2=apigatewayv2)
        lambdas.assert_no_pending_responses()
        queues.assert_no_pending_responses()
        rest.assert_no_pending_responses()
    api, consumer, reader = (function["triggers"] for function in functions)
    assert api == {"event_sources": [], "invokers": ["apigateway.amazonaws.com"], "unknown": {},
                   "apis": [{"id": "a1b2c3d4e5", "name": "records-api-dev", "type": "rest",
                             "integration_timeout_ms": 29000}]}
    assert consumer["event_sources"] == [{"type": "sqs", "arn": QUEUE, "state": "Enabled", "batch_size": 10,
                                          "visibility_timeout": 120}]
    assert consumer["invokers"] == [] and consumer["unknown"] == {}
    assert reader["event_sources"] == [{"type": "kinesis", "arn": STREAM, "state": "Enabled", "batch_size": 100,
                                        "iterator_age_ms": [100.0, 9000.0]}]
    assert reader["invokers"] is None and reader["unknown"] == {"invokers": "GetPolicy failed: AccessDeniedException"}


def test_a_qualified_function_arn_names_its_function():
    assert triggers.function_name_of(function_arn("reader-dev", "live")) == "reader-dev"
    assert triggers.function_name_of(function_arn("reader-dev")) == "reader-dev"
    assert triggers.source_type("arn:aws:dynamodb:us-east-1:1:table/t/stream/2026") == triggers.DYNAMODB_STREAM
    assert triggers.source_type("arn:aws:kafka:us-east-1:1:cluster/c/abc") == triggers.OTHER


def test_an_http_api_is_listed_once_for_all_the_functions_it_invokes():
    lambda_, sqs, cloudwatch = client("lambda"), client("sqs"), client("cloudwatch")
    apigateway, apigatewayv2 = client("apigateway"), client("apigatewayv2")
    with Stubber(lambda_) as lambdas, Stubber(apigateway) as rest, Stubber(apigatewayv2) as http:
        lambdas.add_response("list_event_source_mappings", {"EventSourceMappings": []}, {})
        for name in ("orders-dev", "refunds-dev"):
            no_aliases(lambdas, name, api_policy(function_arn(name), "h77p0a1"))
        rest.add_client_error("get_rest_api", "NotFoundException", http_status_code=404,
                              expected_params={"restApiId": "h77p0a1"})
        http.add_response("get_api", {"ApiId": "h77p0a1", "Name": "shop-dev", "ProtocolType": "HTTP"},
                          {"ApiId": "h77p0a1"})
        http.add_response("get_integrations", {"Items": [
            {"IntegrationId": "i1", "IntegrationType": "AWS_PROXY", "IntegrationUri": function_arn("orders-dev"),
             "TimeoutInMillis": 12000},
            {"IntegrationId": "i2", "IntegrationType": "AWS_PROXY", "IntegrationUri": function_arn("orders-dev"),
             "TimeoutInMillis": 8000},
            {"IntegrationId": "i3", "IntegrationType": "AWS_PROXY", "IntegrationUri": function_arn("refunds-dev")},
        ]}, {"ApiId": "h77p0a1"})
        functions = [{"function_name": name} for name in ("orders-dev", "refunds-dev")]
        triggers.read_triggers(lambda_, sqs, cloudwatch, functions, 14, requests_per_second=1000,
                               apigateway=apigateway, apigatewayv2=apigatewayv2)
        for stubber in (lambdas, rest, http):
            stubber.assert_no_pending_responses()
    orders, refunds = (function["triggers"] for function in functions)
    # The least timeout of the integrations that invoke it; an HTTP API's default (30 s) where none is stated.
    assert orders["apis"] == [{"id": "h77p0a1", "name": "shop-dev", "type": "http", "integration_timeout_ms": 8000}]
    assert refunds["apis"] == [{"id": "h77p0a1", "name": "shop-dev", "type": "http",
                                "integration_timeout_ms": 30000}]
    assert orders["unknown"] == refunds["unknown"] == {}


def test_an_api_that_cannot_be_read_or_is_not_named_is_said_to_be_unknown():
    lambda_, sqs, cloudwatch = client("lambda"), client("sqs"), client("cloudwatch")
    apigateway, apigatewayv2 = client("apigateway"), client("apigatewayv2")
    with Stubber(lambda_) as lambdas, Stubber(apigateway) as rest:
        lambdas.add_response("list_event_source_mappings", {"EventSourceMappings": []}, {})
        no_aliases(lambdas, "hidden-dev", api_policy(function_arn("hidden-dev"), "f0rb1dd3n"))
        no_aliases(lambdas, "anyapi-dev", api_policy(function_arn("anyapi-dev"), None))
        rest.add_client_error("get_rest_api", "AccessDeniedException", http_status_code=403,
                              expected_params={"restApiId": "f0rb1dd3n"})
        functions = [{"function_name": name} for name in ("hidden-dev", "anyapi-dev")]
        triggers.read_triggers(lambda_, sqs, cloudwatch, functions, 14, requests_per_second=1000,
                               apigateway=apigateway, apigatewayv2=apigatewayv2)
        lambdas.assert_no_pending_responses()
        rest.assert_no_pending_responses()
    hidden, anyapi = (function["triggers"] for function in functions)
    assert hidden["apis"] == [{"id": "f0rb1dd3n", "name": None, "type": None, "integration_timeout_ms": None}]
    assert hidden["unknown"] == {"api f0rb1dd3n": "GetRestApi failed: AccessDeniedException"}
    assert anyapi["apis"] == [] and "without naming the API" in anyapi["unknown"]["api"]


def test_the_api_a_statement_names_is_read_from_its_source_arn():
    def statement(condition):
        return {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Condition": condition}

    source = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:a1b2c3d4e5/prod/POST/records"
    assert triggers.api_id_of(statement({"ArnLike": {"AWS:SourceArn": source}})) == "a1b2c3d4e5"
    assert triggers.api_id_of(statement({"ArnEquals": {"aws:sourcearn": [source]}})) == "a1b2c3d4e5"
    assert triggers.api_id_of(statement({"ArnLike": {"AWS:SourceArn": f"arn:aws:execute-api:*:{ACCOUNT}:*"}})) is None
    assert triggers.api_id_of(statement({"StringEquals": {"AWS:SourceAccount": ACCOUNT}})) is None
    assert triggers.api_id_of({"Effect": "Allow"}) is None
