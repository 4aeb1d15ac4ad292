"""lambda_rollback's results carry no environment value: an environment Lambda refuses to restore for its size
echoes every variable in the error, which is redacted before it reaches an item (and through it a record or a
report)."""

import json

from ansible_collections.tap.lambdaopt.plugins.module_utils import record_trust

ACCOUNT, REGION = "123456789012", "us-east-1"
# What the run set (a short secret name), and the secret the function named before it (a long one).
SET_BY_RUN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:api-key-dev-AbCdEf"
BEFORE_RUN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{'payments-gateway-api-key-' * 12}dev-AbCdEf"
LEGACY_PASSWORD = "legacy-plaintext-pa55word-7f3a"


def environment_record() -> dict:
    return record_trust.with_digest({
        "schema_version": 2, "kind": "tap.lambdaopt change record", "mode": "applied",
        "recorded_at": "2026-11-30T20:00:00+00:00", "account_id": ACCOUNT, "region": REGION,
        "changes": [{"function_name": "transform-dev", "field": "environment",
                     "before": {"API_KEY_SECRET_ARN": BEFORE_RUN}, "after": {"API_KEY_SECRET_ARN": SET_BY_RUN},
                     "module": "tap.lambdaopt.lambda_secrets", "reason": None}],
        "role_policies": [], "resources": [], "refused": [], "failed": [], "alarms": [],
    })


def test_an_environment_refused_for_size_is_reported_without_any_value(aws, make_function, run_module):
    # The team's own variables fill the function's 4 KB but for a little: the longer ARN put back does not fit.
    variables = {"API_KEY_SECRET_ARN": SET_BY_RUN, "LEGACY_PASSWORD": LEGACY_PASSWORD}
    variables["PADDING"] = "p" * (4050 - len(json.dumps(variables, separators=(",", ":"))))
    make_function("transform-dev", active=True, Environment={"Variables": variables})

    result = run_module("lambda_rollback", {"record": environment_record()})
    assert result.failed, result
    [item] = result["items"]
    assert (item["kind"], item["field"], item["status"]) == ("function", "environment", "failed")
    assert "exceeded the 4KB limit" in item["error"] and "String measured: (redacted)" in item["error"]
    text = json.dumps(result)
    for value in (LEGACY_PASSWORD, "p" * 100):
        assert value not in text
    configuration = aws.client("lambda").get_function_configuration(FunctionName="transform-dev")
    assert configuration["Environment"]["Variables"] == variables
