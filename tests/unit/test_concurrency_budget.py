"""The concurrency budget when CloudWatch cannot say what the rest of the account uses, without AWS: the account-wide
ConcurrentExecutions peak stands in for an unreadable unreserved peak, and with neither every increase is refused
while decreases still go. A metric answered without data points is not a failure: nothing ran."""

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.concurrency import (
    CONCURRENT,
    NO_DATA,
    UNRESERVED,
    Peak,
    budget_of,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import (
    ConcurrencyPool,
    Evidence,
    Policy,
    plan_concurrency,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._provisioned.plan import (
    AliasEvidence,
    Headroom,
    ProvisioningPolicy,
    plan_provisioned_concurrency,
)

FORBIDDEN = "GetMetricData answered Forbidden: You are not authorized to read this metric."
INTERNAL = "GetMetricData answered InternalError"
LIMIT = 1000


def budget(unreserved: Peak, concurrent: Peak | None):
    return budget_of(100, LIMIT, unreserved, concurrent, 1.2)


def pool_of(found, unreserved: int = 850) -> ConcurrencyPool:
    return ConcurrencyPool(unreserved, found.floor, found.reason)


def test_a_read_unreserved_peak_is_used_whatever_concurrent_executions_says():
    found = budget(Peak(UNRESERVED, 200), Peak(CONCURRENT, None, FORBIDDEN))
    assert (found.floor, found.peak, found.stand_in, found.closed) == (240, 200, None, None)
    assert found.reason == "the 240 that functions without a reservation need (their account-wide peak of 200 x " \
                           "headroom 1.2)"


def test_an_unreadable_unreserved_peak_takes_the_concurrent_peak_in_its_stead():
    found = budget(Peak(UNRESERVED, None, FORBIDDEN), Peak(CONCURRENT, 700))
    assert (found.floor, found.closed) == (840, None)
    assert "the account-wide ConcurrentExecutions peak of 700" in found.reason and FORBIDDEN in found.reason
    described = found.as_dict()
    assert described["unreserved_peak"] is None and described["unreserved_peak_unknown"] == FORBIDDEN
    assert described["stand_in_peak"] == {"metric": CONCURRENT, "peak": 700, "unknown": None}
    assert described["reason"] == found.reason and described["increases_refused"] is None


def test_a_small_stand_in_keeps_the_floor_and_says_it_stood_in():
    found = budget(Peak(UNRESERVED, None, INTERNAL), Peak(CONCURRENT, 50))
    assert found.floor == 100
    assert found.reason.startswith("its floor of 100 (the account-wide ConcurrentExecutions peak of 50")


def test_a_stand_in_without_data_points_means_nothing_ran():
    found = budget(Peak(UNRESERVED, None, INTERNAL), Peak(CONCURRENT, None, NO_DATA))
    assert (found.floor, found.closed) == (100, None)
    assert "nothing ran" in found.reason and INTERNAL in found.reason


@pytest.mark.parametrize("concurrent", [Peak(CONCURRENT, None, FORBIDDEN), Peak(CONCURRENT, 700)])
def test_an_unreserved_peak_without_data_points_is_not_a_failure(concurrent):
    found = budget(Peak(UNRESERVED, None, NO_DATA), concurrent)
    assert (found.floor, found.stand_in, found.closed) == (100, None, None)
    assert found.reason == f"its floor of 100 (the account-wide unreserved peak is unknown: {NO_DATA})"


def test_with_neither_peak_the_budget_refuses_every_increase_and_says_why():
    found = budget(Peak(UNRESERVED, None, FORBIDDEN), Peak(CONCURRENT, None, INTERNAL))
    assert found.floor == LIMIT
    assert FORBIDDEN in found.closed and INTERNAL in found.closed
    assert found.as_dict()["increases_refused"] == found.closed
    assert "no increase takes from the pool" in found.reason


CLOSED = budget(Peak(UNRESERVED, None, FORBIDDEN), Peak(CONCURRENT, None, FORBIDDEN))
EVIDENCE = Evidence(invocations=5000, report_lines=5000, peak_concurrency=20, memory_size_mb=1024)


@pytest.mark.parametrize("current, requested", [(None, "auto"), (None, 30), (10, "auto"), (10, 40)])
def test_a_closed_budget_refuses_new_and_raised_reservations(current, requested):
    pool = pool_of(CLOSED, unreserved=LIMIT - 10 * (current is not None))
    decision = plan_concurrency(current, requested, EVIDENCE, pool, Policy(), memory_mb=1024)
    assert decision.refused and decision.after == current
    assert "what functions without a reservation use at peak is unknown" in decision.reason


def test_a_closed_budget_lets_a_reservation_decrease():
    pool = pool_of(CLOSED, unreserved=600)
    decision = plan_concurrency(400, "auto", EVIDENCE, pool, Policy(), memory_mb=1024)
    assert decision.changed and decision.after == 24 and pool.unreserved == 976


def test_a_closed_budget_refuses_a_provisioned_raise_and_lets_a_decrease():
    evidence = AliasEvidence(invocations=7000, spillover_invocations=0, peak_provisioned_executions=85,
                             peak_concurrency=85)
    policy = ProvisioningPolicy(allow_unsafe=True)

    def headroom():
        return Headroom(reserved=None, provisioned_elsewhere=0, unreserved=850, floor=CLOSED.floor,
                        floor_reason=CLOSED.reason)

    raised = plan_provisioned_concurrency(150, 160, evidence, headroom(), policy)
    assert raised.refused and "unknown" in raised.reason
    assert plan_provisioned_concurrency(150, "auto", evidence, headroom(), policy).after == 102
