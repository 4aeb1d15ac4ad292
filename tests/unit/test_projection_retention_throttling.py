"""Duration projection, retention decisions and the client-side rate limit, without AWS."""

import threading
from decimal import Decimal

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import projection
from ansible_collections.tap.lambdaopt.plugins.module_utils.retention import VALID_RETENTION_DAYS, plan_retention
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter, in_background, run_bounded
from ansible_collections.tap.lambdaopt.plugins.plugin_utils import savings

from tests.unit.test_savings import function


def test_projection_is_a_range_from_io_bound_to_cpu_bound():
    measured = projection.MeasuredUsage(invocations=14 * 24 * 100, window_days=14, avg_billed_duration_ms=200,
                                        memory_size_mb=3008)
    projected = projection.project(measured, 884)
    durations = projected["avg_billed_duration_ms"]
    assert durations["measured"] == 200 and durations["best"] == 200
    assert durations["worst"] == pytest.approx(200 * 1769 / 884, rel=1e-3)
    assert projected["monthly_invocations"] == 73_000  # 100 an hour for 730 hours


def test_raising_memory_can_only_speed_cpu_bound_code_up():
    measured = projection.MeasuredUsage(invocations=100, window_days=1, avg_billed_duration_ms=1000,
                                        memory_size_mb=512)
    durations = projection.project(measured, 1024)["avg_billed_duration_ms"]
    assert durations["best"] == 500 and durations["worst"] == 1000


@pytest.mark.parametrize("function", [
    {},
    {"invocations": 0, "avg_billed_duration_ms": 10, "window": {"days": 14}},
    {"invocations": 5, "avg_billed_duration_ms": None, "duration_ms": {"avg": None}, "window": {"days": 14}},
])
def test_no_usage_is_no_projection(function):
    assert projection.measured_usage_of(function) is None


def test_retention_values_are_the_22_aws_accepts():
    assert len(VALID_RETENTION_DAYS) == 22 and 7 in VALID_RETENTION_DAYS and 8 not in VALID_RETENTION_DAYS


@pytest.mark.parametrize("exists, current, allow, exporting, action, shortens", [
    (False, None, False, False, "create", False),
    (True, 7, False, False, "none", False),
    (True, 7, False, False, "set", False),       # lengthen 7 -> 30 below
    (True, None, False, False, "refuse", True),  # forever -> 30 without consent
    (True, None, True, False, "set", True),
    (True, 90, False, True, "set", True),
])
def test_retention_plan(exists, current, allow, exporting, action, shortens):
    desired = 7 if action == "none" else 30
    plan = plan_retention(exists, current, desired, 4096, allow, exporting)
    assert (plan.action, plan.shortens) == (action, shortens)
    if shortens:
        assert "4096 stored bytes" in plan.reason


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_rate_limiter_allows_a_second_of_burst_then_the_rate():
    clock = FakeClock()
    limiter = RateLimiter(15, clock=clock, sleep=clock.sleep)
    for _ in range(15 + 30):
        limiter.acquire()
    assert clock.now == pytest.approx(2.0, abs=0.01)  # 15 at once, then 30 more at 15/s


def test_run_bounded_reports_failures_per_item_and_caps_threads():
    active, peak, lock = [0], [0], threading.Lock()
    gate = threading.Barrier(3)

    def work(item):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        if item < 3:
            gate.wait(timeout=5)  # the first three run together
        with lock:
            active[0] -= 1
        if item == 4:
            raise ValueError("boom")
        return item * 2

    results = run_bounded(work, list(range(8)), max_workers=3)
    assert peak[0] == 3
    assert results[2] == (4, None)
    assert isinstance(results[4][1], ValueError)
    assert sum(1 for _, error in results.values() if error) == 1


def test_work_in_background_runs_beside_the_caller_and_gives_back_its_result_or_its_error():
    started, release = threading.Event(), threading.Event()

    def work():
        started.set()
        assert release.wait(timeout=5)  # ends only once the caller, still running, lets it
        return "read"

    result = in_background(work)
    assert started.wait(timeout=5)
    release.set()
    assert result() == "read"

    def failing():
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        in_background(failing)()

def test_the_savings_report_prices_the_usage_the_projection_reads():
    """One measured usage: lambda_rightsize projects it in floats, the savings report prices it in Decimal."""
    entry = function("busy-dev", 14 * 24 * 100, billed_ms=200, memory=3008, errors=7, cold_starts=14,
                     log_ingested_bytes=1 << 20)
    usage = projection.MeasuredUsage.of(entry)
    assert projection.measured_usage_of(entry) == usage and usage.has_compute
    assert (usage.memory_size_mb, usage.architecture, usage.errors, usage.cold_starts) == (3008, "x86_64", 7, 14)
    assert projection.project(usage, 1024)["monthly_invocations"] == 73_000
    assert savings.cents(savings.per_month(usage, usage.invocations)) == Decimal(73_000)
    assert savings.cents(savings.per_month(usage, usage.cold_starts)) == Decimal("30.42")  # 14 x 730 / 336
    idle = projection.MeasuredUsage.of(function("idle-dev", 0))
    assert not idle.has_compute and projection.measured_usage_of(function("idle-dev", 0)) is None
    assert savings.billed_ms(idle) is None
