"""Cost projection, retention decisions and the client-side rate limit, without AWS."""

import threading

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import pricing
from ansible_collections.tap.lambdaopt.plugins.module_utils.retention import VALID_RETENTION_DAYS, plan_retention
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter, run_bounded


def test_monthly_cost_by_hand():
    # 1,000,000 invocations x 0.1 s x 1 GB = 100,000 GB-s x $0.0000166667 = $1.66667, + $0.20 requests
    assert pricing.monthly_cost("us-east-1", "x86_64", 1_000_000, 100, 1024) == pytest.approx(1.8667, abs=1e-4)
    assert pricing.monthly_cost("us-east-1", "arm64", 1_000_000, 100, 1024) == pytest.approx(1.5333, abs=1e-4)


def test_projection_is_a_range_from_io_bound_to_cpu_bound():
    measured = pricing.MeasuredUsage(invocations=14 * 24 * 100, window_days=14, avg_billed_duration_ms=200,
                                     memory_size_mb=3008)
    projection = pricing.project("us-east-1", measured, 884)
    durations = projection["avg_billed_duration_ms"]
    assert durations["best"] == 200 and durations["worst"] == pytest.approx(200 * 1769 / 884, rel=1e-3)
    costs = projection["monthly_cost_usd"]
    assert costs["best"] < costs["worst"] < costs["measured"]
    assert projection["monthly_invocations"] == 73_000


def test_an_unknown_region_has_no_prices_rather_than_a_guess():
    with pytest.raises(pricing.UnknownRegion, match="eu-central-1"):
        pricing.monthly_cost("eu-central-1", "x86_64", 1, 1, 128)


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
