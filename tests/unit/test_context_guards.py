"""Guards from a function's context, without AWS: what invokes it (an SQS queue, API Gateway, a stream) and where
its usage is heading (a trend in max memory used). Each guard never lets through what it exists to stop, and a
function without context is planned exactly as before."""

import math

from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import (
    ConcurrencyPool,
    Evidence,
    Policy,
    duration_factors,
    plan_function,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan_context import (
    API_GATEWAY,
    SQS,
    STREAM,
    TREND,
    context_of,
    fit_trend,
    iterator_age_rose,
    lowest_memory_within,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.decisions import AUTO
from hypothesis import given
from hypothesis import strategies as st

POLICY = Policy()
ALL_AUTO = {"memory_size": AUTO, "timeout": AUTO, "reserved_concurrency": None}
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:orders-dev"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks-dev"


def evidence(max_duration_ms: float, used_mb: float = 91, memory_mb: int = 3008) -> Evidence:
    return Evidence(invocations=5000, report_lines=5000, memory_size_mb=memory_mb, max_memory_used_mb=used_mb,
                    max_duration_ms=max_duration_ms, peak_concurrency=3)


def sqs_triggers(visibility_timeout: int) -> dict:
    return {"event_sources": [{"type": "sqs", "arn": QUEUE_ARN, "state": "Enabled", "batch_size": 10,
                               "visibility_timeout": visibility_timeout}], "invokers": [], "unknown": {}}


def api_triggers() -> dict:
    return {"event_sources": [], "invokers": ["apigateway.amazonaws.com"], "unknown": {}}


def plan(evidence_: Evidence, context, requests=ALL_AUTO, policy=POLICY, memory=3008, timeout=300):
    return plan_function(memory, timeout, None, requests, evidence_, ConcurrencyPool(1000, 100), policy,
                         context=context)


def decision(plan_, field):
    return next(decision for decision in plan_.decisions if decision.field == field)


def projected_s(evidence_: Evidence, memory_mb: int, policy=POLICY) -> float:
    return evidence_.max_duration_ms * duration_factors(evidence_.memory_size_mb, memory_mb)[1] \
        * policy.timeout_headroom / 1000


def test_without_a_trigger_or_trend_there_is_no_context():
    assert context_of(None) is None
    assert context_of({"event_sources": [], "invokers": ["events.amazonaws.com"], "unknown": {}}) is None


def test_an_sqs_consumer_keeps_a_memory_whose_timeout_fits_the_queue():
    cpu_heavy = evidence(max_duration_ms=4000)  # at 128 MB up to 55 s, with headroom 83 s
    free = plan(cpu_heavy, None)
    assert decision(free, "memory_size").after == 128
    guarded = plan(cpu_heavy, context_of(sqs_triggers(30)))
    memory, timeout = decision(guarded, "memory_size"), decision(guarded, "timeout")
    assert memory.changed and memory.context == SQS and 128 < memory.after < 3008
    assert "visibility timeout of queue orders-dev" in memory.reason
    assert timeout.changed and timeout.after <= 30
    assert projected_s(cpu_heavy, memory.after) <= 30


def test_an_sqs_consumer_too_slow_for_its_queue_keeps_its_memory_and_its_timeout():
    slow = evidence(max_duration_ms=25000)  # 37.5 s with headroom, above a 30 s visibility timeout already
    guarded = plan(slow, context_of(sqs_triggers(30)))
    memory, timeout = decision(guarded, "memory_size"), decision(guarded, "timeout")
    assert memory.refused and memory.risk == "messages processed twice" and memory.after == 3008
    assert timeout.refused and timeout.context == SQS and timeout.after == 300


def test_an_explicit_memory_too_low_for_the_queue_is_refused_unless_unsafe_is_allowed():
    cpu_heavy = evidence(max_duration_ms=4000)
    requests = {"memory_size": 128, "timeout": None, "reserved_concurrency": None}
    refused = decision(plan(cpu_heavy, context_of(sqs_triggers(30)), requests), "memory_size")
    assert refused.refused and refused.context == SQS
    allowed = decision(plan(cpu_heavy, context_of(sqs_triggers(30)), requests, Policy(allow_unsafe=True)),
                       "memory_size")
    assert allowed.changed and allowed.after == 128 and allowed.risk == "messages processed twice"


def test_an_explicit_timeout_above_the_visibility_timeout_is_refused():
    requests = {"memory_size": None, "timeout": 60, "reserved_concurrency": None}
    refused = decision(plan(evidence(1000), context_of(sqs_triggers(30)), requests), "timeout")
    assert refused.refused and refused.context == SQS and "visibility timeout" in refused.reason


def test_below_six_times_the_timeout_the_result_says_so():
    context = context_of(sqs_triggers(30))
    assert context.notes(5) == []
    (note,) = context.notes(6)
    assert "below the 6 x 6 s = 36 s AWS recommends" in note


def test_an_api_fronted_function_is_never_sized_past_the_integration_timeout():
    cpu_heavy = evidence(max_duration_ms=3000)
    guarded = plan(cpu_heavy, context_of(api_triggers()))
    memory = decision(guarded, "memory_size")
    assert memory.context == API_GATEWAY and "29 s integration timeout" in memory.reason
    assert projected_s(cpu_heavy, memory.after) <= 29
    assert decision(plan(cpu_heavy, None), "memory_size").after == 128


def test_a_timeout_above_the_integration_timeout_is_reported_as_having_no_effect():
    (note,) = context_of(api_triggers()).notes(60)
    assert "no effect" in note and "29 s integration timeout" in note
    assert context_of(api_triggers(), api_integration_timeout_s=60).notes(60) == []


def test_a_stream_consumer_falling_behind_keeps_its_memory():
    triggers = {"event_sources": [{"type": "kinesis", "arn": STREAM_ARN, "state": "Enabled", "batch_size": 100,
                                   "iterator_age_ms": [100, 500, 4000]}], "invokers": [], "unknown": {}}
    memory = decision(plan(evidence(300), context_of(triggers)), "memory_size")
    assert memory.refused and memory.context == STREAM and "IteratorAge rose" in memory.reason
    triggers["event_sources"][0]["iterator_age_ms"] = [4000, 100, 120]
    assert context_of(triggers) is None
    assert decision(plan(evidence(300), context_of(triggers)), "memory_size").after == 128


def test_iterator_age_rises_only_when_the_window_ends_at_its_worst():
    assert iterator_age_rose([1, 2, 3])
    assert not iterator_age_rose([3, 2, 1]) and not iterator_age_rose([1, 5, 2]) and not iterator_age_rose([7])


def test_a_leaking_function_is_sized_for_its_trend_at_the_horizon():
    leak = [(day, 100 + 20 * day) for day in range(14)]  # 360 MB on the last day, +20 MB a day
    used = evidence(300, used_mb=360)
    memory = decision(plan(used, context_of(None, leak, trend_horizon_days=7)), "memory_size")
    floor = math.ceil((100 + 20 * (13 + 7)) * POLICY.memory_headroom)
    assert memory.context == TREND and memory.after >= floor and memory.after % 64 == 0
    assert "20.0 MB/day" in memory.reason
    assert decision(plan(used, None), "memory_size").after < floor


def test_a_noisy_growth_too_uncertain_to_fit_is_refused_with_its_growth_rate():
    noisy = [(day, 100 + 10 * day + (60 if day % 2 else -60)) for day in range(30)]
    trend = fit_trend(noisy)
    assert trend.r_squared < 0.8 and trend.slope > 0
    memory = decision(plan(evidence(300, used_mb=450), context_of(None, noisy)), "memory_size")
    assert memory.refused and memory.context == TREND and "MB/day" in memory.reason


def test_flat_usage_is_no_trend():
    flat = [(day, 90 + (day % 3)) for day in range(14)]
    assert decision(plan(evidence(300), context_of(None, flat)), "memory_size") == \
        decision(plan(evidence(300), None), "memory_size")


def test_a_growing_duration_gets_a_timeout_for_its_trend():
    slowing = [(day, 1000 + 200 * day) for day in range(14)]  # 3.6 s on the last day, +0.2 s a day
    used = evidence(3600, memory_mb=1769)
    requests = {"memory_size": None, "timeout": AUTO, "reserved_concurrency": None}
    timeout = decision(plan(used, context_of(None, duration_points=slowing, trend_horizon_days=7), requests,
                            memory=1769), "timeout")
    floor = math.ceil((1000 + 200 * (13 + 7)) * POLICY.timeout_headroom / 1000)
    assert timeout.context == TREND and timeout.after == floor and "ms/day" in timeout.reason
    assert decision(plan(used, None, requests, memory=1769), "timeout").after < floor
    explicit = {"memory_size": None, "timeout": 6, "reserved_concurrency": None}
    refused = decision(plan(used, context_of(None, duration_points=slowing), explicit, memory=1769), "timeout")
    assert refused.refused and refused.context == TREND


def test_a_noisy_growing_duration_keeps_its_timeout():
    noisy = [(day, 1000 + 50 * day + (500 if day % 2 else -500)) for day in range(30)]
    requests = {"memory_size": None, "timeout": AUTO, "reserved_concurrency": None}
    timeout = decision(plan(evidence(2700, memory_mb=1769), context_of(None, duration_points=noisy), requests,
                            memory=1769), "timeout")
    assert timeout.refused and timeout.context == TREND and timeout.after == 300


durations = st.floats(min_value=1, max_value=120_000)
timeouts = st.integers(min_value=1, max_value=900)
memories = st.integers(min_value=128, max_value=10240)


@given(durations, timeouts, st.sampled_from([AUTO, 128, 256, 512, 1024, 2048]),
       st.sampled_from([AUTO, None, 5, 30, 120]))
def test_property_an_sqs_consumer_never_gets_a_timeout_or_memory_beyond_its_queue(observed, visibility, memory,
                                                                                   timeout):
    used = evidence(observed)
    requests = {"memory_size": memory, "timeout": timeout, "reserved_concurrency": None}
    planned = plan(used, context_of(sqs_triggers(visibility)), requests)
    new_memory = planned.after("memory_size", 3008)
    new_timeout = planned.after("timeout", 300)
    if new_memory != 3008:
        assert projected_s(used, new_memory) <= visibility
    if new_timeout != 300:
        assert new_timeout <= visibility


@given(durations, st.sampled_from([AUTO, 128, 512, 1024]))
def test_property_an_api_fronted_function_is_never_lowered_past_the_integration_timeout(observed, memory):
    used = evidence(observed)
    requests = {"memory_size": memory, "timeout": None, "reserved_concurrency": None}
    new_memory = plan(used, context_of(api_triggers()), requests).after("memory_size", 3008)
    if new_memory < 3008:
        assert projected_s(used, new_memory) <= 29


@given(durations, memories, st.floats(min_value=1, max_value=900))
def test_property_the_lowest_memory_within_a_ceiling_is_the_lowest(observed, observed_at, ceiling):
    used = evidence(observed, memory_mb=observed_at)
    lowest = lowest_memory_within(ceiling, used, POLICY)
    if lowest < observed_at:
        assert projected_s(used, lowest) <= ceiling
        if lowest > 128:
            assert projected_s(used, lowest - 1) > ceiling


@given(st.floats(min_value=1, max_value=2000), st.integers(min_value=5, max_value=30), st.sampled_from([AUTO, 5, 60]))
def test_property_a_clean_slowdown_never_gets_a_timeout_below_its_trend(slope, days, timeout):
    slowing = [(day, 500 + slope * day) for day in range(days)]
    used = evidence(500 + slope * (days - 1), memory_mb=1769)
    requests = {"memory_size": None, "timeout": timeout, "reserved_concurrency": None}
    new_timeout = plan(used, context_of(None, duration_points=slowing, trend_horizon_days=7), requests,
                       memory=1769).after("timeout", 300)
    needed = (500 + slope * (days - 1 + 7)) * POLICY.timeout_headroom / 1000
    assert new_timeout >= needed or new_timeout == 300


@given(st.floats(min_value=1, max_value=50), st.integers(min_value=5, max_value=30),
       st.sampled_from([AUTO, 128, 256, 512]))
def test_property_a_clean_leak_never_gets_memory_below_its_trend(slope, days, memory):
    leak = [(day, 100 + slope * day) for day in range(days)]
    used = evidence(300, used_mb=100 + slope * (days - 1))
    requests = {"memory_size": memory, "timeout": None, "reserved_concurrency": None}
    new_memory = plan(used, context_of(None, leak, trend_horizon_days=7), requests).after("memory_size", 3008)
    assert new_memory >= (100 + slope * (days - 1 + 7)) * POLICY.memory_headroom


@given(durations, st.sampled_from([AUTO, 128, 1024]), st.sampled_from([AUTO, None, 30]))
def test_property_without_context_nothing_changes(observed, memory, timeout):
    requests = {"memory_size": memory, "timeout": timeout, "reserved_concurrency": None}
    used = evidence(observed)
    unrelated = context_of({"event_sources": [], "invokers": ["s3.amazonaws.com"], "unknown": {}})
    assert plan(used, unrelated, requests).decisions == plan(used, None, requests).decisions


def api_read(timeout_ms, kind="http", unknown=None) -> dict:
    return {**api_triggers(), "unknown": unknown or {},
            "apis": [{"id": "h77p0a1", "name": "shop-dev", "type": kind, "integration_timeout_ms": timeout_ms}]}


def test_the_integration_timeout_read_from_the_api_is_the_ceiling_not_the_option():
    cpu_heavy = evidence(max_duration_ms=3000)
    context = context_of(api_read(8000), api_integration_timeout_s=29)
    (ceiling,) = context.ceilings
    assert ceiling.seconds == 8 and ceiling.what == "the 8 s integration timeout of HTTP API shop-dev (h77p0a1)"
    memory = decision(plan(cpu_heavy, context), "memory_size")
    assert memory.context == API_GATEWAY and "HTTP API shop-dev" in memory.reason
    assert projected_s(cpu_heavy, memory.after) <= 8
    (note,) = context.notes(30)
    assert "no effect" in note and "8 s integration timeout" in note


def test_an_api_that_could_not_be_read_falls_back_to_the_option_and_says_why():
    unreadable = api_read(None, kind=None, unknown={"api h77p0a1": "GetRestApi failed: AccessDeniedException"})
    unreadable["apis"][0]["name"] = None
    context = context_of(unreadable, api_integration_timeout_s=20)
    (ceiling,) = context.ceilings
    assert ceiling.seconds == 20 and "(api_integration_timeout)" in ceiling.what
    (note,) = context.notes(10)
    assert note == ("API h77p0a1's integration timeout taken as api_integration_timeout 20 s: "
                    "GetRestApi failed: AccessDeniedException")


@given(st.integers(min_value=50, max_value=30000), st.floats(min_value=100, max_value=20000))
def test_no_memory_is_ever_planned_past_an_apis_integration_timeout(timeout_ms, max_duration_ms):
    observed = evidence(max_duration_ms=max_duration_ms)
    memory = decision(plan(observed, context_of(api_read(timeout_ms))), "memory_size")
    # Lowered only where the projected duration with headroom still fits; otherwise kept as it is.
    assert memory.after == 3008 or projected_s(observed, memory.after) <= timeout_ms / 1000


def test_a_dynamodb_stream_is_named_by_its_table():
    triggers = {"event_sources": [{"type": "dynamodb", "state": "Enabled", "batch_size": 100,
                                   "arn": "arn:aws:dynamodb:us-east-1:123456789012:table/data-table-dev/stream/"
                                          "2026-11-30T22:53:27.390", "iterator_age_ms": [2500, 3125, 3906]}],
                "invokers": [], "unknown": {}}
    memory = decision(plan(evidence(300), context_of(triggers)), "memory_size")
    assert memory.refused and memory.context == STREAM
    assert memory.reason.startswith("the stream of DynamoDB table data-table-dev: IteratorAge rose over the window")
    kinesis = context_of({**triggers, "event_sources": [{**triggers["event_sources"][0], "type": "kinesis",
                                                         "arn": STREAM_ARN}]})
    assert kinesis.streams_behind == ("Kinesis stream clicks-dev",)
