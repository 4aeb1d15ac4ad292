# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The price table: read from its data file, checked, and resolved for one region."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml

DEFAULT_TABLE = Path(__file__).resolve().parents[2] / "data" / "prices.yaml"
MILLION = Decimal(1_000_000)

# (section, key) of every price a region must list; the Lambda compute price is per architecture.
REQUIRED = (
    ("lambda", "per_million_requests"),
    ("logs", "ingestion_per_gb"),
    ("logs", "storage_per_gb_month"),
    ("alarms", "standard_per_alarm_metric_month"),
    ("alarms", "high_resolution_per_alarm_metric_month"),
    ("xray", "per_million_traces_recorded"),
    ("secrets_manager", "per_secret_month"),
    ("secrets_manager", "per_10k_api_calls"),
    ("sqs", "per_million_requests"),
)


# Prices only some runs need: a table without them still prices everything else, and the lines that would need
# them are reported as unknown.
OPTIONAL = (
    ("dynamodb", "read_capacity_unit_hour"),
    ("dynamodb", "write_capacity_unit_hour"),
    ("dynamodb", "per_million_read_request_units"),
    ("dynamodb", "per_million_write_request_units"),
)


class PriceTableError(ValueError):
    """The table is unreadable, incomplete, or has no prices for the fleet's region."""


@dataclass(frozen=True)
class Prices:
    """One region's prices, each per single unit (one request, one GB, one alarm metric-month)."""

    region: str
    fleet_region: str
    table: str
    checked: str
    sources: dict
    bytes_per_gb: int
    gb_second: dict
    request: Decimal
    log_ingestion_per_gb: Decimal
    log_storage_per_gb_month: Decimal
    alarm_metric_month: Decimal
    high_resolution_alarm_metric_month: Decimal
    trace_recorded: Decimal
    secret_month: Decimal
    secret_api_call: Decimal
    sqs_request: Decimal
    provisioned_concurrency_gb_second: dict = field(default_factory=dict)
    provisioned_duration_gb_second: dict = field(default_factory=dict)
    dynamodb: dict = field(default_factory=dict)  # per unit-hour and per request unit; empty when not listed

    @property
    def is_fallback(self) -> bool:
        return self.region != self.fleet_region

    def gb_second_for(self, architecture: str) -> Decimal:
        try:
            return self.gb_second[architecture]
        except KeyError:
            raise PriceTableError(f"{self.table} has no Lambda compute price for architecture {architecture!r} "
                                  f"in {self.region}") from None

    def describe(self) -> dict:
        return {
            "region": self.region,
            "fleet_region": self.fleet_region,
            "fallback": self.is_fallback,
            "table": self.table,
            "checked": self.checked,
            "sources": dict(self.sources),
        }


def _amount(value, where: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise PriceTableError(f"{where} must be a number, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise PriceTableError(f"{where} must be a number of 0 or more, got {value!r}")
    return amount


def read_table(path: str | Path) -> dict:
    path = Path(path)
    try:
        table = yaml.safe_load(path.read_text())
    except OSError as error:
        raise PriceTableError(f"cannot read the price table {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise PriceTableError(f"the price table {path} is not valid YAML: {error}") from None
    if not isinstance(table, dict) or not isinstance(table.get("regions"), dict) or not table["regions"]:
        raise PriceTableError(f"the price table {path} has no 'regions' mapping")
    for key in ("checked", "sources"):
        if not table.get(key):
            raise PriceTableError(f"the price table {path} must say where its prices come from and when they "
                                  f"were checked: '{key}' is missing")
    return table


def resolve(table: dict, path: str | Path, fleet_region: str, fallback_region: str | None = None) -> Prices:
    """The prices for `fleet_region`, or for `fallback_region` when the table does not list it."""
    regions = table["regions"]
    region = fleet_region
    if region not in regions:
        if not fallback_region:
            raise PriceTableError(
                f"no checked prices for region {fleet_region} in {path} (it lists {', '.join(sorted(regions))}); "
                "add the region's prices to the table, pass your own table in price_file, or name a region to "
                "fall back to in price_region")
        if fallback_region not in regions:
            raise PriceTableError(f"price_region {fallback_region} is not in {path} either "
                                  f"(it lists {', '.join(sorted(regions))})")
        region = fallback_region
    entry = regions[region]

    def price(section: str, key: str) -> Decimal:
        where = f"{path}: regions.{region}.{section}.{key}"
        try:
            return _amount(entry[section][key], where)
        except (KeyError, TypeError):
            raise PriceTableError(f"{where} is missing") from None

    amounts = {(section, key): price(section, key) for section, key in REQUIRED}
    optional = {(section, key): price(section, key) for section, key in OPTIONAL
                if key in (entry.get(section) or {})}

    def per_architecture(key: str) -> dict:
        listed = (entry.get("lambda") or {}).get(key) or {}
        if not isinstance(listed, dict):
            raise PriceTableError(f"{path}: regions.{region}.lambda.{key} must map architectures to prices")
        return {architecture: _amount(value, f"{path}: regions.{region}.lambda.{key}.{architecture}")
                for architecture, value in listed.items()}

    compute = (entry.get("lambda") or {}).get("gb_second")
    if not isinstance(compute, dict) or not compute:
        raise PriceTableError(f"{path}: regions.{region}.lambda.gb_second must map architectures to prices")
    return Prices(
        region=region,
        fleet_region=fleet_region,
        table=str(path),
        checked=str(table["checked"]),
        sources=table["sources"],
        bytes_per_gb=int(table.get("bytes_per_gb") or 1024 ** 3),
        gb_second={architecture: _amount(value, f"{path}: regions.{region}.lambda.gb_second.{architecture}")
                   for architecture, value in compute.items()},
        request=amounts["lambda", "per_million_requests"] / MILLION,
        log_ingestion_per_gb=amounts["logs", "ingestion_per_gb"],
        log_storage_per_gb_month=amounts["logs", "storage_per_gb_month"],
        alarm_metric_month=amounts["alarms", "standard_per_alarm_metric_month"],
        high_resolution_alarm_metric_month=amounts["alarms", "high_resolution_per_alarm_metric_month"],
        trace_recorded=amounts["xray", "per_million_traces_recorded"] / MILLION,
        secret_month=amounts["secrets_manager", "per_secret_month"],
        secret_api_call=amounts["secrets_manager", "per_10k_api_calls"] / Decimal(10_000),
        sqs_request=amounts["sqs", "per_million_requests"] / MILLION,
        provisioned_concurrency_gb_second=per_architecture("provisioned_concurrency_gb_second"),
        provisioned_duration_gb_second=per_architecture("provisioned_duration_gb_second"),
        dynamodb={
            **{name: optional["dynamodb", name] for name in ("read_capacity_unit_hour", "write_capacity_unit_hour")
               if ("dynamodb", name) in optional},
            **{name.replace("per_million_", ""): optional["dynamodb", name] / MILLION
               for name in ("per_million_read_request_units", "per_million_write_request_units")
               if ("dynamodb", name) in optional},
        },
    )


def load(fleet_region: str, path: str | Path | None = None, fallback_region: str | None = None) -> Prices:
    """The prices for a fleet, from `path` or, by default, the collection's own table."""
    if path:
        return resolve(read_table(path), path, fleet_region, fallback_region)
    return resolve(read_table(DEFAULT_TABLE), "tap.lambdaopt data/prices.yaml", fleet_region, fallback_region)
