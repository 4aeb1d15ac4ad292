# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The account-region's concurrency budget: how much of the unreserved pool reservations and provisioned
concurrency must leave to the functions that draw on it.

Every function without a reservation shares the unreserved pool, whichever fleet it belongs to, and functions
nobody told us about too. AWS/Lambda's account-wide `UnreservedConcurrentExecutions` (no dimension) says how much
of the pool they used at once; reservations must leave at least that peak times the headroom, and never less than
the account's floor, which AWS itself enforces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ansible_collections.tap.lambdaopt.plugins.module_utils import metric_data
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import ConcurrencyPool

PEAK_QUERY_ID = "unreserved"
SOURCE = "AWS/Lambda UnreservedConcurrentExecutions, account-wide (GetMetricData)"


@dataclass(frozen=True)
class Budget:
    """What the unreserved pool must keep, and why."""

    floor: int
    account_floor: int
    peak: int | None
    headroom: float
    peak_unknown: str | None = None

    @property
    def reason(self) -> str:
        if self.peak is not None and self.floor > self.account_floor:
            return (f"the {self.floor} that functions without a reservation need (their account-wide peak of "
                    f"{self.peak} x headroom {self.headroom:g})")
        if self.peak_unknown:
            return (f"its floor of {self.account_floor} (the account-wide unreserved peak is unknown: "
                    f"{self.peak_unknown})")
        return f"its floor of {self.account_floor}"

    def as_dict(self) -> dict:
        return {"keep_unreserved": self.floor, "account_floor": self.account_floor, "unreserved_peak": self.peak,
                "headroom": self.headroom, "unreserved_peak_unknown": self.peak_unknown, "source": SOURCE}


def budget_of(account_floor: int, peak: int | None, headroom: float, peak_unknown: str | None = None) -> Budget:
    """The pool to keep: the account's floor, or the observed unreserved peak times the headroom if that is more."""
    needed = math.ceil(peak * headroom) if peak is not None else 0
    return Budget(max(account_floor, needed), account_floor, peak, headroom, peak_unknown)


def unreserved_peak(cloudwatch, lookback_days: int) -> tuple[int | None, str | None]:
    """(the highest account-wide UnreservedConcurrentExecutions of the window, or None with why it is unknown)."""
    start, end = metric_data.window(lookback_days)
    query = metric_data.metric_query(PEAK_QUERY_ID, "AWS/Lambda", "UnreservedConcurrentExecutions", [], "Maximum",
                                     metric_data.DAY_SECONDS)
    answers = metric_data.run_metric_queries(cloudwatch, [query], start, end)
    if PEAK_QUERY_ID in answers.unknown:
        return None, answers.unknown[PEAK_QUERY_ID]
    peak = metric_data.combine("Maximum", answers.points.get(PEAK_QUERY_ID, []))
    if peak is None:
        return None, "no data points in the window"
    return math.ceil(peak), None


def read_budget(cloudwatch, account_floor: int, headroom: float, lookback_days: int) -> Budget:
    peak, unknown = unreserved_peak(cloudwatch, lookback_days)
    return budget_of(account_floor, peak, headroom, unknown)


def read_pool(lambda_client, cloudwatch, unreserved_floor: int, headroom: float,
              lookback_days: int) -> tuple[ConcurrencyPool, Budget]:
    """The account-region's unreserved pool now (GetAccountSettings) with what it must keep, for reservations and
    provisioned concurrency alike. On an account whose whole limit is at or below the floor, nothing can be taken
    from the pool."""
    limits = lambda_client.get_account_settings()["AccountLimit"]
    budget = read_budget(cloudwatch, min(unreserved_floor, limits["ConcurrentExecutions"]), headroom, lookback_days)
    return ConcurrencyPool(limits["UnreservedConcurrentExecutions"], budget.floor, budget.reason), budget
