"""Write realistic usage history for a fleet into the emulator: AWS/Lambda metrics and the
START/END/REPORT lines Lambda writes to each function's log group, or the JSON platform records
(`platform.start`, `platform.runtimeDone`, `platform.report`) of a function whose LoggingConfig
says JSON, in the log group its LoggingConfig names.

    python -m tools.simulator --suffix dev [--days 14] [--seed 0]

Each function follows a profile of tools/usage_profiles.yaml and runs with the configuration it
has in the emulator now, so the history is what that configuration would have produced.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import boto3
import yaml
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import has_suffix

from tools.emulator import emulator_session, require_local_endpoint
from tools.emulator_patches.lambda_invoke import profile_of
from tools.metric_data import gauge_datum, put_metric_data
from tools.table_simulator import simulate_tables
from tools.usage_model import (
    PROFILES_FILE,
    AliasHour,
    FunctionConfig,
    HourlyMetrics,
    Invocation,
    SimulatedUsage,
    UsageProfile,
    alias_hours,
    default_end,
    load_profiles,
    simulate,
)

# CloudWatch Logs limits per request.
LOG_EVENTS_PER_CALL = 10_000
LOG_BYTES_PER_CALL = 1_048_576
LOG_EVENT_OVERHEAD_BYTES = 26


def report_line(invocation: Invocation) -> str:
    """The REPORT line, tab-separated, in the format Lambda writes for managed runtimes."""
    fields = [
        f"REPORT RequestId: {invocation.request_id}",
        f"Duration: {invocation.duration_ms:.2f} ms",
        f"Billed Duration: {invocation.billed_duration_ms} ms",
        f"Memory Size: {invocation.memory_size} MB",
        f"Max Memory Used: {invocation.max_memory_used_mb} MB",
    ]
    if invocation.init_duration_ms is not None:
        fields.append(f"Init Duration: {invocation.init_duration_ms:.2f} ms")
    if invocation.outcome == "timeout":
        fields.append("Status: timeout")
    elif invocation.outcome == "out_of_memory":
        fields += ["Status: error", "Error Type: Runtime.OutOfMemory"]
    return "\t".join(fields) + "\t"


@dataclass(frozen=True)
class LogDestination:
    """Where and how Lambda writes a function's logs (its LoggingConfig).

    Lambda developer guide, "Configuring CloudWatch log groups": a function logs to `/aws/lambda/<function name>`
    unless LoggingConfig.LogGroup names another group, which several functions may share; in such a custom group
    "the log streams Lambda creates include the function name and function version", named
    `YYYY/MM/DD/<function_name>[<function_version>]<execution environment GUID>`, while the default group's streams
    are `YYYY/MM/DD/[<function_version>]<GUID>`.
    """

    function_name: str
    group: str
    log_format: str = "Text"

    @classmethod
    def default(cls, function_name: str) -> LogDestination:
        return cls(function_name, f"/aws/lambda/{function_name}")

    @classmethod
    def of(cls, configuration: dict) -> LogDestination:
        """From a function configuration as GetFunctionConfiguration or ListFunctions return it."""
        logging = configuration.get("LoggingConfig") or {}
        name = configuration["FunctionName"]
        return cls(name, logging.get("LogGroup") or f"/aws/lambda/{name}", logging.get("LogFormat") or "Text")

    def stream(self, day: datetime, environment_id: str) -> str:
        owner = "" if self.group == f"/aws/lambda/{self.function_name}" else self.function_name
        return f"{day:%Y/%m/%d}/{owner}[$LATEST]{environment_id}"


def _event_time(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


# platform.report's `status` per outcome (Lambda Telemetry API schema reference: success, failure, error, timeout).
JSON_STATUS = {"ok": "success", "error": "error", "timeout": "timeout", "out_of_memory": "error"}


def json_records(invocation: Invocation) -> list[str]:
    """The system (and error) records Lambda writes for one invocation in the JSON log format.

    Lambda developer guide, "Configuring JSON and plain text log formats", and the Telemetry API schema reference:
    each record is `{"time", "type", "record"}`; `platform.report`'s record holds `requestId`, `status` (and
    `errorType` on a failure) and `metrics` with `durationMs`, `billedDurationMs`, `memorySizeMB`,
    `maxMemoryUsedMB` and, after a cold start, `initDurationMs`. There is no REPORT text line.
    """
    request, moment = invocation.request_id, _event_time(invocation.start)
    status = JSON_STATUS[invocation.outcome]
    records = [{"time": moment, "type": "platform.start", "record": {"requestId": request, "version": "$LATEST"}}]
    if invocation.outcome == "error":
        records.append({"timestamp": moment, "level": "ERROR", "message": "upstream call failed",
                        "errorType": "RuntimeError", "requestId": request})
    records.append({"time": moment, "type": "platform.runtimeDone",
                    "record": {"requestId": request, "status": status,
                               "metrics": {"durationMs": invocation.duration_ms}}})
    metrics = {"durationMs": invocation.duration_ms, "billedDurationMs": invocation.billed_duration_ms,
               "memorySizeMB": invocation.memory_size, "maxMemoryUsedMB": invocation.max_memory_used_mb}
    if invocation.init_duration_ms is not None:
        metrics["initDurationMs"] = invocation.init_duration_ms
    report = {"requestId": request, "metrics": metrics, "status": status}
    if invocation.outcome == "out_of_memory":
        report["errorType"] = "Runtime.OutOfMemory"
    records.append({"time": moment, "type": "platform.report", "record": report})
    return [json.dumps(record, separators=(",", ":")) for record in records]


def log_messages(invocation: Invocation, log_format: str = "Text") -> list[str]:
    """The log events of one invocation, in the function's log format."""
    if log_format == "JSON":
        return json_records(invocation)
    request = invocation.request_id
    messages = [f"START RequestId: {request} Version: $LATEST"]
    if invocation.outcome == "error":
        messages.append(f"[ERROR]\t{request}\tRuntimeError: upstream call failed")
    elif invocation.outcome == "timeout":
        messages.append(f"{invocation.start:%Y-%m-%dT%H:%M:%S}Z {request} Task timed out after "
                        f"{invocation.duration_ms / 1000:.2f} seconds")
    messages += [f"END RequestId: {request}", report_line(invocation)]
    return messages


def _log_batches(usage: SimulatedUsage, destination: LogDestination) -> Iterator[tuple[str, list[dict]]]:
    """(stream, events) batches within CloudWatch Logs' limits: one stream a day, in time order."""
    by_stream: dict[str, list[dict]] = {}
    for invocation in usage.invocations:
        timestamp = int(invocation.start.timestamp() * 1000)
        digest = hashlib.sha1(f"{usage.function_name}{invocation.start:%Y%m%d}".encode()).hexdigest()[:32]
        stream = destination.stream(invocation.start, digest)
        by_stream.setdefault(stream, []).extend(
            {"timestamp": timestamp, "message": message}
            for message in log_messages(invocation, destination.log_format)
        )
    for stream, events in sorted(by_stream.items()):
        events.sort(key=lambda event: event["timestamp"])
        batch: list[dict] = []
        size = 0
        for event in events:
            event_size = len(event["message"].encode()) + LOG_EVENT_OVERHEAD_BYTES
            if len(batch) == LOG_EVENTS_PER_CALL or size + event_size > LOG_BYTES_PER_CALL:
                yield stream, batch
                batch, size = [], 0
            batch.append(event)
            size += event_size
        if batch:
            yield stream, batch


def _count_datum(name: str, dimensions: list[dict], timestamp: datetime, value: int) -> dict:
    """A count metric for one period, as Lambda reports it: each request counts 1."""
    return {
        "MetricName": name, "Dimensions": dimensions, "Timestamp": timestamp, "Unit": "Count",
        "StatisticValues": {"SampleCount": max(value, 1), "Sum": value, "Minimum": min(value, 1),
                            "Maximum": min(value, 1)},
    }


def _duration_datum(dimensions: list[dict], hour: HourlyMetrics) -> dict:
    return {"MetricName": "Duration", "Dimensions": dimensions, "Timestamp": hour.start, "Unit": "Milliseconds",
            "StatisticValues": {"SampleCount": hour.invocations, "Sum": hour.duration_sum_ms,
                                "Minimum": hour.duration_min_ms, "Maximum": hour.duration_max_ms}}


def _metric_data(usage: SimulatedUsage) -> list[dict]:
    dimensions = [{"Name": "FunctionName", "Value": usage.function_name}]
    data = []
    for hour in usage.hours:
        if not hour.invocations and not hour.throttles:
            continue  # Lambda publishes nothing for an hour without requests.

        data += [
            _count_datum(name, dimensions, hour.start, value)
            for name, value in (("Invocations", hour.invocations), ("Errors", hour.errors),
                                ("Throttles", hour.throttles))
        ]
        if hour.invocations:
            data.append(_duration_datum(dimensions, hour))
        data.append(gauge_datum("ConcurrentExecutions", dimensions, hour.start, hour.peak_concurrency))
    return data


def insights_metric_data(usage: SimulatedUsage) -> list[dict]:
    """What the Lambda Insights extension publishes of a function's CPU time (LambdaInsights cpu_total_time, in ms,
    dimension function_name), one statistic set per hour: the CPU work of each invocation, which the profile's
    `cpu_bound_share` of its full-vCPU duration is whatever the memory."""
    dimensions = [{"Name": "function_name", "Value": usage.function_name}]
    factor = usage.profile.duration_factor(usage.config.memory_size)
    hourly: dict[datetime, list[float]] = {}
    for invocation in usage.invocations:
        hour = invocation.start.replace(minute=0, second=0, microsecond=0)
        hourly.setdefault(hour, []).append(invocation.duration_ms / factor * usage.profile.cpu_bound_share)
    return [{"MetricName": "cpu_total_time", "Dimensions": dimensions, "Timestamp": hour, "Unit": "Milliseconds",
             "StatisticValues": {"SampleCount": len(times), "Sum": round(sum(times), 2), "Minimum": min(times),
                                 "Maximum": max(times)}} for hour, times in sorted(hourly.items())]


def _log_metric_data(usage: SimulatedUsage, destination: LogDestination) -> list[dict]:
    """IncomingBytes per hour, as CloudWatch Logs reports the uncompressed size of what it ingests, per log group
    (a shared group's figure is the sum over the functions that write to it)."""
    hourly: dict[datetime, int] = {}
    for invocation in usage.invocations:
        hour = invocation.start.replace(minute=0, second=0, microsecond=0)
        hourly[hour] = hourly.get(hour, 0) + sum(len(message.encode())
                                                 for message in log_messages(invocation, destination.log_format))
    dimensions = [{"Name": "LogGroupName", "Value": destination.group}]
    return [{"MetricName": "IncomingBytes", "Dimensions": dimensions, "Timestamp": hour, "Unit": "Bytes",
             "Value": size} for hour, size in sorted(hourly.items())]


def alias_metric_data(function_name: str, alias: str, hours: tuple[AliasHour, ...]) -> list[dict]:
    """What Lambda publishes per alias (dimensions FunctionName and Resource `function:alias`)."""
    dimensions = [{"Name": "FunctionName", "Value": function_name},
                  {"Name": "Resource", "Value": f"{function_name}:{alias}"}]
    data = []
    for alias_hour in hours:
        hour = alias_hour.hour
        if not hour.invocations:
            continue
        data += [
            _count_datum("Invocations", dimensions, hour.start, hour.invocations),
            _count_datum("ProvisionedConcurrencyInvocations", dimensions, hour.start,
                         hour.invocations - alias_hour.spillover_invocations),
            _count_datum("ProvisionedConcurrencySpilloverInvocations", dimensions, hour.start,
                         alias_hour.spillover_invocations),
            gauge_datum("ConcurrentExecutions", dimensions, hour.start, hour.peak_concurrency),
            gauge_datum("ProvisionedConcurrentExecutions", dimensions, hour.start,
                        alias_hour.peak_provisioned_executions),
            gauge_datum("ProvisionedConcurrencyUtilization", dimensions, hour.start, alias_hour.max_utilization,
                        "None"),
            _duration_datum(dimensions, hour),
        ]
    return data


def provisioned_aliases(lambda_client, name: str) -> dict[str, int]:
    """{alias: provisioned concurrency} of a function's aliases that have some."""
    configs = lambda_client.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    return {config["FunctionArn"].rsplit(":", 1)[-1]: config["RequestedProvisionedConcurrentExecutions"]
            for config in configs}


def write_alias_usage(session: boto3.Session, usage: SimulatedUsage, alias: str, provisioned: int) -> None:
    """Put the metrics of the alias that serves `usage`'s traffic with `provisioned` concurrency."""
    put_metric_data(session.client("cloudwatch"), "AWS/Lambda",
                     alias_metric_data(usage.function_name, alias, alias_hours(usage, provisioned)))


# PutMetricData takes at most this many distinct values in one datum's Values.
VALUES_PER_DATUM = 150


def bake_invocations(function_name: str, profile: UsageProfile, configs: dict[str, FunctionConfig],
                     weights: dict[str, float], start: datetime, minutes: int, seed: int = 0,
                     traffic_scale: float = 1.0, simulated_hours: int = 24) -> dict[str, tuple[Invocation, ...]]:
    """{version: its invocations} over `minutes` from `start`, for an alias that sends each version its weight of
    the traffic (`weights`, summing to 1), each version running at its own configuration (`configs`).

    The traffic is the usage model's last `minutes` of a simulated day (or of its last `simulated_hours`, fewer to
    simulate at a large scale), moved to start at `start`; each request
    goes to one version by a seeded draw, as Lambda routes a weighted alias (a simple probabilistic model), and does
    the same work whichever version runs it: only memory size and timeout make the versions differ."""
    end = default_end(start)
    runs = {version: simulate(function_name, profile, replace(config, reserved_concurrency=None), end=end,
                              days=simulated_hours / 24, seed=seed, traffic_scale=traffic_scale).invocations
            for version, config in configs.items()}
    cut = end - timedelta(minutes=minutes)
    router = random.Random(f"{function_name}/bake/{seed}")
    order = sorted(weights)
    routed: dict[str, list[Invocation]] = {version: [] for version in configs}
    for index, drafted in enumerate(next(iter(runs.values()))):
        offset = drafted.start - cut
        if offset < timedelta(0):
            continue
        draw, version = router.random(), order[-1]
        for candidate in order:
            draw -= weights[candidate]
            if draw < 0:
                version = candidate
                break
        routed[version].append(replace(runs[version][index], start=start + offset))
    return {version: tuple(invocations) for version, invocations in routed.items()}


def version_metric_data(function_name: str, alias: str, version: str, invocations: tuple[Invocation, ...]) -> list:
    """What Lambda publishes, minute by minute, for the invocations one version of a weighted alias ran (dimensions
    FunctionName, Resource `function:alias` and ExecutedVersion): Invocations, Errors (every failure: an error, a
    timeout, running out of memory), Throttles, and each Duration as a raw value, from which CloudWatch answers
    percentiles."""
    dimensions = [{"Name": "FunctionName", "Value": function_name},
                  {"Name": "Resource", "Value": f"{function_name}:{alias}"},
                  {"Name": "ExecutedVersion", "Value": version}]
    minutes: dict[datetime, list[Invocation]] = {}
    for invocation in invocations:
        minutes.setdefault(invocation.start.replace(second=0, microsecond=0), []).append(invocation)
    data = []
    for minute, ran in sorted(minutes.items()):
        data += [_count_datum("Invocations", dimensions, minute, len(ran)),
                 _count_datum("Errors", dimensions, minute, sum(1 for one in ran if one.outcome != "ok")),
                 _count_datum("Throttles", dimensions, minute, 0)]
        durations: dict[float, int] = {}
        for invocation in ran:
            durations[invocation.duration_ms] = durations.get(invocation.duration_ms, 0) + 1
        values = sorted(durations)
        for offset in range(0, len(values), VALUES_PER_DATUM):
            chunk = values[offset:offset + VALUES_PER_DATUM]
            data.append({"MetricName": "Duration", "Dimensions": dimensions, "Timestamp": minute,
                         "Unit": "Milliseconds", "Values": chunk, "Counts": [durations[value] for value in chunk]})
    return data


def served_versions(lambda_client, function_name: str, alias: str) -> tuple[dict, dict]:
    """({version: weight}, {version: its memory size and timeout}) of the versions an alias serves now."""
    found = lambda_client.get_alias(FunctionName=function_name, Name=alias)
    extra = (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    weights = {found["FunctionVersion"]: 1.0 - sum(extra.values()), **extra}
    configs = {}
    for version in weights:
        configuration = lambda_client.get_function_configuration(FunctionName=function_name, Qualifier=version)
        configs[version] = FunctionConfig(configuration["MemorySize"], configuration["Timeout"])
    return weights, configs


def write_bake_metrics(session: boto3.Session, function_name: str, alias: str, start: datetime, minutes: int,
                       profile: UsageProfile | None = None, seed: int = 0, traffic_scale: float = 1.0,
                       simulated_hours: int = 24) -> dict[str, tuple[Invocation, ...]]:
    """Write the per-version metrics of a bake period: `minutes` from `start` of the alias as it routes now (its
    version and the weight it sends another), each version at its own memory size and timeout, the function
    following `profile` (by default the one tools/usage_profiles.yaml gives its name). Returns each version's
    invocations."""
    profile = profile or profile_of(function_name)
    if profile is None:
        raise ValueError(f"tools/usage_profiles.yaml gives {function_name} no profile; pass one")
    lambda_client = session.client("lambda")
    weights, configs = served_versions(lambda_client, function_name, alias)
    ran = bake_invocations(function_name, profile, configs, weights, start, minutes, seed, traffic_scale,
                           simulated_hours)
    put_metric_data(session.client("cloudwatch"), "AWS/Lambda",
                    [datum for version, invocations in sorted(ran.items())
                     for datum in version_metric_data(function_name, alias, version, invocations)])
    return ran


def write_usage(session: boto3.Session, usage: SimulatedUsage, destination: LogDestination | None = None) -> None:
    """Put one function's simulated history into its metrics and log group (by default as text, in
    `/aws/lambda/<function>`)."""
    logs, cloudwatch = session.client("logs"), session.client("cloudwatch")
    destination = destination or LogDestination.default(usage.function_name)
    group = destination.group
    try:
        logs.create_log_group(logGroupName=group)  # as Lambda does on first run when it is missing
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    streams: set[str] = set()
    for stream, events in _log_batches(usage, destination):
        if stream not in streams:
            try:
                logs.create_log_stream(logGroupName=group, logStreamName=stream)
            except logs.exceptions.ResourceAlreadyExistsException:
                pass  # an earlier history of the same function wrote into the same day's stream
            streams.add(stream)
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    for namespace, data in (("AWS/Lambda", _metric_data(usage)), ("AWS/Logs", _log_metric_data(usage, destination))):
        put_metric_data(cloudwatch, namespace, data)


def write_iterator_age(session: boto3.Session, function_name: str, daily_max_ms: list[float], end: datetime) -> None:
    """A stream consumer's AWS/Lambda IteratorAge: one maximum a day for the days before `end`, oldest first - how
    far behind the newest record it read was (rising: it is falling behind)."""
    dimensions = [{"Name": "FunctionName", "Value": function_name}]
    days = len(daily_max_ms)
    put_metric_data(session.client("cloudwatch"), "AWS/Lambda", [
        gauge_datum("IteratorAge", dimensions, end - timedelta(days=days - index) + timedelta(hours=12), value,
                    unit="Milliseconds")
        for index, value in enumerate(daily_max_ms)])


def stream_consumers(lambda_client, names: list[str]) -> list[str]:
    """The functions among `names` that an event source mapping feeds from a Kinesis or DynamoDB stream."""
    wanted = set(names)
    return sorted({mapping["FunctionArn"].split(":")[6]
                   for page in lambda_client.get_paginator("list_event_source_mappings").paginate()
                   for mapping in page["EventSourceMappings"]
                   if mapping["EventSourceArn"].split(":")[2] in ("kinesis", "dynamodb")
                   and mapping["FunctionArn"].split(":")[6] in wanted})


def iterator_ages(usage: SimulatedUsage, days: int, end: datetime, behind: dict | None) -> list[float]:
    """A stream consumer's daily maximum IteratorAge, oldest first: growing as tools/usage_profiles.yaml says for one
    that falls behind (`behind`), else its longest invocation of each day (a record waits for the batch ahead)."""
    if behind:
        return [behind["iterator_age_ms"] * behind["growth_per_day"] ** day for day in range(days)]
    start = end - timedelta(days=days)
    longest = [0.0] * days
    for invocation in usage.invocations:
        day = int((invocation.start - start).total_seconds() // 86400)
        if 0 <= day < days:
            longest[day] = max(longest[day], invocation.duration_ms)
    return longest


def current_config(lambda_client, name: str) -> FunctionConfig:
    configuration = lambda_client.get_function_configuration(FunctionName=name)
    reserved = lambda_client.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
    return FunctionConfig(configuration["MemorySize"], configuration["Timeout"], reserved)


# CloudWatch Logs refuses events older than this (PutLogEvents).
LOG_EVENT_MAX_AGE_DAYS = 14


def history_end(days: int, now: datetime | None = None) -> datetime:
    """Where a history of `days` days ends by default: the start of the current hour, so that no event lies ahead of
    now and a run an hour later measures the same usage as one now. A history as old as CloudWatch Logs accepts
    must start after now - 14 days, so it ends at the end of the next whole hour instead (default_end), its last
    hour ahead of now."""
    if days >= LOG_EVENT_MAX_AGE_DAYS:
        return default_end(now)
    return default_end(now) - timedelta(hours=1)


def simulate_fleet(session: boto3.Session, suffix: str, days: int = 14, seed: int = 0,
                   end: datetime | None = None, traffic_scale: float = 1.0) -> dict[str, SimulatedUsage]:
    """Simulate and write the history of every function named `*-{suffix}`, and of its tables."""
    profiles, assigned = load_profiles()
    # A leak is a function's own story: only functions assigned one by name get it.
    in_turn = sorted(name for name, profile in profiles.items() if not profile.memory_growth_mb_per_day)
    lambda_ = session.client("lambda")
    destinations = {
        function["FunctionName"]: LogDestination.of(function)
        for page in lambda_.get_paginator("list_functions").paginate()
        for function in page["Functions"]
        if has_suffix(function["FunctionName"], suffix)
    }
    names = sorted(destinations)
    end = end or history_end(days)
    results = {}
    document = yaml.safe_load(PROFILES_FILE.read_text())
    leaks, behind = document.get("leaks") or {}, document.get("stream_consumers") or {}
    insights = set(document.get("lambda_insights") or ())
    for index, name in enumerate(names):
        base_name = name.removesuffix(f"-{suffix}")
        profile = profiles[assigned.get(base_name, in_turn[index % len(in_turn)])]
        if base_name in leaks:
            profile = replace(profile, memory_growth_mb_per_day=float(leaks[base_name]))
        usage = simulate(name, profile, current_config(lambda_, name), end=end, days=days, seed=seed,
                         traffic_scale=traffic_scale)
        write_usage(session, usage, destinations[name])
        if base_name in insights:
            put_metric_data(session.client("cloudwatch"), "LambdaInsights", insights_metric_data(usage))
        # A function with provisioned concurrency takes its traffic through that alias.
        for alias, provisioned in provisioned_aliases(lambda_, name).items():
            write_alias_usage(session, usage, alias, provisioned)
        results[name] = usage
    for name in stream_consumers(lambda_, names):
        write_iterator_age(session, name, iterator_ages(results[name], days, end,
                                                        behind.get(name.removesuffix(f"-{suffix}"))), end)
    simulate_tables(session, suffix, days, seed, end)
    return results


def summary(results: dict[str, SimulatedUsage]) -> str:
    lines = [f"{'function':<28} {'profile':<15} {'invocations':>11} {'errors':>7} {'throttles':>9} "
             f"{'max MB used':>11} {'max ms':>9} {'peak conc':>9}"]
    for name, usage in results.items():
        lines.append(
            f"{name:<28} {usage.profile.name:<15} {len(usage.invocations):>11} {usage.errors:>7} "
            f"{usage.throttles:>9} {max((i.max_memory_used_mb for i in usage.invocations), default=0):>11} "
            f"{max((i.duration_ms for i in usage.invocations), default=0):>9.0f} {usage.peak_concurrency:>9}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.simulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--suffix", required=True)
    parser.add_argument("--days", type=int, default=14, help="length of the history (default 14)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--traffic-scale", type=float, default=1.0, help="multiply every profile's request rate")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    if args.traffic_scale <= 0:
        parser.error("--traffic-scale must be positive")
    session = emulator_session(require_local_endpoint(), args.region)
    results = simulate_fleet(session, args.suffix, args.days, args.seed, traffic_scale=args.traffic_scale)
    if not results:
        print(f"no functions end in '-{args.suffix}'; nothing simulated")
        return 1
    print(f"simulated {args.days} days of usage for {len(results)} functions")
    print(summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
