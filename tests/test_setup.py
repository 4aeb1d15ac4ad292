"""The project's set-up: Ansible finds both collections, amazon.aws reaches the emulator, and the
command-line tools behave as documented."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COLLECTION = ROOT / "collections" / "ansible_collections" / "tap" / "lambdaopt"


def run(command, env=None, **kwargs):
    environment = dict(env or os.environ)
    environment["PATH"] = f"{BIN}{os.pathsep}{environment.get('PATH', '')}"
    environment["ANSIBLE_FORCE_COLOR"] = "0"
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300, **kwargs)


def test_ansible_finds_the_project_collection_and_amazon_aws():
    listed = run(["ansible-galaxy", "collection", "list", "--format", "json"])
    assert listed.returncode == 0, listed.stderr
    collections = {}
    for path, found in json.loads(listed.stdout).items():
        for name in found:
            collections[name] = path
    assert collections["tap.lambdaopt"] == str(COLLECTION.parent.parent)
    assert "amazon.aws" in collections and "site-packages" in collections["amazon.aws"]


def test_requirements_name_amazon_aws_and_never_the_project_collection():
    required = {entry["name"] for entry in yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]}
    assert "amazon.aws" in required and "tap.lambdaopt" not in required
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    assert "amazon.aws" in galaxy["dependencies"]


def test_amazon_aws_modules_reach_the_emulator(emulator, aws):
    result = run(["ansible", "emulator-us-east-1", "-m", "amazon.aws.aws_caller_info"], env=emulator.environ())
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"account": "123456789012"' in result.stdout


def test_baseline_playbook_provisions_the_fleet_once(emulator, aws):
    command = ["ansible-playbook", "playbooks/baseline.yml", "-e", "suffix=dev"]
    first = run(command, env=emulator.environ())
    assert first.returncode == 0, first.stdout + first.stderr
    assert "changed=1" in first.stdout
    names = {f["FunctionName"] for f in aws.client("lambda").list_functions()["Functions"]}
    assert {"api-handler-dev", "transform-dev", "batch-processor-dev"} <= names
    second = run(command, env=emulator.environ())
    assert second.returncode == 0 and "changed=0" in second.stdout


@pytest.mark.parametrize("extra", [[], ["-e", "suffix=Dev_1"]])
def test_baseline_playbook_refuses_a_missing_or_malformed_suffix(emulator, aws, extra):
    result = run(["ansible-playbook", "playbooks/baseline.yml", *extra], env=emulator.environ())
    assert result.returncode != 0
    assert "Pass the environment suffix" in result.stdout
    assert aws.client("lambda").list_functions()["Functions"] == []


def test_tools_refuse_to_write_anywhere_but_the_emulator():
    environment = {**os.environ, "AWS_ENDPOINT_URL": "https://lambda.us-east-1.amazonaws.com"}
    for tool in (["tools.baseline", "provision", "--suffix", "dev"], ["tools.simulator", "--suffix", "dev"]):
        result = run([sys.executable, "-m", *tool], env=environment)
        assert result.returncode != 0 and "must point at the local emulator" in result.stderr


def test_emulator_starts_in_the_background_and_stops(tmp_path):
    state = tmp_path / "emulator.json"
    started = run([sys.executable, "-m", "tools.emulator", "start", "--state-file", str(state)])
    assert started.returncode == 0, started.stderr
    endpoint = started.stdout.strip()
    assert endpoint.startswith("http://127.0.0.1:") and json.loads(state.read_text())["endpoint"] == endpoint
    # The patched emulator answers GetAccountSettings, which plain moto cannot.
    environment = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                   "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    answered = run([sys.executable, "-c", "import boto3; print(boto3.client('lambda').get_account_settings()"
                    "['AccountLimit']['UnreservedConcurrentExecutions'])"], env=environment)
    assert answered.stdout.strip() == "1000", answered.stderr
    assert run([sys.executable, "-m", "tools.emulator", "stop", "--state-file", str(state)]).returncode == 0
    assert not state.exists()
    refused = run([sys.executable, "-c", "import boto3; boto3.client('lambda').list_functions()"], env=environment)
    assert refused.returncode != 0 and "Could not connect" in refused.stderr


def test_molecule_leaves_the_collection_source_alone():
    def tree():
        return {str(path.relative_to(COLLECTION)): path.read_bytes() for path in COLLECTION.rglob("*")
                if path.is_file() and "__pycache__" not in path.parts}

    before = tree()
    for scenario in ("default", "dry_run"):
        result = run(["molecule", "dependency", "--scenario-name", scenario])
        assert result.returncode == 0, result.stdout + result.stderr
    assert tree() == before
    assert not (ROOT / "collections" / "ansible_collections" / "amazon").exists()  # nothing installed beside it
