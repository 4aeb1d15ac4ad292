# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A function's measured usage, scaled to a month and projected to another memory size: lambda_rightsize
projects its durations, and the savings report prices it (in Decimal, converting what it reads here)."""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import duration_factors

# AWS prices a month as 730 hours.
HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class MeasuredUsage:
    """One function's usage as lambda_usage_info measured it over its window; None where it measured nothing.
    The values are kept as measured, so that each consumer does its arithmetic in its own number type."""

    invocations: int | None
    window_days: float | None
    avg_billed_duration_ms: float | None
    memory_size_mb: int | None  # the memory size the durations were measured at
    architecture: str = "x86_64"
    errors: int | None = None
    cold_starts: int | None = None
    log_ingested_bytes: int | None = None

    @classmethod
    def of(cls, function: dict) -> MeasuredUsage:
        """The usage of a lambda_usage_info entry."""
        configuration = function.get("configuration") or {}
        return cls(
            invocations=function.get("invocations"),
            window_days=(function.get("window") or {}).get("days"),
            avg_billed_duration_ms=function.get("avg_billed_duration_ms")
            or (function.get("duration_ms") or {}).get("avg"),
            # Durations were measured at the memory size of the window's REPORT lines.
            memory_size_mb=(function.get("samples") or {}).get("observed_memory_size_mb")
            or configuration.get("memory_size"),
            architecture=configuration.get("architecture") or "x86_64",
            errors=function.get("errors"),
            cold_starts=(function.get("init_duration_ms") or {}).get("cold_starts"),
            log_ingested_bytes=function.get("log_ingested_bytes"),
        )

    @property
    def has_compute(self) -> bool:
        """Whether the window, of a known length, had invocations and a duration to bill them by."""
        return bool(self.invocations) and bool(self.avg_billed_duration_ms) and bool(self.window_days)

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
    usage = MeasuredUsage.of(function)
    return usage if usage.has_compute else None


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
