"""Every module that updates functions survives Lambda's update state machine, as a busy real account runs it.

Each update first meets a function another client is updating (LastUpdateStatus InProgress), and then a second
change by that client landing between the module's read and its update (so the RevisionId it read is stale). The
module must wait instead of colliding (no ResourceConflictException reaches the emulator), re-read after
PreconditionFailedException, keep the other client's change, and still make its own. A change by the other
client to a field the module itself changes is never overwritten; a Failed function is never touched; an
environment Lambda cannot decrypt is never written.

Run as optimize.yml runs them, the modules are given lambda_usage_info's entries (lambda_rightsize its `functions`
as `usage`, the others its `fleet` as `functions`), read before the other client started: the first update goes
with the RevisionId read then, without a read of its own, and so meets the update in progress once
(ResourceConflictException); it is not sent again blind, but the next attempt reads the function, waits, and lands.
"""

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import record_trust

from tools import baseline
from tools.emulator_patches import lambda_states

FIRST, SECOND = "deployed by another team", "deployed again by another team"
SECRETS = [{"env": "API_KEY", "value": "state-machine-test-key"}]


@pytest.fixture
def contended(aws):
    """Contend every function of the fleet (see the module docstring); returns the fleet's function names."""
    def contend() -> list:
        lambda_ = aws.client("lambda")
        names = [function["FunctionName"] for function in lambda_.list_functions()["Functions"]]
        for name in names:
            lambda_.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
            lambda_states.begin_update(name, {"Description": FIRST})
            lambda_states.update_before_next(name, {"Description": SECOND})
        return names
    return contend


def settle(aws) -> None:
    """Wait until every function of the fleet is Active with its last update done, as a quiet account has them."""
    lambda_ = aws.client("lambda")
    for function in lambda_.list_functions()["Functions"]:
        for waiter in ("function_active_v2", "function_updated_v2"):
            # No delay: the emulator ends a transition after a number of reads, not of seconds.
            lambda_.get_waiter(waiter).wait(FunctionName=function["FunctionName"],
                                            WaiterConfig={"Delay": 0, "MaxAttempts": 20})


def read_usage(run_module) -> dict:
    """lambda_usage_info's result for the fleet, as optimize.yml's first step reads it."""
    usage = run_module("lambda_usage_info", {"suffix": "dev", "read_roles": True})
    assert not usage.failed, usage.get("msg")
    # Each function read ready for an update: its entry can stand in for a read (api.read_at).
    for entry in usage["functions"]:
        assert entry["configuration"]["state"] in ("Active", "Inactive"), entry["configuration"]
        assert entry["configuration"]["last_update_status"] == "Successful", entry["configuration"]
    return usage


def survived_contention(aws, name: str) -> None:
    """The module's update of `name` waited out the update in progress, met the stale revision, re-read, and won
    without erasing the other client's change."""
    seen = lambda_states.history(name)
    ours = seen[seen.index("updated by another client"):]
    assert "refused ResourceConflictException" not in ours, ours
    first_read = ours.index("read InProgress")
    precondition = ours.index("refused PreconditionFailedException")
    assert ours[precondition - 1] == "updated by another client"
    assert first_read < precondition < ours.index("updated"), ours
    assert aws.client("lambda").get_function_configuration(FunctionName=name)["Description"] == SECOND


def survived_contention_from_a_carried_reading(aws, name: str) -> None:
    """The module's update of `name`, sent first with the RevisionId lambda_usage_info read before the contention,
    met the update in progress once and was not sent again blind: the next attempt read the function, waited the
    update out, and won without erasing the other client's change."""
    seen = lambda_states.history(name)
    ours = seen[seen.index("updated by another client"):]
    # The update in progress, the other client's second change as the first update arrives, its refusal, and then
    # a read before anything else is sent.
    assert ours[:4] == ["updated by another client", "updated by another client",
                        "refused ResourceConflictException", "read InProgress"], ours
    assert ours.count("refused ResourceConflictException") == 1, ours
    assert ours.index("read Successful") < ours.index("updated"), ours
    assert aws.client("lambda").get_function_configuration(FunctionName=name)["Description"] == SECOND


def by_name(entries: list) -> dict:
    return {entry["function_name"]: entry for entry in entries}


def changed(result: dict) -> list:
    return [entry["function_name"] for entry in result["functions"] if entry["status"] == "changed"]


def test_lambda_rightsize(aws, fleet, run_module, contended):
    contended()
    result = run_module("lambda_rightsize", {"suffix": "dev", "memory_size": "auto", "timeout": "auto"})
    assert not result.failed, result.get("msg")
    assert changed(result)
    for name in changed(result):
        survived_contention(aws, name)
        entry = next(entry for entry in result["functions"] if entry["function_name"] == name)
        now = aws.client("lambda").get_function_configuration(FunctionName=name)
        assert (now["MemorySize"], now["Timeout"]) == (entry["after"]["memory_size"], entry["after"]["timeout"])


@pytest.mark.parametrize("module, args", [
    ("lambda_tracing", {"suffix": "dev"}),
    ("lambda_dlq", {"suffix": "dev"}),
    ("lambda_secrets", {"suffix": "dev", "secrets": SECRETS}),
])
def test_hardening_modules(aws, run_module, contended, module, args):
    baseline.provision(aws, "dev")
    contended()
    result = run_module(module, args)
    assert not result.failed, result.get("msg")
    assert len(changed(result)) == 6
    for name in changed(result):
        survived_contention(aws, name)


def test_lambda_rightsize_given_usage_infos_entries(aws, fleet, run_module, contended):
    settle(aws)
    usage = read_usage(run_module)
    contended()
    result = run_module("lambda_rightsize", {"usage": usage["functions"], "memory_size": "auto", "timeout": "auto"})
    assert not result.failed, result.get("msg")
    assert changed(result)
    for name in changed(result):
        survived_contention_from_a_carried_reading(aws, name)
        entry = next(entry for entry in result["functions"] if entry["function_name"] == name)
        now = aws.client("lambda").get_function_configuration(FunctionName=name)
        assert (now["MemorySize"], now["Timeout"]) == (entry["after"]["memory_size"], entry["after"]["timeout"])


@pytest.mark.parametrize("module, args, from_carried_reading", [
    ("lambda_tracing", {"suffix": "dev"}, True),
    ("lambda_dlq", {"suffix": "dev"}, True),
    # An environment is never written from a carried reading (a result never carries the variables): the module
    # reads each function first, and so meets the contention as when it is given only the suffix.
    ("lambda_secrets", {"suffix": "dev", "secrets": SECRETS}, False),
])
def test_hardening_modules_given_usage_infos_entries(aws, run_module, contended, module, args,
                                                      from_carried_reading):
    baseline.provision(aws, "dev")
    settle(aws)
    usage = read_usage(run_module)
    contended()
    result = run_module(module, {**args, "functions": usage["fleet"], "roles": usage["roles"]})
    assert not result.failed, result.get("msg")
    assert len(changed(result)) == 6
    for name in changed(result):
        if from_carried_reading:
            survived_contention_from_a_carried_reading(aws, name)
        else:
            survived_contention(aws, name)


def test_lambda_rollback(aws, run_module, contended):
    baseline.provision(aws, "dev")
    lambda_ = aws.client("lambda")
    names = [function["FunctionName"] for function in lambda_.list_functions()["Functions"]]
    for name in names:  # what a run left: 1024 MB where the baseline had 3008
        lambda_.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
        lambda_.update_function_configuration(FunctionName=name, MemorySize=1024)
    record = record_trust.with_digest({
        "kind": "tap.lambdaopt change record", "schema_version": 2, "mode": "applied",
        "recorded_at": "2026-11-30T12:00:00+00:00", "account_id": "123456789012", "region": "us-east-1",
        "role_policies": [], "alarms": [], "resources": [], "refused": [], "failed": [],
        "changes": [{"function_name": name, "field": "memory_size", "before": 3008, "after": 1024,
                     "module": "tap.lambdaopt.lambda_rightsize", "reason": None} for name in names]})
    for name in names:
        lambda_.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
    contended()
    result = run_module("lambda_rollback", {"record": record})
    assert not result.failed, result.get("msg")
    assert {item["status"] for item in result["items"]} == {"restored"}
    for name in names:
        survived_contention(aws, name)
        assert lambda_.get_function_configuration(FunctionName=name)["MemorySize"] == 3008


def test_a_field_changed_by_someone_else_is_never_overwritten(aws, fleet, run_module):
    planned = run_module("lambda_rightsize", {"suffix": "dev", "memory_size": "auto"}, check=True)
    name = next(entry["function_name"] for entry in planned["functions"] if entry["status"] == "planned")
    lambda_states.update_before_next(name, {"MemorySize": 2048})
    result = run_module("lambda_rightsize", {"suffix": "dev", "memory_size": "auto"})
    assert result.failed and result["failed_functions"] == [name]
    entry = next(entry for entry in result["functions"] if entry["function_name"] == name)
    assert "memory_size is now 2048 (planned from 3008)" in entry["error"]
    assert aws.client("lambda").get_function_configuration(FunctionName=name)["MemorySize"] == 2048
    others = [entry for entry in result["functions"] if entry["function_name"] != name and entry["changes"]]
    assert others and {entry["status"] for entry in others} == {"changed"}


def test_an_update_that_meets_another_begun_since_the_read_is_sent_again_and_overwrites_nothing(aws, run_module):
    baseline.provision(aws, "dev")
    settle(aws)
    # Another client's update begins between the module's read and its update, and is done by the time the
    # update is sent again.
    lambda_states.conflict_before_next("transform-dev", {"Description": SECOND, "Timeout": 42})
    result = run_module("lambda_tracing", {"suffix": "dev"})
    assert not result.failed, result.get("msg")
    assert len(changed(result)) == 6
    seen = lambda_states.history("transform-dev")
    ours = seen[seen.index("updated by another client") - 1:]
    # Sent again with the same RevisionId, without a read in between (CONFLICT_RETRY); refused as stale, then read
    # and sent with the other client's revision.
    assert ours[:6] == ["read Successful", "updated by another client", "refused ResourceConflictException",
                        "refused PreconditionFailedException", "read Successful", "updated"], ours
    now = aws.client("lambda").get_function_configuration(FunctionName="transform-dev")
    assert (now["TracingConfig"]["Mode"], now["Description"], now["Timeout"]) == ("Active", SECOND, 42)


def test_a_failed_function_is_never_touched(aws, run_module):
    baseline.provision(aws, "dev")
    lambda_states.set_state("transform-dev", "Failed", reason="The function's subnet has no free IP addresses.")
    result = run_module("lambda_tracing", {"suffix": "dev"})
    assert result.failed and result["failed_functions"] == ["transform-dev"]
    entry = next(entry for entry in result["functions"] if entry["function_name"] == "transform-dev")
    assert "Failed" in entry["error"] and "no free IP addresses" in entry["error"]
    assert "updated" not in lambda_states.history("transform-dev")
    assert len(changed(result)) == 5


def test_an_environment_lambda_cannot_decrypt_is_never_written(aws, run_module):
    baseline.provision(aws, "dev")
    lambda_states.break_environment("transform-dev")
    args = {"suffix": "dev", "secrets": SECRETS}
    for check in (True, False):
        result = run_module("lambda_secrets", args, check=check)
        assert result.failed and result["failed_functions"] == ["transform-dev"]
        entry = next(entry for entry in result["functions"] if entry["function_name"] == "transform-dev")
        assert "cannot decrypt" in entry["error"] and "KMSAccessDeniedException" in entry["error"]
    assert "updated" not in lambda_states.history("transform-dev")
    assert "Error" in aws.client("lambda").get_function_configuration(FunctionName="transform-dev")["Environment"]



def test_an_inactive_function_is_updated_as_any_other(aws, run_module):
    """A function idle for weeks is Inactive; Lambda still takes its configuration updates (only a Failed one must
    be redeployed first), whether the module reads it or is given lambda_usage_info's entries."""
    baseline.provision(aws, "dev")
    settle(aws)
    lambda_states.set_state("transform-dev", "Inactive", reason="The function is inactive and its VPC connection is "
                                                                 "being recreated.")
    usage = read_usage(run_module)
    assert by_name(usage["functions"])["transform-dev"]["configuration"]["state"] == "Inactive"
    lambda_ = aws.client("lambda")
    for args, mode in (({"functions": usage["fleet"], "roles": usage["roles"]}, "Active"),
                       ({"suffix": "dev", "mode": "PassThrough"}, "PassThrough")):
        result = run_module("lambda_tracing", args)
        assert not result.failed, result.get("msg")
        assert len(changed(result)) == 6
        now = lambda_.get_function_configuration(FunctionName="transform-dev")
        assert (now["State"], now["TracingConfig"]["Mode"]) == ("Inactive", mode)
    assert lambda_states.history("transform-dev").count("updated") == 2


KEY = "API_KEY_SECRET_ARN"
SECRET_ARN, PREVIOUS_ARN = (f"arn:aws:secretsmanager:us-east-1:123456789012:secret:api-key-dev-{tail}"
                            for tail in ("AbCdEf", "GhIjKl"))


def wire_secret(lambda_, names: list, before: dict) -> dict:
    """A change record of lambda_secrets' wiring KEY into `names`, whose variables held `before`, and the functions
    as the run left them."""
    for name in names:
        variables = lambda_.get_function_configuration(FunctionName=name).get("Environment", {}).get("Variables", {})
        lambda_.update_function_configuration(FunctionName=name,
                                              Environment={"Variables": {**variables, KEY: SECRET_ARN}})
        lambda_.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0, "MaxAttempts": 20})
    return record_trust.with_digest({
        "kind": "tap.lambdaopt change record", "schema_version": 2, "mode": "applied",
        "recorded_at": "2026-11-30T12:00:00+00:00", "account_id": "123456789012", "region": "us-east-1",
        "role_policies": [], "alarms": [], "resources": [], "refused": [], "failed": [],
        "changes": [{"function_name": name, "field": "environment", "before": before, "after": {KEY: SECRET_ARN},
                     "module": "tap.lambdaopt.lambda_secrets", "reason": None} for name in names]})


@pytest.mark.parametrize("before, force", [
    # The variable replaced another, and the rollback is told to put it back whatever the function holds now.
    ({KEY: PREVIOUS_ARN}, True),
    # The variable was new (the common case): the function's variables, unknown, are not "unchanged".
    ({}, False),
])
def test_lambda_rollback_never_writes_an_environment_lambda_cannot_decrypt(aws, run_module, before, force):
    baseline.provision(aws, "dev")
    settle(aws)
    lambda_ = aws.client("lambda")
    record = wire_secret(lambda_, ["transform-dev", "webhook-relay-dev"], before)
    lambda_states.break_environment("transform-dev")
    broken_at = len(lambda_states.history("transform-dev"))
    result = run_module("lambda_rollback", {"record": record, "force": force})
    assert "updated" not in lambda_states.history("transform-dev")[broken_at:]
    assert "Error" in lambda_.get_function_configuration(FunctionName="transform-dev")["Environment"]
    items = {item["name"]: item for item in result["items"]}
    assert items["webhook-relay-dev"]["status"] in ("restored", "forced")
    assert lambda_.get_function_configuration(FunctionName="webhook-relay-dev")["Environment"]["Variables"].get(KEY) \
        == before.get(KEY)
    assert result.failed and result["failed_items"] == ["function transform-dev environment"]
    assert items["transform-dev"]["status"] == "failed"
    assert "cannot decrypt" in items["transform-dev"]["error"]
    assert "KMSAccessDeniedException" in items["transform-dev"]["error"]
