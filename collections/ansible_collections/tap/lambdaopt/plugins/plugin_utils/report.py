# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The savings report as data: what it covers, the money, and the stable JSON form written to disk."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from ansible_collections.tap.lambdaopt.plugins.module_utils.common import parse_whole_arn
from ansible_collections.tap.lambdaopt.plugins.plugin_utils import savings

SCHEMA_VERSION = 1
SCHEMA = Path(__file__).resolve().parents[2] / "data" / "savings_report.schema.json"
LABELS = {
    "dry_run": "Projected savings of the plan (dry run: nothing was changed)",
    "applied": "Savings of the changes applied",
}


class FleetMismatch(ValueError):
    """The usage given spans accounts or regions, or contradicts the region the task names."""


def plain(value):
    """The report in JSON types: money stays exact to the cent as a decimal number."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def account_and_region(usage: list, region: str | None) -> tuple[str | None, str]:
    """The one account and region the functions live in, from their ARNs."""
    arns = [entry["function_arn"] for entry in usage if entry.get("function_arn")]
    parsed = {arn: parse_whole_arn(arn) for arn in arns}
    unreadable = sorted(arn for arn, parts in parsed.items() if parts is None)
    if unreadable:
        raise FleetMismatch(f"{', '.join(unreadable)}: not a function ARN")
    found = {(parts["region"], parts["account_id"]) for parts in parsed.values()}
    if len(found) > 1:
        raise FleetMismatch("the usage covers more than one account-region "
                            f"({', '.join(sorted(':'.join(pair) for pair in found))}); report each one separately")
    if found:
        arn_region, account = next(iter(found))
        if region and region != arn_region:
            raise FleetMismatch(f"the functions are in {arn_region}, but region is {region}")
        return account, arn_region
    if not region:
        raise FleetMismatch("no function ARNs to take the region from; set region")
    return None, region


def window_of(usage: list) -> dict | None:
    return next((entry["window"] for entry in usage if entry.get("window")), None)


def assemble(usage: list, run, prices, assumptions: savings.Assumptions, account_id: str | None,
             region: str, now: datetime | None = None) -> dict:
    mode = "dry_run" if run.dry_run else "applied"
    money = savings.build(usage, run, prices, assumptions)
    return plain({
        "schema_version": SCHEMA_VERSION,
        "mode": mode,
        "label": LABELS[mode],
        "generated_at": (now or datetime.now(UTC)).replace(microsecond=0).isoformat(),
        "account_id": account_id,
        "region": region,
        "window": window_of(usage),
        "currency": "USD",
        "scenarios": {
            "io_bound": "duration unchanged at the new memory size",
            "expected": "between the two, as the assumptions state",
            "cpu_bound": "duration scales with the CPU share",
        },
        "prices": prices.describe(),
        "assumptions": assumptions.describe(),
        "tasks": run.tasks,
        "warnings": list(run.warnings),
        **money,
    })


def file_stem(report: dict) -> str:
    """Named by account-region and time, so that hosts of one run never overwrite each other's reports and
    no run overwrites an earlier one; a dry run says so in the name."""
    generated = datetime.fromisoformat(report["generated_at"]).strftime("%Y%m%dT%H%M%SZ")
    parts = ["lambdaopt-savings", report["account_id"] or "unknown-account", report["region"], generated]
    return "-".join(parts + (["dry-run"] if report["mode"] == "dry_run" else []))


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=False) + "\n"
