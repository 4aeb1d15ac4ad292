"""IAM's quota on the size of a role's inline policies, which moto does not enforce.

AWS: "Role policy size cannot exceed 10,240 characters" - the aggregate of all inline policies of a role - and
"IAM doesn't count white space when calculating the size of a policy against these limits" (IAM User Guide,
"IAM and AWS STS quotas", IAM object character limits:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html). PutRolePolicy that would take a
role beyond it answers LimitExceeded ("Maximum policy size of 10240 bytes exceeded for role <name>") and leaves
the role's policies as they were. moto reports the quota (GetAccountSummary RolePolicySizeQuota) but accepts any
size.
"""

from __future__ import annotations

from moto.iam.exceptions import LimitExceededException
from moto.iam.models import IAMBackend

ROLE_POLICY_SIZE_QUOTA = 10240


def policy_size(document: str) -> int:
    """Characters of a policy document as IAM counts them: every character but white space."""
    return sum(1 for character in document if not character.isspace())


def apply() -> None:
    put_role_policy = IAMBackend.put_role_policy

    def limited_put_role_policy(self: IAMBackend, role_name: str, policy_name: str, policy_json: str) -> None:
        role = self.get_role(role_name)
        others = sum(policy_size(document) for name, document in role.policies.items() if name != policy_name)
        if others + policy_size(policy_json) > ROLE_POLICY_SIZE_QUOTA:
            raise LimitExceededException(
                f"Maximum policy size of {ROLE_POLICY_SIZE_QUOTA} bytes exceeded for role {role_name}")
        put_role_policy(self, role_name, policy_name, policy_json)

    IAMBackend.put_role_policy = limited_put_role_policy
