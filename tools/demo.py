"""The demo behind `make demo`: start the emulator, provision the baseline fleet, simulate two
weeks of usage, then run playbooks/optimize.yml as a dry run and for real, show the fleet before
and after, stop the emulator, and end with the savings and the report files."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from tools import baseline, fleet_view, simulator
from tools.emulator import Emulator

SUFFIX = "dev"
ROOT = Path(__file__).resolve().parent.parent
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
DEFAULT_REPORTS = ROOT / "reports"
DEFAULT_RECORDS = ROOT / "records"
# The API handler is served through its alias: its right-sized settings reach that traffic through a canary, baked
# for a minute on half the alias's traffic. Nothing invokes the emulator's functions, so while the canary bakes the
# simulator writes what each version did, at enough traffic for a minute to judge at any hour of the day (the last
# hour of a day at 4,000 times the profile's rate: at the quietest hour, about 100 invocations of each version).
CANARY = {"function": f"api-handler-{SUFFIX}", "alias": "live", "weight": 0.5, "bake_minutes": 1,
          "traffic_scale": 4000}


def heading(text: str) -> None:
    print(f"\n=== {text} ===\n", flush=True)


def optimize(emulator: Emulator, reports: Path, records: Path, *flags: str) -> None:
    command = [ANSIBLE_PLAYBOOK, "playbooks/optimize.yml", "-e", f"suffix={SUFFIX}",
               "-e", f"lambdaopt_report_dir={reports}", "-e", f"lambdaopt_record_dir={records}", *flags]
    print("$ " + " ".join(["ansible-playbook", *command[1:]]), flush=True)
    subprocess.run(command, cwd=ROOT, env=emulator.environ(), check=True)


class CanaryTraffic:
    """While the real run goes, watch the API handler's alias; once it routes to a canary, write the bake period's
    traffic of both versions, as Lambda's metrics would show it."""

    def __init__(self, session):
        self.lambda_client = session.client("lambda")
        self.session = session
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.written: dict = {}

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(timeout=30)

    def watch(self) -> None:
        while not self.done.wait(1):
            alias = self.lambda_client.get_alias(FunctionName=CANARY["function"], Name=CANARY["alias"])
            if (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights"):
                # The canary's bake window starts at the minute of the shift, as Lambda's per-minute metrics do.
                start = datetime.now(UTC).replace(second=0, microsecond=0)
                self.written = simulator.write_bake_metrics(
                    self.session, CANARY["function"], CANARY["alias"], start, CANARY["bake_minutes"],
                    traffic_scale=CANARY["traffic_scale"], simulated_hours=1)
                return


def dollars(amount: float) -> str:
    return f"{'-' if amount < 0 else ''}${abs(amount):,.2f}"


def savings_summary(report_json: Path) -> str:
    """The closing lines: what the real run saves, net of the hardening, and where the reports are."""
    report = json.loads(report_json.read_text())
    totals = report["totals"]
    components = totals["by_component"]
    gross = sum(components[part]["savings"]["expected"] for part in ("lambda", "log_ingestion", "log_storage"))
    net = totals["net_monthly_savings"]
    return "\n".join([
        f"{report['label']} ({report['account_id']}, {report['region']}), a month, expected case:",
        f"  right-sizing and log retention save        {dollars(gross)}",
        f"  lowering provisioned concurrency saves     "
        f"{dollars(components['provisioned_concurrency']['savings']['expected'])}",
        f"  right-sizing the data table saves          {dollars(components['data_store']['savings']['expected'])}",
        f"  the hardening adds                         {dollars(-components['hardening']['savings']['expected'])}",
        f"Net monthly savings: {dollars(net['expected'])} (from {dollars(net['low'])} if CPU-bound "
        f"to {dollars(net['high'])} if I/O-bound)",
        f"Net annual savings:  {dollars(totals['annual_savings']['expected'])}",
        "Reports:",
        *(f"  {report_json.with_suffix(suffix)}" for suffix in (".json", ".md", ".html")),
    ])


def newest_applied_report(reports: Path) -> Path:
    applied = [path for path in reports.glob("lambdaopt-savings-*.json") if not path.stem.endswith("-dry-run")]
    return max(applied, key=lambda path: path.stat().st_mtime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=DEFAULT_REPORTS, help="where the savings reports go")
    parser.add_argument("--records", type=Path, default=DEFAULT_RECORDS, help="where the change records go")
    args = parser.parse_args(argv)
    reports, records = args.reports.resolve(), args.records.resolve()
    with Emulator() as emulator:
        print(f"AWS emulator running at {emulator.endpoint}")
        session = emulator.session()
        spec, created = baseline.provision(session, SUFFIX)
        print(f"Provisioned the baseline fleet: {created} functions with suffix '{SUFFIX}' "
              f"in account {spec.account_id}")

        heading("Simulated usage, 14 days")
        print(simulator.summary(simulator.simulate_fleet(session, SUFFIX)))

        heading("The baseline fleet")
        print(fleet_view.render(fleet_view.describe(session, SUFFIX)))

        heading("Dry run: the plan, nothing changed")
        optimize(emulator, reports, records, "--check", "--diff")

        heading("Real run, the aliased API handler delivered through a canary")
        with CanaryTraffic(session):
            optimize(emulator, reports, records, "-e", "lambdaopt_canary=true",
                     "-e", f"lambdaopt_canary_weight={CANARY['weight']}",
                     "-e", f"lambdaopt_canary_bake_minutes={CANARY['bake_minutes']}")

        heading("The optimized fleet")
        print(fleet_view.render(fleet_view.describe(session, SUFFIX)))
    print("\nEmulator stopped.")
    heading("Savings")
    print(savings_summary(newest_applied_report(reports)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
