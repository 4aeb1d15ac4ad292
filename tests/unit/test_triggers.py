"""Reading what invokes a fleet's functions, against responses shaped as AWS documents them (botocore's Stubber
validates each): one paginated ListEventSourceMappings for the account-region, a qualified FunctionArn
attributed to its function, one GetQueueAttributes per queue, and what could not be read said to be unknown."""

import json
from datetime import UTC, datetime

import boto3
from ansible_collections.tap.lambdaopt.plugins.module_utils import triggers
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


def test_triggers_are_read_in_bulk_and_unknowns_are_said():
    lambda_, sqs, cloudwatch = client("lambda"), client("sqs"), client("cloudwatch")
    with Stubber(lambda_) as lambdas, Stubber(sqs) as queues, Stubber(cloudwatch) as metrics:
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
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "lambda:InvokeFunction",
             "Resource": function_arn("api-dev")}]}
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
        functions = [{"function_name": name} for name in ("api-dev", "consumer-dev", "reader-dev")]
        triggers.read_triggers(lambda_, sqs, cloudwatch, functions, 14, requests_per_second=1000)
        lambdas.assert_no_pending_responses()
        queues.assert_no_pending_responses()
    api, consumer, reader = (function["triggers"] for function in functions)
    assert api == {"event_sources": [], "invokers": ["apigateway.amazonaws.com"], "unknown": {}}
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
