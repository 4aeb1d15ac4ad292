"""What a function with a given usage profile does under a given configuration: pure, seeded,
no AWS. The simulator writes this history into the emulator; tests replay a profile at a new
configuration to see whether it would run out of memory, time out or be throttled."""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

PROFILES_FILE = Path(__file__).resolve().parent / "usage_profiles.yaml"
# Lambda gives a function one full vCPU at 1,769 MB; below that its CPU share shrinks in proportion.
FULL_VCPU_MEMORY_MB = 1769
HOUR = timedelta(hours=1)
# Most invocations use about the typical memory; this share climbs toward the profile's peak.
HIGH_MEMORY_SHARE = 0.02
# In an ordinary hour, concurrency peaks at about this multiple of its hourly average.
PEAK_TO_AVERAGE_CONCURRENCY = 3.0


@dataclass(frozen=True)
class UsageProfile:
    name: str
    invocations_per_day: float
    duration_ms: float
    duration_spread: float
    cpu_bound_share: float
    memory_used_mb: float
    memory_peak_mb: float
    init_duration_ms: float
    cold_start_rate: float
    error_rate: float
    burst_hours_per_day: float
    burst_factor: float
    burst_concurrency: int
    # A leak or growing data: the memory an invocation uses grows by this much a day through the window.
    memory_growth_mb_per_day: float = 0.0

    def duration_factor(self, memory_mb: int) -> float:
        """How much longer an invocation takes at `memory_mb` than with a full vCPU."""
        slowdown = max(1.0, FULL_VCPU_MEMORY_MB / memory_mb)
        return (1.0 - self.cpu_bound_share) + self.cpu_bound_share * slowdown


@dataclass(frozen=True)
class FunctionConfig:
    memory_size: int
    timeout: int
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class Invocation:
    start: datetime
    request_id: str
    duration_ms: float
    billed_duration_ms: int
    memory_size: int
    max_memory_used_mb: int
    init_duration_ms: float | None
    outcome: str  # "ok", "error", "timeout" or "out_of_memory"


@dataclass(frozen=True)
class HourlyMetrics:
    start: datetime
    invocations: int
    errors: int
    throttles: int
    duration_sum_ms: float
    duration_min_ms: float
    duration_max_ms: float
    peak_concurrency: int


@dataclass(frozen=True)
class SimulatedUsage:
    function_name: str
    profile: UsageProfile
    config: FunctionConfig
    invocations: tuple[Invocation, ...]
    hours: tuple[HourlyMetrics, ...]

    def count(self, outcome: str) -> int:
        return sum(1 for invocation in self.invocations if invocation.outcome == outcome)

    @property
    def out_of_memory(self) -> int:
        return self.count("out_of_memory")

    @property
    def timeouts(self) -> int:
        return self.count("timeout")

    @property
    def throttles(self) -> int:
        return sum(hour.throttles for hour in self.hours)

    @property
    def errors(self) -> int:
        return sum(hour.errors for hour in self.hours)

    @property
    def peak_concurrency(self) -> int:
        return max((hour.peak_concurrency for hour in self.hours), default=0)

    @property
    def harmed(self) -> bool:
        """Whether this configuration makes the function fail in a way its code does not."""
        return bool(self.out_of_memory or self.timeouts or self.throttles)


@dataclass(frozen=True)
class AliasHour:
    """One hour of an alias with provisioned concurrency: the function's hour, all of whose requests the alias
    serves, and how the allocation served them, as Lambda's metrics for the alias report it."""

    hour: HourlyMetrics
    spillover_invocations: int
    peak_provisioned_executions: int
    max_utilization: float


def alias_hours(usage: SimulatedUsage, provisioned: int) -> tuple[AliasHour, ...]:
    """The hours of `usage` served through an alias with `provisioned` concurrency: requests run on the
    provisioned environments up to their number and spill over to on-demand concurrency beyond it; the share
    that spills is the share of the hour's peak above the allocation (as throttles are modelled above)."""
    hours = []
    for hour in usage.hours:
        spillover = 0
        if provisioned and hour.peak_concurrency > provisioned:
            spillover = round(hour.invocations * (1 - provisioned / hour.peak_concurrency))
        used = min(hour.peak_concurrency, provisioned)
        hours.append(AliasHour(
            hour=hour,
            spillover_invocations=spillover if provisioned else hour.invocations,
            peak_provisioned_executions=used,
            max_utilization=round(used / provisioned, 4) if provisioned else 0.0,
        ))
    return tuple(hours)


def load_profiles(path: Path = PROFILES_FILE) -> tuple[dict[str, UsageProfile], dict[str, str]]:
    """The profiles by name, and which profile each fleet function (name without suffix) follows."""
    document = yaml.safe_load(path.read_text())
    profiles = {name: UsageProfile(name=name, **fields) for name, fields in document["profiles"].items()}
    unknown = set(document["functions"].values()) - set(profiles)
    if unknown:
        raise ValueError(f"{path.name} assigns unknown profiles: {', '.join(sorted(unknown))}")
    return profiles, dict(document["functions"])


def default_end(now: datetime | None = None) -> datetime:
    """The end of the next whole hour. A window of up to 14 days that ends there starts after
    now - 14 days, and CloudWatch Logs refuses events older than that; events in the current
    hour may lie up to an hour ahead, which it accepts (up to 2 hours)."""
    now = now or datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def _diurnal(hour_of_day: int) -> float:
    """Traffic through the day: busiest mid-afternoon UTC, quietest at night, averaging 1."""
    return 1.0 + 0.6 * math.sin(2 * math.pi * (hour_of_day - 9) / 24)


def simulate(
    function_name: str,
    profile: UsageProfile,
    config: FunctionConfig,
    end: datetime,
    days: float = 14,
    seed: int = 0,
    traffic_scale: float = 1.0,
) -> SimulatedUsage:
    """The invocations and hourly metrics of `days` days before `end` (rounded down to the hour); a fraction of a
    day is that many whole hours.

    The same function name, profile, end and seed give the same traffic and per-invocation work
    whatever the configuration, so two configurations can be compared invocation by invocation.
    `traffic_scale` multiplies the profile's request rate (bursts keep their concurrency).
    """
    rng = random.Random(f"{function_name}/{profile.name}/{seed}")
    end = end.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    factor = profile.duration_factor(config.memory_size)
    timeout_ms = config.timeout * 1000.0

    drafts = []  # per hour: (start, burst, [(offset_s, duration, memory, init, failed), ...])
    hours = round(days * 24)
    for index in range(hours):
        start = end - hours * HOUR + index * HOUR
        burst = rng.random() < profile.burst_hours_per_day / 24
        rate = (profile.invocations_per_day * traffic_scale / 24 * _diurnal(start.hour)
                * (profile.burst_factor if burst else 1))
        calls = []
        grown = profile.memory_growth_mb_per_day * index / 24
        for _ in range(_poisson(rng, rate)):
            memory = (profile.memory_used_mb + grown) * rng.uniform(0.92, 1.05)
            if rng.random() < HIGH_MEMORY_SHARE:
                memory = rng.uniform(profile.memory_used_mb + grown, profile.memory_peak_mb + grown)
            cold = rng.random() < profile.cold_start_rate
            calls.append((
                rng.uniform(0, 3600),
                profile.duration_ms * rng.lognormvariate(0, profile.duration_spread),
                min(memory, profile.memory_peak_mb + grown),
                profile.init_duration_ms * rng.lognormvariate(0, 0.1) if cold else None,
                rng.random() < profile.error_rate,
            ))
        drafts.append((start, burst, calls))
    _reach_peak_memory(drafts, profile.memory_peak_mb + profile.memory_growth_mb_per_day * days)

    invocations: list[Invocation] = []
    hours: list[HourlyMetrics] = []
    for start, burst, calls in drafts:
        durations = [duration * factor for _, duration, _, _, _ in calls]
        average = sum(durations) / 3_600_000
        peak = math.ceil(average * PEAK_TO_AVERAGE_CONCURRENCY) if calls else 0
        if burst:
            peak = max(peak, math.ceil(profile.burst_concurrency * factor))
        throttled = 0
        if config.reserved_concurrency is not None and peak > config.reserved_concurrency:
            throttled = round(len(calls) * (1 - config.reserved_concurrency / peak))
            peak = config.reserved_concurrency
        # Throttled requests never run: the last arrivals of the hour are the ones turned away.
        ran = sorted(zip(calls, durations, strict=True), key=lambda pair: pair[0][0])[: len(calls) - throttled]
        hour_invocations = [
            _resolve(start, offset, duration, memory, init, failed, config, timeout_ms, rng)
            for (offset, _, memory, init, failed), duration in ran
        ]
        invocations.extend(hour_invocations)
        run_durations = [invocation.duration_ms for invocation in hour_invocations]
        hours.append(HourlyMetrics(
            start=start,
            invocations=len(hour_invocations),
            errors=sum(1 for invocation in hour_invocations if invocation.outcome != "ok"),
            throttles=throttled,
            duration_sum_ms=round(sum(run_durations), 2),
            duration_min_ms=min(run_durations, default=0.0),
            duration_max_ms=max(run_durations, default=0.0),
            peak_concurrency=peak,
        ))
    return SimulatedUsage(function_name, profile, config, tuple(invocations), tuple(hours))


def _reach_peak_memory(drafts: list, peak_mb: float) -> None:
    """Make the window's hungriest invocation use exactly the profile's peak, so the peak is known."""
    located = [
        (call[2], hour_index, call_index)
        for hour_index, (_, _, calls) in enumerate(drafts)
        for call_index, call in enumerate(calls)
    ]
    if not located:
        return
    _, hour_index, call_index = max(located)
    calls = drafts[hour_index][2]
    offset, duration, _, init, failed = calls[call_index]
    calls[call_index] = (offset, duration, peak_mb, init, failed)


def _resolve(start: datetime, offset: float, duration: float, memory: float, init: float | None, failed: bool,
             config: FunctionConfig, timeout_ms: float, rng: random.Random) -> Invocation:
    used = math.ceil(memory)
    if used > config.memory_size:
        outcome, used = "out_of_memory", config.memory_size
    elif duration > timeout_ms:
        outcome, duration = "timeout", timeout_ms
    else:
        outcome = "error" if failed else "ok"
    duration = round(duration, 2)
    init = round(init, 2) if init is not None else None
    return Invocation(
        start=start + timedelta(seconds=offset),
        request_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        duration_ms=duration,
        # INIT is billed for on-demand functions on managed runtimes, so it is part of the bill.
        billed_duration_ms=math.ceil(duration + (init or 0.0)),
        memory_size=config.memory_size,
        max_memory_used_mb=used,
        init_duration_ms=init,
        outcome=outcome,
    )
