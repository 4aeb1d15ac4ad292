"""Event source mappings as AWS lists and checks them (tools/emulator_patches/lambda_event_sources.py).

Sources: Lambda API reference, ListEventSourceMappings ("returns a maximum of 100 items in each response, even if
you set the number higher", NextMarker); Lambda developer guide, "Using Lambda with Amazon SQS" (the queue's
visibility timeout must be at least the function's timeout; CreateEventSourceMapping answers
InvalidParameterValueException otherwise).
"""

import json

import pytest
from botocore.exceptions import ClientError


def queue_arn(aws, name: str, visibility_timeout: int) -> str:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(visibility_timeout)})["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def test_a_queue_whose_visibility_timeout_is_below_the_functions_timeout_is_refused(aws, make_function):
    make_function("consumer", active=True, Timeout=300)
    lambda_ = aws.client("lambda")
    with pytest.raises(ClientError) as excinfo:
        lambda_.create_event_source_mapping(EventSourceArn=queue_arn(aws, "short", 30), FunctionName="consumer")
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "30 seconds is less than Function timeout: 300 seconds" in str(excinfo.value)
    assert lambda_.list_event_source_mappings()["EventSourceMappings"] == []
    created = lambda_.create_event_source_mapping(EventSourceArn=queue_arn(aws, "long", 300), FunctionName="consumer")
    assert created["EventSourceArn"].endswith(":long")


def test_mappings_are_listed_100_a_page(aws, make_function):
    make_function("consumer", active=True, Timeout=10)
    lambda_ = aws.client("lambda")
    for index in range(101):
        lambda_.create_event_source_mapping(EventSourceArn=queue_arn(aws, f"q{index}", 60), FunctionName="consumer",
                                            BatchSize=5)
    first = lambda_.list_event_source_mappings(MaxItems=1000)
    assert len(first["EventSourceMappings"]) == 100
    second = lambda_.list_event_source_mappings(Marker=first["NextMarker"])
    assert len(second["EventSourceMappings"]) == 1 and "NextMarker" not in second
    pages = lambda_.get_paginator("list_event_source_mappings").paginate()
    listed = [mapping["EventSourceArn"] for page in pages for mapping in page["EventSourceMappings"]]
    assert len(set(listed)) == 101


def test_a_permission_on_an_alias_is_in_the_alias_policy_only(aws, make_function):
    """Lambda API reference, AddPermission and GetPolicy: with a Qualifier, the permission applies to that alias
    or version, and GetPolicy with that Qualifier returns its policy."""
    make_function("handler", active=True)
    lambda_ = aws.client("lambda")
    lambda_.create_alias(FunctionName="handler", Name="live", FunctionVersion=lambda_.publish_version(
        FunctionName="handler")["Version"])
    lambda_.add_permission(FunctionName="handler", Qualifier="live", StatementId="api",
                           Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com")
    with pytest.raises(ClientError) as excinfo:
        lambda_.get_policy(FunctionName="handler")
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"
    (statement,) = json.loads(lambda_.get_policy(FunctionName="handler", Qualifier="live")["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Resource"].endswith(":function:handler:live")
    lambda_.add_permission(FunctionName="handler", StatementId="events", Action="lambda:InvokeFunction",
                           Principal="events.amazonaws.com")
    (statement,) = json.loads(lambda_.get_policy(FunctionName="handler")["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
