"""The usage model: seeded, and faithful to how Lambda behaves under a configuration."""

import statistics
from datetime import UTC, datetime, timedelta

import pytest

from tools.simulator import history_end
from tools.usage_model import FULL_VCPU_MEMORY_MB, FunctionConfig, load_profiles, simulate

END = datetime(2026, 11, 23, 12, tzinfo=UTC)
BASELINE = FunctionConfig(memory_size=3008, timeout=300)
PROFILES, ASSIGNED = load_profiles()


def run(profile: str, config: FunctionConfig = BASELINE, seed: int = 0):
    return simulate(f"{profile}-fn", PROFILES[profile], config, end=END, seed=seed)


def test_every_required_profile_exists_and_each_fleet_function_has_one():
    assert {"steady-light", "memory-heavy", "cpu-bound", "spiky", "error-prone", "rarely-invoked"} <= set(PROFILES)
    # A leak is simulated only where a test asks for it (tests/collection/test_context_guards.py).
    assert set(ASSIGNED.values()) == {name for name, profile in PROFILES.items()
                                      if not profile.memory_growth_mb_per_day}


def test_a_leaking_profile_uses_more_memory_day_by_day():
    usage = simulate("leaky", PROFILES["leaking"], BASELINE, end=END, days=14)
    daily: dict = {}
    for invocation in usage.invocations:
        day = (invocation.start - usage.hours[0].start).days
        daily[day] = max(daily.get(day, 0), invocation.max_memory_used_mb)
    growth = PROFILES["leaking"].memory_growth_mb_per_day
    assert all(daily[day + 1] > daily[day] for day in range(0, 13, 3))
    assert daily[13] - daily[0] >= 13 * growth * 0.8


def test_same_seed_same_history_and_other_seed_other_history():
    assert run("steady-light").invocations == run("steady-light").invocations
    assert run("steady-light").invocations != run("steady-light", seed=1).invocations


def test_history_covers_the_window_hour_by_hour():
    usage = simulate("x", PROFILES["steady-light"], BASELINE, end=END, days=3)
    assert len(usage.hours) == 72
    assert usage.hours[0].start == datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert all(usage.hours[0].start <= i.start < END for i in usage.invocations)
    assert sum(hour.invocations for hour in usage.hours) == len(usage.invocations)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_at_the_baseline_nothing_is_harmed_and_peak_memory_is_the_profile_peak(profile):
    usage = run(profile)
    assert not usage.harmed
    # A leaking profile's peak is where its growth has taken it by the window's end.
    grown = PROFILES[profile].memory_growth_mb_per_day * len(usage.hours) / 24
    assert max(i.max_memory_used_mb for i in usage.invocations) == round(PROFILES[profile].memory_peak_mb + grown)
    assert {i.memory_size for i in usage.invocations} == {3008}


def test_median_duration_and_volume_follow_the_profile():
    profile = PROFILES["steady-light"]
    usage = run("steady-light")
    assert len(usage.invocations) == pytest.approx(profile.invocations_per_day * 14, rel=0.05)
    median = statistics.median(i.duration_ms for i in usage.invocations)
    assert median == pytest.approx(profile.duration_ms * profile.duration_factor(3008), rel=0.05)


def test_cpu_bound_work_slows_in_proportion_below_a_full_vcpu():
    profile = PROFILES["cpu-bound"]
    assert profile.duration_factor(FULL_VCPU_MEMORY_MB) == profile.duration_factor(10240) == 1.0
    half = profile.duration_factor(FULL_VCPU_MEMORY_MB // 2)
    assert half == pytest.approx((1 - profile.cpu_bound_share) + profile.cpu_bound_share * 2, rel=0.01)
    fast, slow = run("cpu-bound"), run("cpu-bound", FunctionConfig(memory_size=512, timeout=300))
    ratios = [s.duration_ms / f.duration_ms for f, s in zip(fast.invocations, slow.invocations, strict=True)]
    assert statistics.median(ratios) == pytest.approx(profile.duration_factor(512), rel=0.01)


def test_io_bound_work_barely_slows():
    fast, slow = run("steady-light"), run("steady-light", FunctionConfig(memory_size=128, timeout=300))
    pairs = zip(fast.invocations, slow.invocations, strict=True)
    ratio = statistics.median(s.duration_ms / f.duration_ms for f, s in pairs)
    assert ratio == pytest.approx(PROFILES["steady-light"].duration_factor(128), rel=0.01)
    assert ratio < 3


def test_too_little_memory_runs_out_of_memory():
    usage = run("memory-heavy", FunctionConfig(memory_size=1024, timeout=300))
    assert usage.out_of_memory > 0 and usage.harmed
    assert all(i.max_memory_used_mb <= 1024 for i in usage.invocations)
    assert not run("memory-heavy", FunctionConfig(memory_size=2700, timeout=300)).harmed


def test_a_timeout_below_the_work_times_out():
    usage = run("cpu-bound", FunctionConfig(memory_size=3008, timeout=3))
    assert usage.timeouts > 0 and usage.harmed
    assert max(i.duration_ms for i in usage.invocations) == 3000


def test_reserved_concurrency_below_the_bursts_throttles():
    open_usage = run("spiky")
    assert open_usage.peak_concurrency >= PROFILES["spiky"].burst_concurrency
    limited = run("spiky", FunctionConfig(memory_size=3008, timeout=300, reserved_concurrency=50))
    assert limited.throttles > 0 and limited.peak_concurrency == 50
    assert len(limited.invocations) == len(open_usage.invocations) - limited.throttles
    assert not run("spiky", FunctionConfig(memory_size=3008, timeout=300, reserved_concurrency=100)).harmed


def test_error_prone_fails_at_its_rate_without_being_harmed():
    usage = run("error-prone")
    assert usage.errors / len(usage.invocations) == pytest.approx(PROFILES["error-prone"].error_rate, abs=0.015)
    assert not usage.harmed


def test_rarely_invoked_has_too_little_data_for_a_decision():
    assert 0 < len(run("rarely-invoked").invocations) < 50


def test_billed_duration_rounds_up_and_includes_init():
    for invocation in run("spiky").invocations[:500]:
        assert invocation.billed_duration_ms >= invocation.duration_ms + (invocation.init_duration_ms or 0)
        assert invocation.billed_duration_ms - 1 < invocation.duration_ms + (invocation.init_duration_ms or 0)


def test_unknown_profile_assignment_is_refused(tmp_path):
    bad = tmp_path / "profiles.yaml"
    bad.write_text("profiles: {}\nfunctions: {api-handler: nonexistent}\n")
    with pytest.raises(ValueError, match="nonexistent"):
        load_profiles(bad)


@pytest.mark.parametrize("days", [1, 2, 13])
def test_a_history_shorter_than_the_logs_limit_ends_before_now(days):
    """So that a run an hour later measures the same usage as one now: none of the history lies ahead of now."""
    now = datetime(2026, 11, 30, 22, 58, 41, tzinfo=UTC)
    assert history_end(days, now) == datetime(2026, 11, 30, 22, tzinfo=UTC)
    last_hour = simulate("fn", PROFILES["steady-light"], BASELINE, end=history_end(days, now), days=days).hours[-1]
    assert last_hour.start + timedelta(hours=1) <= now


def test_a_fourteen_day_history_starts_after_the_oldest_event_logs_accept():
    now = datetime(2026, 11, 30, 22, 58, 41, tzinfo=UTC)
    end = history_end(14, now)
    assert end == datetime(2026, 11, 30, 23, tzinfo=UTC)
    assert end - timedelta(days=14) > now - timedelta(days=14)
