# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IAM policies the collection ships (policies/ at the collection's root), read as the steps of a run need them.

Each statement's Sid begins with the step it serves, in CamelCase (STEPS): `RightsizeWrite` is the right-sizing
step's, `ReadFunctions` is needed by every run (READ). A run's permission check simulates the statements of its
enabled steps only. The documents are templates: `{{ suffix }}` (SUFFIX_PLACEHOLDER) stands for the fleet's suffix,
and `*` for the Region and account, which a check fills in from the host and the caller's identity."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ansible_collections.amazon.aws.plugins.module_utils.arn import parse_aws_arn

SUFFIX_PLACEHOLDER = "{{ suffix }}"
READ = "read"
# Step name -> the CamelCase its statements' Sids begin with.
STEPS = {
    READ: "Read",
    "run_lock": "RunLock",
    "provisioned": "Provisioned",
    "rightsize": "Rightsize",
    "canary": "Canary",
    "retention": "Retention",
    "export": "Export",
    "tracing": "Tracing",
    "dead_letter": "DeadLetter",
    "alarms": "Alarms",
    "secrets": "Secrets",
    "tables": "Tables",
    "rollback": "Rollback",
}
RUN_POLICY = "lambdaopt-run.json"
READ_ONLY_POLICY = "lambdaopt-read-only.json"
# A policy's resource pattern, arn:partition:service:region:account:resource; parse_aws_arn takes no `*` account.
ARN_PATTERN = re.compile(
    r"arn:(?P<partition>[^:]*):(?P<service>[^:]*):(?P<region>[^:]*):(?P<account>[^:]*):(?P<resource>.+)")
ALLOWED = "allowed"


@dataclass(frozen=True)
class Request:
    """One SimulatePrincipalPolicy call: a statement's actions on its resources, filled in for the caller."""

    sid: str
    actions: tuple
    resources: tuple


def step_of(sid: str) -> str | None:
    """The step a statement serves, from its Sid; None for a Sid that names no step."""
    matches = [step for step, prefix in STEPS.items() if sid.startswith(prefix)]
    return max(matches, key=lambda step: len(STEPS[step]), default=None)


def render(document, suffix: str):
    """The policy document (or any part of one) for the fleet of `suffix`."""
    if isinstance(document, str):
        return document.replace(SUFFIX_PLACEHOLDER, suffix)
    if isinstance(document, list):
        return [render(item, suffix) for item in document]
    if isinstance(document, dict):
        return {key: render(value, suffix) for key, value in document.items()}
    return document


def _listed(value) -> tuple:
    return tuple(value) if isinstance(value, list) else (value,)


def statements_for(document: dict, steps) -> list:
    """The document's Allow statements that READ or one of `steps` needs."""
    wanted = {READ, *steps}
    return [statement for statement in document["Statement"]
            if statement.get("Effect") == "Allow" and step_of(statement.get("Sid", "")) in wanted]


def concrete(resource: str, partition: str, region: str, account: str) -> str:
    """A policy's resource pattern as the caller's account-region holds it: `*` for the Region and the account
    (and the `aws` partition) become the caller's. A resource of `*` stays `*`."""
    found = ARN_PATTERN.fullmatch(resource)
    if not found:
        return resource
    parts = found.groupdict()
    return ":".join(("arn", partition if parts["partition"] == "aws" else parts["partition"], parts["service"],
                     region if parts["region"] == "*" else parts["region"],
                     account if parts["account"] == "*" else parts["account"], parts["resource"]))


def requests(statements: list, partition: str, region: str, account: str) -> list:
    return [Request(statement.get("Sid", ""), _listed(statement["Action"]),
                    tuple(concrete(resource, partition, region, account)
                          for resource in _listed(statement["Resource"])))
            for statement in statements]


def principal_to_simulate(caller_arn: str) -> str | None:
    """The IAM principal whose policies decide what `caller_arn` (GetCallerIdentity's Arn) may do: an assumed
    role's role, or a user or role as it is; None for one IAM cannot simulate (the root user, a federated user).

    An assumed role's ARN does not hold the role's path, so a role with a path other than / is not found by this
    ARN and the check is skipped with a warning."""
    parts = parse_aws_arn(caller_arn) or {}
    if parts.get("service") == "sts" and parts.get("resource_type") == "assumed-role":
        role = parts["resource_id"].split("/", 1)[0]
        return f"arn:{parts['partition']}:iam::{parts['account_id']}:role/{role}"
    if parts.get("service") == "iam" and parts.get("resource_type") in ("role", "user"):
        return caller_arn
    return None


def denied(results: list) -> list:
    """[{action, resource, decision}] for every EvaluationResult that does not allow its action, each once (steps
    share actions: right-sizing, tracing and secrets all update the function's configuration)."""
    found = {(result["EvalActionName"], result.get("EvalResourceName", "*")): result["EvalDecision"]
             for result in results if result["EvalDecision"] != ALLOWED}
    return [{"action": action, "resource": resource, "decision": decision}
            for (action, resource), decision in sorted(found.items())]


def missing_message(missing: list, principal: str) -> str:
    lines = sorted({f"{entry['action']} on {entry['resource']}" for entry in missing})
    return (f"{principal} may not perform {len(lines)} action(s) the enabled steps need, so nothing was changed: "
            f"{'; '.join(lines)}. Grant them (the collection's policies/{RUN_POLICY} for a run, "
            f"policies/{READ_ONLY_POLICY} for a dry run), turn the steps that need them off, or skip this check "
            "with lambdaopt_permission_check=false")
