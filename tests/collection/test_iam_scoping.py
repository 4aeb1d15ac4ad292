"""Every IAM statement the hardening modules write names a specific resource ARN, except where AWS
allows no scoping (X-Ray trace writes)."""

from tools import baseline

UNSCOPABLE = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_every_statement_is_scoped(aws, run_module):
    baseline.provision(aws, "dev")
    for name, args in (
        ("lambda_tracing", {}),
        ("lambda_dlq", {}),
        ("lambda_secrets", {"secrets": [{"env": "DATABASE_URL", "value": "postgres://scoping-test"}]}),
    ):
        assert not run_module(name, {"suffix": "dev", **args}).failed
    iam = aws.client("iam")
    checked = 0
    for role in iam.list_roles()["Roles"]:
        for policy in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]:
            if not policy.startswith("lambdaopt-"):
                continue
            for statement in iam.get_role_policy(RoleName=role["RoleName"], PolicyName=policy)["PolicyDocument"][
                    "Statement"]:
                actions = {statement["Action"]} if isinstance(statement["Action"], str) else set(statement["Action"])
                resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
                checked += 1
                if actions <= UNSCOPABLE:
                    assert resources == ["*"]
                    continue
                for resource in resources:
                    assert resource.startswith("arn:aws:") and "*" not in resource, (policy, resource)
    assert checked == 6 * 3  # three policies on each of the six roles
