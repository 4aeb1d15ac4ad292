# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Power tuning decided on plain data: which memory sizes to measure, where a function's test payload comes from,
what the invocations at one size cost and how long they took, and the best size for each strategy. No AWS here
(power_tuning_api.py makes the calls)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.report_lines import ReportLine

# Lambda's memory range (AWS_FACTS: 128-10,240 MB in 1 MB steps).
MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 10240
# Where the ladder's steps change what a function gets: 1,769 MB is one full vCPU; 3,008 MB the old maximum that
# many functions were given by default.
DEFAULT_MEMORY_SIZES = (128, 256, 512, 1024, 1536, 2048, 3008)
PAYLOAD_TAG = "lambdaopt:test-payload"
# Invoke's limit on a synchronous request's payload (Lambda API reference, Invoke).
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# Every temporary version's description begins so: a run killed before it could delete its versions leaves them
# recognisable, and the next run deletes them.
VERSION_DESCRIPTION = "lambdaopt power tuning"
STRATEGIES = ("cost", "speed", "balanced")
MILLION = 1_000_000
# A point of the curve.
MEASURED = "measured"
FAILED = "failed"
SKIPPED = "skipped"


class PayloadError(ValueError):
    """A test payload that cannot be sent: not JSON, or over Invoke's limit."""


@dataclass(frozen=True)
class PayloadSource:
    """Where a function's test payload comes from: the task (`task`), an SSM parameter (`ssm`, its name in
    `location`) or an S3 object (`s3`, `location` the bucket and `key` the key)."""

    kind: str
    location: str | None = None
    key: str | None = None

    def describe(self) -> str:
        if self.kind == "ssm":
            return f"ssm:{self.location}"
        if self.kind == "s3":
            return f"s3://{self.location}/{self.key}"
        return "task option payloads"


def payload_source(name: str, task_payloads: dict, tags: dict) -> tuple[PayloadSource | None, str | None]:
    """(where the function's test payload comes from, or None with the reason it has none). The task's
    `payloads` come first; then the function's PAYLOAD_TAG, `ssm:<parameter name>` or `s3://<bucket>/<key>`."""
    if name in task_payloads:
        return PayloadSource("task"), None
    tagged = (tags or {}).get(PAYLOAD_TAG)
    if tagged is None:
        return None, (f"no test payload: power tuning invokes the function, so it needs one that is safe to send, "
                      f"from the task's payloads or the function's tag {PAYLOAD_TAG} (ssm:<parameter> or "
                      f"s3://<bucket>/<key>)")
    if tagged.startswith("ssm:") and tagged[len("ssm:"):]:
        return PayloadSource("ssm", tagged[len("ssm:"):]), None
    if tagged.startswith("s3://"):
        bucket, _slash, key = tagged[len("s3://"):].partition("/")
        if bucket and key:
            return PayloadSource("s3", bucket, key), None
    return None, f"its tag {PAYLOAD_TAG} is {tagged!r}, which names neither ssm:<parameter> nor s3://<bucket>/<key>"


def encode_payload(value) -> bytes:
    """The bytes Invoke sends: text is taken as JSON text (a payload read from SSM or S3, or given as a string),
    anything else is written as JSON. Raises PayloadError for text that is not JSON or a payload over the limit."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError as error:
            raise PayloadError(f"the test payload is not JSON ({error})") from None
        encoded = value.encode()
    else:
        encoded = json.dumps(value).encode()
    if len(encoded) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"the test payload has {len(encoded)} bytes, over Invoke's {MAX_PAYLOAD_BYTES}")
    return encoded


def memory_size_errors(sizes: list | None) -> list:
    return [f"memory_sizes must be between {MIN_MEMORY_MB} and {MAX_MEMORY_MB} MB, got {size}"
            for size in sizes or () if not MIN_MEMORY_MB <= size <= MAX_MEMORY_MB]


def candidate_sizes(requested: list | None, current: int) -> list:
    """The sizes to measure, largest first, none above the function's own size: `requested`, or the default ladder
    with the function's own size added as the reference every other size is compared with."""
    cap = min(current, MAX_MEMORY_MB)
    sizes = {size for size in (requested or DEFAULT_MEMORY_SIZES) if MIN_MEMORY_MB <= size <= cap}
    if not requested:
        sizes.add(cap)
    return sorted(sizes, reverse=True)


@dataclass(frozen=True)
class Prices:
    """USD per GB-second of the function's architecture, and per request."""

    gb_second: float
    request: float

    def per_invocation(self, memory_mb: int, billed_ms: float) -> float:
        return billed_ms / 1000 * memory_mb / 1024 * self.gb_second + self.request


@dataclass(frozen=True)
class Outcome:
    """One invocation as its log tail and answer tell it: the REPORT line (None when the tail held none) and
    Invoke's FunctionError, if any."""

    report: ReportLine | None
    function_error: str | None = None

    @property
    def ran_out_of(self) -> str | None:
        """`memory` or `time` when the size, not the code, ended the invocation. The REPORT line says `Status:
        timeout`, or `Status: error` with all the memory used (its Error Type, Runtime.OutOfMemory, is not among the
        fields report_lines reads)."""
        if self.report is None or self.report.status is None:
            return None
        if self.report.status == "timeout":
            return "time"
        return "memory" if self.report.max_memory_used_mb >= self.report.memory_size_mb else None

    @property
    def failed(self) -> bool:
        return self.function_error is not None or self.report is None or self.report.status is not None


def size_point(memory_mb: int, outcomes: list, prices: Prices) -> dict:
    """One point of the curve: the invocations at `memory_mb`, their duration, billed duration, memory used and
    cost. A size is `failed` (never a best) when an invocation ran out of memory or time there, or none succeeded;
    other function errors are counted, and the size stays in the curve."""
    reported = [outcome.report for outcome in outcomes if outcome.report is not None]
    durations = [report.duration_ms for report in reported]
    billed = [report.billed_duration_ms for report in reported]
    point = {
        "memory_size": memory_mb,
        "status": MEASURED,
        "invocations": len(outcomes),
        "failed_invocations": sum(1 for outcome in outcomes if outcome.failed),
        "duration_ms": {"avg": round(sum(durations) / len(durations), 2) if durations else None,
                        "max": max(durations) if durations else None},
        "avg_billed_duration_ms": round(sum(billed) / len(billed), 2) if billed else None,
        "max_memory_used_mb": max((report.max_memory_used_mb for report in reported), default=None),
        "cold_starts": sum(1 for report in reported if report.init_duration_ms is not None),
        "cost_per_million_invocations": (round(prices.per_invocation(memory_mb, sum(billed) / len(billed)) * MILLION,
                                               4) if billed else None),
    }
    ran_out = [outcome.ran_out_of for outcome in outcomes if outcome.ran_out_of]
    if ran_out:
        point.update(status=FAILED, ran_out_of=sorted(set(ran_out)),
                     reason=f"{len(ran_out)} of {len(outcomes)} invocations ran out of "
                            f"{' or '.join(sorted(set(ran_out)))}")
    elif len(outcomes) == point["failed_invocations"]:
        point.update(status=FAILED, reason=f"all {len(outcomes)} invocations failed"
                     + ("" if reported else " without a REPORT line in their log tail"))
    return point


def skipped_point(memory_mb: int, reason: str) -> dict:
    return {"memory_size": memory_mb, "status": SKIPPED, "reason": reason}


def skip_reason(memory_mb: int, measured: list) -> str | None:
    """Why a smaller size need not be invoked, given the points measured so far (larger sizes): below the memory
    the invocations used, or below a size that already ran out of memory or time - it would only fail sooner."""
    for point in measured:
        if point.get("ran_out_of"):
            return f"a larger size, {point['memory_size']} MB, already failed: {point['reason']}"
        used = point.get("max_memory_used_mb")
        if used is not None and point["status"] == MEASURED and used >= memory_mb:
            return f"the invocations used up to {used} MB at {point['memory_size']} MB"
    return None


def best_sizes(curve: list, balanced_weight: float) -> dict:
    """{strategy: memory size or None}: `cost` the cheapest per invocation, `speed` the fastest on average (the
    cheaper of equally fast sizes), `balanced` the lowest weighted mean of cost and duration, each as a multiple
    of the best size's: balanced_weight x cost / cheapest + (1 - balanced_weight) x duration / fastest. Ties go
    to the smaller size. Only sizes where every invocation fit in memory and time count."""
    eligible = [point for point in curve if point["status"] == MEASURED
                and point["cost_per_million_invocations"] is not None and point["duration_ms"]["avg"] is not None]
    if not eligible:
        return dict.fromkeys(STRATEGIES)
    cheapest = min(point["cost_per_million_invocations"] for point in eligible)
    fastest = min(point["duration_ms"]["avg"] for point in eligible)

    def balanced(point: dict) -> float:
        cost = point["cost_per_million_invocations"] / cheapest if cheapest else 1.0
        duration = point["duration_ms"]["avg"] / fastest if fastest else 1.0
        return balanced_weight * cost + (1 - balanced_weight) * duration

    return {
        "cost": min(eligible, key=lambda point: (point["cost_per_million_invocations"],
                                                 point["memory_size"]))["memory_size"],
        "speed": min(eligible, key=lambda point: (point["duration_ms"]["avg"], point["cost_per_million_invocations"],
                                                  point["memory_size"]))["memory_size"],
        "balanced": min(eligible, key=lambda point: (round(balanced(point), 9), point["memory_size"]))["memory_size"],
    }
