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
      secret whose value differs (or cannot be compared) and is left as it is, with C(reason).
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
"""

import functools
import re
import uuid

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
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
    exit_with_function_results,
    fail_part_way,
    fleet_selection_errors,
    update_option_errors,
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
    """Each secret with its ARN (a placeholder for one still to create) and the action it needs."""
    planned = []
    for entry in params["secrets"]:
        if entry["secret_arn"]:
            arn = client.describe_secret(SecretId=entry["secret_arn"])["ARN"]
            planned.append({"env": entry["env"], "secret_name": arn.split(":secret:", 1)[1], "secret_arn": arn,
                            "status": "unchanged", "action": None})
            continue
        name = secret_name(entry, params["suffix"])
        try:
            description = client.describe_secret(SecretId=name)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            planned.append({"env": entry["env"], "secret_name": name, "secret_arn": f"(new secret {name})",
                            "status": "planned", "action": "create", "value": entry["value"]})
            continue
        action, reason = plan_existing(client, description, entry["value"], params["update_values"])
        secret = {"env": entry["env"], "secret_name": name, "secret_arn": description["ARN"],
                  "status": "planned" if action else "kept" if reason else "unchanged", "action": action,
                  "value": entry["value"]}
        planned.append({**secret, "reason": reason} if reason else secret)
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
    tags = {tag["Key"]: tag["Value"] for tag in description.get("Tags") or []}
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
    return (None, reason) if reason else ("update", None)


def apply_secrets(client, planned: list, tags: dict) -> None:
    for secret in planned:
        if secret["action"] == "create":
            # One token for every attempt: botocore makes a new one per call, so a call retried after one whose
            # answer was lost (the secret made) would be refused as ResourceExistsException; with the same token
            # and value, Secrets Manager answers with the secret already made.
            # The token becomes the new version's VersionId, tagged as the one tap.lambdaopt wrote.
            token = str(uuid.uuid4())
            # Announced to the run's journal (journal.py) first, by name: its ARN is known once it is made.
            accepted = journal.announce("resource", None, resource_kind="secret", name=secret["secret_name"],
                                        change="created")
            secret["secret_arn"] = client.create_secret(
                Name=secret["secret_name"], SecretString=secret["value"], ClientRequestToken=token,
                Tags=[{"Key": key, "Value": value} for key, value in {**tags, WRITTEN_VERSION_TAG: token}.items()],
            )["ARN"]
            secret["status"] = "created"
            accepted(arn=secret["secret_arn"])
        elif secret["action"] == "update":
            # A token for the same reason. Should the tag not follow, the next run finds the secret changed
            # elsewhere and keeps it: the safe way to be wrong.
            token = str(uuid.uuid4())
            accepted = journal.announce("resource", secret["secret_arn"], resource_kind="secret",
                                        name=secret["secret_name"], change="updated")
            client.put_secret_value(SecretId=secret["secret_arn"], SecretString=secret["value"],
                                    ClientRequestToken=token)
            client.tag_resource(SecretId=secret["secret_arn"], Tags=[{"Key": WRITTEN_VERSION_TAG, "Value": token}])
            secret["status"] = "updated"
            accepted()


def without_values(planned: list) -> list:
    """The secrets as the module returns them: never with their values."""
    for secret in planned:
        secret.pop("value", None)
    return planned


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
        update_values=dict(type="bool", default=False),
        iam_propagation_timeout=dict(type="int", default=60),
        **FLEET_ARGUMENT_SPEC,
        **UPDATE_ARGUMENT_SPEC,
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, required_one_of=FLEET_REQUIRED_ONE_OF,
                              supports_check_mode=True)
    params = module.params
    errors = input_errors(params) + update_option_errors(params)
    if errors:
        module.fail_json(msg="; ".join(errors))

    lambda_client, iam = aws_client(module, "lambda"), aws_client(module, "iam")
    secrets_client = aws_client(module, "secretsmanager")
    planned = []
    try:
        # The functions' environments are merged with, never replaced by, the new variables.
        functions, missing = discover(lambda_client, params, need_concurrency=False, with_environment=True)
        planned = plan_secrets(secrets_client, params)
        if not module.check_mode:
            apply_secrets(secrets_client, planned, {"ManagedBy": "tap.lambdaopt"})
    except (BotoCoreError, ClientError) as error:
        # The secrets created before the error are returned, so that the change record holds them.
        for secret in planned:
            if secret["status"] == "planned" and not module.check_mode:
                secret.update(status="failed", error=f"not made: {error}")
        module.fail_json_aws(error, msg="Could not prepare the secrets", secrets=without_values(planned),
                             functions=[], failed_functions=[], role_policies=[])

    managed = {secret["env"] + params["env_var_suffix"]: secret["secret_arn"] for secret in planned}
    entries, policies, documents, role_arns = [], {}, {}, {}
    # ListFunctions, read once and only when a secret a statement names may no longer be needed.
    account_functions = functools.cache(lambda: list_functions(lambda_client))
    try:
        for function in functions:
            role = roles.role_name(function["configuration"]["role_arn"])
            role_arns[role] = function["configuration"]["role_arn"]
            if role not in documents:
                documents[role] = roles.plan_role_policy(iam, role, POLICY_NAME, read_statements_builder(
                    account_functions, params["suffix"], role, functions, managed), role_arns[role])
                policies[role] = policy_merge.same_statements(documents[role].current, documents[role].wanted)
            variables = function["environment"]
            before = {"variables": {key: variables[key] for key in managed if key in variables},
                      "role_policy": policies[role]}
            after = {"variables": dict(managed), "role_policy": True}
            entry = {"function_name": function["function_name"], "role_name": role, "before": before,
                     "after": after, "variables": variables, "status": "unchanged" if before == after else "planned"}
            if function.get("environment_error"):
                entry.update(status="failed", after=before,
                             error=undecryptable_environment(function["environment_error"]))
            elif documents[role].error and entry["status"] == "planned":
                entry.update(status="failed", after=before, error=documents[role].error)
            entries.append(entry)
    except (BotoCoreError, ClientError) as error:
        for entry in entries:
            del entry["variables"]
        fail_part_way(module, error, "Could not read the functions' roles", entries, missing,
                      secrets=without_values(planned), role_policies=[],
                      changed=any(secret["status"] not in ("unchanged", "kept") for secret in planned))

    granted = None
    if not module.check_mode:
        def grant(role):
            roles.write_role_policy(iam, documents[role])
            # Wired before its role may read the secrets, a function's cold starts would meet AccessDenied.
            wait_until_allowed(iam, role_arns[role], READ_ACTION, [secret["secret_arn"] for secret in planned],
                               params["iam_propagation_timeout"])

        # Existing variables go back in with the new ones: nothing is dropped.
        granted = grant_then_apply(
            lambda_client, [entry for entry in entries if entry["status"] == "planned"], grant,
            lambda entry: {"environment": {**entry["variables"], **managed}}
            if entry["before"]["variables"] != managed else {},
            params["requests_per_second"], params["max_workers"],
            planned_from=lambda entry, changes: {"environment": entry["variables"]},
            read_back=lambda entry, settings: {"variables": {key: settings["environment"][key] for key in managed
                                                             if key in settings["environment"]}},
        )

    for secret in planned:
        if secret["status"] == "kept":
            module.warn(f"secret {secret['secret_name']} kept as it is: {secret['reason']}")
    for entry in entries:
        del entry["variables"]
    exit_with_function_results(
        module, entries, missing, "could not wire secrets into", secrets=without_values(planned),
        changed=any(secret["status"] not in ("unchanged", "kept") for secret in planned),
        role_policies=roles.role_policy_changes(documents, POLICY_NAME, granted),
    )


if __name__ == "__main__":
    main()
