"""lambda_dlq against the emulator: the 4-step matrix, the queue's settings, scoped permissions,
and functions that already have a dead-letter queue."""

import json

import pytest

from tests.collection.conftest import mutating
from tools import baseline, fleet_view

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:lambda-dlq-dev"


@pytest.fixture
def fleet(aws):
    baseline.provision(aws, "dev")


def queue_names(aws) -> list:
    return sorted(url.rsplit("/", 1)[-1] for url in aws.client("sqs").list_queues().get("QueueUrls", []))


def targets(aws):
    return {state.name: state.dead_letter_target for state in fleet_view.describe(aws, "dev")}


def queue_attributes(aws, name):
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"], sqs.list_queue_tags(
        QueueUrl=url).get("Tags", {})


def by_name(result):
    return {entry["function_name"]: entry for entry in result["functions"]}


def customer_key(aws, alias=None):
    """A customer managed KMS key (with an alias when given): its ARN."""
    kms = aws.client("kms")
    key = kms.create_key(Description="team dead-letter key")["KeyMetadata"]
    if alias:
        kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return key["Arn"]


def encrypted_queue(aws, name, key_id):
    sqs = aws.client("sqs")
    sqs.create_queue(QueueName=name, Attributes={"KmsMasterKeyId": key_id})
    return f"arn:aws:sqs:us-east-1:123456789012:{name}"


def statements(aws, role):
    """The statements of the module's policy on a role, by Sid ({} when the role has none)."""
    try:
        document = aws.client("iam").get_role_policy(RoleName=role, PolicyName="lambdaopt-dlq-send")["PolicyDocument"]
    except aws.client("iam").exceptions.NoSuchEntityException:
        return {}
    return {statement["Sid"]: statement for statement in document["Statement"]}


def set_dead_letter_target(aws, function_name, target):
    """Point a function at a queue by hand, as its owners would, once Lambda lets it be updated."""
    lambda_client = aws.client("lambda")
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=function_name)
    lambda_client.update_function_configuration(FunctionName=function_name, DeadLetterConfig={"TargetArn": target})
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=function_name)


def test_four_step_matrix(aws, fleet, run_module, api_calls):
    args = {"suffix": "dev", "queue_tags": {"Environment": "dev"}}
    checked = run_module("lambda_dlq", args, check=True, diff=True)
    assert checked["changed"] and mutating(api_calls) == []
    assert queue_names(aws) == ["records-queue-dev"]  # the pipeline's own queue, no dead-letter queue
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
        assert statement == {"Sid": "LambdaoptDlqSendFordev", "Effect": "Allow", "Action": "sqs:SendMessage",
                             "Resource": QUEUE_ARN}


def test_a_function_with_another_dead_letter_queue_keeps_it_unless_told(aws, fleet, run_module):
    other = "arn:aws:sqs:us-east-1:123456789012:team-owned-dlq"
    aws.client("sqs").create_queue(QueueName="team-owned-dlq")
    set_dead_letter_target(aws, "webhook-relay-dev", other)
    result = by_name(run_module("lambda_dlq", {"suffix": "dev"}))
    assert result["webhook-relay-dev"]["status"] == "kept_existing"
    assert "team-owned-dlq" in result["webhook-relay-dev"]["reason"]
    assert targets(aws)["webhook-relay-dev"] == other and targets(aws)["transform-dev"] == QUEUE_ARN

    replaced = by_name(run_module("lambda_dlq", {"suffix": "dev", "replace_existing": True}))
    assert replaced["webhook-relay-dev"]["status"] == "changed"
    assert targets(aws)["webhook-relay-dev"] == QUEUE_ARN


def test_one_queue_per_function_with_a_kms_key(aws, fleet, run_module):
    key_arn = customer_key(aws, "alias/lambda-dlq")
    run_module("lambda_dlq", {"functions": ["transform-dev", "api-handler-dev"], "per_function": True,
                              "kms_key_id": "alias/lambda-dlq"})
    attributes, _ = queue_attributes(aws, "transform-dev-dlq")
    assert attributes["KmsMasterKeyId"] == "alias/lambda-dlq"
    assert attributes["SqsManagedSseEnabled"] == "false"
    assert statements(aws, "transform-role-dev")["LambdaoptDlqKey"]["Resource"] == key_arn
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


def test_a_shared_queue_encrypted_with_a_customer_key_gets_a_grant_on_that_key_only(aws, fleet, run_module,
                                                                                    api_calls):
    key_arn = customer_key(aws, "alias/team-dlq")
    customer_key(aws, "alias/unrelated")  # another key in the account: never granted
    queue = encrypted_queue(aws, "team-dlq", "alias/team-dlq")
    args = {"suffix": "dev", "queue_name": "team-dlq"}
    del api_calls[:]

    checked = run_module("lambda_dlq", args, check=True, diff=True)
    assert checked["changed"] and mutating(api_calls) == [] and statements(aws, "transform-role-dev") == {}
    assert {entry["kms_key_arn"] for entry in checked["functions"]} == {key_arn}
    assert all(after == {"dead_letter_target": queue, "role_policy": True}
               for after in checked["diff"]["after"].values())

    applied = run_module("lambda_dlq", args)
    assert applied["changed"] and set(targets(aws).values()) == {queue}
    for state in fleet_view.describe(aws, "dev"):
        role = state.name.removesuffix("-dev") + "-role-dev"
        assert statements(aws, role) == {
            "LambdaoptDlqSendFordev": {"Sid": "LambdaoptDlqSendFordev", "Effect": "Allow",
                                      "Action": "sqs:SendMessage", "Resource": queue},
            "LambdaoptDlqKeyFordev": {"Sid": "LambdaoptDlqKeyFordev", "Effect": "Allow",
                                          "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key_arn},
        }
    # The queue keeps its owner's key: no switch to SQS-managed keys.
    attributes, _ = queue_attributes(aws, "team-dlq")
    assert attributes["KmsMasterKeyId"] == "alias/team-dlq" and attributes["SqsManagedSseEnabled"] == "false"
    change = next(policy for policy in applied["role_policies"] if policy["role_name"] == "transform-role-dev")
    assert change["before"] is None and change["after"]["Statement"][1]["Resource"] == key_arn

    del api_calls[:]
    assert not run_module("lambda_dlq", args, check=True)["changed"]
    again = run_module("lambda_dlq", args)
    assert not again["changed"] and again["role_policies"] == []
    assert mutating(api_calls) == []


@pytest.mark.parametrize("form", ["alias name", "alias ARN", "key id", "key ARN"])
def test_every_way_a_queue_names_its_key_resolves_to_the_key_arn(aws, fleet, run_module, form):
    key_arn = customer_key(aws, "alias/team-dlq")
    key_id = {"alias name": "alias/team-dlq", "alias ARN": "arn:aws:kms:us-east-1:123456789012:alias/team-dlq",
              "key id": key_arn.rsplit("/", 1)[-1], "key ARN": key_arn}[form]
    encrypted_queue(aws, "team-dlq", key_id)
    run_module("lambda_dlq", {"functions": ["transform-dev"], "queue_name": "team-dlq"})
    assert statements(aws, "transform-role-dev")["LambdaoptDlqKey"]["Resource"] == key_arn


def test_queues_without_a_customer_key_get_no_kms_statement(aws, fleet, run_module):
    aws.client("sqs").create_queue(QueueName="sse-sqs-dlq", Attributes={"SqsManagedSseEnabled": "true"})
    encrypted_queue(aws, "aws-managed-dlq", "alias/aws/sqs")
    run_module("lambda_dlq", {"functions": ["transform-dev"], "queue_name": "sse-sqs-dlq"})
    assert set(statements(aws, "transform-role-dev")) == {"LambdaoptDlqSend"}
    # The AWS managed key's policy already lets the account's SQS users use it: no grant on it.
    result = run_module("lambda_dlq", {"functions": ["api-handler-dev"], "queue_name": "aws-managed-dlq"})
    assert "kms_key_arn" not in by_name(result)["api-handler-dev"]
    assert set(statements(aws, "api-handler-role-dev")) == {"LambdaoptDlqSend"}
    assert targets(aws)["api-handler-dev"].endswith(":aws-managed-dlq")


def test_a_kept_queue_with_a_customer_key_gets_its_grant_and_keeps_its_place(aws, fleet, run_module):
    team_key = customer_key(aws)
    team_queue = encrypted_queue(aws, "team-owned-dlq", team_key.rsplit("/", 1)[-1])
    set_dead_letter_target(aws, "webhook-relay-dev", team_queue)

    result = by_name(run_module("lambda_dlq", {"suffix": "dev"}))
    kept = result["webhook-relay-dev"]
    assert kept["status"] == "changed" and "team-owned-dlq" in kept["reason"] and kept["kms_key_arn"] == team_key
    assert targets(aws)["webhook-relay-dev"] == team_queue  # not clobbered
    assert statements(aws, "webhook-relay-role-dev") == {
        "LambdaoptDlqKeyFordev": {"Sid": "LambdaoptDlqKeyFordev", "Effect": "Allow",
                                      "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": team_key}}
    # The other functions' queue is SSE-SQS: their roles get nothing on the team's key.
    assert set(statements(aws, "transform-role-dev")) == {"LambdaoptDlqSendFordev"}
    assert by_name(run_module("lambda_dlq", {"suffix": "dev"}))["webhook-relay-dev"]["status"] == "kept_existing"


# moto 5.2.5 answers these two by key id only (a key ARN is a server error there; AWS takes either).
def disable(aws, key_arn):
    aws.client("kms").disable_key(KeyId=key_arn.rsplit("/", 1)[-1])


def schedule_deletion(aws, key_arn):
    aws.client("kms").schedule_key_deletion(KeyId=key_arn.rsplit("/", 1)[-1], PendingWindowInDays=7)


@pytest.mark.parametrize("break_key, reason", [
    (disable, "is Disabled"),
    (schedule_deletion, "is PendingDeletion"),
    (None, "does not exist"),
])
def test_a_kept_queue_whose_key_cannot_be_used_fails_that_function_only(aws, fleet, run_module, break_key, reason):
    if break_key:
        key_id = customer_key(aws)
        break_key(aws, key_id)
    else:
        key_id = "alias/deleted-long-ago"
    team_queue = encrypted_queue(aws, "team-owned-dlq", key_id)
    set_dead_letter_target(aws, "webhook-relay-dev", team_queue)

    result = run_module("lambda_dlq", {"suffix": "dev"})
    assert result.failed and result["failed_functions"] == ["webhook-relay-dev"]
    failed = by_name(result)["webhook-relay-dev"]
    assert reason in failed["error"] and "team-owned-dlq" in failed["error"]
    assert statements(aws, "webhook-relay-role-dev") == {}
    assert targets(aws)["transform-dev"] == QUEUE_ARN and by_name(result)["transform-dev"]["status"] == "changed"


def test_a_shared_queue_whose_key_cannot_be_read_is_set_on_no_function(aws, fleet, run_module, monkeypatch):
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError
    customer_key(aws, "alias/locked")
    encrypted_queue(aws, "team-dlq", "alias/locked")
    original = BaseClient._make_api_call

    def without_describe_key(client, operation, params):
        if operation == "DescribeKey":
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized to perform: "
                                         "kms:DescribeKey"}}, operation)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", without_describe_key)
    result = run_module("lambda_dlq", {"functions": ["transform-dev", "api-handler-dev"], "queue_name": "team-dlq"})
    assert result.failed and sorted(result["failed_functions"]) == ["api-handler-dev", "transform-dev"]
    assert "kms:DescribeKey denied" in by_name(result)["transform-dev"]["error"]
    assert result["queues"][0]["status"] == "failed" and result["role_policies"] == []
    assert targets(aws)["transform-dev"] is None and statements(aws, "transform-role-dev") == {}


def test_a_new_queue_with_a_key_that_does_not_exist_is_not_created(aws, fleet, run_module):
    result = run_module("lambda_dlq", {"suffix": "dev", "kms_key_id": "alias/typo"})
    assert result.failed and len(result["failed_functions"]) == 6
    assert "alias/typo does not exist" in result["queues"][0]["error"]
    assert queue_names(aws) == ["records-queue-dev"]  # the pipeline's own queue, no dead-letter queue
    assert set(targets(aws).values()) == {None}


def test_a_kept_queue_that_does_not_exist_fails_that_function(aws, fleet, run_module):
    set_dead_letter_target(aws, "webhook-relay-dev", "arn:aws:sqs:us-east-1:123456789012:gone-dlq")
    result = run_module("lambda_dlq", {"suffix": "dev"})
    assert result["failed_functions"] == ["webhook-relay-dev"]
    assert "does not exist" in by_name(result)["webhook-relay-dev"]["error"]


def test_rolling_back_the_record_restores_the_role_policy(aws, fleet, run_module):
    from ansible_collections.tap.lambdaopt.plugins.plugin_utils import change_record
    customer_key(aws, "alias/team-dlq")
    encrypted_queue(aws, "team-dlq", "alias/team-dlq")
    result = run_module("lambda_dlq", {"functions": ["transform-dev"], "queue_name": "team-dlq"})
    record = change_record.build({"dead_letter_queues": dict(result)}, dry_run=False, account_id="123456789012",
                                 region="us-east-1")
    [policy] = record["role_policies"]
    assert policy["role_name"] == "transform-role-dev" and "LambdaoptDlqKey" in json.dumps(policy["after"])

    rolled_back = run_module("lambda_rollback", {"record": record})
    assert not rolled_back.failed and rolled_back["changed"]
    assert statements(aws, "transform-role-dev") == {} and targets(aws)["transform-dev"] is None
    assert not run_module("lambda_rollback", {"record": record})["changed"]


def test_entries_hold_no_working_state(aws, fleet, run_module):
    for check in (True, False):
        result = run_module("lambda_dlq", {"suffix": "dev", "queue_tags": {"Environment": "dev"}}, check=check)
        assert [set(queue) for queue in result["queues"]] == [{"queue_name", "queue_arn", "status", "attributes",
                                                               "tags"}]
        assert all(set(entry) == {"function_name", "role_name", "before", "after", "status"}
                   for entry in result["functions"])
        assert result["summary"] == {"functions": 6, "changed": 6, "unchanged": 0, "with_refusals": 0, "failed": 0}
