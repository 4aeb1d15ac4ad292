"""The closed loop: right-size the fleet, let it run a week at the new settings, right-size again. The second run
decides from what the first change measured, not from the worst case, and the fleet converges: a third run on the
same evidence changes nothing."""

from datetime import timedelta

import pytest

from tests.collection.conftest import TRAFFIC_SCALE
from tools import baseline, simulator

AUTO = {"memory_size": "auto", "timeout": "auto", "reserved_concurrency": "auto"}
MEASURED = ("measured after our change", "two memory sizes")


def by_name(result):
    return {entry["function_name"]: entry for entry in result["functions"]}


def lowered_below_a_full_vcpu(result) -> dict:
    """The functions whose memory the run lowered to less than a full vCPU: where their CPU share changed."""
    return {name: change["after"] for name, entry in by_name(result).items() for change in entry["changes"]
            if change["field"] == "memory_size" and change["after"] < min(change["before"], 1769)}


def test_optimize_then_a_week_at_the_new_settings_then_optimize_again_converges(aws, run_module, monkeypatch,
                                                                                tmp_path):
    baseline.provision(aws, "dev")
    this_week = simulator.history_end(7)
    simulator.simulate_fleet(aws, "dev", days=7, end=this_week - timedelta(days=7), traffic_scale=TRAFFIC_SCALE)

    # Each run journals its changes beside the earlier runs' journals, as optimize.yml names them.
    monkeypatch.setenv("LAMBDAOPT_JOURNAL", str(tmp_path / "lambdaopt-journal-20261124T060000000000Z-dev.jsonl"))
    first = run_module("lambda_rightsize", {"suffix": "dev", **AUTO})
    assert not first.failed, first.get("msg")
    moved = lowered_below_a_full_vcpu(first)
    assert moved, "the baseline fleet is over-provisioned: the first run lowers memory"
    for name in moved:
        assert by_name(first)[name]["scaling"]["evidence"] in ("worst case", "Lambda Insights")

    simulator.simulate_fleet(aws, "dev", days=7, end=this_week, traffic_scale=TRAFFIC_SCALE)
    monkeypatch.setenv("LAMBDAOPT_JOURNAL", str(tmp_path / "lambdaopt-journal-20261201T060000000000Z-dev.jsonl"))
    second = run_module("lambda_rightsize", {"suffix": "dev", **AUTO})
    assert not second.failed, second.get("msg")
    for name in moved:
        entry = by_name(second)[name]
        # The window holds both sizes: the second run knows how the function scaled, from the collection's own move.
        assert entry["scaling"]["evidence"] == "measured after our change", (name, entry["scaling"])
        assert "our change from" in entry["scaling"]["detail"]
        for change in entry["changes"]:
            if change["field"] in ("timeout", "reserved_concurrency"):
                assert "CPU-bound" not in change["reason"], (name, change)

    monkeypatch.setenv("LAMBDAOPT_JOURNAL", str(tmp_path / "lambdaopt-journal-20261201T070000000000Z-dev.jsonl"))
    third = run_module("lambda_rightsize", {"suffix": "dev", **AUTO})
    assert not third.failed and not third["changed"], [entry["changes"] for entry in third["functions"]
                                                       if entry["changes"]]


def test_the_usage_a_playbook_passes_on_carries_the_evidence(fleet, run_module):
    """optimize.yml measures once (lambda_usage_info) and hands the usage to lambda_rightsize: the API handler's
    Lambda Insights CPU time travels with it, and its decisions say so."""
    usage = run_module("lambda_usage_info", {"suffix": "dev"})
    measured = {entry["function_name"]: entry for entry in usage["functions"]}
    assert measured["api-handler-dev"]["lambda_insights"]["invocations"] > 0
    assert measured["transform-dev"]["lambda_insights"] is None
    planned = by_name(run_module("lambda_rightsize", {"suffix": "dev", "usage": usage["functions"], **AUTO},
                                 check=True))
    assert planned["api-handler-dev"]["scaling"]["evidence"] == "Lambda Insights"
    assert planned["api-handler-dev"]["scaling"]["cpu_fraction"] == pytest.approx(0.2, abs=0.02)
    reservation = next(change for change in planned["api-handler-dev"]["changes"]
                       if change["field"] == "reserved_concurrency")
    assert "by Lambda Insights" in reservation["reason"] and "capped" not in reservation["reason"]
    assert planned["transform-dev"]["scaling"]["evidence"] == "worst case"
