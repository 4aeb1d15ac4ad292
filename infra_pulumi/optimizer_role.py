"""The role tap.lambdaopt runs as, with the collection's own IAM policy for the fleet's suffix (optional, off unless
`optimizer_role` is set): assumable only by the principals the stack names, such as the role an AWX credential uses.

The policy is the collection's file (policies/lambdaopt-run.json, or lambdaopt-read-only.json for a role that may
only dry-run and report), with `{{ suffix }}` put in: the role and the playbooks' permission check read one
document."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

POLICIES = Path(__file__).resolve().parents[1] / "collections/ansible_collections/tap/lambdaopt/policies"
POLICY_FILES = {"run": "lambdaopt-run.json", "read_only": "lambdaopt-read-only.json"}
SUFFIX_PLACEHOLDER = "{{ suffix }}"
# A principal a trust policy may name: an account, user or role ARN (IAM User Guide, "AWS JSON policy elements:
# Principal").
PRINCIPAL = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:(root|user/.+|role/.+)")


@dataclass(frozen=True)
class RoleSettings:
    principals: tuple
    policy: str = "run"


def parse(enabled: bool | None, principals, policy: str | None) -> RoleSettings | None:
    """The role's settings from the stack's config, checked; None when the role is not wanted."""
    if not enabled:
        return None
    if not principals or not isinstance(principals, list):
        raise ValueError("optimizer_role needs optimizer_principals: the ARNs that may assume it, e.g. "
                         "[\"arn:aws:iam::111122223333:role/awx-execution\"]")
    wrong = [principal for principal in principals if not isinstance(principal, str) or not PRINCIPAL.fullmatch(
        principal)]
    if wrong:
        raise ValueError(f"optimizer_principals must be account, user or role ARNs, not {wrong}")
    policy = policy or "run"
    if policy not in POLICY_FILES:
        raise ValueError(f"optimizer_policy must be one of {sorted(POLICY_FILES)}, not {policy!r}")
    return RoleSettings(tuple(principals), policy)


def policy_document(suffix: str, policy: str = "run") -> dict:
    """The collection's policy for the fleet of `suffix`."""
    text = (POLICIES / POLICY_FILES[policy]).read_text().replace(SUFFIX_PLACEHOLDER, suffix)
    return json.loads(text)


def trust_policy(principals: tuple) -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": "sts:AssumeRole"}]}


def deploy_role(suffix: str, settings: RoleSettings, opts: pulumi.ResourceOptions) -> aws.iam.Role:
    # Named lambdaopt-<suffix>: the read-only policy lets a role whose name begins with lambdaopt simulate itself,
    # which the playbooks' permission check needs.
    role = aws.iam.Role(
        "lambdaopt-optimizer",
        name=f"lambdaopt-{suffix}",
        description=f"tap.lambdaopt runs as this role on the -{suffix} fleet ({settings.policy} policy)",
        assume_role_policy=json.dumps(trust_policy(settings.principals)),
        tags={"ManagedBy": "pulumi", "Environment": suffix},
        opts=opts,
    )
    aws.iam.RolePolicy(
        "lambdaopt-optimizer-policy",
        role=role.name,
        name=f"lambdaopt-{settings.policy.replace('_', '-')}",
        policy=json.dumps(policy_document(suffix, settings.policy)),
        opts=opts,
    )
    pulumi.export("optimizer_role_arn", role.arn)
    return role
