"""lambda_secrets against the emulator: the 4-step matrix, merged environments, read access to exactly
those secrets, and secret values that never show."""

import json

import pytest

from tests.collection.conftest import mutating
from tests.test_setup import run
from tools import baseline

DATABASE_URL = "postgres://app:s3cr3t-pa55@db.internal:5432/app"
API_KEY = "sk-live-9f8e7d6c5b4a"
SECRETS = [{"env": "DATABASE_URL", "value": DATABASE_URL}, {"env": "API_KEY", "value": API_KEY}]


@pytest.fixture
def fleet(aws):
    baseline.provision(aws, "dev", secret_values={"DATABASE_URL": "old-value"})


def environment(aws, name):
    return aws.client("lambda").get_function_configuration(FunctionName=name)["Environment"]["Variables"]


def test_four_step_matrix(aws, fleet, run_module, api_calls):
    args = {"suffix": "dev", "secrets": SECRETS}
    checked = run_module("lambda_secrets", args, check=True, diff=True)
    assert checked["changed"] and mutating(api_calls) == []
    assert "DATABASE_URL_SECRET_ARN" not in environment(aws, "transform-dev")

    applied = run_module("lambda_secrets", args)
    assert applied["changed"]
    statuses = {secret["env"]: secret["status"] for secret in applied["secrets"]}
    assert statuses == {"DATABASE_URL": "updated", "API_KEY": "updated"}  # the baseline's secrets, new values
    client = aws.client("secretsmanager")
    assert client.get_secret_value(SecretId="database-url-dev")["SecretString"] == DATABASE_URL
    variables = environment(aws, "transform-dev")
    assert variables["DATABASE_URL_SECRET_ARN"] == client.describe_secret(SecretId="database-url-dev")["ARN"]

    del api_calls[:]
    assert not run_module("lambda_secrets", args, check=True)["changed"]
    assert not run_module("lambda_secrets", args)["changed"]
    assert mutating(api_calls) == []


def test_environment_is_merged_never_dropped(aws, fleet, run_module):
    before = environment(aws, "transform-dev")
    run_module("lambda_secrets", {"suffix": "dev", "secrets": SECRETS})
    after = environment(aws, "transform-dev")
    assert {key: after[key] for key in before} == before
    assert set(after) == set(before) | {"DATABASE_URL_SECRET_ARN", "API_KEY_SECRET_ARN"}


def test_roles_may_read_exactly_those_secrets(aws, fleet, run_module):
    result = run_module("lambda_secrets", {"suffix": "dev", "secrets": SECRETS})
    arns = sorted(secret["secret_arn"] for secret in result["secrets"])
    (statement,) = aws.client("iam").get_role_policy(RoleName="api-handler-role-dev",
                                                     PolicyName="lambdaopt-secrets-read")["PolicyDocument"]["Statement"]
    assert statement == {"Sid": "ReadFunctionSecrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                         "Resource": arns}


def test_an_existing_secret_is_used_by_arn_and_a_new_one_is_created(aws, fleet, run_module):
    existing = aws.client("secretsmanager").describe_secret(SecretId="api-key-dev")["ARN"]
    result = run_module("lambda_secrets", {"suffix": "dev", "secrets": [
        {"env": "API_KEY", "secret_arn": existing}, {"env": "SIGNING_KEY", "value": "k-123"}]})
    statuses = {secret["env"]: (secret["status"], secret["secret_name"]) for secret in result["secrets"]}
    assert statuses == {"API_KEY": ("unchanged", existing.split(":secret:")[1]),
                        "SIGNING_KEY": ("created", "signing-key-dev")}
    assert environment(aws, "webhook-relay-dev")["API_KEY_SECRET_ARN"] == existing


def test_secret_values_never_appear_in_results_or_diffs(aws, fleet, run_module):
    for check in (True, False):
        result = run_module("lambda_secrets", {"suffix": "dev", "secrets": SECRETS}, check=check, diff=True)
        text = json.dumps(result)
        assert DATABASE_URL not in text and API_KEY not in text


def test_secret_values_never_appear_in_verbose_playbook_output(emulator, aws, fleet, tmp_path):
    playbook = tmp_path / "secrets.yml"
    playbook.write_text(f"""
- hosts: all
  gather_facts: false
  vars:
    database_url: "{DATABASE_URL}"
  tasks:
    - tap.lambdaopt.lambda_secrets:
        suffix: dev
        secrets:
          - env: DATABASE_URL
            value: "{{{{ database_url }}}}"
      register: wired
    - ansible.builtin.debug:
        var: wired
""")
    result = run(["ansible-playbook", "-vvv", "--diff", str(playbook)], env=emulator.environ())
    assert result.returncode == 0, result.stdout[-2000:]
    assert "DATABASE_URL_SECRET_ARN" in result.stdout
    assert DATABASE_URL not in result.stdout and DATABASE_URL not in result.stderr


@pytest.mark.parametrize("secrets, message", [
    ([{"env": "DATABASE-URL", "value": "sample-secret-value"}], "is not a valid environment variable name"),
    ([{"env": "A", "secret_arn": "arn:aws:s3:::bucket"}], "is not a Secrets Manager secret ARN"),
    ([{"env": "A", "value": "sample-secret-value",
       "secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:a-AbCdEf"}],
     "mutually exclusive"),
    ([{"env": "A"}], "one of the following is required"),
    ([{"env": "A", "value": "sample-secret-value"}, {"env": "A", "value": "other-secret-value"}],
     "each secrets entry needs its own env"),
])
def test_bad_input_fails_before_any_api_call(aws, run_module, api_calls, secrets, message):
    result = run_module("lambda_secrets", {"suffix": "dev", "secrets": secrets})
    assert result.failed and message in result["msg"]
    assert api_calls == []
    assert "sample-secret-value" not in json.dumps(result)
