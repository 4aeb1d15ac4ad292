"""lambda_usage_info against the emulator: selection, figures that match the simulated history, sources."""

from datetime import datetime

import pytest

from tests.collection.conftest import mutating
from tools import simulator


def by_name(result):
    return {entry["function_name"]: entry for entry in result["functions"]}


def test_figures_match_the_simulated_history(aws, fleet, run_module, api_calls):
    result = run_module("lambda_usage_info", {"suffix": "dev"})
    assert not result["changed"] and not result.failed
    assert {entry["status"] for entry in result["functions"]} == {"unchanged"}
    assert mutating(api_calls) == []
    entries = by_name(result)
    assert set(entries) == set(fleet)
    for name, usage in fleet.items():
        entry = entries[name]
        # The module's window is measured from its own "now", which may be past the hour the history was written in.
        ran = [i for i in usage.invocations if _start(entry) <= i.start.timestamp() <= _end(entry)]
        assert entry["invocations"] == pytest.approx(len(usage.invocations), abs=len(usage.invocations) * 0.02 + 1)
        assert entry["samples"]["report_lines"] == len(ran)
        assert entry["max_memory_used_mb"]["max"] == max(i.max_memory_used_mb for i in ran)
        assert entry["duration_ms"]["max"] == pytest.approx(max(i.duration_ms for i in usage.invocations))
        assert entry["peak_concurrency"] == usage.peak_concurrency
        assert entry["errors"] == usage.errors
        assert entry["configuration"]["memory_size"] == 3008
        assert entry["sources"]["memory"] == "REPORT lines (Logs Insights)"
        assert entry["sources"]["invocations"] == "AWS/Lambda metrics (GetMetricData)"
        written = sum(len(message.encode()) for i in usage.invocations for message in simulator.log_messages(i))
        assert entry["log_ingested_bytes"] == pytest.approx(written, rel=0.02)
        assert entry["sources"]["log_ingested_bytes"] == "AWS/Logs IncomingBytes (GetMetricData)"
    assert result["api_calls"]["get_metric_data_calls"] == 1
    checked = run_module("lambda_usage_info", {"suffix": "dev"}, check=True)
    assert not checked["changed"]
    assert [entry["invocations"] for entry in checked["functions"]] == [e["invocations"] for e in result["functions"]]


def _start(entry):
    return datetime.fromisoformat(entry["window"]["start"]).timestamp()


def _end(entry):
    return datetime.fromisoformat(entry["window"]["end"]).timestamp()


def test_suffix_matches_exactly_and_filters_narrow(aws, run_module, make_function):
    for name in ("transform-dev", "transform-dev2", "api-dev", "api-prod", "dev"):
        make_function(name, Tags={"Team": "data" if name.startswith("transform") else "web"})
    assert set(by_name(run_module("lambda_usage_info", {"suffix": "dev"}))) == {"transform-dev", "api-dev"}
    assert set(by_name(run_module("lambda_usage_info", {"suffix": "dev", "name_pattern": "api-*"}))) == {"api-dev"}
    assert set(by_name(run_module("lambda_usage_info", {"suffix": "dev", "tags": {"Team": "data"}}))) == {
        "transform-dev"}


def test_a_function_without_history_has_no_figures_but_says_where_they_would_come_from(aws, run_module,
                                                                                        make_function):
    make_function("quiet-dev")
    (entry,) = run_module("lambda_usage_info", {"suffix": "dev"})["functions"]
    assert entry["invocations"] == 0 and entry["max_memory_used_mb"]["max"] is None
    assert entry["samples"]["report_lines"] == 0 and entry["peak_concurrency"] is None
    assert entry["log_ingested_bytes"] is None  # unknown, not zero


def test_named_functions_that_do_not_exist_fail_the_task_after_the_rest(aws, run_module, make_function):
    make_function("real-dev")
    result = run_module("lambda_usage_info", {"functions": ["real-dev", "ghost-dev"]})
    assert result.failed and result["missing"] == result["failed_functions"] == ["ghost-dev"]
    assert result["msg"] == "functions not found: ghost-dev"
    assert [entry["function_name"] for entry in result["functions"]] == ["real-dev"]


def test_a_large_fleet_is_read_in_batches_of_500_queries(aws, run_module, make_function, api_calls):
    for index in range(80):  # 80 functions x 8 metrics = 640 queries: two calls
        make_function(f"bulk-{index:02d}-dev")
    result = run_module("lambda_usage_info", {"suffix": "dev", "logs_insights": "never"})
    assert len(result["functions"]) == 80
    assert result["api_calls"]["get_metric_data_calls"] == 2
    assert sum(1 for call in api_calls if call == ("lambda", "ListFunctions")) == 2  # pages of 50


@pytest.mark.parametrize("args, message", [
    ({"suffix": "dev", "lookback_days": 0}, "lookback_days must be between 1 and 455"),
    ({"suffix": "DEV"}, "suffix 'DEV' is not valid"),
    ({}, "one of the following is required: suffix, functions"),
    ({"suffix": "dev", "logs_insights": "sometimes"}, "logs_insights must be one of"),
])
def test_bad_input_fails_before_any_api_call(aws, run_module, api_calls, args, message):
    result = run_module("lambda_usage_info", args)
    assert result.failed and message in result["msg"]
    assert api_calls == []
