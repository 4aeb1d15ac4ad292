"""IAM's policy simulator for roles (SimulatePrincipalPolicy), which moto does not implement.

AWS: "Simulate how a set of IAM policies attached to an IAM entity works with a list of API operations and
Amazon Web Services resources to determine the policies' effective permissions. [...] The simulation does not
perform the API operations; it only checks the authorization to determine if the simulated policies allow or
deny the operations." Each result's EvalDecision is `allowed`, `explicitDeny` or `implicitDeny`; "if the
entity has a permissions boundary, the boundary is also included" (IAM API Reference,
SimulatePrincipalPolicy and EvaluationResult, https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html).

Evaluated here as IAM's policy logic has it: an explicit deny in any policy wins; otherwise the role's inline and
attached policies must allow, and so must its permissions boundary when it has one. Statements are matched by
moto's own policy evaluator (actions and resources with wildcards); conditions are not evaluated, so a
conditional statement counts as matching. Only roles are simulated: a user or group ARN is refused.
"""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.iam.exceptions import InvalidInput
from moto.iam.models import IAMBackend, Role
from moto.iam.responses import IamResponse


def apply() -> None:
    IamResponse.simulate_principal_policy = simulate_principal_policy


def _results(policies: list, action: str, resource: str) -> list:
    return [IAMPolicy(policy).is_action_permitted(action, resource) for policy in policies]


def decide(identity: list, boundary: list | None, action: str, resource: str) -> tuple[str, bool | None]:
    """(EvalDecision, allowed by the permissions boundary or None without one) for one action on one resource."""
    found = _results(identity, action, resource)
    bounded = _results(boundary, action, resource) if boundary is not None else []
    allowed_by_boundary = None if boundary is None else (
        PermissionResult.PERMITTED in bounded and PermissionResult.DENIED not in bounded)
    if PermissionResult.DENIED in found + bounded:
        return "explicitDeny", allowed_by_boundary
    if PermissionResult.PERMITTED in found and allowed_by_boundary is not False:
        return "allowed", allowed_by_boundary
    return "implicitDeny", allowed_by_boundary


def _role(backend: IAMBackend, arn: str) -> Role:
    if ":role/" not in arn:
        raise InvalidInput(f"The emulator simulates roles only, not {arn}")
    return backend.get_role_by_arn(arn)  # NoSuchEntity for a role that does not exist


def simulate_principal_policy(self: IamResponse) -> ActionResult:
    role = _role(self.backend, self._get_param("PolicySourceArn"))
    identity = list(role.policies.values()) + list(role.managed_policies.values())
    boundary = ([self.backend.get_policy(role.permissions_boundary_arn)]
                if role.permissions_boundary_arn else None)
    results = []
    for action in self._get_param("ActionNames", []):
        for resource in self._get_param("ResourceArns", []) or ["*"]:
            decision, allowed_by_boundary = decide(identity, boundary, action, resource)
            result = {"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": decision,
                      "MatchedStatements": [], "MissingContextValues": []}
            if allowed_by_boundary is not None:
                result["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": allowed_by_boundary}
            results.append(result)
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})
