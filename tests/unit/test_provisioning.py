"""Provisioned concurrency decisions, without AWS: never below peak use, spillover reported or raised, never
removed unless asked, raises only where AWS has concurrency to allocate."""

import math

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import ConcurrencyPool
from ansible_collections.tap.lambdaopt.plugins.module_utils._provisioned.api import qualifier_of
from ansible_collections.tap.lambdaopt.plugins.module_utils._provisioned.plan import (
    AUTO,
    AliasEvidence,
    Allocation,
    Headroom,
    ProvisioningPolicy,
    plan_fleet,
    plan_provisioned_concurrency,
    recommend,
    refit_raises,
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


RAISING = ProvisioningPolicy(raise_on_spillover=True)


def held_of(allocations, **others) -> dict:
    held = {name: dict(qualifiers) for name, qualifiers in others.items()}
    for allocation in allocations:
        held.setdefault(allocation.function_name, {})[allocation.qualifier] = allocation.current
    return held


def test_a_decrease_later_in_the_fleet_frees_the_pool_for_an_earlier_raise():
    # alpha wants 20 -> 102, zulu 150 -> 102: the raise of 82 fits the 130 above the floor only with the 48 freed.
    fleet = [Allocation("alpha-dev", "live", 20, None, SATURATED), Allocation("zulu-dev", "live", 150, None, IDLE)]
    pool = ConcurrencyPool(unreserved=230, floor=100, floor_reason="the 100 to keep")
    decisions = plan_fleet(fleet, held_of(fleet), AUTO, pool, RAISING)
    assert {key: decision.after for key, decision in decisions.items()} == {("alpha-dev", "live"): 102,
                                                                           ("zulu-dev", "live"): 102}
    assert pool.unreserved == 230 + 48 - 82


def test_a_decrease_of_one_alias_frees_its_functions_reservation_for_another():
    # checkout-dev reserves 210: blue's 102 fits beside green only once green is lowered from 150 to 102.
    fleet = [Allocation("checkout-dev", "blue", 20, 210, SATURATED),
             Allocation("checkout-dev", "green", 150, 210, IDLE)]
    pool = ConcurrencyPool(unreserved=100, floor=100)
    decisions = plan_fleet(fleet, held_of(fleet), AUTO, pool, RAISING)
    assert [decisions[("checkout-dev", qualifier)].after for qualifier in ("blue", "green")] == [102, 102]
    assert pool.unreserved == 100  # a function with a reservation takes nothing from the pool


def test_an_alias_the_task_does_not_select_still_holds_its_functions_reservation():
    fleet = [Allocation("checkout-dev", "blue", 20, 200, SATURATED)]
    decision = plan_fleet(fleet, held_of(fleet, **{"checkout-dev": {"green": 150}}), AUTO,
                          ConcurrencyPool(1000, 100), RAISING)[("checkout-dev", "blue")]
    assert decision.refused and "the 150 provisioned on its other aliases" in decision.reason


def test_a_raise_is_refused_when_the_pool_read_again_no_longer_has_room():
    raised = Allocation("alpha-dev", "live", 20, None, SATURATED)
    pool = ConcurrencyPool(unreserved=150, floor=100, floor_reason="the 100 that functions without a reservation need")
    refusals = refit_raises([(raised, 102)], held_of([raised]), pool)
    assert refusals[raised.key] == ("adding 82 would leave 68 unreserved in the account, below the 100 that functions "
                                    "without a reservation need")
    assert pool.unreserved == 150
    assert refit_raises([(raised, 102)], held_of([raised]), ConcurrencyPool(200, 100)) == {raised.key: None}


def test_raises_read_again_are_fitted_smallest_first():
    small, large = (Allocation("small-dev", "live", 10, None, SATURATED),
                    Allocation("large-dev", "live", 10, None, SATURATED))
    pool = ConcurrencyPool(unreserved=160, floor=100)
    refusals = refit_raises([(large, 60), (small, 50)], held_of([small, large]), pool)
    assert refusals[small.key] is None and refusals[large.key] and pool.unreserved == 120


fleets = st.lists(st.tuples(st.integers(1, 400), evidence, st.one_of(st.none(), st.integers(0, 300))),
                  min_size=1, max_size=6)


@given(fleets, st.integers(0, 1500), st.integers(100, 1000), st.floats(1.0, 2.0))
def test_one_fleet_run_reaches_what_a_second_would(fleet, unreserved, floor, headroom):
    # Each function's one alias; `extra` above its allocation is its reservation, or None without one.
    policy = ProvisioningPolicy(headroom=headroom, raise_on_spillover=True)
    first = [Allocation(f"f{index}-dev", "live", current, None if extra is None else current + extra, observed)
             for index, (current, observed, extra) in enumerate(fleet)]
    pool = ConcurrencyPool(unreserved, floor)
    decisions = plan_fleet(first, held_of(first), AUTO, pool, policy)
    assert pool.unreserved >= min(unreserved, floor)
    second = [Allocation(allocation.function_name, allocation.qualifier, decisions[allocation.key].after,
                         allocation.reserved, allocation.evidence) for allocation in first]
    again = plan_fleet(second, held_of(second), AUTO, ConcurrencyPool(pool.unreserved, floor), policy)
    assert not [decision for decision in again.values() if decision.changed]


@pytest.mark.parametrize("qualifier", ["live", "7", "blue_green-2"])
def test_an_allocation_is_named_by_the_qualifier_of_its_function_arn(qualifier):
    assert qualifier_of(f"arn:aws-cn:lambda:cn-north-1:123456789012:function:checkout-dev:{qualifier}") == qualifier
