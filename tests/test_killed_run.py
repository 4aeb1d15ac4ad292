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

from tests.conftest import account_state
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
    """The intents to change a function setting `field` (other intents name a subject and hold no fields)."""
    return [entry for entry in entries if entry["event"] == "intent" and field in entry.get("fields", {})]


def announced(entries: list, subject: str) -> list:
    return [entry for entry in entries if entry["event"] == "intent" and entry.get("subject") == subject]


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

    def __init__(self, emulator, tmp_path, name: str, *extra):
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
                 "-e", f"lambdaopt_report_dir={tmp_path / 'reports'}", *extra],
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
    """Everything the journal holds and rollback puts back: each function's settings and environment, each alias's
    provisioned concurrency, the role policies of the functions' roles (documents), the alarms and the tables.
    Queues and secrets a run creates are kept by a rollback, so they are not compared."""
    lambda_client, iam = aws.client("lambda"), aws.client("iam")
    functions = {state.name: state for state in fleet_view.describe(aws, "dev")}
    provisioned = {
        f"{name}:{config['FunctionArn'].rsplit(':', 1)[-1]}": config["RequestedProvisionedConcurrentExecutions"]
        for name in functions
        for config in lambda_client.list_provisioned_concurrency_configs(FunctionName=name)[
            "ProvisionedConcurrencyConfigs"]}
    configurations = {name: lambda_client.get_function_configuration(FunctionName=name) for name in functions}
    policies = {(role, policy): iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
                for role in sorted({configuration["Role"].rsplit("/", 1)[-1]
                                    for configuration in configurations.values()})
                for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]}
    state = account_state(aws)
    return {"functions": functions, "provisioned_concurrency": provisioned,
            "environment": {name: configuration.get("Environment", {}).get("Variables", {})
                            for name, configuration in configurations.items()},
            "role_policies": policies, "alarms": sorted(state["alarms"]), "tables": state["tables"]}


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
    # Wiring the first secret into a function: tracing, dead-letter queues and alarms done, role policies granted,
    # the secret and the queue made.
    "during hardening": lambda run: intents(journal_entries(run.journals), "environment"),
    "while the record is written": lambda run: "TASK [Record every change" in run.output.read_text(),
}
# The rollback puts the baseline back exactly (asserted before the rerun); what a rerun meets then differs only by what
# a rollback keeps - the queue and the secret the killed run made - so a point before them and one after suffice.
RERUN_AFTER = ("between two functions' updates", "during hardening")
SECRETS = ["-e", json.dumps({"lambdaopt_secrets": [{"env": "KILLED_RUN_TOKEN", "value": "killed-run-token-0001"}]})]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_run_killed_at_any_point_is_rolled_back_to_the_baseline_and_a_rerun_converges(emulator, aws, tmp_path,
                                                                                       point):
    before = baseline_fleet(aws)
    killed = Optimize(emulator, tmp_path, "killed", *SECRETS)
    killed.kill_when(lambda: KILL_POINTS[point](killed))

    [journal] = (killed.journals / HOST).glob("lambdaopt-journal-*.jsonl")
    entries = journal_entries(killed.journals)
    assert intents(entries, "memory_size")
    if point == "during hardening":
        # what only the journal holds of the hardening, the record never written
        assert not killed.records.exists() or not list(killed.records.glob("*.json"))
        assert {entry["policy_name"] for entry in announced(entries, "role_policy")} >= {
            "lambdaopt-xray-write", "lambdaopt-dlq-send", "lambdaopt-secrets-read"}
        assert announced(entries, "alarm") and fleet(aws)["alarms"] != before["alarms"]
        assert {entry["resource_kind"] for entry in announced(entries, "resource")} == {"sqs_queue", "secret"}
        assert "killed-run-token-0001" not in journal.read_text()
    # A record, if any, is whole: it is written to a temporary file and renamed.
    for path in killed.records.glob("*.json") if killed.records.exists() else []:
        json.loads(path.read_text())
    expire_the_lock_left_behind(aws)

    rolled_back = rollback(emulator, "-e", f"journal={journal}")
    assert rolled_back.returncode == 0, rolled_back.stdout[-3000:] + rolled_back.stderr[-2000:]
    assert "took over the expired lock" in rolled_back.stdout + rolled_back.stderr
    # field by field: memory, timeout, retention, tracing, dead-letter, reservation, provisioned concurrency, the
    # secrets' variables, role policies, alarms and tables
    assert fleet(aws) == before
    again = rollback(emulator, "-e", f"journal={journal}")
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-3000:]

    if point in RERUN_AFTER:
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
    host_journals = tmp_path / "journals" / HOST
    journals = sorted(host_journals.glob("lambdaopt-journal-*.jsonl"))
    assert len(journals) == 2

    # A journal is rolled back only as the suffix its name claims, and only if what it names carries that suffix.
    refused = rollback(emulator, "-e", f"journal={journals[0]}", "-e", "suffix=prod")
    assert refused.returncode != 0 and "is of suffix dev (its name says so), not prod" in refused.stdout, \
        refused.stdout[-3000:]
    misnamed = host_journals / journals[0].name.replace("-dev.jsonl", "-prod.jsonl")
    misnamed.write_text(journals[0].read_text())
    refused = rollback(emulator, "-e", f"journal={misnamed}")
    assert refused.returncode != 0 and "said to be of suffix 'prod', but names function" in refused.stdout, \
        refused.stdout[-3000:]
    misnamed.unlink()
    assert fleet(aws) == after_second

    original = ["-e", "original=true", "-e", "suffix=dev", "-e", f"lambdaopt_journal_dir={tmp_path / 'journals'}"]
    planned = rollback(emulator, *original, "--check")
    assert planned.returncode == 0 and "changed=1" in planned.stdout, planned.stdout[-3000:]
    assert fleet(aws) == after_second
    restored = rollback(emulator, *original)
    assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-2000:]
    assert fleet(aws) == before
    for name in lowered:
        assert fleet(aws)["functions"][name].memory_size == before["functions"][name].memory_size == 3008

    # The fleet is back at its baseline, so the journals that led there are retired, not deleted...
    assert sorted(path.name for path in host_journals.iterdir()) == [path.name + ".rolled-back" for path in journals]
    # ...until optimize.yml finds them retired for lambdaopt_journal_keep_days, for its own suffix only; a live
    # journal it never deletes.
    retired, live = (host_journals / "lambdaopt-journal-20260101T000000000000Z-idle.jsonl.rolled-back",
                     host_journals / "lambdaopt-journal-20260102T000000000000Z-idle.jsonl")
    text = (host_journals / (journals[0].name + ".rolled-back")).read_text()
    retired.write_text(text)
    live.write_text(text)
    pruned = run(["ansible-playbook", "playbooks/optimize.yml", "-e", "suffix=idle",
                  "-e", "lambdaopt_journal_keep_days=0", "-e", f"lambdaopt_journal_dir={tmp_path / 'journals'}"],
                 env=emulator.environ())
    assert pruned.returncode == 0, pruned.stdout[-3000:]
    assert not retired.exists() and live.exists()
    assert len(list(host_journals.glob("*-dev.jsonl.rolled-back"))) == 2
