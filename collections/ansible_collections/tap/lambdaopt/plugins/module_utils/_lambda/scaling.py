# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a function's duration scales with its memory size, from evidence rather than the worst case.

Lambda gives a function CPU in proportion to its memory, one full vCPU at 1,769 MB (Lambda developer guide,
"Configuring function memory"). A function's duration at memory m is modelled as

    d(m) = io + cpu x max(1, 1769 / m)

where `io` is the time spent waiting (network, disk), which no CPU share speeds up, and `cpu` the CPU time at a full
vCPU. Without evidence, the code is taken as wholly CPU-bound (io = 0): safe, and up to 13.8x pessimistic at 128 MB.
With evidence - durations measured at two or more CPU shares, or the CPU time Lambda Insights reports - the CPU
fraction `cpu / (io + cpu)` is fitted, with an upper bound that projections towards less memory use, so a guard
errs on the safe side by the fit's own uncertainty.

Pure: no AWS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FULL_VCPU_MEMORY_MB = 1769
# Evidence, named as decisions state it.
WORST_CASE = "worst case"
TWO_MEMORY_SIZES = "two memory sizes"
LAMBDA_INSIGHTS = "Lambda Insights"
MEASURED_AFTER_CHANGE = "measured after our change"
POWER_TUNING = "power tuning"
EVIDENCE = (WORST_CASE, TWO_MEMORY_SIZES, LAMBDA_INSIGHTS, MEASURED_AFTER_CHANGE, POWER_TUNING)
# A size's mean duration needs this many invocations to count as a measurement.
MIN_INVOCATIONS_PER_SIZE = 30
# Bounds at about 99.7 % (three standard errors): a fit is trusted as far as its uncertainty allows.
CONFIDENCE_Z = 3.0
# A size whose durations vary by less than this share of their mean is still taken to vary that much: a mean
# from few, alike invocations is no more certain than the day-to-day drift of the code around it.
MIN_RELATIVE_SPREAD = 0.05


def slowdown(memory_mb: int) -> float:
    """How many times longer CPU work takes at `memory_mb` than with a full vCPU."""
    return max(1.0, FULL_VCPU_MEMORY_MB / memory_mb)


@dataclass(frozen=True)
class SizeSample:
    """Durations measured at one memory size: how many invocations, their mean and standard deviation (ms), and their
    extremes."""

    memory_mb: int
    invocations: int
    mean_ms: float
    stddev_ms: float | None = None
    # The longest and the 99.9th percentile duration at this size, where known: what a timeout is projected from.
    max_ms: float | None = None
    p999_ms: float | None = None

    @property
    def standard_error(self) -> float:
        spread = max(self.stddev_ms or 0.0, MIN_RELATIVE_SPREAD * self.mean_ms)
        return spread / math.sqrt(self.invocations)


@dataclass(frozen=True)
class Scaling:
    """The share of a function's full-vCPU duration that is CPU work: fitted (`cpu_fraction`), and the bounds a
    projection uses (`low` where faster is the risk-free side, `high` where slower is), with the evidence."""

    cpu_fraction: float
    low: float
    high: float
    evidence: str = WORST_CASE
    detail: str = "no evidence of how the code scales: taken as wholly CPU-bound"

    @property
    def is_worst_case(self) -> bool:
        return self.high >= 1.0

    def factor(self, from_mb: int, to_mb: int, cpu_fraction: float) -> float:
        """How many times its duration at `from_mb` a function with this CPU fraction takes at `to_mb`."""
        at = (1 - cpu_fraction) + cpu_fraction * slowdown(to_mb)
        return at / ((1 - cpu_fraction) + cpu_fraction * slowdown(from_mb))

    def factors(self, from_mb: int, to_mb: int) -> tuple[float, float]:
        """(best, worst) duration multipliers for moving from `from_mb` to `to_mb`, within the fit's bounds. Less
        memory never makes code faster and more never slower, whatever the fit."""
        one, other = self.factor(from_mb, to_mb, self.low), self.factor(from_mb, to_mb, self.high)
        best, worst = min(one, other), max(one, other)
        if to_mb <= from_mb:
            return max(1.0, best), max(1.0, worst)
        return min(1.0, best), min(1.0, worst)

    def as_dict(self) -> dict:
        return {"evidence": self.evidence, "cpu_fraction": round(self.cpu_fraction, 3),
                "cpu_fraction_bounds": [round(self.low, 3), round(self.high, 3)], "detail": self.detail}


WORST = Scaling(cpu_fraction=1.0, low=0.0, high=1.0)


def _clamped(value: float) -> float:
    return min(1.0, max(0.0, value))


def fit_sizes(samples: list, reference_mb: int, evidence: str = TWO_MEMORY_SIZES,
              min_invocations: int = MIN_INVOCATIONS_PER_SIZE) -> Scaling:
    """The CPU fraction from mean durations at two or more CPU shares, by least squares weighted by each mean's
    certainty; WORST without them. `reference_mb` is the size a projection starts from (the current one): the
    bounds move `cpu` by its uncertainty while keeping the duration measured there, since that is what is known
    best."""
    usable = [sample for sample in samples if sample.invocations >= min_invocations and sample.mean_ms > 0]
    if len({slowdown(sample.memory_mb) for sample in usable}) < 2:
        return WORST
    weights = [1 / sample.standard_error ** 2 for sample in usable]
    shares = [slowdown(sample.memory_mb) for sample in usable]
    total = sum(weights)
    mean_share = sum(w * s for w, s in zip(weights, shares, strict=True)) / total
    mean_duration = sum(w * sample.mean_ms for w, sample in zip(weights, usable, strict=True)) / total
    spread = sum(w * (s - mean_share) ** 2 for w, s in zip(weights, shares, strict=True))
    cpu = sum(w * (s - mean_share) * (sample.mean_ms - mean_duration)
              for w, s, sample in zip(weights, shares, usable, strict=True)) / spread
    io = mean_duration - cpu * mean_share
    variance = 1 / spread
    if len(usable) > 2:
        # More sizes than parameters: a poor fit widens the bounds by how far the means stray from the line.
        misfit = sum(w * (sample.mean_ms - io - cpu * s) ** 2
                     for w, s, sample in zip(weights, shares, usable, strict=True))
        variance *= max(1.0, misfit / (len(usable) - 2))
    margin = CONFIDENCE_Z * math.sqrt(variance)
    at_reference = io + cpu * slowdown(reference_mb)
    sizes = ", ".join(f"{sample.memory_mb} MB: {sample.mean_ms:.0f} ms avg of {sample.invocations}"
                      for sample in sorted(usable, key=lambda sample: sample.memory_mb))
    return Scaling(
        cpu_fraction=_fraction(cpu, at_reference, reference_mb),
        low=_fraction(cpu - margin, at_reference, reference_mb),
        high=_fraction(cpu + margin, at_reference, reference_mb),
        evidence=evidence,
        detail=f"durations at {sizes}",
    )


def _fraction(cpu: float, at_reference: float, reference_mb: int) -> float:
    """The CPU fraction of a function whose CPU time at a full vCPU is `cpu` and whose duration at `reference_mb`
    is `at_reference`: the rest of that duration is I/O."""
    if at_reference <= 0:
        return 1.0
    cpu = min(max(cpu, 0.0), at_reference / slowdown(reference_mb))
    io = at_reference - cpu * slowdown(reference_mb)
    return _clamped(cpu / (io + cpu)) if io + cpu > 0 else 1.0


# Power tuning invokes the same payload at each size: fewer invocations a size measure it, as its own guard accepts.
MIN_TUNED_INVOCATIONS = 5


def from_power_tuning(curve: list, reference_mb: int) -> Scaling:
    """The CPU fraction from a lambda_power_tuning curve: the average duration of its measured sizes."""
    samples = [SizeSample(point["memory_size"], point.get("invocations") or 0, (point.get("duration_ms") or {})["avg"],
                          max_ms=(point.get("duration_ms") or {}).get("max"))
               for point in curve if point.get("status") == "measured" and (point.get("duration_ms") or {}).get("avg")]
    return fit_sizes(samples, reference_mb, evidence=POWER_TUNING, min_invocations=MIN_TUNED_INVOCATIONS)


def from_cpu_time(memory_mb: int, duration_ms: float, cpu_time_ms: float, invocations: int,
                  cpu_time_stddev_ms: float | None = None) -> Scaling:
    """The CPU fraction from Lambda Insights: `cpu_total_time` (CPU time an invocation used) against its duration,
    both averaged at `memory_mb`. With less than a full vCPU, CPU work takes `slowdown` times its CPU time."""
    if invocations < MIN_INVOCATIONS_PER_SIZE or duration_ms <= 0 or cpu_time_ms < 0:
        return WORST
    error = max(cpu_time_stddev_ms or 0.0, MIN_RELATIVE_SPREAD * max(cpu_time_ms, 1.0)) / math.sqrt(invocations)
    margin = CONFIDENCE_Z * error
    detail = (f"CPU time {cpu_time_ms:.0f} ms of {duration_ms:.0f} ms average duration at {memory_mb} MB, "
              f"{invocations} invocations")
    return Scaling(
        cpu_fraction=_fraction(cpu_time_ms, duration_ms, memory_mb),
        low=_fraction(cpu_time_ms - margin, duration_ms, memory_mb),
        high=_fraction(cpu_time_ms + margin, duration_ms, memory_mb),
        evidence=LAMBDA_INSIGHTS,
        detail=detail,
    )
