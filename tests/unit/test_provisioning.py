"""Provisioned concurrency decisions, without AWS: never below peak use, spillover reported or raised, never
removed unless asked, raises only where AWS has concurrency to allocate."""

import math

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._provisioned.api import qualifier_of
from ansible_collections.tap.lambdaopt.plugins.module_utils._provisioned.plan import (
    AUTO,
    AliasEvidence,
    Headroom,
    ProvisioningPolicy,
    plan_provisioned_concurrency,
    recommend,
)
from hypothesis import given
from hypothesis import strategies as st

POLICY = ProvisioningPolicy()
IDLE = AliasEvidence(invocations=7000, spillover_invocations=0, peak_provisioned_executions=85, peak_concurrency=85)
SATURATED = AliasEvidence(invocations=7000, spillover_invocations=700, peak_provisioned_executions=20,
                          peak_concurrency=85)


def open_pool():
    return Headroom(reserved=None, provisioned_elsewhere=0, unreserved=850, floor=100)


def test_an_idle_allocation_is_lowered_to_peak_use_times_headroom():
    decision = plan_provisioned_concurrency(150, AUTO, IDLE, open_pool(), POLICY)
    assert (decision.changed, decision.after) == (True, math.ceil(85 * 1.2))
    assert decision.reason == "idle: observed peak use 85 x headroom 1.2 = 102"


def test_a_right_sized_allocation_is_left_alone():
    decision = plan_provisioned_concurrency(102, AUTO, IDLE, open_pool(), POLICY)
    assert not decision.changed and not decision.refused
    assert decision.reason.startswith("already right-sized")


def test_auto_never_removes_an_allocation_even_when_nothing_used_it():
    unused = AliasEvidence(invocations=500, peak_provisioned_executions=0, peak_concurrency=0)
    assert plan_provisioned_concurrency(150, AUTO, unused, open_pool(), POLICY).after == 1


def test_spillover_is_reported_not_raised_by_default():
    decision = plan_provisioned_concurrency(20, AUTO, SATURATED, open_pool(), POLICY)
    assert decision.refused and decision.after == 20
    assert decision.risk.startswith("spillover")
    assert "10.0% of 7000 invocations spilled over" in decision.reason and "raise_on_spillover" in decision.reason


def test_spillover_raises_to_peak_concurrency_times_headroom_when_allowed():
    pool = open_pool()
    decision = plan_provisioned_concurrency(20, AUTO, SATURATED, pool,
                                            ProvisioningPolicy(raise_on_spillover=True))
    assert (decision.changed, decision.after) == (True, 102)
    assert pool.unreserved == 850 - (102 - 20)  # later raises see what this one took


def test_spillover_below_the_threshold_does_not_count():
    trickle = AliasEvidence(invocations=7000, spillover_invocations=7, peak_provisioned_executions=20,
                            peak_concurrency=21)
    assert plan_provisioned_concurrency(20, AUTO, trickle, open_pool(), POLICY).reason.startswith(
        "already right-sized")


def test_only_an_explicit_zero_removes_an_allocation():
    decision = plan_provisioned_concurrency(150, 0, IDLE, open_pool(), POLICY)
    assert (decision.changed, decision.after, decision.risk) == (True, 0, "cold starts")


@pytest.mark.parametrize("allow_unsafe", [False, True])
def test_an_explicit_value_below_peak_use_is_refused_unless_unsafe_is_allowed(allow_unsafe):
    decision = plan_provisioned_concurrency(150, 50, IDLE, open_pool(), ProvisioningPolicy(allow_unsafe=allow_unsafe))
    assert decision.refused is not allow_unsafe
    assert decision.after == (50 if allow_unsafe else 150)
    assert "50 is below the observed peak use 85 x headroom 1.2 = 102" in decision.reason


def test_too_little_data_changes_nothing_automatically():
    sparse = AliasEvidence(invocations=10, peak_provisioned_executions=1, peak_concurrency=1)
    decision = plan_provisioned_concurrency(150, AUTO, sparse, open_pool(), POLICY)
    assert decision.refused and decision.after == 150
    assert decision.reason.startswith("insufficient data: 10 invocations")


def test_a_raise_stays_within_the_functions_reservation_even_when_unsafe():
    reserved = Headroom(reserved=100, provisioned_elsewhere=30, unreserved=850, floor=100)
    decision = plan_provisioned_concurrency(20, 80, IDLE, reserved, ProvisioningPolicy(allow_unsafe=True))
    assert decision.refused and decision.after == 20
    assert "exceeds the function's reserved concurrency of 100" in decision.reason


def test_a_raise_keeps_the_accounts_unreserved_floor_even_when_unsafe():
    tight = Headroom(reserved=None, provisioned_elsewhere=0, unreserved=150, floor=100)
    decision = plan_provisioned_concurrency(20, 102, IDLE, tight, ProvisioningPolicy(allow_unsafe=True))
    assert decision.refused and "below its floor of 100" in decision.reason


def test_the_recommendation_raises_where_auto_may_only_report():
    assert recommend(20, SATURATED, POLICY).after == 102
    assert recommend(150, IDLE, POLICY).after == 102


evidence = st.builds(
    AliasEvidence,
    invocations=st.integers(0, 10**6),
    spillover_invocations=st.integers(0, 10**5),
    peak_provisioned_executions=st.one_of(st.none(), st.integers(0, 3000)),
    peak_concurrency=st.one_of(st.none(), st.integers(0, 3000)),
)
requests = st.one_of(st.just(AUTO), st.integers(0, 3000))
policies = st.builds(ProvisioningPolicy, headroom=st.floats(1.0, 3.0), raise_on_spillover=st.booleans())


@given(st.integers(1, 3000), requests, evidence, policies)
def test_never_below_peak_use_times_headroom_without_allow_unsafe(current, requested, observed, policy):
    decision = plan_provisioned_concurrency(current, requested, observed, open_pool(), policy)
    if decision.changed and decision.after not in (0, current) and decision.after < current:
        assert observed.peak_provisioned_executions is not None
        assert decision.after >= math.ceil(observed.peak_provisioned_executions * policy.headroom)


@given(st.integers(1, 3000), evidence, policies)
def test_auto_never_removes(current, observed, policy):
    assert plan_provisioned_concurrency(current, AUTO, observed, open_pool(), policy).after >= 1


@given(st.integers(1, 3000), requests, evidence, policies, st.integers(100, 2000))
def test_no_decision_takes_the_pool_below_its_floor(current, requested, observed, policy, unreserved):
    pool = Headroom(reserved=None, provisioned_elsewhere=0, unreserved=unreserved, floor=100)
    decision = plan_provisioned_concurrency(current, requested, observed, pool,
                                            ProvisioningPolicy(**{**policy.__dict__, "allow_unsafe": True}))
    assert unreserved - max(0, decision.after - current) >= 100


@given(st.integers(1, 3000), evidence, policies)
def test_every_decision_says_why(current, observed, policy):
    decision = plan_provisioned_concurrency(current, AUTO, observed, open_pool(), policy)
    assert decision.reason
    assert not decision.refused or decision.risk


@given(st.integers(1, 3000), evidence, policies)
def test_auto_reaches_a_fixed_point_on_the_same_evidence(current, observed, policy):
    # A second run over the same window must not change what the first one set.
    policy = ProvisioningPolicy(**{**policy.__dict__, "raise_on_spillover": True})
    first = plan_provisioned_concurrency(current, AUTO, observed, open_pool(), policy)
    second = plan_provisioned_concurrency(first.after, AUTO, observed, open_pool(), policy)
    assert not second.changed


@pytest.mark.parametrize("qualifier", ["live", "7", "blue_green-2"])
def test_an_allocation_is_named_by_the_qualifier_of_its_function_arn(qualifier):
    assert qualifier_of(f"arn:aws-cn:lambda:cn-north-1:123456789012:function:checkout-dev:{qualifier}") == qualifier
