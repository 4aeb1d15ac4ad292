"""The emulator answers IAM's SimulatePrincipalPolicy for roles as AWS does.

Source: IAM API Reference, SimulatePrincipalPolicy and EvaluationResult
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html): each action and resource
gets an EvalDecision of allowed, explicitDeny or implicitDeny; the role's inline and attached policies and its
permissions boundary are all evaluated, and an explicit deny wins.
"""

import json

import pytest
from botocore.exceptions import ClientError

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
OTHER = "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-AbCdEf"
ACTION = "secretsmanager:GetSecretValue"


def document(effect, resource, action=ACTION):
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": action,
                                                               "Resource": resource}]})


@pytest.fixture
def iam(aws):
    client = aws.client("iam")
    client.create_role(RoleName="reader", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": []}))
    return client


def decisions(iam, resources=(SECRET, OTHER)):
    arn = iam.get_role(RoleName="reader")["Role"]["Arn"]
    pages = iam.get_paginator("simulate_principal_policy").paginate(
        PolicySourceArn=arn, ActionNames=[ACTION], ResourceArns=list(resources))
    return {result["EvalResourceName"]: result["EvalDecision"] for page in pages
            for result in page["EvaluationResults"]}


def test_without_a_policy_everything_is_implicitly_denied(iam):
    assert decisions(iam) == {SECRET: "implicitDeny", OTHER: "implicitDeny"}


def test_an_inline_policy_allows_exactly_its_resources(iam):
    iam.put_role_policy(RoleName="reader", PolicyName="read", PolicyDocument=document("Allow", [SECRET]))
    assert decisions(iam) == {SECRET: "allowed", OTHER: "implicitDeny"}


def test_an_attached_policy_allows_and_an_explicit_deny_wins(iam):
    allow = iam.create_policy(PolicyName="read-all", PolicyDocument=document("Allow", "*"))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="reader", PolicyArn=allow)
    assert decisions(iam) == {SECRET: "allowed", OTHER: "allowed"}
    iam.put_role_policy(RoleName="reader", PolicyName="no-db", PolicyDocument=document("Deny", SECRET))
    assert decisions(iam) == {SECRET: "explicitDeny", OTHER: "allowed"}


def test_a_permissions_boundary_that_does_not_allow_denies(iam):
    iam.put_role_policy(RoleName="reader", PolicyName="read", PolicyDocument=document("Allow", "*"))
    boundary = iam.create_policy(PolicyName="logs-only", PolicyDocument=document(
        "Allow", "*", action="logs:*"))["Policy"]["Arn"]
    iam.put_role_permissions_boundary(RoleName="reader", PermissionsBoundary=boundary)
    arn = iam.get_role(RoleName="reader")["Role"]["Arn"]
    (result,) = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=[ACTION],
                                              ResourceArns=[SECRET])["EvaluationResults"]
    assert result["EvalDecision"] == "implicitDeny"
    assert result["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}


def test_a_role_that_does_not_exist_is_no_such_entity(iam):
    with pytest.raises(ClientError) as missing:
        iam.simulate_principal_policy(PolicySourceArn="arn:aws:iam::123456789012:role/nobody",
                                      ActionNames=[ACTION])
    assert missing.value.response["Error"]["Code"] == "NoSuchEntity"
