"""A real account is reached only on purpose, with the least privilege, checked before anything changes.

- The local inventory reaches only the emulator: with credentials in the environment and no loopback endpoint, the
  playbooks stop before any AWS call.
- The collection's IAM policies cover every call the playbooks make. The calls are those the emulator answered, from
  its ledger (tools/api_quotas.py), rather than botocore event hooks: the modules run in processes of their own,
  where a hook in this process sees nothing, and the ledger counts each request the server received, whichever
  process sent it - the stronger proof. Each is mapped to its IAM action; the read-only policy must allow every
  action of a dry run, the run policy every action of a run and of its rollback. A new call without a policy line
  fails here.
- The permission check stops a run that lacks a permission before its first change, and where IAM cannot simulate
  the caller it says so and lets the run go on.
"""

import contextlib
import fnmatch
import json
import os
import socket
import threading

import botocore.session
import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import permissions
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.test_optimize_playbook import calls_made
from tests.test_setup import COLLECTION, run
from tools import baseline, module_runner, simulator

OPTIMIZE = ["ansible-playbook", "playbooks/optimize.yml"]
ROLLBACK = ["ansible-playbook", "playbooks/rollback.yml"]
ACCOUNT = "123456789012"
CHECKED = ["-e", "lambdaopt_permission_check=true"]
SERVICE_MODELS = botocore.session.get_session()


def policy(name: str) -> dict:
    return json.loads((COLLECTION / "policies" / name).read_text())


def make_role(aws, name: str, document: dict) -> str:
    """A role in the emulator holding `document` for the dev fleet, assumable by the account; returns its ARN."""
    iam = aws.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="lambdaopt", PolicyDocument=json.dumps(
        permissions.render(document, "dev")))
    return arn


def iam_action(service: str, operation: str) -> str | None:
    """The IAM action that authorizes `operation` of `service` (its SigV4 signing name, as the ledger counts it);
    None for a call the optimizer's own policy does not grant.

    Mostly `<service>:<Operation>`, with these exceptions: CloudWatch signs as `monitoring` but its actions are
    `cloudwatch:`; Lambda's Invoke is `lambda:InvokeFunction`; API Gateway's management API is authorized by HTTP
    method (`apigateway:GET`...). sts:GetCallerIdentity needs no permission ("No permissions are required to perform
    this operation", STS API reference), and sts:AssumeRole is the caller's: the credentials that assume the
    optimizer's role need it, and the role's trust policy must allow them, but the role's own policy has no part in
    it. Paginated and waiter calls are the operation's own action."""
    if service == "sts":
        return None
    if service == "apigateway":
        return f"apigateway:{SERVICE_MODELS.get_service_model('apigateway').operation_model(operation).http['method']}"
    prefix = {"monitoring": "cloudwatch"}.get(service, service)
    return f"{prefix}:{ {('lambda', 'Invoke'): 'InvokeFunction'}.get((service, operation), operation) }"


def allows(document: dict, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), granted.lower())
               for statement in document["Statement"] if statement["Effect"] == "Allow"
               for granted in permissions._listed(statement["Action"]))


def not_covered(calls: dict, document: dict) -> list:
    actions = {iam_action(service, operation) for service, operations in calls.items() for operation in operations}
    return sorted(action for action in actions - {None} if not allows(document, action))


def merged(*calls: dict) -> dict:
    every: dict = {}
    for made in calls:
        for service, operations in made.items():
            every.setdefault(service, set()).update(operations)
    return every


def test_the_ledger_is_mapped_to_iam_actions_as_aws_authorizes_them():
    assert iam_action("monitoring", "PutMetricAlarm") == "cloudwatch:PutMetricAlarm"
    assert iam_action("apigateway", "GetResources") == "apigateway:GET"
    assert iam_action("apigateway", "UpdateRestApi") == "apigateway:PATCH"
    assert iam_action("lambda", "Invoke") == "lambda:InvokeFunction"
    assert iam_action("logs", "StartQuery") == "logs:StartQuery"
    assert iam_action("sts", "GetCallerIdentity") is None
    assert not_covered({"lambda": {"DeleteFunction"}}, policy(permissions.READ_ONLY_POLICY)) == [
        "lambda:DeleteFunction"]


def simulated(aws, role: str, actions: list, resources: list) -> set:
    """The decisions of IAM's simulator for the role's policy on these actions and resources."""
    answer = aws.client("iam").simulate_principal_policy(PolicySourceArn=role, ActionNames=actions,
                                                        ResourceArns=resources)
    return {result["EvalDecision"] for result in answer["EvaluationResults"]}


def check_scoped_to_the_fleet(aws, role: str) -> None:
    """The run policy reaches the dev fleet's own resources, as the run left them, and not another suffix's."""
    region = f"us-east-1:{ACCOUNT}"
    functions = [function["FunctionArn"] for function in aws.client("lambda").list_functions()["Functions"]
                 if function["FunctionName"].endswith("-dev")]
    names = [arn.rsplit(":", 1)[-1] for arn in functions]
    alarms = [alarm["AlarmArn"] for alarm in aws.client("cloudwatch").describe_alarms(
        AlarmNamePrefix="lambdaopt-")["MetricAlarms"]]
    # The collection's dead-letter queues; the fleet's own queues (an event source's) are not the collection's.
    queues = [aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"] for url in aws.client("sqs").list_queues(QueueNamePrefix="lambda-dlq-").get("QueueUrls", [])]
    tables = [aws.client("dynamodb").describe_table(TableName=name)["Table"]["TableArn"]
              for name in aws.client("dynamodb").list_tables()["TableNames"] if name.endswith("-dev")]
    secrets = [secret["ARN"] for secret in aws.client("secretsmanager").list_secrets()["SecretList"]]
    assert functions and alarms and queues and tables and secrets
    fleet = {
        ("lambda:UpdateFunctionConfiguration", "lambda:PutFunctionConcurrency"): (
            functions, [f"arn:aws:lambda:{region}:function:api-handler-prod"]),
        ("logs:PutRetentionPolicy",): ([f"arn:aws:logs:{region}:log-group:/aws/lambda/{name}" for name in names],
                                       [f"arn:aws:logs:{region}:log-group:/aws/lambda/api-handler-prod"]),
        ("cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"): (
            alarms, [f"arn:aws:cloudwatch:{region}:alarm:lambdaopt-api-handler-prod-duration"]),
        ("sqs:CreateQueue", "sqs:SetQueueAttributes"): (queues, [f"arn:aws:sqs:{region}:lambda-dlq-prod"]),
        ("dynamodb:UpdateTable",): (tables, [f"arn:aws:dynamodb:{region}:table/data-table-prod"]),
        ("secretsmanager:PutSecretValue",): (secrets, [f"arn:aws:secretsmanager:{region}:secret:api-key-prod-AbCdEf"]),
    }
    for actions, (own, others) in fleet.items():
        assert simulated(aws, role, list(actions), own) == {"allowed"}, (actions, own)
        assert simulated(aws, role, list(actions), others) == {"implicitDeny"}, (actions, others)


def test_the_policies_cover_every_call_of_a_dry_run_a_run_and_its_rollback(emulator, aws, tmp_path):
    baseline.provision(aws, "dev")
    simulator.simulate_fleet(aws, "dev", traffic_scale=0.25)
    read_only = make_role(aws, "lambdaopt-read-only-dev", policy(permissions.READ_ONLY_POLICY))
    runner = make_role(aws, "lambdaopt-run-dev", policy(permissions.RUN_POLICY))
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"lambdaopt_secrets": [{"env": "API_KEY", "value": "least-privilege-key-1234"}]}))
    options = ["-e", "suffix=dev", *CHECKED, "-e", f"@{secrets}", "-e", f"lambdaopt_report_dir={tmp_path / 'reports'}",
               "-e", f"lambdaopt_record_dir={tmp_path / 'records'}", "-e", f"lambdaopt_journal_dir={tmp_path / 'j'}"]

    emulator.ledger.reset()
    dry = run([*OPTIMIZE, *options, "--check", "-e", f"aws_role_arn={read_only}"], env=emulator.environ())
    assert dry.returncode == 0, dry.stdout[-3000:]
    dry_calls = calls_made(emulator)
    emulator.ledger.reset()
    applied = run([*OPTIMIZE, *options, "-e", f"aws_role_arn={runner}"], env=emulator.environ())
    assert applied.returncode == 0, applied.stdout[-3000:]
    run_calls = calls_made(emulator)
    check_scoped_to_the_fleet(aws, runner)
    [record] = (tmp_path / "records").glob(f"lambdaopt-changes-{ACCOUNT}-us-east-1-*.json")
    emulator.ledger.reset()
    rolled_back = run([*ROLLBACK, "-e", f"record={record}", "-e", "suffix=dev", *CHECKED,
                       "-e", f"aws_role_arn={runner}"], env=emulator.environ())
    assert rolled_back.returncode == 0 and '"restored": ' in rolled_back.stdout, rolled_back.stdout[-3000:]
    rollback_calls = calls_made(emulator)

    # Each run was checked first, under its own role, and passed.
    for calls in (dry_calls, run_calls, rollback_calls):
        assert calls["iam"].get("SimulatePrincipalPolicy", 0) > 0 and calls["sts"]["AssumeRole"] == 1
    # The runs did what they do (not only the check): reads, writes, and the rollback's deletions.
    assert {"UpdateFunctionConfiguration", "PutProvisionedConcurrencyConfig"} <= set(run_calls["lambda"])
    assert "DeleteAlarms" in rollback_calls["monitoring"] and "UpdateFunctionConfiguration" not in dry_calls["lambda"]
    assert not_covered(dry_calls, policy(permissions.READ_ONLY_POLICY)) == []
    assert not_covered(merged(dry_calls, run_calls, rollback_calls), policy(permissions.RUN_POLICY)) == []


def test_a_run_that_lacks_a_permission_stops_before_any_change(emulator, aws, tmp_path):
    role = make_role(aws, "lambdaopt-dev", policy(permissions.READ_ONLY_POLICY))
    emulator.ledger.reset()
    result = run([*OPTIMIZE, "-e", "suffix=dev", *CHECKED, "-e", f"aws_role_arn={role}"], env=emulator.environ())
    assert result.returncode != 0
    assert f"{role} may not perform" in result.stdout
    assert f"lambda:UpdateFunctionConfiguration on arn:aws:lambda:us-east-1:{ACCOUNT}:function:*-dev" in result.stdout
    assert "ssm:PutParameter on" in result.stdout and "Measure the fleet" not in result.stdout
    assert calls_made(emulator) == {"sts": {"AssumeRole": 1, "GetCallerIdentity": 1},
                                    "iam": {"SimulatePrincipalPolicy": calls_made(emulator)["iam"][
                                        "SimulatePrincipalPolicy"]}}

    # A rollback too: its journal is left as it is, and nothing is read but the caller's permissions.
    journal = tmp_path / "emulator-us-east-1" / "lambdaopt-journal-20261201T000000000000Z-dev.jsonl"
    journal.parent.mkdir()
    journal.write_text("")
    emulator.ledger.reset()
    rollback = run([*ROLLBACK, "-e", "original=true", "-e", "suffix=dev", *CHECKED, "-e", f"aws_role_arn={role}",
                    "-e", f"lambdaopt_journal_dir={tmp_path}"], env=emulator.environ())
    assert rollback.returncode != 0 and "iam:DeleteRolePolicy on" in rollback.stdout, rollback.stdout[-3000:]
    assert set(calls_made(emulator)) == {"sts", "iam"} and journal.exists()


def test_a_caller_iam_cannot_simulate_is_warned_about_and_the_run_goes_on(emulator, aws):
    # The emulator's own credentials are answered as arn:aws:sts::123456789012:user/moto, no IAM principal.
    result = run([*OPTIMIZE, "-e", "suffix=nosuch", *CHECKED], env=emulator.environ())
    assert result.returncode == 0, result.stdout[-3000:]
    assert "permission check skipped: IAM's policy simulator takes an IAM user or role, not arn:aws:sts::" in (
        " ".join(result.stderr.split()))
    assert "No functions end in -nosuch" in result.stdout


def test_a_caller_that_may_not_simulate_is_warned_about_and_not_stopped(emulator, aws, monkeypatch):
    for key, value in emulator.environ({}).items():
        monkeypatch.setenv(key, value)
    make_role(aws, "lambdaopt-dev", policy(permissions.READ_ONLY_POLICY))
    original = BaseClient._make_api_call

    def denying(client, operation, parameters):
        if operation == "SimulatePrincipalPolicy":
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, operation)
        if operation == "GetCallerIdentity":
            return {"Account": ACCOUNT, "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/lambdaopt-dev/run",
                    "UserId": "AROAEXAMPLE:run"}
        return original(client, operation, parameters)

    monkeypatch.setattr(BaseClient, "_make_api_call", denying)
    result = module_runner.run_module("permission_check", {
        "suffix": "dev", "steps": ["rightsize"], "policy_document": policy(permissions.RUN_POLICY),
        "region": "us-east-1"})
    assert not result.get("failed"), result
    assert result["checked"] is False and result["missing"] == []
    assert result["principal"] == f"arn:aws:iam::{ACCOUNT}:role/lambdaopt-dev"
    warnings = json.dumps(result["warnings"])  # Ansible 2.19 hands warnings over as events
    assert "permission check skipped" in warnings and "may not use iam:SimulatePrincipalPolicy" in warnings


class Trap:
    """A server on 127.0.0.1 that every HTTP(S) request of a child process reaches, through the proxy variables: it
    counts each connection and closes it at once, so that a client fails fast."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.server.accept()
                self.connections += 1
                connection.close()

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}"


@pytest.fixture
def trap():
    caught = Trap()
    yield caught
    caught.server.close()


def real_account_environment(trap, **extra) -> dict:
    """Credentials in the environment, as a user's shell has them, and no emulator."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    proxies = {name: trap.proxy for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")}
    environment.update(AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE", AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/EXAMPLE",
                       AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", AWS_MAX_ATTEMPTS="1",
                       NO_PROXY="", no_proxy="", **proxies, **extra)
    return environment


@pytest.mark.parametrize("command, endpoint", [
    ([*OPTIMIZE, "-e", "suffix=dev"], {}),
    ([*OPTIMIZE, "-e", "suffix=dev", "--check"], {"AWS_ENDPOINT_URL": "https://lambda.us-east-1.amazonaws.com"}),
    ([*ROLLBACK, "-e", "original=true", "-e", "suffix=dev"], {}),
])
def test_the_local_inventory_never_reaches_a_real_account(trap, command, endpoint):
    environment = real_account_environment(trap, **endpoint)
    # The trap is where an AWS call would go: a call made with this environment reaches it.
    probe = run(["python", "-c", "import boto3; boto3.client('sts').get_caller_identity()"], env=environment)
    assert probe.returncode != 0 and trap.connections > 0
    trap.connections = 0

    result = run(command, env=environment)
    assert result.returncode != 0
    assert "inventories/local" in result.stdout and "-i inventories/dev or -i inventories/prod" in result.stdout
    assert [line for line in result.stdout.splitlines() if line.startswith("TASK [")] == [
        "TASK [Keep the emulator's inventory off real accounts] *************************"]
    assert trap.connections == 0
