"""Benchmark: log_retention beside Cloud Custodian's `retention` action, on the same log groups of the same emulator.

    python -m tools.custodian_benchmark --groups 1000 [--days 7]

Each side starts from the same state (every group's events kept forever) and sets `days` on the same groups; both
are read back afterwards, and a side that left any group otherwise, or touched any other group, fails the run.
Timed: log_retention as a module run in this process, as `ansible-playbook` runs it (a process of its own, Ansible's
start included), and `custodian run` of a one-policy file (a process of its own, its start included). The playbook
against `custodian run` is the like-for-like pair: each is one command given a file that names the groups.

Cloud Custodian (PyPI `c7n`) is installed on first use into a virtualenv of its own (CUSTODIAN_VENV), never into the
project's. Numbers, not pass/fail: the emulator runs in this process and shares its two cores with both sides.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import log_groups
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import has_suffix
from botocore.config import Config

from tools.api_quotas import AWS, load_quotas
from tools.emulator import DEFAULT_REGION, EMULATOR_CREDENTIALS, Emulator, emulator_session, require_local_endpoint
from tools.module_runner import recorded_api_calls, run_module

ROOT = Path(__file__).resolve().parent.parent
CUSTODIAN_VENV = ROOT / ".bench" / "custodian-venv"
# The version measured; a newer one may behave otherwise.
CUSTODIAN_REQUIREMENT = "c7n==0.9.53"
SUFFIX = "c7nbench"
INVENTORY_HOST = "emulator-us-east-1"
IN_PROCESS = "log_retention (module run in this process)"
PLAYBOOK = "log_retention (ansible-playbook, one task)"
AS_STARTED = "as started"
# The environment variable that turns the collection's client-side pacing to AWS's quotas off (module_utils/pacing.py).
PACING_SWITCH = "LAMBDAOPT_API_PACING"
# The benchmark's own calls (creating, resetting, reading back the groups) wait out any throttling: adaptive mode
# slows the client down to what the service accepts.
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
PATIENT = Config(retries={"mode": "adaptive", "total_max_attempts": 30})


@dataclass
class Side:
    """One timed run: what it took, what the time includes, and the calls it made by operation."""
    label: str
    seconds: float
    includes: str
    # {operation: {"made": n, "throttled": n, "retried": n}}: the emulator's ledger where it has one (throttled
    # and retried calls included), else the calls this process made (a module run in it).
    calls: dict | None = None

    def as_dict(self) -> dict:
        return {"label": self.label, "seconds": round(self.seconds, 3), "includes": self.includes,
                "calls": self.calls}


def custodian_executable(venv: Path = CUSTODIAN_VENV) -> Path:
    """`custodian` from its own virtualenv, created and installed with pip on first use."""
    executable = venv / "bin" / "custodian"
    if not executable.exists():
        print(f"installing {CUSTODIAN_REQUIREMENT} into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        CUSTODIAN_REQUIREMENT], check=True)
    return executable


def custodian_version(executable: Path) -> str:
    return subprocess.run([str(executable), "version"], capture_output=True, text=True, check=True).stdout.strip()


def emulator_environ(endpoint: str, region: str = DEFAULT_REGION) -> dict:
    """What a process needs to reach the emulator, and nothing that reaches a real account."""
    return {**EMULATOR_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": region, "AWS_REGION": region}


@contextlib.contextmanager
def environment(values: dict) -> Iterator[None]:
    """os.environ with `values` set, for a module run in this process (amazon.aws reads the endpoint from it)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _function_package() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def ensure_fleet(session, groups: int, suffix: str) -> tuple[list, bool]:
    """The first `groups` functions (by name) ending in `-{suffix}` that log to their own default group, created
    where fewer exist (one role, a tiny package, and each one's group): (their names, whether they are every function
    ending in `-{suffix}`, so that the suffix alone selects them)."""
    lambda_, logs = session.client("lambda", config=PATIENT), session.client("logs", config=PATIENT)
    listed = [function for page in lambda_.get_paginator("list_functions").paginate() for function in page["Functions"]]
    fleet = sum(1 for function in listed if has_suffix(function["FunctionName"], suffix))
    names = sorted(function["FunctionName"] for function in listed if has_suffix(function["FunctionName"], suffix)
                   and log_groups.group_of(function) == log_groups.default_group(function["FunctionName"]))
    if len(names) < groups:
        iam = session.client("iam", config=PATIENT)
        role_name = f"logbench-role-{suffix}"
        try:
            role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"]
        except iam.exceptions.EntityAlreadyExistsException:
            role = iam.get_role(RoleName=role_name)["Role"]
        package = _function_package()
        existing = set(names)
        index = 0
        fleet += groups - len(names)
        while len(names) < groups:
            name = f"logbench-{index:05d}-{suffix}"
            index += 1
            if name in existing:
                continue
            lambda_.create_function(FunctionName=name, Role=role["Arn"], Runtime="python3.12",
                                    Handler="handler.handler", Code={"ZipFile": package})
            names.append(name)
        names.sort()
    names = names[:groups]
    present = read_retention(logs)
    for name in names:
        if log_groups.default_group(name) not in present:
            logs.create_log_group(logGroupName=log_groups.default_group(name))
    return names, fleet == len(names)


@dataclass(frozen=True)
class Selection:
    """The benchmarked groups as each side names them: by the functions' suffix and a regular expression on the
    group's name where the suffix's fleet is exactly those functions, else by listing them (both sides alike)."""
    function_names: list
    suffix: str
    whole_fleet: bool

    @property
    def group_names(self) -> list:
        return [log_groups.default_group(name) for name in self.function_names]

    def module_args(self) -> dict:
        return {"suffix": self.suffix} if self.whole_fleet else {"functions": list(self.function_names)}

    def custodian_filter(self) -> dict:
        if self.whole_fleet:
            pattern = f"^{re.escape(log_groups.DEFAULT_GROUP_PREFIX)}.+{re.escape('-' + self.suffix)}$"
            return {"type": "value", "key": "logGroupName", "op": "regex", "value": pattern}
        return {"type": "value", "key": "logGroupName", "op": "in", "value": self.group_names}


def read_retention(logs) -> dict:
    """{log group: retentionInDays or None} of every /aws/lambda/ group."""
    paginator = logs.get_paginator("describe_log_groups")
    return {group["logGroupName"]: group.get("retentionInDays")
            for page in paginator.paginate(logGroupNamePrefix=log_groups.DEFAULT_GROUP_PREFIX)
            for group in page["logGroups"]}


def reset(logs, group_names: list) -> None:
    """Every group back to never expire (DeleteRetentionPolicy on those that have a retention)."""
    current = read_retention(logs)
    for name in group_names:
        if current.get(name) is not None:
            logs.delete_retention_policy(logGroupName=name)
    left = [name for name, days in read_retention(logs).items() if name in set(group_names) and days is not None]
    if left:
        raise SystemExit(f"could not reset {len(left)} log groups to never expire, e.g. {left[0]}")


def verify(label: str, before: dict, after: dict, group_names: list, days: int) -> None:
    """Every benchmarked group holds `days`, and no other group changed."""
    targets = set(group_names)
    wrong = sorted(name for name in targets if after.get(name) != days)
    touched = sorted(name for name in (set(before) | set(after)) - targets if before.get(name) != after.get(name))
    if wrong or touched:
        raise SystemExit(f"{label} did not do the benchmarked work: {len(wrong)} groups without {days} days "
                         f"(e.g. {wrong[:3]}), {len(touched)} other groups changed (e.g. {touched[:3]})")


class EmulatorControl:
    """The emulator's call ledger and quota mode, over HTTP (tools/api_quotas.py), so that they work whichever
    process runs the emulator; an emulator without them (`available` false) has neither."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        try:
            self.original = self._request("GET", "/lambdaopt-api/quotas")
            self.available = True
        except urllib.error.HTTPError:
            self.original, self.available = {"quotas": None, "scale": 1.0}, False

    def _request(self, method: str, path: str, document: dict | None = None) -> dict:
        body = json.dumps(document).encode() if document is not None else None
        request = urllib.request.Request(f"{self.endpoint}{path}", data=body, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def set_quotas(self, setting: dict) -> None:
        """Quota mode as `setting` ({"quotas": "aws" or None, "scale": n}); each call starts with full buckets."""
        if self.available:
            self._request("POST", "/lambdaopt-api/quotas", setting)

    def calls(self) -> dict:
        """{operation: {"made", "throttled", "retried"}}, summed over accounts, Regions and services."""
        if not self.available:
            return {}
        totals: dict = {}
        for regions in self._request("GET", "/lambdaopt-api/ledger").values():
            for services in regions.values():
                for operations in services.values():
                    for operation, counts in operations.items():
                        total = totals.setdefault(operation, Counter())
                        total.update(counts)
        return totals


def calls_since(before: dict, after: dict) -> dict:
    made = {}
    for operation, counts in after.items():
        difference = Counter(counts)
        difference.subtract(before.get(operation, Counter()))
        if difference["made"]:
            made[operation] = {key: difference[key] for key in ("made", "throttled", "retried")}
    return made


def run_in_process(environ: dict, selection: Selection, days: int) -> Side:
    args = {**selection.module_args(), "retention_days": days, "allow_data_loss": True}
    with environment(environ), recorded_api_calls() as calls:
        started = time.perf_counter()
        result = run_module("log_retention", args)
        elapsed = time.perf_counter() - started
    if result.get("failed") or result["summary"]["changed"] != len(selection.function_names):
        raise SystemExit(f"log_retention failed or changed too little: {result.get('msg')} {result.get('summary')}")
    made = Counter(operation for _, operation in calls)
    return Side(IN_PROCESS, elapsed,
                "the module's main(): argument checks, client set-up, every AWS call; not Python's or Ansible's start",
                {operation: {"made": count} for operation, count in made.items()})


def run_playbook(environ: dict, selection: Selection, days: int, workdir: Path) -> Side:
    playbook = workdir / "log_retention.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Set log retention", "hosts": INVENTORY_HOST, "gather_facts": False,
        "tasks": [{"name": "Set the groups' retention", "tap.lambdaopt.log_retention": {
            **selection.module_args(), "retention_days": days, "allow_data_loss": True}}],
    }], sort_keys=False))
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, **environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "ANSIBLE_FORCE_COLOR": "0"}
    started = time.perf_counter()
    finished = subprocess.run([str(Path(bin_dir) / "ansible-playbook"), str(playbook)], cwd=ROOT, env=env,
                              capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if finished.returncode != 0:
        raise SystemExit(f"ansible-playbook failed:\n{finished.stdout[-3000:]}\n{finished.stderr[-3000:]}")
    return Side(PLAYBOOK, elapsed,
                "the whole command: Ansible's start, inventory and playbook parsing, the module's transfer and run")


def run_custodian(executable: Path, environ: dict, selection: Selection, days: int, workdir: Path) -> Side:
    policy = workdir / "retention.yml"
    policy.write_text(yaml.safe_dump({"policies": [{
        "name": "log-retention", "resource": "log-group", "filters": [selection.custodian_filter()],
        "actions": [{"type": "retention", "days": days}],
    }]}, sort_keys=False))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(workdir), **environ}
    started = time.perf_counter()
    # --cache-period 0: custodian otherwise answers a second run within 15 minutes from its cache of resources.
    finished = subprocess.run([str(executable), "run", "--cache-period", "0", "--region", environ["AWS_REGION"],
                               "-s", str(workdir / "custodian-output"), str(policy)],
                              env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if finished.returncode != 0:
        raise SystemExit(f"custodian run failed:\n{finished.stdout[-3000:]}\n{finished.stderr[-3000:]}")
    return Side("Cloud Custodian (custodian run, retention action)", elapsed,
                "the whole command: Python's start, loading c7n, validating the policy, DescribeLogGroups, the tag "
                "lookup it makes for every resource, the action")


def quota_floor(groups: int, setting: dict) -> float | None:
    """The least time `groups` PutRetentionPolicy calls can take under quota mode `setting`: the bucket's burst at
    once, the rest at its rate (tools/aws_quotas.yaml); None without quotas."""
    if setting.get("quotas") != AWS:
        return None
    quota = next(quota for quota in load_quotas().quotas if "PutRetentionPolicy" in quota.operations)
    scale = float(setting.get("scale", 1.0))
    burst = max(1.0, quota.burst * scale)
    return max(0.0, groups - burst) / (quota.rate_in(DEFAULT_REGION) * scale)


def compare_retention(emulator_endpoint: str, groups: int, days: int = 7, *, suffix: str = SUFFIX,
                      quotas: str | None = AS_STARTED, in_process: bool = True) -> dict:
    """Time log_retention and Cloud Custodian's `retention` action setting `days` on the same `groups` log groups
    (/aws/lambda/<function>) of the emulator at `emulator_endpoint`, each from every group kept forever, and check
    that both did exactly that. The groups are those of the first `groups` functions whose names end in `-{suffix}`
    (a provisioned fleet's, e.g. tools.baseline's synthetic functions), made where there are fewer.

    `quotas`: the emulator's quota mode for the timed runs ("aws" or None); by default the one it is in. Each timed
    run starts with the quotas' buckets full; setting up, resetting and reading back run without quotas (they are
    not measured) and the emulator's mode is put back at the end. `in_process`: also time the module run in this
    process (it changes os.environ while it runs)."""
    require_local_endpoint({"AWS_ENDPOINT_URL": emulator_endpoint})
    session = emulator_session(emulator_endpoint)
    logs = session.client("logs", config=PATIENT)
    control = EmulatorControl(emulator_endpoint)
    timed_setting = control.original if quotas == AS_STARTED else {"quotas": quotas, "scale": 1.0}
    # The collection paces its calls to AWS's request quotas; against an emulator that enforces none, pacing is
    # turned off, as for any such endpoint, so that neither side waits for a quota that is not there.
    paced = bool(timed_setting["quotas"]) or not control.available
    environ = {**emulator_environ(emulator_endpoint), PACING_SWITCH: "on" if paced else "off"}
    unmetered = {"quotas": None, "scale": 1.0}
    executable = custodian_executable()
    version = custodian_version(executable)
    sides = []
    try:
        control.set_quotas(unmetered)
        names, whole_fleet = ensure_fleet(session, groups, suffix)
        selection = Selection(names, suffix, whole_fleet)
        with tempfile.TemporaryDirectory(prefix="custodian-benchmark-") as scratch:
            workdir = Path(scratch)
            runners = [lambda: run_playbook(environ, selection, days, workdir),
                       lambda: run_custodian(executable, environ, selection, days, workdir)]
            if in_process:
                runners.insert(0, lambda: run_in_process(environ, selection, days))
            for runner in runners:
                reset(logs, selection.group_names)
                before = read_retention(logs)
                control.set_quotas(timed_setting)
                ledger_before = control.calls()
                side = runner()
                if control.available:
                    side.calls = calls_since(ledger_before, control.calls())
                control.set_quotas(unmetered)
                verify(side.label, before, read_retention(logs), selection.group_names, days)
                sides.append(side)
    finally:
        control.set_quotas(control.original)
    ours = {side.label: side for side in sides[:-1]}
    custodian = sides[-1]
    result = {
        "groups": groups, "days": days, "custodian_version": version,
        "quotas": timed_setting["quotas"] if control.available else "none (the emulator has no quota mode)",
        "pacing": environ[PACING_SWITCH],
        "quota_floor_seconds": quota_floor(groups, timed_setting) if control.available else None,
        "selection": "suffix" if whole_fleet else "list of names",
        "sides": [side.as_dict() for side in sides],
        "ratio": round(ours[PLAYBOOK].seconds / custodian.seconds, 3),
    }
    if IN_PROCESS in ours:
        result["ratio_in_process"] = round(ours[IN_PROCESS].seconds / custodian.seconds, 3)
    return result


def render(result: dict) -> str:
    lines = [f"{result['groups']} log groups set to {result['days']} days, each side from never expire; quota mode: "
             f"{result['quotas']}; log_retention's pacing to AWS's quotas: {result['pacing']}; Cloud Custodian "
             f"{result['custodian_version']}", ""]
    for side in result["sides"]:
        lines.append(f"{side['label']:<52} {side['seconds']:8.2f} s")
        lines.append(f"    includes: {side['includes']}")
        if side["calls"]:
            made = sum(counts["made"] for counts in side["calls"].values())
            throttled = sum(counts.get("throttled", 0) for counts in side["calls"].values())
            by_operation = ", ".join(
                f"{operation} {counts['made']}" + (f" ({counts['throttled']} throttled)" if counts.get("throttled")
                                                   else "")
                for operation, counts in sorted(side["calls"].items(), key=lambda item: -item[1]["made"]))
            lines.append(f"    calls: {made} ({made / result['groups']:.2f} per group, {throttled} throttled): "
                         f"{by_operation}")
    lines.append("")
    if result["quota_floor_seconds"] is not None:
        lines.append(f"PutRetentionPolicy's quota allows no faster than {result['quota_floor_seconds']:.1f} s for "
                     f"{result['groups']} groups (its burst at once, the rest at its rate)")
    lines.append(f"ratio, log_retention (ansible-playbook) / custodian run: {result['ratio']:.2f}")
    if "ratio_in_process" in result:
        lines.append(f"ratio, log_retention (module run in this process) / custodian run: "
                     f"{result['ratio_in_process']:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.custodian_benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--quotas", choices=["aws", "off", "both"], default="aws",
                        help="the emulator's quota mode for the timed runs (both: one comparison in each)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    modes = {"aws": ["aws"], "off": [None], "both": [None, "aws"]}[args.quotas]
    with Emulator() as emulator:
        for quotas in modes:
            result = compare_retention(emulator.endpoint, args.groups, args.days, quotas=quotas)
            print(json.dumps(result, indent=2) if args.json else render(result) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
