"""lambda_rightsize against the emulator: the 4-step matrix, safety on the simulated fleet,
partial failure and bad input."""

import pytest

from tests.collection.conftest import TRAFFIC_SCALE, mutating
from tools import fleet_view
from tools.usage_model import FunctionConfig, simulate

AUTO = {"memory_size": "auto", "timeout": "auto", "reserved_concurrency": "auto"}


def state(aws):
    return fleet_view.describe(aws, "dev")


def by_name(result):
    return {entry["function_name"]: entry for entry in result["functions"]}


def test_four_step_matrix(aws, fleet, run_module, api_calls):
    baseline_state = state(aws)
    checked = run_module("lambda_rightsize", {"suffix": "dev", **AUTO}, check=True, diff=True)
    assert checked["changed"] and not checked.failed
    assert mutating(api_calls) == [], "check mode made a mutating call"
    assert state(aws) == baseline_state
    planned = {name: entry["after"] for name, entry in by_name(checked).items()}
    assert set(checked["diff"]["after"]) == {name for name, entry in by_name(checked).items() if entry["changes"]}

    applied = run_module("lambda_rightsize", {"suffix": "dev", **AUTO})
    assert applied["changed"] and applied["summary"]["failed"] == 0
    assert {name: entry["after"] for name, entry in by_name(applied).items()} == planned
    updates = [call for call in api_calls if call[1] == "UpdateFunctionConfiguration"]
    assert len(updates) == sum(1 for entry in by_name(applied).values()
                               if {"memory_size", "timeout"} & {change["field"] for change in entry["changes"]})
    after = {function.name: function for function in state(aws)}
    for name, values in planned.items():
        assert (after[name].memory_size, after[name].timeout, after[name].reserved_concurrency) == (
            values["memory_size"], values["timeout"], values["reserved_concurrency"])

    del api_calls[:]
    rechecked = run_module("lambda_rightsize", {"suffix": "dev", **AUTO}, check=True, diff=True)
    assert not rechecked["changed"] and rechecked["diff"] == {"before": {}, "after": {}}
    reapplied = run_module("lambda_rightsize", {"suffix": "dev", **AUTO})
    assert not reapplied["changed"]
    assert mutating(api_calls) == []


def test_simulated_fleet_is_not_put_at_risk(aws, fleet, run_module):
    result = by_name(run_module("lambda_rightsize", {"suffix": "dev", **AUTO}))
    for name, usage in fleet.items():
        after = result[name]["after"]
        replay = simulate(name, usage.profile,
                          FunctionConfig(after["memory_size"], after["timeout"], after["reserved_concurrency"]),
                          end=usage.hours[-1].start + (usage.hours[1].start - usage.hours[0].start),
                          traffic_scale=TRAFFIC_SCALE)
        assert not replay.out_of_memory, f"{name} runs out of memory at {after}"
        assert not replay.timeouts, f"{name} times out at {after}"
        assert not replay.throttles, f"{name} is throttled at {after}"
    rare = result["nightly-cleanup-dev"]
    assert rare["after"] == rare["before"] and rare["status"] == "unchanged"
    assert all("insufficient data" in refusal["reason"] for refusal in rare["refused"])
    steady = result["transform-dev"]
    assert steady["after"]["memory_size"] <= 256 and steady["after"]["timeout"] <= 30


def test_seed_targets_pass_only_where_usage_allows(aws, fleet, run_module):
    result = run_module("lambda_rightsize", {"suffix": "dev", "memory_size": "1024", "timeout": "30",
                                             "reserved_concurrency": "50"})
    entries = by_name(result)
    refused = {(name, refusal["field"]) for name, entry in entries.items() for refusal in entry["refused"]}
    assert ("batch-processor-dev", "memory_size") in refused  # uses 2.6 GB
    assert ("api-handler-dev", "reserved_concurrency") in refused  # bursts to 85
    assert entries["batch-processor-dev"]["after"]["memory_size"] == 3008
    assert entries["transform-dev"]["after"] == {"memory_size": 1024, "timeout": 30, "reserved_concurrency": 50}
    risks = {refusal["risk"] for entry in entries.values() for refusal in entry["refused"]}
    assert {"out of memory", "throttling"} <= risks


def test_allow_unsafe_applies_an_explicit_value_despite_the_guard(aws, fleet, run_module):
    result = by_name(run_module("lambda_rightsize", {"functions": ["batch-processor-dev"], "memory_size": "1024",
                                                     "allow_unsafe": True}))
    change = result["batch-processor-dev"]["changes"][0]
    assert change["after"] == 1024 and change["risk"] == "out of memory"


def test_the_unreserved_pool_keeps_its_floor(aws, fleet, run_module):
    # Without the baseline's provisioned concurrency, which holds 150 of the pool outside any reservation.
    aws.client("lambda").delete_provisioned_concurrency_config(FunctionName="api-handler-dev", Qualifier="live")
    result = by_name(run_module("lambda_rightsize", {"suffix": "dev", "reserved_concurrency": "300",
                                                     "allow_unsafe": True}))
    reserved = [name for name, entry in result.items() if entry["after"]["reserved_concurrency"] == 300]
    assert len(reserved) == 3  # 1000 - 3 x 300 = 100 unreserved
    assert aws.client("lambda").get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 100
    floor_refusals = [entry for entry in result.values()
                      if any("below its floor" in refusal["reason"] for refusal in entry["refused"])]
    assert len(floor_refusals) == 3


def test_a_function_that_fails_mid_run_does_not_stop_the_others(aws, fleet, run_module):
    usage = run_module("lambda_usage_info", {"suffix": "dev"})
    aws.client("lambda").delete_function(FunctionName="transform-dev")
    result = run_module("lambda_rightsize", {"functions": usage["functions"], "usage": usage["functions"], **AUTO})
    assert result.failed and "transform-dev" in result["msg"]
    assert result["failed_functions"] == ["transform-dev"]
    assert by_name(result)["signature-verifier-dev"]["status"] == "changed"
    assert aws.client("lambda").get_function_configuration(FunctionName="webhook-relay-dev")["MemorySize"] < 3008


def lambda_refuses(monkeypatch, refused_operation: str, function_name: str) -> None:
    """Lambda answers `refused_operation` on `function_name` with InvalidParameterValueException."""
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError
    original = BaseClient._make_api_call

    def refuse(client, operation, params):
        if operation == refused_operation and params["FunctionName"] == function_name:
            raise ClientError({"Error": {"Code": "InvalidParameterValueException", "Message": "refused"}}, operation)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", refuse)


def test_an_update_refused_by_lambda_fails_only_that_function(aws, fleet, run_module, monkeypatch):
    lambda_refuses(monkeypatch, "UpdateFunctionConfiguration", "webhook-relay-dev")
    result = run_module("lambda_rightsize", {"suffix": "dev", "memory_size": "auto"})
    assert result.failed and result["failed_functions"] == ["webhook-relay-dev"]
    entries = by_name(result)
    assert "refused" in entries["webhook-relay-dev"]["error"]
    assert entries["transform-dev"]["status"] == "changed"


def test_unknown_suffix_finds_nothing_and_says_so(aws, run_module):
    result = run_module("lambda_rightsize", {"suffix": "nosuch", **AUTO})
    assert not result.failed and not result["changed"] and result["functions"] == []
    assert "no functions matched the selection" in str(result["warnings"])


@pytest.mark.parametrize("args, message", [
    ({"memory_size": "64"}, "memory_size must be between 128 and 10240"),
    ({"memory_size": "10241"}, "memory_size must be between 128 and 10240"),
    ({"memory_size": "lots"}, "memory_size must be 'auto' or a whole number"),
    ({"timeout": "0"}, "timeout must be between 1 and 900"),
    ({"timeout": "901"}, "timeout must be between 1 and 900"),
    ({"reserved_concurrency": "-1"}, "reserved_concurrency must be 0 or more"),
    ({"memory_headroom": 0.5}, "memory_headroom must be at least 1"),
    ({"requests_per_second": 50}, "requests_per_second must be above 0 and at most 15"),
])
def test_bad_input_fails_before_any_api_call(aws, run_module, api_calls, args, message):
    result = run_module("lambda_rightsize", {"suffix": "dev", **args})
    assert result.failed and message in result["msg"]
    assert api_calls == []


def test_bad_fleet_selection_fails_before_any_api_call(aws, run_module, api_calls):
    result = run_module("lambda_rightsize", {"suffix": "Dev!", "memory_size": "auto"})
    assert result.failed and "suffix 'Dev!' is not valid" in result["msg"]
    result = run_module("lambda_rightsize", {"functions": [{"name": "x"}], "memory_size": "auto"})
    assert result.failed and "neither a function name" in result["msg"]
    assert api_calls == []


def test_throttling_is_retried_with_backoff(aws, fleet, run_module, monkeypatch):
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError
    original = BaseClient._make_api_call
    throttled = []

    def throttle_first_update(client, operation, params):
        if operation == "UpdateFunctionConfiguration" and not throttled:
            throttled.append(params["FunctionName"])
            raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, operation)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", throttle_first_update)
    result = run_module("lambda_rightsize", {"suffix": "dev", "memory_size": "auto"})
    assert not result.failed and throttled
    assert by_name(result)[throttled[0]]["status"] == "changed"


def test_a_reservation_covers_the_provisioned_concurrency(aws, fleet, run_module):
    """The API handler peaked at 85, but its alias holds 150 provisioned: Lambda refuses a reservation below it."""
    result = by_name(run_module("lambda_rightsize", {"suffix": "dev", "reserved_concurrency": "auto"}))
    handler = result["api-handler-dev"]
    assert handler["status"] == "changed" and handler["after"]["reserved_concurrency"] == 150
    assert aws.client("lambda").get_function_concurrency(FunctionName="api-handler-dev")[
        "ReservedConcurrentExecutions"] == 150
    forced = by_name(run_module("lambda_rightsize", {"functions": ["api-handler-dev"], "reserved_concurrency": "100",
                                                     "allow_unsafe": True}))
    assert "150 provisioned" in forced["api-handler-dev"]["refused"][0]["reason"]


def test_a_reservation_lambda_refuses_leaves_the_function_unchanged(aws, fleet, run_module, monkeypatch):
    lambda_refuses(monkeypatch, "PutFunctionConcurrency", "transform-dev")
    result = run_module("lambda_rightsize", {"suffix": "dev", **AUTO})
    assert result.failed and result["failed_functions"] == ["transform-dev"]
    planned = {change["field"] for change in by_name(result)["transform-dev"]["changes"]}
    assert {"memory_size", "reserved_concurrency"} <= planned
    now = aws.client("lambda").get_function_configuration(FunctionName="transform-dev")
    assert (now["MemorySize"], now["Timeout"]) == (3008, 300)
