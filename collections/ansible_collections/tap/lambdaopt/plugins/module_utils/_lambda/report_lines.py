# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Memory and duration statistics from the REPORT lines Lambda writes for every invocation.

AWS/Lambda has no memory metric; REPORT lines are where Max Memory Used is recorded. Two ways to
read them: CloudWatch Logs Insights (server-side statistics) and, where Insights cannot answer,
the log events themselves, parsed here. Both produce a ReportStats.

A function whose LoggingConfig sets `LogFormat: JSON` writes no REPORT line: the platform writes one JSON
`platform.report` record per invocation instead (Lambda developer guide, "Configuring JSON and plain text log
formats"; Telemetry API schema reference: `record.metrics` `durationMs`, `billedDurationMs`, `memorySizeMB`,
`maxMemoryUsedMB`, `initDurationMs` after a cold start, and `record.status`). Both formats are read here, and both
are keyed by log source (log_groups.source_key), so a group shared by several functions yields one figure each.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.log_groups import source_key
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.scaling import SizeSample

REPORT_PATTERN = re.compile(
    r"^REPORT RequestId:\s*(?P<request_id>\S+)"
    r".*?\tDuration:\s*(?P<duration>[\d.]+)\s*ms"
    r".*?\tBilled Duration:\s*(?P<billed>\d+)\s*ms"
    r".*?\tMemory Size:\s*(?P<memory_size>\d+)\s*MB"
    r".*?\tMax Memory Used:\s*(?P<max_memory>\d+)\s*MB"
    r"(?:.*?\tInit Duration:\s*(?P<init>[\d.]+)\s*ms)?"
    r"(?:.*?\tStatus:\s*(?P<status>\w+))?",
    re.DOTALL,
)

# Logs Insights reports @maxMemoryUsed and @memorySize in bytes, as MB x 1,000,000.
INSIGHTS_BYTES_PER_MB = 1_000_000
# The day a row of the query's statistics is for: the field is named after the expression, its value the day's start
# as Insights writes timestamps ("2026-11-30 00:00:00.000", UTC).
INSIGHTS_DAY = "bin(1d)"
# GetQueryResults answers at most 10,000 rows (StartQuery's `limit`, 10,000 by default): a batch whose answer fills
# them may have lost some, and is read from the log events instead.
INSIGHTS_MAX_ROWS = 10_000
DAY_SECONDS = 86400

# Text REPORT lines: Insights discovers @type, @maxMemoryUsed, @memorySize (bytes), @duration, @billedDuration and
# @initDuration. JSON platform.report records: it discovers their JSON fields, `type` and `record.metrics.*`
# (memory in MB, scaled here to the bytes of the text fields). The function a line belongs to is in its stream's
# name when the group is not the function's own (log_groups), so statistics are per group and stream owner, per
# day (`bin(1d)`, CloudWatch Logs user guide, "stats": bin rounds @timestamp down to the day) and per memory size:
# the day's rows give the daily max memory used that a trend is fitted to, the sizes' rows the durations at each CPU
# share that scaling is fitted to, and all combine into the window's figures (stats_from_insights).
INSIGHTS_QUERY = " | ".join([
    'filter @type = "REPORT" or type = "platform.report"',
    r"parse @logStream /^\d{4}\/\d{2}\/\d{2}\/(?<owner>[^\[\/]*)\[/",
    "fields record.metrics.maxMemoryUsedMB * 1000000 as json_used_bytes,"
    " record.metrics.memorySizeMB * 1000000 as json_size_bytes",
    "fields coalesce(@maxMemoryUsed, json_used_bytes) as used_bytes,"
    " coalesce(@memorySize, json_size_bytes) as size_bytes,"
    " coalesce(@duration, record.metrics.durationMs) as duration_ms,"
    " coalesce(@billedDuration, record.metrics.billedDurationMs) as billed_ms,"
    " coalesce(@initDuration, record.metrics.initDurationMs) as init_ms",
    "stats count(*) as report_lines,"
    " max(used_bytes) as max_memory, pct(used_bytes, 99) as p99_memory,"
    " avg(duration_ms) as avg_duration, stddev(duration_ms) as stddev_duration, max(duration_ms) as max_duration,"
    " pct(duration_ms, 99) as p99_duration, pct(duration_ms, 99.9) as p999_duration,"
    " avg(billed_ms) as avg_billed,"
    " count(init_ms) as cold_starts, avg(init_ms) as avg_init, max(init_ms) as max_init,"
    " max(size_bytes) as memory_size"
    f" by @log, owner, {INSIGHTS_DAY}, size_bytes",
])
# FilterLogEvents terms: either format's report (`?` matches events with any of the terms).
FILTER_PATTERN = '?REPORT ?"platform.report"'


@dataclass(frozen=True)
class ReportLine:
    duration_ms: float
    billed_duration_ms: int
    memory_size_mb: int
    max_memory_used_mb: int
    init_duration_ms: float | None
    status: str | None


@dataclass(frozen=True)
class ReportStats:
    report_lines: int
    max_memory_used_mb: float | None
    p99_memory_used_mb: float | None
    avg_duration_ms: float | None
    max_duration_ms: float | None
    p99_duration_ms: float | None
    p999_duration_ms: float | None
    avg_billed_duration_ms: float | None
    cold_starts: int
    avg_init_duration_ms: float | None
    max_init_duration_ms: float | None
    # The largest memory size the lines were written at: durations were observed with (at most)
    # that CPU share.
    memory_size_mb: int | None
    source: str
    # Read from the log events: at most this many report events per group were read, and whether the bound cut
    # the reading short (then the figures are those of the window's first `sample_limit` events).
    sample_limit: int | None = None
    sampled: bool = False
    # Why the lines were read from the log events rather than through Logs Insights, if Insights was asked.
    insights_fallback: str | None = None
    # ((days since the window's start, max memory used that day in MB), ...), from the log events or Logs Insights'
    # daily rows: what a trend in memory use is fitted to.
    daily_max_memory_mb: tuple = ()
    # (SizeSample, ...): the durations at each memory size the lines were written at, from which
    # scaling.fit_sizes learns how the code scales with its CPU share.
    durations_by_memory_size: tuple = ()

    def as_dict(self) -> dict:
        return {
            "report_lines": self.report_lines,
            "max_memory_used_mb": {"max": self.max_memory_used_mb, "p99": self.p99_memory_used_mb},
            "duration_ms": {
                "avg": self.avg_duration_ms,
                "max": self.max_duration_ms,
                "p99": self.p99_duration_ms,
                "p999": self.p999_duration_ms,
            },
            "avg_billed_duration_ms": self.avg_billed_duration_ms,
            "init_duration_ms": {
                "cold_starts": self.cold_starts,
                "avg": self.avg_init_duration_ms,
                "max": self.max_init_duration_ms,
            },
            "memory_size_mb": self.memory_size_mb,
            "source": self.source,
            "sample_limit": self.sample_limit,
            "sampled": self.sampled,
            "insights_fallback": self.insights_fallback,
        }


def parse_report_line(message: str) -> ReportLine | None:
    """The figures of one REPORT line, or None for any other log line."""
    match = REPORT_PATTERN.match(message)
    if not match:
        return None
    init = match.group("init")
    return ReportLine(
        duration_ms=float(match.group("duration")),
        billed_duration_ms=int(match.group("billed")),
        memory_size_mb=int(match.group("memory_size")),
        max_memory_used_mb=int(match.group("max_memory")),
        init_duration_ms=float(init) if init is not None else None,
        status=match.group("status"),
    )


def parse_platform_report(message: str) -> ReportLine | None:
    """The figures of one JSON `platform.report` record, or None for any other log event."""
    if not message.startswith("{") or "platform.report" not in message:
        return None
    try:
        document = json.loads(message)
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("type") != "platform.report":
        return None
    record = document.get("record") or {}
    metrics = record.get("metrics") or {}
    try:
        init = metrics.get("initDurationMs")
        return ReportLine(
            duration_ms=float(metrics["durationMs"]),
            billed_duration_ms=int(metrics["billedDurationMs"]),
            memory_size_mb=int(metrics["memorySizeMB"]),
            max_memory_used_mb=int(metrics["maxMemoryUsedMB"]),
            init_duration_ms=float(init) if init is not None else None,
            status=record.get("status"),
        )
    except (KeyError, TypeError, ValueError):
        return None


def parse_report(message: str) -> ReportLine | None:
    """The figures of an invocation's report in either log format (a REPORT line or a platform.report record)."""
    return parse_report_line(message) or parse_platform_report(message)


def percentile(sorted_values: list, share: float) -> float | None:
    """The nearest-rank percentile (share in 0-100) of already sorted values."""
    if not sorted_values:
        return None
    # Rounded first, so 99.9 % of 1,000 is rank 999 and not 1,000 through float error.
    rank = max(1, math.ceil(round(share * len(sorted_values) / 100, 9)))
    return sorted_values[rank - 1]


def stats_from_lines(lines: list, source: str = "REPORT lines (log events)") -> ReportStats:
    """Statistics over parsed REPORT lines, computed exactly."""
    durations = sorted(line.duration_ms for line in lines)
    memory = sorted(line.max_memory_used_mb for line in lines)
    inits = [line.init_duration_ms for line in lines if line.init_duration_ms is not None]
    count = len(lines)
    return ReportStats(
        report_lines=count,
        max_memory_used_mb=memory[-1] if memory else None,
        p99_memory_used_mb=percentile(memory, 99),
        avg_duration_ms=round(sum(durations) / count, 2) if count else None,
        max_duration_ms=durations[-1] if durations else None,
        p99_duration_ms=percentile(durations, 99),
        p999_duration_ms=percentile(durations, 99.9),
        avg_billed_duration_ms=round(sum(line.billed_duration_ms for line in lines) / count, 2) if count else None,
        cold_starts=len(inits),
        avg_init_duration_ms=round(sum(inits) / len(inits), 2) if inits else None,
        max_init_duration_ms=max(inits) if inits else None,
        memory_size_mb=max(line.memory_size_mb for line in lines) if lines else None,
        source=source,
        durations_by_memory_size=_durations_by_size(lines),
    )


def _durations_by_size(lines: list) -> tuple:
    by_size: dict = {}
    for line in lines:
        by_size.setdefault(line.memory_size_mb, []).append(line.duration_ms)
    samples = []
    for size, durations in sorted(by_size.items()):
        mean = sum(durations) / len(durations)
        spread = math.sqrt(sum((duration - mean) ** 2 for duration in durations) / len(durations))
        durations.sort()
        samples.append(SizeSample(size, len(durations), round(mean, 2), round(spread, 2), durations[-1],
                                  percentile(durations, 99.9)))
    return tuple(samples)


def _number(fields: dict, name: str, scale: float = 1.0) -> float | None:
    value = fields.get(name)
    if value in (None, ""):
        return None
    return round(float(value) / scale, 2)


def _insights_day(value: str, start: datetime | None) -> float | None:
    """Days from the window's `start` to the start of the day a row is for (0 for the window's first, partial
    day), or None for a row without a day."""
    if not value or start is None:
        return None
    day = datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return round(max(0.0, (day - start).total_seconds() / DAY_SECONDS), 3)


def _weighted_mean(pairs: list) -> float | None:
    """The mean over all lines of per-day means, each weighted by its day's count."""
    counted = [(mean, count) for mean, count in pairs if mean is not None and count]
    total = sum(count for _mean, count in counted)
    return round(sum(mean * count for mean, count in counted) / total, 2) if total else None


def _largest(values) -> float | None:
    present = [value for value in values if value is not None]
    return max(present) if present else None


def stats_from_insights(rows: list, start: datetime | None = None) -> dict:
    """{log source: ReportStats} from the result rows of INSIGHTS_QUERY: the group's name for the lines of its
    own function, `<group>[<function>]` for another function's (log_groups.source_key).

    Each row holds one day of one source; the days combine exactly into the window's counts, maxima and means (each
    mean weighted by its day's count). A percentile cannot be combined exactly: the window's is taken as the largest
    of the days' percentiles, which is never below it (at most 1 % of each day's values lie above that day's p99, so
    at most 1 % of the window's lie above the largest) - on the safe side for sizing. A source's days (measured from
    `start`, the window's start) and their max memory used are its `daily_max_memory_mb`.

    Raises ValueError when the rows are not the statistics asked for (an endpoint that ignores the query's stats
    command) or fill GetQueryResults' 10,000 rows, so the caller can read the log events instead.
    """
    if len(rows) >= INSIGHTS_MAX_ROWS:
        raise ValueError(f"Logs Insights answered {len(rows)} rows, as many as it returns: some may be missing")
    days_by_source: dict = {}
    for row in rows:
        fields = {cell["field"]: cell.get("value") for cell in row}
        if "@log" not in fields or "report_lines" not in fields:
            raise ValueError("Logs Insights answered without the requested statistics")
        # @log is "<account id>:<log group name>"; owner is empty in a default group's streams.
        source = source_key(fields["@log"].split(":", 1)[-1], fields.get("owner") or None)
        days_by_source.setdefault(source, []).append(fields)
    return {source: _combined_days(days, start) for source, days in days_by_source.items()}


def _combined_days(days: list, start: datetime | None) -> ReportStats:
    counts = [int(float(day["report_lines"])) for day in days]
    cold = [int(float(day.get("cold_starts") or 0)) for day in days]
    memory_size = _largest(_number(day, "memory_size", INSIGHTS_BYTES_PER_MB) for day in days)
    daily: dict = {}  # {day: max memory used}, over the day's rows of every memory size
    for day in days:
        when, used = _insights_day(day.get(INSIGHTS_DAY), start), _number(day, "max_memory", INSIGHTS_BYTES_PER_MB)
        if when is not None and used is not None:
            daily[when] = max(daily.get(when, used), used)
    return ReportStats(
        report_lines=sum(counts),
        max_memory_used_mb=_largest(_number(day, "max_memory", INSIGHTS_BYTES_PER_MB) for day in days),
        p99_memory_used_mb=_largest(_number(day, "p99_memory", INSIGHTS_BYTES_PER_MB) for day in days),
        avg_duration_ms=_weighted_mean([(_number(day, "avg_duration"), count)
                                        for day, count in zip(days, counts, strict=True)]),
        max_duration_ms=_largest(_number(day, "max_duration") for day in days),
        p99_duration_ms=_largest(_number(day, "p99_duration") for day in days),
        p999_duration_ms=_largest(_number(day, "p999_duration") for day in days),
        avg_billed_duration_ms=_weighted_mean([(_number(day, "avg_billed"), count)
                                               for day, count in zip(days, counts, strict=True)]),
        cold_starts=sum(cold),
        avg_init_duration_ms=_weighted_mean([(_number(day, "avg_init"), count)
                                             for day, count in zip(days, cold, strict=True)]),
        max_init_duration_ms=_largest(_number(day, "max_init") for day in days),
        memory_size_mb=int(memory_size or 0) or None,
        source="REPORT lines (Logs Insights)",
        daily_max_memory_mb=tuple(sorted(daily.items())),
        durations_by_memory_size=_combined_sizes(days, counts),
    )


def _combined_sizes(days: list, counts: list) -> tuple:
    """One SizeSample per memory size from its days' rows: their counts add up, their means weigh by count, and
    their spreads pool (the window's variance is the count-weighted mean square less the square of the mean)."""
    by_size: dict = {}
    for day, count in zip(days, counts, strict=True):
        size, mean = _number(day, "memory_size", INSIGHTS_BYTES_PER_MB), _number(day, "avg_duration")
        if size and mean is not None and count:
            spread = _number(day, "stddev_duration") or 0.0
            by_size.setdefault(int(size), []).append((count, mean, spread, day))
    samples = []
    for size, rows in sorted(by_size.items()):
        total = sum(row[0] for row in rows)
        mean = sum(count * mean for count, mean, _spread, _day in rows) / total
        square = sum(count * (spread ** 2 + mean_of_day ** 2) for count, mean_of_day, spread, _day in rows) / total
        samples.append(SizeSample(size, total, round(mean, 2), round(math.sqrt(max(0.0, square - mean ** 2)), 2),
                                  _largest(_number(row[3], "max_duration") for row in rows),
                                  # the largest day's percentile, never below the window's (as stats_from_insights)
                                  _largest(_number(row[3], "p999_duration") for row in rows)))
    return tuple(samples)


def no_report_lines(source: str) -> ReportStats:
    return stats_from_lines([], source=source)
