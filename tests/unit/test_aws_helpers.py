"""ARNs read with amazon.aws's parse_aws_arn and AWS error codes told apart with is_boto3_error_code, against
responses shaped as AWS documents them (botocore's Stubber validates each); and the call that waits for IAM to
propagate a role's grant, retried apart from the client's own retry."""

import threading

import boto3
import pytest
from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.tap.lambdaopt.plugins.module_utils import alarms, dlq_encryption, roles
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import api as lambda_api
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import discovery
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan_context import queue_name, stream_name
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import (
    RetryingClient,
    format_arn,
    parse_whole_arn,
    retry_iam_propagation,
)
from botocore.exceptions import ClientError
from botocore.stub import Stubber

ACCOUNT = "123456789012"
QUEUE = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:orders-dev-dlq"
FUNCTION = f"arn:aws-cn:lambda:cn-north-1:{ACCOUNT}:function:transform-dev"
INTEGRATION_URI = (f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:{ACCOUNT}"
                   ":function:transform-dev/invocations")


def client(service):
    return boto3.client(service, region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


def refusal(code, operation="UpdateFunctionConfiguration"):
    return ClientError({"Error": {"Code": code, "Message": "refused"}}, operation)


def test_a_whole_arn_is_parsed_and_written_back_alike():
    parts = parse_whole_arn(QUEUE)
    assert (parts["partition"], parts["service"], parts["region"], parts["account_id"], parts["resource"]) == (
        "aws", "sqs", "eu-west-1", ACCOUNT, "orders-dev-dlq")
    assert format_arn(parts) == QUEUE
    assert format_arn(parts, service="kms", resource="alias/team") == f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/team"


@pytest.mark.parametrize("value", [INTEGRATION_URI, f" {QUEUE}", f"x{QUEUE}", "orders-dev-dlq", "", None, 42])
def test_only_a_value_that_is_one_arn_and_nothing_else_is_parsed(value):
    # amazon.aws's parse_aws_arn searches: it finds the function ARN inside an API Gateway integration URI.
    assert parse_whole_arn(value) is None


def test_a_role_is_named_by_the_last_part_of_its_path():
    assert roles.role_name(f"arn:aws:iam::{ACCOUNT}:role/service-role/team/transform-role-dev") == "transform-role-dev"
    assert roles.role_name(f"arn:aws-us-gov:iam::{ACCOUNT}:role/plain") == "plain"
    assert roles.role_name("") == ""


def test_an_alarm_arn_is_in_the_partition_region_and_account_of_its_function():
    assert alarms.alarm_arn(FUNCTION, "lambdaopt-transform-dev-duration") == (
        f"arn:aws-cn:cloudwatch:cn-north-1:{ACCOUNT}:alarm:lambdaopt-transform-dev-duration")
    assert alarms.alarm_arn(f"{FUNCTION}:live", "a") == f"arn:aws-cn:cloudwatch:cn-north-1:{ACCOUNT}:alarm:a"
    with pytest.raises(ValueError, match="not the ARN of a function"):
        alarms.alarm_arn("transform-dev", "a")


KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize("key_id, qualified", [
    (KEY_ID, f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{KEY_ID}"),
    ("alias/team-dlq", f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/team-dlq"),
    ("arn:aws:kms:us-east-1:210987654321:alias/theirs", "arn:aws:kms:us-east-1:210987654321:alias/theirs"),
])
def test_a_queues_key_is_qualified_with_the_queues_account_and_region(key_id, qualified):
    assert dlq_encryption.qualified_key_id(key_id, QUEUE) == qualified


def test_a_value_that_is_not_a_queue_arn_is_refused_before_any_call():
    with pytest.raises(ValueError, match="not the ARN of a queue"):
        dlq_encryption.qualified_key_id("alias/team-dlq", "orders-dev-dlq")
    with pytest.raises(ValueError, match="not the ARN of a queue"):
        dlq_encryption.queue_key_id(client("sqs"), "orders-dev-dlq")


def test_event_sources_are_named_as_people_name_them():
    assert queue_name(QUEUE) == "orders-dev-dlq"
    assert stream_name(f"arn:aws:kinesis:eu-west-1:{ACCOUNT}:stream/clicks-dev") == "Kinesis stream clicks-dev"
    assert stream_name(f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/orders-dev/stream/2026-01-01T00:00:00.000") == (
        "the stream of DynamoDB table orders-dev")
    assert stream_name(f"arn:aws:kafka:eu-west-1:{ACCOUNT}:cluster/events/1") == "stream cluster/events/1"


def test_a_role_without_the_policy_has_none_and_deleting_a_policy_already_gone_is_done():
    iam = client("iam")
    with Stubber(iam) as stub:
        stub.add_client_error("get_role_policy", "NoSuchEntity", http_status_code=404,
                              expected_params={"RoleName": "r", "PolicyName": "p"})
        stub.add_client_error("delete_role_policy", "NoSuchEntity", http_status_code=404,
                              expected_params={"RoleName": "r", "PolicyName": "p"})
        stub.add_client_error("get_role_policy", "AccessDenied", http_status_code=403)
        assert roles.inline_policy(iam, "r", "p") is None
        roles.delete_inline_policy(iam, "r", "p")
        with pytest.raises(ClientError, match="AccessDenied"):
            roles.inline_policy(iam, "r", "p")
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("code, message, reason", [
    ("NotFoundException", "Alias not found", "does not exist (or was deleted)"),
    ("AccessDeniedException", "not authorized", "cannot be read (kms:DescribeKey denied), so the role's permission to "
                                                "encrypt with it cannot be scoped to it"),
    ("KMSInternalException", "try later", "cannot be read: KMSInternalException: try later"),
])
def test_a_key_that_cannot_be_read_says_why(code, message, reason):
    kms = client("kms")
    with Stubber(kms) as stub:
        stub.add_client_error("describe_key", code, message,
                              expected_params={"KeyId": f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/team-dlq"})
        assert dlq_encryption.resolve_key(kms, "alias/team-dlq", QUEUE) == (
            None, f"its KMS key alias/team-dlq {reason}")


@pytest.mark.parametrize("code, error", [
    ("AWS.SimpleQueueService.NonExistentQueue", "its dead-letter queue does not exist: Lambda cannot send failed "
                                                "events to it"),
    ("QueueDoesNotExist", "its dead-letter queue does not exist: Lambda cannot send failed events to it"),
    ("AccessDenied", "its dead-letter queue cannot be read: AccessDenied: refused"),
])
def test_a_queue_that_cannot_be_read_says_why(code, error):
    sqs = client("sqs")
    with Stubber(sqs) as stub:
        stub.add_client_error("get_queue_url", code, "refused",
                              expected_params={"QueueName": "orders-dev-dlq", "QueueOwnerAWSAccountId": ACCOUNT})
        assert dlq_encryption.queue_key_id(sqs, QUEUE) == (None, error)


def test_a_function_deleted_since_it_was_listed_is_left_out_and_any_other_error_raised():
    lambda_ = client("lambda")
    with Stubber(lambda_) as stub:
        stub.add_client_error("get_function", "ResourceNotFoundException", http_status_code=404,
                              expected_params={"FunctionName": "gone-dev"})
        assert discovery.details(lambda_, ["gone-dev"], max_workers=1) == {}
        stub.add_client_error("get_function", "AccessDeniedException", http_status_code=403,
                              expected_params={"FunctionName": "hidden-dev"})
        with pytest.raises(ClientError, match="AccessDeniedException"):
            discovery.details(lambda_, ["hidden-dev"], max_workers=1)


class FakeLambda:
    """Refuses each operation the first `refusals[operation]` times with InvalidParameterValueException."""

    def __init__(self, **refusals):
        self.refusals, self.calls = dict(refusals), []

    def __getattr__(self, operation):
        def call(**parameters):
            self.calls.append(operation)
            if self.refusals.get(operation, 0):
                self.refusals[operation] -= 1
                raise refusal("InvalidParameterValueException")
            return {"FunctionName": parameters.get("FunctionName")}
        return call


def counting_retry(seen):
    def retry(call):
        def retried(**parameters):
            seen.append(call.__name__)
            return call(**parameters)
        return retried
    return retry


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr(cloud.time, "sleep", lambda seconds: None)


def test_only_the_call_made_for_iam_propagation_waits_out_a_grant_not_yet_seen(no_backoff):
    fake, wrapped = FakeLambda(update_function_configuration=2, get_function=1), []
    client_ = RetryingClient(fake, counting_retry(wrapped))
    assert retry_iam_propagation(client_, "update_function_configuration", FunctionName="f") == {"FunctionName": "f"}
    assert fake.calls == ["update_function_configuration"] * 3
    # The client's own retry is not also wrapped around it: one retry at a time.
    assert wrapped == []
    with pytest.raises(ClientError, match="InvalidParameterValueException"):
        client_.get_function(FunctionName="f")
    assert wrapped == ["call"]


def test_a_plain_client_gets_the_same_wait(no_backoff):
    fake = FakeLambda(update_function_configuration=1)
    assert retry_iam_propagation(fake, "update_function_configuration", FunctionName="f") == {"FunctionName": "f"}
    assert fake.calls == ["update_function_configuration"] * 2


class DeadLetterLambda:
    """One Active function whose first `refusals` UpdateFunctionConfiguration calls Lambda refuses, as it does while
    the execution role's new grant to send to the queue has not propagated."""

    def __init__(self, refusals: int):
        self.refusals, self.updates = refusals, []
        self.configuration = {"FunctionName": "transform-dev", "FunctionArn": FUNCTION, "State": "Active",
                              "LastUpdateStatus": "Successful", "RevisionId": "r1"}

    def get_function(self, FunctionName):
        return {"Configuration": dict(self.configuration)}

    def update_function_configuration(self, FunctionName, RevisionId, DeadLetterConfig):
        self.updates.append(DeadLetterConfig)
        if len(self.updates) <= self.refusals:
            raise refusal("InvalidParameterValueException")
        self.configuration.update(DeadLetterConfig=DeadLetterConfig, RevisionId="r2")

    def get_waiter(self, name):
        class Waiter:
            def wait(self, **_):
                return None
        return Waiter()


def dead_letter_entry():
    return {"function_name": "transform-dev", "role_name": "transform-role-dev", "status": "planned",
            "before": {"dead_letter_target": None}, "after": {"dead_letter_target": QUEUE}}


def test_a_dead_letter_update_made_with_retry_iam_propagation_waits_for_the_grant(no_backoff):
    client_, pending = DeadLetterLambda(refusals=1), [dead_letter_entry()]
    granted = lambda_api.grant_then_apply(client_, pending, lambda role: None,
                                          lambda entry: {"dead_letter_target": QUEUE}, 1000, 1,
                                          update_call=retry_iam_propagation)
    assert granted == {"transform-role-dev": None} and pending[0]["status"] == "changed"
    assert client_.updates == [{"TargetArn": QUEUE}] * 2


def test_any_other_update_is_refused_at_once(no_backoff):
    client_, pending = DeadLetterLambda(refusals=1), [dead_letter_entry()]
    lambda_api.grant_then_apply(client_, pending, lambda role: None, lambda entry: {"dead_letter_target": QUEUE},
                                1000, 1)
    assert pending[0]["status"] == "failed" and "InvalidParameterValueException" in pending[0]["error"]
    assert client_.updates == [{"TargetArn": QUEUE}]


def test_roles_are_granted_several_at_a_time_and_a_refused_grant_fails_only_its_functions():
    together = threading.Barrier(3)

    def grant(role):
        together.wait(timeout=5)  # passes only while three grants are under way at once
        if role == "refused-role":
            raise refusal("AccessDenied", "PutRolePolicy")

    pending = [{"function_name": f"{role}-function", "role_name": role, "status": "planned", "before": {},
                "after": {}} for role in ("first-role", "second-role", "refused-role")]
    granted = lambda_api.grant_then_apply(object(), pending, grant, lambda entry: {}, 1000, 3)
    assert granted["first-role"] is None and granted["second-role"] is None
    assert "AccessDenied" in str(granted["refused-role"])
    assert [entry["status"] for entry in pending] == ["changed", "changed", "failed"]


def test_a_grant_that_fails_other_than_by_aws_is_raised():
    pending = [{"function_name": "f", "role_name": "r", "status": "planned", "before": {}, "after": {}}]
    with pytest.raises(ZeroDivisionError):
        lambda_api.grant_then_apply(object(), pending, lambda role: 1 / 0, lambda entry: {}, 1000, 2)
