"""The Pulumi program creates the optimizer's role only when asked, assumable only by the principals named, holding
the collection's own policy for the stack's suffix (Pulumi mock runtime, no CLI)."""

import json

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import permissions
from optimizer_role import parse

from tests.pulumi.mocks import declare, of_type
from tests.test_setup import COLLECTION

SECRETS = {"DATABASE_URL": "postgres://app:hunter2@db.internal/app", "API_KEY": "sk-live-3f9a"}
AWX_ROLE = "arn:aws:iam::111122223333:role/awx-execution"


def roles_and_policies(config):
    resources = declare({"suffix": "dev", **SECRETS, **config})
    roles = {role.name: role.inputs for role in of_type(resources, "aws:iam/role:Role")}
    policies = {policy.name: policy.inputs for policy in of_type(resources, "aws:iam/rolePolicy:RolePolicy")}
    return roles, policies


def test_no_optimizer_role_unless_asked():
    roles, policies = roles_and_policies({})
    assert "lambdaopt-optimizer" not in roles and "lambdaopt-optimizer-policy" not in policies


@pytest.mark.parametrize("policy, file", [("run", permissions.RUN_POLICY), ("read_only", permissions.READ_ONLY_POLICY)])
def test_the_role_holds_the_collections_policy_for_the_suffix_and_trusts_only_the_named_principals(policy, file):
    roles, policies = roles_and_policies({"optimizer_role": "true", "optimizer_principals": json.dumps([AWX_ROLE]),
                                          "optimizer_policy": policy})
    role = roles["lambdaopt-optimizer"]
    assert role["name"] == "lambdaopt-dev"
    assert json.loads(role["assumeRolePolicy"]) == {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": [AWX_ROLE]}, "Action": "sts:AssumeRole"}]}
    attached = policies["lambdaopt-optimizer-policy"]
    shipped = json.loads((COLLECTION / "policies" / file).read_text())
    assert json.loads(attached["policy"]) == permissions.render(shipped, "dev")
    assert "{{" not in attached["policy"] and "function:*-dev" in attached["policy"]
    # The permission check simulates a role whose name the read-only policy lets it simulate.
    [simulate] = [statement for statement in shipped["Statement"] if statement["Sid"] == "ReadOwnPermissions"]
    assert simulate["Resource"].rsplit("/", 1)[-1].rstrip("*") in role["name"]


@pytest.mark.parametrize("principals, policy, message", [
    (None, None, "needs optimizer_principals"),
    ([], None, "needs optimizer_principals"),
    (["awx-execution"], None, "must be account, user or role ARNs"),
    ([AWX_ROLE], "admin", "optimizer_policy must be one of"),
])
def test_a_role_asked_for_without_whom_it_trusts_or_with_an_unknown_policy_is_refused(principals, policy, message):
    with pytest.raises(ValueError, match=message):
        parse(True, principals, policy)
    assert parse(False, principals, policy) is None
