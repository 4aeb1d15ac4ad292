"""lambda_dlq against the emulator: the 4-step matrix, the queue's settings, scoped permissions,
and functions that already have a dead-letter queue."""

import pytest

from tests.collection.conftest import mutating
from tools import baseline, fleet_view

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:lambda-dlq-dev"


@pytest.fixture
def fleet(aws):
    baseline.provision(aws, "dev")


def targets(aws):
    return {state.name: state.dead_letter_target for state in fleet_view.describe(aws, "dev")}


def queue_attributes(aws, name):
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"], sqs.list_queue_tags(
        QueueUrl=url).get("Tags", {})


def by_name(result):
    return {entry["function_name"]: entry for entry in result["functions"]}


def test_four_step_matrix(aws, fleet, run_module, api_calls):
    args = {"suffix": "dev", "queue_tags": {"Environment": "dev"}}
    checked = run_module("lambda_dlq", args, check=True, diff=True)
    assert checked["changed"] and mutating(api_calls) == []
    assert aws.client("sqs").list_queues().get("QueueUrls") is None
    planned = checked["diff"]["after"]
    assert len(planned) == 6
    assert all(after == {"dead_letter_target": QUEUE_ARN, "role_policy": True} for after in planned.values())

    applied = run_module("lambda_dlq", args)
    assert applied["changed"] and applied["queues"][0]["status"] == "created"
    assert set(targets(aws).values()) == {QUEUE_ARN}
    attributes, tags = queue_attributes(aws, "lambda-dlq-dev")
    assert attributes["MessageRetentionPeriod"] == "1209600"
    assert attributes["SqsManagedSseEnabled"] == "true"
    assert tags == {"Environment": "dev"}

    del api_calls[:]
    assert not run_module("lambda_dlq", args, check=True)["changed"]
    assert not run_module("lambda_dlq", args)["changed"]
    assert mutating(api_calls) == []


def test_each_role_may_send_to_its_queue_only(aws, fleet, run_module):
    run_module("lambda_dlq", {"suffix": "dev"})
    iam = aws.client("iam")
    for function in fleet_view.describe(aws, "dev"):
        role = function.name.removesuffix("-dev") + "-role-dev"
        (statement,) = iam.get_role_policy(RoleName=role, PolicyName="lambdaopt-dlq-send")["PolicyDocument"][
            "Statement"]
        assert statement == {"Sid": "SendToDeadLetterQueue", "Effect": "Allow", "Action": "sqs:SendMessage",
                             "Resource": QUEUE_ARN}


def test_a_function_with_another_dead_letter_queue_keeps_it_unless_told(aws, fleet, run_module):
    other = "arn:aws:sqs:us-east-1:123456789012:team-owned-dlq"
    aws.client("lambda").update_function_configuration(FunctionName="webhook-relay-dev",
                                                       DeadLetterConfig={"TargetArn": other})
    result = by_name(run_module("lambda_dlq", {"suffix": "dev"}))
    assert result["webhook-relay-dev"]["status"] == "kept_existing"
    assert "team-owned-dlq" in result["webhook-relay-dev"]["reason"]
    assert targets(aws)["webhook-relay-dev"] == other and targets(aws)["transform-dev"] == QUEUE_ARN

    replaced = by_name(run_module("lambda_dlq", {"suffix": "dev", "replace_existing": True}))
    assert replaced["webhook-relay-dev"]["status"] == "changed"
    assert targets(aws)["webhook-relay-dev"] == QUEUE_ARN


def test_one_queue_per_function_with_a_kms_key(aws, fleet, run_module):
    run_module("lambda_dlq", {"functions": ["transform-dev", "api-handler-dev"], "per_function": True,
                              "kms_key_id": "alias/lambda-dlq"})
    attributes, _ = queue_attributes(aws, "transform-dev-dlq")
    assert attributes["KmsMasterKeyId"] == "alias/lambda-dlq"
    assert targets(aws)["transform-dev"].endswith(":transform-dev-dlq")
    assert targets(aws)["api-handler-dev"].endswith(":api-handler-dev-dlq")
    assert targets(aws)["batch-processor-dev"] is None  # not named, not touched


def test_a_queue_that_drifted_is_put_back(aws, fleet, run_module):
    run_module("lambda_dlq", {"suffix": "dev"})
    sqs = aws.client("sqs")
    sqs.set_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName="lambda-dlq-dev")["QueueUrl"],
                             Attributes={"MessageRetentionPeriod": "60"})
    result = run_module("lambda_dlq", {"suffix": "dev"})
    assert result["changed"] and result["queues"][0]["status"] == "changed"
    assert queue_attributes(aws, "lambda-dlq-dev")[0]["MessageRetentionPeriod"] == "1209600"


@pytest.mark.parametrize("args, message", [
    ({"suffix": "dev", "per_function": True, "queue_name": "q"}, "mutually exclusive"),
    ({"functions": ["transform-dev"]}, "queue_name is required when no suffix is given"),
    ({"suffix": "dev", "queue_name": "bad name!"}, "is not a valid SQS queue name"),
    ({"functions": [""], "queue_name": "q"}, "neither a function name"),
])
def test_bad_input_fails_before_any_api_call(aws, run_module, api_calls, args, message):
    result = run_module("lambda_dlq", args)
    assert result.failed and message in result["msg"]
    assert api_calls == []


def test_a_role_grant_still_propagating_is_waited_for(aws, fleet, run_module, monkeypatch):
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError
    original = BaseClient._make_api_call
    refused = []

    def lambda_not_yet_seeing_the_grant(client, operation, params):
        if operation == "UpdateFunctionConfiguration" and not refused:
            refused.append(params["FunctionName"])
            raise ClientError({"Error": {"Code": "InvalidParameterValueException", "Message":
                               "The provided execution role does not have permissions to call SendMessage on SQS"}},
                              operation)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", lambda_not_yet_seeing_the_grant)
    result = run_module("lambda_dlq", {"suffix": "dev"})
    assert not result.failed and refused
    assert by_name(result)[refused[0]]["status"] == "changed"
    assert targets(aws)[refused[0]] == QUEUE_ARN
