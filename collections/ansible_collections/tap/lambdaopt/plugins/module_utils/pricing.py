# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lambda compute prices and the monthly cost of a function's measured usage."""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.tap.lambdaopt.plugins.module_utils.sizing import duration_factors

# Source: https://aws.amazon.com/lambda/pricing/ (first tier), checked 2026-11. Regions are added
# only once their prices are checked; an unknown region gets no cost figures, never a guess.
LAMBDA_PRICES = {
    "us-east-1": {"x86_64": 0.0000166667, "arm64": 0.0000133334, "request": 0.20 / 1_000_000},
}
HOURS_PER_MONTH = 730


class UnknownRegion(LookupError):
    pass


@dataclass(frozen=True)
class MeasuredUsage:
    invocations: int
    window_days: float
    avg_billed_duration_ms: float
    memory_size_mb: int
    architecture: str = "x86_64"

    @property
    def monthly_invocations(self) -> float:
        return self.invocations * HOURS_PER_MONTH / (self.window_days * 24)


def monthly_cost(region: str, architecture: str, monthly_invocations: float, billed_ms: float, memory_mb: int) -> float:
    try:
        prices = LAMBDA_PRICES[region]
    except KeyError:
        raise UnknownRegion(f"no checked Lambda prices for region {region}") from None
    gb_seconds = monthly_invocations * billed_ms / 1000 * memory_mb / 1024
    return round(gb_seconds * prices[architecture] + monthly_invocations * prices["request"], 4)


def project(region: str, usage: MeasuredUsage, new_memory_mb: int) -> dict:
    """Duration and monthly cost as measured and at `new_memory_mb`: best case if the code is
    I/O-bound, worst case if it is CPU-bound."""
    best, worst = duration_factors(usage.memory_size_mb, new_memory_mb)
    durations = {
        "measured": usage.avg_billed_duration_ms,
        "best": round(usage.avg_billed_duration_ms * best, 2),
        "worst": round(usage.avg_billed_duration_ms * worst, 2),
    }
    monthly = usage.monthly_invocations

    def cost(billed_ms: float, memory_mb: int) -> float:
        return monthly_cost(region, usage.architecture, monthly, billed_ms, memory_mb)

    return {
        "avg_billed_duration_ms": durations,
        "monthly_invocations": round(monthly),
        "monthly_cost_usd": {
            "measured": cost(durations["measured"], usage.memory_size_mb),
            "best": cost(durations["best"], new_memory_mb),
            "worst": cost(durations["worst"], new_memory_mb),
        },
    }
