# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Right-sizing decisions: policy + current configuration + observed usage -> what to change.

Pure functions over plain data, no AWS. Every decision carries its reason; a decision that would
break a guard is refused, with the risk it would have run, unless the policy allows unsafe changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.scaling import (
    FULL_VCPU_MEMORY_MB,
    MIN_INVOCATIONS_PER_SIZE,
    WORST,
    Scaling,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.decisions import AUTO, Decision, refuse_or_accept

MAX_DURATION, P999_DURATION = "max duration", "p99.9 duration"
MEMORY_LIMITS_MB = (128, 10240)
TIMEOUT_LIMITS_S = (1, 900)
# The risk a reservation that would leave the unreserved pool below its floor runs.
STARVED_POOL = "account-wide throttling"


@dataclass(frozen=True)
class Policy:
    memory_headroom: float = 1.3
    timeout_headroom: float = 1.5
    concurrency_headroom: float = 1.2
    min_invocations: int = 50
    memory_increment_mb: int = 64
    min_timeout_s: int = 3
    timeout_statistic: str = "max"  # or "p999"
    max_slowdown: float | None = None
    unreserved_floor: int = 100
    allow_unsafe: bool = False
    # The worst case (fully CPU-bound code) would multiply peak concurrency by up to 13.8 at 128 MB; without
    # evidence of how the code scales, a reservation follows that projection only this far.
    concurrency_projection_cap: float = 2.0
    # `auto` adjusts reservations that exist; False leaves functions without one unreserved.
    add_reservations: bool = True


@dataclass(frozen=True)
class Evidence:
    """What a function did in the lookback window, at the memory size it had then. A figure CloudWatch could not
    answer is None, and `unknown` holds (its key, why) - unknown is never taken for zero."""

    invocations: int | None
    report_lines: int
    memory_size_mb: int
    max_memory_used_mb: float | None = None
    max_duration_ms: float | None = None
    p999_duration_ms: float | None = None
    peak_concurrency: int | None = None
    unknown: tuple = ()
    # When the REPORT lines were read from the log events and the window held more than the bound: how many were
    # read (the window's first), so that what is decided from them says it rests on a sample.
    report_sample: int | None = None
    # How durations scale with memory (scaling.py): the worst case unless evidence says otherwise, and the
    # durations at each memory size the window's REPORT lines were written at.
    scaling: Scaling = WORST
    durations_by_size: tuple = ()

    def unknown_reason(self, key: str) -> str | None:
        return dict(self.unknown).get(key)

    def slowdown_at(self, memory_mb: int) -> float:
        """How many times longer than observed an invocation may take at `memory_mb`, by the evidence."""
        return self.scaling.factors(self.memory_size_mb, memory_mb)[1]

    def projected_duration(self, observed: float, statistic: str, memory_mb: int) -> float:
        """How long the window's `observed` duration (its max or p99.9, by `statistic`) may take at `memory_mb`.
        With fitted scaling, each memory size's own figure is scaled from the size it was measured at (the
        largest counts), so durations measured after a change are not scaled a second time. Without, or when the
        lines missed the window's figure (a sample), the window's figure is scaled from the largest size."""
        scaled = observed * self.slowdown_at(memory_mb)
        if self.scaling.is_worst_case or self.report_sample is not None:
            return scaled
        field_name = "p999_ms" if statistic == P999_DURATION else "max_ms"
        measured = [(sample.memory_mb, getattr(sample, field_name)) for sample in self.durations_by_size
                    if getattr(sample, field_name) is not None]
        if not measured or max(value for _size, value in measured) < observed:
            return scaled
        return max(value * self.scaling.factors(size, memory_mb)[1] for size, value in measured)

    def measured_at(self, memory_mb: int) -> bool:
        """Whether the window holds enough durations at `memory_mb` to learn from."""
        if not self.durations_by_size:
            return memory_mb == self.memory_size_mb
        return any(sample.memory_mb == memory_mb and sample.invocations >= MIN_INVOCATIONS_PER_SIZE
                   for sample in self.durations_by_size)

    def lowest_measured_mb(self) -> int:
        """The smallest memory size the window's durations were measured at."""
        return min((sample.memory_mb for sample in self.durations_by_size), default=self.memory_size_mb)

    def projection_basis(self) -> str:
        return "CPU-bound" if self.scaling.is_worst_case else f"by {self.scaling.evidence}"

    def projection_text(self, projected_ms: float, memory_mb: int) -> str:
        """How a projected duration was reached, for a decision's reason."""
        if self.scaling.is_worst_case:
            return f"{projected_ms:.0f} ms if CPU-bound at {memory_mb} MB"
        return (f"{projected_ms:.0f} ms at {memory_mb} MB by {self.scaling.evidence} (CPU fraction at most "
                f"{self.scaling.high:.2f})")

    def shortfall(self, policy: Policy) -> str | None:
        """Why there is too little data to decide on, or None."""
        if self.invocations is None or self.unknown_reason("invocations"):
            return f"insufficient data: invocations unknown ({self.unknown_reason('invocations') or 'not read'})"
        if self.invocations < policy.min_invocations:
            return (f"insufficient data: {self.invocations} invocations in the window, "
                    f"{policy.min_invocations} needed")
        return None


@dataclass
class ConcurrencyPool:
    """The account-region's unreserved concurrency, as reservations planned so far leave it, and what it must keep
    (`floor`, described by `floor_reason`)."""

    unreserved: int
    floor: int
    floor_reason: str = ""

    def describe_floor(self) -> str:
        return self.floor_reason or f"its floor of {self.floor}"


@dataclass
class FunctionPlan:
    decisions: list = field(default_factory=list)

    @property
    def changes(self) -> list:
        return [decision for decision in self.decisions if decision.changed]

    @property
    def refused(self) -> list:
        return [decision for decision in self.decisions if decision.refused]

    def decision(self, field_name: str) -> Decision | None:
        return next((decision for decision in self.decisions if decision.field == field_name), None)

    def after(self, field_name: str, current: Any) -> Any:
        for decision in self.changes:
            if decision.field == field_name:
                return decision.after
        return current


def cpu_share(memory_mb: int) -> float:
    return min(1.0, memory_mb / FULL_VCPU_MEMORY_MB)


def duration_factors(from_memory_mb: int, to_memory_mb: int) -> tuple[float, float]:
    """(best, worst) duration multipliers for moving a function between memory sizes: I/O-bound
    code keeps its duration, CPU-bound code scales with the CPU share."""
    ratio = cpu_share(from_memory_mb) / cpu_share(to_memory_mb)
    return min(1.0, ratio), max(1.0, ratio)


def _round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def _auto_decision(field_name: str, current: int, target: int, evidence_text: str) -> Decision:
    if target > current:
        return Decision(field_name, current, AUTO, target, f"under-provisioned: {evidence_text}")
    if target == current:
        return Decision(field_name, current, AUTO, current, f"already right-sized: {evidence_text}")
    return Decision(field_name, current, AUTO, target, evidence_text)


def plan_memory(current_mb: int, requested, evidence: Evidence, policy: Policy) -> Decision | None:
    if requested is None:
        return None
    shortfall = evidence.shortfall(policy)
    if shortfall is None and evidence.max_memory_used_mb is None:
        shortfall = "insufficient data: no REPORT lines with Max Memory Used in the window"
    if shortfall:
        if requested == AUTO:
            return Decision("memory_size", current_mb, requested, current_mb, shortfall, risk=shortfall, refused=True)
        return refuse_or_accept(policy, "memory_size", current_mb, requested, requested,
                                f"cannot check {requested} MB against usage", shortfall)

    floor = math.ceil(evidence.max_memory_used_mb * policy.memory_headroom)
    evidence_text = (f"max memory used {evidence.max_memory_used_mb:g} MB{_sample_text(evidence)} x headroom "
                     f"{policy.memory_headroom:g} = {floor} MB")
    if requested == AUTO:
        target = max(_round_up(floor, policy.memory_increment_mb), MEMORY_LIMITS_MB[0])
        if floor <= current_mb:
            target = min(target, current_mb)  # rounding up never makes a fitting function bigger
        if policy.max_slowdown:
            target = max(target, min(current_mb, math.ceil(FULL_VCPU_MEMORY_MB / policy.max_slowdown)))
        return _auto_decision("memory_size", current_mb, min(target, MEMORY_LIMITS_MB[1]), evidence_text)
    if requested < floor:
        return refuse_or_accept(policy, "memory_size", current_mb, requested, requested,
                                f"{requested} MB is below {evidence_text}", "out of memory")
    return Decision("memory_size", current_mb, requested, requested, f"{requested} MB covers {evidence_text}")


def _sample_text(evidence: Evidence) -> str:
    if evidence.report_sample is None:
        return ""
    return f" (in a sample: the window's first {evidence.report_sample} REPORT lines)"


def _observed_duration(evidence: Evidence, policy: Policy) -> tuple[float | None, str]:
    if policy.timeout_statistic == "p999" and evidence.p999_duration_ms is not None:
        return evidence.p999_duration_ms, P999_DURATION
    return evidence.max_duration_ms, MAX_DURATION


def plan_timeout(current_s: int, requested, evidence: Evidence, memory_mb: int, policy: Policy) -> Decision | None:
    """Timeout for the function running at `memory_mb` (its planned memory)."""
    if requested is None:
        return None
    shortfall = evidence.shortfall(policy)
    observed, statistic = _observed_duration(evidence, policy)
    if shortfall is None and observed is None:
        shortfall = "insufficient data: no duration observed in the window"
    if shortfall:
        if requested == AUTO:
            return Decision("timeout", current_s, requested, current_s, shortfall, risk=shortfall, refused=True)
        return refuse_or_accept(policy, "timeout", current_s, requested, requested,
                                f"cannot check {requested} s against usage", shortfall)

    projected_ms = evidence.projected_duration(observed, statistic, memory_mb)
    floor = max(TIMEOUT_LIMITS_S[0], math.ceil(projected_ms * policy.timeout_headroom / 1000))
    evidence_text = f"observed {statistic} {observed:g} ms"
    if statistic == P999_DURATION:  # from the REPORT lines; the max comes from the metrics unless unknown
        evidence_text += _sample_text(evidence)
    if projected_ms != observed:
        evidence_text += f", {evidence.projection_text(projected_ms, memory_mb)}"
    evidence_text += f" x headroom {policy.timeout_headroom:g} = {floor} s"
    if observed >= current_s * 1000 * 0.99 and (requested == AUTO or requested < current_s):
        return refuse_or_accept(policy, "timeout", current_s, requested, current_s if requested == AUTO else requested,
                                f"the function already runs into its {current_s} s timeout",
                                "timeout: durations are cut off, the real need is unknown")
    if requested == AUTO:
        target = min(max(floor, policy.min_timeout_s), TIMEOUT_LIMITS_S[1])
        if target > floor:
            evidence_text += f", raised to the minimum of {policy.min_timeout_s} s"
        if floor > TIMEOUT_LIMITS_S[1]:
            return Decision("timeout", current_s, requested, current_s,
                            f"{evidence_text} exceeds the {TIMEOUT_LIMITS_S[1]} s limit", risk="timeout", refused=True)
        return _auto_decision("timeout", current_s, target, evidence_text)
    if requested < floor:
        return refuse_or_accept(policy, "timeout", current_s, requested, requested,
                                f"{requested} s is below {evidence_text}", "timeout")
    return Decision("timeout", current_s, requested, requested, f"{requested} s covers {evidence_text}")


def projected_peak(evidence: Evidence, memory_mb: int, cap: float | None = None) -> int | None:
    """Peak concurrency at `memory_mb`: slower invocations stay in flight longer, so if the code is
    CPU-bound, less memory means proportionally more concurrent executions for the same traffic. `cap` bounds
    that worst-case factor."""
    if evidence.peak_concurrency is None:
        return None
    worst = evidence.slowdown_at(memory_mb)
    if not evidence.scaling.is_worst_case:
        cap = None  # evidence of how the code scales replaces the cap on the worst case
    return math.ceil(evidence.peak_concurrency * (worst if cap is None else min(worst, cap)))


def plan_concurrency(current, requested, evidence: Evidence, pool: ConcurrencyPool, policy: Policy,
                     memory_mb: int | None = None, provisioned: int = 0) -> Decision | None:
    """Reserved concurrency for the function running at `memory_mb` (default: the memory its usage
    was observed at); `current` None means the function draws on the unreserved pool. A reservation caps
    provisioned executions too, so Lambda refuses one below the `provisioned` concurrency of the function's
    aliases and versions together."""
    if requested is None:
        return None
    if requested == AUTO and current is None and not policy.add_reservations:
        return Decision("reserved_concurrency", current, requested, current,
                        "no reservation added: add_reservations is false, so only existing ones are adjusted")
    peak = projected_peak(evidence, memory_mb or evidence.memory_size_mb, policy.concurrency_projection_cap)
    peak_text = f"observed peak concurrency {evidence.peak_concurrency}"
    if peak is not None and peak != evidence.peak_concurrency:
        uncapped = projected_peak(evidence, memory_mb or evidence.memory_size_mb)
        peak_text += (f", {peak} if CPU-bound at {memory_mb} MB" if evidence.scaling.is_worst_case
                      else f", {peak} at {memory_mb} MB by {evidence.scaling.evidence}")
        if uncapped != peak:
            peak_text += (f" (the worst case of {uncapped} capped at {policy.concurrency_projection_cap:g}x the "
                          f"observed peak: no evidence yet of how the code scales)")
    shortfall = evidence.shortfall(policy)
    if shortfall is None and peak is None:
        reason = evidence.unknown_reason("peak_concurrency")
        shortfall = (f"insufficient data: peak concurrency unknown ({reason})" if reason
                     else "insufficient data: no ConcurrentExecutions in the window")
    if shortfall and requested == AUTO:
        return Decision("reserved_concurrency", current, requested, current, shortfall, risk=shortfall, refused=True)

    if requested == AUTO:
        target = max(1, math.ceil(peak * policy.concurrency_headroom))
        reason = f"{peak_text} x headroom {policy.concurrency_headroom:g} = {target}"
        if target < provisioned:
            target = provisioned
            reason += f", raised to the {provisioned} provisioned for its aliases and versions"
    else:
        target = requested
        if shortfall:
            decision = refuse_or_accept(policy, "reserved_concurrency", current, requested, target,
                                        f"cannot check {target} against usage", shortfall)
        elif target < peak:
            decision = refuse_or_accept(policy, "reserved_concurrency", current, requested, target,
                                        f"{target} is below the {peak_text}", "throttling")
        else:
            decision = Decision("reserved_concurrency", current, requested, target, f"{target} covers the {peak_text}")
        if decision.refused:
            return decision
        if target < provisioned:
            # AWS itself refuses this, so allow_unsafe cannot override it.
            return Decision("reserved_concurrency", current, requested, current,
                            f"{target} is below the {provisioned} provisioned for its aliases and versions, which "
                            f"Lambda refuses", risk="refused by Lambda", refused=True)
        reason = decision.reason
    if target == current:
        return Decision("reserved_concurrency", current, requested, current, f"already set: {reason}")

    # What the function takes from the pool now: its reservation, or without one, its provisioned concurrency.
    held = current if current is not None else provisioned
    unreserved_after = pool.unreserved + held - target
    if target > held and unreserved_after < pool.floor:
        # AWS itself refuses this, so allow_unsafe cannot override it.
        return Decision("reserved_concurrency", current, requested, current,
                        f"reserving {target} would leave {unreserved_after} unreserved in the account, "
                        f"below {pool.describe_floor()}", risk=STARVED_POOL, refused=True)
    pool.unreserved = unreserved_after
    return Decision("reserved_concurrency", current, requested, target, reason)


def plan_function(memory_mb: int, timeout_s: int, reserved, requests: dict, evidence: Evidence,
                  pool: ConcurrencyPool, policy: Policy, provisioned: int = 0, context=None) -> FunctionPlan:
    """Every decision for one function. `requests` maps memory_size/timeout/reserved_concurrency
    to 'auto', a value, or None (leave alone); `provisioned` is the provisioned concurrency of all its aliases
    and versions; `context` (plan_context.Context) what invokes it and where its usage is heading, whose guards
    apply on top of these. Every guard is decided here, before any change is applied, so that no refusal can leave
    one field changed and another not.

    Memory descends step by step where the evidence does not reach all the way (descent_step): a run lowers it
    at most one step, and the next run measures the function there."""
    unreserved = pool.unreserved
    plan = _plan_at(memory_mb, timeout_s, reserved, requests, evidence, pool, policy, provisioned, context)
    memory = plan.decision("memory_size")
    step = descent_step(memory_mb, memory, evidence, policy)
    if step is None:
        return plan
    if memory.changed:
        # A decrease the worst case accepts as well does not rest on the evidence: it stands.
        planned_unreserved = pool.unreserved
        pool.unreserved = unreserved
        without = _plan_at(memory_mb, timeout_s, reserved, requests, replace(evidence, scaling=WORST), pool, policy,
                           provisioned, context).decision("memory_size")
        pool.unreserved = planned_unreserved
        if without.changed and without.after <= memory.after:
            return plan
    planned_unreserved, pool.unreserved = pool.unreserved, unreserved
    if memory.changed:
        why = (f"{memory.after} MB rests on {evidence.scaling.evidence}, measured no lower than "
               f"{evidence.lowest_measured_mb()} MB: one step below that at most")
    else:
        why = f"refused: {memory.reason}"
    if step >= memory_mb:
        # The evidence does not reach below the current size yet: memory stays until it is measured here.
        held = _plan_at(memory_mb, timeout_s, reserved, {**requests, "memory_size": None}, evidence, pool, policy,
                        provisioned, context)
        held.decisions.insert(0, Decision("memory_size", memory_mb, AUTO, memory_mb,
                                          f"held at {memory_mb} MB on the way to {memory.target} MB ({why}); the "
                                          f"next run measured here takes the next step"))
        return held
    stepped = _plan_at(memory_mb, timeout_s, reserved, {**requests, "memory_size": step}, evidence, pool, policy,
                       provisioned, context)
    one_step = stepped.decision("memory_size")
    if not one_step.changed:
        pool.unreserved = planned_unreserved
        return plan
    stepped.decisions = [replace(decision, requested=AUTO, reason=f"one step towards {memory.target} MB "
                                 f"({why}); the next run measures it at {step} MB: {decision.reason}")
                         if decision is one_step else decision for decision in stepped.decisions]
    return stepped


def descent_step(current_mb: int, memory: Decision | None, evidence: Evidence, policy: Policy) -> int | None:
    """Where an `auto` decrease to `memory` that cannot be taken in one go stops this run, or None when the
    decision stands as it is:

    - one that rests on fitted scaling goes at most one step (half, rounded up to the increment) below the smallest
      size the scaling was measured at; at or above the current size, memory holds until measured there;
    - one a guard refused (durations or concurrency projected at that size) goes one step below the current size,
      once the function has been measured there: a step is taken once, then waits for the evidence it was taken
      for."""
    if memory is None or memory.requested != AUTO or memory.target is None:
        return None
    target = memory.target
    if memory.changed:
        if evidence.scaling.is_worst_case:
            return None
        reach = _one_step_below(evidence.lowest_measured_mb(), policy)
        return max(target, reach) if memory.after < reach else None
    if not memory.risk or memory.risk.startswith("insufficient data") or not evidence.measured_at(current_mb):
        return None
    step = max(target, _one_step_below(current_mb, policy))
    return step if step < current_mb else None


def _one_step_below(memory_mb: int, policy: Policy) -> int:
    return max(_round_up(math.ceil(memory_mb / 2), policy.memory_increment_mb), MEMORY_LIMITS_MB[0])


def _plan_at(memory_mb: int, timeout_s: int, reserved, requests: dict, evidence: Evidence, pool: ConcurrencyPool,
             policy: Policy, provisioned: int, context) -> FunctionPlan:
    plan = FunctionPlan()
    memory = plan_memory(memory_mb, requests.get("memory_size"), evidence, policy)
    if context is not None:
        memory = context.guard_memory(memory, evidence, policy)
    new_memory = memory.after if memory and memory.changed else memory_mb
    timeout = plan_timeout(timeout_s, requests.get("timeout"), evidence, new_memory, policy)
    if context is not None:
        timeout = context.guard_timeout(timeout, policy, evidence, new_memory)
    if memory and memory.changed and (timeout is None or not timeout.changed):
        memory = _check_memory_against_timeout(memory, timeout_s, evidence, policy)
        new_memory = memory.after if memory.changed else memory_mb
    concurrency = plan_concurrency(reserved, requests.get("reserved_concurrency"), evidence, pool, policy,
                                   new_memory, provisioned)
    if memory and memory.changed and reserved is not None and (concurrency is None or not concurrency.changed):
        memory = _check_memory_against_reservation(memory, reserved, evidence, policy)
    plan.decisions = [decision for decision in (memory, timeout, concurrency) if decision is not None]
    return plan


def _check_memory_against_reservation(memory: Decision, reserved: int, evidence: Evidence, policy: Policy) -> Decision:
    """Less memory can mean longer invocations and so more of them at once: the reservation the
    function keeps must still cover its peak."""
    peak = projected_peak(evidence, memory.after, policy.concurrency_projection_cap)
    if peak is None or peak <= reserved:
        return memory
    return refuse_or_accept(
        policy, "memory_size", memory.before, memory.requested, memory.after,
        f"at {memory.after} MB the observed peak concurrency {evidence.peak_concurrency} could grow to {peak} "
        f"({evidence.projection_basis()}), above the {reserved} reserved",
        "throttling",
    )


def _check_memory_against_timeout(memory: Decision, timeout_s: int, evidence: Evidence, policy: Policy) -> Decision:
    """Less memory can mean slower code: it must still finish within the timeout it keeps."""
    observed, statistic = _observed_duration(evidence, policy)
    if observed is None or memory.after >= memory.before:
        return memory
    projected_ms = evidence.projected_duration(observed, statistic, memory.after)
    if projected_ms * policy.timeout_headroom / 1000 <= timeout_s:
        return memory
    return refuse_or_accept(
        policy, "memory_size", memory.before, memory.requested, memory.after,
        f"at {memory.after} MB the observed {statistic} {observed:g} ms could grow to {projected_ms:.0f} ms "
        f"({evidence.projection_basis()}), which with headroom {policy.timeout_headroom:g} exceeds the {timeout_s} s "
        "timeout",
        "timeout",
    )
