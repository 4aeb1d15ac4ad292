"""Rollback decisions without AWS: restore only what is still as the run left it."""

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import rollback


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
