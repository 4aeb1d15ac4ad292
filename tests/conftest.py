"""Shared fixtures: one emulator for the whole test session, reset before each test that uses it."""

import io
import json
import os
import zipfile

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import pacing
from ansible_collections.tap.lambdaopt.plugins.module_utils._dynamodb.api import table_settings
from botocore.config import Config

from tests.test_setup import run
from tools import baseline, fleet_view, simulator
from tools.emulator import Emulator

# The collection paces its calls to AWS's request quotas (module_utils/pacing.py). The emulator enforces none outside
# its quota mode, where pacing would only slow the suite (PutMetricAlarm's quota is 3 a second); the tests of pacing
# switch it back on, and the benchmark runs paced against the emulator's quota mode. Playbooks inherit it.
os.environ[pacing.SWITCH] = "off"


def pytest_collection_modifyitems(items):
    """The chaos scenario first: it is the longest test by far, so under pytest-xdist it must start at once for the
    whole suite to finish soonest."""
    items.sort(key=lambda item: item.get_closest_marker("chaos") is None)


@pytest.fixture(scope="session")
def emulator():
    with Emulator() as running:
        yield running


@pytest.fixture
def aws(emulator):
    """A boto3 session on a freshly reset emulator."""
    emulator.reset()
    return emulator.session()


def _tiny_package() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


@pytest.fixture
def make_function(aws):
    """Create a bare function (and its role) in the emulator; returns its configuration."""
    iam = aws.client("iam")
    # Without botocore's own checks, out-of-range values reach the emulator, as tests of its limits need.
    lambda_ = aws.client("lambda", config=Config(parameter_validation=False))
    role_arn = iam.create_role(
        RoleName="test-function-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]

    def create(name: str, active: bool = False, **settings) -> dict:
        """`active`: wait until Lambda has created it (a new function is Pending, and cannot be updated yet)."""
        created = lambda_.create_function(
            FunctionName=name,
            Role=role_arn,
            Runtime="python3.12",
            Handler="handler.handler",
            Code={"ZipFile": _tiny_package()},
            **settings,
        )
        if active:
            lambda_.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
        return created

    return create


def account_state(aws, suffix="dev"):
    """Everything the optimizer may touch, as plain data."""
    lambda_client, iam, cloudwatch = aws.client("lambda"), aws.client("iam"), aws.client("cloudwatch")
    functions = {}
    for state in fleet_view.describe(aws, suffix):
        configuration = lambda_client.get_function_configuration(FunctionName=state.name)
        role = configuration["Role"].rsplit("/", 1)[-1]
        functions[state.name] = {
            "view": state,
            "environment": configuration.get("Environment", {}).get("Variables", {}),
            "role_policies": sorted(iam.list_role_policies(RoleName=role)["PolicyNames"]),
        }
    alarms = [alarm["AlarmName"] for alarm in cloudwatch.describe_alarms()["MetricAlarms"]]
    provisioned = {
        config["FunctionArn"].split(":", 6)[-1]: config["RequestedProvisionedConcurrentExecutions"]
        for name in functions
        for config in lambda_client.list_provisioned_concurrency_configs(FunctionName=name)[
            "ProvisionedConcurrencyConfigs"]
    }
    dynamodb = aws.client("dynamodb")
    tables = {name: table_settings(dynamodb.describe_table(TableName=name)["Table"])
              for name in dynamodb.list_tables()["TableNames"] if name.endswith(f"-{suffix}")}
    return {"functions": functions, "alarms": alarms, "provisioned_concurrency": provisioned, "tables": tables}


@pytest.fixture
def optimized(emulator, aws, tmp_path):
    """(baseline state, change record path) after a real run of optimize.yml with secrets wired in."""
    baseline.provision(aws, "dev")
    simulator.simulate_fleet(aws, "dev", traffic_scale=0.25)
    before = account_state(aws)
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"lambdaopt_secrets": [{"env": "API_KEY", "value": "rollback-test-api-key-1234"}]}))
    result = run(["ansible-playbook", "playbooks/optimize.yml", "-e", "suffix=dev", "-e", f"@{secrets}",
                  "-e", f"lambdaopt_record_dir={tmp_path / 'records'}",
                  "-e", f"lambdaopt_journal_dir={tmp_path / 'journals'}",
                  "-e", f"lambdaopt_report_dir={tmp_path / 'reports'}"], env=emulator.environ())
    assert result.returncode == 0, result.stdout[-3000:]
    [record] = (tmp_path / "records").glob("lambdaopt-changes-123456789012-us-east-1-*.json")
    return before, record
