"""Power tuning's plain logic (sizes, payload sources, a size's figures, best sizes) and its invocation read against
Invoke's documented answer."""

import base64
import io
import json

import boto3
import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import power_tuning
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.power_tuning import (
    Outcome,
    PayloadError,
    PayloadSource,
    Prices,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.power_tuning_api import invoke_with_tail
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.report_lines import ReportLine
from botocore.response import StreamingBody
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

US_EAST_1 = Prices(gb_second=0.0000166667, request=0.0000002)


def report(memory: int, duration: float, used: int = 70, status: str | None = None, init: float | None = None):
    return ReportLine(duration, int(duration + (init or 0)) + 1, memory, used, init, status)


def point(memory: int, duration: float, **kwargs) -> dict:
    return power_tuning.size_point(memory, [Outcome(report(memory, duration, **kwargs))] * 3, US_EAST_1)


def test_the_default_ladder_stops_at_the_functions_own_size_and_measures_it():
    assert power_tuning.candidate_sizes(None, 3008) == [3008, 2048, 1536, 1024, 512, 256, 128]
    assert power_tuning.candidate_sizes(None, 1000) == [1000, 512, 256, 128]
    assert power_tuning.candidate_sizes(None, 128) == [128]


def test_requested_sizes_are_measured_as_given_up_to_the_functions_size():
    assert power_tuning.candidate_sizes([256, 1024, 4096, 1024], 2048) == [1024, 256]


@given(st.lists(st.integers(min_value=128, max_value=10240), max_size=12), st.integers(min_value=128, max_value=10240))
def test_sizes_never_exceed_the_function_or_lambdas_range(requested, current):
    sizes = power_tuning.candidate_sizes(requested or None, current)
    assert sizes == sorted(set(sizes), reverse=True)
    assert all(power_tuning.MIN_MEMORY_MB <= size <= current for size in sizes)


def test_the_tasks_payload_comes_before_the_tag():
    tags = {power_tuning.PAYLOAD_TAG: "ssm:/payloads/transform"}
    assert power_tuning.payload_source("transform", {"transform": {}}, tags) == (PayloadSource("task"), None)
    assert power_tuning.payload_source("transform", {}, tags) == (PayloadSource("ssm", "/payloads/transform"), None)


def test_a_tag_names_an_s3_object():
    source, reason = power_tuning.payload_source("f", {}, {power_tuning.PAYLOAD_TAG: "s3://bucket/path/to/event.json"})
    assert reason is None and (source.location, source.key) == ("bucket", "path/to/event.json")
    assert source.describe() == "s3://bucket/path/to/event.json"


@pytest.mark.parametrize("tag", ["s3://bucket", "s3://bucket/", "ssm:", "https://example.com/event.json"])
def test_a_tag_naming_neither_is_a_reason_to_refuse(tag):
    source, reason = power_tuning.payload_source("f", {}, {power_tuning.PAYLOAD_TAG: tag})
    assert source is None and "names neither" in reason


def test_no_payload_is_a_reason_to_refuse():
    source, reason = power_tuning.payload_source("f", {}, {})
    assert source is None and reason.startswith("no test payload")


def test_payloads_are_json():
    assert power_tuning.encode_payload({"id": 1}) == b'{"id": 1}'
    assert power_tuning.encode_payload('{"id": 1}') == b'{"id": 1}'
    assert power_tuning.encode_payload([1, 2]) == b"[1, 2]"
    with pytest.raises(PayloadError, match="not JSON"):
        power_tuning.encode_payload("{id: 1}")
    with pytest.raises(PayloadError, match="over Invoke's"):
        power_tuning.encode_payload({"record": "x" * power_tuning.MAX_PAYLOAD_BYTES})


def test_a_sizes_cost_is_its_average_billed_gb_seconds_and_requests():
    measured = power_tuning.size_point(1024, [Outcome(report(1024, 999.0)), Outcome(report(1024, 1999.0))], US_EAST_1)
    assert measured["avg_billed_duration_ms"] == 1500
    assert measured["cost_per_million_invocations"] == pytest.approx((1.5 * 0.0000166667 + 0.0000002) * 1e6, abs=1e-4)
    assert measured["duration_ms"] == {"avg": 1499.0, "max": 1999.0} and measured["status"] == "measured"


def test_running_out_of_memory_or_time_fails_the_size():
    out_of_memory = power_tuning.size_point(
        128, [Outcome(report(128, 50.0)), Outcome(report(128, 80.0, used=128, status="error"), "Unhandled")], US_EAST_1)
    assert out_of_memory["status"] == "failed" and out_of_memory["ran_out_of"] == ["memory"]
    assert out_of_memory["failed_invocations"] == 1
    timed_out = power_tuning.size_point(256, [Outcome(report(256, 3000.0, status="timeout"), "Unhandled")], US_EAST_1)
    assert timed_out["ran_out_of"] == ["time"] and timed_out["reason"] == "1 of 1 invocations ran out of time"


def test_a_function_error_is_counted_and_the_size_stays_measured():
    errors = [Outcome(report(512, 100.0, status="error"), "Unhandled"), Outcome(report(512, 90.0))]
    measured = power_tuning.size_point(512, errors, US_EAST_1)
    assert measured["status"] == "measured" and measured["failed_invocations"] == 1


def test_a_size_whose_invocations_all_failed_is_failed():
    failed = power_tuning.size_point(512, [Outcome(None, "Unhandled")] * 2, US_EAST_1)
    assert failed["status"] == "failed" and "without a REPORT line" in failed["reason"]


def test_smaller_sizes_than_the_memory_used_or_a_size_that_ran_out_are_skipped():
    used = [point(1024, 100.0, used=300)]
    assert power_tuning.skip_reason(512, used) is None
    assert power_tuning.skip_reason(256, used) == "the invocations used up to 300 MB at 1024 MB"
    ran_out = [point(512, 100.0, used=512, status="error")]
    assert "a larger size, 512 MB, already failed" in power_tuning.skip_reason(256, ran_out)


def test_best_sizes_of_an_io_bound_curve():
    curve = [point(128, 290.0), point(256, 200.0), point(1024, 137.0), point(2048, 128.0), point(3008, 128.0)]
    assert power_tuning.best_sizes(curve, 0.5) == {"cost": 128, "speed": 2048, "balanced": 256}


def test_failed_and_skipped_sizes_are_never_best():
    curve = [point(128, 50.0, used=128, status="error"), power_tuning.skipped_point(64, "x"), point(512, 100.0)]
    assert power_tuning.best_sizes(curve, 0.5) == {"cost": 512, "speed": 512, "balanced": 512}
    assert power_tuning.best_sizes(curve[:2], 0.5) == {"cost": None, "speed": None, "balanced": None}


@given(st.lists(st.tuples(st.sampled_from([128, 256, 512, 1024, 1536, 2048, 3008]),
                          st.floats(min_value=1, max_value=60000)), min_size=1, max_size=7, unique_by=lambda p: p[0]))
def test_balanced_weight_one_is_cost_and_zero_is_speed(points):
    curve = [point(memory, duration) for memory, duration in points]
    best = power_tuning.best_sizes(curve, 1.0)
    cheapest = min(point["cost_per_million_invocations"] for point in curve)
    fastest = min(point["duration_ms"]["avg"] for point in curve)
    by_size = {point["memory_size"]: point for point in curve}
    assert by_size[best["cost"]]["cost_per_million_invocations"] == cheapest
    assert by_size[best["speed"]]["duration_ms"]["avg"] == fastest
    assert by_size[best["balanced"]]["cost_per_million_invocations"] == cheapest
    assert by_size[power_tuning.best_sizes(curve, 0.0)["balanced"]]["duration_ms"]["avg"] == fastest


def test_an_invocation_is_read_from_the_report_line_at_the_end_of_its_log_tail():
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    log = ("START RequestId: 1 Version: 7\nEND RequestId: 1\nREPORT RequestId: 1\tDuration: 102.25 ms\t"
           "Billed Duration: 103 ms\tMemory Size: 512 MB\tMax Memory Used: 75 MB\t\n")
    body = b'{"ok": true}'
    with Stubber(client) as stubber:
        stubber.add_response("invoke", {"StatusCode": 200, "ExecutedVersion": "7",
                                        "LogResult": base64.b64encode(log.encode()).decode(),
                                        "Payload": StreamingBody(io.BytesIO(body), len(body))},
                             {"FunctionName": "f", "Qualifier": "7", "InvocationType": "RequestResponse",
                              "LogType": "Tail", "Payload": json.dumps({"id": 1}).encode()})
        outcome = invoke_with_tail(client, "f", "7", json.dumps({"id": 1}).encode())
    assert outcome == Outcome(ReportLine(102.25, 103, 512, 75, None, None), None)
    assert not outcome.failed
