"""The sizing policy, without AWS: every decision respects its guard, and says why."""

import math

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import (
    ConcurrencyPool,
    Evidence,
    Policy,
    duration_factors,
    plan_concurrency,
    plan_function,
    plan_memory,
    plan_timeout,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.decisions import AUTO
from hypothesis import given
from hypothesis import strategies as st

POLICY = Policy()
STEADY = Evidence(invocations=5000, report_lines=5000, memory_size_mb=3008, max_memory_used_mb=91,
                  max_duration_ms=300, p999_duration_ms=250, peak_concurrency=3)


def open_pool():
    return ConcurrencyPool(unreserved=1000, floor=100)


evidence = st.builds(
    Evidence,
    invocations=st.integers(0, 10**6),
    report_lines=st.integers(0, 10**6),
    memory_size_mb=st.integers(128, 10240),
    max_memory_used_mb=st.integers(30, 10240),
    max_duration_ms=st.floats(1, 900_000),
    p999_duration_ms=st.none(),
    peak_concurrency=st.integers(0, 900),
)
headroom = st.floats(1.0, 3.0)


@given(evidence, st.integers(128, 10240), headroom)
def test_auto_memory_never_below_max_used_times_headroom(usage, current, memory_headroom):
    policy = Policy(memory_headroom=memory_headroom)
    decision = plan_memory(current, AUTO, usage, policy)
    if decision.refused:
        assert usage.invocations < policy.min_invocations
        assert decision.after == current
        return
    floor = math.ceil(usage.max_memory_used_mb * memory_headroom)
    assert 128 <= decision.after <= 10240
    assert decision.after >= min(floor, 10240)
    assert decision.after <= current or floor > current, "raised memory without being under-provisioned"


@given(evidence, st.integers(128, 10240), st.integers(128, 10240))
def test_explicit_memory_passes_the_same_guard(usage, current, requested):
    decision = plan_memory(current, requested, usage, POLICY)
    if usage.invocations < POLICY.min_invocations:
        assert decision.refused
    elif requested < math.ceil(usage.max_memory_used_mb * POLICY.memory_headroom):
        assert decision.refused and decision.risk == "out of memory" and decision.after == current
    else:
        assert not decision.refused and decision.after == requested


@given(evidence, st.integers(1, 900), st.integers(128, 10240), headroom)
def test_auto_timeout_covers_the_projected_duration(usage, current, new_memory, timeout_headroom):
    policy = Policy(timeout_headroom=timeout_headroom)
    decision = plan_timeout(current, AUTO, usage, new_memory, policy)
    if decision.refused:
        assert decision.after == current
        return
    _, worst = duration_factors(usage.memory_size_mb, new_memory)
    assert decision.after * 1000 >= usage.max_duration_ms * worst * timeout_headroom
    assert 1 <= decision.after <= 900


@given(evidence, st.one_of(st.none(), st.integers(0, 900)), st.integers(128, 10240))
def test_auto_concurrency_covers_the_projected_peak_and_keeps_the_pool(usage, current, new_memory):
    pool = ConcurrencyPool(unreserved=1000 - (current or 0), floor=100)
    decision = plan_concurrency(current, AUTO, usage, pool, POLICY, new_memory)
    assert pool.unreserved >= 100
    if decision.changed:
        _, worst = duration_factors(usage.memory_size_mb, new_memory)
        assert decision.after >= usage.peak_concurrency * min(worst, POLICY.concurrency_projection_cap)


def test_the_steady_function_is_cut_hard():
    plan = plan_function(3008, 300, None, {"memory_size": AUTO, "timeout": AUTO}, STEADY, open_pool(), POLICY)
    assert plan.after("memory_size", 3008) == 128
    assert plan.after("timeout", 300) <= 10
    assert not plan.refused


def test_too_little_data_changes_nothing_and_says_so():
    rare = Evidence(invocations=30, report_lines=30, memory_size_mb=3008, max_memory_used_mb=100,
                    max_duration_ms=900, peak_concurrency=1)
    plan = plan_function(3008, 300, None, {"memory_size": AUTO, "timeout": AUTO, "reserved_concurrency": AUTO},
                         rare, open_pool(), POLICY)
    assert plan.changes == []
    assert len(plan.refused) == 3 and all("30 invocations" in d.reason for d in plan.refused)


def test_explicit_values_without_data_need_allow_unsafe():
    rare = Evidence(invocations=10, report_lines=10, memory_size_mb=3008, max_memory_used_mb=100)
    assert plan_memory(3008, 1024, rare, POLICY).refused
    accepted = plan_memory(3008, 1024, rare, Policy(allow_unsafe=True))
    assert accepted.changed and "insufficient data" in accepted.risk


def test_less_memory_is_refused_when_the_slower_code_would_overrun_the_timeout_it_keeps():
    cpu_bound = Evidence(invocations=3000, report_lines=3000, memory_size_mb=3008, max_memory_used_mb=236,
                         max_duration_ms=4300, peak_concurrency=1)
    plan = plan_function(3008, 20, None, {"memory_size": AUTO}, cpu_bound, open_pool(), POLICY)
    # 320 MB is refused; memory descends one step instead (4.3 s at 1,536 MB is 5 s, x 1.5 within the 20 s).
    (memory,) = plan.changes
    assert memory.field == "memory_size" and memory.after == 1536 and not plan.refused
    assert "one step towards 320 MB (refused: at 320 MB the observed max duration 4300 ms could grow to 23771 ms " \
           "(CPU-bound), which with headroom 1.5 exceeds the 20 s timeout)" in memory.reason
    together = plan_function(3008, 20, None, {"memory_size": AUTO, "timeout": AUTO}, cpu_bound, open_pool(), POLICY)
    assert together.after("memory_size", 3008) == 320 and together.after("timeout", 20) >= 36


def test_less_memory_is_refused_when_the_reservation_it_keeps_would_throttle():
    spiky = Evidence(invocations=9000, report_lines=9000, memory_size_mb=3008, max_memory_used_mb=203,
                     max_duration_ms=1400, peak_concurrency=85)
    plan = plan_function(3008, 300, 100, {"memory_size": AUTO}, spiky, open_pool(), POLICY)
    # 320 MB is refused; one step down, 85 x 1769/1536 = 98 concurrent executions fit the 100 reserved.
    (memory,) = plan.changes
    assert memory.after == 1536 and not plan.refused
    assert "(refused: at 320 MB the observed peak concurrency 85 could grow to 170 (CPU-bound), above the 100 " \
           "reserved)" in memory.reason
    tighter = plan_function(3008, 300, 90, {"memory_size": AUTO}, spiky, open_pool(), POLICY)
    (refused,) = tighter.refused
    assert refused.field == "memory_size" and refused.risk == "throttling" and not tighter.changes


def test_seed_concurrency_below_the_peak_is_refused():
    spiky = Evidence(invocations=9000, report_lines=9000, memory_size_mb=3008, peak_concurrency=85)
    decision = plan_concurrency(None, 50, spiky, open_pool(), POLICY)
    assert decision.refused and decision.risk == "throttling" and "85" in decision.reason


def test_the_account_floor_cannot_be_overridden():
    pool = ConcurrencyPool(unreserved=150, floor=100)
    decision = plan_concurrency(None, 60, STEADY, pool, Policy(allow_unsafe=True))
    assert decision.refused and "below its floor of 100" in decision.reason
    assert pool.unreserved == 150
    assert plan_concurrency(None, 50, STEADY, pool, POLICY).changed and pool.unreserved == 100


@given(evidence, st.integers(0, 500), st.one_of(st.just(AUTO), st.integers(0, 900)), st.booleans())
def test_a_reservation_is_never_planned_below_the_provisioned_concurrency(usage, provisioned, requested, unsafe):
    """Lambda refuses PutFunctionConcurrency below the provisioned concurrency of the function's aliases and
    versions, so no plan may ask for it, whatever allow_unsafe says."""
    decision = plan_concurrency(None, requested, usage, ConcurrencyPool(unreserved=10_000, floor=100),
                                Policy(allow_unsafe=unsafe, min_invocations=0), provisioned=provisioned)
    if decision.changed:
        assert decision.after >= provisioned


def test_auto_reservation_is_raised_to_the_provisioned_concurrency():
    decision = plan_concurrency(None, AUTO, STEADY, open_pool(), POLICY, provisioned=150)
    assert decision.after == 150 and "150 provisioned" in decision.reason


def test_an_explicit_reservation_below_the_provisioned_concurrency_cannot_be_forced():
    decision = plan_concurrency(None, 100, STEADY, open_pool(), Policy(allow_unsafe=True), provisioned=150)
    assert decision.refused and decision.after is None and "150 provisioned" in decision.reason


def test_timeout_is_not_lowered_for_a_function_that_already_times_out():
    capped = Evidence(invocations=500, report_lines=500, memory_size_mb=1024, max_duration_ms=30000)
    decision = plan_timeout(30, AUTO, capped, 1024, POLICY)
    assert decision.refused and "already runs into its 30 s timeout" in decision.reason


def test_max_slowdown_keeps_enough_cpu():
    decision = plan_memory(3008, AUTO, STEADY, Policy(max_slowdown=2))
    assert decision.after == math.ceil(1769 / 2)


def test_p999_timeout_statistic():
    policy = Policy(timeout_statistic="p999")
    decision = plan_timeout(300, AUTO, STEADY, 3008, policy)
    assert "p99.9 duration 250 ms x headroom 1.5 = 1 s" in decision.reason
    assert decision.after == 3 and "minimum of 3 s" in decision.reason


@pytest.mark.parametrize("old, new, expected", [
    (3008, 3008, (1.0, 1.0)),
    (3008, 1769, (1.0, 1.0)),
    (1769, 884.5, (1.0, 2.0)),
    (512, 1024, (0.5, 1.0)),
])
def test_duration_factors(old, new, expected):
    assert duration_factors(old, new) == pytest.approx(expected)


def test_a_reservation_takes_from_the_pool_only_what_provisioned_concurrency_does_not_hold_already():
    """Without a reservation, a function's provisioned concurrency is already out of the unreserved pool."""
    pool = ConcurrencyPool(unreserved=400, floor=300)
    decision = plan_concurrency(None, 200, STEADY, pool, POLICY, provisioned=150)
    assert decision.changed and pool.unreserved == 350


def test_a_decrease_is_never_refused_for_the_pool():
    pool = ConcurrencyPool(unreserved=50, floor=100)
    decision = plan_concurrency(400, 10, STEADY, pool, POLICY)
    assert decision.changed and decision.after == 10 and pool.unreserved == 440
