"""A run killed at any moment loses nothing: optimize.yml is SIGKILLed (its whole process group, as when an AWX job
is cancelled or its node dies) at chosen points, found by watching its journal and its output; rollback.yml then
puts the baseline back field by field from the journal the killed run left, and a rerun converges. Two runs, the
second after a killed first, still roll back to the original baseline (-e original=true)."""

import contextlib
import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.test_setup import BIN, ROOT, run
from tools import baseline, fleet_view, simulator

HOST = "emulator-us-east-1"
LOCK = "/tap-lambdaopt/run-lock"
DEADLINE_SECONDS = 240


def journal_entries(directory) -> list:
    """Every whole line of every journal of the host, oldest run first (a line being written is left out)."""
    entries = []
    for path in sorted((directory / HOST).glob("lambdaopt-journal-*.jsonl")):
        text = path.read_text()
        entries += [json.loads(line) for line in text[:text.rfind("\n") + 1].splitlines()]
    return entries


def intents(entries: list, field: str) -> list:
    return [entry for entry in entries if entry["event"] == "intent" and field in entry["fields"]]


def done(entries: list, field: str) -> list:
    finished = {entry["intent"] for entry in entries if entry["event"] == "done"}
    return [entry for entry in intents(entries, field) if entry["digest"] in finished]


def descendants(pid: int) -> list:
    children: dict = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = (Path("/proc") / entry / "stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL the playbook and every process under it, as a lost node would: its module processes run in
    sessions of their own, beyond its process group. Stopped first, so that none of them starts another or
    slips away to init between the listing and the kill."""
    os.killpg(pid, signal.SIGSTOP)
    tree = [pid]
    while True:
        found = [child for child in descendants(pid) if child not in tree]
        if not found:
            break
        for child in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGSTOP)
        tree += found
    for process in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process, signal.SIGKILL)
    os.killpg(pid, signal.SIGKILL)


class Optimize:
    """optimize.yml running in its own process group, its output in a file the test can watch."""

    def __init__(self, emulator, tmp_path, name: str):
        self.tmp_path = tmp_path
        self.journals = tmp_path / "journals"
        self.records = tmp_path / "records"
        self.output = tmp_path / f"{name}.log"
        environment = emulator.environ()
        environment.update(PATH=f"{BIN}{os.pathsep}{environment.get('PATH', '')}", ANSIBLE_FORCE_COLOR="0")
        with self.output.open("w") as output:
            self.process = subprocess.Popen(
                ["ansible-playbook", "playbooks/optimize.yml", "-e", "suffix=dev",
                 "-e", f"lambdaopt_journal_dir={self.journals}", "-e", f"lambdaopt_record_dir={self.records}",
                 "-e", f"lambdaopt_report_dir={tmp_path / 'reports'}"],
                cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)

    def kill_when(self, reached) -> None:
        """SIGKILL the playbook's process group as soon as `reached()` holds; fail if the run ends first."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not reached():
            assert self.process.poll() is None, "the run ended first:\n" + self.output.read_text()[-3000:]
            assert time.monotonic() < deadline, "the kill point was never reached"
            time.sleep(0.01)  # polling the condition, not waiting for it
        kill_tree(self.process.pid)
        self.process.wait(timeout=30)

    def finish(self) -> str:
        self.process.wait(timeout=300)
        text = self.output.read_text()
        assert self.process.returncode == 0, text[-3000:]
        return text


def expire_the_lock_left_behind(aws) -> None:
    """The killed run's lock is still there; move its expiry into the past, as its TTL passing would."""
    ssm = aws.client("ssm")
    lock = json.loads(ssm.get_parameter(Name=LOCK)["Parameter"]["Value"])
    lock["expires_at"] = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    ssm.put_parameter(Name=LOCK, Value=json.dumps(lock), Type="String", Overwrite=True)


def rollback(emulator, *extra):
    return run(["ansible-playbook", "playbooks/rollback.yml", *extra], env=emulator.environ())


def baseline_fleet(aws) -> dict:
    baseline.provision(aws, "dev")
    simulator.simulate_fleet(aws, "dev", days=3, traffic_scale=0.25)
    return fleet(aws)


def fleet(aws) -> dict:
    """Every setting the journal holds: each function's, and each alias's provisioned concurrency."""
    lambda_client = aws.client("lambda")
    functions = {state.name: state for state in fleet_view.describe(aws, "dev")}
    provisioned = {
        f"{name}:{config['FunctionArn'].rsplit(':', 1)[-1]}": config["RequestedProvisionedConcurrentExecutions"]
        for name in functions
        for config in lambda_client.list_provisioned_concurrency_configs(FunctionName=name)[
            "ProvisionedConcurrencyConfigs"]}
    return {"functions": functions, "provisioned_concurrency": provisioned}


def check_the_rerun_converges(emulator, aws, tmp_path):
    rerun = Optimize(emulator, tmp_path, "rerun")
    rerun.finish()
    [path] = (tmp_path / "records").glob("lambdaopt-changes-*.json")
    record = json.loads(path.read_text())
    assert record["failed"] == [], record["failed"]
    now = fleet(aws)["functions"]
    views = {"memory_size": "memory_size", "timeout": "timeout", "tracing_mode": "tracing",
             "reserved_concurrency": "reserved_concurrency", "dead_letter_target": "dead_letter_target"}
    for change in record["changes"]:
        if change["field"] in views:
            assert getattr(now[change["function_name"]], views[change["field"]]) == change["after"], change
    assert {state.tracing for state in now.values()} == {"Active"}
    # and every change the rerun announced, Lambda accepted
    entries = journal_entries(tmp_path / "journals")
    announced = [entry for entry in entries if entry["event"] == "intent"]
    assert announced and len({entry["intent"] for entry in entries if entry["event"] == "done"}) == len(announced)


KILL_POINTS = {
    # The first right-sizing change announced: killed while its call is under way, or just after.
    "during right-sizing": lambda run: intents(journal_entries(run.journals), "memory_size"),
    # One function right-sized and accepted, others still to come.
    "between two functions' updates": lambda run: done(journal_entries(run.journals), "memory_size"),
    "during hardening": lambda run: intents(journal_entries(run.journals), "tracing_mode"),
    "while the record is written": lambda run: "TASK [Record every change" in run.output.read_text(),
}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_run_killed_at_any_point_is_rolled_back_to_the_baseline_and_a_rerun_converges(emulator, aws, tmp_path,
                                                                                       point):
    before = baseline_fleet(aws)
    killed = Optimize(emulator, tmp_path, "killed")
    killed.kill_when(lambda: KILL_POINTS[point](killed))

    [journal] = (killed.journals / HOST).glob("lambdaopt-journal-*.jsonl")
    assert intents(journal_entries(killed.journals), "memory_size")
    # A record, if any, is whole: it is written to a temporary file and renamed.
    for path in killed.records.glob("*.json") if killed.records.exists() else []:
        json.loads(path.read_text())
    expire_the_lock_left_behind(aws)

    rolled_back = rollback(emulator, "-e", f"journal={journal}")
    assert rolled_back.returncode == 0, rolled_back.stdout[-3000:] + rolled_back.stderr[-2000:]
    assert "took over the expired lock" in rolled_back.stdout + rolled_back.stderr
    # field by field: memory, timeout, retention, tracing, dead-letter, reservation, provisioned concurrency
    assert fleet(aws) == before
    again = rollback(emulator, "-e", f"journal={journal}")
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-3000:]

    for path in (killed.records.glob("*.json") if killed.records.exists() else []):
        path.unlink()
    for path in (killed.journals / HOST).glob("*.jsonl"):
        path.unlink()
    check_the_rerun_converges(emulator, aws, tmp_path)


def test_two_runs_the_second_after_a_killed_first_roll_back_to_the_original_baseline(emulator, aws, tmp_path):
    before = baseline_fleet(aws)
    killed = Optimize(emulator, tmp_path, "killed")
    killed.kill_when(lambda: len(done(journal_entries(killed.journals), "memory_size")) >= 1)
    lowered = {name for name, state in fleet(aws)["functions"].items()
               if state.memory_size != before["functions"][name].memory_size}
    assert lowered  # the killed run changed functions that no record holds
    expire_the_lock_left_behind(aws)

    second = Optimize(emulator, tmp_path, "second")
    output = second.finish()
    assert "took over the expired lock" in output
    after_second = fleet(aws)
    assert after_second != before
    assert len(list((tmp_path / "journals" / HOST).glob("lambdaopt-journal-*.jsonl"))) == 2

    original = ["-e", "original=true", "-e", "suffix=dev", "-e", f"lambdaopt_journal_dir={tmp_path / 'journals'}"]
    planned = rollback(emulator, *original, "--check")
    assert planned.returncode == 0 and "changed=1" in planned.stdout, planned.stdout[-3000:]
    assert fleet(aws) == after_second
    restored = rollback(emulator, *original)
    assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-2000:]
    assert fleet(aws) == before
    for name in lowered:
        assert fleet(aws)["functions"][name].memory_size == before["functions"][name].memory_size == 3008
