"""playbooks/optimize.yml end to end, through ansible-playbook, against the emulator."""

import json

import pytest

from tests.test_setup import COLLECTION, run
from tools import baseline, fleet_view, simulator

PLAYBOOK = ["ansible-playbook", "playbooks/optimize.yml"]


@pytest.fixture
def simulated(aws):
    baseline.provision(aws, "dev")
    simulator.simulate_fleet(aws, "dev", traffic_scale=0.25)


# Every AWS call a dry run of the demo fleet makes (6 functions, api-handler-dev behind an alias): a regression pin.
# lambda_usage_info reads each function once and every later step plans from what it read. Per function: GetFunction,
# and GetPolicy for the function and for each alias; ListAliases and ListProvisionedConcurrencyConfigs only for a
# function that has published a version (api-handler-dev). The rest are listings of the account-region, whatever the
# fleet's size. A new call per function shows here first; pin it only if it is worth its quota.
DRY_RUN_CALLS = {
    "lambda": {"ListFunctions": 3, "GetFunction": 6, "GetPolicy": 7, "ListAliases": 1,
               "ListProvisionedConcurrencyConfigs": 1, "ListEventSourceMappings": 1, "GetAccountSettings": 2},
    "monitoring": {"GetMetricData": 7, "DescribeAlarms": 1},
    "logs": {"DescribeLogGroups": 2, "StartQuery": 1, "GetQueryResults": 1},
    "iam": {"ListRolePolicies": 6, "GetRolePolicy": 6},
    "sqs": {"GetQueueUrl": 2, "GetQueueAttributes": 1},
    "apigateway": {"GetRestApi": 1, "GetResources": 1},
    "dynamodb": {"ListTables": 1, "DescribeTable": 1},
    "ssm": {"GetParameter": 1},
}


def calls_made(emulator) -> dict:
    """{service: {operation: calls}} the emulator answered since its ledger was reset, in every account-region."""
    made: dict = {}
    for regions in emulator.ledger.snapshot().values():
        for services in regions.values():
            for service, operations in services.items():
                for operation, counts in operations.items():
                    made.setdefault(service, {}).setdefault(operation, 0)
                    made[service][operation] += counts["made"]
    return made


def recap(output: str) -> str:
    return output[output.index("PLAY RECAP"):]


def reports(folder, suffix):
    """The reports written into `folder`, newest last, read back from their JSON."""
    return [json.loads(path.read_text()) for path in sorted(folder.glob(f"*{suffix}.json"))]


def test_dry_run_then_apply_then_nothing_left_to_do(emulator, aws, simulated, tmp_path):
    before = fleet_view.describe(aws, "dev")
    options = ["-e", "suffix=dev", "-e", f"lambdaopt_report_dir={tmp_path}",
               "-e", f"lambdaopt_record_dir={tmp_path / 'records'}",
               "-e", f"lambdaopt_journal_dir={tmp_path / 'journals'}"]
    environment = {**emulator.environ(), "ANSIBLE_SHOW_CUSTOM_STATS": "true"}
    emulator.ledger.reset()
    dry = run([*PLAYBOOK, *options, "--check", "--diff"], env=environment)
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr
    assert calls_made(emulator) == DRY_RUN_CALLS
    # provisioned concurrency, right-sizing, retention, tracing, dead-letter queue, alarms, the data table
    assert "changed=7" in recap(dry.stdout)
    assert '"memory_size": 128' in dry.stdout and '"retention_in_days": 7' in dry.stdout  # the diff shows the plan
    assert fleet_view.describe(aws, "dev") == before
    assert not (tmp_path / "records").exists() and "not written (dry run); it would hold" in dry.stdout
    [plan] = reports(tmp_path, "-dry-run")
    assert plan["mode"] == "dry_run" and len(plan["functions"]) == 6 and plan["totals"]["changes"] > 0
    assert plan["totals"]["by_component"]["lambda"]["savings"]["expected"] > 0
    assert plan["totals"]["by_component"]["hardening"]["after"]["expected"] > 0  # alarms, X-Ray: a cost
    # The idle alias's allocation and the over-provisioned table are priced and lowered.
    assert plan["totals"]["by_component"]["provisioned_concurrency"]["savings"]["expected"] > 0
    assert plan["totals"]["by_component"]["data_store"]["savings"]["expected"] > 0
    # dev's alarms have no actions: the report and the run summary say they notify no one.
    assert [warning.split(":")[0] for warning in plan["warnings"]] == ["alarms notify no one"]
    assert "warnings: ['alarms notify no one" in dry.stdout[dry.stdout.index("TASK [Summarize]"):]

    applied = run([*PLAYBOOK, *options], env=environment)
    assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr
    [done] = reports(tmp_path, "Z")
    assert len(list((tmp_path / "records").glob("lambdaopt-changes-*.json"))) == 1
    assert done["mode"] == "applied"
    assert {row["function_name"]: row["memory_size"] for row in done["functions"]} == {
        row["function_name"]: row["memory_size"] for row in plan["functions"]}  # applied as planned
    assert "CUSTOM STATS" in applied.stdout and "net_monthly_savings" in applied.stdout  # set_stats for AWX
    assert str(tmp_path) in applied.stdout  # the summary names the report files
    after = {state.name: state for state in fleet_view.describe(aws, "dev")}
    assert after["transform-dev"].memory_size == 128 and after["transform-dev"].retention_days == 7
    assert {state.tracing for state in after.values()} == {"Active"}
    assert {state.dead_letter_target.rsplit(":", 1)[-1] for state in after.values()} == {"lambda-dlq-dev"}
    assert after["nightly-cleanup-dev"].memory_size == 3008  # too little data to decide
    assert after["batch-processor-dev"].memory_size >= 2612 * 1.3  # memory-heavy: never cut below its need
    assert done["totals"]["by_component"]["provisioned_concurrency"] == plan["totals"]["by_component"][
        "provisioned_concurrency"]
    table = aws.client("dynamodb").describe_table(TableName="data-table-dev")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"  # steady: provisioned is cheaper
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] < 100

    again_dry = run([*PLAYBOOK, *options, "--check"], env=emulator.environ())
    again = run([*PLAYBOOK, *options], env=emulator.environ())
    assert "changed=0" in recap(again_dry.stdout) and "changed=0" in recap(again.stdout)
    nothing_left = reports(tmp_path, "Z")[-1]
    assert nothing_left["totals"]["changes"] == 0 and nothing_left["totals"]["net_monthly_savings"]["expected"] == 0
    assert len(reports(tmp_path, "")) == 4  # no run overwrote another's report
    assert len(list((tmp_path / "records").glob("*.json"))) == 2  # one per real run, even a no-op


@pytest.mark.parametrize("extra", [[], ["-e", "suffix=DEV"], ["-e", "suffix=dev;rm"]])
def test_missing_or_malformed_suffix_fails_at_once(emulator, aws, extra):
    result = run([*PLAYBOOK, *extra], env=emulator.environ())
    assert result.returncode != 0
    assert "Pass the environment suffix" in result.stdout
    assert "Measure the fleet" not in result.stdout


def test_an_unknown_suffix_is_not_an_error(emulator, aws):
    result = run([*PLAYBOOK, "-e", "suffix=nosuch"], env=emulator.environ())
    assert result.returncode == 0, result.stdout[-2000:]
    assert "No functions end in -nosuch" in result.stdout


@pytest.mark.parametrize("module", sorted(path.stem for path in (COLLECTION / "plugins" / "modules").glob("*.py")))
def test_module_documentation_renders(module):
    result = run(["ansible-doc", f"tap.lambdaopt.{module}"])
    assert result.returncode == 0, result.stderr
    assert "EXAMPLES:" in result.stdout and "RETURN VALUES:" in result.stdout
    assert f"tap.lambdaopt.{module}:" in result.stdout  # examples use the FQCN
    assert "endpoint_url" in result.stdout  # amazon.aws fragments resolved
    if module not in ("savings_report", "change_record", "lambda_rollback"):  # these read results or a record
        assert "suffix" in result.stdout


def test_the_action_group_names_every_module():
    import yaml

    group = yaml.safe_load((COLLECTION / "meta" / "runtime.yml").read_text())["action_groups"]["lambdaopt"]
    modules = sorted(path.stem for path in (COLLECTION / "plugins" / "modules").glob("*.py"))
    assert sorted(group) == modules


def test_module_defaults_reach_every_module_through_the_action_group(emulator, aws, tmp_path):
    playbook = tmp_path / "group.yml"
    playbook.write_text("""
- hosts: all
  gather_facts: false
  module_defaults:
    group/tap.lambdaopt.lambdaopt:
      endpoint_url: http://127.0.0.1:9
  tasks:
    - tap.lambdaopt.lambda_usage_info:
        suffix: dev
""")
    result = run(["ansible-playbook", str(playbook)], env=emulator.environ())
    assert result.returncode != 0
    assert "http://127.0.0.1:9" in result.stdout  # the group default, not the emulator, was used


def test_ansible_lint_passes_the_production_profile():
    result = run(["ansible-lint", "--profile", "production", "--offline"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr
