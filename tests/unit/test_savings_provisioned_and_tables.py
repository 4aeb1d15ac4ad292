"""What provisioned concurrency and the data table cost before and after, worked out by hand."""

from decimal import Decimal

import pytest
from ansible_collections.tap.lambdaopt.plugins.plugin_utils import prices, report, savings
from ansible_collections.tap.lambdaopt.plugins.plugin_utils.run_results import read_run

from tests.unit.test_savings import ROUND_PRICES, function

# Round prices for the two new lines too. A month is 730 hours = 2,628,000 seconds.
WITH_PROVISIONING = ROUND_PRICES.replace(
    'lambda: {gb_second: {x86_64: "0.00001", arm64: "0.000008"}, per_million_requests: "0.20"}',
    'lambda: {gb_second: {x86_64: "0.00001", arm64: "0.000008"}, per_million_requests: "0.20", '
    'provisioned_concurrency_gb_second: {x86_64: "0.000004"}, provisioned_duration_gb_second: {x86_64: "0.000008"}}',
) + """    dynamodb: {read_capacity_unit_hour: "0.0001", write_capacity_unit_hour: "0.0005",
               per_million_read_request_units: "0.10", per_million_write_request_units: "0.50"}
"""
WINDOW = {"start": "2026-11-09T12:00:00+00:00", "end": "2026-11-23T12:00:00+00:00", "days": 14}


@pytest.fixture(scope="module")
def round_prices(tmp_path_factory):
    path = tmp_path_factory.mktemp("prices") / "prices.yaml"
    path.write_text(WITH_PROVISIONING)
    return prices.load("us-east-1", path)


def alias(before, after, spillover=0, status="planned"):
    """A lambda_provisioned_concurrency entry: 336,000 requests in 14 days (730,000 a month) of 100 ms at 1 GB."""
    return {"function_name": "api-dev", "qualifier": "live", "status": status, "memory_size": 1024,
            "architecture": "x86_64", "before": {"provisioned_concurrency": before},
            "after": {"provisioned_concurrency": after},
            "usage": {"window": WINDOW, "invocations": 336_000, "spillover_invocations": spillover,
                      "avg_duration_ms": 100.0},
            "changes": [{"field": "provisioned_concurrency", "before": before, "after": after, "reason": "why"}]
            if before != after else [], "refused": []}


def table(before, after, read=4.0, write=2.0, status="planned"):
    return {"table_name": "data-dev", "status": status, "before": before, "after": after,
            "usage": {"window": WINDOW, "read": {"average": read}, "write": {"average": write}},
            "changes": [{"field": "billing_mode", "before": before, "after": after, "reason": "why"}]
            if before != after else [], "refused": []}


def provisioned(read, write):
    return {"billing_mode": "PROVISIONED", "read_capacity": read, "write_capacity": write}


ON_DEMAND = {"billing_mode": "PAY_PER_REQUEST", "read_capacity": None, "write_capacity": None}


def build(results, price_table, dry_run=True):
    usage = [function("api-dev", 336_000)]
    return report.assemble(usage, read_run(usage, results, dry_run), price_table, savings.Assumptions(),
                           "123456789012", "us-east-1")


def line(data, item):
    rows = [*data["functions"][0]["lines"], *data["shared"]["lines"]]
    (found,) = [entry for entry in rows if entry["item"] == item]
    return {side: Decimal(str(found[side]["expected"])) for side in ("before", "after", "savings")}


def test_lowering_an_idle_allocation_by_hand(round_prices):
    data = build({"provisioned_concurrency": {"aliases": [alias(10, 4)]}}, round_prices)
    # Allocation: n x 1 GB x 2,628,000 s x $0.000004 = n x $10.512. The 730,000 requests x 0.1 s x 1 GB =
    # 73,000 GB-s, all served on provisioned environments, cost $0.000002 a GB-s less than on demand: -$0.146.
    # Before 105.12 - 0.146 = 104.974 -> 104.97; after 42.048 - 0.146 = 41.902 -> 41.90.
    assert line(data, "Provisioned concurrency live") == {
        "before": Decimal("104.97"), "after": Decimal("41.90"), "savings": Decimal("63.07")}
    totals = data["totals"]["by_component"]["provisioned_concurrency"]
    assert Decimal(str(totals["savings"]["expected"])) == Decimal("63.07")
    assert data["functions"][0]["changes"][-1]["setting"] == "provisioned_concurrency (live)"


def test_removing_an_allocation_costs_its_discount_too(round_prices):
    data = build({"provisioned_concurrency": {"aliases": [alias(10, 0)]}}, round_prices)
    assert line(data, "Provisioned concurrency live")["after"] == Decimal("0.00")


def test_a_raise_that_ends_spillover_by_hand(round_prices):
    data = build({"provisioned_concurrency": {"aliases": [alias(2, 5, spillover=33_600)]}}, round_prices)
    # Before: 2 x 10.512 = 21.024, less 90 % of the discount (0.1314) = 20.8926 -> 20.89.
    # After: 5 x 10.512 = 52.56, less all of it (0.146) = 52.414 -> 52.41: a cost of 31.52 a month.
    assert line(data, "Provisioned concurrency live") == {
        "before": Decimal("20.89"), "after": Decimal("52.41"), "savings": Decimal("-31.52")}


def test_a_failed_change_saves_nothing(round_prices):
    data = build({"provisioned_concurrency": {"aliases": [alias(10, 4, status="failed")]}}, round_prices,
                 dry_run=False)
    assert line(data, "Provisioned concurrency live")["savings"] == Decimal("0.00")


def test_lowering_table_capacity_by_hand(round_prices):
    data = build({"tables": {"tables": [table(provisioned(100, 100), provisioned(10, 5))]}}, round_prices)
    # 730 h x (100 x $0.0001 + 100 x $0.0005) = $43.80; 730 x (10 x 0.0001 + 5 x 0.0005) = $2.555 -> $2.56.
    assert line(data, "DynamoDB table data-dev") == {
        "before": Decimal("43.80"), "after": Decimal("2.56"), "savings": Decimal("41.24")}
    assert Decimal(str(data["totals"]["by_component"]["data_store"]["savings"]["expected"])) == Decimal("41.24")
    assert data["totals"]["changes"] == 1


def test_switching_a_table_to_on_demand_by_hand(round_prices):
    data = build({"tables": {"tables": [table(provisioned(100, 100), ON_DEMAND)]}}, round_prices)
    # 2,628,000 s x (4 x $0.10 + 2 x $0.50) / million = $3.6792 -> $3.68.
    assert line(data, "DynamoDB table data-dev")["after"] == Decimal("3.68")


def test_on_demand_requests_are_counted_over_the_whole_span_not_only_busy_hours(round_prices):
    half_idle = table(provisioned(100, 100), ON_DEMAND)
    half_idle["usage"].update(hours=168, span_hours=336)
    data = build({"tables": {"tables": [half_idle]}}, round_prices)
    # Busy half the hours: 2,628,000 s x (2 x $0.10 + 1 x $0.50) / million = $1.8396 -> $1.84.
    assert line(data, "DynamoDB table data-dev")["after"] == Decimal("1.84")


def test_an_on_demand_table_without_consumption_is_unknown_not_zero(round_prices):
    unmeasured = table(provisioned(100, 100), ON_DEMAND)
    unmeasured["usage"] = {}
    data = build({"tables": {"tables": [unmeasured]}}, round_prices)
    assert data["shared"]["lines"] == []
    assert data["shared"]["unknown"] == [{"component": "data_store", "item": "DynamoDB table data-dev",
                                          "reason": "no consumed capacity measured in the window"}]
    assert data["totals"]["unknown_lines"] == len(data["functions"][0]["unknown"]) + 1


def test_a_price_table_without_the_new_prices_reports_them_unknown(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(ROUND_PRICES)
    data = build({"provisioned_concurrency": {"aliases": [alias(10, 4)]},
                  "tables": {"tables": [table(provisioned(100, 100), provisioned(10, 5))]}},
                 prices.load("us-east-1", path))
    assert "provisioned_concurrency" in {entry["component"] for entry in data["functions"][0]["unknown"]}
    assert {entry["component"] for entry in data["shared"]["unknown"]} == {"data_store"}


def test_the_shipped_table_has_provisioning_and_dynamodb_prices():
    shipped = prices.load("us-east-1")
    assert shipped.provisioned_concurrency_gb_second == {"x86_64": Decimal("0.0000041667"),
                                                        "arm64": Decimal("0.0000033334")}
    assert shipped.provisioned_duration_gb_second["x86_64"] < shipped.gb_second["x86_64"]
    assert shipped.dynamodb["write_capacity_unit_hour"] == Decimal("0.00065")
    assert shipped.dynamodb["write_request_units"] == Decimal("0.625") / 1_000_000
