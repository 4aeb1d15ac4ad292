"""Reservations are a budget taken from the account's unreserved pool, not a floor: they leave every function without
a reservation - the fleet's and everyone else's - what it used at peak, times the headroom."""

from datetime import UTC, datetime, timedelta

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils.concurrency_budget import budget_of

from tests.collection.conftest import mutating
from tools import baseline, simulator

AUTO = {"memory_size": "auto", "timeout": "auto", "reserved_concurrency": "auto"}


def publish_unreserved_peak(aws, peak: float) -> None:
    """What the rest of the account's functions without a reservation used at once, account-wide (no dimension),
    as AWS/Lambda publishes it: one point an hour for the last day."""
    now = datetime.now(UTC)
    aws.client("cloudwatch").put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": "UnreservedConcurrentExecutions", "Timestamp": now - timedelta(hours=hour),
         "Value": peak if hour == 5 else peak / 3} for hour in range(1, 24)])


def unreserved_now(aws) -> int:
    return aws.client("lambda").get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]


@pytest.mark.parametrize("peak, account_floor, keep", [(None, 100, 100), (50, 100, 100), (200, 100, 240)])
def test_the_budget_is_the_larger_of_the_floor_and_the_peak_with_headroom(peak, account_floor, keep):
    assert budget_of(account_floor, peak, 1.2).floor == keep


def test_reservations_leave_the_rest_of_the_account_its_peak(aws, fleet, run_module):
    # x 1.2 = 846 to keep, of the 850 the API handler's provisioned alias leaves: room for two of the four
    # reservations of 2 the quiet functions want (the API handler's covers what its alias holds already).
    publish_unreserved_peak(aws, 705)
    result = run_module("lambda_rightsize", {"suffix": "dev", "reserved_concurrency": "auto"})
    assert not result.failed, result.get("msg")
    assert result["concurrency_budget"]["keep_unreserved"] == 846
    assert result["concurrency_budget"]["unreserved_peak"] == 705
    assert unreserved_now(aws) == 846
    starved = [entry["function_name"] for entry in result["functions"] for refusal in entry["refused"]
               if "the 846 that functions without a reservation need" in refusal["reason"]]
    assert len(starved) == 2, [entry["refused"] for entry in result["functions"]]


def test_without_add_reservations_only_existing_ones_are_adjusted(aws, fleet, run_module):
    lambda_ = aws.client("lambda")
    lambda_.put_function_concurrency(FunctionName="transform-dev", ReservedConcurrentExecutions=400)
    result = run_module("lambda_rightsize", {"suffix": "dev", "reserved_concurrency": "auto",
                                             "add_reservations": False})
    after = {entry["function_name"]: entry["after"]["reserved_concurrency"] for entry in result["functions"]}
    assert after.pop("transform-dev") < 400
    assert set(after.values()) == {None}


def test_one_run_converges_on_a_fleet_that_wants_more_than_the_pool(aws, run_module, api_calls):
    baseline.provision(aws, "dev", synthetic=60)
    simulator.simulate_fleet(aws, "dev", traffic_scale=0.1)
    publish_unreserved_peak(aws, 300)  # the rest of the account: 360 to keep
    checked = run_module("lambda_rightsize", {"suffix": "dev", **AUTO}, check=True)
    wanted = sum(change["after"] for entry in checked["functions"] for change in entry["changes"]
                 if change["field"] == "reserved_concurrency")
    refused = [entry for entry in checked["functions"]
               if any(refusal["field"] == "reserved_concurrency" for refusal in entry["refused"])]
    assert refused, "the fleet must want more than the pool can give"

    first = run_module("lambda_rightsize", {"suffix": "dev", **AUTO})
    assert not first.failed, first.get("msg")
    assert unreserved_now(aws) >= 360
    assert sum(entry["after"]["reserved_concurrency"] or 0 for entry in first["functions"]) == wanted

    del api_calls[:]
    second = run_module("lambda_rightsize", {"suffix": "dev", **AUTO})
    assert not second["changed"], [entry["changes"] for entry in second["functions"] if entry["changes"]]
    assert mutating(api_calls) == []


def test_a_provisioned_concurrency_raise_leaves_the_rest_of_the_account_its_peak(aws, fleet, run_module):
    publish_unreserved_peak(aws, 700)  # x 1.2 = 840 to keep, of the 850 unreserved
    result = run_module("lambda_provisioned_concurrency", {"suffix": "dev", "provisioned_concurrency": "300",
                                                           "allow_unsafe": True})
    [alias] = result["aliases"]
    assert alias["status"] == "unchanged"
    assert "the 840 that functions without a reservation need" in alias["refused"][0]["reason"]
    assert unreserved_now(aws) == 850
