"""The savings report tells, for a function served through an alias, whether its right-sizing reached the alias's
traffic: promoted through a canary, rolled back with the verdict's reason, or only reported (no canary ran); the
figures are the same either way."""

import json

import jsonschema
from ansible_collections.tap.lambdaopt.plugins.plugin_utils import report_render

from tests.test_setup import COLLECTION
from tests.unit.test_change_record_extensions import canary_entry
from tests.unit.test_savings import build, function, round_prices  # noqa: F401 - fixture

SCHEMA = json.loads((COLLECTION / "data" / "savings_report.schema.json").read_text())
NAME = "api-handler-dev"
RIGHTSIZED = {"functions": [{
    "function_name": NAME, "status": "changed", "before": {"memory_size": 3008, "timeout": 300},
    "after": {"memory_size": 1024, "timeout": 300},
    "changes": [{"field": "memory_size", "before": 3008, "after": 1024, "reason": "max memory used 700 MB x 1.3"}]}]}
PROVISIONED_ALIAS = {"aliases": [{"function_name": NAME, "qualifier": "live", "status": "unchanged",
                                  "before": {"provisioned_concurrency": 5}, "after": {"provisioned_concurrency": 5},
                                  "changes": [], "refused": []}]}


def row_of(report: dict) -> dict:
    (row,) = report["functions"]
    return row


def reported(prices, **results) -> dict:
    report = build([function(NAME, 100_000)], {"rightsize": RIGHTSIZED, **results}, prices, dry_run=False)
    jsonschema.validate(report, SCHEMA)
    return report


def test_a_promoted_canary_delivered_the_savings_a_rolled_back_one_did_not(round_prices):  # noqa: F811
    promoted = reported(round_prices, canary={"aliases": [canary_entry()]})
    rolled_back = reported(round_prices, canary={"aliases": [canary_entry("rolled back")]})
    without = reported(round_prices)
    assert row_of(promoted)["delivery"] == "promoted"
    assert row_of(rolled_back)["delivery"] == "rolled back: regressed: p99 duration x3.2"
    assert "delivery" not in row_of(without)  # not known to be served through an alias
    # the figures are what the right-sizing is worth, whichever way it reached the traffic
    for report in (promoted, rolled_back):
        assert report["totals"] == without["totals"]
        assert {key: value for key, value in row_of(report).items() if key != "delivery"} == row_of(without)
    (note,) = report_render.notes(rolled_back)["delivery"]
    assert note == (NAME, "right-sizing through its alias: rolled back: regressed: p99 duration x3.2")
    assert "## Delivered to aliased functions' traffic" in report_render.markdown(promoted)
    assert "right-sizing through its alias: promoted" in report_render.markdown(promoted)
    assert "right-sizing through its alias: promoted" in report_render.html(promoted)


def test_an_aliased_function_without_a_canary_is_said_to_be_only_reported(round_prices):  # noqa: F811
    report = reported(round_prices, provisioned_concurrency=PROVISIONED_ALIAS, canary={"skipped": True})
    assert row_of(report)["delivery"] == "not delivered: served through alias live without a canary"
    several = reported(round_prices, provisioned_concurrency={"aliases": [
        {**PROVISIONED_ALIAS["aliases"][0], "qualifier": "beta"}]}, canary={"aliases": [canary_entry()]})
    assert row_of(several)["delivery"] == ("alias beta: not delivered: served through alias beta without a canary; "
                                           "alias live: promoted")


def test_a_function_whose_right_sizing_changed_nothing_has_no_delivery_to_tell(round_prices):  # noqa: F811
    unchanged = {"functions": [{**RIGHTSIZED["functions"][0], "status": "unchanged", "changes": [],
                                "after": RIGHTSIZED["functions"][0]["before"]}]}
    report = build([function(NAME, 100_000)], {"rightsize": unchanged, "canary": {"aliases": [canary_entry()]}},
                   round_prices, dry_run=False)
    assert "delivery" not in row_of(report) and report_render.notes(report)["delivery"] == []
