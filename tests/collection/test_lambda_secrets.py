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
    # The baseline's secrets are someone else's: wired in as they are, their values never overwritten.
    statuses = {secret["env"]: (secret["status"], secret["reason"]) for secret in applied["secrets"]}
    assert statuses == {"DATABASE_URL": ("kept", "tap.lambdaopt did not write its value"),
                        "API_KEY": ("kept", "tap.lambdaopt did not write its value")}
    client = aws.client("secretsmanager")
    assert client.get_secret_value(SecretId="database-url-dev")["SecretString"] == "old-value"
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
    assert statement == {"Sid": "LambdaoptSecretsReadFordev", "Effect": "Allow",
                         "Action": "secretsmanager:GetSecretValue",
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
    ([], "secrets lists no secret: give at least one"),
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


def test_no_secrets_or_a_negative_wait_fail_before_any_api_call(aws, run_module, api_calls):
    result = run_module("lambda_secrets", {"suffix": "dev", "secrets": [{"env": "A", "value": "sample-secret-value"}],
                                           "iam_propagation_timeout": -1})
    assert result.failed and "iam_propagation_timeout must be between 0 and 600" in result["msg"]
    assert api_calls == []


def current_version(aws, name):
    stages = aws.client("secretsmanager").describe_secret(SecretId=name)["VersionIdsToStages"]
    return next(version for version, labels in stages.items() if "AWSCURRENT" in labels)


def written_version(aws, name):
    tags = aws.client("secretsmanager").describe_secret(SecretId=name)["Tags"]
    return {tag["Key"]: tag["Value"] for tag in tags}["lambdaopt:written-version"]


def signing_key(value, **args):
    return {"suffix": "dev", "functions": ["transform-dev"], "secrets": [{"env": "SIGNING_KEY", "value": value}],
            **args}


def test_a_secret_it_wrote_is_overwritten_only_with_update_values(aws, fleet, run_module):
    created = run_module("lambda_secrets", signing_key("k-1"))
    assert [secret["status"] for secret in created["secrets"]] == ["created"]
    assert written_version(aws, "signing-key-dev") == current_version(aws, "signing-key-dev")  # the version, no value

    kept = run_module("lambda_secrets", signing_key("k-2"))  # update_values defaults to false
    assert not kept["changed"]
    assert [(secret["status"], secret["reason"]) for secret in kept["secrets"]] == [
        ("kept", "its value differs from the one given, and update_values is false")]
    client = aws.client("secretsmanager")
    assert client.get_secret_value(SecretId="signing-key-dev")["SecretString"] == "k-1"

    planned = run_module("lambda_secrets", signing_key("k-2", update_values=True), check=True)
    assert planned["changed"] and [secret["status"] for secret in planned["secrets"]] == ["planned"]
    updated = run_module("lambda_secrets", signing_key("k-2", update_values=True))
    assert updated["changed"] and [secret["status"] for secret in updated["secrets"]] == ["updated"]
    assert client.get_secret_value(SecretId="signing-key-dev")["SecretString"] == "k-2"
    assert written_version(aws, "signing-key-dev") == current_version(aws, "signing-key-dev")
    assert not run_module("lambda_secrets", signing_key("k-2", update_values=True), check=True)["changed"]
    assert not run_module("lambda_secrets", signing_key("k-2", update_values=True))["changed"]


def test_a_value_changed_elsewhere_since_it_wrote_it_is_kept(aws, fleet, run_module, api_calls):
    run_module("lambda_secrets", signing_key("k-1"))
    client = aws.client("secretsmanager")
    client.put_secret_value(SecretId="signing-key-dev", SecretString="set-by-hand")
    del api_calls[:]
    result = run_module("lambda_secrets", signing_key("k-2", update_values=True))
    assert [(secret["status"], secret["reason"]) for secret in result["secrets"]] == [
        ("kept", "its value was changed outside tap.lambdaopt since tap.lambdaopt last wrote it")]
    assert client.get_secret_value(SecretId="signing-key-dev")["SecretString"] == "set-by-hand"
    assert ("secretsmanager", "PutSecretValue") not in api_calls


def test_a_secret_with_rotation_enabled_is_kept_and_its_value_not_even_read(aws, fleet, run_module, api_calls):
    run_module("lambda_secrets", signing_key("k-1"))
    client = aws.client("secretsmanager")
    client.rotate_secret(SecretId="signing-key-dev", RotationRules={"AutomaticallyAfterDays": 30})
    assert client.describe_secret(SecretId="signing-key-dev")["RotationEnabled"]
    version = current_version(aws, "signing-key-dev")
    del api_calls[:]
    result = run_module("lambda_secrets", signing_key("k-2", update_values=True))
    [secret] = result["secrets"]
    assert secret["status"] == "kept" and secret["reason"].startswith("rotation is enabled")
    assert current_version(aws, "signing-key-dev") == version
    assert ("secretsmanager", "GetSecretValue") not in api_calls
    assert ("secretsmanager", "PutSecretValue") not in api_calls


def test_a_binary_secret_is_kept_with_a_clear_message(aws, fleet, run_module):
    arn = aws.client("secretsmanager").create_secret(Name="signing-key-dev", SecretBinary=b"\x00\x01")["ARN"]
    result = run_module("lambda_secrets", signing_key("k-1", update_values=True))
    assert not result.failed
    [secret] = result["secrets"]
    assert secret["status"] == "kept" and "binary value (SecretBinary)" in secret["reason"]
    assert "give its secret_arn" in secret["reason"]
    assert environment(aws, "transform-dev")["SIGNING_KEY_SECRET_ARN"] == arn


def test_a_function_is_wired_only_after_its_role_may_read_the_secrets(aws, fleet, run_module, api_calls):
    result = run_module("lambda_secrets", signing_key("k-1"))
    assert [entry["status"] for entry in result["functions"]] == ["changed"]
    verified = api_calls.index(("iam", "SimulatePrincipalPolicy"))
    assert api_calls.index(("iam", "PutRolePolicy")) < verified < api_calls.index(
        ("lambda", "UpdateFunctionConfiguration"))


def test_a_role_its_permissions_boundary_keeps_from_reading_is_not_wired(aws, fleet, run_module):
    iam = aws.client("iam")
    boundary = iam.create_policy(PolicyName="logs-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}))
    iam.put_role_permissions_boundary(RoleName="transform-role-dev",
                                      PermissionsBoundary=boundary["Policy"]["Arn"])
    result = run_module("lambda_secrets", {"suffix": "dev", "secrets": SECRETS})
    assert result.failed and result["failed_functions"] == ["transform-dev"]
    [entry] = [entry for entry in result["functions"] if entry["function_name"] == "transform-dev"]
    assert "may not call secretsmanager:GetSecretValue" in entry["error"]
    assert "not allowed by its permissions boundary" in entry["error"]
    assert "DATABASE_URL_SECRET_ARN" not in environment(aws, "transform-dev")
    assert "DATABASE_URL_SECRET_ARN" in environment(aws, "api-handler-dev")


def test_an_explicit_deny_fails_the_role_at_once(aws, fleet, run_module):
    aws.client("iam").put_role_policy(RoleName="transform-role-dev", PolicyName="no-secrets", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "secretsmanager:*", "Resource": "*"}]}))
    result = run_module("lambda_secrets", {"functions": ["transform-dev"], "secrets": SECRETS,
                                           "suffix": "dev", "iam_propagation_timeout": 600})
    [entry] = result["functions"]
    assert entry["status"] == "failed" and "(explicitDeny)" in entry["error"] and "after waiting" not in entry["error"]
    assert "DATABASE_URL_SECRET_ARN" not in environment(aws, "transform-dev")


LEGACY_PASSWORD = "legacy-plaintext-pa55word-7f3a"


def test_an_environment_refused_for_size_shows_no_value_in_the_result_record_or_report(aws, fleet, run_module):
    """Lambda refuses an environment over 4 KB and echoes every variable in its message."""
    from ansible_collections.tap.lambdaopt.plugins.plugin_utils import (
        change_record,
        prices,
        report,
        report_render,
        savings,
    )
    from ansible_collections.tap.lambdaopt.plugins.plugin_utils.run_results import read_run

    from tests.unit.test_savings import function
    lambda_ = aws.client("lambda")
    variables = {**environment(aws, "transform-dev"), "LEGACY_PASSWORD": LEGACY_PASSWORD}
    variables["PADDING"] = "p" * (4000 - len(json.dumps(variables, separators=(",", ":"))))
    lambda_.update_function_configuration(FunctionName="transform-dev", Environment={"Variables": variables})
    lambda_.get_waiter("function_updated_v2").wait(FunctionName="transform-dev")

    result = run_module("lambda_secrets", {"suffix": "dev", "secrets": SECRETS})
    assert result.failed and result["failed_functions"] == ["transform-dev"]
    [entry] = [entry for entry in result["functions"] if entry["function_name"] == "transform-dev"]
    assert "exceeded the 4KB limit" in entry["error"] and "String measured: (redacted)" in entry["error"]
    assert environment(aws, "transform-dev") == variables

    usage = [function("transform-dev", 10_000)]
    record = change_record.build({"secrets": dict(result)}, False, "123456789012", "us-east-1")
    data = report.assemble(usage, read_run(usage, {"secrets": dict(result)}, dry_run=False),
                           prices.load("us-east-1"), savings.Assumptions(), "123456789012", "us-east-1")
    markdown = report_render.markdown(data)
    assert "exceeded the 4KB limit" in markdown  # the failure is reported, without what was measured
    for text in (json.dumps(result), json.dumps(record), json.dumps(data), markdown, report_render.html(data)):
        for value in (LEGACY_PASSWORD, DATABASE_URL, API_KEY, "p" * 100):
            assert value not in text


def test_entries_hold_no_working_state(aws, fleet, run_module):
    for check in (True, False):
        result = run_module("lambda_secrets", signing_key("k-1"), check=check, diff=True)
        assert [set(secret) for secret in result["secrets"]] == [{"env", "secret_name", "secret_arn", "status",
                                                                  "action"}]
        # the function's own variables, which the update keeps, are never returned
        assert [set(entry) for entry in result["functions"]] == [{"function_name", "role_name", "before", "after",
                                                                 "status"}]
        assert result["summary"]["functions"] == 1 and result["role_policies"]
