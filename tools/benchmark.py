"""Benchmark: playbooks/optimize.yml, dry and real, on a large synthetic fleet in the local emulator, against the
time AWS's API request quotas allow.

    python -m tools.benchmark --functions 1000 --quotas aws

Numbers, not pass/fail. For each run (the demo fleet's 6 functions, then the large fleet; a dry run with
--check --diff, then a real run) it prints the wall time, the bound the quotas set, their ratio, every task's share,
the calls per function by operation, the throttled calls and the controller's overhead; last, log_retention beside
Cloud Custodian's `retention` action on the fleet's log groups (tools/custodian_benchmark.py).

The bound. The playbook's tasks run one after another, so the time a run's calls need at AWS's default quotas is
the sum, over its tasks, of the longest time any one quota bucket needs for that task's calls:

    bound = sum over tasks of  max over the quota buckets the task drew from of  (calls admitted / bucket's rate)

A bucket is one quota of tools/aws_quotas.yaml in one account-Region (one per operation for a per-operation quota),
at its rate in that Region. Calls admitted are those made less those the emulator throttled. Calls that no quota
with a rate covers (IAM, STS, SQS; Logs Insights' concurrency is a count, not a rate) add nothing, and a bucket's
burst is not subtracted: the bound is what the quotas allow in steady state. Calls are attributed to tasks by an
Ansible callback (tools/callback_plugins/ledger_marks.py) that reads the emulator's call ledger at each task's
start and at the end of the run.

The emulator runs in this process and shares the machine's cores with Ansible and its modules; AWS answers
slower than the emulator (tens of milliseconds a call), so a client that does not keep calls in flight at once
would be further from the bound in AWS than here.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tools import baseline, simulator
from tools.api_quotas import QuotaTable, identify, load_quotas
from tools.custodian_benchmark import compare_retention
from tools.custodian_benchmark import render as render_custodian
from tools.emulator import Emulator
from tools.emulator_patches import lambda_states

ROOT = Path(__file__).resolve().parent.parent
COLLECTION = ROOT / "collections" / "ansible_collections" / "tap" / "lambdaopt"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
PLAYBOOK = "playbooks/optimize.yml"
PACING_SWITCH = "LAMBDAOPT_API_PACING"
INVENTORY = ROOT / "inventories" / "local" / "hosts.yml"
CALLBACK_DIR = ROOT / "tools" / "callback_plugins"
SUFFIX = "bench"
DEMO_SUFFIX = "demo"
# A task is listed with its calls where its wall time is this far beyond its bound.
FAR_SECONDS = 5.0
FAR_RATIO = 2.0
FORMULA = ("bound = sum over tasks of max over the quota buckets the task drew from of (calls admitted to the "
           "bucket / the bucket's rate per second); calls no quota covers add nothing")
# Tasks that run on the controller alone (no module is sent to the host): their wall time is Ansible's, not a
# module's. The collection's action plugins are added from its plugins/action directory.
CONTROLLER_ACTIONS = frozenset(f"ansible.builtin.{name}" for name in (
    "assert", "debug", "fail", "set_fact", "set_stats", "meta", "include_tasks", "import_tasks", "include_vars"))


def controller_actions() -> frozenset[str]:
    plugins = COLLECTION / "plugins" / "action"
    return CONTROLLER_ACTIONS | {f"tap.lambdaopt.{path.stem}" for path in plugins.glob("*.py")
                                if not path.stem.startswith("_")}


# ---- the bound ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bucket:
    """One quota's token bucket: per account-Region, and per operation for a quota AWS sets on each operation."""

    account: str
    region: str
    quota: str
    operation: str | None
    rate: float

    @property
    def label(self) -> str:
        return self.quota + (f" ({self.operation})" if self.operation else "")


def ledger_rows(ledger: Mapping) -> Iterable[tuple[str, str, str, str, Mapping]]:
    """(account, Region, service, operation, counts) of a ledger snapshot."""
    for account, regions in ledger.items():
        for region, services in regions.items():
            for service, operations in services.items():
                for operation, counts in operations.items():
                    yield account, region, service, operation, counts


def ledger_difference(after: Mapping, before: Mapping) -> dict:
    """The calls made between two snapshots of one ledger, in the ledger's shape."""
    difference: dict = {}
    for account, region, service, operation, counts in ledger_rows(after):
        earlier = before.get(account, {}).get(region, {}).get(service, {}).get(operation, {})
        delta = {key: counts.get(key, 0) - earlier.get(key, 0) for key in ("made", "throttled", "retried")}
        if any(delta.values()):
            difference.setdefault(account, {}).setdefault(region, {}).setdefault(service, {})[operation] = delta
    return difference


def calls_by_bucket(ledger: Mapping, quotas: QuotaTable) -> dict[Bucket, int]:
    """Calls admitted (made less throttled) to each quota bucket with a rate."""
    buckets: Counter = Counter()
    for account, region, service, operation, counts in ledger_rows(ledger):
        admitted = counts.get("made", 0) - counts.get("throttled", 0)
        if admitted <= 0:
            continue
        for quota in quotas.covering(service, operation):
            if quota.rate is None:
                continue
            buckets[Bucket(account, region, quota.name, operation if quota.per_operation else None,
                           quota.rate_in(region))] += admitted
    return dict(buckets)


@dataclass(frozen=True)
class Bound:
    """The time a set of calls needs at the quotas, and the bucket that sets it (None: no quota covers them)."""

    seconds: float
    bucket: Bucket | None = None
    calls: int = 0

    @property
    def binding(self) -> str:
        if self.bucket is None:
            return ""
        return f"{self.bucket.label}: {self.calls} at {self.bucket.rate:g}/s"


def bound_of(ledger: Mapping, quotas: QuotaTable) -> Bound:
    """max over the buckets drawn from of (calls admitted / rate)."""
    buckets = calls_by_bucket(ledger, quotas)
    if not buckets:
        return Bound(0.0)
    bucket, calls = max(buckets.items(), key=lambda item: item[1] / item[0].rate)
    return Bound(calls / bucket.rate, bucket, calls)


def totals(ledger: Mapping) -> Counter:
    """made, throttled and retried over the whole ledger."""
    summed: Counter = Counter()
    for *_, counts in ledger_rows(ledger):
        summed.update({key: counts.get(key, 0) for key in ("made", "throttled", "retried")})
    return summed


def by_operation(ledger: Mapping) -> dict[tuple[str, str], Counter]:
    """{(service, operation): made, throttled, retried}, summed over accounts and Regions."""
    operations: dict = {}
    for _, _, service, operation, counts in ledger_rows(ledger):
        operations.setdefault((service, operation), Counter()).update(
            {key: counts.get(key, 0) for key in ("made", "throttled", "retried")})
    return operations


# ---- the emulator's time ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    """One AWS call the emulator answered: when it arrived (time.monotonic()) and how long the answer took."""

    start: float
    seconds: float
    service: str
    operation: str


class RequestTimer:
    """Times the emulator's answer to every AWS call, to tell the emulator's own slowness (which AWS does not
    share) from the client's waiting. It sits inside the emulator's quota middleware, so a throttled call, answered
    by the middleware at once, is not timed. time.monotonic() is the clock the ledger marks use too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Request] = []

    def install(self, emulator: Emulator) -> None:
        """Before the emulator starts: its server wraps moto's application in the quota middleware when it starts."""
        wrap_in_quotas = emulator.api_quotas.wrap
        emulator.api_quotas.wrap = lambda app: wrap_in_quotas(self.wrap(app))

    def wrap(self, app):
        def timed(environ: dict, start_response):
            # The quota middleware has read a request's body into a BytesIO; a request without one has none.
            body = environ["wsgi.input"].getvalue() if isinstance(environ.get("wsgi.input"), io.BytesIO) else b""
            call = identify(environ, body)
            started = time.monotonic()
            answer = app(environ, start_response)
            if call is not None:
                with self._lock:
                    self._requests.append(Request(started, time.monotonic() - started, call.service,
                                                  call.operation))
            return answer

        return timed

    def between(self, start: float, end: float) -> list[Request]:
        with self._lock:
            return [request for request in self._requests if start <= request.start < end]


def busy_seconds(requests: Iterable[Request]) -> float:
    """How long the emulator was answering at least one of `requests`: their intervals' union."""
    busy, reach = 0.0, float("-inf")
    for request in sorted(requests, key=lambda request: request.start):
        end = request.start + request.seconds
        if end > reach:
            busy += end - max(request.start, reach)
            reach = end
    return busy


def operation_times(requests: list[Request]) -> dict[tuple[str, str], tuple[float, float]]:
    """{(service, operation): (seconds from its first call's arrival to its last answer, seconds the emulator was
    answering at least one of its calls)}"""
    grouped: dict = {}
    for request in requests:
        grouped.setdefault((request.service, request.operation), []).append(request)
    return {key: (max(request.start + request.seconds for request in calls) - min(request.start for request in calls),
                  busy_seconds(calls)) for key, calls in grouped.items()}


# ---- tasks from the ledger marks -------------------------------------------------------------------------------

@dataclass
class TaskMeasure:
    """One task of a run: its wall time, the calls it made, and the time they need at the quotas."""

    name: str
    action: str
    status: str
    wall: float
    calls: dict
    bound: Bound
    requests: list = field(default_factory=list)

    @property
    def emulator_seconds(self) -> float:
        """How long the emulator was answering at least one of the task's calls."""
        return busy_seconds(self.requests)

    @property
    def made(self) -> int:
        return totals(self.calls)["made"]

    @property
    def throttled(self) -> int:
        return totals(self.calls)["throttled"]


def read_marks(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def tasks_from_marks(marks: list[dict], quotas: QuotaTable, requests: list | None = None) -> list[TaskMeasure]:
    """Each task from its start mark to the next task's (or the run's end): its wall time, its calls, and the
    emulator's answers to the requests that arrived meanwhile."""
    statuses: dict = {}
    for mark in marks:
        if mark["mark"] == "result":
            statuses[mark["uuid"]] = mark["status"]
    boundaries = [mark for mark in marks if mark["mark"] in ("task", "end")]
    if any(mark["ledger"] is None for mark in boundaries):
        raise SystemExit("the ledger could not be read at some task boundary (see the run's warnings)")
    tasks = []
    for start, end in zip(boundaries, boundaries[1:], strict=False):
        if start["mark"] != "task":
            continue
        calls = ledger_difference(end["ledger"], start["ledger"])
        answered = [request for request in requests or () if start["at"] <= request.start < end["at"]]
        tasks.append(TaskMeasure(start["name"], start["action"], statuses.get(start["uuid"], "not ended"),
                                 end["at"] - start["at"], calls, bound_of(calls, quotas), answered))
    return tasks


@dataclass
class RunMeasure:
    """One ansible-playbook run: its wall time (the whole command), its tasks and every call it made."""

    fleet: str
    functions: int
    mode: str
    quotas: str
    wall: float
    returncode: int
    log: str
    tasks: list[TaskMeasure]
    calls: dict
    before_tasks: float
    after_tasks: float
    controller_only: frozenset = field(default_factory=controller_actions)

    @property
    def bound(self) -> float:
        return sum(task.bound.seconds for task in self.tasks)

    @property
    def ratio(self) -> float | None:
        return self.wall / self.bound if self.bound else None

    @property
    def emulator_seconds(self) -> float:
        return sum(task.emulator_seconds for task in self.tasks)

    @property
    def beyond_bound(self) -> float:
        """Wall time of tasks beyond each one's own bound: what the controller, the modules' own work and any
        waiting cost on top of what the quotas require."""
        return sum(max(0.0, task.wall - task.bound.seconds) for task in self.tasks)

    def fixed_cost(self) -> TaskMeasure | None:
        """The quickest module task that ran and made no AWS call: what any task costs before it does anything."""
        idle = [task for task in self.tasks if task.action not in self.controller_only
                and task.status not in ("skipped", "not ended") and task.made == 0]
        return min(idle, key=lambda task: task.wall, default=None)

    def as_dict(self) -> dict:
        fixed = self.fixed_cost()
        return {
            "fleet": self.fleet, "functions": self.functions, "mode": self.mode, "quotas": self.quotas,
            "returncode": self.returncode, "wall": round(self.wall, 2), "bound": round(self.bound, 2),
            "ratio": round(self.ratio, 3) if self.ratio else None, "beyond_bound": round(self.beyond_bound, 2),
            "emulator_seconds": round(self.emulator_seconds, 2),
            "before_tasks": round(self.before_tasks, 2), "after_tasks": round(self.after_tasks, 2),
            "fixed_cost": {"task": fixed.name, "seconds": round(fixed.wall, 3)} if fixed else None,
            "calls": totals(self.calls), "log": self.log, "tasks": [task_dict(task) for task in self.tasks],
            "by_operation": operation_dict(by_operation(self.calls)),
        }


def operation_dict(operations: Mapping[tuple[str, str], object]) -> dict:
    return {f"{service} {operation}": value for (service, operation), value in sorted(operations.items())}


def task_dict(task: TaskMeasure) -> dict:
    spans = {key: [round(span, 3), round(busy, 3)] for key, (span, busy) in operation_times(task.requests).items()}
    return {"name": task.name, "action": task.action, "status": task.status, "wall": round(task.wall, 3),
            "made": task.made, "throttled": task.throttled, "bound": round(task.bound.seconds, 3),
            "binding": task.bound.binding, "emulator_seconds": round(task.emulator_seconds, 3),
            "by_operation": operation_dict(by_operation(task.calls)),
            # [seconds from the operation's first call to its last answer, seconds the emulator was answering it]
            "operation_times": operation_dict(spans)}


# ---- running the playbook ---------------------------------------------------------------------------------------

def inventory_host() -> str:
    hosts = yaml.safe_load(INVENTORY.read_text())["all"]["hosts"]
    if len(hosts) != 1:
        raise SystemExit(f"{INVENTORY} should name one host, the emulator's account-region")
    return next(iter(hosts))


def run_playbook(emulator: Emulator, suffix: str, functions: int, fleet: str, dry_run: bool, workdir: Path,
                 quotas: str | None, extra_vars: Iterable[str] = (), timer: RequestTimer | None = None) -> RunMeasure:
    """optimize.yml once, as a user runs it, with quota mode `quotas` from full buckets and an empty ledger;
    `timer`, installed in the emulator, times its answers."""
    mode = "dry run" if dry_run else "real run"
    label = f"{fleet.replace(' ', '-')}-{mode.replace(' ', '-')}"
    marks = workdir / f"{label}.marks.jsonl"
    log = workdir / f"{label}.log"
    marks.unlink(missing_ok=True)
    journals = workdir / "journals"
    # The host's journal directory exists after its first real run; the task that looks in it then runs.
    (journals / inventory_host()).mkdir(parents=True, exist_ok=True)
    command = [str(ANSIBLE_PLAYBOOK), "-i", str(INVENTORY), PLAYBOOK, "-e", f"suffix={suffix}",
               "-e", f"lambdaopt_report_dir={workdir / 'reports'}", "-e", f"lambdaopt_record_dir={workdir / 'records'}",
               "-e", f"lambdaopt_journal_dir={journals}", *extra_vars]
    if dry_run:
        command += ["--check", "--diff"]
    environment = {**emulator.environ(), "PATH": f"{ANSIBLE_PLAYBOOK.parent}{os.pathsep}{os.environ.get('PATH', '')}",
                   "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_DIR),
                   "ANSIBLE_CALLBACKS_ENABLED": "ledger_marks", "LAMBDAOPT_LEDGER_MARKS": str(marks),
                   # The collection paces its calls to AWS's quotas (module_utils/pacing.py); where the emulator
                   # enforces none, pacing is off, as for any endpoint without quotas.
                   PACING_SWITCH: "on" if quotas else "off"}
    emulator.enforce_quotas(quotas)
    emulator.ledger.reset()  # the quota buckets start full with it
    try:
        with log.open("w") as output:
            started = time.monotonic()
            finished = subprocess.run(command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT)
            ended = time.monotonic()
    finally:
        emulator.enforce_quotas(None)
    calls = emulator.ledger.snapshot()
    table = load_quotas()
    recorded = read_marks(marks) if marks.exists() else []
    boundaries = [mark for mark in recorded if mark["mark"] in ("task", "end")]
    before_tasks = boundaries[0]["at"] - started if boundaries else ended - started
    after_tasks = ended - boundaries[-1]["at"] if boundaries else 0.0
    return RunMeasure(fleet, functions, mode, quotas or "none", ended - started, finished.returncode, str(log),
                      tasks_from_marks(recorded, table, timer.between(started, ended) if timer else None), calls,
                      before_tasks, after_tasks)


# ---- the fleets -------------------------------------------------------------------------------------------------

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


def prepare_fleet(session, suffix: str, synthetic: int, aliases: int, days: int, traffic_scale: float) -> int:
    """Provision the demo fleet and `synthetic` copies, put `aliases` of the copies behind an alias, simulate
    their history; returns the fleet's size."""
    started = time.monotonic()
    spec, _ = baseline.provision(session, suffix, synthetic=synthetic)
    give_aliases(session, [function.name for function in spec.functions
                           if function.name.startswith("synthetic-")][:aliases])
    aliased = sum(1 for function in spec.functions if function.alias) + aliases
    print(f"provisioned {len(spec.functions)} functions with suffix '{suffix}' ({aliased} served through an alias "
          f"with provisioned concurrency) in {time.monotonic() - started:.0f} s", flush=True)
    started = time.monotonic()
    simulator.simulate_fleet(session, suffix, days=days, traffic_scale=traffic_scale)
    print(f"simulated {days} days of usage at {traffic_scale:g} x the profiles' traffic in "
          f"{time.monotonic() - started:.0f} s", flush=True)
    return len(spec.functions)


# ---- the output -------------------------------------------------------------------------------------------------

def seconds(value: float) -> str:
    return f"{value:,.1f}"


def render_run(run: RunMeasure) -> str:
    made = totals(run.calls)
    ratio = f"{run.ratio:.2f}" if run.ratio else "n/a (no call any quota covers)"
    lines = [
        f"== {run.fleet}: {run.mode}, quotas {run.quotas} ==",
        f"wall {seconds(run.wall)} s: tasks {seconds(sum(task.wall for task in run.tasks))} s, Ansible before the "
        f"first task {seconds(run.before_tasks)} s and after the last {seconds(run.after_tasks)} s"
        + ("" if run.returncode == 0 else f"; ansible-playbook FAILED (exit {run.returncode}), see {run.log}"),
        f"bound {seconds(run.bound)} s ({FORMULA})",
        f"wall / bound {ratio}",
        f"calls {made['made']:,}, throttled {made['throttled']:,}, of them retried {made['retried']:,}",
        f"the emulator was answering at least one of them for {seconds(run.emulator_seconds)} s (emu s; AWS answers "
        "most calls in tens of milliseconds)",
        "",
        f"{'task':<62} {'status':<8} {'wall s':>8} {'calls':>6} {'thr.':>5} {'bound s':>8} {'w/b':>6} {'emu s':>7}"
        "  binding quota",
    ]
    for task in run.tasks:
        task_ratio = f"{task.wall / task.bound.seconds:.1f}" if task.bound.seconds else ""
        lines.append(f"{task.name[:62]:<62} {task.status:<8} {seconds(task.wall):>8} {task.made:>6} "
                     f"{task.throttled:>5} {task.bound.seconds:>8.2f} {task_ratio:>6} "
                     f"{seconds(task.emulator_seconds):>7}  {task.bound.binding}")
    lines += ["", f"calls per function ({run.functions} functions): {made['made'] / run.functions:.2f} in all",
              f"  {'service':<12} {'operation':<36} {'calls':>7} {'per fn':>8} {'throttled':>9} {'retried':>8}"]
    for (service, operation), counts in sorted(by_operation(run.calls).items(), key=lambda item: -item[1]["made"]):
        lines.append(f"  {service:<12} {operation:<36} {counts['made']:>7} {counts['made'] / run.functions:>8.3f} "
                     f"{counts['throttled']:>9} {counts['retried']:>8}")
    slow = [task for task in run.tasks if task.wall - task.bound.seconds > FAR_SECONDS
            and task.wall > FAR_RATIO * task.bound.seconds]
    if slow:
        lines += ["", f"tasks far from their bound (over {FAR_SECONDS:g} s beyond it, and over {FAR_RATIO:g} x it): "
                  "each operation's calls, the seconds from its first call to its last answer, and those in which the "
                  "emulator was answering one of them"]
        for task in slow:
            lines.append(f"  {task.name}: wall {seconds(task.wall)} s, bound {task.bound.seconds:.2f} s, emulator "
                         f"{seconds(task.emulator_seconds)} s" + ("" if task.made else "; no AWS call"))
            times = operation_times(task.requests)
            for key, counts in sorted(by_operation(task.calls).items(), key=lambda item: -item[1]["made"]):
                span, busy = times.get(key, (0.0, 0.0))
                lines.append(f"    {key[0]:<12} {key[1]:<36} {counts['made']:>6} calls over {seconds(span):>7} s, "
                             f"emulator {seconds(busy):>7} s")
    throttled = [(task.name, operation, counts) for task in run.tasks
                 for *_, operation, counts in ledger_rows(task.calls) if counts.get("throttled")]
    if throttled:
        lines += ["", "throttled, by task:"]
        lines += [f"  {name[:62]:<62} {operation:<28} {counts['throttled']} of {counts['made']} "
                  f"({counts['retried']} retried)" for name, operation, counts in throttled]
    fixed = run.fixed_cost()
    lines += ["", f"controller overhead: tasks beyond their bound {seconds(run.beyond_bound)} s; fixed cost of a task "
              + (f"{fixed.wall:.2f} s ({fixed.name}: a module, no AWS call)" if fixed else "n/a (no module task "
                 "without AWS calls ran)"), ""]
    return "\n".join(lines)


def render_summary(runs: list[RunMeasure], custodian: dict | None) -> str:
    lines = ["== summary ==", f"{FORMULA}", "",
             f"{'fleet':<16} {'run':<9} {'quotas':<6} {'wall s':>9} {'bound s':>9} {'wall/bound':>10} "
             f"{'calls/fn':>8} {'throttled':>9} {'retried':>7} {'beyond bound s':>14} {'fixed cost s':>12} "
             f"{'emulator s':>10}"]
    for run in runs:
        made = totals(run.calls)
        fixed = run.fixed_cost()
        lines.append(f"{run.fleet:<16} {run.mode:<9} {run.quotas:<6} {seconds(run.wall):>9} {seconds(run.bound):>9} "
                     f"{(f'{run.ratio:.2f}' if run.ratio else 'n/a'):>10} {made['made'] / run.functions:>8.2f} "
                     f"{made['throttled']:>9} {made['retried']:>7} {seconds(run.beyond_bound):>14} "
                     f"{(f'{fixed.wall:.2f}' if fixed else 'n/a'):>12} {seconds(run.emulator_seconds):>10}")
    if custodian:
        sides = ", ".join(f"{side['label']} {side['seconds']:,.1f} s" for side in custodian["sides"])
        lines += ["", f"log_retention beside Cloud Custodian on {custodian['groups']} log groups, quotas "
                  f"{custodian['quotas'] or 'none'}: {sides}; ratio (playbook / custodian) {custodian['ratio']:.2f}"]
    return "\n".join(lines)


# ---- main -------------------------------------------------------------------------------------------------------

# How long a function stays Pending after creation and an update InProgress. AWS: an update provisions an instance
# of the function, which for a function connected to a VPC "can take a minute" (UpdateFunctionConfiguration's
# reference), outside one seconds; the benchmark's functions are outside one. Timed rather than counted in reads
# (the tests' default), so that a fleet's waits last as long as on AWS instead of as many polls as the count.
UPDATE_SECONDS = 2.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--functions", type=int, default=1000,
                        help="the large fleet's size: the demo fleet's functions and synthetic copies")
    parser.add_argument("--quotas", choices=["aws", "none"], default="aws",
                        help="the emulator's quota mode for the playbook runs (aws: AWS's default API quotas)")
    parser.add_argument("--aliases", type=int, default=None,
                        help="synthetic functions also served through an alias with provisioned concurrency "
                             "(default: a fifth of them)")
    parser.add_argument("--traffic-scale", type=float, default=0.1,
                        help="simulated traffic per function (default keeps log volume manageable)")
    parser.add_argument("--days", type=int, default=2, help="days of simulated history (the window is 14)")
    parser.add_argument("--skip-real", action="store_true", help="dry runs only")
    parser.add_argument("--skip-custodian", action="store_true", help="no log_retention / Cloud Custodian comparison")
    parser.add_argument("--no-alarms", action="store_true",
                        help="run with lambdaopt_alarms=false (PutMetricAlarm's 3/s binds the real run otherwise)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the runs' logs, reports, records, journals and benchmark.json go (default: new)")
    args = parser.parse_args(argv)
    quotas = None if args.quotas == "none" else args.quotas
    extra_vars = ["-e", "lambdaopt_alarms=false"] if args.no_alarms else []
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="lambdaopt-benchmark-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"logs, reports and benchmark.json in {workdir}", flush=True)

    runs: list[RunMeasure] = []
    custodian = None
    emulator, timer = Emulator(), RequestTimer()
    timer.install(emulator)
    with emulator:
        lambda_states.configure(seconds=UPDATE_SECONDS)
        print(f"emulator: functions stay Pending, and updates InProgress, for {UPDATE_SECONDS:g} s", flush=True)
        session = emulator.session()
        demo_size = len(baseline.spec_for(session, DEMO_SUFFIX).functions)
        synthetic = args.functions - demo_size
        aliases = synthetic // 5 if args.aliases is None else args.aliases
        if synthetic < 0:
            parser.error(f"--functions must be at least the demo fleet's {demo_size}")
        if not 0 <= aliases <= min(synthetic, 700):
            parser.error("--aliases must be between 0 and the synthetic functions, and at most 700 "
                         "(the account's concurrency)")
        fleets = [(DEMO_SUFFIX, 0, 0)] + ([(SUFFIX, synthetic, aliases)] if synthetic else [])
        for suffix, copies, aliased in fleets:
            # Each fleet alone in the account: the demo fleet's listings are a small account's.
            emulator.reset()
            size = prepare_fleet(session, suffix, copies, aliased, args.days, args.traffic_scale)
            fleet = f"{size} functions"
            for dry_run in (True, False):
                if args.skip_real and not dry_run:
                    continue
                run = run_playbook(emulator, suffix, size, fleet, dry_run, workdir / suffix, quotas, extra_vars,
                                   timer)
                print(render_run(run), flush=True)
                runs.append(run)
        if not args.skip_custodian:
            print(f"== log_retention beside Cloud Custodian on {args.functions} log groups ==", flush=True)
            custodian = compare_retention(emulator.endpoint, args.functions, suffix=fleets[-1][0], quotas=quotas,
                                          in_process=False)
            print(render_custodian(custodian) + "\n", flush=True)
    (workdir / "benchmark.json").write_text(json.dumps(
        {"functions": args.functions, "quotas": args.quotas, "aliases": aliases, "days": args.days,
         "traffic_scale": args.traffic_scale, "no_alarms": args.no_alarms,
         "runs": [run.as_dict() for run in runs], "custodian": custodian}, indent=1, default=dict))
    print(render_summary(runs, custodian), flush=True)
    return 0 if all(run.returncode == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
