# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DynamoDB billing-mode and capacity decisions: policy + a table's settings + its consumed capacity -> what to set.

Pure functions over plain data, no AWS. Every decision carries its reason; one that would break a guard is refused,
with the risk it would have run. `allow_unsafe` lets explicit values through the guards that protect the table
(throttling, spiky traffic, capacity below the observed peak, too little data); the limits AWS itself enforces
(capacity-mode switches, capacity decreases a day, global secondary indexes needing their own capacity) are never
overridden. Capacity is decided from consumed units, never from utilization, which depends on the capacity in
force: so a table once sized is sized the same by every later run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ansible_collections.tap.lambdaopt.plugins.module_utils._dynamodb.api import ON_DEMAND, PROVISIONED
from ansible_collections.tap.lambdaopt.plugins.module_utils.decisions import AUTO, Decision, refuse_or_accept

BILLING_MODES = (PROVISIONED, ON_DEMAND)
# A write unit costs five read units, provisioned ($0.00065 vs $0.00013 a unit-hour) and on demand ($0.625 vs
# $0.125 a million request units) alike (us-east-1, standard table class), so weighting writes by five compares the
# two modes' costs exactly with one breakeven utilization for both sides.
WRITE_COST_WEIGHT = 5
# DynamoDB allows 4 decreases a day at any time, plus one for each hour without one: at most 27 in a UTC day.
MAX_DECREASES_PER_DAY = 27
SIDES = ("read", "write")

RISK_THROTTLING = "throttling"
RISK_PEAKS = "throttling at peaks"
RISK_SWITCHES = "AWS limits capacity-mode switches"
RISK_DECREASES = "AWS limits capacity decreases"
RISK_INDEXES = "global secondary indexes without sized capacity"
RISK_NO_DATA = "insufficient data"
RISK_NOT_APPLICABLE = "not applied: an on-demand table has no provisioned capacity"


@dataclass(frozen=True)
class TablePolicy:
    capacity_headroom: float = 1.5
    breakeven_utilization: float = 0.29
    # A table leaves its billing mode only when the other mode wins by this share of the breakeven.
    switch_margin: float = 0.1
    spiky_ratio: float = 4.0
    min_hours: int = 24
    min_hours_between_switches: int = 24
    allow_unsafe: bool = False


@dataclass(frozen=True)
class SideUsage:
    """One side (read or write) of a table's consumption, in capacity units a second."""

    average: float | None = None  # over the hours with data
    peak: float | None = None  # the busiest period's average

    @property
    def spikiness(self) -> float | None:
        if self.average is None or self.peak is None or self.average <= 0:
            return None
        return self.peak / self.average


@dataclass(frozen=True)
class TableEvidence:
    """What a table consumed in the lookback window."""

    hours: int  # hours with consumed-capacity data
    read: SideUsage = SideUsage()
    write: SideUsage = SideUsage()
    read_throttle_events: int = 0
    write_throttle_events: int = 0
    # Hours from the first hour with data to the end of the window; provisioned capacity is billed for each of them,
    # used or idle. None: the same as `hours`.
    span_hours: int | None = None
    # (metric key, why) for each metric CloudWatch could not answer: unknown is never taken for zero.
    unknown: tuple = ()

    def side(self, name: str) -> SideUsage:
        return self.read if name == "read" else self.write

    @property
    def throttle_events(self) -> int:
        return self.read_throttle_events + self.write_throttle_events

    @property
    def duty(self) -> float:
        """Share of the billed span in which the table consumed anything."""
        span = self.span_hours or self.hours
        return min(1.0, self.hours / span) if span else 0.0

    def shortfall(self, policy: TablePolicy) -> str | None:
        """Why there is too little data to decide on, or None."""
        if self.unknown:
            return "insufficient data: " + "; ".join(f"{key} unknown ({why})" for key, why in self.unknown)
        if self.hours < policy.min_hours or self.read.peak is None or self.write.peak is None:
            return f"insufficient data: {self.hours} hours with data in the window, {policy.min_hours} needed"
        return None

    def throttling(self) -> str | None:
        if not self.throttle_events:
            return None
        return (f"throttled: {self.read_throttle_events} read and {self.write_throttle_events} write throttle events "
                "in the window")

    def spiky_sides(self, policy: TablePolicy) -> list:
        return [side for side in SIDES
                if (self.side(side).spikiness or 0) > policy.spiky_ratio]


@dataclass(frozen=True)
class TableState:
    """A table's throughput settings now, and what limits changing them."""

    billing_mode: str
    read_capacity: int | None = None
    write_capacity: int | None = None
    last_switch_to_on_demand: datetime | None = None
    global_secondary_indexes: int = 0
    decreases_today: int = 0

    def capacity(self, side: str) -> int | None:
        return self.read_capacity if side == "read" else self.write_capacity


@dataclass(frozen=True)
class Recommendation:
    billing_mode: str
    read_capacity: int | None
    write_capacity: int | None
    reason: str

    def as_dict(self) -> dict:
        return {"billing_mode": self.billing_mode, "read_capacity": self.read_capacity,
                "write_capacity": self.write_capacity, "reason": self.reason}


@dataclass
class TablePlan:
    recommendation: Recommendation
    decisions: list = field(default_factory=list)

    @property
    def changes(self) -> list:
        return [decision for decision in self.decisions if decision.changed]

    @property
    def refused(self) -> list:
        return [decision for decision in self.decisions if decision.refused]

    def after(self, state: TableState) -> dict:
        """{billing_mode, read_capacity, write_capacity} once the changes are made; no capacity when on demand."""
        settings = {"billing_mode": state.billing_mode, "read_capacity": state.read_capacity,
                    "write_capacity": state.write_capacity}
        for decision in self.changes:
            settings[decision.field] = decision.after
        if settings["billing_mode"] == ON_DEMAND:
            settings["read_capacity"] = settings["write_capacity"] = None
        return settings


def needed_capacity(peak: float | None, headroom: float) -> int | None:
    """Capacity units that cover `peak` units a second with `headroom`: at least 1, None without a peak."""
    if peak is None:
        return None
    # Rounded first so that float noise (2.0000000000000004) does not add a whole unit.
    return max(1, math.ceil(round(peak * headroom, 6)))


def _peak_text(side: str, usage: SideUsage, headroom: float, needed: int) -> str:
    return f"peak {usage.peak:g} {side} units/s x headroom {headroom:g} = {needed}"


def utilization(evidence: TableEvidence, policy: TablePolicy) -> tuple[float, dict, dict]:
    """(cost-weighted average utilization, {side: utilization}, {side: capacity}) of the table provisioned at its
    peaks times the headroom, over the whole span it would be billed for."""
    capacity = {side: needed_capacity(evidence.side(side).peak, policy.capacity_headroom) for side in SIDES}
    consumed = {side: (evidence.side(side).average or 0.0) * evidence.duty for side in SIDES}
    per_side = {side: consumed[side] / capacity[side] for side in SIDES}
    weighted = ((consumed["read"] + WRITE_COST_WEIGHT * consumed["write"])
                / (capacity["read"] + WRITE_COST_WEIGHT * capacity["write"]))
    return weighted, per_side, capacity


def recommend(state: TableState, evidence: TableEvidence, policy: TablePolicy) -> Recommendation:
    """The cheaper billing mode that is safe for the table's traffic, and the capacity it would need."""
    shortfall = evidence.shortfall(policy)
    if shortfall:
        return Recommendation(state.billing_mode, state.read_capacity, state.write_capacity,
                              f"{shortfall}; keep the table as it is")
    throttling = evidence.throttling()
    if throttling:
        return Recommendation(ON_DEMAND, None, None,
                              f"{throttling}: on demand serves the load (or give the table more capacity)")
    spiky = evidence.spiky_sides(policy)
    if spiky:
        details = ", ".join(f"{side} peak {evidence.side(side).spikiness:.1f} x its average" for side in spiky)
        return Recommendation(ON_DEMAND, None, None,
                              f"spiky: {details}, above {policy.spiky_ratio:g}; provisioned capacity would throttle "
                              "at peaks or idle between them")
    weighted, per_side, capacity = utilization(evidence, policy)
    text = (f"provisioned at peak x headroom {policy.capacity_headroom:g} ({capacity['read']} RCU, "
            f"{capacity['write']} WCU) would run at {per_side['read']:.0%} read and {per_side['write']:.0%} write "
            f"utilization, {weighted:.0%} cost-weighted (a write unit costs {WRITE_COST_WEIGHT} read units in "
            "either mode)")
    if evidence.duty < 0.99:
        text += f", counting the {evidence.duty:.0%} of the billed hours with any use"
    breakeven = policy.breakeven_utilization
    # Hysteresis: near the breakeven the two modes cost about the same, and a table whose use wavers around it
    # would otherwise switch back and forth from run to run.
    leave_at = breakeven * (1 - policy.switch_margin if state.billing_mode == PROVISIONED else 1 + policy.switch_margin)
    if (weighted >= leave_at) != (weighted >= breakeven):
        reason = (f"near the breakeven: {text}, within {policy.switch_margin:.0%} of the breakeven {breakeven:.0%}, "
                  f"so the table stays {state.billing_mode}")
        if state.billing_mode == PROVISIONED:
            return Recommendation(PROVISIONED, capacity["read"], capacity["write"], reason)
        return Recommendation(ON_DEMAND, None, None, reason)
    if weighted >= breakeven:
        return Recommendation(PROVISIONED, capacity["read"], capacity["write"],
                              f"steady: {text}, at or above the breakeven {breakeven:.0%}, so provisioned costs less")
    return Recommendation(ON_DEMAND, None, None,
                          f"mostly idle: {text}, below the breakeven {breakeven:.0%}, so on demand costs less")


def switch_refusal(state: TableState, target: str, requested, policy: TablePolicy, now: datetime) -> Decision | None:
    """The refusal of a switch AWS would refuse, or None. Never overridden by allow_unsafe."""
    last = state.last_switch_to_on_demand
    if last is not None and now - last < timedelta(hours=policy.min_hours_between_switches):
        hours = (now - last).total_seconds() / 3600
        return Decision("billing_mode", state.billing_mode, requested, state.billing_mode,
                        f"the table switched to on demand {hours:.1f} hours ago, less than "
                        f"{policy.min_hours_between_switches} hours: it cannot switch to {target} yet",
                        risk=RISK_SWITCHES, refused=True)
    if target == PROVISIONED and state.global_secondary_indexes:
        return Decision("billing_mode", state.billing_mode, requested, state.billing_mode,
                        f"the table has {state.global_secondary_indexes} global secondary indexes, whose capacity "
                        "would need sizing too; this module sizes only the table's", risk=RISK_INDEXES, refused=True)
    return None


def plan_billing_mode(state: TableState, requested, recommendation: Recommendation, evidence: TableEvidence,
                      policy: TablePolicy, now: datetime) -> Decision | None:
    """The billing-mode decision for `requested` ('auto', a mode, or None to leave it alone)."""
    if requested is None:
        return None
    shortfall = evidence.shortfall(policy)
    if shortfall and requested == AUTO:
        return Decision("billing_mode", state.billing_mode, requested, state.billing_mode, shortfall,
                        risk=RISK_NO_DATA, refused=True)
    target = recommendation.billing_mode if requested == AUTO else requested
    if target == state.billing_mode:
        return Decision("billing_mode", state.billing_mode, requested, target,
                        f"already {target}: {recommendation.reason}")
    refusal = switch_refusal(state, target, requested, policy, now)
    if refusal:
        return refusal
    if shortfall:
        return refuse_or_accept(policy, "billing_mode", state.billing_mode, requested, target,
                                f"cannot check {target} against usage: {shortfall}", RISK_NO_DATA)
    if requested == AUTO:
        return Decision("billing_mode", state.billing_mode, requested, target, recommendation.reason)
    if target == PROVISIONED:
        throttling = evidence.throttling()
        if throttling:
            return refuse_or_accept(policy, "billing_mode", state.billing_mode, requested, target,
                                    f"{throttling}: not switched to provisioned capacity", RISK_THROTTLING)
        spiky = evidence.spiky_sides(policy)
        if spiky:
            return refuse_or_accept(policy, "billing_mode", state.billing_mode, requested, target,
                                    f"the table is spiky ({', '.join(spiky)} peak above {policy.spiky_ratio:g} x "
                                    "average): provisioned capacity sized for its peaks would idle between them, "
                                    "sized below them it would throttle", RISK_PEAKS)
    if target == recommendation.billing_mode:
        return Decision("billing_mode", state.billing_mode, requested, target, f"requested; {recommendation.reason}")
    return Decision("billing_mode", state.billing_mode, requested, target,
                    f"requested, though it costs more: {recommendation.reason}")


def plan_capacity(side: str, state: TableState, requested, evidence: TableEvidence,
                  policy: TablePolicy) -> Decision | None:
    """The capacity decision of one side of a table that is, or becomes, provisioned. `requested` is 'auto', a
    number of units, or None to leave it alone; the current capacity is None for a table switching from on demand."""
    if requested is None:
        return None
    name = f"{side}_capacity"
    current = state.capacity(side) if state.billing_mode == PROVISIONED else None
    usage = evidence.side(side)
    needed = needed_capacity(usage.peak, policy.capacity_headroom)
    shortfall = evidence.shortfall(policy)
    if shortfall and requested == AUTO:
        return Decision(name, current, requested, current, shortfall, risk=RISK_NO_DATA, refused=True)
    target = needed if requested == AUTO else requested
    if target == current:
        basis = _peak_text(side, usage, policy.capacity_headroom, needed) if needed is not None else "as requested"
        return Decision(name, current, requested, current, f"already {current}: {basis}")
    lowering = current is not None and target < current
    if lowering and state.decreases_today >= MAX_DECREASES_PER_DAY:
        return Decision(name, current, requested, current,
                        f"the table's capacity was already decreased {state.decreases_today} times today, "
                        f"DynamoDB's daily limit", risk=RISK_DECREASES, refused=True)
    if shortfall:
        return refuse_or_accept(policy, name, current, requested, target,
                                f"cannot check {target} against usage: {shortfall}", RISK_NO_DATA)
    basis = _peak_text(side, usage, policy.capacity_headroom, needed)
    throttling = evidence.throttling()
    if lowering and throttling:
        reason = f"{throttling}: {side} capacity is not lowered"
        if requested == AUTO:
            return Decision(name, current, requested, current, reason, risk=RISK_THROTTLING, refused=True)
        return refuse_or_accept(policy, name, current, requested, target, reason, RISK_THROTTLING)
    if target < needed:
        return refuse_or_accept(policy, name, current, requested, target, f"{target} is below the {basis}",
                                RISK_THROTTLING)
    if requested == AUTO:
        reason = basis if current is None or lowering else f"under-provisioned: {basis}"
    else:
        reason = f"{target} covers the {basis}"
    if lowering and state.global_secondary_indexes:
        reason += (f"; the {state.global_secondary_indexes} global secondary indexes keep their own capacity, "
                   "which is left alone")
    return Decision(name, current, requested, target, reason)


def plan_table(state: TableState, requests: dict, evidence: TableEvidence, policy: TablePolicy,
               now: datetime) -> TablePlan:
    """Every decision for one table. `requests` maps billing_mode to 'auto', a mode or None, capacity to 'auto' or
    None, and read_capacity / write_capacity to a number or None; explicit numbers win over capacity 'auto'."""
    recommendation = recommend(state, evidence, policy)
    plan = TablePlan(recommendation)
    mode = plan_billing_mode(state, requests.get("billing_mode"), recommendation, evidence, policy, now)
    target_mode = mode.after if mode is not None and mode.changed else state.billing_mode
    switching = target_mode != state.billing_mode
    capacity = []
    for side in SIDES:
        requested = requests.get(f"{side}_capacity")
        if requested is None and (requests.get("capacity") == AUTO or (switching and target_mode == PROVISIONED)):
            requested = AUTO
        if target_mode == PROVISIONED:
            capacity.append(plan_capacity(side, state, requested, evidence, policy))
        elif requested is not None and requested != AUTO:
            reason = (f"the table {'switches to' if switching else 'is'} on demand, with no provisioned capacity; "
                      f"ask billing_mode {PROVISIONED} to give it {requested} {side} units")
            capacity.append(Decision(f"{side}_capacity", None, requested, None, reason, risk=RISK_NOT_APPLICABLE,
                                     refused=True))
    capacity = [decision for decision in capacity if decision is not None]
    if switching and target_mode == PROVISIONED:
        blocked = [decision for decision in capacity if decision.refused or decision.after is None]
        if blocked:
            # The switch needs both capacities; without them it does not happen either.
            mode = Decision("billing_mode", state.billing_mode, mode.requested, state.billing_mode,
                            f"switching to {PROVISIONED} needs read and write capacity: {blocked[0].reason}",
                            risk=blocked[0].risk, refused=True)
            capacity = [decision for decision in capacity if decision.refused]
    plan.decisions = [decision for decision in (mode, *capacity) if decision is not None]
    return plan
