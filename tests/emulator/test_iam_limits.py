"""The emulator enforces IAM's limit on the size of a role's inline policies as AWS does.

Source: IAM User Guide, "IAM and AWS STS quotas" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html):
"Role policy size cannot exceed 10,240 characters" for all of a role's inline policies together, and "IAM doesn't
count white space when calculating the size of a policy against these limits". PutRolePolicy beyond it answers
LimitExceeded and changes nothing.
"""

import json

import pytest
from botocore.exceptions import ClientError

QUOTA = 10240


@pytest.fixture
def iam(aws):
    client = aws.client("iam")
    client.create_role(RoleName="shared", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": []}))
    return client


def document_of_size(size: int) -> str:
    """A policy document of exactly `size` characters not counting white space, padded with spaces too."""
    empty = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}, separators=(",", ":"))
    sid = "A" * (size - len(empty))
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": sid, "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}, indent=8)


def test_inline_policies_up_to_the_quota_together_are_accepted_whitespace_not_counted(iam):
    first = document_of_size(6000)
    assert len(first) > 6000  # the indentation is not counted
    iam.put_role_policy(RoleName="shared", PolicyName="one", PolicyDocument=first)
    iam.put_role_policy(RoleName="shared", PolicyName="two", PolicyDocument=document_of_size(QUOTA - 6000))
    assert sorted(iam.list_role_policies(RoleName="shared")["PolicyNames"]) == ["one", "two"]


def test_a_policy_taking_the_role_beyond_the_quota_is_refused_and_nothing_changes(iam):
    iam.put_role_policy(RoleName="shared", PolicyName="one", PolicyDocument=document_of_size(6000))
    iam.put_role_policy(RoleName="shared", PolicyName="two", PolicyDocument=document_of_size(1000))
    with pytest.raises(ClientError) as refused:
        iam.put_role_policy(RoleName="shared", PolicyName="two", PolicyDocument=document_of_size(QUOTA - 5999))
    assert refused.value.response["Error"]["Code"] == "LimitExceeded"
    assert "10240" in refused.value.response["Error"]["Message"]
    kept = iam.get_role_policy(RoleName="shared", PolicyName="two")["PolicyDocument"]
    assert len(kept["Statement"][0]["Sid"]) == len(json.loads(document_of_size(1000))["Statement"][0]["Sid"])


def test_replacing_a_policy_counts_its_new_size_not_both(iam):
    iam.put_role_policy(RoleName="shared", PolicyName="one", PolicyDocument=document_of_size(9000))
    iam.put_role_policy(RoleName="shared", PolicyName="one", PolicyDocument=document_of_size(QUOTA))
    with pytest.raises(ClientError):
        iam.put_role_policy(RoleName="shared", PolicyName="one", PolicyDocument=document_of_size(QUOTA + 1))
