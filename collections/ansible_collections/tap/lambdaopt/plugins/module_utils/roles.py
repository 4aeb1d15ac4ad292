# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inline policies this collection adds to functions' execution roles."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import unquote

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.tap.lambdaopt.plugins.module_utils import journal, policy_merge
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import parse_whole_arn
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import run_bounded

# GetAccountAuthorizationDetails's largest page (MaxItems), and how many roles make the listing worth it: below,
# reading each role (ListRolePolicies, GetRolePolicy) takes about 20 calls, as many as 20,000 roles' listing.
AUTHORIZATION_DETAILS_PAGE = 1000
ACCOUNT_LISTING_FROM_ROLES = 10


def role_name(role_arn: str) -> str:
    """arn:aws:iam::123456789012:role/some/path/name -> name: the last part of the role's path. A value that is not
    an ARN is read as a path (a listed function without a Role has the role "")."""
    parts = parse_whole_arn(role_arn)
    return (parts["resource"] if parts else role_arn).rsplit("/", 1)[-1]


def inline_policy(iam, role: str, policy_name: str) -> dict | None:
    """The role's inline policy document, or None when the role has no policy of that name."""
    try:
        document = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
    except is_boto3_error_code("NoSuchEntity"):
        return None
    return _document(document)


def _document(document) -> dict:
    # IAM returns a document URL-encoded in its raw API; boto3 decodes it, some endpoints do not.
    return json.loads(unquote(document)) if isinstance(document, str) else document


def inline_policies(iam, role: str) -> dict:
    """{policy name: document} of every inline policy of the role: IAM's size limit counts them together."""
    names = [name for page in iam.get_paginator("list_role_policies").paginate(RoleName=role)
             for name in page["PolicyNames"]]
    found = {name: inline_policy(iam, role, name) for name in names}
    return {name: document for name, document in found.items() if document is not None}


@dataclass
class RolePolicy:
    """One role's inline policy of a module, as it is (`current`) and as the run would leave it (`wanted`, None to
    delete it), merged: only the statements named by `sids` (the run's suffix's) differ. `error` says why it is
    refused, when it would take the role beyond IAM's size limit: then nothing is written. `role_arn` places the
    role's account in the run's journal."""
    role: str
    policy_name: str
    sids: tuple
    current: dict | None
    wanted: dict | None
    error: str | None = None
    role_arn: str | None = None

    @property
    def changes(self) -> bool:
        return self.error is None and not policy_merge.same_statements(self.current, self.wanted)

    @property
    def before(self) -> dict | None:
        """The run's own statements before it: what the change record holds, so that a rollback puts back only
        those."""
        return policy_merge.owned(self.current, self.sids)

    @property
    def after(self) -> dict | None:
        return policy_merge.owned(self.wanted if self.changes else self.current, self.sids)


def read_policies(iam, role_names: list, max_workers: int) -> dict:
    """{role: {policy name: document}} of every inline policy of each role; a role that does not exist (any more)
    is left out. From ACCOUNT_LISTING_FROM_ROLES roles on, one listing of the account's roles with their inline
    policies (GetAccountAuthorizationDetails, up to 1,000 roles a page) where the caller may make it; else two calls
    or more per role, fewer than the listing of a large account takes for a few roles."""
    wanted = set(role_names)
    if len(wanted) >= ACCOUNT_LISTING_FROM_ROLES:
        try:
            return {role: documents for role, documents in account_role_policies(iam).items() if role in wanted}
        except is_boto3_error_code("AccessDenied"):
            pass  # a policy without iam:GetAccountAuthorizationDetails: each role is read on its own
    read = run_bounded(lambda role: inline_policies(iam, role), sorted(wanted), max_workers)
    found = {}
    for role, (documents, error) in read.items():
        if error is not None:
            if isinstance(error, is_boto3_error_code("NoSuchEntity", error)):
                continue
            raise error
        found[role] = documents
    return found


def account_role_policies(iam) -> dict:
    """{role: {policy name: document}} of every role of the account (GetAccountAuthorizationDetails, paginated)."""
    pages = iam.get_paginator("get_account_authorization_details").paginate(
        Filter=["Role"], PaginationConfig={"PageSize": AUTHORIZATION_DETAILS_PAGE})
    return {role["RoleName"]: {policy["PolicyName"]: _document(policy["PolicyDocument"])
                               for policy in role.get("RolePolicyList") or []}
            for page in pages for role in page["RoleDetailList"]}


def policies_to_plan_from(module, iam, role_names) -> dict:
    """{role: {policy name: document}} for the roles of a task to plan from. A dry run takes them as
    lambda_usage_info read them (its `roles`). A real run reads them again just before it plans what it writes
    there - IAM has no conditional write that would refuse a plan made from a stale reading, and an earlier step of
    the run may have written to the same roles - all at once (read_policies), not one role after another. A role
    left out is read on its own by plan_role_policy, which then says why it cannot be read."""
    if module.check_mode:
        return module.params.get("roles") or {}
    return read_policies(iam, role_names, module.params["max_workers"])


def plan_role_policy(iam, role: str, policy_name: str, build, role_arn: str | None = None,
                     documents: dict | None = None) -> RolePolicy:
    """The role's policy with the run's statements replaced, checked against IAM's size limit over all the role's
    inline policies. `build(current document)` gives (the Sids the run owns, its statements, and the statements to
    write instead once the role's policies would near the limit, or None). `documents`: the role's inline policies
    when they were read already (policies_to_plan_from), else they are read here."""
    documents = dict(documents) if documents is not None else inline_policies(iam, role)
    current = documents.pop(policy_name, None)
    sids, statements, collapsed_statements = build(current)
    wanted = policy_merge.merged(current, sids, statements)
    if collapsed_statements is not None and policy_merge.role_size(
            documents.values(), wanted) > policy_merge.COLLAPSE_AT:
        wanted = policy_merge.merged(current, sids, collapsed_statements)
    planned = RolePolicy(role, policy_name, tuple(sorted(sids)), current, wanted, role_arn=role_arn)
    if planned.changes:
        try:
            policy_merge.check_size(role, documents.values(), wanted)
        except policy_merge.PolicyTooLarge as error:
            planned.error = str(error)
    return planned


def write_role_policy(iam, planned: RolePolicy) -> None:
    """Write (or delete, when no statement is left) the merged policy; nothing when it does not change. The run's
    own statements before and after are announced to its journal first (journal.py), as its change record holds
    them."""
    if not planned.changes:
        return
    accepted = journal.announce("role_policy", planned.role_arn, role_name=planned.role,
                                policy_name=planned.policy_name, before=planned.before, after=planned.after)
    if planned.wanted is None:
        delete_inline_policy(iam, planned.role, planned.policy_name)
    else:
        put_inline_policy(iam, planned.role, planned.policy_name, planned.wanted)
    accepted()


def role_policy_changes(planned: dict, policy_name: str, granted: dict | None = None) -> list:
    """policy_changes for {role: RolePolicy}: the run's own statements before and after; refused roles left out,
    since nothing is written to them."""
    return policy_changes({role: (entry.before, entry.after) for role, entry in planned.items() if entry.error is None},
                          policy_name, granted)


def put_inline_policy(iam, role: str, policy_name: str, document: dict) -> None:
    iam.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(document))


def delete_inline_policy(iam, role: str, policy_name: str) -> None:
    try:
        iam.delete_role_policy(RoleName=role, PolicyName=policy_name)
    except is_boto3_error_code("NoSuchEntity"):
        pass  # already gone: what deleting it was for


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
