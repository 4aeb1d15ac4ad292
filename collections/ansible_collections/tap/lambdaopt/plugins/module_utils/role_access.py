# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether an execution role may make a call on some resources, asked of IAM's policy simulator
(SimulatePrincipalPolicy: the role's inline and attached policies and its permissions boundary), and waited for
while a policy just written is not yet in force: IAM is eventually consistent, so a grant may take seconds to
count."""

from __future__ import annotations

import math

try:
    from botocore.exceptions import BotoCoreError, WaiterError
    from botocore.waiter import WaiterModel, create_waiter_with_client
except ImportError:  # handled by AnsibleAWSModule
    BotoCoreError = Exception

POLL_SECONDS = 2
# Up to 1,000 results a call; a task names far fewer resources.
MAX_ITEMS = 1000
WAITER_NAME = "RoleAllowed"
WAITER_MODEL = {
    "version": 2,
    "waiters": {WAITER_NAME: {
        "operation": "SimulatePrincipalPolicy",
        "delay": POLL_SECONDS,
        "maxAttempts": 1,
        "acceptors": [
            {"state": "success", "matcher": "path", "argument": "length(EvaluationResults[?EvalDecision != 'allowed'])",
             "expected": 0},
            # Waiting cannot lift an explicit deny, nor a permissions boundary that does not allow the call.
            {"state": "failure", "matcher": "pathAny", "argument": "EvaluationResults[].EvalDecision",
             "expected": "explicitDeny"},
            {"state": "failure", "matcher": "pathAny",
             "argument": "EvaluationResults[].PermissionsBoundaryDecisionDetail.AllowedByPermissionsBoundary",
             "expected": False},
            {"state": "retry", "matcher": "pathAny", "argument": "EvaluationResults[].EvalDecision",
             "expected": "implicitDeny"},
        ],
    }},
}


class NotAllowed(BotoCoreError):
    """The role may not make the call on some of the resources: denied, or not yet allowed within the bound."""

    fmt = "{role_arn} may not call {action} on {denied}{reason}"


def denials(response: dict | None) -> dict:
    """{resource: why it is not allowed} from a SimulatePrincipalPolicy answer."""
    found = {}
    for result in (response or {}).get("EvaluationResults") or []:
        if result.get("EvalDecision") == "allowed":
            continue
        boundary = (result.get("PermissionsBoundaryDecisionDetail") or {}).get("AllowedByPermissionsBoundary")
        found[result.get("EvalResourceName")] = (
            "not allowed by its permissions boundary" if boundary is False else result.get("EvalDecision"))
    return found


def wait_until_allowed(iam, role_arn: str, action: str, resources: list, timeout: float) -> None:
    """Return once IAM's simulator allows `role_arn` to call `action` on every one of `resources`; raise NotAllowed
    at once when a deny or a permissions boundary stands in the way, or once `timeout` seconds have passed."""
    waiter = create_waiter_with_client(WAITER_NAME, WaiterModel(WAITER_MODEL), iam)
    attempts = 1 + math.ceil(max(timeout, 0) / POLL_SECONDS)
    try:
        waiter.wait(PolicySourceArn=role_arn, ActionNames=[action], ResourceArns=sorted(resources),
                    MaxItems=MAX_ITEMS, WaiterConfig={"Delay": POLL_SECONDS, "MaxAttempts": attempts})
    except WaiterError as error:
        answer = error.last_response or {}
        if "Error" in answer:
            raise NotAllowed(role_arn=role_arn, action=action, denied=", ".join(sorted(resources)),
                             reason=f": IAM's policy simulator could not verify it ({answer['Error'].get('Code')}: "
                                    f"{answer['Error'].get('Message')}); the caller needs "
                                    "iam:SimulatePrincipalPolicy on the role") from None
        denied = denials(answer)
        if not denied:
            raise
        timed_out = "Max attempts exceeded" in str(error)
        raise NotAllowed(
            role_arn=role_arn, action=action,
            denied=", ".join(f"{resource} ({why})" for resource, why in sorted(denied.items())),
            reason=f" after waiting {timeout:g} s for IAM to propagate the grant" if timed_out else "",
        ) from None
