"""Benchmark: one module call handles a whole synthetic fleet. Reports wall time and AWS calls per
function for measuring usage, the dry run and the real run, against the local emulator, and the
time the savings report takes for the plan.

    python -m tools.benchmark --functions 1000

Numbers, not pass/fail: the emulator runs in this process and shares its two cores, so real AWS
differs (its latency is higher, its Lambda quota of 15 calls/s binds where the emulator does not).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter

from ansible_collections.tap.lambdaopt.plugins.plugin_utils import prices, report, report_render, savings
from ansible_collections.tap.lambdaopt.plugins.plugin_utils.run_results import read_run

from tools import baseline, simulator
from tools.emulator import Emulator
from tools.module_runner import recorded_api_calls, run_module

SUFFIX = "bench"


def timed(label: str, functions: int, name: str, args: dict, check: bool = False) -> dict:
    with recorded_api_calls() as calls:
        started = time.perf_counter()
        result = run_module(name, args, check=check)
        elapsed = time.perf_counter() - started
    if result.get("failed"):
        raise SystemExit(f"{label} failed: {result.get('msg')}")
    by_operation = Counter(operation for _, operation in calls)
    top = ", ".join(f"{operation} {count}" for operation, count in by_operation.most_common(6))
    print(f"{label:<34} {elapsed:8.1f} s  {len(calls):6d} calls  {len(calls) / functions:5.2f} calls/function"
          f"  ({top})", flush=True)
    return result


def timed_report(functions: int, usage: list, rightsize: dict) -> None:
    """savings_report makes no AWS call: its cost is computing and rendering on the controller."""
    started = time.perf_counter()
    account_id, region = report.account_and_region(usage, None)
    data = report.assemble(usage, read_run(usage, {"rightsize": rightsize}, dry_run=True),
                           prices.load(region), savings.Assumptions(), account_id, region)
    sizes = {kind: len(render(data)) for kind, render in (
        ("json", report.to_json), ("markdown", report_render.markdown), ("html", report_render.html))}
    elapsed = time.perf_counter() - started
    print(f"{'savings_report (dry run)':<34} {elapsed:8.1f} s  {0:6d} calls  for {functions} functions  "
          f"({', '.join(f'{kind} {size / 1e6:.1f} MB' for kind, size in sizes.items())})", flush=True)


def give_aliases(session, names: list) -> None:
    """Put each function behind an alias `live` of a published version with 1 provisioned, as aliased
    functions of a real fleet are; 1 each keeps a large count within the account's concurrency."""
    lambda_ = session.client("lambda")
    for name in names:
        # Pending functions (just created) cannot be published.
        lambda_.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
        version = lambda_.publish_version(FunctionName=name)["Version"]
        lambda_.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
        lambda_.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live",
                                                   ProvisionedConcurrentExecutions=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--functions", type=int, default=1000)
    parser.add_argument("--traffic-scale", type=float, default=0.1,
                        help="simulated traffic per function (default keeps log volume manageable)")
    parser.add_argument("--days", type=int, default=2, help="days of simulated history (the window is 14)")
    parser.add_argument("--logs-requests-per-second", type=float, default=50,
                        help="FilterLogEvents rate; AWS's default quota is lower, the emulator has none")
    parser.add_argument("--aliases", type=int, default=200,
                        help="synthetic functions also served through an alias with provisioned concurrency")
    args = parser.parse_args(argv)
    if not 0 <= args.aliases <= min(args.functions, 700):
        parser.error("--aliases must be between 0 and --functions, and at most 700 (the account's concurrency)")

    with Emulator() as emulator:
        os.environ.update(emulator.environ({}))
        session = emulator.session()
        started = time.perf_counter()
        spec, _ = baseline.provision(session, SUFFIX, synthetic=args.functions)
        count = len(spec.functions)
        give_aliases(session, [function.name for function in spec.functions if function.name.startswith("synthetic-")]
                     [:args.aliases])
        print(f"provisioned {count} functions ({args.aliases} more behind aliases with provisioned concurrency) "
              f"in {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        simulator.simulate_fleet(session, SUFFIX, days=args.days, traffic_scale=args.traffic_scale)
        print(f"simulated {args.days} days of usage in {time.perf_counter() - started:.0f} s\n", flush=True)

        usage = timed("lambda_usage_info", count, "lambda_usage_info",
                      # The emulator cannot answer Logs Insights; REPORT lines are read from the events.
                      {"suffix": SUFFIX, "logs_insights": "never",
                       "logs_requests_per_second": args.logs_requests_per_second})
        sizing = {"functions": usage["functions"], "usage": usage["functions"], "memory_size": "auto",
                  "timeout": "auto"}
        planned = timed("lambda_rightsize (dry run)", count, "lambda_rightsize", sizing, check=True)
        timed_report(count, usage["functions"], planned)
        applied = timed("lambda_rightsize (real run)", count, "lambda_rightsize", sizing)
        timed("lambda_rightsize (again, no-op)", count, "lambda_rightsize", sizing)
        retention = {"functions": usage["functions"], "retention_days": 7, "allow_data_loss": True}
        timed("log_retention (dry run)", count, "log_retention", retention, check=True)
        timed("log_retention (real run)", count, "log_retention", retention)
        provisioned = {"suffix": SUFFIX, "provisioned_concurrency": "auto", "raise_on_spillover": True}
        timed("lambda_provisioned_concurrency (dry)", count, "lambda_provisioned_concurrency", provisioned, check=True)
        timed("lambda_provisioned_concurrency (real)", count, "lambda_provisioned_concurrency", provisioned)
        timed("lambda_provisioned_concurrency (no-op)", count, "lambda_provisioned_concurrency", provisioned)
        print(f"\nplanned changes for {planned['summary']['changed']} functions, "
              f"applied {applied['summary']['changed']}, refused for {planned['summary']['with_refusals']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
