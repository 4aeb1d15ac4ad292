"""What AWX / Automation Platform needs: the execution environment's build context, the configuration
as code, and the playbook run by ansible-runner as AWX runs it, with the savings in the artifacts and
no secret in them."""

import json
import os
import shutil
from pathlib import Path

import yaml

from tests.test_setup import BIN, ROOT, run
from tools import baseline, simulator

AWS_SECRET = "runner-test-aws-secret-0f4c1e9b7d2a"
VAULTED_VALUE = "postgres://lambdaopt:runner-test-password-8c31@db.internal:5432/app"


def provision_with_usage(aws, suffix: str) -> None:
    """The baseline fleet of a suffix, with two weeks of simulated usage to optimize."""
    baseline.provision(aws, suffix)
    simulator.simulate_fleet(aws, suffix, traffic_scale=0.25)


def runner_events(artifacts: Path) -> list[dict]:
    """The events of one ansible-runner run (its artifacts/<ident> directory)."""
    return [json.loads(path.read_text()) for path in sorted((artifacts / "job_events").glob("*.json"))]


def published_savings(events: list[dict]) -> dict:
    """What the playbook published with set_stats: each host's savings, from the playbook_on_stats event."""
    [stats] = [event for event in events if event["event"] == "playbook_on_stats"]
    return stats["event_data"]["artifact_data"]["lambdaopt_savings"]


def artifacts_holding(private: Path, text: str) -> list[Path]:
    """The files of ansible-runner's artifacts under a private data directory that hold the text."""
    return [path for path in private.rglob("*")
            if path.is_file() and "artifacts" in path.parts and text in path.read_text(errors="replace")]


def test_ansible_builder_writes_the_execution_environment_build_context(tmp_path):
    context = tmp_path / "context"
    result = run(["ansible-builder", "create", "-f", "execution-environment.yml", "-c", str(context)])
    assert result.returncode == 0, result.stdout + result.stderr
    [build_file] = [path for path in context.iterdir() if path.name in ("Containerfile", "Dockerfile")]
    assert "ansible-galaxy" in build_file.read_text() and "quay.io/centos/centos:stream9" in build_file.read_text()
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert [entry["name"] for entry in galaxy["collections"]] == ["amazon.aws"]
    assert "boto3==" in (context / "_build" / "requirements.txt").read_text()


def test_the_awx_configuration_is_a_valid_playbook():
    result = run(["ansible-playbook", "--syntax-check", "awx/configure.yml"])
    assert result.returncode == 0, result.stdout + result.stderr
    templates = yaml.safe_load((ROOT / "awx" / "configure.yml").read_text())[0]["tasks"]
    [job_templates] = [task for task in templates if "awx.awx.job_template" in task]
    assert {item["job_type"] for item in job_templates["loop"]} == {"run", "check"}


def test_ansible_runner_artifacts_carry_the_savings_and_no_secret(emulator, aws, tmp_path):
    provision_with_usage(aws, "dev")
    private = tmp_path / "runner"
    (private / "inventory").mkdir(parents=True)
    shutil.copy(ROOT / "inventories" / "local" / "hosts.yml", private / "inventory" / "hosts.yml")
    shutil.copytree(ROOT / "inventories" / "local" / "group_vars", private / "inventory" / "group_vars")
    # A secret wired in from (what would be) a vaulted variable.
    (private / "inventory" / "host_vars").mkdir()
    (private / "inventory" / "host_vars" / "emulator-us-east-1.yml").write_text(yaml.safe_dump(
        {"lambdaopt_secrets": [{"env": "DATABASE_URL", "value": VAULTED_VALUE}]}))
    # Credentials as AWX's Amazon Web Services credential injects them: environment variables.
    environment = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "HOME": os.environ.get("HOME", str(tmp_path)),
                   "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
                   "AWS_ENDPOINT_URL": emulator.endpoint, "AWS_DEFAULT_REGION": "us-east-1",
                   "ANSIBLE_DEPRECATION_WARNINGS": "false"}

    result = run(["ansible-runner", "run", str(private), "--project-dir", str(ROOT), "-p", "playbooks/optimize.yml",
                  "--ident", "optimize", "--cmdline", f"-e suffix=dev -e lambdaopt_report_dir={tmp_path / 'reports'} "
                  f"-e lambdaopt_record_dir={tmp_path / 'records'} -e lambdaopt_journal_dir={tmp_path / 'journals'}"],
                 env=environment)

    artifacts = private / "artifacts" / "optimize"
    assert result.returncode == 0 and (artifacts / "rc").read_text() == "0", (artifacts / "stdout").read_text()[-3000:]
    events = runner_events(artifacts)
    savings = published_savings(events)["emulator-us-east-1"]
    assert savings["mode"] == "applied" and savings["functions"] == 6 and savings["changes"] > 0
    assert "net_monthly_savings" in savings and "headline" in savings
    secrets_task = [event for event in events if event["event"] == "runner_on_ok"
                    and event["event_data"].get("task", "").startswith("Wire secrets")]
    assert secrets_task and secrets_task[0]["event_data"]["res"]["changed"]  # the secret did go through
    # ansible-runner records the environment it started ansible-playbook with in artifacts/<ident>/command,
    # readable by its owner only; nothing the playbook writes (events, stdout, set_stats) holds a secret.
    launch_record = artifacts / "command"
    assert launch_record.stat().st_mode & 0o077 == 0
    assert set(artifacts_holding(private, AWS_SECRET)) <= {launch_record}
    assert artifacts_holding(private, VAULTED_VALUE) == [] and artifacts_holding(private, "runner-test-password") == []
