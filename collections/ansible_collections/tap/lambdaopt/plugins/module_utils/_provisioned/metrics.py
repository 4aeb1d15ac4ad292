# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How much of their provisioned concurrency a fleet's aliases used: Lambda's per-alias metrics over the
lookback window, every alias of the fleet in batched GetMetricData calls."""

from __future__ import annotations

from datetime import datetime

from ansible_collections.tap.lambdaopt.plugins.module_utils.metric_data import (
    DAY_SECONDS,
    combine,
    metric_query,
    run_metric_queries,
)

# (result key, metric, statistic) per alias; Lambda publishes them with dimensions FunctionName and Resource.
ALIAS_METRICS = (
    ("invocations", "Invocations", "Sum"),
    ("spillover_invocations", "ProvisionedConcurrencySpilloverInvocations", "Sum"),
    ("peak_provisioned_executions", "ProvisionedConcurrentExecutions", "Maximum"),
    ("max_utilization", "ProvisionedConcurrencyUtilization", "Maximum"),
    ("peak_concurrency", "ConcurrentExecutions", "Maximum"),
    ("duration_sum_ms", "Duration", "Sum"),
)
SOURCE = "AWS/Lambda metrics of the alias (GetMetricData)"


def fetch_alias_metrics(cloudwatch, aliases: list, start: datetime, end: datetime) -> dict:
    """{(function name, qualifier): {key: value or None, "unknown": {key: why}}} for every (function name,
    qualifier) in `aliases`; a metric GetMetricData could not answer (InternalError, Forbidden) is None and listed
    under "unknown" with the reason."""
    queries, keys = [], {}
    for index, (function_name, qualifier) in enumerate(aliases):
        dimensions = [{"Name": "FunctionName", "Value": function_name},
                      {"Name": "Resource", "Value": f"{function_name}:{qualifier}"}]
        for position, (key, metric, statistic) in enumerate(ALIAS_METRICS):
            query_id = f"a{index}m{position}"
            queries.append(metric_query(query_id, "AWS/Lambda", metric, dimensions, statistic, DAY_SECONDS))
            keys[query_id] = ((function_name, qualifier), key, statistic)
    answers = run_metric_queries(cloudwatch, queries, start, end)
    figures: dict = {alias: {"unknown": {}} for alias in aliases}
    for query_id, (alias, key, statistic) in keys.items():
        figures[alias][key] = combine(statistic, answers.points.get(query_id, []))
        if query_id in answers.unknown:
            figures[alias]["unknown"][key] = answers.unknown[query_id]
    return figures


def usage_of(figures: dict, window: dict) -> dict:
    """An alias's usage as the module returns it: whole counts, and None where no data point exists. A count is 0
    without data points, but None, and listed under `unknown_metrics`, where GetMetricData could not answer."""
    unknown = figures.get("unknown") or {}

    def whole(key):
        return None if figures.get(key) is None else int(round(figures[key]))

    def count(key):
        return None if key in unknown else whole(key) or 0

    invocations = count("invocations")
    duration = figures.get("duration_sum_ms")
    return {
        "window": window,
        "invocations": invocations,
        "spillover_invocations": count("spillover_invocations"),
        "peak_provisioned_executions": whole("peak_provisioned_executions"),
        "max_utilization": figures.get("max_utilization"),
        "peak_concurrency": whole("peak_concurrency"),
        "avg_duration_ms": round(duration / invocations, 2) if duration is not None and invocations else None,
        "source": SOURCE,
        "unknown_metrics": dict(sorted(unknown.items())),
    }
