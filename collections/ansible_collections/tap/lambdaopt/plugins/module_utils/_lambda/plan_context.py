# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guards from a function's context: what invokes it, and where its usage is heading.

Pure functions over plain data, no AWS, applied on top of the memory, timeout and concurrency guards of plan.py
(plan.plan_function):

- an SQS consumer must finish within its queue's visibility timeout, or the message is delivered again (Lambda
  developer guide, "Using Lambda with Amazon SQS", which recommends a visibility timeout of at least six times the
  function's timeout): its timeout stays within it, and its memory is not lowered so far that the timeout it needs
  would exceed it;
- a function behind API Gateway answers callers within the integration timeout, read from the API that invokes it
  (triggers.integration_timeouts: 29 s by default for REST and WebSocket APIs, 30 s for HTTP APIs) or, where the
  API cannot be read, the `api_integration_timeout` option: its projected duration at the new memory, with
  headroom, stays within it, and a timeout above it has no effect on callers;
- a stream consumer whose IteratorAge rose over the window is already falling behind: its memory is not lowered;
- a function whose max memory used (or max duration) grows steadily over the window is sized for where the trend
  will be at the horizon, or, when the fit is too uncertain to say, its memory (or timeout) is not lowered.

A function without any of these (no trigger, no trend) is planned exactly as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ansible_collections.amazon.aws.plugins.module_utils.arn import parse_aws_arn
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import (
    FULL_VCPU_MEMORY_MB,
    MEMORY_LIMITS_MB,
    TIMEOUT_LIMITS_S,
    Evidence,
    Policy,
    _observed_duration,
    _round_up,
    cpu_share,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.decisions import AUTO, Decision, refuse_or_accept

SQS, API_GATEWAY, STREAM, TREND = "sqs", "api_gateway", "stream", "trend"
# AWS recommends a queue visibility timeout of at least this many times the function's timeout.
SQS_VISIBILITY_RECOMMENDED_FACTOR = 6
# REST APIs' default integration timeout (API Gateway quotas); HTTP APIs allow 30 s.
REST_API_INTEGRATION_TIMEOUT_S = 29
# A slope is a trend when it is at least this many standard errors above zero.
TREND_MIN_T = 3.0
TREND_MIN_POINTS = 4
API_TYPES = {"rest": "REST API", "http": "HTTP API", "websocket": "WebSocket API"}


@dataclass(frozen=True)
class Ceiling:
    """A duration the function must finish within, set by what invokes it."""

    seconds: float
    context: str
    what: str  # e.g. "the 120 s visibility timeout of queue orders-dev"
    risk: str


@dataclass(frozen=True)
class Trend:
    """A least-squares line through (day, value) points: value = intercept + slope * day."""

    slope: float
    intercept: float
    r_squared: float
    t_statistic: float
    last_day: float
    points: int

    def at(self, day: float) -> float:
        return self.intercept + self.slope * day


def fit_trend(points: list) -> Trend | None:
    """The line through `points` [(day, value)], or None with too few points (or days) to fit one."""
    if len(points) < TREND_MIN_POINTS:
        return None
    days = [float(day) for day, _value in points]
    values = [float(value) for _day, value in points]
    count = len(points)
    mean_day, mean_value = sum(days) / count, sum(values) / count
    spread = sum((day - mean_day) ** 2 for day in days)
    if spread == 0:
        return None
    slope = sum((day - mean_day) * (value - mean_value) for day, value in zip(days, values, strict=True)) / spread
    intercept = mean_value - slope * mean_day
    residual = sum((value - (intercept + slope * day)) ** 2 for day, value in zip(days, values, strict=True))
    total = sum((value - mean_value) ** 2 for value in values)
    r_squared = 1.0 if total == 0 else max(0.0, 1 - residual / total)
    standard_error = math.sqrt(residual / (count - 2) / spread)
    if standard_error == 0:
        t_statistic = math.inf if slope > 0 else (-math.inf if slope < 0 else 0.0)
    else:
        t_statistic = slope / standard_error
    return Trend(slope, intercept, r_squared, t_statistic, max(days), count)


def iterator_age_rose(daily_maxima: list | None) -> bool:
    """Whether a stream consumer's IteratorAge (daily maxima, oldest first) ended the window higher than it began
    and its last day is its worst: it is falling behind."""
    if not daily_maxima or len(daily_maxima) < 2:
        return False
    return daily_maxima[-1] > daily_maxima[0] and daily_maxima[-1] >= max(daily_maxima)


@dataclass(frozen=True)
class Context:
    """What invokes a function and where its usage is heading, as the guards need it."""

    ceilings: tuple = ()  # Ceiling, one per queue and synchronous caller
    queues: tuple = ()  # (queue name, visibility timeout s)
    api_timeout_s: float | None = None
    api_notes: tuple = ()  # why an API's integration timeout is the option's rather than the API's own
    streams_behind: tuple = ()  # names of streams whose IteratorAge rose over the window
    memory_points: tuple = ()  # (day in the window, max memory used MB that day)
    duration_points: tuple = ()  # (day in the window, max duration ms that day)
    trend_horizon_days: float = 7.0
    trend_min_r_squared: float = 0.8
    # The window's length in days: the horizon counts from its end (the points' days count from its start).
    window_days: float | None = None

    def memory_trend(self) -> Trend | None:
        """The growth of max memory used over the window, when it clearly grows (a slope TREND_MIN_T standard
        errors above zero); None otherwise."""
        return _growth(self.memory_points)

    def duration_trend(self) -> Trend | None:
        """The growth of max duration over the window, when it clearly grows; None otherwise."""
        return _growth(self.duration_points)

    def horizon(self, trend: Trend) -> float:
        return (trend.last_day if self.window_days is None else self.window_days) + self.trend_horizon_days

    def guard_memory(self, memory: Decision | None, evidence: Evidence, policy: Policy) -> Decision | None:
        if memory is None or memory.refused:
            return memory
        memory = self._memory_for_trend(memory, policy)
        if memory.refused or memory.after >= memory.before:
            return memory
        for ceiling in self.ceilings:
            memory = _memory_within(memory, ceiling, evidence, policy)
            if memory.refused or memory.after >= memory.before:
                return memory
        if self.streams_behind:
            memory = _refuse(policy, memory, STREAM, f"{', '.join(self.streams_behind)}: IteratorAge rose over the "
                             f"window, the consumer is already falling behind; lowering memory to {memory.after} MB "
                             f"could slow it further", "stream consumer falls further behind")
        return memory

    def guard_timeout(self, timeout: Decision | None, policy: Policy, evidence: Evidence | None = None,
                      memory_mb: int | None = None) -> Decision | None:
        """The timeout decided for the function running at `memory_mb`: long enough for where its duration is
        heading, and within its queue's visibility timeout."""
        if timeout is None or timeout.refused:
            return timeout
        if evidence is not None and memory_mb is not None:
            timeout = self._timeout_for_trend(timeout, policy, evidence, memory_mb)
        if timeout.refused or not timeout.changed:
            return timeout
        for ceiling in self.ceilings:
            if ceiling.context != SQS or timeout.after <= ceiling.seconds:
                continue
            reason = f"{timeout.after} s exceeds {ceiling.what}"
            if timeout.requested == AUTO:
                return Decision("timeout", timeout.before, AUTO, timeout.before, f"{timeout.reason}, which {reason}",
                                risk=ceiling.risk, refused=True, context=SQS)
            return _refuse(policy, timeout, SQS, reason, ceiling.risk)
        return timeout

    def notes(self, timeout_s: int) -> list:
        """What the result says about a function keeping `timeout_s`: below AWS's recommended visibility timeout,
        or a timeout callers never wait for."""
        found = []
        for queue, visibility in self.queues:
            if visibility < SQS_VISIBILITY_RECOMMENDED_FACTOR * timeout_s:
                found.append(f"queue {queue}'s visibility timeout {visibility} s is below the "
                             f"{SQS_VISIBILITY_RECOMMENDED_FACTOR} x {timeout_s} s = "
                             f"{SQS_VISIBILITY_RECOMMENDED_FACTOR * timeout_s} s AWS recommends: a message may be "
                             f"processed twice while retries run")
        if self.api_timeout_s is not None and timeout_s > self.api_timeout_s:
            found.append(f"a timeout of {timeout_s} s has no effect for API Gateway callers, who get an error "
                         f"after its {self.api_timeout_s:g} s integration timeout")
        return found + list(self.api_notes)

    def _timeout_for_trend(self, timeout: Decision, policy: Policy, evidence: Evidence, memory_mb: int) -> Decision:
        trend = self.duration_trend()
        if trend is None:
            return timeout
        rate = (f"max duration grows {trend.slope:.0f} ms/day over {trend.points} days "
                f"(R² {trend.r_squared:.2f})")
        if trend.r_squared < self.trend_min_r_squared:
            if timeout.after >= timeout.before:
                return timeout
            return _refuse(policy, timeout, TREND, f"{rate}: too uncertain a fit to size for; lowering the timeout "
                           f"to {timeout.after} s could cut invocations off", "timeout as durations grow")
        worst = evidence.slowdown_at(memory_mb)
        projected_ms = trend.at(self.horizon(trend)) * worst
        floor = math.ceil(projected_ms * policy.timeout_headroom / 1000)
        if timeout.after >= floor:
            return timeout
        basis = "if CPU-bound" if evidence.scaling.is_worst_case else f"by {evidence.scaling.evidence}"
        text = (f"{rate}: {projected_ms:.0f} ms in {self.trend_horizon_days:g} days"
                + (f" {basis} at {memory_mb} MB" if worst > 1 else "")
                + f" x headroom {policy.timeout_headroom:g} = {floor} s")
        if timeout.requested != AUTO or floor > TIMEOUT_LIMITS_S[1]:
            return _refuse(policy, timeout, TREND, f"{timeout.after} s is below the trend: {text}",
                           "timeout as durations grow")
        return Decision("timeout", timeout.before, AUTO, floor, f"sized for the trend: {text}", context=TREND)

    def _memory_for_trend(self, memory: Decision, policy: Policy) -> Decision:
        trend = self.memory_trend()
        if trend is None:
            return memory
        rate = f"max memory used grows {trend.slope:.1f} MB/day over {trend.points} days (R² {trend.r_squared:.2f})"
        if trend.r_squared < self.trend_min_r_squared:
            if memory.after >= memory.before:
                return memory
            return _refuse(policy, memory, TREND, f"{rate}: too uncertain a fit to size for; lowering memory to "
                           f"{memory.after} MB could run out", "out of memory as usage grows")
        projected = trend.at(self.horizon(trend))
        floor = min(math.ceil(projected * policy.memory_headroom), MEMORY_LIMITS_MB[1])
        if memory.after >= floor:
            return memory
        text = (f"{rate}: {projected:.0f} MB in {self.trend_horizon_days:g} days x headroom "
                f"{policy.memory_headroom:g} = {floor} MB")
        if memory.requested != AUTO:
            return _refuse(policy, memory, TREND, f"{memory.requested} MB is below the trend: {text}",
                           "out of memory as usage grows")
        target = min(_round_up(floor, policy.memory_increment_mb), MEMORY_LIMITS_MB[1])
        return Decision("memory_size", memory.before, AUTO, target, f"sized for the trend: {text}", context=TREND)


def _refuse(policy: Policy, decision: Decision, context: str, reason: str, risk: str) -> Decision:
    if decision.requested == AUTO:
        return Decision(decision.field, decision.before, AUTO, decision.before, reason, risk=risk, refused=True,
                        context=context, refused_value=decision.after)
    return replace(refuse_or_accept(policy, decision.field, decision.before, decision.requested, decision.after,
                                    reason, risk), context=context)


def lowest_memory_within(ceiling_s: float, evidence: Evidence, policy: Policy) -> int | None:
    """The least memory at which the observed duration, projected CPU-bound (or by the evidence of how the code
    scales), times the timeout headroom still fits within `ceiling_s`; None when nothing observed says. Never below
    what was observed when even that is too slow, since lowering memory cannot make it faster."""
    observed, _statistic = _observed_duration(evidence, policy)
    if observed is None:
        return None
    if not evidence.scaling.is_worst_case:
        return _lowest_fitting(ceiling_s, observed, evidence, policy)
    share_needed = observed * policy.timeout_headroom / (ceiling_s * 1000)
    if share_needed >= 1:
        return evidence.memory_size_mb
    lowest = max(MEMORY_LIMITS_MB[0], math.ceil(FULL_VCPU_MEMORY_MB * cpu_share(evidence.memory_size_mb)
                                                * share_needed))
    while lowest < evidence.memory_size_mb and not _fits(lowest, ceiling_s, observed, evidence, policy):
        lowest += 1  # float rounding at the boundary
    return lowest


def _fits(memory_mb: int, ceiling_s: float, observed: float, evidence: Evidence, policy: Policy) -> bool:
    _observed, statistic = _observed_duration(evidence, policy)
    return evidence.projected_duration(observed, statistic, memory_mb) * policy.timeout_headroom <= ceiling_s * 1000


def _lowest_fitting(ceiling_s: float, observed: float, evidence: Evidence, policy: Policy) -> int:
    """The least memory that fits, by bisection: a projected duration only grows as memory shrinks."""
    high = evidence.memory_size_mb
    if not _fits(high, ceiling_s, observed, evidence, policy):
        return high
    low = MEMORY_LIMITS_MB[0]
    if _fits(low, ceiling_s, observed, evidence, policy):
        return low
    while high - low > 1:  # low never fits, high always does
        middle = (low + high) // 2
        if _fits(middle, ceiling_s, observed, evidence, policy):
            high = middle
        else:
            low = middle
    return high


def _growth(points) -> Trend | None:
    trend = fit_trend(list(points))
    if trend is None or trend.slope <= 0 or trend.t_statistic < TREND_MIN_T:
        return None
    return trend


def _memory_within(memory: Decision, ceiling: Ceiling, evidence: Evidence, policy: Policy) -> Decision:
    lowest = lowest_memory_within(ceiling.seconds, evidence, policy)
    if lowest is None:
        return _refuse(policy, memory, ceiling.context, f"no duration observed to check {memory.after} MB against "
                       f"{ceiling.what}", ceiling.risk)
    if memory.after >= lowest:
        return memory
    observed, statistic = _observed_duration(evidence, policy)
    projected_ms = evidence.projected_duration(observed, statistic, memory.after)
    reason = (f"at {memory.after} MB the observed {statistic} {observed:g} ms could grow to {projected_ms:.0f} ms "
              f"({evidence.projection_basis()}), which with headroom {policy.timeout_headroom:g} exceeds "
              f"{ceiling.what}")
    target = min(_round_up(lowest, policy.memory_increment_mb), memory.before)
    if memory.requested != AUTO or target >= memory.before:
        return _refuse(policy, memory, ceiling.context, reason, ceiling.risk)
    return Decision("memory_size", memory.before, AUTO, target,
                    f"{memory.reason}; kept at {target} MB: {reason} below {lowest} MB", context=ceiling.context)


def _api_ceilings(triggers: dict, option_s: float) -> tuple[list, list]:
    """One ceiling per API that invokes the function, at the integration timeout read from it; the option's where
    it could not be read (with a note saying why), and one ceiling at the option when no API is named at all."""
    ceilings, notes = [], []
    unknown = triggers.get("unknown") or {}
    for api in triggers.get("apis") or []:
        label = f"{API_TYPES.get(api.get('type'), 'API')} {api['name'] or api['id']}" + (
            f" ({api['id']})" if api.get("name") else "")
        if api.get("integration_timeout_ms") is not None:
            seconds = api["integration_timeout_ms"] / 1000
            ceilings.append(Ceiling(seconds, API_GATEWAY, f"the {seconds:g} s integration timeout of {label}",
                                    "API callers time out"))
            continue
        reason = unknown.get(f"api {api['id']}") or "not read"
        notes.append(f"{label}'s integration timeout taken as api_integration_timeout {option_s:g} s: {reason}")
        ceilings.append(Ceiling(option_s, API_GATEWAY, f"the {option_s:g} s integration timeout assumed for {label} "
                                f"(api_integration_timeout)", "API callers time out"))
    if not ceilings:
        if unknown.get("api"):
            notes.append(f"API Gateway's integration timeout taken as api_integration_timeout {option_s:g} s: "
                         f"{unknown['api']}")
        ceilings.append(Ceiling(option_s, API_GATEWAY, f"API Gateway's {option_s:g} s integration timeout "
                                f"(api_integration_timeout)", "API callers time out"))
    return ceilings, notes


def stream_name(arn: str) -> str:
    """A stream as people name it: a Kinesis stream by its name, a DynamoDB stream by its table (its label is only
    when it was enabled)."""
    parts = parse_aws_arn(arn) or {"service": None, "resource": arn}
    resource = parts["resource"]
    if parts["service"] == "dynamodb" and "/stream/" in resource:
        return f"the stream of DynamoDB table {resource.split('/')[1]}"
    if parts["service"] == "kinesis" and resource.startswith("stream/"):
        return f"Kinesis stream {resource.split('/', 1)[1]}"
    return f"stream {resource}"


def queue_name(arn: str) -> str:
    """The name of the queue an SQS ARN names (its resource)."""
    return (parse_aws_arn(arn) or {"resource": arn})["resource"]


def context_of(triggers: dict | None, memory_points: list | None = None, duration_points: list | None = None,
               api_integration_timeout_s: float = REST_API_INTEGRATION_TIMEOUT_S,
               trend_horizon_days: float = 7.0, trend_min_r_squared: float = 0.8,
               window_days: float | None = None) -> Context | None:
    """The Context of a function from its `triggers` (triggers.read_triggers) and its daily max memory used
    [(day, MB)]; None when it has neither a trigger nor points, so that it is planned as before."""
    triggers = triggers or {}
    ceilings, queues, streams = [], [], []
    for source in triggers.get("event_sources") or []:
        if source.get("state") in ("Disabled", "Disabling", "Deleting"):
            continue
        if source["type"] == "sqs" and source.get("visibility_timeout") is not None:
            name = queue_name(source["arn"])
            queues.append((name, source["visibility_timeout"]))
            ceilings.append(Ceiling(source["visibility_timeout"], SQS,
                                    f"the {source['visibility_timeout']} s visibility timeout of queue {name}",
                                    "messages processed twice"))
        elif source["type"] in ("kinesis", "dynamodb") and iterator_age_rose(source.get("iterator_age_ms")):
            streams.append(stream_name(source["arn"]))
    api_timeout, api_notes = None, []
    if "apigateway.amazonaws.com" in (triggers.get("invokers") or []):
        api_ceilings, api_notes = _api_ceilings(triggers, api_integration_timeout_s)
        ceilings += api_ceilings
        api_timeout = min(ceiling.seconds for ceiling in api_ceilings)
    if not ceilings and not streams and not memory_points and not duration_points:
        return None
    return Context(ceilings=tuple(ceilings), queues=tuple(queues), api_timeout_s=api_timeout,
                   api_notes=tuple(api_notes),
                   streams_behind=tuple(streams), memory_points=tuple(memory_points or ()),
                   duration_points=tuple(duration_points or ()),
                   trend_horizon_days=trend_horizon_days, trend_min_r_squared=trend_min_r_squared,
                   window_days=window_days)
