"""A run's change record carried into the Pulumi stack config: the program then declares exactly the
optimized settings, so the next `pulumi up` keeps them instead of restoring the baseline."""

import json
import shutil

import pytest
import yaml

from tests.pulumi.mocks import declare, of_type
from tests.test_setup import ROOT, run
from tools import fleet_view, pulumi_config


def check_the_record_carried_into_the_stack_declares_the_fleet(aws, record, tmp_path):
    """Record -> stack config -> program: the program declares the fleet as it is now. Run on the optimized fleet of
    tests/test_rollback.py, which one real run serves both."""
    stack_file = tmp_path / "Pulumi.dev.yaml"
    shutil.copy(ROOT / "infra_pulumi" / "Pulumi.dev.yaml", stack_file)

    result = run(["ansible-playbook", "playbooks/pulumi_config.yml", "-e", f"record={record}", "-e", "stack=dev",
                  "-e", f"lambdaopt_stack_file={stack_file}"])
    assert result.returncode == 0 and "changed=1" in result.stdout, result.stdout[-3000:]
    again = run(["ansible-playbook", "playbooks/pulumi_config.yml", "-e", f"record={record}", "-e", "stack=dev",
                 "-e", f"lambdaopt_stack_file={stack_file}"])
    assert "changed=0" in again.stdout  # the same record twice: nothing more to carry
    text = stack_file.read_text()
    assert text.startswith("# The `dev` stack.")  # the file's own comments stay
    config = yaml.safe_load(text)["config"]

    resources = declare({key.split(":", 1)[1] if key.startswith("lambdaopt-baseline:") else key:
                         json.dumps(value) if isinstance(value, dict) else value for key, value in config.items()}
                        | {"DATABASE_URL": "postgres://declared", "API_KEY": "declared-api-key"})
    functions = {resource.name: resource.inputs for resource in of_type(resources, "aws:lambda/function:Function")}
    groups = {resource.name: resource.inputs for resource in of_type(resources, "aws:cloudwatch/logGroup:LogGroup")}
    for state in fleet_view.describe(aws, "dev"):
        declared = functions[state.name]
        assert declared["memorySize"] == state.memory_size, state.name
        assert declared["timeout"] == state.timeout, state.name
        assert declared.get("reservedConcurrentExecutions") == state.reserved_concurrency, state.name
        assert declared.get("tracingConfig", {}).get("mode", "PassThrough") == state.tracing, state.name
        assert (declared.get("deadLetterConfig") or {}).get("targetArn") == state.dead_letter_target, state.name
        assert groups[f"/aws/lambda/{state.name}"].get("retentionInDays") == state.retention_days, state.name
    policies = {resource.name for resource in of_type(resources, "aws:iam/rolePolicy:RolePolicy")}
    assert "transform-role-dev-lambdaopt-xray-write" in policies and "transform-role-dev-lambdaopt-dlq-send" in policies


@pytest.mark.parametrize("functions, message", [
    ({"nosuch": {"memory_size": 128}}, "not in fleet.yaml"),
    ({"transform": {"memory": 128}}, "unknown settings"),
    ({"transform": {"memory_size": 64}}, "128-10240"),
    ({"transform": {"log_retention_days": 8}}, "must be null or one of"),
    ({"transform": {"tracing_mode": "On"}}, "Active or PassThrough"),
    ({"transform": {"dead_letter_kms_key": "alias/team-dlq"}}, "ARN of a KMS key"),
])
def test_bad_stack_config_is_refused_by_name(functions, message):
    with pytest.raises(Exception, match=message):
        declare({"suffix": "dev", "functions": json.dumps(functions), "DATABASE_URL": "x", "API_KEY": "y"})


def test_a_dry_run_record_is_not_carried(tmp_path):
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text("config:\n  lambdaopt-baseline:suffix: dev\n")
    with pytest.raises(ValueError, match="real tap.lambdaopt run"):
        pulumi_config.write_stack(stack_file, {"kind": "tap.lambdaopt change record", "mode": "dry_run"})


def _declared_from(record: dict, tmp_path) -> list:
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text("config:\n  lambdaopt-baseline:suffix: dev\n")
    assert pulumi_config.write_stack(stack_file, record)
    config = yaml.safe_load(stack_file.read_text())["config"]
    return declare({key.split(":", 1)[1]: json.dumps(value) if isinstance(value, dict) else value
                    for key, value in config.items()} | {"DATABASE_URL": "x", "API_KEY": "y"})


def _record(provisioned_after: int, table_after: dict) -> dict:
    return {"kind": "tap.lambdaopt change record", "mode": "applied", "changes": [
        {"function_name": "api-handler-dev", "qualifier": "live", "field": "provisioned_concurrency", "before": 150,
         "after": provisioned_after}],
        "tables": [{"table_name": "data-table-dev", "before": {"billing_mode": "PROVISIONED", "read_capacity": 100,
                                                                "write_capacity": 100}, "after": table_after}]}


def test_provisioned_concurrency_and_table_capacity_are_carried_into_the_program(tmp_path):
    resources = _declared_from(_record(102, {"billing_mode": "PROVISIONED", "read_capacity": 7,
                                             "write_capacity": 4}), tmp_path)
    (config,) = of_type(resources, "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig")
    assert config.inputs["provisionedConcurrentExecutions"] == 102
    (table,) = of_type(resources, "aws:dynamodb/table:Table")
    assert (table.inputs["billingMode"], table.inputs["readCapacity"], table.inputs["writeCapacity"]) == (
        "PROVISIONED", 7, 4)


def test_a_removed_allocation_and_an_on_demand_table_are_declared_as_such(tmp_path):
    resources = _declared_from(_record(0, {"billing_mode": "PAY_PER_REQUEST", "read_capacity": None,
                                           "write_capacity": None}), tmp_path)
    assert of_type(resources, "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig") == []
    assert len(of_type(resources, "aws:lambda/alias:Alias")) == 1  # the alias itself stays
    (table,) = of_type(resources, "aws:dynamodb/table:Table")
    assert table.inputs["billingMode"] == "PAY_PER_REQUEST"
    assert "readCapacity" not in table.inputs and "writeCapacity" not in table.inputs


@pytest.mark.parametrize("data_table, message", [
    ({"billing_mode": "SOMETIMES"}, "PROVISIONED or PAY_PER_REQUEST"),
    ({"billing_mode": "PAY_PER_REQUEST", "read_capacity": 5}, "must not set capacities"),
    ({"read_capacity": 0}, "read_capacity"),
    ({"size": 1}, "must map some of"),
])
def test_bad_table_config_is_refused_by_name(data_table, message):
    with pytest.raises(Exception, match=message):
        declare({"suffix": "dev", "data_table": json.dumps(data_table), "DATABASE_URL": "x", "API_KEY": "y"})


def test_the_dead_letter_queues_customer_key_is_carried_into_the_role_policy(tmp_path):
    queue = "arn:aws:sqs:us-east-1:123456789012:team-dlq"
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    after = {"Version": "2012-10-17", "Statement": [
        {"Sid": "SendToDeadLetterQueue", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue},
        {"Sid": "EncryptForDeadLetterQueue", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
         "Resource": key}]}
    record = {"kind": "tap.lambdaopt change record", "mode": "applied", "changes": [
        {"function_name": "transform-dev", "field": "dead_letter_target", "before": None, "after": queue}],
        "role_policies": [{"role_name": "transform-role-dev", "policy_name": "lambdaopt-dlq-send", "before": None,
                           "after": after}]}
    resources = _declared_from(record, tmp_path)
    policies = {resource.name: json.loads(resource.inputs["policy"])
                for resource in of_type(resources, "aws:iam/rolePolicy:RolePolicy")}
    assert policies["transform-role-dev-lambdaopt-dlq-send"] == after
