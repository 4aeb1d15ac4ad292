# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The account-region's concurrency budget: how much of the unreserved pool reservations and provisioned
concurrency must leave to the functions that draw on it.

Every function without a reservation shares the unreserved pool, whichever fleet it belongs to, and functions
nobody told us about too. AWS/Lambda's account-wide `UnreservedConcurrentExecutions` (no dimension) says how much
of the pool they used at once; reservations must leave at least that peak times the headroom, and never less than
the account's floor, which AWS itself enforces.

When CloudWatch cannot answer for that peak (GetMetricData's InternalError or Forbidden), the account-wide
`ConcurrentExecutions` stands in for it: every execution counts there, so it is at least what the functions
without a reservation used. When neither can be read, nothing is known of what the pool must keep, and the pool
keeps all of the account's concurrency: every increase that would take from it is refused, decreases still go.
A metric answered without data points is not a failure: nothing ran that it counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ansible_collections.tap.lambdaopt.plugins.module_utils import metric_data
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import ConcurrencyPool

UNRESERVED = "UnreservedConcurrentExecutions"
CONCURRENT = "ConcurrentExecutions"
QUERY_IDS = {UNRESERVED: "unreserved", CONCURRENT: "concurrent"}
NO_DATA = "no data points in the window"
SOURCE = (f"AWS/Lambda {UNRESERVED}, account-wide (GetMetricData); {CONCURRENT}, account-wide, in its stead when "
          f"it cannot be read")
# Why a raise planned against the unreserved pool is not made once the pool, read again before it is applied, has
# no room for it left.
POOL_CHANGED = "the pool changed since it was planned; left as it is"


def refused_after_reread(refusal: str) -> str:
    """`refusal` (why a raise does not fit the pool) as found when the account's settings are read again after the
    decreases, before the raises are applied."""
    return f"{refusal}, as the account's settings read again after the decreases tell: {POOL_CHANGED}"


@dataclass(frozen=True)
class Peak:
    """One account-wide metric's highest value in the window, or None and why (`NO_DATA`: nothing ran that it
    counts; anything else: GetMetricData could not answer)."""

    metric: str
    value: int | None
    unknown: str | None = None

    @property
    def failed(self) -> bool:
        return self.value is None and self.unknown not in (None, NO_DATA)


@dataclass(frozen=True)
class Budget:
    """What the unreserved pool must keep, and why. `peak` is the peak the floor was reckoned from: the unreserved
    peak, or the account-wide ConcurrentExecutions peak standing in for it (`stand_in`) when the unreserved one
    could not be read. `closed` says why no increase may take from the pool, which then keeps all of the account's
    concurrency (`floor`)."""

    floor: int
    account_floor: int
    peak: int | None
    headroom: float
    peak_unknown: str | None = None
    stand_in: Peak | None = None
    closed: str | None = None

    @property
    def reason(self) -> str:
        if self.closed:
            return (f"all {self.floor} of the account's concurrency, kept whole because what functions without a "
                    f"reservation use at peak is unknown ({self.closed}): no increase takes from the pool")
        if self.stand_in is not None:
            unknown = f"their own account-wide peak is unknown: {self.peak_unknown}"
            if self.peak is None:
                return (f"its floor of {self.account_floor} ({unknown}; the account-wide {CONCURRENT}, which counts "
                        f"every execution and stands in for it, has {NO_DATA}: nothing ran)")
            stand_in = (f"the account-wide {CONCURRENT} peak of {self.peak}, which counts every execution and stands "
                        f"in for theirs ({unknown})")
            if self.floor > self.account_floor:
                return (f"the {self.floor} that functions without a reservation may need ({stand_in} x headroom "
                        f"{self.headroom:g})")
            return f"its floor of {self.account_floor} ({stand_in} x headroom {self.headroom:g} is less)"
        if self.peak is not None and self.floor > self.account_floor:
            return (f"the {self.floor} that functions without a reservation need (their account-wide peak of "
                    f"{self.peak} x headroom {self.headroom:g})")
        if self.peak_unknown:
            return (f"its floor of {self.account_floor} (the account-wide unreserved peak is unknown: "
                    f"{self.peak_unknown})")
        return f"its floor of {self.account_floor}"

    def as_dict(self) -> dict:
        stand_in = None if self.stand_in is None else {
            "metric": self.stand_in.metric, "peak": self.stand_in.value, "unknown": self.stand_in.unknown}
        return {"keep_unreserved": self.floor, "account_floor": self.account_floor,
                "unreserved_peak": None if self.stand_in is not None else self.peak, "headroom": self.headroom,
                "unreserved_peak_unknown": self.peak_unknown, "stand_in_peak": stand_in,
                "increases_refused": self.closed, "reason": self.reason, "source": SOURCE}


def budget_of(account_floor: int, account_limit: int, unreserved: Peak, concurrent: Peak | None,
              headroom: float) -> Budget:
    """The pool to keep: the account's floor, or the observed unreserved peak (or, when it could not be read, the
    account-wide ConcurrentExecutions peak) times the headroom if that is more; all of `account_limit` when neither
    could be read."""
    if not unreserved.failed:
        return _from_peak(account_floor, unreserved.value, headroom, unreserved.unknown)
    if concurrent is not None and not concurrent.failed:
        return _from_peak(account_floor, concurrent.value, headroom, unreserved.unknown, stand_in=concurrent)
    closed = f"{UNRESERVED}: {unreserved.unknown}; {CONCURRENT}: " + (
        concurrent.unknown if concurrent is not None else "not read")
    return Budget(max(account_floor, account_limit), account_floor, None, headroom, unreserved.unknown, closed=closed)


def _from_peak(account_floor: int, peak: int | None, headroom: float, peak_unknown: str | None,
               stand_in: Peak | None = None) -> Budget:
    needed = math.ceil(peak * headroom) if peak is not None else 0
    return Budget(max(account_floor, needed), account_floor, peak, headroom, peak_unknown, stand_in=stand_in)


def account_peaks(cloudwatch, lookback_days: int) -> dict:
    """{metric: Peak} of the account-wide UnreservedConcurrentExecutions and ConcurrentExecutions (no dimension,
    Maximum) over the window, in one GetMetricData call."""
    start, end = metric_data.window(lookback_days)
    queries = [metric_data.metric_query(query_id, "AWS/Lambda", metric, [], "Maximum", metric_data.DAY_SECONDS)
               for metric, query_id in QUERY_IDS.items()]
    answers = metric_data.run_metric_queries(cloudwatch, queries, start, end)
    peaks = {}
    for metric, query_id in QUERY_IDS.items():
        if query_id in answers.unknown:
            peaks[metric] = Peak(metric, None, answers.unknown[query_id])
            continue
        value = metric_data.combine("Maximum", answers.points.get(query_id, []))
        peaks[metric] = Peak(metric, None, NO_DATA) if value is None else Peak(metric, math.ceil(value))
    return peaks


def read_budget(cloudwatch, account_floor: int, account_limit: int, headroom: float, lookback_days: int) -> Budget:
    peaks = account_peaks(cloudwatch, lookback_days)
    return budget_of(account_floor, account_limit, peaks[UNRESERVED], peaks[CONCURRENT], headroom)


def unreserved_now(lambda_client) -> int:
    """The account-region's unreserved concurrency as GetAccountSettings tells it now."""
    return lambda_client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]


def read_pool(lambda_client, cloudwatch, unreserved_floor: int, headroom: float,
              lookback_days: int) -> tuple[ConcurrencyPool, Budget]:
    """The account-region's unreserved pool now (GetAccountSettings) with what it must keep, for reservations and
    provisioned concurrency alike. On an account whose whole limit is at or below the floor, nothing can be taken
    from the pool. A pool whose budget is closed keeps the whole limit, so every increase planned against it (or
    checked against `budget.floor` before it is applied) is refused, naming why, while decreases never are."""
    limits = lambda_client.get_account_settings()["AccountLimit"]
    budget = read_budget(cloudwatch, min(unreserved_floor, limits["ConcurrentExecutions"]),
                         limits["ConcurrentExecutions"], headroom, lookback_days)
    return ConcurrencyPool(limits["UnreservedConcurrentExecutions"], budget.floor, budget.reason), budget
