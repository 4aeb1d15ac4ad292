# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find one account-region's functions: by suffix, explicit names, a name pattern and tags."""

from __future__ import annotations

import fnmatch

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
    errors = {name: error for name, (_, error) in results.items() if error is not None}
    for error in errors.values():
        if getattr(error, "response", {}).get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise error
    return {name: result for name, (result, error) in results.items() if error is None}


def matches_tags(function_tags: dict, wanted: dict | None) -> bool:
    return all(function_tags.get(key) == str(value) for key, value in (wanted or {}).items())
