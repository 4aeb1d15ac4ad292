# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provisioned concurrency decisions: policy + an alias's allocation + how much of it was used -> what to set.

Pure functions over plain data, no AWS. Provisioned concurrency is billed for every second it is allocated,
used or not, so an idle allocation is lowered to the observed peak use times headroom; spillover (requests
served by on-demand concurrency because the allocation was full) shows it is too small.

A fleet's allocations are planned against one pool so that one run reaches what a second would: first those that
do not grow, whose decreases free room - in the account's unreserved pool, or in their function's reservation -
then the raises, smallest first. The raises are applied after the decreases, each checked again (`refit_raises`)
against the pool as the account then reports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import ConcurrencyPool
from ansible_collections.tap.lambdaopt.plugins.module_utils.decisions import AUTO, Decision, refuse_or_accept

FIELD = "provisioned_concurrency"
SPILLOVER_RISK = "spillover: requests beyond the allocation get on-demand environments and their cold starts"
NO_ROOM = "not enough concurrency to allocate"


@dataclass(frozen=True)
class ProvisioningPolicy:
    headroom: float = 1.2
    min_invocations: int = 50
    # Spillover above this share of the alias's invocations means the allocation is too small.
    spillover_threshold: float = 0.01
    raise_on_spillover: bool = False
    unreserved_floor: int = 100
    allow_unsafe: bool = False


@dataclass(frozen=True)
class AliasEvidence:
    """What an alias did in the lookback window."""

    invocations: int | None  # None: CloudWatch could not answer (see `unknown`)
    spillover_invocations: int | None = 0
    peak_provisioned_executions: int | None = None  # ProvisionedConcurrentExecutions, maximum
    peak_concurrency: int | None = None  # ConcurrentExecutions of the alias, maximum: spillover included
    # (metric key, why) for each metric CloudWatch could not answer: unknown is never taken for zero.
    unknown: tuple = ()

    @property
    def spillover_share(self) -> float:
        return self.spillover_invocations / self.invocations if self.invocations else 0.0


@dataclass
class Headroom:
    """Where more provisioned concurrency can come from: the function's own reservation when it has one
    (what its other aliases and versions do not already hold), else the account's unreserved pool, which
    must keep its floor. Changes planned so far are taken out (or, lowered, given back) as they are decided."""

    reserved: int | None
    provisioned_elsewhere: int
    unreserved: int
    floor: int
    floor_reason: str = ""

    def refusal(self, increase: int, target: int) -> str | None:
        if self.reserved is not None:
            if self.provisioned_elsewhere + target > self.reserved:
                return (f"{target} with the {self.provisioned_elsewhere} provisioned on its other aliases exceeds "
                        f"the function's reserved concurrency of {self.reserved}")
            return None
        if self.unreserved - increase < self.floor:
            return (f"adding {increase} would leave {self.unreserved - increase} unreserved in the account, below "
                    f"{self.floor_reason or f'its floor of {self.floor}'}")
        return None

    def take(self, increase: int) -> None:
        """Take `increase` from the unreserved pool (a negative one gives it back), unless the function's own
        reservation is where it comes from."""
        if self.reserved is None:
            self.unreserved -= increase


def _needed(evidence: AliasEvidence, policy: ProvisioningPolicy) -> tuple[int, str]:
    peak = evidence.peak_provisioned_executions or 0
    needed = max(1, math.ceil(peak * policy.headroom))
    return needed, f"observed peak use {peak} x headroom {policy.headroom:g} = {needed}"


def _raise_for_spillover(evidence: AliasEvidence, policy: ProvisioningPolicy) -> tuple[int, str]:
    """What covers the alias's whole observed demand: its peak concurrency, spillover included. Computed from
    demand alone, so that a run after the raise, whose window still holds the spillover, does not raise again."""
    demand = max(evidence.peak_concurrency or 0, evidence.peak_provisioned_executions or 0)
    target = max(1, math.ceil(demand * policy.headroom))
    return target, (f"{evidence.spillover_share:.1%} of {evidence.invocations} invocations spilled over to on-demand "
                    f"concurrency; observed peak concurrency {demand} x headroom {policy.headroom:g} = {target}")


def plan_provisioned_concurrency(current: int, requested, evidence: AliasEvidence, headroom: Headroom,
                                 policy: ProvisioningPolicy) -> Decision:
    """The decision for one alias. `requested`: 'auto' or a number (0 removes the allocation)."""
    shortfall = None
    if evidence.unknown:
        shortfall = "insufficient data: " + "; ".join(f"{key} unknown ({why})" for key, why in evidence.unknown)
    elif evidence.invocations < policy.min_invocations:
        shortfall = (f"insufficient data: {evidence.invocations} invocations of the alias in the window, "
                     f"{policy.min_invocations} needed")
    elif evidence.peak_provisioned_executions is None:
        shortfall = "insufficient data: no ProvisionedConcurrentExecutions in the window"

    saturated = shortfall is None and evidence.spillover_share > policy.spillover_threshold
    risk = None
    if requested == AUTO:
        if shortfall:
            return Decision(FIELD, current, requested, current, shortfall, risk=shortfall, refused=True)
        if saturated:
            target, reason = _raise_for_spillover(evidence, policy)
            if target <= current:
                return Decision(FIELD, current, requested, current, f"already covers the spillover: {reason}")
            if not policy.raise_on_spillover:
                return Decision(FIELD, current, requested, current,
                                f"too small: {reason}; raise it with raise_on_spillover", risk=SPILLOVER_RISK,
                                refused=True)
        else:
            target, reason = _needed(evidence, policy)
            if target >= current:
                return Decision(FIELD, current, requested, current, f"already right-sized: {reason}")
            reason = f"idle: {reason}"
    elif requested == 0:
        headroom.take(-current)
        return Decision(FIELD, current, requested, 0, "removed as the task asks: every request is served by "
                        "on-demand concurrency", risk="cold starts" if current else None)
    else:
        target = requested
        if shortfall:
            broken = (f"cannot check {target} against usage", shortfall)
        else:
            needed, needed_reason = _needed(evidence, policy)
            reason = f"{target} covers the {needed_reason}"
            broken = (f"{target} is below the {needed_reason}", SPILLOVER_RISK) if target < needed else None
        if broken:
            decision = refuse_or_accept(policy, FIELD, current, requested, target, *broken)
            if decision.refused:
                return decision
            reason, risk = decision.reason, decision.risk
    if target > current:
        # AWS itself refuses these, so allow_unsafe cannot override them.
        refusal = headroom.refusal(target - current, target)
        if refusal:
            return Decision(FIELD, current, requested, current, refusal, risk=NO_ROOM, refused=True)
    headroom.take(target - current)
    return Decision(FIELD, current, requested, target, reason, risk=risk)


def recommend(current: int, evidence: AliasEvidence, policy: ProvisioningPolicy) -> Decision:
    """What 'auto' would set if raising on spillover were allowed and concurrency were no object."""
    return plan_provisioned_concurrency(current, AUTO, evidence, _unlimited(), replace(policy, raise_on_spillover=True))


def _unlimited() -> Headroom:
    return Headroom(reserved=None, provisioned_elsewhere=0, unreserved=math.inf, floor=0)


@dataclass(frozen=True)
class Allocation:
    """One alias's or version's allocation, as a fleet's plan sees it: what it holds (`current`), its function's
    reserved concurrency (None: it draws on the unreserved pool) and what it did in the window."""

    function_name: str
    qualifier: str
    current: int
    reserved: int | None
    evidence: AliasEvidence

    @property
    def key(self) -> tuple:
        return self.function_name, self.qualifier


def _headroom(allocation: Allocation, held: dict, pool: ConcurrencyPool) -> Headroom:
    elsewhere = sum(value for qualifier, value in held[allocation.function_name].items()
                    if qualifier != allocation.qualifier)
    return Headroom(allocation.reserved, elsewhere, pool.unreserved, pool.floor, pool.floor_reason)


def plan_fleet(allocations: list, held: dict, requested, pool: ConcurrencyPool,
               policy: ProvisioningPolicy) -> dict:
    """{(function name, qualifier): Decision} for every allocation, planned against one pool: first those that do
    not grow (a decrease frees room for the raises after it), then the raises, smallest first. `held` is
    {function name: {qualifier: allocation}} of every alias and version of the functions, those not planned too;
    it and `pool` end as the plan leaves them."""
    def growth(allocation: Allocation) -> int:
        wanted = plan_provisioned_concurrency(allocation.current, requested, allocation.evidence, _unlimited(), policy)
        return max(0, wanted.after - allocation.current)

    decisions = {}
    for allocation in sorted(allocations, key=lambda allocation: (growth(allocation), allocation.key)):
        headroom = _headroom(allocation, held, pool)
        decision = plan_provisioned_concurrency(allocation.current, requested, allocation.evidence, headroom, policy)
        pool.unreserved = headroom.unreserved
        held[allocation.function_name][allocation.qualifier] = decision.after
        decisions[allocation.key] = decision
    return decisions


def refit_raises(raises: list, held: dict, pool: ConcurrencyPool) -> dict:
    """{(function name, qualifier): why the raise no longer fits, or None} for raises [(Allocation, target)] about
    to be applied, smallest first, against `held` and `pool` as they are now - after the decreases, with the
    account's settings read again: other teams may have taken from the pool meanwhile, a decrease may have
    failed."""
    refusals = {}
    for allocation, target in sorted(raises, key=lambda raised: (raised[1] - raised[0].current, raised[0].key)):
        headroom = _headroom(allocation, held, pool)
        refusals[allocation.key] = headroom.refusal(target - allocation.current, target)
        if refusals[allocation.key] is None:
            headroom.take(target - allocation.current)
            pool.unreserved = headroom.unreserved
            held[allocation.function_name][allocation.qualifier] = target
    return refusals
