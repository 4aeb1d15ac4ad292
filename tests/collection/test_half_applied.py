"""Half-applied work is recorded: what AWS accepted before a later step failed is returned with its real state
(read back), and the change record built from those results holds it, so that a rollback can undo it.

An update Lambda accepts can still end Failed (the emulator's `fail_next_update`) or outlast the wait; a
reservation is put before the configuration update that is then refused; a role is granted for functions whose
updates then fail; a queue is created before a later step fails; and an unexpected AWS error can stop a module
part-way. Faults are injected by answering chosen calls with an AWS error before they leave the process.
"""

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import api as lambda_api
from ansible_collections.tap.lambdaopt.plugins.plugin_utils import change_record
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tools import baseline
from tools.emulator_patches import lambda_states

ACCOUNT, REGION = "123456789012", "us-east-1"
RIGHTSIZE = {"functions": ["transform-dev"], "memory_size": "1024", "allow_unsafe": True, "min_invocations": 0,
             "lookback_days": 1}


@pytest.fixture
def fleet(aws):
    baseline.provision(aws, "dev")
    lambda_ = aws.client("lambda")
    for function in lambda_.list_functions()["Functions"]:
        lambda_.get_waiter("function_active_v2").wait(FunctionName=function["FunctionName"],
                                                      WaiterConfig={"Delay": 1})


@pytest.fixture
def refuse(monkeypatch):
    """refuse(operation, code, when=lambda params: True, after=0): answer that call with an AWS error, from its
    (after + 1)-th matching call on; returns the list of the calls refused."""
    original = BaseClient._make_api_call
    refused = []

    def install(operation: str, code: str, when=lambda params: True, after: int = 0) -> list:
        seen = []

        def make_api_call(client, name, params):
            if name == operation and when(params):
                seen.append(params)
                if len(seen) > after:
                    refused.append(params)
                    raise ClientError({"Error": {"Code": code, "Message": f"{operation} refused by the test"}},
                                      name)
            return original(client, name, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)
        return refused

    return install


def record_of(**results) -> dict:
    return change_record.build({task: dict(result) for task, result in results.items()}, dry_run=False,
                               account_id=ACCOUNT, region=REGION)


def by_name(entries: list, key: str = "function_name") -> dict:
    return {entry[key]: entry for entry in entries}


def memory_of(aws, name: str) -> int:
    return aws.client("lambda").get_function_configuration(FunctionName=name)["MemorySize"]


def test_an_update_that_ends_failed_is_returned_as_read_back_and_recorded(aws, fleet, run_module):
    before = memory_of(aws, "transform-dev")
    lambda_states.fail_next_update("transform-dev", reason="The subnets have no free IP addresses.",
                                   code="SubnetOutOfIPAddresses")
    result = run_module("lambda_rightsize", RIGHTSIZE)
    assert result.failed and result["failed_functions"] == ["transform-dev"]
    [entry] = result["functions"]
    assert entry["status"] == "failed" and entry["accepted"] == ["memory_size"]
    assert "Lambda accepted the change of memory_size" in entry["error"]
    assert "LastUpdateStatus is Failed" in entry["error"]
    assert entry["after"]["memory_size"] == memory_of(aws, "transform-dev") == 1024 != before
    assert result["changed"]

    record = record_of(rightsize=result)
    [change] = record["changes"]
    assert (change["function_name"], change["field"], change["before"], change["after"]) == (
        "transform-dev", "memory_size", before, 1024)
    assert [failure["function_name"] for failure in record["failed"]] == ["transform-dev"]
    # The rollback puts the memory back, although the function's last update failed: that update was the run's.
    rolled_back = run_module("lambda_rollback", {"record": record})
    assert not rolled_back.failed, rolled_back.get("msg")
    assert [item["status"] for item in rolled_back["items"]] == ["restored"]
    assert memory_of(aws, "transform-dev") == before


def test_an_update_that_outlasts_the_wait_is_returned_as_read_back(aws, fleet, run_module, monkeypatch):
    lambda_states.configure(update_reads=50)
    try:
        monkeypatch.setattr(lambda_api, "WAITER_CONFIG", {"Delay": 1, "MaxAttempts": 2})
        result = run_module("lambda_rightsize", RIGHTSIZE)
    finally:
        lambda_states.configure()
    [entry] = result["functions"]
    assert entry["status"] == "failed" and entry["accepted"] == ["memory_size"]
    assert "Max attempts exceeded" in entry["error"] and "LastUpdateStatus is InProgress" in entry["error"]
    assert entry["after"]["memory_size"] == 1024
    assert [(change["field"], change["after"]) for change in record_of(rightsize=result)["changes"]] == [
        ("memory_size", 1024)]


def test_a_reservation_put_before_a_refused_update_is_recorded_alone(aws, fleet, run_module, refuse):
    refuse("UpdateFunctionConfiguration", "InvalidParameterValueException")
    before = memory_of(aws, "transform-dev")
    result = run_module("lambda_rightsize", {**RIGHTSIZE, "reserved_concurrency": "7"})
    [entry] = result["functions"]
    assert result.failed and entry["status"] == "failed" and entry["accepted"] == ["reserved_concurrency"]
    assert "InvalidParameterValueException" in entry["error"]
    assert entry["after"] == {"memory_size": before, "timeout": entry["before"]["timeout"],
                              "reserved_concurrency": 7}
    concurrency = aws.client("lambda").get_function_concurrency(FunctionName="transform-dev")
    assert concurrency["ReservedConcurrentExecutions"] == 7
    changes = record_of(rightsize=result)["changes"]
    assert [(change["field"], change["before"], change["after"]) for change in changes] == [
        ("reserved_concurrency", None, 7)]


def test_a_function_refused_outright_records_nothing_of_it(aws, fleet, run_module, refuse):
    refuse("UpdateFunctionConfiguration", "InvalidParameterValueException")
    result = run_module("lambda_rightsize", RIGHTSIZE)
    [entry] = result["functions"]
    assert entry["status"] == "failed" and "accepted" not in entry and entry["after"] == entry["before"]
    assert not result["changed"] and record_of(rightsize=result)["changes"] == []


def test_a_role_granted_for_a_function_whose_update_is_refused_stays_in_the_record(aws, fleet, run_module,
                                                                                    refuse):
    refuse("UpdateFunctionConfiguration", "AccessDeniedException",
           when=lambda params: params["FunctionName"] == "transform-dev")
    result = run_module("lambda_tracing", {"suffix": "dev"})
    assert result.failed and result["failed_functions"] == ["transform-dev"]
    entry = by_name(result["functions"])["transform-dev"]
    assert entry["after"] == {"tracing_mode": "PassThrough", "role_policy": True} and "accepted" not in entry
    policies = by_name(result["role_policies"], "role_name")
    assert policies["transform-role-dev"]["status"] == "changed" and len(policies) == 6
    iam = aws.client("iam")
    assert "lambdaopt-xray-write" in iam.list_role_policies(RoleName="transform-role-dev")["PolicyNames"]

    record = record_of(tracing=result)
    assert "transform-role-dev" in {policy["role_name"] for policy in record["role_policies"]}
    assert "transform-dev" not in {change["function_name"] for change in record["changes"]}
    assert len(record["changes"]) == 5


def test_a_role_whose_grant_is_refused_is_not_recorded(aws, fleet, run_module, refuse):
    refuse("PutRolePolicy", "AccessDenied", when=lambda params: params["RoleName"] == "transform-role-dev")
    result = run_module("lambda_tracing", {"suffix": "dev"})
    assert result["failed_functions"] == ["transform-dev"]
    policy = by_name(result["role_policies"], "role_name")["transform-role-dev"]
    assert policy["status"] == "failed" and policy["after"] is None and "AccessDenied" in policy["error"]
    assert "transform-role-dev" not in {policy["role_name"] for policy in record_of(tracing=result)["role_policies"]}


def test_tracing_that_ends_failed_is_recorded_with_its_role(aws, fleet, run_module):
    lambda_states.fail_next_update("transform-dev")
    result = run_module("lambda_tracing", {"functions": ["transform-dev"]})
    [entry] = result["functions"]
    assert entry["status"] == "failed" and entry["accepted"] == ["tracing_mode"]
    assert entry["after"] == {"tracing_mode": "Active", "role_policy": True}
    record = record_of(tracing=result)
    assert [(change["field"], change["before"], change["after"]) for change in record["changes"]] == [
        ("tracing_mode", "PassThrough", "Active")]
    assert [policy["role_name"] for policy in record["role_policies"]] == ["transform-role-dev"]


def test_secrets_wired_by_an_update_that_ends_failed_are_recorded(aws, fleet, run_module):
    lambda_states.fail_next_update("transform-dev")
    result = run_module("lambda_secrets", {"functions": ["transform-dev"], "suffix": "dev",
                                           "secrets": [{"env": "API_KEY", "value": "half-applied-test-key"}]})
    [entry] = result["functions"]
    assert entry["status"] == "failed" and entry["accepted"] == ["environment"]
    assert list(entry["after"]["variables"]) == ["API_KEY_SECRET_ARN"] and entry["after"]["role_policy"]
    [change] = record_of(secrets=result)["changes"]
    assert change["field"] == "environment" and change["before"] == {} and list(change["after"]) == [
        "API_KEY_SECRET_ARN"]


def test_a_queue_created_before_a_later_step_failed_stays_created(aws, fleet, run_module, refuse):
    refuse("GetQueueAttributes", "AccessDenied",
           when=lambda params: params.get("AttributeNames") == ["QueueArn"])
    result = run_module("lambda_dlq", {"suffix": "dev"})
    [queue] = result["queues"]
    assert queue["status"] == "created" and "AccessDenied" in queue["error"]
    assert aws.client("sqs").get_queue_url(QueueName="lambda-dlq-dev")["QueueUrl"]
    assert result.failed and len(result["failed_functions"]) == 6
    assert {entry["error"].split(":")[0] for entry in result["functions"]} == {"dead-letter queue lambda-dlq-dev"}
    record = record_of(dead_letter_queues=result)
    assert [(resource["kind"], resource["name"], resource["change"]) for resource in record["resources"]] == [
        ("sqs_queue", "lambda-dlq-dev", "created")]
    assert record["changes"] == [] and record["role_policies"] == []


def test_a_queue_whose_functions_then_fail_stays_in_the_record(aws, fleet, run_module, refuse):
    refuse("UpdateFunctionConfiguration", "AccessDeniedException")
    result = run_module("lambda_dlq", {"suffix": "dev"})
    assert result.failed and len(result["failed_functions"]) == 6
    assert result["queues"][0]["status"] == "created"
    record = record_of(dead_letter_queues=result)
    assert [resource["name"] for resource in record["resources"]] == ["lambda-dlq-dev"]
    assert len(record["role_policies"]) == 6 and record["changes"] == []


def test_rightsize_stopped_part_way_returns_what_it_changed(aws, fleet, run_module, refuse):
    # The fleet is listed twice: to plan, and to read the functions back after the updates, which fails.
    refuse("ListFunctions", "AccessDeniedException", after=1)
    result = run_module("lambda_rightsize", RIGHTSIZE)
    assert result.failed and "Could not right-size the fleet" in result["msg"]
    assert "AccessDeniedException" in result["msg"]
    [entry] = result["functions"]
    assert entry["status"] == "changed" and entry["after"]["memory_size"] == 1024 == memory_of(aws, "transform-dev")
    assert [change["after"] for change in record_of(rightsize=result)["changes"]] == [1024]


def test_secrets_created_before_an_error_are_returned(aws, fleet, run_module, refuse):
    refuse("CreateSecret", "AccessDeniedException", when=lambda params: params["Name"] == "second-dev")
    result = run_module("lambda_secrets", {"suffix": "dev", "secrets": [
        {"env": "FIRST", "value": "first-value"}, {"env": "SECOND", "value": "second-value"}]})
    assert result.failed and "Could not prepare the secrets" in result["msg"]
    assert "AccessDeniedException" in result["msg"]
    secrets = by_name(result["secrets"], "env")
    assert secrets["FIRST"]["status"] == "created" and secrets["SECOND"]["status"] == "failed"
    assert "first-value" not in str(result)
    record = record_of(secrets=result)
    assert [(resource["name"], resource["change"]) for resource in record["resources"]] == [("first-dev", "created")]


def test_alarms_put_before_an_error_are_returned(aws, fleet, run_module, refuse):
    refuse("PutMetricAlarm", "AccessDenied", after=2)
    result = run_module("lambda_alarms", {"suffix": "dev"})
    assert result.failed and "Could not put the fleet's alarms" in result["msg"]
    statuses = [alarm["status"] for alarm in result["alarms"]]
    assert statuses[:2] == ["created", "created"] and set(statuses[2:]) == {"failed"}
    assert result["changed"]
    assert len(record_of(alarms=result)["alarms"]) == 2
