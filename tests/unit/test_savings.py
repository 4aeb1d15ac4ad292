"""The savings report's money, worked out by hand, and the rules its figures keep."""

from decimal import Decimal

import pytest
from ansible_collections.tap.lambdaopt.plugins.plugin_utils import prices, report, savings
from ansible_collections.tap.lambdaopt.plugins.plugin_utils.run_results import read_run
from hypothesis import given, settings
from hypothesis import strategies as st

MIB, GIB = 1024 ** 2, 1024 ** 3
# Round prices, so that the arithmetic below can be followed by hand.
ROUND_PRICES = """
checked: "2026-11-23"
sources: {all: test prices}
regions:
  us-east-1:
    lambda: {gb_second: {x86_64: "0.00001", arm64: "0.000008"}, per_million_requests: "0.20"}
    logs: {ingestion_per_gb: "0.50", storage_per_gb_month: "0.03"}
    alarms: {standard_per_alarm_metric_month: "0.10", high_resolution_per_alarm_metric_month: "0.30"}
    xray: {per_million_traces_recorded: "5.00"}
    secrets_manager: {per_secret_month: "0.40", per_10k_api_calls: "0.05"}
    sqs: {per_million_requests: "0.40"}
"""




@pytest.fixture(scope="module")
def round_prices(tmp_path_factory):
    path = tmp_path_factory.mktemp("prices") / "prices.yaml"
    path.write_text(ROUND_PRICES)
    return prices.load("us-east-1", path)


def function(name, invocations, billed_ms=200, memory=3008, architecture="x86_64", **extra):
    """A lambda_usage_info entry for a 14-day window: 336 hours, so a month (730 h) is 730/336 of it."""
    return {
        "function_name": name,
        "function_arn": f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        "configuration": {"memory_size": memory, "architecture": architecture, "tracing_mode": "PassThrough"},
        "window": {"start": "2026-11-09T12:00:00+00:00", "end": "2026-11-23T12:00:00+00:00", "days": 14},
        "invocations": invocations,
        "errors": extra.pop("errors", 0),
        "avg_billed_duration_ms": billed_ms if invocations else None,
        "samples": {"observed_memory_size_mb": memory if invocations else None},
        "log_ingested_bytes": extra.pop("log_ingested_bytes", None),
        "init_duration_ms": {"cold_starts": extra.pop("cold_starts", None)},
        **extra,
    }


def planned(name, before, after, **sides):
    return {"function_name": name, "status": "planned", "before": {**before}, "after": {**after}, **sides}


def full_plan(name):
    """Every kind of change the run makes, as check mode plans it."""
    return {
        "rightsize": {"functions": [planned(name, {"memory_size": 3008}, {"memory_size": 1024}, changes=[
            {"field": "memory_size", "before": 3008, "after": 1024, "reason": "max memory used 700 MB x 1.3"}],
            refused=[{"field": "reserved_concurrency", "requested": 5, "reason": "5 is below the peak 9",
                      "risk": "throttling"}])]},
        "log_retention": {"log_groups": [{
            "function_name": name, "status": "planned", "stored_bytes": 10 * GIB, "reason": "shortened",
            "before": {"exists": True, "retention_in_days": None}, "after": {"exists": True, "retention_in_days": 7}}]},
        "tracing": {"functions": [planned(name, {"tracing_mode": "PassThrough"}, {"tracing_mode": "Active"})]},
        "dead_letter_queues": {"functions": [planned(name, {"dead_letter_target": None}, {
            "dead_letter_target": "arn:aws:sqs:us-east-1:123456789012:lambda-dlq-dev"})]},
        "alarms": {"alarms": [
            {"alarm_name": f"lambdaopt-{name}-error-rate", "status": "planned-create", "function_name": name,
             "metrics": 2, "high_resolution": False},
            {"alarm_name": f"lambdaopt-{name}-duration", "status": "planned-create", "function_name": name,
             "metrics": 1, "high_resolution": False},
            {"alarm_name": f"lambdaopt-{name}-throttles", "status": "planned-create", "function_name": name,
             "metrics": 1, "high_resolution": False},
            {"alarm_name": "lambdaopt-dlq-lambda-dlq-dev-messages", "status": "planned-create",
             "queue_name": "lambda-dlq-dev", "metrics": 1, "high_resolution": False},
        ]},
        "secrets": {
            "secrets": [{"env": "API_KEY", "secret_name": "api-key-dev", "status": "planned", "action": "create"}],
            "functions": [planned(name, {"variables": {}}, {"variables": {"API_KEY_SECRET_ARN": "arn:1",
                                                                          "DATABASE_URL_SECRET_ARN": "arn:2"}})]},
    }


def build(usage, results, price_table, dry_run=True):
    return report.assemble(usage, read_run(usage, results, dry_run), price_table, savings.Assumptions(),
                           "123456789012", "us-east-1")


def money(triple):
    return {scenario: Decimal(str(amount)) for scenario, amount in triple.items()}


def lines_by_item(row):
    return {line["item"]: line for line in row["lines"]}


def test_a_fully_optimized_function_by_hand(round_prices):
    usage = [function("busy-dev", 3_360_000, errors=3_360, cold_starts=3_360, log_ingested_bytes=1344 * MIB)]
    data = build(usage, full_plan("busy-dev"), round_prices)
    row = data["functions"][0]
    lines = lines_by_item(row)

    # 3,360,000 in 14 days = 7,300,000 a month; 0.2 s x 2.9375 GB = 4,288,750 GB-s x $0.00001 = $42.8875,
    # + 7.3 requests-million x $0.20 = $1.46 -> $44.3475 -> $44.35.
    # At 1024 MB (1 GB): I/O-bound 1,460,000 GB-s = $14.60 + $1.46 = $16.06. CPU-bound runs 1769/1024 =
    # 1.7275390625 times longer: $25.2220703125 + $1.46 -> $26.68. Expected, half of it CPU-bound, runs
    # 1.36376953125 times longer: $19.91103515625 + $1.46 -> $21.37.
    assert money(lines["Lambda compute and requests"]["before"]) == dict.fromkeys(savings.SCENARIOS, Decimal("44.35"))
    assert money(lines["Lambda compute and requests"]["after"]) == {
        "io_bound": Decimal("16.06"), "expected": Decimal("21.37"), "cpu_bound": Decimal("26.68")}
    # 1,344 MiB in 14 days = 2,920 MiB a month = 2.8515625 GiB x $0.50 = $1.42578125, on both sides.
    assert lines["Log ingestion"]["before"]["expected"] == lines["Log ingestion"]["after"]["expected"] == 1.43
    # Never expiring: 10 GiB + half a month's 2,920 MiB = 11,700 MiB = 11.42578125 GiB x $0.03 -> $0.34.
    # 7 days: 2,920 MiB x 7 / (730 / 24) days = 672 MiB = 0.65625 GiB x $0.03 = $0.0196875 -> $0.02.
    storage = lines["Log storage"]
    assert (storage["before"]["expected"], storage["after"]["expected"]) == (0.34, 0.02)
    assert storage["detail"]["growth_bytes_per_month"] == {"before": 2920 * MIB, "after": 0}
    # X-Ray: 1 a second for 2,628,000 s, + 5 % of the other 4,672,000 = 2,861,600 traces x $5 / million
    # = $14.308 -> $14.31. Errors: 7,300 SQS requests x $0.40 / million = $0.00292 -> $0.00.
    # Secrets: 7,300 cold starts x 2 secrets = 14,600 calls x $0.05 / 10,000 = $0.073 -> $0.07.
    assert lines["X-Ray traces"]["after"]["expected"] == 14.31
    assert lines["Dead-letter queue requests"]["after"]["expected"] == 0.0
    assert lines["Secrets Manager reads"]["after"]["expected"] == 0.07
    # Alarms per alarm metric: the error-rate alarm evaluates two metrics.
    assert lines["Alarm lambdaopt-busy-dev-error-rate"]["after"]["expected"] == 0.20
    assert lines["Alarm lambdaopt-busy-dev-duration"]["after"]["expected"] == 0.10

    # Before: 44.35 + 1.43 + 0.34 = 46.12. After (expected): 21.37 + 1.43 + 0.02 + 14.31 + 0.00 + 0.07 + 0.40
    # = 37.60; I/O-bound 32.29; CPU-bound 42.91.
    assert money(row["before"])["expected"] == Decimal("46.12")
    assert money(row["after"]) == {"io_bound": Decimal("32.29"), "expected": Decimal("37.60"),
                                   "cpu_bound": Decimal("42.91")}
    # Shared: the new secret $0.40 and the queue's alarm $0.10. Net: 46.12 - 37.60 - 0.50 = 8.02 a month.
    assert money(data["shared"]["after"])["expected"] == Decimal("0.50")
    totals = data["totals"]
    assert money(totals["savings"]) == {"io_bound": Decimal("13.33"), "expected": Decimal("8.02"),
                                        "cpu_bound": Decimal("2.71")}
    assert totals["net_monthly_savings"] == {"expected": 8.02, "low": 2.71, "high": 13.33}
    assert Decimal(str(totals["annual_savings"]["expected"])) == Decimal("96.24")
    # Hardening: 14.31 + 0.00 + 0.07 + 0.40 for the function, 0.50 shared.
    assert money(totals["by_component"]["hardening"]["after"])["expected"] == Decimal("15.28")


def test_the_shipped_table_prices_us_east_1_by_architecture():
    us_east_1 = prices.load("us-east-1")
    # 73,000 a month x 0.2 s x 2.9375 GB = 42,887.5 GB-s; + 73,000 x $0.20 / million = $0.0146.
    for architecture, expected in (("x86_64", 0.73), ("arm64", 0.59)):  # x $0.0000166667 / $0.0000133334
        data = build([function("f-dev", 33_600, architecture=architecture)], {}, us_east_1)
        assert lines_by_item(data["functions"][0])["Lambda compute and requests"]["before"]["expected"] == expected
    assert data["prices"]["checked"] and data["prices"]["sources"]


def test_a_function_without_data_is_unknown_not_zero(round_prices):
    measured = function("busy-dev", 33_600, log_ingested_bytes=MIB)
    idle = function("idle-dev", 0)
    with_idle = build([measured, idle], {}, round_prices)
    without = build([measured], {}, round_prices)
    row = with_idle["functions"][1]
    assert row["status"] == "no_data"
    assert {entry["item"] for entry in row["unknown"]} == {"Lambda compute and requests", "Log ingestion",
                                                           "Log storage"}
    assert "Lambda compute and requests" not in lines_by_item(row)
    assert with_idle["totals"]["functions_without_data"] == ["idle-dev"]
    assert with_idle["totals"]["before"] == without["totals"]["before"]


def test_what_the_hardening_costs_a_function_without_data_is_still_counted(round_prices):
    plan = {"alarms": {"alarms": [{"alarm_name": "lambdaopt-idle-dev-duration", "status": "planned-create",
                                   "function_name": "idle-dev", "metrics": 1}]},
            "tracing": full_plan("idle-dev")["tracing"]}
    row = build([function("idle-dev", 0)], plan, round_prices)["functions"][0]
    assert row["after"]["expected"] == 0.10
    assert "X-Ray traces" in {entry["item"] for entry in row["unknown"]}


def test_a_real_run_counts_only_what_was_applied(round_prices):
    usage = [function("busy-dev", 3_360_000, errors=3_360, cold_starts=3_360, log_ingested_bytes=1344 * MIB)]
    plans = full_plan("busy-dev")
    assert build(usage, plans, round_prices, dry_run=False)["totals"]["savings"]["expected"] == 0  # not applied
    failed = {"rightsize": {"functions": [{**plans["rightsize"]["functions"][0], "status": "failed",
                                           "after": {"memory_size": 3008}, "error": "ResourceConflictException"}]}}
    data = build(usage, failed, round_prices, dry_run=False)
    assert data["totals"]["savings"]["expected"] == 0
    assert data["functions"][0]["failed"] == [{"task": "lambda_rightsize", "error": "ResourceConflictException"}]
    assert data["mode"] == "applied" and data["label"] == "Savings of the changes applied"


def test_a_deleted_alarm_is_a_saving(round_prices):
    deleted = {"alarms": {"alarms": [{"alarm_name": "lambdaopt-busy-dev-old", "status": "deleted",
                                      "function_name": "busy-dev", "metrics": 1, "high_resolution": True}]}}
    data = build([function("busy-dev", 33_600)], deleted, round_prices, dry_run=False)
    assert data["totals"]["by_component"]["hardening"]["savings"]["expected"] == 0.30  # high resolution


def test_skipped_tasks_count_as_not_run(round_prices):
    skipped = {task: {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}
               for task in ("tracing", "alarms")}
    data = build([function("busy-dev", 33_600)], skipped, round_prices)
    assert data["tasks"]["tracing"] is False and data["totals"]["changes"] == 0


def test_raising_memory_is_a_cost_at_worst_and_may_pay_for_itself(round_prices):
    plan = {"rightsize": {"functions": [planned("slow-dev", {"memory_size": 512}, {"memory_size": 1024})]}}
    line = lines_by_item(build([function("slow-dev", 33_600, memory=512)], plan, round_prices)["functions"][0])[
        "Lambda compute and requests"]
    # I/O-bound: twice the memory for as long costs more; CPU-bound: half the time at twice the memory costs
    # the same.
    assert line["savings"]["io_bound"] < 0 and line["savings"]["cpu_bound"] == 0


usage_entries = st.builds(
    lambda index, invocations, billed, memory, ingested, cold: function(
        f"f{index}-dev", invocations, billed_ms=billed, memory=memory, log_ingested_bytes=ingested,
        cold_starts=cold, errors=invocations // 100),
    st.integers(0, 10_000), st.integers(0, 50_000_000), st.floats(1, 900_000), st.integers(128, 10_240),
    st.one_of(st.none(), st.integers(0, 10 * GIB)), st.one_of(st.none(), st.integers(0, 100_000)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(usage_entries, min_size=1, max_size=8, unique_by=lambda entry: entry["function_name"]),
       st.integers(128, 10_240), st.booleans())
def test_totals_are_the_sums_of_their_lines(round_prices, usage, new_memory, dry_run):
    results = {"rightsize": {"functions": [
        planned(entry["function_name"], {"memory_size": entry["configuration"]["memory_size"]},
                {"memory_size": new_memory}) for entry in usage]}}
    plan = full_plan(usage[0]["function_name"])
    results.update({task: plan[task] for task in ("alarms", "tracing", "secrets")})
    data = build(usage, results, round_prices, dry_run=dry_run)
    totals = data["totals"]
    for side in ("before", "after", "savings"):
        for scenario in savings.SCENARIOS:
            rows = sum(Decimal(str(row[side][scenario])) for row in data["functions"])
            shared = Decimal(str(data["shared"][side][scenario]))
            assert Decimal(str(totals[side][scenario])) == rows + shared
            components = sum(Decimal(str(totals["by_component"][part][side][scenario])) for part in savings.COMPONENTS)
            assert Decimal(str(totals[side][scenario])) == components
            for row in data["functions"]:
                assert Decimal(str(row[side][scenario])) == sum(Decimal(str(line[side][scenario]))
                                                                for line in row["lines"])
        for row in data["functions"]:
            for line in row["lines"]:
                assert all(Decimal(str(amount)) == Decimal(str(amount)).quantize(savings.CENT)
                           for amount in line[side].values())


def test_the_account_and_region_are_the_function_arns():
    usage = [function("a-dev", 1), function("b-dev", 1)]
    assert report.account_and_region(usage, None) == ("123456789012", "us-east-1")
    assert report.account_and_region([{"function_name": "a-dev"}], "eu-west-1") == (None, "eu-west-1")
    with pytest.raises(report.FleetMismatch, match="more than one account-region"):
        report.account_and_region(usage + [{**function("c-dev", 1), "function_arn": usage[0]["function_arn"].replace(
            "123456789012", "210987654321")}], None)
    with pytest.raises(report.FleetMismatch, match="not a function ARN"):
        report.account_and_region([{**usage[0], "function_arn": "a-dev"}], None)
