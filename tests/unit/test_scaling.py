"""How a function's duration scales with memory, fitted from evidence (module_utils/_lambda/scaling.py): a known CPU
fraction is recovered from REPORT lines at two sizes, a projection never leaves the bounds that no code can, and
without evidence the worst case stands."""

import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import report_lines, scaling
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.evidence import evidence_of
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import (
    ConcurrencyPool,
    Evidence,
    Policy,
    duration_factors,
    plan_concurrency,
    plan_function,
    plan_timeout,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.decisions import AUTO
from hypothesis import given
from hypothesis import strategies as st


def report_line(request: int, duration_ms: float, memory_mb: int) -> str:
    return (f"REPORT RequestId: r-{request}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {int(duration_ms) + 1} ms"
            f"\tMemory Size: {memory_mb} MB\tMax Memory Used: 90 MB\t")


def synthetic_lines(cpu_fraction: float, full_vcpu_ms: float, sizes: dict, seed: int = 7, noise: float = 0.1) -> list:
    """REPORT lines of a function whose duration at a full vCPU is `full_vcpu_ms`, `cpu_fraction` of it CPU work,
    `sizes[memory] invocations` at each memory size, each duration off by up to `noise` of itself."""
    rng = random.Random(seed)
    lines = []
    for memory, count in sizes.items():
        expected = full_vcpu_ms * ((1 - cpu_fraction) + cpu_fraction * scaling.slowdown(memory))
        for _ in range(count):
            lines.append(report_lines.parse_report(report_line(len(lines), expected * rng.uniform(1 - noise,
                                                                                                  1 + noise), memory)))
    return lines


@pytest.mark.parametrize("cpu_fraction", [0.0, 0.25, 0.6, 1.0])
def test_a_known_cpu_fraction_is_recovered_from_report_lines_at_two_sizes(cpu_fraction):
    stats = report_lines.stats_from_lines(synthetic_lines(cpu_fraction, 200, {1024: 400, 512: 300}))
    assert [sample.memory_mb for sample in stats.durations_by_memory_size] == [512, 1024]
    fitted = scaling.fit_sizes(list(stats.durations_by_memory_size), reference_mb=1024)
    assert fitted.evidence == scaling.TWO_MEMORY_SIZES and "512 MB" in fitted.detail
    assert fitted.cpu_fraction == pytest.approx(cpu_fraction, abs=0.05)
    assert fitted.low <= cpu_fraction + 1e-9 and cpu_fraction - 1e-9 <= fitted.high
    # The bounds are the fit's own uncertainty, not the worst case's: an I/O-bound function is not taken for CPU-bound.
    assert fitted.high - fitted.low < 0.3


def test_an_io_bound_function_is_projected_near_its_measured_duration():
    stats = report_lines.stats_from_lines(synthetic_lines(0.05, 300, {3008: 500, 1024: 500}))
    fitted = scaling.fit_sizes(list(stats.durations_by_memory_size), reference_mb=3008)
    best, worst = fitted.factors(3008, 256)
    assert 1.0 <= best <= worst < 2.0  # the worst case would say 6.9
    assert duration_factors(3008, 256)[1] == pytest.approx(1769 / 256)


def test_the_upper_bound_is_taken_towards_less_memory_and_the_lower_towards_more():
    fitted = scaling.Scaling(cpu_fraction=0.5, low=0.3, high=0.7, evidence=scaling.TWO_MEMORY_SIZES)
    down_best, down_worst = fitted.factors(1024, 256)
    assert down_worst == pytest.approx(fitted.factor(1024, 256, 0.7))
    assert down_best == pytest.approx(fitted.factor(1024, 256, 0.3))
    up_best, up_worst = fitted.factors(256, 1024)
    assert up_best == pytest.approx(fitted.factor(256, 1024, 0.7)) and up_worst == pytest.approx(
        fitted.factor(256, 1024, 0.3))


@pytest.mark.parametrize("samples, why", [
    ([], "no lines"),
    ([scaling.SizeSample(1024, 5000, 120.0, 10.0)], "one size"),
    ([scaling.SizeSample(3008, 5000, 120.0, 10.0), scaling.SizeSample(2048, 5000, 120.0, 10.0)],
     "two sizes with a full vCPU each: the CPU share did not change"),
    ([scaling.SizeSample(1024, 5000, 120.0, 10.0), scaling.SizeSample(512, 12, 200.0, 10.0)],
     "too few invocations at the second size"),
])
def test_without_evidence_the_worst_case_stands(samples, why):
    fitted = scaling.fit_sizes(samples, reference_mb=1024)
    assert fitted == scaling.WORST, why
    assert fitted.is_worst_case and fitted.evidence == scaling.WORST_CASE
    for to_mb in (128, 512, 1024, 3008):
        assert fitted.factors(1024, to_mb) == pytest.approx(duration_factors(1024, to_mb))


def test_lambda_insights_cpu_time_gives_the_fraction_directly():
    # At 1,024 MB CPU work takes 1769/1024 of its CPU time: 40 ms of CPU time is 69 ms of a 100 ms duration.
    fitted = scaling.from_cpu_time(memory_mb=1024, duration_ms=100, cpu_time_ms=40, invocations=1000,
                                   cpu_time_stddev_ms=5)
    io = 100 - 40 * 1769 / 1024
    assert fitted.evidence == scaling.LAMBDA_INSIGHTS
    assert fitted.cpu_fraction == pytest.approx(40 / (40 + io), abs=1e-6)
    assert fitted.low < fitted.cpu_fraction < fitted.high < 1.0
    assert scaling.from_cpu_time(1024, 100, 40, invocations=3) == scaling.WORST


sizes = st.sampled_from([128, 256, 512, 768, 1024, 1536, 1769, 2048, 3008, 10240])
samples = st.lists(st.builds(scaling.SizeSample, memory_mb=sizes, invocations=st.integers(1, 10_000),
                             mean_ms=st.floats(0.5, 60_000), stddev_ms=st.one_of(st.none(), st.floats(0, 10_000))),
                   max_size=5, unique_by=lambda sample: sample.memory_mb)


@given(samples, sizes, sizes, sizes)
def test_no_fit_projects_beyond_what_code_can_do(measured, reference, from_mb, to_mb):
    """Whatever the lines say: less memory never makes code faster than I/O-bound code (factor 1), nor slower than
    wholly CPU-bound code; more memory never slower, nor faster than wholly CPU-bound code."""
    fitted = scaling.fit_sizes(measured, reference_mb=reference)
    assert 0.0 <= fitted.low <= fitted.cpu_fraction <= fitted.high <= 1.0
    best, worst = fitted.factors(from_mb, to_mb)
    bound_best, bound_worst = duration_factors(from_mb, to_mb)
    assert bound_best - 1e-9 <= best <= worst <= bound_worst + 1e-9
    if to_mb <= from_mb:
        assert best >= 1.0


# Decisions from fitted scaling (plan.py): the same function, once with and once without evidence of how it scales.
IO_BOUND_SIZES = (scaling.SizeSample(3008, 4000, 400.0, 40.0, max_ms=3000.0, p999_ms=2500.0),
                  scaling.SizeSample(1024, 4000, 412.0, 40.0, max_ms=2900.0, p999_ms=2600.0))


def measured(sizes: tuple = ()) -> Evidence:
    base = Evidence(invocations=8000, report_lines=8000, memory_size_mb=3008, max_memory_used_mb=150,
                    max_duration_ms=3000, p999_duration_ms=2600, peak_concurrency=85)
    if not sizes:
        return base
    return replace(base, durations_by_size=sizes, scaling=scaling.fit_sizes(list(sizes), reference_mb=3008))


def test_a_reservation_follows_the_fitted_scaling_not_the_capped_worst_case():
    worst = plan_concurrency(None, AUTO, measured(), ConcurrencyPool(3000, 100), Policy(), memory_mb=256)
    fitted = plan_concurrency(None, AUTO, measured(IO_BOUND_SIZES), ConcurrencyPool(3000, 100), Policy(), memory_mb=256)
    assert worst.after == math.ceil(math.ceil(85 * 2.0) * 1.2)  # the worst case capped at 2x, and said so
    assert "capped" in worst.reason
    assert fitted.after < worst.after and fitted.after >= math.ceil(85 * 1.2)
    assert "by two memory sizes" in fitted.reason and "capped" not in fitted.reason


def test_a_timeout_is_projected_from_each_sizes_own_durations():
    evidence = measured(IO_BOUND_SIZES)
    decision = plan_timeout(300, AUTO, evidence, 1024, Policy())
    # The 2,900 ms measured at 1,024 MB already are not scaled again; the 3,000 ms at 3,008 MB scale by the fit.
    projected = max(2900.0, 3000.0 * evidence.scaling.factors(3008, 1024)[1])
    assert 3000 < projected < 3000 * 1769 / 1024
    assert decision.after == math.ceil(projected * 1.5 / 1000)
    assert "by two memory sizes" in decision.reason
    worst = plan_timeout(300, AUTO, measured(), 1024, Policy())
    assert worst.after == math.ceil(3000 * 1769 / 1024 * 1.5 / 1000) and "if CPU-bound" in worst.reason


def test_a_sampled_window_keeps_the_window_figure_scaled_from_the_largest_size():
    evidence = replace(measured(IO_BOUND_SIZES), report_sample=5000, max_duration_ms=4000)
    assert evidence.projected_duration(4000, "max duration", 1024) == pytest.approx(
        4000 * evidence.scaling.factors(3008, 1024)[1])


# Step-wise descent (plan.descent_step): memory goes down one step a run where the evidence does not reach further.
SLOW = Evidence(invocations=8000, report_lines=8000, memory_size_mb=3008, max_memory_used_mb=150,
                max_duration_ms=2500, p999_duration_ms=2400, peak_concurrency=4)


def test_a_decrease_the_kept_timeout_refuses_in_one_go_is_taken_one_step():
    pool = ConcurrencyPool(3000, 100)
    plan = plan_function(3008, 10, None, {"memory_size": AUTO}, SLOW, pool, Policy())
    # 2.5 s CPU-bound at 256 MB is 17 s: beyond the 10 s timeout kept. At 1,536 MB it is 2.9 s, x 1.5 = 4.3 s.
    [memory] = plan.decisions
    assert memory.changed and memory.after == 1536
    assert memory.reason.startswith("one step towards 256 MB (refused: at 256 MB")
    assert "the next run measures it at 1536 MB" in memory.reason


def test_a_fitted_decrease_goes_no_further_than_one_step_below_what_was_measured():
    sizes = (scaling.SizeSample(3008, 4000, 400.0, 40.0, max_ms=900.0, p999_ms=850.0),
             scaling.SizeSample(1024, 4000, 401.0, 40.0, max_ms=905.0, p999_ms=860.0))
    evidence = replace(SLOW, max_duration_ms=905, p999_duration_ms=860, durations_by_size=sizes,
                       scaling=scaling.fit_sizes(list(sizes), reference_mb=3008))
    assert not evidence.scaling.is_worst_case
    # Within the 5 s timeout kept only by the fit: CPU-bound, 905 ms would take 6.3 s at 256 MB.
    [memory] = plan_function(1024, 5, None, {"memory_size": AUTO}, evidence, ConcurrencyPool(3000, 100),
                             Policy()).decisions
    assert memory.after == 512 and "rests on two memory sizes, measured no lower than 1024 MB" in memory.reason
    # A decrease the worst case accepts too does not rest on the evidence: it is taken whole.
    [memory] = plan_function(1024, 900, None, {"memory_size": AUTO}, evidence, ConcurrencyPool(3000, 100),
                             Policy()).decisions
    assert memory.after == 256 and "one step" not in memory.reason


def test_no_step_without_data_or_when_the_step_is_refused_too():
    few = replace(SLOW, invocations=10)
    [memory] = plan_function(3008, 10, None, {"memory_size": AUTO}, few, ConcurrencyPool(3000, 100), Policy()).decisions
    assert memory.refused and memory.after == 3008
    pool = ConcurrencyPool(3000, 100)
    # 2.5 s x 1.5 is already beyond a 3 s timeout at 3,008 MB: no step down fits it either.
    [memory] = plan_function(3008, 3, None, {"memory_size": AUTO}, SLOW, pool, Policy()).decisions
    assert memory.refused and memory.after == 3008 and "one step" not in memory.reason
    assert pool.unreserved == 3000


def test_a_step_waits_for_the_function_to_be_measured_at_its_new_size():
    """After one step, a rerun on the same window changes nothing; once the window holds the new size, the next
    step follows."""
    at_3008 = (scaling.SizeSample(3008, 8000, 1500.0, 300.0, max_ms=2500.0, p999_ms=2400.0),)
    evidence = replace(SLOW, durations_by_size=at_3008)
    [first] = plan_function(3008, 10, None, {"memory_size": AUTO}, evidence, ConcurrencyPool(3000, 100),
                            Policy()).decisions
    assert first.after == 1536
    [rerun] = plan_function(1536, 10, None, {"memory_size": AUTO}, evidence, ConcurrencyPool(3000, 100),
                            Policy()).decisions
    assert rerun.refused and rerun.after == 1536
    both = at_3008 + (scaling.SizeSample(1536, 8000, 1700.0, 300.0, max_ms=2900.0, p999_ms=2800.0),)
    measured_there = replace(evidence, durations_by_size=both, scaling=scaling.fit_sizes(list(both), 3008))
    [second] = plan_function(1536, 10, None, {"memory_size": AUTO}, measured_there, ConcurrencyPool(3000, 100),
                             Policy()).decisions
    assert second.changed and second.after < 1536


def usage_entry(**extra) -> dict:
    """A lambda_usage_info entry, as rightsize reads it."""
    return {"function_name": "api-dev", "invocations": 9000, "configuration": {"memory_size": 1024},
            "samples": {"report_lines": 9000, "observed_memory_size_mb": 1024},
            "max_memory_used_mb": {"max": 200}, "duration_ms": {"avg": 100.0, "max": 900.0, "p999": 700.0}, **extra}


def test_evidence_comes_from_two_sizes_then_lambda_insights_then_the_worst_case():
    insights = {"avg_cpu_total_time_ms": 10.0, "invocations": 9000}
    sizes = [{"memory_size_mb": 1024, "invocations": 6000, "avg_ms": 100.0, "stddev_ms": 10.0, "max_ms": 900.0,
              "p999_ms": 700.0},
             {"memory_size_mb": 512, "invocations": 3000, "avg_ms": 117.0, "stddev_ms": 10.0, "max_ms": 990.0,
              "p999_ms": 800.0}]
    both = evidence_of(usage_entry(durations_by_memory_size=sizes, lambda_insights=insights))
    assert both.scaling.evidence == scaling.TWO_MEMORY_SIZES and len(both.durations_by_size) == 2
    one_size = evidence_of(usage_entry(durations_by_memory_size=sizes[:1], lambda_insights=insights))
    assert one_size.scaling.evidence == scaling.LAMBDA_INSIGHTS
    assert one_size.scaling.cpu_fraction == pytest.approx(10 / (10 + 100 - 10 * 1769 / 1024))
    assert evidence_of(usage_entry(durations_by_memory_size=sizes[:1])).scaling == scaling.WORST
    assert evidence_of(usage_entry()).scaling == scaling.WORST


def test_a_move_the_collection_made_is_evidence_measured_after_our_change(tmp_path):
    from ansible_collections.tap.lambdaopt.plugins.module_utils import journal
    from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import earlier_changes

    earlier = journal.Journal(str(tmp_path / "lambdaopt-journal-20261124T060000000000Z-dev.jsonl"))
    accepted = earlier.intent("arn:aws:lambda:us-east-1:123456789012:function:api-dev", "api-dev",
                              {"memory_size": 512}, {"memory_size": 1024})
    earlier.done(accepted)
    earlier.intent("arn:aws:lambda:us-east-1:123456789012:function:etl-dev", "etl-dev", {"memory_size": 256},
                   {"memory_size": 1024})  # never accepted: the run was killed before AWS answered
    other_suffix = journal.Journal(str(tmp_path / "lambdaopt-journal-20261124T060000000000Z-prod.jsonl"))
    other_suffix.done(other_suffix.intent("arn:aws:lambda:us-east-1:123456789012:function:api-prod", "api-prod",
                                          {"memory_size": 512}, {"memory_size": 1024}))
    current = str(tmp_path / "lambdaopt-journal-20261201T060000000000Z-dev.jsonl")
    since = datetime.now(UTC) - timedelta(days=14)
    changes = earlier_changes.memory_changes(current, "dev", since)
    assert changes == {"api-dev": [(1024, 512)]}
    assert earlier_changes.memory_changes(current, "dev", datetime.now(UTC) + timedelta(minutes=1)) == {}
    assert earlier_changes.memory_changes(None, "dev", since) == {}

    sizes = [{"memory_size_mb": 1024, "invocations": 6000, "avg_ms": 100.0, "stddev_ms": 10.0, "max_ms": 900.0,
              "p999_ms": 700.0},
             {"memory_size_mb": 512, "invocations": 3000, "avg_ms": 117.0, "stddev_ms": 10.0, "max_ms": 990.0,
              "p999_ms": 800.0}]
    ours = evidence_of(usage_entry(durations_by_memory_size=sizes), changes["api-dev"])
    assert ours.scaling.evidence == scaling.MEASURED_AFTER_CHANGE
    assert ours.scaling.detail.startswith("our change from 1024 to 512 MB, then durations at 512 MB")
    someone_else = evidence_of(usage_entry(durations_by_memory_size=sizes), [(3008, 1024)])
    assert someone_else.scaling.evidence == scaling.TWO_MEMORY_SIZES


@given(st.floats(100, 60_000), st.floats(0.0, 1.0), st.floats(1, 900))
def test_property_the_lowest_memory_within_a_ceiling_by_fitted_scaling_is_the_lowest(observed, fraction, ceiling):
    from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan_context import lowest_memory_within

    fitted = scaling.Scaling(cpu_fraction=fraction, low=max(0.0, fraction - 0.05), high=min(0.99, fraction + 0.05),
                             evidence=scaling.TWO_MEMORY_SIZES)
    used = replace(measured(), max_duration_ms=observed, durations_by_size=(), scaling=fitted)
    lowest = lowest_memory_within(ceiling, used, Policy())

    def projected_s(memory_mb):
        return used.projected_duration(observed, "max duration", memory_mb) * 1.5 / 1000

    if lowest < 3008:
        assert projected_s(lowest) <= ceiling
        if lowest > 128:
            assert projected_s(lowest - 1) > ceiling
    else:
        assert lowest == 3008
    # Evidence never makes the ceiling tighter than the worst case.
    assert lowest <= lowest_memory_within(ceiling, replace(used, scaling=scaling.WORST), Policy())


def test_memory_holds_where_fitted_evidence_does_not_reach_below_the_current_size():
    at_3008 = (scaling.SizeSample(3008, 8000, 400.0, 40.0, max_ms=900.0, p999_ms=850.0),)
    insights = replace(SLOW, max_duration_ms=900, p999_duration_ms=850, durations_by_size=at_3008,
                       scaling=scaling.from_cpu_time(3008, 400, 80, 8000))
    # The 3 s timeout kept holds 256 MB only by the evidence: 900 ms x 2.2 x 1.5, where the worst case says 9.3 s.
    [first, *_] = plan_function(3008, 3, None, {"memory_size": AUTO}, insights, ConcurrencyPool(3000, 100),
                                Policy()).decisions
    assert first.after == 1536 and "one step below that at most" in first.reason
    [held, *_] = plan_function(1536, 3, None, {"memory_size": AUTO}, insights, ConcurrencyPool(3000, 100),
                               Policy()).decisions
    assert not held.changed and not held.refused and held.reason.startswith("held at 1536 MB on the way to 256 MB")


def test_a_power_tuning_curve_is_evidence_where_the_traffic_gives_none():
    # The lambda_power_tuning curve of an I/O-bound function: 10 invocations a size, barely slower at less memory.
    curve = [{"memory_size": size, "status": "measured", "invocations": 10,
              "duration_ms": {"avg": avg, "max": avg * 1.2}}
             for size, avg in ((3008, 200.0), (1024, 203.0), (512, 207.0), (256, 215.0))]
    curve.append({"memory_size": 128, "status": "skipped", "invocations": 0, "duration_ms": None})
    tuned = evidence_of(usage_entry(durations_by_memory_size=[]), power_tuning={"curve": curve})
    assert tuned.scaling.evidence == scaling.POWER_TUNING and tuned.scaling.high < 0.2
    assert "256 MB: 215 ms avg of 10" in tuned.scaling.detail
    # Two sizes of real traffic come first; a curve without two measured sizes is no evidence.
    sizes = [{"memory_size_mb": 1024, "invocations": 6000, "avg_ms": 100.0, "stddev_ms": 10.0},
             {"memory_size_mb": 512, "invocations": 3000, "avg_ms": 117.0, "stddev_ms": 10.0}]
    traffic = evidence_of(usage_entry(durations_by_memory_size=sizes), power_tuning={"curve": curve})
    assert traffic.scaling.evidence == scaling.TWO_MEMORY_SIZES
    alone = evidence_of(usage_entry(), power_tuning={"curve": curve[:1]})
    assert alone.scaling == scaling.WORST
