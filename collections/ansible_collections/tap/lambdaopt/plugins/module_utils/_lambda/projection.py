# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A function's measured usage, scaled to a month and projected to another memory size."""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import duration_factors

# AWS prices a month as 730 hours.
HOURS_PER_MONTH = 730


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

    def billed_duration_at(self, memory_mb: int) -> dict:
        """Average billed duration at `memory_mb`: unchanged if the code is I/O-bound (best case), scaled
        with the CPU share if it is CPU-bound (worst case)."""
        best, worst = duration_factors(self.memory_size_mb, memory_mb)
        return {"best": self.avg_billed_duration_ms * best, "worst": self.avg_billed_duration_ms * worst}


def measured_usage_of(function: dict) -> MeasuredUsage | None:
    """The usage behind a function's cost, from a lambda_usage_info entry; None without invocations or a
    duration to bill."""
    billed = function.get("avg_billed_duration_ms") or (function.get("duration_ms") or {}).get("avg")
    if not function.get("invocations") or not billed or not (function.get("window") or {}).get("days"):
        return None
    configuration = function.get("configuration") or {}
    return MeasuredUsage(
        invocations=function["invocations"],
        window_days=function["window"]["days"],
        avg_billed_duration_ms=billed,
        # Durations were measured at the memory size of the window's REPORT lines.
        memory_size_mb=(function.get("samples") or {}).get("observed_memory_size_mb")
        or configuration.get("memory_size"),
        architecture=configuration.get("architecture") or "x86_64",
    )


def project(usage: MeasuredUsage, new_memory_mb: int) -> dict:
    """Average billed duration as measured and at `new_memory_mb`, best to worst case."""
    projected = usage.billed_duration_at(new_memory_mb)
    return {
        "avg_billed_duration_ms": {
            "measured": usage.avg_billed_duration_ms,
            "best": round(projected["best"], 2),
            "worst": round(projected["worst"], 2),
        },
        "monthly_invocations": round(usage.monthly_invocations),
    }
