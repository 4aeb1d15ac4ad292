"""lambda_provisioned_concurrency against the emulator: the 4-step matrix on the baseline's idle alias, a
saturated alias, report-only runs, removal, refusals, missing functions and bad input."""

import math

import pytest

from tests.collection.conftest import TRAFFIC_SCALE, mutating
from tools import baseline, simulator
from tools.usage_model import alias_hours

AUTO = {"suffix": "dev", "provisioned_concurrency": "auto"}


def allocation(aws, function="api-handler-dev", alias="live"):
    configs = aws.client("lambda").list_provisioned_concurrency_configs(FunctionName=function)
    return {config["FunctionArn"].rsplit(":", 1)[-1]: config["RequestedProvisionedConcurrentExecutions"]
            for config in configs["ProvisionedConcurrencyConfigs"]}.get(alias)


@pytest.fixture
def saturated(aws):
    """The baseline with only 20 provisioned on `live`, then two weeks of traffic that bursts to 85."""
    baseline.provision(aws, "dev")
    aws.client("lambda").put_provisioned_concurrency_config(FunctionName="api-handler-dev", Qualifier="live",
                                                            ProvisionedConcurrentExecutions=20)
    return simulator.simulate_fleet(aws, "dev", traffic_scale=TRAFFIC_SCALE)


def test_four_step_matrix_on_an_idle_alias(aws, fleet, run_module, api_calls):
    checked = run_module("lambda_provisioned_concurrency", AUTO, check=True, diff=True)
    assert checked["changed"] and not checked.failed
    assert mutating(api_calls) == [], "check mode made a mutating call"
    assert allocation(aws) == 150
    (entry,) = checked["aliases"]
    peak = entry["usage"]["peak_provisioned_executions"]
    assert peak == fleet["api-handler-dev"].peak_concurrency  # what the simulator says was used
    planned = math.ceil(peak * 1.2)
    assert (entry["status"], entry["after"]) == ("planned", {"provisioned_concurrency": planned})
    assert checked["diff"] == {"before": {"api-handler-dev:live": {"provisioned_concurrency": 150}},
                               "after": {"api-handler-dev:live": {"provisioned_concurrency": planned}}}
    assert (entry["memory_size"], entry["architecture"]) == (3008, "x86_64")

    applied = run_module("lambda_provisioned_concurrency", AUTO)
    (entry,) = applied["aliases"]
    assert applied["changed"] and (entry["status"], entry["allocation_status"]) == ("changed", "READY")
    assert allocation(aws) == planned
    assert [call[1] for call in mutating(api_calls)] == ["PutProvisionedConcurrencyConfig"]

    del api_calls[:]
    rechecked = run_module("lambda_provisioned_concurrency", AUTO, check=True, diff=True)
    assert not rechecked["changed"] and rechecked["diff"] == {"before": {}, "after": {}}
    reapplied = run_module("lambda_provisioned_concurrency", AUTO)
    assert not reapplied["changed"] and reapplied["aliases"][0]["status"] == "unchanged"
    assert mutating(api_calls) == []


def test_the_lowered_allocation_still_serves_every_simulated_request(aws, fleet, run_module):
    (entry,) = run_module("lambda_provisioned_concurrency", AUTO)["aliases"]
    replay = alias_hours(fleet["api-handler-dev"], entry["after"]["provisioned_concurrency"])
    assert sum(hour.spillover_invocations for hour in replay) == 0
    assert max(hour.max_utilization for hour in replay) < 1


def test_a_saturated_alias_is_reported_and_raised_only_when_allowed(aws, saturated, run_module, api_calls):
    reported = run_module("lambda_provisioned_concurrency", AUTO)
    (entry,) = reported["aliases"]
    assert not reported["changed"] and mutating(api_calls) == []
    assert entry["usage"]["spillover_invocations"] > 0
    (refusal,) = entry["refused"]
    assert refusal["risk"].startswith("spillover") and "raise_on_spillover" in refusal["reason"]
    demand = saturated["api-handler-dev"].peak_concurrency
    assert entry["recommendation"]["provisioned_concurrency"] == math.ceil(demand * 1.2)

    raised = run_module("lambda_provisioned_concurrency", {**AUTO, "raise_on_spillover": True})
    assert raised["changed"] and allocation(aws) == math.ceil(demand * 1.2)
    replay = alias_hours(saturated["api-handler-dev"], allocation(aws))
    assert sum(hour.spillover_invocations for hour in replay) == 0
    # The history still shows the spillover, but the allocation now covers its peak: nothing more to do.
    again = run_module("lambda_provisioned_concurrency", {**AUTO, "raise_on_spillover": True})
    assert not again["changed"]


def test_without_a_request_it_only_recommends(aws, fleet, run_module, api_calls):
    result = run_module("lambda_provisioned_concurrency", {"suffix": "dev"})
    (entry,) = result["aliases"]
    assert not result["changed"] and mutating(api_calls) == []
    assert entry["status"] == "unchanged" and entry["changes"] == [] and entry["refused"] == []
    assert entry["recommendation"]["provisioned_concurrency"] < 150
    assert entry["recommendation"]["reason"].startswith("idle: observed peak use")
    assert allocation(aws) == 150


def test_only_an_explicit_zero_removes_the_allocation(aws, fleet, run_module):
    removed = run_module("lambda_provisioned_concurrency", {"functions": ["api-handler-dev"], "aliases": ["live"],
                                                            "provisioned_concurrency": "0"})
    assert removed["changed"] and removed["aliases"][0]["after"] == {"provisioned_concurrency": 0}
    assert allocation(aws) is None
    again = run_module("lambda_provisioned_concurrency", {"functions": ["api-handler-dev"],
                                                          "provisioned_concurrency": "0"})
    assert not again["changed"] and again["aliases"] == []


def test_an_explicit_value_below_peak_use_is_refused(aws, fleet, run_module):
    result = run_module("lambda_provisioned_concurrency", {"suffix": "dev", "provisioned_concurrency": "10"})
    (entry,) = result["aliases"]
    assert not result["changed"] and not result.failed
    assert entry["refused"][0]["reason"].startswith("10 is below the observed peak use")
    assert allocation(aws) == 150


def test_a_missing_function_fails_the_task_after_the_others_are_done(aws, fleet, run_module):
    result = run_module("lambda_provisioned_concurrency", {"functions": ["api-handler-dev", "gone-dev"],
                                                           "provisioned_concurrency": "auto"})
    assert result.failed and result["failed_aliases"] == ["gone-dev"]
    assert result["aliases"][0]["status"] == "changed" and allocation(aws) < 150


@pytest.mark.parametrize("args, message", [
    ({"provisioned_concurrency": "lots"}, "must be 'auto' or a whole number"),
    ({"provisioned_concurrency": "-1"}, "must be 0 or more"),
    ({"headroom": 0.5}, "headroom must be at least 1"),
    ({"spillover_threshold": 2}, "spillover_threshold must be between 0 and 1"),
    ({"suffix": "Dev"}, "suffix 'Dev' is not valid"),
])
def test_bad_input_fails_before_any_api_call(run_module, api_calls, args, message):
    result = run_module("lambda_provisioned_concurrency", {"suffix": "dev", **args})
    assert result.failed and message in result["msg"]
    assert api_calls == []
