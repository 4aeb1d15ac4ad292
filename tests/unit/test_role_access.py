"""Waiting for IAM to allow a role to read its secrets, against SimulatePrincipalPolicy answers shaped as AWS
documents them (botocore's Stubber checks the shapes). No real sleep: botocore's is recorded instead."""

import boto3
import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils.role_access import NotAllowed, wait_until_allowed
from botocore.stub import Stubber

ROLE = "arn:aws:iam::123456789012:role/transform-role-dev"
ACTION = "secretsmanager:GetSecretValue"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"


def answer(decision, boundary=None):
    result = {"EvalActionName": ACTION, "EvalResourceName": SECRET, "EvalDecision": decision}
    if boundary is not None:
        result["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": boundary}
    return {"EvaluationResults": [result], "IsTruncated": False}


@pytest.fixture
def iam(monkeypatch):
    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    sleeps = []
    monkeypatch.setattr("botocore.waiter.time.sleep", sleeps.append)
    with Stubber(client) as stubber:
        yield client, stubber, sleeps
        stubber.assert_no_pending_responses()


def expect(stubber, *answers):
    for response in answers:
        stubber.add_response("simulate_principal_policy", response, {
            "PolicySourceArn": ROLE, "ActionNames": [ACTION], "ResourceArns": [SECRET], "MaxItems": 1000})


def test_a_grant_not_yet_in_force_is_waited_for(iam):
    client, stubber, sleeps = iam
    expect(stubber, answer("implicitDeny"), answer("implicitDeny"), answer("allowed"))
    wait_until_allowed(client, ROLE, ACTION, [SECRET], timeout=60)
    assert sleeps == [2, 2]


def test_the_wait_is_bounded(iam):
    client, stubber, sleeps = iam
    expect(stubber, *[answer("implicitDeny")] * 3)
    with pytest.raises(NotAllowed, match=r"\(implicitDeny\) after waiting 4 s for IAM to propagate the grant"):
        wait_until_allowed(client, ROLE, ACTION, [SECRET], timeout=4)
    assert sleeps == [2, 2]


@pytest.mark.parametrize("response, reason", [
    (answer("explicitDeny"), "(explicitDeny)"),
    (answer("implicitDeny", boundary=False), "(not allowed by its permissions boundary)"),
])
def test_what_waiting_cannot_lift_fails_at_once(iam, response, reason):
    client, stubber, sleeps = iam
    expect(stubber, response)
    with pytest.raises(NotAllowed) as refused:
        wait_until_allowed(client, ROLE, ACTION, [SECRET], timeout=60)
    assert str(refused.value) == f"{ROLE} may not call {ACTION} on {SECRET} {reason}"
    assert sleeps == []


def test_a_caller_that_may_not_simulate_is_told_what_it_needs(iam):
    client, stubber, sleeps = iam
    stubber.add_client_error("simulate_principal_policy", "AccessDenied", "not authorized")
    with pytest.raises(NotAllowed, match="the caller needs iam:SimulatePrincipalPolicy on the role"):
        wait_until_allowed(client, ROLE, ACTION, [SECRET], timeout=60)
    assert sleeps == []
