"""DynamoDB billing-mode and capacity decisions, without AWS: every decision respects its guard and says why."""

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._dynamodb.api import ON_DEMAND, PROVISIONED
from ansible_collections.tap.lambdaopt.plugins.module_utils._dynamodb.plan import (
    AUTO,
    MAX_DECREASES_PER_DAY,
    RISK_DECREASES,
    RISK_INDEXES,
    RISK_NO_DATA,
    RISK_NOT_APPLICABLE,
    RISK_PEAKS,
    RISK_SWITCHES,
    RISK_THROTTLING,
    WRITE_COST_WEIGHT,
    SideUsage,
    TableEvidence,
    TablePolicy,
    TableState,
    needed_capacity,
    plan_table,
    recommend,
)
from ansible_collections.tap.lambdaopt.plugins.plugin_utils import prices
from hypothesis import assume, given, settings
from hypothesis import strategies as st

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
POLICY = TablePolicy()
# The baseline table: 100/100 provisioned, using about 4 reads and 2 writes a second, peaking at 1.6 x that.
STEADY = TableEvidence(hours=336, read=SideUsage(4.0, 6.4), write=SideUsage(2.0, 3.2))
SPIKY = TableEvidence(hours=336, read=SideUsage(0.8, 26.0), write=SideUsage(0.4, 13.0))
IDLE = TableEvidence(hours=336, read=SideUsage(0.02, 0.05), write=SideUsage(0.01, 0.03))
OVER_PROVISIONED = TableState(PROVISIONED, 100, 100)
ON_DEMAND_TABLE = TableState(ON_DEMAND)
AUTO_ALL = {"billing_mode": AUTO, "capacity": AUTO}


def plan(state, requests, evidence=STEADY, policy=POLICY, now=NOW):
    return plan_table(state, requests, evidence, policy, now)


def by_field(decisions):
    return {decision.field: decision for decision in decisions}


def test_a_steady_over_provisioned_table_is_lowered_to_peak_times_headroom_and_stays_provisioned():
    result = plan(OVER_PROVISIONED, AUTO_ALL)
    assert result.recommendation.billing_mode == PROVISIONED
    assert (result.recommendation.read_capacity, result.recommendation.write_capacity) == (10, 5)
    assert "steady" in result.recommendation.reason and "40% cost-weighted" in result.recommendation.reason
    assert result.after(OVER_PROVISIONED) == {"billing_mode": PROVISIONED, "read_capacity": 10, "write_capacity": 5}
    changes = by_field(result.changes)
    assert set(changes) == {"read_capacity", "write_capacity"}
    assert changes["read_capacity"].reason == "peak 6.4 read units/s x headroom 1.5 = 10"
    assert result.refused == []


def test_a_spiky_table_is_recommended_on_demand_and_switched_by_auto():
    result = plan(OVER_PROVISIONED, AUTO_ALL, SPIKY)
    assert result.recommendation.billing_mode == ON_DEMAND
    assert result.recommendation.reason.startswith("spiky: read peak 32.5 x its average")
    assert result.after(OVER_PROVISIONED) == {"billing_mode": ON_DEMAND, "read_capacity": None,
                                              "write_capacity": None}
    assert [decision.field for decision in result.changes] == ["billing_mode"]


def test_a_mostly_idle_table_is_cheaper_on_demand():
    recommendation = recommend(OVER_PROVISIONED, IDLE, POLICY)
    assert recommendation.billing_mode == ON_DEMAND and recommendation.reason.startswith("mostly idle")
    assert "below the breakeven 29%" in recommendation.reason


def test_idle_hours_after_the_first_use_count_against_provisioned_capacity():
    # Busy two hours a day at a steady rate: steady within those hours, but provisioned capacity bills all 24.
    nightly = replace(STEADY, hours=28, span_hours=336)
    recommendation = recommend(OVER_PROVISIONED, nightly, POLICY)
    assert recommendation.billing_mode == ON_DEMAND
    assert "counting the 8% of the billed hours with any use" in recommendation.reason


def test_only_a_recommendation_when_nothing_is_asked():
    result = plan(OVER_PROVISIONED, {}, SPIKY)
    assert result.decisions == [] and result.recommendation.billing_mode == ON_DEMAND


def test_explicit_capacity_wins_over_auto_for_its_side():
    result = plan(OVER_PROVISIONED, {"capacity": AUTO, "read_capacity": 20})
    assert result.after(OVER_PROVISIONED) == {"billing_mode": PROVISIONED, "read_capacity": 20, "write_capacity": 5}
    assert by_field(result.changes)["read_capacity"].reason == "20 covers the peak 6.4 read units/s x headroom 1.5 = 10"


def test_capacity_below_peak_times_headroom_is_refused_unless_unsafe():
    refused = plan(OVER_PROVISIONED, {"read_capacity": 5})
    (refusal,) = refused.refused
    assert (refusal.field, refusal.risk, refusal.after) == ("read_capacity", RISK_THROTTLING, 100)
    assert "5 is below the peak 6.4 read units/s x headroom 1.5 = 10" in refusal.reason
    unsafe = plan(OVER_PROVISIONED, {"read_capacity": 5}, policy=TablePolicy(allow_unsafe=True))
    (change,) = unsafe.changes
    assert change.after == 5 and change.risk == RISK_THROTTLING and "allowed by allow_unsafe" in change.reason


def test_under_provisioned_capacity_is_raised_by_auto():
    small = TableState(PROVISIONED, 2, 2)
    changes = by_field(plan(small, {"capacity": AUTO}).changes)
    assert (changes["read_capacity"].after, changes["write_capacity"].after) == (10, 5)
    assert changes["read_capacity"].reason.startswith("under-provisioned")


def test_a_throttled_table_is_never_lowered_nor_switched_to_provisioned():
    throttled = replace(STEADY, write_throttle_events=12)
    result = plan(TableState(PROVISIONED, 100, 1), {"capacity": AUTO})
    assert by_field(result.changes)["read_capacity"].after == 10  # not throttled: lowered
    result = plan(TableState(PROVISIONED, 100, 1), {"capacity": AUTO}, throttled)
    refusal = by_field(result.refused)["read_capacity"]
    assert refusal.risk == RISK_THROTTLING and "0 read and 12 write throttle events" in refusal.reason
    assert by_field(result.changes)["write_capacity"].after == 5  # more capacity is always allowed
    assert result.recommendation.billing_mode == ON_DEMAND
    assert "on demand serves the load (or give the table more capacity)" in result.recommendation.reason
    (switch,) = plan(ON_DEMAND_TABLE, {"billing_mode": PROVISIONED}, throttled).refused
    assert (switch.field, switch.risk) == ("billing_mode", RISK_THROTTLING)


def test_a_spiky_on_demand_table_asked_provisioned_is_refused():
    (refusal,) = plan(ON_DEMAND_TABLE, {"billing_mode": PROVISIONED}, SPIKY).refused
    assert (refusal.field, refusal.risk, refusal.after) == ("billing_mode", RISK_PEAKS, ON_DEMAND)
    assert "spiky (read, write peak above 4 x average)" in refusal.reason


def test_a_steady_on_demand_table_switches_to_provisioned_with_auto_capacity():
    result = plan(ON_DEMAND_TABLE, {"billing_mode": AUTO})
    assert result.after(ON_DEMAND_TABLE) == {"billing_mode": PROVISIONED, "read_capacity": 10, "write_capacity": 5}
    changes = by_field(result.changes)
    assert changes["read_capacity"].before is None and changes["billing_mode"].reason.startswith("steady")


def test_switching_to_provisioned_with_capacity_below_the_peak_is_refused_whole():
    result = plan(ON_DEMAND_TABLE, {"billing_mode": PROVISIONED, "read_capacity": 3})
    assert result.changes == []
    refused = by_field(result.refused)
    assert refused["billing_mode"].risk == RISK_THROTTLING
    assert refused["billing_mode"].reason.startswith("switching to PROVISIONED needs read and write capacity")
    assert refused["read_capacity"].after is None


def test_a_switch_within_the_limit_is_refused_even_when_unsafe():
    switched = replace(OVER_PROVISIONED, last_switch_to_on_demand=NOW - timedelta(hours=3))
    for policy in (POLICY, TablePolicy(allow_unsafe=True)):
        (refusal,) = plan(switched, {"billing_mode": ON_DEMAND}, policy=policy).refused
        assert refusal.risk == RISK_SWITCHES and "switched to on demand 3.0 hours ago" in refusal.reason
    later = replace(switched, last_switch_to_on_demand=NOW - timedelta(hours=25))
    assert [decision.field for decision in plan(later, {"billing_mode": ON_DEMAND}).changes] == ["billing_mode"]


def test_a_table_with_global_secondary_indexes_is_not_switched_to_provisioned_and_its_indexes_are_left_alone():
    indexed = replace(ON_DEMAND_TABLE, global_secondary_indexes=2)
    (refusal,) = plan(indexed, {"billing_mode": PROVISIONED}, policy=TablePolicy(allow_unsafe=True)).refused
    assert refusal.risk == RISK_INDEXES and "2 global secondary indexes" in refusal.reason
    lowered = plan(replace(OVER_PROVISIONED, global_secondary_indexes=2), {"capacity": AUTO}).changes
    assert all("the 2 global secondary indexes keep their own capacity" in change.reason for change in lowered)


def test_no_decrease_beyond_the_daily_limit():
    exhausted = replace(OVER_PROVISIONED, decreases_today=MAX_DECREASES_PER_DAY)
    result = plan(exhausted, {"capacity": AUTO, "write_capacity": 50}, policy=TablePolicy(allow_unsafe=True))
    assert result.changes == []
    assert {decision.risk for decision in result.refused} == {RISK_DECREASES}
    raised = plan(replace(exhausted, read_capacity=2), {"read_capacity": 40})
    assert by_field(raised.changes)["read_capacity"].after == 40  # an increase is not a decrease


def test_too_little_data_means_no_auto_change_and_explicit_values_only_when_unsafe():
    sparse = TableEvidence(hours=10, read=SideUsage(4.0, 6.4), write=SideUsage(2.0, 3.2))
    result = plan(OVER_PROVISIONED, AUTO_ALL, sparse)
    assert result.changes == [] and {decision.risk for decision in result.refused} == {RISK_NO_DATA}
    assert all("insufficient data: 10 hours with data in the window, 24 needed" in decision.reason
               for decision in result.refused)
    assert result.recommendation.billing_mode == PROVISIONED  # keep as it is
    assert plan(OVER_PROVISIONED, {"read_capacity": 20}, sparse).refused[0].risk == RISK_NO_DATA
    (change,) = plan(OVER_PROVISIONED, {"read_capacity": 20}, sparse, TablePolicy(allow_unsafe=True)).changes
    assert change.after == 20 and change.risk == RISK_NO_DATA
    empty = TableEvidence(hours=0)
    assert plan(ON_DEMAND_TABLE, {"billing_mode": PROVISIONED}, empty, TablePolicy(allow_unsafe=True)).changes == []


def test_capacity_asked_of_a_table_that_is_or_goes_on_demand_is_not_applied():
    (refusal,) = plan(ON_DEMAND_TABLE, {"read_capacity": 20}).refused
    assert refusal.risk == RISK_NOT_APPLICABLE and "the table is on demand" in refusal.reason
    result = plan(OVER_PROVISIONED, {"billing_mode": AUTO, "write_capacity": 20}, SPIKY)
    assert "the table switches to on demand" in by_field(result.refused)["write_capacity"].reason
    assert plan(ON_DEMAND_TABLE, {"capacity": AUTO}).decisions == []


def test_needed_capacity_is_at_least_one_and_ignores_float_noise():
    assert needed_capacity(0.0, 1.5) == 1
    assert needed_capacity(2.0, 1.5) == 3
    assert needed_capacity(0.1 * 3, 10) == 3  # 0.30000000000000004 x 10
    assert needed_capacity(None, 1.5) is None


@pytest.mark.parametrize("mode, utilization, recommended", [
    (PROVISIONED, 0.27, PROVISIONED),   # cheaper on demand, but within the margin: stays
    (PROVISIONED, 0.25, ON_DEMAND),     # below 0.29 x 0.9
    (ON_DEMAND, 0.31, ON_DEMAND),       # cheaper provisioned, but within the margin: stays
    (ON_DEMAND, 0.33, PROVISIONED),     # above 0.29 x 1.1
])
def test_a_table_near_the_breakeven_keeps_its_mode(mode, utilization, recommended):
    # Peak x headroom provisions 10 units a side, used at `utilization` on average; steady, no spikes.
    evidence = replace(STEADY, read=SideUsage(average=utilization * 10, peak=10 / 1.5),
                       write=SideUsage(average=utilization * 10, peak=10 / 1.5))
    state = OVER_PROVISIONED if mode == PROVISIONED else ON_DEMAND_TABLE
    recommendation = recommend(state, evidence, POLICY)
    assert recommendation.billing_mode == recommended
    assert recommendation.reason.startswith("near the breakeven") == (recommended == mode)


def test_the_default_breakeven_and_write_weight_follow_the_shipped_price_table():
    dynamodb = prices.load("us-east-1").dynamodb
    for side in ("read", "write"):
        breakeven = dynamodb[f"{side}_capacity_unit_hour"] / (3600 * dynamodb[f"{side}_request_units"])
        assert float(breakeven) == pytest.approx(POLICY.breakeven_utilization, abs=0.005)
    assert dynamodb["write_capacity_unit_hour"] / dynamodb["read_capacity_unit_hour"] == WRITE_COST_WEIGHT
    assert dynamodb["write_request_units"] / dynamodb["read_request_units"] == WRITE_COST_WEIGHT


# Properties over every combination of table, traffic, request and policy.

side_usage = st.builds(lambda average, ratio: SideUsage(average, average * ratio),
                       st.sampled_from([0.0, 2.0, 4.0, 40.0, 400.0]) | st.floats(0, 2000),
                       st.sampled_from([1.0, 1.6, 2.5]) | st.floats(1, 60))
evidence = st.builds(
    lambda hours, read, write, read_events, write_events, idle: TableEvidence(
        hours, read, write, read_events, write_events, hours + idle) if hours else TableEvidence(0),
    st.integers(0, 400), side_usage, side_usage, st.sampled_from([0, 0, 3, 5000]), st.sampled_from([0, 0, 7]),
    st.integers(0, 200),
)
throttled_evidence = st.builds(replace, evidence, read_throttle_events=st.integers(0, 50),
                               write_throttle_events=st.integers(1, 50))
# Spikier than any spiky_ratio the policies below use, on the read side.
spiky_evidence = st.builds(
    lambda hours, average, ratio, write: TableEvidence(hours, SideUsage(average, average * ratio), write),
    st.integers(1, 400), st.floats(0.001, 2000), st.floats(10.5, 60), side_usage)
states = st.builds(
    lambda mode, read, write, hours_ago, indexes, decreases: TableState(
        mode, read if mode == PROVISIONED else None, write if mode == PROVISIONED else None,
        None if hours_ago is None else NOW - timedelta(hours=hours_ago), indexes, decreases),
    st.sampled_from([PROVISIONED, ON_DEMAND]), st.integers(1, 40000), st.integers(1, 40000),
    st.none() | st.floats(0, 72), st.sampled_from([0, 0, 1]), st.sampled_from([0, 5, 26, 27]),
)
units = st.none() | st.sampled_from([1, 5, 10, 100]) | st.integers(1, 40000)
requests = st.fixed_dictionaries({
    "billing_mode": st.sampled_from([None, AUTO, PROVISIONED, ON_DEMAND]),
    "capacity": st.sampled_from([None, AUTO]),
    "read_capacity": units,
    "write_capacity": units,
})
auto_requests = st.fixed_dictionaries({"billing_mode": st.sampled_from([None, AUTO]),
                                       "capacity": st.sampled_from([None, AUTO])})
policies = st.builds(TablePolicy, capacity_headroom=st.floats(1, 3), breakeven_utilization=st.floats(0, 1),
                     switch_margin=st.floats(0, 0.5), spiky_ratio=st.floats(1, 10), min_hours=st.integers(0, 48),
                     min_hours_between_switches=st.sampled_from([0, 24, 48]), allow_unsafe=st.booleans())
# On-demand tables free to switch, and requests for provisioned billing: what the guards against switching are for.
switchable = st.builds(replace, states, billing_mode=st.just(ON_DEMAND), read_capacity=st.none(),
                       write_capacity=st.none(), last_switch_to_on_demand=st.none(),
                       global_secondary_indexes=st.just(0))
asking_provisioned = requests.map(lambda wanted: {**wanted, "billing_mode": PROVISIONED})
# Without allow_unsafe any request; with it, only auto, which is never unsafe.
guarded = st.one_of(
    st.tuples(requests | asking_provisioned, st.builds(replace, policies, allow_unsafe=st.just(False))),
    st.tuples(auto_requests, st.builds(replace, policies, allow_unsafe=st.just(True))),
)


@settings(max_examples=300)
@given(states, evidence, guarded)
def test_capacity_never_goes_below_peak_times_headroom(state, usage, request_and_policy):
    wanted, policy = request_and_policy
    for change in plan(state, wanted, usage, policy).changes:
        if change.field.endswith("_capacity"):
            side = usage.read if change.field == "read_capacity" else usage.write
            assert change.after >= math.ceil(round(side.peak * policy.capacity_headroom, 6))
            assert change.after >= 1


@settings(max_examples=300)
@given(states | switchable, throttled_evidence, guarded)
def test_a_throttled_table_is_never_lowered_or_switched_to_provisioned(state, usage, request_and_policy):
    wanted, policy = request_and_policy
    for change in plan(state, wanted, usage, policy).changes:
        assert change.after != PROVISIONED
        if change.field.endswith("_capacity") and change.before is not None:
            assert change.after > change.before


@settings(max_examples=300)
@given(states | switchable, spiky_evidence, guarded)
def test_a_spiky_table_is_never_switched_to_provisioned(state, usage, request_and_policy):
    wanted, policy = request_and_policy
    assert usage.spiky_sides(policy)
    assert all(change.after != PROVISIONED for change in plan(state, wanted, usage, policy).changes)


@given(states, evidence, requests, policies, st.floats(0, 23.9))
def test_the_switch_limit_is_never_overridden(state, usage, wanted, policy, hours_ago):
    recent = replace(state, last_switch_to_on_demand=NOW - timedelta(hours=hours_ago))
    policy = replace(policy, min_hours_between_switches=24)
    result = plan(recent, wanted, usage, policy)
    assert all(change.field != "billing_mode" for change in result.changes)
    assert result.after(recent)["billing_mode"] == state.billing_mode


@given(states, evidence, requests, policies)
def test_every_decision_says_why_and_every_refusal_its_risk(state, usage, wanted, policy):
    result = plan(state, wanted, usage, policy)
    assert result.recommendation.reason
    for decision in result.decisions:
        assert decision.reason
        if decision.refused:
            assert decision.risk and decision.after == decision.before
    after = result.after(state)
    if after["billing_mode"] == PROVISIONED:
        assert after["read_capacity"] >= 1 and after["write_capacity"] >= 1
    else:
        assert after["read_capacity"] is None and after["write_capacity"] is None


@given(states, evidence, requests, policies)
def test_planning_again_after_applying_changes_nothing(state, usage, wanted, policy):
    first = plan(state, wanted, usage, policy)
    after = first.after(state)
    switched_to_on_demand = after["billing_mode"] == ON_DEMAND != state.billing_mode
    lowered = any(change.field.endswith("_capacity") and change.before is not None and change.after < change.before
                  for change in first.changes)
    applied = replace(state, **after,
                      last_switch_to_on_demand=NOW if switched_to_on_demand else state.last_switch_to_on_demand,
                      decreases_today=state.decreases_today + lowered)
    # At the same moment: time passing may rightly lift a switch-limit refusal of the first plan.
    second = plan(applied, wanted, usage, policy, NOW)
    assert second.changes == []
    # The recommendation holds too, unless an explicit request moved the table to the other mode: near the
    # breakeven a recommendation keeps the mode the table is in.
    moved_against_advice = after["billing_mode"] not in (state.billing_mode, first.recommendation.billing_mode)
    near_the_breakeven = any(plan_.recommendation.reason.startswith("near the breakeven") for plan_ in (first, second))
    assert (second.recommendation.billing_mode == first.recommendation.billing_mode or usage.shortfall(policy)
            or (moved_against_advice and near_the_breakeven))


@given(evidence, policies)
def test_the_cost_weighted_breakeven_compares_the_two_modes_cost(usage, policy):
    dynamodb = {key: float(value) for key, value in prices.load("us-east-1").dynamodb.items()}
    exact = dynamodb["write_capacity_unit_hour"] / (3600 * dynamodb["write_request_units"])
    policy = replace(policy, breakeven_utilization=exact, spiky_ratio=1000, switch_margin=0)
    assume(not usage.shortfall(policy) and not usage.throttle_events)
    recommendation = recommend(OVER_PROVISIONED, usage, policy)
    read = needed_capacity(usage.read.peak, policy.capacity_headroom)
    write = needed_capacity(usage.write.peak, policy.capacity_headroom)
    provisioned = usage.span_hours * (read * dynamodb["read_capacity_unit_hour"]
                                      + write * dynamodb["write_capacity_unit_hour"])
    on_demand = usage.hours * 3600 * (usage.read.average * dynamodb["read_request_units"]
                                      + usage.write.average * dynamodb["write_request_units"])
    assume(abs(provisioned - on_demand) > 1e-9 * max(provisioned, on_demand, 1e-12))
    assert (recommendation.billing_mode == PROVISIONED) == (provisioned < on_demand)
