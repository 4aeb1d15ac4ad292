"""dynamodb_capacity against the emulator, with consumed capacity written by tools/table_simulator.py: the 4-step
matrix on a steady over-provisioned table and on a spiky one, the guards, missing tables, partial failure and bad
input."""

import math
from datetime import timedelta

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._dynamodb.api import table_settings
from ansible_collections.tap.lambdaopt.plugins.plugin_utils import prices, report, savings
from ansible_collections.tap.lambdaopt.plugins.plugin_utils.run_results import read_run

from tests.collection.conftest import mutating
from tests.unit.test_savings import function
from tools import baseline, table_simulator

AUTO = {"billing_mode": "auto", "capacity": "auto"}
PROVISIONED, ON_DEMAND = "PROVISIONED", "PAY_PER_REQUEST"
SWITCH_LIMIT = "AWS limits capacity-mode switches"
HOUR = timedelta(hours=1)


def create_table(aws, name, mode=PROVISIONED, read=100, write=100, index=False):
    dynamodb = aws.client("dynamodb")
    arguments = {"TableName": name, "BillingMode": mode,
                 "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                 "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]}
    if mode == PROVISIONED:
        arguments["ProvisionedThroughput"] = {"ReadCapacityUnits": read, "WriteCapacityUnits": write}
    if index:
        arguments["AttributeDefinitions"].append({"AttributeName": "kind", "AttributeType": "S"})
        arguments["GlobalSecondaryIndexes"] = [{"IndexName": "by-kind",
                                                "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
                                                "Projection": {"ProjectionType": "KEYS_ONLY"}}]
    dynamodb.create_table(**arguments)


def settings(aws, name):
    return table_settings(aws.client("dynamodb").describe_table(TableName=name)["Table"])


def by_name(result):
    return {entry["table_name"]: entry for entry in result["tables"]}


def provisioned(read, write):
    return {"billing_mode": PROVISIONED, "read_capacity": read, "write_capacity": write}


ON_DEMAND_SETTINGS = {"billing_mode": ON_DEMAND, "read_capacity": None, "write_capacity": None}


@pytest.fixture
def steady(aws):
    """A table provisioned at 100/100 that uses about 4 reads and 2 writes a second: the baseline's data table."""
    create_table(aws, "steady-dev")
    return table_simulator.write_table_usage(aws, "steady-dev", "steady")


@pytest.fixture
def spiky(aws):
    """A table provisioned at 100/100, mostly idle with rare bursts."""
    create_table(aws, "spiky-dev")
    return table_simulator.write_table_usage(aws, "spiky-dev", "spiky")


def test_four_step_matrix_lowers_a_steady_over_provisioned_table(aws, steady, run_module, api_calls):
    del api_calls[:]
    checked = run_module("dynamodb_capacity", {"suffix": "dev", **AUTO}, check=True, diff=True)
    assert checked["changed"] and not checked.failed
    assert mutating(api_calls) == [], "check mode made a mutating call"
    assert settings(aws, "steady-dev") == provisioned(100, 100)
    (entry,) = checked["tables"]
    planned = provisioned(math.ceil(steady.peak("read") * 1.5), math.ceil(steady.peak("write") * 1.5))
    assert (entry["status"], entry["before"], entry["after"]) == ("planned", provisioned(100, 100), planned)
    assert planned["read_capacity"] <= 12 and planned["write_capacity"] <= 6
    assert entry["recommendation"] == {**planned, "reason": entry["recommendation"]["reason"]}
    assert entry["recommendation"]["reason"].startswith("steady")
    assert checked["diff"] == {"before": {"steady-dev": provisioned(100, 100)}, "after": {"steady-dev": planned}}
    usage = entry["usage"]
    assert (usage["hours"], usage["period_seconds"], usage["window"]["days"]) == (336, 3600, 14)
    assert usage["read"]["average"] == pytest.approx(steady.average("read"), abs=1e-3)
    assert usage["read"]["peak"] == pytest.approx(steady.peak("read"), abs=1e-3)
    assert usage["throttle_events"] == {"read": 0, "write": 0}
    assert entry["table_arn"].endswith(":table/steady-dev") and entry["global_secondary_indexes"] == 0

    applied = run_module("dynamodb_capacity", {"suffix": "dev", **AUTO})
    (entry,) = applied["tables"]
    assert applied["changed"] and (entry["status"], entry["after"]) == ("changed", planned)
    assert settings(aws, "steady-dev") == planned
    assert [call[1] for call in mutating(api_calls)] == ["UpdateTable"]
    assert applied["summary"] == {"tables": 1, "changed": 1, "unchanged": 0, "with_refusals": 0, "failed": 0}
    # The lowered capacity still serves the whole history: the same traffic replayed throttles nowhere.
    replay = table_simulator.simulate_table("steady-dev", steady.profile, table_simulator.TableCapacity(
        PROVISIONED, planned["read_capacity"], planned["write_capacity"]), steady.hours[-1].start + HOUR, days=14)
    assert replay.throttle_events == 0

    del api_calls[:]
    rechecked = run_module("dynamodb_capacity", {"suffix": "dev", **AUTO}, check=True, diff=True)
    assert not rechecked["changed"] and rechecked["diff"] == {"before": {}, "after": {}}
    reapplied = run_module("dynamodb_capacity", {"suffix": "dev", **AUTO})
    assert not reapplied["changed"] and reapplied["tables"][0]["status"] == "unchanged"
    assert reapplied["tables"][0]["recommendation"]["billing_mode"] == PROVISIONED
    assert mutating(api_calls) == []


def test_four_step_matrix_switches_a_spiky_table_to_on_demand_for_good(aws, spiky, run_module, api_calls):
    del api_calls[:]
    checked = run_module("dynamodb_capacity", {"suffix": "dev", **AUTO}, check=True)
    (entry,) = checked["tables"]
    assert checked["changed"] and mutating(api_calls) == []
    assert entry["after"] == ON_DEMAND_SETTINGS and settings(aws, "spiky-dev") == provisioned(100, 100)
    assert entry["usage"]["read"]["spikiness"] > 20
    assert [change["field"] for change in entry["changes"]] == ["billing_mode"]
    assert entry["changes"][0]["reason"].startswith("spiky")

    applied = run_module("dynamodb_capacity", {"suffix": "dev", **AUTO})
    (entry,) = applied["tables"]
    assert applied["changed"] and entry["after"] == ON_DEMAND_SETTINGS
    assert settings(aws, "spiky-dev") == ON_DEMAND_SETTINGS
    assert [call[1] for call in mutating(api_calls)] == ["UpdateTable"]

    del api_calls[:]
    rechecked = run_module("dynamodb_capacity", {"suffix": "dev", **AUTO}, check=True)
    assert not rechecked["changed"] and rechecked["tables"][0]["last_switch_to_on_demand"] is not None
    reapplied = run_module("dynamodb_capacity", {"suffix": "dev", **AUTO})
    assert not reapplied["changed"] and reapplied["tables"][0]["refused"] == []
    assert mutating(api_calls) == []

    # More history, on demand now, and no switch limit in the way: it is the traffic that keeps it on demand.
    table_simulator.write_table_usage(aws, "spiky-dev", "spiky", seed=1)
    later = run_module("dynamodb_capacity", {"suffix": "dev", **AUTO, "min_hours_between_switches": 0})
    assert not later["changed"] and later["tables"][0]["recommendation"]["billing_mode"] == ON_DEMAND
    assert settings(aws, "spiky-dev") == ON_DEMAND_SETTINGS


def test_a_spiky_on_demand_table_asked_provisioned_is_refused(aws, run_module, api_calls):
    create_table(aws, "bursty-dev", mode=ON_DEMAND)
    table_simulator.write_table_usage(aws, "bursty-dev", "spiky")
    del api_calls[:]
    result = run_module("dynamodb_capacity", {"tables": ["bursty-dev"], "billing_mode": PROVISIONED})
    (entry,) = result["tables"]
    assert not result.failed and not result["changed"]
    (refusal,) = entry["refused"]
    assert (refusal["field"], refusal["requested"], refusal["risk"]) == (
        "billing_mode", PROVISIONED, "throttling at peaks")
    assert mutating(api_calls) == [] and settings(aws, "bursty-dev") == ON_DEMAND_SETTINGS
    # allow_unsafe lets the explicit request through, sized at the peaks, and says what it risks.
    unsafe = run_module("dynamodb_capacity", {"tables": ["bursty-dev"], "billing_mode": PROVISIONED,
                                              "allow_unsafe": True})
    (entry,) = unsafe["tables"]
    assert unsafe["changed"] and entry["changes"][0]["risk"] == "throttling at peaks"
    assert settings(aws, "bursty-dev") == entry["after"] and entry["after"]["billing_mode"] == PROVISIONED


def test_a_throttled_table_is_not_lowered(aws, run_module):
    create_table(aws, "busy-dev", read=100, write=1)
    usage = table_simulator.write_table_usage(aws, "busy-dev", "steady")
    assert usage.write_throttle_events > 0
    result = run_module("dynamodb_capacity", {"suffix": "dev", "capacity": "auto"})
    (entry,) = result["tables"]
    assert entry["usage"]["throttle_events"] == {"read": 0, "write": usage.write_throttle_events}
    refused = {refusal["field"]: refusal for refusal in entry["refused"]}
    assert refused["read_capacity"]["risk"] == "throttling" and "throttle events" in refused["read_capacity"]["reason"]
    assert settings(aws, "busy-dev") == provisioned(100, 2)  # more write capacity, read kept
    assert entry["recommendation"]["billing_mode"] == ON_DEMAND
    explicit = run_module("dynamodb_capacity", {"tables": ["busy-dev"], "read_capacity": 20})
    assert not explicit["changed"] and explicit["tables"][0]["refused"][0]["risk"] == "throttling"
    assert settings(aws, "busy-dev")["read_capacity"] == 100


def test_a_second_switch_within_a_day_is_refused(aws, steady, run_module, api_calls):
    first = run_module("dynamodb_capacity", {"tables": ["steady-dev"], "billing_mode": ON_DEMAND})
    assert first["changed"] and settings(aws, "steady-dev") == ON_DEMAND_SETTINGS
    del api_calls[:]
    # AWS refuses it anyway, so allow_unsafe does not help.
    second = run_module("dynamodb_capacity", {"tables": ["steady-dev"], "billing_mode": PROVISIONED,
                                              "allow_unsafe": True})
    (entry,) = second["tables"]
    assert not second.failed and not second["changed"]
    (refusal,) = entry["refused"]
    assert (refusal["field"], refusal["risk"]) == ("billing_mode", SWITCH_LIMIT)
    assert "less than 24 hours" in refusal["reason"] and entry["last_switch_to_on_demand"] is not None
    assert entry["recommendation"]["billing_mode"] == PROVISIONED  # cheaper, but not now
    assert mutating(api_calls) == [] and settings(aws, "steady-dev") == ON_DEMAND_SETTINGS


def test_insufficient_data_means_no_change_unless_unsafe(aws, run_module, api_calls):
    create_table(aws, "new-dev")
    table_simulator.write_table_usage(aws, "new-dev", "steady", days=1)
    del api_calls[:]
    result = run_module("dynamodb_capacity", {"suffix": "dev", **AUTO, "min_hours": 48})
    (entry,) = result["tables"]
    assert not result["changed"] and entry["usage"]["hours"] == 24
    assert {refusal["risk"] for refusal in entry["refused"]} == {"insufficient data"}
    assert {refusal["field"] for refusal in entry["refused"]} == {"billing_mode", "read_capacity", "write_capacity"}
    explicit = run_module("dynamodb_capacity", {"suffix": "dev", "read_capacity": 20, "min_hours": 48})
    assert not explicit["changed"] and explicit["tables"][0]["refused"][0]["risk"] == "insufficient data"
    assert mutating(api_calls) == []
    unsafe = run_module("dynamodb_capacity", {"suffix": "dev", "read_capacity": 20, "min_hours": 48,
                                              "allow_unsafe": True})
    assert unsafe["changed"] and unsafe["tables"][0]["changes"][0]["risk"] == "insufficient data"
    assert settings(aws, "new-dev") == provisioned(20, 100)


def test_a_table_with_global_secondary_indexes_is_not_switched_to_provisioned(aws, run_module):
    create_table(aws, "indexed-dev", mode=ON_DEMAND, index=True)
    table_simulator.write_table_usage(aws, "indexed-dev", "steady")
    (entry,) = run_module("dynamodb_capacity", {"suffix": "dev", **AUTO})["tables"]
    assert entry["global_secondary_indexes"] == 1 and entry["recommendation"]["billing_mode"] == PROVISIONED
    (refusal,) = entry["refused"]
    assert refusal["risk"] == "global secondary indexes without sized capacity"
    assert settings(aws, "indexed-dev") == ON_DEMAND_SETTINGS


def test_a_missing_table_fails_the_task_after_the_others_are_done(aws, steady, run_module):
    result = run_module("dynamodb_capacity", {"tables": ["steady-dev", {"table_name": "gone-dev"}], **AUTO})
    assert result.failed and "gone-dev" in result["msg"]
    assert result["failed_tables"] == ["gone-dev"] and result["summary"]["failed"] == 1
    assert by_name(result)["steady-dev"]["status"] == "changed"
    assert settings(aws, "steady-dev")["read_capacity"] < 100


def test_an_update_refused_by_dynamodb_fails_only_that_table(aws, steady, spiky, run_module, monkeypatch):
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError
    original = BaseClient._make_api_call

    def refuse_one(client, operation, params):
        if operation == "UpdateTable" and params["TableName"] == "spiky-dev":
            raise ClientError({"Error": {"Code": "LimitExceededException", "Message": "too many switches"}},
                              operation)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", refuse_one)
    result = run_module("dynamodb_capacity", {"suffix": "dev", **AUTO})
    assert result.failed and result["failed_tables"] == ["spiky-dev"]
    entries = by_name(result)
    assert entries["spiky-dev"]["status"] == "failed" and "too many switches" in entries["spiky-dev"]["error"]
    assert entries["spiky-dev"]["after"] == provisioned(100, 100)  # as read back
    assert entries["steady-dev"]["status"] == "changed"
    assert result["summary"]["changed"] == 1


def test_the_baseline_data_table_follows_its_profile(aws, run_module):
    baseline.provision(aws, "dev")
    (usage,) = table_simulator.simulate_tables(aws, "dev").values()
    (entry,) = run_module("dynamodb_capacity", {"suffix": "dev"})["tables"]
    assert (entry["table_name"], usage.profile.name) == ("data-table-dev", "steady")
    assert entry["before"] == provisioned(100, 100) and entry["changes"] == [] and entry["status"] == "unchanged"
    assert entry["recommendation"]["billing_mode"] == PROVISIONED
    assert entry["recommendation"]["read_capacity"] <= 12 and entry["recommendation"]["write_capacity"] <= 6


def test_the_savings_report_prices_both_sides_of_every_entry(aws, steady, spiky, run_module):
    result = run_module("dynamodb_capacity", {"suffix": "dev", **AUTO}, check=True)
    usage = [function("api-dev", 1000)]
    data = report.assemble(usage, read_run(usage, {"tables": result}, True), prices.load("us-east-1"),
                           savings.Assumptions(), "123456789012", "us-east-1")
    assert data["shared"]["unknown"] == []
    lines = {line["item"]: line for line in data["shared"]["lines"]}
    for name in ("steady-dev", "spiky-dev"):
        priced = lines[f"DynamoDB table {name}"]
        assert priced["savings"]["expected"] > 0
    # 100 RCU and 100 WCU a month: 730 h x (100 x $0.00013 + 100 x $0.00065) = $56.94.
    assert lines["DynamoDB table steady-dev"]["before"]["expected"] == pytest.approx(56.94)


def test_no_matching_table_warns_and_changes_nothing(aws, run_module):
    result = run_module("dynamodb_capacity", {"suffix": "nosuch", **AUTO})
    assert not result.failed and not result["changed"] and result["tables"] == []
    assert "no tables matched the selection" in str(result["warnings"])


@pytest.mark.parametrize("args, message", [
    ({"suffix": "Dev!"}, "suffix 'Dev!' is not valid"),
    ({"billing_mode": "provisioned"}, "value of billing_mode must be one of"),
    ({"capacity": "max"}, "value of capacity must be one of"),
    ({"capacity_headroom": 0.5}, "capacity_headroom must be at least 1"),
    ({"period_seconds": 120}, "value of period_seconds must be one of"),
    ({"period_seconds": 60, "lookback_days": 30}, "lookback_days must be between 1 and 15 with period_seconds 60"),
    ({"lookback_days": 456}, "lookback_days must be between 1 and 455"),
    ({"read_capacity": 0}, "read_capacity must be at least 1"),
    ({"billing_mode": ON_DEMAND, "write_capacity": 5}, "need provisioned tables"),
    ({"breakeven_utilization": 1.5}, "breakeven_utilization must be between 0 and 1"),
    ({"tables": [{"name": "x"}]}, "neither a table name"),
])
def test_bad_input_fails_before_any_api_call(aws, run_module, api_calls, args, message):
    result = run_module("dynamodb_capacity", {"suffix": "dev", **args})
    assert result.failed and message in result["msg"]
    assert api_calls == []


def test_a_selection_is_required(aws, run_module, api_calls):
    result = run_module("dynamodb_capacity", {"billing_mode": "auto"})
    assert result.failed and "one of the following is required: suffix, tables" in result["msg"]
    assert api_calls == []
