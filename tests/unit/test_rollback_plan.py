"""Rollback decisions without AWS: restore only what is still as the run left it."""

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import rollback
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import ConcurrencyPool


@pytest.mark.parametrize("current, force, decision", [
    (3008, False, "unchanged"),  # already back
    (128, False, "restore"),  # as the run left it
    (256, False, "drifted"),  # changed by hand since: kept
    (256, True, "force"),
])
def test_decide(current, force, decision):
    assert rollback.decide(current, 3008, 128, force) == decision


def test_the_environment_loses_only_the_variables_the_run_added():
    change = {"before": {"API_KEY_SECRET_ARN": "arn:old"}, "after": {"API_KEY_SECRET_ARN": "arn:new",
                                                                     "DATABASE_URL_SECRET_ARN": "arn:db"}}
    now = {"LOG_LEVEL": "info", "API_KEY_SECRET_ARN": "arn:new", "DATABASE_URL_SECRET_ARN": "arn:db"}
    assert rollback.managed_environment(now, change) == change["after"]
    assert rollback.restored_environment(now, change) == {"LOG_LEVEL": "info", "API_KEY_SECRET_ARN": "arn:old"}


def test_a_removed_dead_letter_target_is_put_back_as_none():
    changes = [{"function_name": "f-dev", "field": "dead_letter_target", "before": None, "after": "arn:aws:sqs:q"}]
    items, work = rollback.plan_functions(changes, {"f-dev": {"dead_letter_target": "arn:aws:sqs:q",
                                                              "environment": {}}}, force=False)
    assert work == {"f-dev": {"dead_letter_target": ""}} and items[0].decision == "restore"
    assert "decision" not in items[0].entry  # the decision is the plan's; the result shows the status


PROVISIONED = {"billing_mode": "PROVISIONED", "read_capacity": 100, "write_capacity": 100}
LOWERED = {"billing_mode": "PROVISIONED", "read_capacity": 7, "write_capacity": 4}
ON_DEMAND = {"billing_mode": "PAY_PER_REQUEST", "read_capacity": None, "write_capacity": None}


@pytest.mark.parametrize("now, force, decision", [
    (102, False, "restore"), (150, False, "unchanged"), (120, False, "drifted"), (120, True, "force"),
    (0, False, "drifted"),  # removed by hand since: kept
])
def test_provisioned_concurrency_is_put_back_only_where_the_run_left_it(now, force, decision):
    changes = [{"function_name": "api-dev", "qualifier": "live", "field": "provisioned_concurrency", "before": 150,
                "after": 102},
               {"function_name": "api-dev", "field": "memory_size", "before": 3008, "after": 128}]
    (item,) = rollback.settle_decisions(rollback.plan_provisioned(changes, {("api-dev", "live"): now}), force)
    assert (item.entry["kind"], item.entry["name"], item.decision) == ("alias", "api-dev:live", decision)


def test_an_alias_whose_function_is_gone_is_missing():
    change = {"function_name": "api-dev", "qualifier": "live", "field": "provisioned_concurrency", "before": 150,
              "after": 102}
    (item,) = rollback.settle_decisions(rollback.plan_provisioned([change], {}), force=True)
    assert item.decision == "missing"


@pytest.mark.parametrize("now, decision", [
    (LOWERED, "restore"), (PROVISIONED, "unchanged"), (ON_DEMAND, "drifted"),
])
def test_a_table_is_put_back_as_a_whole(now, decision):
    record = [{"table_name": "data-dev", "before": PROVISIONED, "after": LOWERED}]
    (item,) = rollback.settle_decisions(rollback.plan_tables(record, {"data-dev": now}), force=False)
    assert (item.entry["kind"], item.entry["field"], item.decision) == ("table", "throughput", decision)


RETENTION = {"function_name": "api-dev", "field": "log_retention_days", "before": None, "after": 7,
             "log_group_name": "/aws/lambda/api-dev"}


@pytest.mark.parametrize("owners, decision", [
    ({"api-dev": "/aws/lambda/api-dev"}, "restore"),
    ({}, "restore"),  # the function is gone; its default group is still its own
    ({"api-dev": "team-logs"}, "kept"),  # it logs elsewhere now
])
def test_a_log_group_is_changed_only_while_the_function_logs_to_it(owners, decision):
    (item,) = rollback.plan_retention([RETENTION], {"/aws/lambda/api-dev": 7}, True, owners)
    assert item.decision == decision


def test_a_group_the_function_never_logged_to_is_kept_whatever_force_says():
    change = {**RETENTION, "log_group_name": "/aws/cloudtrail/audit", "before": 1, "after": 3653}
    (item,) = rollback.plan_retention([change], {"/aws/cloudtrail/audit": 3653}, True,
                                      {"api-dev": "/aws/lambda/api-dev"})
    assert item.decision == "kept"
    assert item.entry["reason"].startswith("api-dev logs to /aws/lambda/api-dev, not to this group")


VERSION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:api-dev:{}"
OLD = {"function_version": "3", "additional_version_weights": {}}
CANARY_WEIGHT = {"function_version": "3", "additional_version_weights": {"4": 0.1}}
PROMOTED = {"function_version": "4", "additional_version_weights": {}}
MOVED = {"function_name": "api-dev", "alias_name": "live", "before": OLD, "after": PROMOTED,
         "module": "tap.lambdaopt.lambda_canary"}
CREATED = {"kind": "lambda_version", "name": "api-dev", "arn": VERSION_ARN.format(4), "change": "created",
           "module": "tap.lambdaopt.lambda_canary"}


@pytest.mark.parametrize("now, force, decision", [
    (PROMOTED, False, "restore"), (OLD, False, "unchanged"), (CANARY_WEIGHT, False, "drifted"),
    (CANARY_WEIGHT, True, "force")])
def test_an_alias_is_put_back_only_where_it_holds_what_the_canary_left(now, force, decision):
    [planned] = rollback.plan_aliases([MOVED], {("api-dev", "live"): now}, force)
    assert (planned.entry["name"], planned.entry["field"], planned.decision) == ("api-dev:live", "routing", decision)
    assert rollback.plan_aliases([MOVED], {}, force)[0].decision == "missing"


def test_a_canarys_version_is_deleted_only_where_no_alias_serves_it_once_the_aliases_are_back():
    aliases = rollback.plan_aliases([MOVED], {("api-dev", "live"): PROMOTED}, False)
    routings = {"api-dev": {"live": PROMOTED, "beta": OLD}}
    [version] = rollback.plan_versions([CREATED], {"api-dev": {"3", "4"}}, routings, aliases)
    assert (version.entry["name"], version.decision) == ("api-dev:4", "restore")
    # another alias serves it too: it stays, saying which
    [served] = rollback.plan_versions([CREATED], {"api-dev": {"3", "4"}},
                                      {"api-dev": {**routings["api-dev"], "beta": CANARY_WEIGHT}}, aliases)
    assert served.decision == "kept" and "alias beta serves it" in served.entry["reason"]
    # the alias drifted, or its update failed: it still serves the version
    drifted = rollback.plan_aliases([MOVED], {("api-dev", "live"): CANARY_WEIGHT}, False)
    assert rollback.plan_versions([CREATED], {"api-dev": {"3", "4"}},
                                  {"api-dev": {"live": CANARY_WEIGHT}}, drifted)[0].decision == "kept"
    aliases[0].entry["status"] = "failed"
    assert rollback.plan_versions([CREATED], {"api-dev": {"3", "4"}}, routings, aliases)[0].decision == "kept"
    # already gone, or the function is
    assert rollback.plan_versions([CREATED], {"api-dev": {"3"}}, routings, aliases)[0].decision == "unchanged"
    assert rollback.plan_versions([CREATED], {}, {}, aliases)[0].decision == "unchanged"


def test_a_deleted_or_interrupted_version_is_never_deleted_and_queues_are_not_versions():
    deleted = {**CREATED, "change": "deleted"}
    interrupted = {**CREATED, "arn": "arn:aws:lambda:us-east-1:123456789012:function:api-dev", "change": "interrupted"}
    planned = rollback.plan_versions([deleted, interrupted], {"api-dev": {"4"}}, {}, [])
    assert [(item.entry["name"], item.decision) for item in planned] == [("api-dev:4", "unchanged"),
                                                                         ("api-dev:?", "kept")]
    assert rollback.plan_resources([CREATED]) == []
    assert rollback.outside_suffix({"changes": [], "alarms": [], "aliases": [MOVED], "resources": [CREATED]},
                                   "prod") == ["function api-dev"]


def reservation_and_allocation(reservation: int, allocation: int, provisioned: int) -> tuple:
    """api-dev, which has no reservation and `provisioned` on its `live` alias: the run removed its reservation of
    `reservation` and lowered `live` from `allocation`. Both are planned back against a pool with room for all."""
    reserved = rollback.item("function", "api-dev", "reserved_concurrency", reservation, None, None, "restore")
    allocated = rollback.item("alias", "api-dev:live", "provisioned_concurrency", allocation, provisioned,
                              provisioned, "restore")
    held = {"api-dev": rollback.FunctionConcurrency(None, {"live": provisioned})}
    rollback.plan_budget([reserved, allocated], dict(held), ConcurrencyPool(1000, 100))
    return reserved, allocated, held


@pytest.mark.parametrize("spare, statuses", [
    (20, ("refused", "refused")),
    (35, ("refused", "restore")),  # the allocation's 30 fit; the reservation's 10 after them do not
    (40, ("restore", "restore")),
])
def test_a_reservation_planned_after_its_functions_allocation_takes_what_the_allocation_no_longer_does(spare,
                                                                                                      statuses):
    """Planned, the allocation took 30 (20 -> 50) and the reservation of 60 the 10 left (60 - 50). Checked again
    against a pool that lost room meanwhile, the reservation alone would take 40 (60 - 20): a refused allocation must
    not leave it at its planned 10."""
    reserved, allocated, held = reservation_and_allocation(60, 50, 20)
    assert (allocated.takes, reserved.takes) == (30, 10)
    pool = ConcurrencyPool(100 + spare, 100, "the 100 to keep")
    refused = rollback.refit([reserved, allocated], held, pool)
    assert (reserved.decision, allocated.decision) == statuses
    assert pool.unreserved >= pool.floor and [item.decision for item in refused] == ["refused"] * statuses.count(
        "refused")
    if reserved.decision == "refused" and allocated.decision == "refused":
        assert reserved.entry["reason"].startswith("putting back the reservation of 60 would take 40 from the "
                                                   "account's unreserved pool and leave 80 unreserved")
        assert reserved.entry["reason"].endswith(", as the account's settings read again after the decreases tell: "
                                                 "the pool changed since it was planned; left as it is")


@pytest.mark.parametrize("spare, statuses", [(20, ("refused", "refused")), (30, ("restore", "restore"))])
def test_an_allocation_planned_after_its_functions_reservation_is_checked_once_the_reservation_is_refused(spare,
                                                                                                          statuses):
    """Planned, the reservation of 40 took 30 (40 - 10) and went first on the tie; the allocation it covers took
    nothing. Once the reservation no longer fits, the allocation draws on the pool itself: 30 (10 -> 40)."""
    reserved, allocated, held = reservation_and_allocation(40, 40, 10)
    assert (reserved.takes, allocated.takes) == (30, 0)
    pool = ConcurrencyPool(100 + spare, 100, "the 100 to keep")
    rollback.refit([reserved, allocated], held, pool)
    assert (reserved.decision, allocated.decision) == statuses
    assert pool.unreserved == 100 + spare - (30 if statuses[0] == "restore" else 0)
    if allocated.decision == "refused":
        assert allocated.entry["reason"].startswith("putting back 40 provisioned concurrency would take 30")


def test_the_raises_are_checked_against_the_allocations_the_decreases_left():
    """An allocation lowered back before the raises gives its 30 to the pool; a reservation of 60 added back after
    it then takes 50 (what `live` keeps provisioned, 10, draws on it already), not the 20 planned."""
    lowered = rollback.item("alias", "api-dev:blue", "provisioned_concurrency", 0, 30, 30, "restore")
    reserved = rollback.item("function", "api-dev", "reserved_concurrency", 60, None, None, "restore")
    held = {"api-dev": rollback.FunctionConcurrency(None, {"blue": 30, "live": 10})}
    after = rollback.restored_holdings(held, [lowered])
    assert after == {"api-dev": rollback.FunctionConcurrency(None, {"blue": 0, "live": 10})}
    assert held["api-dev"].provisioned == {"blue": 30, "live": 10}  # as read
    pool = ConcurrencyPool(149, 100)
    rollback.refit([reserved], after, pool)
    assert reserved.decision == "refused" and "would take 50" in reserved.entry["reason"]
