"""Two runs on one account-region at once: the second stops before changing anything, naming the first; a dry run
goes on; a finished run leaves no lock behind."""

import json

from tests.test_setup import run
from tools import baseline, fleet_view

LOCK = "/tap-lambdaopt/run-lock"


def test_a_run_stops_while_another_holds_the_lock_and_leaves_none_behind(emulator, aws, tmp_path):
    baseline.provision(aws, "dev")
    before = fleet_view.describe(aws, "dev")
    ssm = aws.client("ssm")
    ssm.put_parameter(Name=LOCK, Type="String", Value=json.dumps({
        "holder": "awx-job-4711", "acquired_at": "2026-11-30T06:00:00+00:00",
        "expires_at": "2099-01-01T00:00:00+00:00", "purpose": "optimize dev"}))
    options = ["-e", "suffix=dev", "-e", f"lambdaopt_report_dir={tmp_path}",
               "-e", f"lambdaopt_record_dir={tmp_path / 'records'}",
               "-e", f"lambdaopt_journal_dir={tmp_path / 'journals'}"]

    blocked = run(["ansible-playbook", "playbooks/optimize.yml", *options], env=emulator.environ())
    assert blocked.returncode != 0
    assert "another run holds the lock /tap-lambdaopt/run-lock: awx-job-4711" in blocked.stdout
    assert fleet_view.describe(aws, "dev") == before and not (tmp_path / "records").exists()

    dry = run(["ansible-playbook", "playbooks/optimize.yml", *options, "--check"], env=emulator.environ())
    assert dry.returncode == 0, dry.stdout[-3000:]
    assert "awx-job-4711" in dry.stderr  # warned: another run may change what this plan saw

    ssm.delete_parameter(Name=LOCK)
    applied = run(["ansible-playbook", "playbooks/optimize.yml", *options], env=emulator.environ())
    assert applied.returncode == 0, applied.stdout[-3000:]
    assert "ParameterNotFound" not in applied.stdout
    try:
        ssm.get_parameter(Name=LOCK)
        raise AssertionError("the run left its lock behind")
    except ssm.exceptions.ParameterNotFound:
        pass
