#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lambda_secrets
short_description: Wire secrets from AWS Secrets Manager into a fleet of Lambda functions
version_added: 0.1.0
description:
  - Ensures each named secret exists in Secrets Manager (from a value, typically a vaulted variable, or an
    existing secret's ARN), grants each selected function's execution role C(secretsmanager:GetSecretValue)
    on exactly those secrets' ARNs (inline policy C(lambdaopt-secrets-read)), and sets an environment
    variable C(<NAME>_SECRET_ARN) carrying each secret's ARN, never its value.
  - Environment updates merge with the function's existing variables; none is dropped.
  - The grant is one statement of the policy, named after the suffix (e.g. C(LambdaoptSecretsReadFordev)), merged
    with what the policy holds; statements of other suffixes, or written by hand, are never touched. A secret the
    statement already names stays in it while a function of the role still refers to it in its environment. A
    role whose inline policies would together exceed IAM's limit of 10,240 characters is not written, and its
    functions fail with the reason.
  - The module never takes a secret from the rest of the account. An existing secret's value is overwritten only
    with O(update_values), and only when tap.lambdaopt wrote its current version (the secret carries the
    C(lambdaopt:written-version) tag with the VersionId the module wrote, never the value) and rotation is off. A
    secret with rotation enabled, changed outside the collection since it last wrote it, not written by it, or
    holding a binary value is used as it is and reported as C(kept), with the reason.
  - A function is given a secret's ARN only once its execution role may read the secret, as IAM's policy
    simulator (C(iam:SimulatePrincipalPolicy)) answers for the role, its policies and permissions boundary. A
    policy just written is waited for up to O(iam_propagation_timeout) seconds; a deny or a boundary that does
    not allow the read fails the role's functions at once, unwired, so that no cold start meets AccessDenied.
  - Errors from environment updates are returned without the variables' values (Lambda echoes them when it
    refuses an environment over its 4 KB quota).
  - Secret values are never returned, shown in a diff, or logged.
  - Check mode returns the plan, C(--diff) shows it; a second run changes nothing.
options:
  secrets:
    description: The secrets to wire in.
    type: list
    elements: dict
    required: true
    suboptions:
      env:
        description: The variable's name, e.g. C(DATABASE_URL); the function gets C(<env><env_var_suffix>).
        type: str
        required: true
      value:
        description: The secret's value. Mutually exclusive with O(secrets[].secret_arn).
        type: str
      secret_arn:
        description: The ARN of an existing secret to use as it is.
        type: str
      secret_name:
        description: Name for the secret; defaults to O(secrets[].env) in lowercase with dashes, plus C(-<suffix>).
        type: str
  env_var_suffix:
    description: Appended to each O(secrets[].env) to name the variable that carries the ARN.
    type: str
    default: _SECRET_ARN
  update_values:
    description:
      - Put a new version when an existing secret's value differs from O(secrets[].value), provided tap.lambdaopt
        wrote its current version and rotation is off; otherwise the secret is reported as C(kept).
    type: bool
    default: false
  iam_propagation_timeout:
    description:
      - Seconds to wait, at most, for IAM to allow a role to read its secrets after the grant (IAM changes take
        seconds to propagate), polling IAM's policy simulator every 2 seconds. 0 checks once.
    type: int
    default: 60
extends_documentation_fragment:
  - tap.lambdaopt.fleet
  - tap.lambdaopt.updates
  - tap.lambdaopt.function_updates
  - tap.lambdaopt.execution_roles
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - tap.lambdaopt maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Give the dev fleet its database URL and API key from Secrets Manager
  tap.lambdaopt.lambda_secrets:
    suffix: dev
    secrets:
      - env: DATABASE_URL
        value: "{{ vault_database_url }}"
      - env: API_KEY
        secret_arn: arn:aws:secretsmanager:us-east-1:123456789012:secret:api-key-dev-AbCdEf
"""

RETURN = r"""
secrets:
  description:
    - Each secret, by name and ARN (never its value), and what was done to it.
    - C(status) is C(created), C(updated), C(unchanged), C(planned) in check mode, or C(kept) for an existing
      secret whose value differs (or cannot be compared) and is left as it is, with C(reason); C(failed), with
      C(error), for one an AWS error stopped the task before it was made, while those made before it keep their
      status.
  returned: always
  type: list
  elements: dict
  sample: [{"env": "DATABASE_URL", "secret_name": "database-url-dev", "status": "created", "action": "create",
            "secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:database-url-dev-AbCdEf"}]
functions:
  description: One entry per selected function, sorted by name. C(before) and C(after) show only the variables
    this module manages.
  returned: always
  type: list
  elements: dict
  sample: [{"function_name": "api-handler-dev", "status": "changed",
            "before": {"variables": {}, "role_policy": false},
            "after": {"variables": {"DATABASE_URL_SECRET_ARN": "arn:aws:secretsmanager:..."}, "role_policy": true}}]
failed_functions:
  description: Names of functions that could not be changed or were not found.
  returned: always
  type: list
  elements: str
  sample: []
role_policies:
  description:
    - Each execution role whose inline policy of this module the task changed (or would change), with the
      policy document before and after (C(null) where the role had or keeps none), so that the change can be
      undone.
    - C(status) is C(planned) in check mode; C(changed) once written, even where the role's functions then
      failed (the policy stays, and the change record holds it); C(failed), with C(error) and C(after) equal to
      C(before), when IAM refused it.
  returned: always
  type: list
  elements: dict
  sample: [{"role_name": "api-handler-role-dev", "policy_name": "lambdaopt-secrets-read", "before": null,
            "after": {"Version": "2012-10-17", "Statement": []}, "status": "changed"}]
summary:
  description: How many functions were changed (or would be), unchanged, refused something or failed; C(failed)
    counts the functions not found too.
  returned: always
  type: dict
  sample: {"functions": 6, "changed": 6, "unchanged": 0, "with_refusals": 0, "failed": 0}
diff:
  description: C(before) and C(after) of each function changed (or to be changed), by function name.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"api-handler-dev": {"variables": {}, "role_policy": false}},
           "after": {"api-handler-dev": {"variables": {"DATABASE_URL_SECRET_ARN": "arn:aws:secretsmanager:..."},
                                         "role_policy": true}}}
"""

import functools
import re
import uuid
from dataclasses import dataclass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils import journal, policy_merge, roles
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.api import (
    grant_then_apply,
    undecryptable_environment,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.discovery import discover, list_functions
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import (
    FLEET_ARGUMENT_SPEC,
    FLEET_REQUIRED_ONE_OF,
    UPDATE_ARGUMENT_SPEC,
    aws_client,
    fleet_selection_errors,
    parse_whole_arn,
    update_option_errors,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.results import (
    CREATED,
    FAILED,
    KEPT,
    PLANNED,
    UNCHANGED,
    UPDATED,
    acted,
    bulk_result,
    fail_part_way,
    finish,
    not_applied,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.role_access import wait_until_allowed

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

POLICY_NAME = "lambdaopt-secrets-read"
READ_GRANT = "SecretsRead"
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+")
SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
READ_ACTION = "secretsmanager:GetSecretValue"
# The VersionId of the value tap.lambdaopt last wrote, so that a value changed since elsewhere is never overwritten.
WRITTEN_VERSION_TAG = "lambdaopt:written-version"
MAX_PROPAGATION_TIMEOUT = 600
CREATE = "create"
UPDATE = "update"


@dataclass
class SecretPlan:
    """A secret as the module returns it (`entry`: by name and ARN, with what was done to it) and the value to
    write, kept beside the entry so that it never reaches the result."""

    entry: dict
    value: str | None = None


@dataclass
class FunctionPlan:
    """A function as the module returns it (`entry`) and every variable of its environment as read, which the update
    keeps: beside the entry, since the function's other variables may hold values that must not be returned."""

    entry: dict
    variables: dict


def input_errors(params: dict) -> list:
    errors = fleet_selection_errors(params)
    if not params["secrets"]:
        errors.append("secrets lists no secret: give at least one, with env and a value or a secret_arn")
    if not 0 <= params["iam_propagation_timeout"] <= MAX_PROPAGATION_TIMEOUT:
        errors.append(f"iam_propagation_timeout must be between 0 and {MAX_PROPAGATION_TIMEOUT} seconds")
    for entry in params["secrets"]:
        if not ENV_NAME.fullmatch(entry["env"]) or not ENV_NAME.fullmatch(entry["env"] + params["env_var_suffix"]):
            errors.append(f"secrets entry env {entry['env']!r} is not a valid environment variable name")
        if entry["secret_arn"] and not SECRET_ARN.fullmatch(entry["secret_arn"]):
            errors.append(f"secrets entry secret_arn {entry['secret_arn']!r} is not a Secrets Manager secret ARN")
        if entry["value"] is not None and not entry["secret_name"] and not params["suffix"]:
            errors.append(f"secrets entry {entry['env']!r} needs secret_name when no suffix is given")
        if entry["secret_name"] and not SECRET_NAME.fullmatch(entry["secret_name"]):
            errors.append(f"secrets entry secret_name {entry['secret_name']!r} is not a valid secret name")
    if len({entry["env"] for entry in params["secrets"]}) != len(params["secrets"]):
        errors.append("each secrets entry needs its own env")
    return errors


def secret_name(entry: dict, suffix: str | None) -> str:
    return entry["secret_name"] or f"{entry['env'].lower().replace('_', '-')}-{suffix}"


def read_policy(arns: list, sid: str = "ReadFunctionSecrets") -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": sid, "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
        "Resource": sorted(set(arns)) if len(set(arns)) > 1 else arns[0],
    }]}


def read_statements_builder(account_functions, suffix: str | None, role: str, functions: list, managed: dict):
    """plan_role_policy's `build` for one role: its suffix's statement reads the secrets of this task, and those
    it already names that a function of the role still refers to in its environment after the task (one of this
    task by a variable it keeps, any other - of any suffix, or of none - by any variable)."""
    names = [function["function_name"] for function in functions
             if roles.role_name(function["configuration"]["role_arn"]) == role]

    def build(current):
        sid, owned = policy_merge.run_sids(current, READ_GRANT, suffix, names)
        wanted = set(managed.values())
        held = {arn for entry in policy_merge.statements_of(policy_merge.owned(current, owned))
                for arn in policy_merge.as_list(entry["Resource"])} - wanted
        if held:
            referred = {value for function in functions if function["function_name"] in names
                        for key, value in function["environment"].items() if key not in managed}
            referred |= {value for function in account_functions()
                         if roles.role_name(function.get("Role", "")) == role and function["FunctionName"] not in names
                         for value in ((function.get("Environment") or {}).get("Variables") or {}).values()}
            wanted |= held & referred
        return owned, read_policy(sorted(wanted), sid)["Statement"], None

    return build


def plan_secrets(client, params: dict) -> list:
    """Each secret ([SecretPlan]) with its ARN (a placeholder for one still to create) and the action it needs."""
    planned = []
    for entry in params["secrets"]:
        if entry["secret_arn"]:
            arn = client.describe_secret(SecretId=entry["secret_arn"])["ARN"]
            planned.append(SecretPlan({"env": entry["env"], "secret_name": parse_whole_arn(arn)["resource_id"],
                                       "secret_arn": arn, "status": UNCHANGED, "action": None}))
            continue
        name = secret_name(entry, params["suffix"])
        try:
            description = client.describe_secret(SecretId=name)
        except is_boto3_error_code("ResourceNotFoundException"):
            planned.append(SecretPlan({"env": entry["env"], "secret_name": name, "secret_arn": f"(new secret {name})",
                                       "status": PLANNED, "action": CREATE}, entry["value"]))
            continue
        action, reason = plan_existing(client, description, entry["value"], params["update_values"])
        secret = {"env": entry["env"], "secret_name": name, "secret_arn": description["ARN"],
                  "status": PLANNED if action else KEPT if reason else UNCHANGED, "action": action}
        planned.append(SecretPlan({**secret, "reason": reason} if reason else secret, entry["value"]))
    return planned


def current_version(description: dict) -> str | None:
    """The VersionId that holds AWSCURRENT, from DescribeSecret's VersionIdsToStages."""
    return next((version for version, stages in (description.get("VersionIdsToStages") or {}).items()
                 if "AWSCURRENT" in stages), None)


def not_ours(description: dict) -> str | None:
    """Why tap.lambdaopt may not overwrite an existing secret's value, or None when it may: rotation owns the
    value, or its current version is not the one tap.lambdaopt last wrote (tagged on the secret)."""
    if description.get("RotationEnabled"):
        return "rotation is enabled: Secrets Manager changes its value, and writing it would undo a rotation"
    tags = boto3_tag_list_to_ansible_dict(description.get("Tags"))
    if WRITTEN_VERSION_TAG not in tags:
        return "tap.lambdaopt did not write its value"
    if tags[WRITTEN_VERSION_TAG] != current_version(description):
        return "its value was changed outside tap.lambdaopt since tap.lambdaopt last wrote it"
    return None


def plan_existing(client, description: dict, value: str, update_values: bool) -> tuple:
    """(action, reason the secret is kept as it is) for a secret that exists; (None, None) when it holds `value`.
    A rotated secret's value is not even read."""
    if description.get("RotationEnabled"):
        return None, not_ours(description)
    answer = client.get_secret_value(SecretId=description["ARN"])
    if "SecretString" not in answer:
        return None, ("it holds a binary value (SecretBinary), and lambda_secrets compares and writes text values "
                      "only: give its secret_arn to wire it in as it is")
    if answer["SecretString"] == value:
        return None, None
    reason = not_ours(description) or (
        None if update_values else "its value differs from the one given, and update_values is false")
    return (None, reason) if reason else (UPDATE, None)


def apply_secrets(client, planned: list, tags: dict) -> None:
    """Create or update each planned secret ([SecretPlan]) with its value."""
    for plan in planned:
        secret = plan.entry
        if secret["action"] == CREATE:
            # One token for every attempt: botocore makes a new one per call, so a call retried after one whose
            # answer was lost (the secret made) would be refused as ResourceExistsException; with the same token
            # and value, Secrets Manager answers with the secret already made.
            # The token becomes the new version's VersionId, tagged as the one tap.lambdaopt wrote.
            token = str(uuid.uuid4())
            # Announced to the run's journal (journal.py) first, by name: its ARN is known once it is made.
            accepted = journal.announce("resource", None, resource_kind="secret", name=secret["secret_name"],
                                        change=CREATED)
            secret["secret_arn"] = client.create_secret(
                Name=secret["secret_name"], SecretString=plan.value, ClientRequestToken=token,
                Tags=ansible_dict_to_boto3_tag_list({**tags, WRITTEN_VERSION_TAG: token}),
            )["ARN"]
            secret["status"] = CREATED
            accepted(arn=secret["secret_arn"])
        elif secret["action"] == UPDATE:
            # A token for the same reason. Should the tag not follow, the next run finds the secret changed
            # elsewhere and keeps it: the safe way to be wrong.
            token = str(uuid.uuid4())
            accepted = journal.announce("resource", secret["secret_arn"], resource_kind="secret",
                                        name=secret["secret_name"], change=UPDATED)
            client.put_secret_value(SecretId=secret["secret_arn"], SecretString=plan.value, ClientRequestToken=token)
            client.tag_resource(SecretId=secret["secret_arn"],
                                Tags=ansible_dict_to_boto3_tag_list({WRITTEN_VERSION_TAG: token}))
            secret["status"] = UPDATED
            accepted()


class SecretWiring:
    """Secrets made (or found) in Secrets Manager, each selected function's role allowed to read them, then the
    functions given their ARNs in their environments."""

    def __init__(self, module: AnsibleAWSModule):
        self.module = module
        self.params = module.params
        self.lambda_client = aws_client(module, "lambda")
        self.iam = aws_client(module, "iam")
        self.secrets_client = aws_client(module, "secretsmanager")
        # What the module is doing, for the message of an AWS error that stops it.
        self.doing = "prepare the secrets"
        self.missing: list = []
        self.secrets: list = []  # [SecretPlan]
        self.functions: list = []  # [FunctionPlan]
        self.documents: dict = {}  # role -> roles.RolePolicy
        self.role_arns: dict = {}
        self.granted: dict = {}  # role -> the error its grant met, or None

    def plan_functions(self, functions: list, managed: dict) -> None:
        """Each function's variables before and after, and its role's policy, read once per role."""
        self.doing = "read the functions' roles"
        # ListFunctions, read once and only when a secret a statement names may no longer be needed.
        account_functions = functools.cache(lambda: list_functions(self.lambda_client))
        policies = {}
        known = roles.policies_to_plan_from(
            self.module, self.iam, [roles.role_name(function["configuration"]["role_arn"]) for function in functions])
        for function in functions:
            role = roles.role_name(function["configuration"]["role_arn"])
            self.role_arns[role] = function["configuration"]["role_arn"]
            if role not in self.documents:
                self.documents[role] = roles.plan_role_policy(self.iam, role, POLICY_NAME, read_statements_builder(
                    account_functions, self.params["suffix"], role, functions, managed), self.role_arns[role],
                    known.get(role))
                policies[role] = policy_merge.same_statements(self.documents[role].current,
                                                              self.documents[role].wanted)
            variables = function["environment"]
            before = {"variables": {key: variables[key] for key in managed if key in variables},
                      "role_policy": policies[role]}
            after = {"variables": dict(managed), "role_policy": True}
            entry = {"function_name": function["function_name"], "role_name": role, "before": before,
                     "after": after, "status": UNCHANGED if before == after else PLANNED}
            if function.get("environment_error"):
                entry.update(status=FAILED, after=before,
                             error=undecryptable_environment(function["environment_error"]))
            elif self.documents[role].error and entry["status"] == PLANNED:
                entry.update(status=FAILED, after=before, error=self.documents[role].error)
            self.functions.append(FunctionPlan(entry, variables))

    def wire(self, managed: dict) -> None:
        """Grant each role, wait until IAM lets it read the secrets, then give its functions the ARNs."""
        arns = [plan.entry["secret_arn"] for plan in self.secrets]
        environments = {plan.entry["function_name"]: plan.variables for plan in self.functions}

        def grant(role):
            roles.write_role_policy(self.iam, self.documents[role])
            # Wired before its role may read the secrets, a function's cold starts would meet AccessDenied.
            wait_until_allowed(self.iam, self.role_arns[role], READ_ACTION, arns,
                               self.params["iam_propagation_timeout"])

        # Existing variables go back in with the new ones: nothing is dropped.
        self.granted = grant_then_apply(
            self.lambda_client, [plan.entry for plan in self.functions if plan.entry["status"] == PLANNED], grant,
            lambda entry: {"environment": {**environments[entry["function_name"]], **managed}}
            if entry["before"]["variables"] != managed else {},
            self.params["requests_per_second"], self.params["max_workers"],
            planned_from=lambda entry, changes: {"environment": environments[entry["function_name"]]},
            read_back=lambda entry, settings: {"variables": {key: settings["environment"][key] for key in managed
                                                             if key in settings["environment"]}},
        )

    def run(self) -> dict:
        # The functions' environments are merged with, never replaced by, the new variables.
        functions, self.missing = discover(self.lambda_client, self.params, need_concurrency=False,
                                           with_environment=True)
        self.secrets = plan_secrets(self.secrets_client, self.params)
        if not self.module.check_mode:
            apply_secrets(self.secrets_client, self.secrets, {"ManagedBy": "tap.lambdaopt"})
        managed = {plan.entry["env"] + self.params["env_var_suffix"]: plan.entry["secret_arn"]
                   for plan in self.secrets}
        self.plan_functions(functions, managed)
        if not self.module.check_mode:
            self.wire(managed)
        for plan in self.secrets:
            if plan.entry["status"] == KEPT:
                self.module.warn(f"secret {plan.entry['secret_name']} kept as it is: {plan.entry['reason']}")
        return self.result()

    def result(self) -> dict:
        """The module's result from what was planned (and done) so far; the secrets never with their values."""
        secrets = [plan.entry for plan in self.secrets]
        return bulk_result(
            self.module, "functions", [plan.entry for plan in self.functions], self.missing,
            changed=any(acted(secret) for secret in secrets), secrets=secrets,
            role_policies=roles.role_policy_changes(self.documents, POLICY_NAME,
                                                    None if self.module.check_mode else self.granted),
        )

    def result_not_applied(self, error: Exception) -> dict:
        """The result once `error` stopped the module: every secret and function still planned failed with it. The
        secrets created before it are returned, so that the change record holds them."""
        not_applied(self.module, [plan.entry for plan in self.secrets], str(error))
        not_applied(self.module, [plan.entry for plan in self.functions], f"could not {self.doing}: {error}")
        return self.result()


def main():
    argument_spec = dict(
        # Entries and their ARNs name secrets rather than hold them; only a value is hidden (no_log holds in lists).
        secrets=dict(type="list", elements="dict", required=True, no_log=False, options=dict(
            env=dict(type="str", required=True),
            value=dict(type="str", no_log=True),
            secret_arn=dict(type="str", no_log=False),
            secret_name=dict(type="str"),
        ), mutually_exclusive=[["value", "secret_arn"]], required_one_of=[["value", "secret_arn"]]),
        env_var_suffix=dict(type="str", default="_SECRET_ARN"),
        roles=dict(type="dict"),
        update_values=dict(type="bool", default=False),
        iam_propagation_timeout=dict(type="int", default=60),
        **FLEET_ARGUMENT_SPEC,
        **UPDATE_ARGUMENT_SPEC,
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, required_one_of=FLEET_REQUIRED_ONE_OF,
                              supports_check_mode=True)
    errors = input_errors(module.params) + update_option_errors(module.params)
    if errors:
        module.fail_json(msg="; ".join(errors))

    wiring = SecretWiring(module)
    try:
        result = wiring.run()
    except (BotoCoreError, ClientError) as error:
        fail_part_way(module, error, f"Could not {wiring.doing}", wiring.result_not_applied(error))
    finish(module, result, "could not wire secrets into")


if __name__ == "__main__":
    main()
