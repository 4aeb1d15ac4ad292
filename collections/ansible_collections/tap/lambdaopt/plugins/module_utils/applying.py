# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Applying configuration changes to Lambda functions: one UpdateFunctionConfiguration per function
with all its changed fields, within the control-plane quota, waiting for each update to finish."""

from __future__ import annotations

from collections.abc import Callable

from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter, run_bounded

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass

# Result field -> (UpdateFunctionConfiguration parameter, key the value goes under, if any).
CONFIGURATION_FIELDS = {
    "memory_size": ("MemorySize", None),
    "timeout": ("Timeout", None),
    "tracing_mode": ("TracingConfig", "Mode"),
    "dead_letter_target": ("DeadLetterConfig", "TargetArn"),
    # The whole map: UpdateFunctionConfiguration replaces a function's variables.
    "environment": ("Environment", "Variables"),
}


def configuration_update(changes: dict) -> dict:
    """The UpdateFunctionConfiguration parameters for the configuration fields among `changes`."""
    update = {}
    for field, value in changes.items():
        if field in CONFIGURATION_FIELDS:
            parameter, key = CONFIGURATION_FIELDS[field]
            update[parameter] = {key: value} if key else value
    return update
# function_updated_v2 polls GetFunction (its own 100/s quota) once a second.
WAITER_CONFIG = {"Delay": 1, "MaxAttempts": 300}


def wait_until_updated(lambda_client, name: str) -> None:
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=WAITER_CONFIG)


def apply_function(lambda_client, limiter: RateLimiter, name: str, changes: dict, update_in_progress: bool) -> None:
    """Apply {field: value} to one function. An update already in progress is waited for first,
    or Lambda would answer ResourceConflictException."""
    configuration = configuration_update(changes)
    if configuration:
        if update_in_progress:
            wait_until_updated(lambda_client, name)
        limiter.acquire()
        lambda_client.update_function_configuration(FunctionName=name, **configuration)
        wait_until_updated(lambda_client, name)
    if "reserved_concurrency" in changes:
        limiter.acquire()
        if changes["reserved_concurrency"] is None:
            lambda_client.delete_function_concurrency(FunctionName=name)
        else:
            lambda_client.put_function_concurrency(
                FunctionName=name, ReservedConcurrentExecutions=changes["reserved_concurrency"])


def apply_all(lambda_client, work: dict, requests_per_second: float, max_workers: int,
              in_progress: set) -> dict:
    """Apply {name: {field: value}} across the fleet; {name: error or None}."""
    limiter = RateLimiter(requests_per_second)
    results = run_bounded(
        lambda name: apply_function(lambda_client, limiter, name, work[name], name in in_progress),
        sorted(work), max_workers,
    )
    return {name: error for name, (_, error) in results.items()}


def grant_then_apply(lambda_client, pending: list, grant_role: Callable[[str], None],
                     changes_of: Callable[[dict], dict], requests_per_second: float, max_workers: int) -> None:
    """Roles first, then functions: each role gets what its functions will need (`grant_role`), and
    a function is updated (`changes_of(entry)`, possibly empty) only once its role has it. Marks each
    pending entry `changed`, or `failed` with the error and its `after` reset to `before`."""
    role_errors = {}
    for role in sorted({entry["role_name"] for entry in pending}):
        try:
            grant_role(role)
        except (BotoCoreError, ClientError) as error:
            role_errors[role] = error
    work = {entry["function_name"]: changes_of(entry) for entry in pending if entry["role_name"] not in role_errors}
    errors = apply_all(lambda_client, {name: changes for name, changes in work.items() if changes},
                       requests_per_second, max_workers, set())
    for entry in pending:
        error = role_errors.get(entry["role_name"]) or errors.get(entry["function_name"])
        if error is not None:
            entry.update(status="failed", error=str(error), after=entry["before"])
        else:
            entry["status"] = "changed"
