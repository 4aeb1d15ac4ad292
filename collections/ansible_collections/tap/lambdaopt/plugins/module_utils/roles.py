# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inline policies this collection adds to functions' execution roles."""

from __future__ import annotations

import json
from urllib.parse import unquote

try:
    from botocore.exceptions import ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass


def role_name(role_arn: str) -> str:
    """arn:aws:iam::123456789012:role/some/path/name -> name"""
    return role_arn.rsplit("/", 1)[-1]


def inline_policy(iam, role: str, policy_name: str) -> dict | None:
    """The role's inline policy document, or None when the role has no policy of that name."""
    try:
        document = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchEntity":
            return None
        raise
    # IAM returns the document URL-encoded in its raw API; boto3 decodes it, some endpoints do not.
    return json.loads(unquote(document)) if isinstance(document, str) else document


def put_inline_policy(iam, role: str, policy_name: str, document: dict) -> None:
    iam.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(document))


def delete_inline_policy(iam, role: str, policy_name: str) -> None:
    try:
        iam.delete_role_policy(RoleName=role, PolicyName=policy_name)
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchEntity":
            raise


def policy_changes(documents: dict, policy_name: str, granted: dict | None = None) -> list:
    """The `role_policies` a module returns: each role whose inline policy the run changes (or would), with
    the document before and after (None where there is none), so that a change record can undo it.

    `granted` ({role: the error its grant met, or None}) is what a real run did: a role granted is C(changed),
    even when its functions then failed, since the policy stays written; a role whose grant failed is C(failed),
    with the error and `after` the document it still holds; a role the run did not get to is left out. Without
    it (check mode), each is C(planned)."""
    changes = []
    for role, (before, after) in sorted(documents.items()):
        if before == after or (granted is not None and role not in granted):
            continue
        change = {"role_name": role, "policy_name": policy_name, "before": before, "after": after}
        if granted is None:
            change["status"] = "planned"
        elif granted[role] is None:
            change["status"] = "changed"
        else:
            change.update(status="failed", after=before, error=str(granted[role]))
        changes.append(change)
    return changes
