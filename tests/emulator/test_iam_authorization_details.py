"""The emulator answers GetAccountAuthorizationDetails in pages, as IAM does.

Source: IAM API reference, GetAccountAuthorizationDetails
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetAccountAuthorizationDetails.html): `MaxItems` "must be
between 1 and 1000" (default 100); when more items are available, `IsTruncated` is true and `Marker` is the value to
pass in the next request. moto answers everything at once, whatever MaxItems says.
"""

import json

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ROLES = ["first-role", "second-role", "third-role"]


@pytest.fixture
def iam(aws):
    client = aws.client("iam")
    for name in ROLES:
        client.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": []}))
    client.put_role_policy(RoleName="third-role", PolicyName="inline", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    return client


def role_names(page: dict) -> list:
    return [role["RoleName"] for role in page["RoleDetailList"]]


def test_a_page_holds_max_items_and_the_marker_leads_to_the_rest(iam):
    first = iam.get_account_authorization_details(Filter=["Role"], MaxItems=2)
    assert len(first["RoleDetailList"]) == 2
    assert first["IsTruncated"] is True and first["Marker"]

    rest = iam.get_account_authorization_details(Filter=["Role"], MaxItems=2, Marker=first["Marker"])
    assert rest["IsTruncated"] is False and "Marker" not in rest
    assert sorted(role_names(first) + role_names(rest)) == ROLES
    (third,) = [role for role in first["RoleDetailList"] + rest["RoleDetailList"] if role["RoleName"] == "third-role"]
    assert [policy["PolicyName"] for policy in third["RolePolicyList"]] == ["inline"]


def test_without_max_items_a_page_holds_up_to_a_hundred(iam):
    whole = iam.get_account_authorization_details(Filter=["Role"])
    assert sorted(role_names(whole)) == ROLES and whole["IsTruncated"] is False


@pytest.mark.parametrize("max_items", [
    # moto hands the patch MaxItems as an int, and `MaxItems or 100` takes 0 for "not given": answered, not refused.
    0,
    1001,
])
def test_max_items_outside_one_to_a_thousand_is_refused(aws, iam, max_items):
    # Without botocore's own checks, the value reaches the emulator, as it would reach IAM from another client.
    unchecked = aws.client("iam", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as refused:
        unchecked.get_account_authorization_details(Filter=["Role"], MaxItems=max_items)
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert "maxItems" in refused.value.response["Error"]["Message"]


def test_botocores_paginator_reads_every_page(iam):
    pages = list(iam.get_paginator("get_account_authorization_details").paginate(
        Filter=["Role"], PaginationConfig={"PageSize": 1}))
    assert [role_names(page) for page in pages] == [[name] for name in ROLES]
    assert [page["IsTruncated"] for page in pages] == [True, True, False]
