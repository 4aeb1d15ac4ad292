# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure a discovered fleet's usage (metrics.py, report lines) into the figures modules return, and read them
back as the Evidence each plan decides from."""

from __future__ import annotations

from dataclasses import replace

from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import log_groups, report_lines, scaling
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import metrics as lambda_metrics
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import Evidence
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.scaling import SizeSample
from ansible_collections.tap.lambdaopt.plugins.module_utils.metric_data import DAY_SECONDS, window


def _count(figures: dict, unknown: dict, key: str) -> int | None:
    """A whole count: 0 where GetMetricData answered without data points, None where it could not answer."""
    return None if key in unknown else int(figures.get(key) or 0)


def _metric_source(unknown: dict, key: str, source: str = lambda_metrics.METRIC_SOURCE) -> str:
    return f"unknown: {unknown[key]}" if key in unknown else source


def measure(cloudwatch, logs, functions: list, lookback_days: int, insights: str = "auto",
            logs_requests_per_second: float = 5,
            max_report_events: int = lambda_metrics.DEFAULT_MAX_REPORT_EVENTS) -> dict:
    """Add usage figures, with their sources, to each discovered function (in place).

    A metric GetMetricData could not answer (InternalError, Forbidden) is None and listed under `unknown_metrics`
    with the reason; a metric it answered without data points counts nothing, so no invocations then means 0.
    REPORT lines come from Logs Insights for the log groups that exist, and from at most `max_report_events` log
    events per group where Insights does not answer."""
    names = [function["function_name"] for function in functions]
    start, end = window(lookback_days)
    # The group each function really logs to (its LoggingConfig); a shared group is read once.
    groups = {function["function_name"]: (function.get("configuration") or {}).get("log_group")
              or log_groups.default_group(function["function_name"]) for function in functions}
    sharing: dict = {}
    for name, group in sorted(groups.items()):
        sharing.setdefault(group, []).append(name)
    metrics, metric_calls, unknown = lambda_metrics.fetch_metrics(cloudwatch, names, start, end, log_groups=groups)
    p99 = lambda_metrics.fetch_duration_p99(cloudwatch, names, start, end) if names else {}
    existing = set(log_groups.describe_groups(logs, sorted(sharing))) if sharing else set()
    reports = lambda_metrics.fetch_report_stats(logs, sorted(sharing), start, end, insights=insights,
                                                requests_per_second=logs_requests_per_second, existing=existing,
                                                max_events=max_report_events)
    for function in functions:
        name = function["function_name"]
        figures = metrics[name]
        missing = unknown[name]
        group = groups[name]
        read = reports[group]
        report = (reports.get(log_groups.source_key(group, name))
                  or replace(report_lines.no_report_lines(read.source), sample_limit=read.sample_limit,
                             sampled=read.sampled, insights_fallback=read.insights_fallback))
        # The average needs both the sum and the count of the same data points.
        samples = 0 if {"duration_sum", "duration_samples"} & set(missing) else figures.get("duration_samples") or 0
        p99_from_metrics = p99.get(name) if p99 is not None else None
        function.update({
            "window": {"start": start.isoformat(), "end": end.isoformat(), "days": lookback_days},
            "invocations": _count(figures, missing, "invocations"),
            "errors": _count(figures, missing, "errors"),
            "throttles": _count(figures, missing, "throttles"),
            "unknown_metrics": dict(sorted(missing.items())),
            "duration_ms": {
                "avg": round(figures["duration_sum"] / samples, 2) if samples else report.avg_duration_ms,
                "max": figures.get("duration_max") if figures.get("duration_max") is not None
                else report.max_duration_ms,
                "p99": p99_from_metrics if p99_from_metrics is not None else report.p99_duration_ms,
                "p999": report.p999_duration_ms,
            },
            "max_memory_used_mb": {"max": report.max_memory_used_mb, "p99": report.p99_memory_used_mb},
            # [[days since the window's start, max memory used that day]], from the log events or Logs Insights.
            "daily_max_memory_used_mb": [list(point) for point in report.daily_max_memory_mb],
            # [[whole days since the window's start, max duration that day]], from the AWS/Lambda metrics.
            "daily_max_duration_ms": [[int((stamp - start).total_seconds() // DAY_SECONDS), value]
                                      for stamp, value in figures.get("duration_max_daily") or []],
            # The durations at each memory size the REPORT lines were written at: how the code scales.
            "durations_by_memory_size": [size_figures(sample) for sample in report.durations_by_memory_size],
            # Average CPU time per invocation, where the function runs Lambda Insights: how much of it is CPU work.
            "lambda_insights": _insights_figures(figures, missing),
            "init_duration_ms": {"cold_starts": report.cold_starts, "avg": report.avg_init_duration_ms,
                                 "max": report.max_init_duration_ms},
            "avg_billed_duration_ms": report.avg_billed_duration_ms,
            "log_ingested_bytes": int(figures["log_ingested_bytes"]) if figures.get("log_ingested_bytes") is not None
            else None,
            "log_group": {"name": group, "log_format": (function.get("configuration") or {}).get("log_format")
                          or log_groups.TEXT, "functions": sharing[group]},
            "peak_concurrency": int(figures["peak_concurrency"]) if figures.get("peak_concurrency") is not None
            else None,
            "samples": {"report_lines": report.report_lines, "duration_datapoints": int(samples),
                        "observed_memory_size_mb": report.memory_size_mb,
                        # Read from the log events: at most this many per group, and whether that cut it short.
                        "report_lines_limit": report.sample_limit, "report_lines_sampled": report.sampled},
            "sources": {
                "invocations": _metric_source(missing, "invocations"),
                "errors": _metric_source(missing, "errors"),
                "throttles": _metric_source(missing, "throttles"),
                "duration": lambda_metrics.METRIC_SOURCE if samples else report.source,
                "duration_max": report.source if figures.get("duration_max") is None else lambda_metrics.METRIC_SOURCE,
                "duration_p99": lambda_metrics.METRIC_SOURCE if p99_from_metrics is not None else report.source,
                "memory": report.source,
                "init_duration": report.source,
                "peak_concurrency": _metric_source(missing, "peak_concurrency"),
                "log_ingested_bytes": _metric_source(missing, "log_ingested_bytes", lambda_metrics.LOG_METRIC_SOURCE),
                # Why the REPORT lines were read from the log events although Logs Insights was asked.
                "insights_fallback": report.insights_fallback,
            },
        })
    return {"get_metric_data_calls": metric_calls}


def _insights_figures(figures: dict, missing: dict) -> dict | None:
    samples = figures.get("cpu_time_samples")
    if not samples or {"cpu_time_sum", "cpu_time_samples"} & set(missing) or figures.get("cpu_time_sum") is None:
        return None
    return {"avg_cpu_total_time_ms": round(figures["cpu_time_sum"] / samples, 2), "invocations": int(samples),
            "source": lambda_metrics.INSIGHTS_METRIC_SOURCE}


def size_figures(sample: SizeSample) -> dict:
    return {"memory_size_mb": sample.memory_mb, "invocations": sample.invocations, "avg_ms": sample.mean_ms,
            "stddev_ms": sample.stddev_ms, "max_ms": sample.max_ms, "p999_ms": sample.p999_ms}


def size_samples(function: dict) -> tuple:
    return tuple(SizeSample(figures["memory_size_mb"], figures["invocations"], figures["avg_ms"],
                            figures.get("stddev_ms"), figures.get("max_ms"), figures.get("p999_ms"))
                 for figures in function.get("durations_by_memory_size") or ())


def evidence_of(function: dict, our_memory_changes: list = (), power_tuning: dict | None = None) -> Evidence:
    """What a function's usage entry says for its decisions; `our_memory_changes` ([(before MB, after MB)]) are
    the collection's own earlier memory changes to it (earlier_changes.py), `power_tuning` its lambda_power_tuning
    result."""
    evidence = _measured(function)
    samples = size_samples(function)
    return replace(evidence, durations_by_size=samples,
                   scaling=scaling_of(function, evidence, samples, our_memory_changes, power_tuning))


def scaling_of(function: dict, evidence: Evidence, samples: tuple, our_memory_changes: list = (),
               power_tuning: dict | None = None) -> scaling.Scaling:
    """How the function's durations scale with memory, from the best evidence it has: its real traffic's
    durations at two or more CPU shares (measured after our change when the collection made the move between
    them), else a power tuning curve of its test payload, else Lambda Insights' CPU time over a window at one
    memory size, else the worst case."""
    fitted = scaling.fit_sizes(list(samples), reference_mb=evidence.memory_size_mb)
    sizes = {sample.memory_mb for sample in samples}
    ours = [(before, after) for before, after in our_memory_changes if {before, after} <= sizes]
    if not fitted.is_worst_case and ours:
        before, after = ours[-1]
        return replace(fitted, evidence=scaling.MEASURED_AFTER_CHANGE,
                       detail=f"our change from {before} to {after} MB, then {fitted.detail}")
    insights = function.get("lambda_insights")
    average = (function.get("duration_ms") or {}).get("avg")
    if fitted.is_worst_case and power_tuning and power_tuning.get("curve"):
        tuned = scaling.from_power_tuning(power_tuning["curve"], evidence.memory_size_mb)
        if not tuned.is_worst_case:
            return tuned
    if fitted.is_worst_case and insights and average and len(sizes) <= 1:
        return scaling.from_cpu_time(evidence.memory_size_mb, average, insights["avg_cpu_total_time_ms"],
                                     insights["invocations"])
    return fitted


def _measured(function: dict) -> Evidence:
    return Evidence(
        invocations=function.get("invocations", 0),
        unknown=tuple(sorted((function.get("unknown_metrics") or {}).items())),
        report_lines=function.get("samples", {}).get("report_lines", 0),
        # Durations were measured at the memory size of the window's REPORT lines, which is not the
        # current one once the function has been right-sized.
        memory_size_mb=function.get("samples", {}).get("observed_memory_size_mb")
        or function["configuration"]["memory_size"],
        max_memory_used_mb=function.get("max_memory_used_mb", {}).get("max"),
        max_duration_ms=function.get("duration_ms", {}).get("max"),
        p999_duration_ms=function.get("duration_ms", {}).get("p999"),
        peak_concurrency=function.get("peak_concurrency"),
        report_sample=function.get("samples", {}).get("report_lines")
        if function.get("samples", {}).get("report_lines_sampled") else None,
    )
