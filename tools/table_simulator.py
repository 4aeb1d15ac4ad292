"""What a DynamoDB table with a given usage profile consumes, hour by hour, under its billing mode and capacity;
and the AWS/DynamoDB metrics that history would have produced, written into the emulator.

    python -m tools.table_simulator --suffix dev [--days 14] [--seed 0]

The model is pure and seeded: the same table name, profile, end and seed give the same demand whatever the
table's capacity, so two capacities can be compared hour by hour. Profiles are the `table_profiles` of
tools/usage_profiles.yaml; `tables` there says which profile each baseline table (name without suffix) follows.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import boto3
import yaml
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import has_suffix

from tools.emulator import emulator_session, require_local_endpoint
from tools.metric_data import gauge_datum, put_metric_data
from tools.usage_model import HOUR, PROFILES_FILE, _diurnal, default_end

NAMESPACE = "AWS/DynamoDB"
ON_DEMAND = "PAY_PER_REQUEST"
PROVISIONED = "PROVISIONED"
HOUR_SECONDS = 3600


@dataclass(frozen=True)
class TableProfile:
    """Average consumed capacity units a second, and how they vary."""

    name: str
    reads_per_second: float
    writes_per_second: float
    spread: float  # hour-to-hour noise, as the sigma of a lognormal factor with mean 1
    burst_hours_per_day: float
    burst_factor: float


@dataclass(frozen=True)
class TableCapacity:
    billing_mode: str
    read_capacity: int | None = None
    write_capacity: int | None = None


@dataclass(frozen=True)
class TableHour:
    start: datetime
    read_units: float  # consumed in the hour; a throttled request consumes nothing
    write_units: float
    read_throttle_events: int
    write_throttle_events: int
    burst: bool


@dataclass(frozen=True)
class SimulatedTableUsage:
    table_name: str
    profile: TableProfile
    capacity: TableCapacity
    hours: tuple[TableHour, ...]

    @property
    def read_throttle_events(self) -> int:
        return sum(hour.read_throttle_events for hour in self.hours)

    @property
    def write_throttle_events(self) -> int:
        return sum(hour.write_throttle_events for hour in self.hours)

    @property
    def throttle_events(self) -> int:
        return self.read_throttle_events + self.write_throttle_events

    def average(self, side: str) -> float:
        """Consumed units a second over the window."""
        return sum(getattr(hour, f"{side}_units") for hour in self.hours) / (len(self.hours) * HOUR_SECONDS)

    def peak(self, side: str) -> float:
        """The busiest hour's consumed units a second."""
        return max(getattr(hour, f"{side}_units") for hour in self.hours) / HOUR_SECONDS


def load_table_profiles(path: Path = PROFILES_FILE) -> tuple[dict[str, TableProfile], dict[str, str]]:
    """The table profiles by name, and which profile each baseline table (name without suffix) follows."""
    document = yaml.safe_load(path.read_text())
    profiles = {name: TableProfile(name=name, **fields) for name, fields in document["table_profiles"].items()}
    unknown = set(document["tables"].values()) - set(profiles)
    if unknown:
        raise ValueError(f"{path.name} assigns unknown table profiles: {', '.join(sorted(unknown))}")
    return profiles, dict(document["tables"])


def _served(demand_units: float, capacity: int | None) -> tuple[float, int]:
    """(units consumed, throttle events) of an hour's demand: above the provisioned capacity x 3600 the excess is
    throttled, one event per unit turned away. Without capacity (on demand) nothing is."""
    if capacity is None or demand_units <= capacity * HOUR_SECONDS:
        return demand_units, 0
    return float(capacity * HOUR_SECONDS), math.ceil(demand_units - capacity * HOUR_SECONDS)


def simulate_table(table_name: str, profile: TableProfile, capacity: TableCapacity, end: datetime,
                   days: int = 14, seed: int = 0) -> SimulatedTableUsage:
    """The hourly consumption of `days` days before `end` (rounded down to the hour). A profile with bursts has at
    least one burst hour in the window, so its spikiness always shows."""
    rng = random.Random(f"{table_name}/{profile.name}/{seed}")
    end = end.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    count = days * 24
    draws = []
    for index in range(count):
        burst = rng.random() < profile.burst_hours_per_day / 24
        noise = [rng.lognormvariate(-profile.spread ** 2 / 2, profile.spread) for _ in range(2)]
        draws.append((end - count * HOUR + index * HOUR, burst, noise))
    if profile.burst_hours_per_day > 0 and not any(burst for _, burst, _ in draws):
        forced = rng.randrange(count)
        draws[forced] = (draws[forced][0], True, draws[forced][2])

    provisioned = capacity.billing_mode == PROVISIONED
    hours = []
    for start, burst, (read_noise, write_noise) in draws:
        scale = _diurnal(start.hour) * (profile.burst_factor if burst else 1) * HOUR_SECONDS
        reads, read_throttles = _served(profile.reads_per_second * scale * read_noise,
                                        capacity.read_capacity if provisioned else None)
        writes, write_throttles = _served(profile.writes_per_second * scale * write_noise,
                                          capacity.write_capacity if provisioned else None)
        hours.append(TableHour(start, round(reads, 1), round(writes, 1), read_throttles, write_throttles, burst))
    return SimulatedTableUsage(table_name, profile, capacity, tuple(hours))


def _consumed_datum(name: str, dimensions: list[dict], timestamp: datetime, units: float) -> dict:
    """Consumed capacity as DynamoDB reports it: the units of the period, one sample per request (a request of a
    small item consumes one unit)."""
    requests = max(1, round(units))
    return {"MetricName": name, "Dimensions": dimensions, "Timestamp": timestamp, "Unit": "Count",
            "StatisticValues": {"SampleCount": requests, "Sum": units, "Minimum": units / requests,
                                "Maximum": units / requests}}


def table_metric_data(usage: SimulatedTableUsage) -> list[dict]:
    """The AWS/DynamoDB metrics of the history. Like DynamoDB, nothing for a side in an hour without use, throttle
    events only when there were some, provisioned capacity only for a provisioned table."""
    dimensions = [{"Name": "TableName", "Value": usage.table_name}]
    capacity = usage.capacity
    data = []
    for hour in usage.hours:
        for side, metric in (("read", "Read"), ("write", "Write")):
            units = getattr(hour, f"{side}_units")
            if units > 0:
                data.append(_consumed_datum(f"Consumed{metric}CapacityUnits", dimensions, hour.start, units))
            events = getattr(hour, f"{side}_throttle_events")
            if events:
                data.append(gauge_datum(f"{metric}ThrottleEvents", dimensions, hour.start, events))
            if capacity.billing_mode == PROVISIONED:
                data.append(gauge_datum(f"Provisioned{metric}CapacityUnits", dimensions, hour.start,
                                         getattr(capacity, f"{side}_capacity")))
    return data


def current_capacity(dynamodb, table_name: str) -> TableCapacity:
    table = dynamodb.describe_table(TableName=table_name)["Table"]
    mode = (table.get("BillingModeSummary") or {}).get("BillingMode") or PROVISIONED
    if mode == ON_DEMAND:
        return TableCapacity(ON_DEMAND)
    throughput = table["ProvisionedThroughput"]
    return TableCapacity(PROVISIONED, throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"])


def write_table_usage(session: boto3.Session, table_name: str, profile: TableProfile | str, days: int = 14,
                      seed: int = 0, end: datetime | None = None) -> SimulatedTableUsage:
    """Simulate `table_name` under the billing mode and capacity it has in the emulator now, and put the metrics of
    that history, hourly and ending at tools.usage_model.default_end() unless `end` is given."""
    if isinstance(profile, str):
        profile = load_table_profiles()[0][profile]
    usage = simulate_table(table_name, profile, current_capacity(session.client("dynamodb"), table_name),
                           end or default_end(), days, seed)
    put_metric_data(session.client("cloudwatch"), NAMESPACE, table_metric_data(usage))
    return usage


def simulate_tables(session: boto3.Session, suffix: str, days: int = 14, seed: int = 0,
                    end: datetime | None = None) -> dict[str, SimulatedTableUsage]:
    """Write the history of every table `*-{suffix}` that tools/usage_profiles.yaml assigns a profile."""
    profiles, assigned = load_table_profiles()
    names = [name for page in session.client("dynamodb").get_paginator("list_tables").paginate()
             for name in page["TableNames"] if has_suffix(name, suffix)]
    end = end or default_end()
    return {name: write_table_usage(session, name, profiles[assigned[name.removesuffix(f"-{suffix}")]], days, seed,
                                    end)
            for name in sorted(names) if name.removesuffix(f"-{suffix}") in assigned}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.table_simulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--suffix", required=True)
    parser.add_argument("--days", type=int, default=14, help="length of the history (default 14)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    results = simulate_tables(emulator_session(require_local_endpoint(), args.region), args.suffix, args.days,
                              args.seed)
    if not results:
        print(f"no table ending in '-{args.suffix}' has a profile; nothing simulated")
        return 1
    for name, usage in results.items():
        print(f"{name:<28} {usage.profile.name:<8} read {usage.average('read'):.2f}/s (peak {usage.peak('read'):.2f}) "
              f"write {usage.average('write'):.2f}/s (peak {usage.peak('write'):.2f}) "
              f"throttle events {usage.throttle_events}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
