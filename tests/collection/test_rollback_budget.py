"""lambda_rollback keeps the account's concurrency budget as the optimizing modules do: a reservation or an allocation
put back that would leave the rest of the account's unreserved pool below its peak x headroom is refused, naming the
budget, with force or without and in check mode alike; one the pool has room for is put back; a decrease always goes,
and frees room for the raises after it."""

import pytest
import yaml
from ansible_collections.tap.lambdaopt.plugins.module_utils import record_trust
from ansible_collections.tap.lambdaopt.plugins.module_utils import rollback as plan
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.concurrency import SOURCE
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import ConcurrencyPool
from ansible_collections.tap.lambdaopt.plugins.modules import lambda_rollback

from tests.collection.conftest import mutating
from tests.collection.test_concurrency_budget import publish_unreserved_peak, unreserved_now

RIGHTSIZE = "tap.lambdaopt.lambda_rightsize"
PROVISIONED = "tap.lambdaopt.lambda_provisioned_concurrency"


def record_of(*changes: dict) -> dict:
    return record_trust.with_digest({
        "schema_version": 2, "kind": "tap.lambdaopt change record", "mode": "applied",
        "recorded_at": "2026-11-30T20:00:00+00:00", "account_id": "123456789012", "region": "us-east-1",
        "changes": list(changes), "role_policies": [], "alarms": [], "resources": [], "refused": [], "failed": []})


def reservation(name: str, before, after) -> dict:
    return {"function_name": name, "field": "reserved_concurrency", "before": before, "after": after,
            "module": RIGHTSIZE, "reason": None}


def allocation(name: str, before: int, after: int) -> dict:
    return {"function_name": name, "qualifier": "live", "field": "provisioned_concurrency", "before": before,
            "after": after, "module": PROVISIONED, "reason": None}


def reserved(aws, name: str):
    return aws.client("lambda").get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")


def provisioned(aws, name: str) -> int:
    return aws.client("lambda").get_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live")["RequestedProvisionedConcurrentExecutions"]


@pytest.fixture
def lowered_reservation(aws, make_function):
    """The run lowered transform-dev's reservation from 400 to 50: 950 of the account's 1,000 are unreserved, and
    putting the 400 back takes 350 of them."""
    make_function("transform-dev", active=True)
    aws.client("lambda").put_function_concurrency(FunctionName="transform-dev", ReservedConcurrentExecutions=50)
    assert unreserved_now(aws) == 950
    return record_of(reservation("transform-dev", 400, 50))


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("check", [False, True])
def test_a_reservation_put_back_is_refused_while_the_rest_of_the_account_peaks_near_the_limit(
        aws, lowered_reservation, run_module, api_calls, check, force):
    publish_unreserved_peak(aws, 705)  # x 1.2 = 846 to keep: 600 would be left
    del api_calls[:]
    result = run_module("lambda_rollback", {"record": lowered_reservation, "force": force}, check=check)
    assert not result.failed and not result["changed"], result.get("msg")
    [item] = result["items"]
    assert item["status"] == "refused" and result["summary"] == {"refused": 1}
    assert item["reason"].startswith("putting back the reservation of 400 would take 350 from the account's "
                                     "unreserved pool and leave 600 unreserved, below the 846 that functions without "
                                     "a reservation need (their account-wide peak of 705 x headroom 1.2)"), item
    assert result["concurrency_budget"]["keep_unreserved"] == 846
    assert result["failed_items"] == []
    assert mutating(api_calls) == []
    assert reserved(aws, "transform-dev") == 50 and unreserved_now(aws) == 950


def test_a_reservation_the_pool_has_room_for_is_put_back(aws, lowered_reservation, run_module):
    publish_unreserved_peak(aws, 400)  # x 1.2 = 480 to keep: 600 is left
    planned = run_module("lambda_rollback", {"record": lowered_reservation}, check=True)
    assert planned["changed"] and planned["summary"] == {"planned": 1}
    result = run_module("lambda_rollback", {"record": lowered_reservation})
    assert not result.failed, result.get("msg")
    assert result["summary"] == {"restored": 1} and result["concurrency_budget"]["keep_unreserved"] == 480
    assert reserved(aws, "transform-dev") == 400 and unreserved_now(aws) == 600
    again = run_module("lambda_rollback", {"record": lowered_reservation})
    assert not again["changed"] and again["summary"] == {"unchanged": 1}


def test_the_headroom_option_sets_the_budget(aws, lowered_reservation, run_module):
    publish_unreserved_peak(aws, 400)  # x 1.6 = 640 to keep: the 600 left is not enough
    result = run_module("lambda_rollback", {"record": lowered_reservation, "concurrency_headroom": 1.6})
    [item] = result["items"]
    assert item["status"] == "refused" and "the 640 that functions without a reservation need" in item["reason"]
    assert reserved(aws, "transform-dev") == 50


def test_a_decrease_always_goes_without_reading_the_budget(aws, make_function, run_module, api_calls):
    make_function("transform-dev", active=True)
    aws.client("lambda").put_function_concurrency(FunctionName="transform-dev", ReservedConcurrentExecutions=400)
    publish_unreserved_peak(aws, 900)  # x 1.2 = 1,080: more than the whole account, no raise would fit
    del api_calls[:]
    result = run_module("lambda_rollback", {"record": record_of(reservation("transform-dev", 20, 400))})
    assert not result.failed and result["summary"] == {"restored": 1}, result.get("msg")
    assert result["concurrency_budget"] is None and ("cloudwatch", "GetMetricData") not in api_calls
    assert reserved(aws, "transform-dev") == 20


def test_a_decrease_frees_the_room_a_raise_needs(aws, make_function, run_module, api_calls):
    """The run raised zulu-dev's reservation from 100 to 400 and lowered api-dev's from 400 to 100: 500 unreserved.
    The rest of the account keeps 420; api-dev's 300 fit only in what zulu-dev's decrease gives back."""
    for name, now in (("api-dev", 100), ("zulu-dev", 400)):
        make_function(name, active=True)
        aws.client("lambda").put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=now)
    publish_unreserved_peak(aws, 350)
    record = record_of(reservation("api-dev", 400, 100), reservation("zulu-dev", 100, 400))
    planned = run_module("lambda_rollback", {"record": record}, check=True)
    assert planned["summary"] == {"planned": 2}, planned["items"]
    del api_calls[:]
    result = run_module("lambda_rollback", {"record": record})
    assert not result.failed and result["summary"] == {"restored": 2}, result["items"]
    assert (reserved(aws, "api-dev"), reserved(aws, "zulu-dev")) == (400, 100)
    # The decrease is applied first, and the account's settings are read again before the raise.
    assert [call[1] for call in api_calls if call[1] in ("PutFunctionConcurrency", "GetAccountSettings")] == [
        "GetAccountSettings", "PutFunctionConcurrency", "GetAccountSettings", "PutFunctionConcurrency"]


@pytest.fixture
def lowered_allocation(aws, make_function):
    """The run lowered the `live` alias of api-handler-dev, which has no reservation, from 150 to 50: 950 unreserved,
    and putting 150 back takes 100 of them."""
    lambda_ = aws.client("lambda")
    make_function("api-handler-dev", active=True)
    version = lambda_.publish_version(FunctionName="api-handler-dev")["Version"]
    lambda_.create_alias(FunctionName="api-handler-dev", Name="live", FunctionVersion=version)
    lambda_.put_provisioned_concurrency_config(FunctionName="api-handler-dev", Qualifier="live",
                                               ProvisionedConcurrentExecutions=50)
    assert unreserved_now(aws) == 950
    return record_of(allocation("api-handler-dev", 150, 50))


def test_an_allocation_raised_back_on_a_function_without_a_reservation_keeps_the_budget(aws, lowered_allocation,
                                                                                       run_module):
    publish_unreserved_peak(aws, 720)  # x 1.2 = 864 to keep: 850 would be left
    result = run_module("lambda_rollback", {"record": lowered_allocation, "force": True})
    [item] = result["items"]
    assert item["status"] == "refused", item
    assert item["reason"].startswith("putting back 150 provisioned concurrency would take 100 from the account's "
                                     "unreserved pool and leave 850 unreserved, below the 864"), item
    assert provisioned(aws, "api-handler-dev") == 50


def test_an_allocation_its_functions_reservation_covers_takes_nothing_from_the_pool(aws, lowered_allocation,
                                                                                   run_module):
    aws.client("lambda").put_function_concurrency(FunctionName="api-handler-dev", ReservedConcurrentExecutions=200)
    publish_unreserved_peak(aws, 720)  # 864 to keep, more than the 800 unreserved: no raise from the pool would fit
    result = run_module("lambda_rollback", {"record": lowered_allocation})
    assert not result.failed and result["summary"] == {"restored": 1}, result["items"]
    assert provisioned(aws, "api-handler-dev") == 150 and unreserved_now(aws) == 800


def deleted_before(monkeypatch, aws, operation: str, function_name: str) -> None:
    """`function_name` is deleted just before the first `operation` on it: between the rollback's reads."""
    from botocore.client import BaseClient
    original, lambda_ = BaseClient._make_api_call, aws.client("lambda")

    def delete_first(client, called, params):
        if called == operation and params.get("FunctionName") == function_name:
            monkeypatch.setattr(BaseClient, "_make_api_call", original)
            lambda_.delete_function(FunctionName=function_name)
        return original(client, called, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", delete_first)


@pytest.mark.parametrize("check", [False, True])
def test_a_function_deleted_while_its_reservation_is_read_is_missing(aws, lowered_reservation, run_module,
                                                                     monkeypatch, check):
    """Its settings were read, then it was deleted before its allocations were listed: every item of it is missing,
    and the rest of the rollback goes on."""
    record = record_of(reservation("transform-dev", 400, 50),
                       {"function_name": "transform-dev", "field": "memory_size", "before": 1024, "after": 128,
                        "module": RIGHTSIZE, "reason": None})
    deleted_before(monkeypatch, aws, "ListProvisionedConcurrencyConfigs", "transform-dev")
    result = run_module("lambda_rollback", {"record": record}, check=check)
    assert not result.failed and not result["changed"], result.get("msg")
    assert [(item["field"], item["status"], item["current"]) for item in result["items"]] == [
        ("reserved_concurrency", "missing", None), ("memory_size", "missing", None)]
    assert result["concurrency_budget"] is None and result["failed_items"] == []


def test_a_function_deleted_before_its_reservation_is_read_is_missing(aws, lowered_allocation, run_module,
                                                                      monkeypatch):
    """Only its allocation was recorded: its reservation is read for the budget, and it was deleted by then."""
    deleted_before(monkeypatch, aws, "GetFunction", "api-handler-dev")
    result = run_module("lambda_rollback", {"record": lowered_allocation})
    assert not result.failed and not result["changed"], result.get("msg")
    [item] = result["items"]
    assert (item["name"], item["status"]) == ("api-handler-dev:live", "missing"), item
    assert result["summary"] == {"missing": 1}


def planned(change: dict, current) -> plan.PlanItem:
    name = change["function_name"] + (f":{change['qualifier']}" if "qualifier" in change else "")
    return plan.item("function", name, change["field"], change["before"], change["after"], current, plan.RESTORE)


@pytest.mark.parametrize("floor, statuses", [(300, (plan.RESTORE, plan.RESTORE)), (351, (plan.RESTORE, "refused"))])
def test_an_allocation_raised_back_where_the_reservation_goes_takes_from_the_pool(floor, statuses):
    """The run reserved 200 for a function and lowered its alias from 150 to 102. Put back, the reservation gives
    the pool 98 (200 less the 102 provisioned, which then draw on the pool), and the alias's 48 come from the pool,
    which a pool of 300 can give only while it must keep 350 at most."""
    removed = planned(reservation("api-dev", None, 200), 200)
    raised = planned(allocation("api-dev", 150, 102), 102)
    pool = ConcurrencyPool(unreserved=300, floor=floor, floor_reason=f"the {floor} to keep")
    plan.plan_budget([raised, removed], {"api-dev": plan.FunctionConcurrency(200, {"live": 102})}, pool)
    assert (removed.decision, raised.decision) == statuses
    assert removed.takes == -98
    if raised.decision == plan.RESTORE:
        assert raised.takes == 48 and pool.unreserved == 350
    else:
        assert raised.entry["reason"].startswith("putting back 150 provisioned concurrency would take 48 from the "
                                                 "account's unreserved pool and leave 350 unreserved, below the 351")
        assert pool.unreserved == 398


@pytest.mark.parametrize("args, message", [({"concurrency_headroom": 0.5}, "concurrency_headroom must be at least 1"),
                                           ({"unreserved_floor": -1}, "unreserved_floor is out of range"),
                                           ({"lookback_days": 0}, "lookback_days must be between 1 and")])
def test_bad_budget_options_fail_before_any_call(run_module, api_calls, args, message):
    result = run_module("lambda_rollback", {"record": record_of(reservation("transform-dev", 400, 50)), **args})
    assert result.failed and message in result["msg"], result.get("msg")
    assert api_calls == []


def test_the_documented_budget_names_the_source_it_is_read_from():
    assert yaml.safe_load(lambda_rollback.RETURN)["concurrency_budget"]["sample"]["source"] == SOURCE
