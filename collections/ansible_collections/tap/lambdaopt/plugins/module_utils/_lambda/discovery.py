# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find one account-region's functions - by suffix, explicit names, a name pattern and tags - and read each one's
configuration: the first step every module takes, whether or not it measures anything."""

from __future__ import annotations

import fnmatch

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import log_groups
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import function_name_of, has_suffix
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter, run_bounded

# GetFunction has its own quota of 100 requests/s; stay well under it.
GET_FUNCTION_PER_SECOND = 50


def list_functions(lambda_client) -> list:
    """Every $LATEST function configuration of the account-region (ListFunctions, paginated)."""
    paginator = lambda_client.get_paginator("list_functions")
    return [function for page in paginator.paginate() for function in page["Functions"]]


def select(functions: list, suffix: str | None = None, names: list | None = None,
           name_pattern: str | None = None) -> tuple[list, list]:
    """(selected configurations, requested names that do not exist). A suffix matches names that
    end in `-{suffix}` exactly, so `transform-dev2` is not part of `dev`."""
    by_name = {function["FunctionName"]: function for function in functions}
    if names is not None:
        wanted = [function_name_of(entry) for entry in names]
        selected = [by_name[name] for name in dict.fromkeys(wanted) if name in by_name]
        missing = [name for name in dict.fromkeys(wanted) if name not in by_name]
    else:
        selected, missing = list(functions), []
    if suffix is not None:
        selected = [function for function in selected if has_suffix(function["FunctionName"], suffix)]
    if name_pattern:
        selected = [function for function in selected if fnmatch.fnmatchcase(function["FunctionName"], name_pattern)]
    return sorted(selected, key=lambda function: function["FunctionName"]), missing


def details(lambda_client, names: list, max_workers: int = 8) -> dict:
    """{name: {"reserved_concurrency", "tags", "state", "last_update_status"}} from GetFunction, which unlike
    ListFunctions returns them all. Functions that vanished meanwhile are left out."""
    limiter = RateLimiter(GET_FUNCTION_PER_SECOND)

    def fetch(name):
        limiter.acquire()
        response = lambda_client.get_function(FunctionName=name)
        return {
            "reserved_concurrency": response.get("Concurrency", {}).get("ReservedConcurrentExecutions"),
            "tags": response.get("Tags", {}),
            "state": response["Configuration"].get("State"),
            "last_update_status": response["Configuration"].get("LastUpdateStatus"),
        }

    results = run_bounded(fetch, names, max_workers)
    errors = {name: error for name, (_result, error) in results.items() if error is not None}
    for error in errors.values():
        if not isinstance(error, is_boto3_error_code("ResourceNotFoundException", error)):
            raise error
    return {name: result for name, (result, error) in results.items() if error is None}


def matches_tags(function_tags: dict, wanted: dict | None) -> bool:
    return all(function_tags.get(key) == str(value) for key, value in (wanted or {}).items())


def configuration_of(function: dict, detail: dict) -> dict:
    """`function` from ListFunctions, `detail` from GetFunction where it was read: only GetFunction tells the state
    and update status (ListFunctions leaves both out), so without it they are unknown (None), never assumed."""
    return {
        "memory_size": function["MemorySize"],
        "timeout": function["Timeout"],
        "reserved_concurrency": detail.get("reserved_concurrency"),
        "architecture": (function.get("Architectures") or ["x86_64"])[0],
        "runtime": function.get("Runtime"),
        "tracing_mode": function.get("TracingConfig", {}).get("Mode", "PassThrough"),
        "dead_letter_target": function.get("DeadLetterConfig", {}).get("TargetArn"),
        "state": detail.get("state"),
        "last_update_status": detail.get("last_update_status"),
        "role_arn": function["Role"],
        "log_group": log_groups.group_of(function),
        "log_format": log_groups.format_of(function),
    }


def discover(lambda_client, params: dict, need_concurrency: bool = True,
             with_environment: bool = False) -> tuple[list, list]:
    """([{function_name, function_arn, configuration}], names asked for that do not exist).

    Reserved concurrency and tags need one GetFunction per function; without `need_concurrency`
    and a tag filter, ListFunctions alone answers and reserved_concurrency is left out.
    `with_environment` adds each function's environment variables under `environment`, kept out of
    `configuration` so that results which return it never carry them, and `environment_error` where Lambda
    cannot decrypt them."""
    selected, missing = select(
        list_functions(lambda_client),
        suffix=params.get("suffix"),
        names=params.get("functions"),
        name_pattern=params.get("name_pattern"),
    )
    names = [function["FunctionName"] for function in selected]
    if need_concurrency or params.get("tags"):
        function_details = details(lambda_client, names)
    else:
        function_details = {name: {"tags": {}} for name in names}
    found = []
    for function in selected:
        detail = function_details.get(function["FunctionName"])
        if detail is None:
            missing.append(function["FunctionName"])  # deleted since it was listed
            continue
        if not matches_tags(detail["tags"], params.get("tags")):
            continue
        configuration = configuration_of(function, detail)
        if not need_concurrency:
            del configuration["reserved_concurrency"]
        entry = {
            "function_name": function["FunctionName"],
            "function_arn": function["FunctionArn"],
            "configuration": configuration,
        }
        if with_environment:
            entry["environment"] = function.get("Environment", {}).get("Variables", {})
            if function.get("Environment", {}).get("Error"):
                # Lambda cannot decrypt the variables, so they are unknown rather than none.
                entry["environment_error"] = function["Environment"]["Error"]
        found.append(entry)
    return found, missing
