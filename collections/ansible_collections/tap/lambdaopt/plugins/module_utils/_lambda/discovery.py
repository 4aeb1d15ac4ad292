# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find one account-region's functions - by suffix, explicit names, a name pattern and tags - and read each one's
configuration: the first step every module takes, whether or not it measures anything.

lambda_usage_info reads each function once (ListFunctions, then GetFunction); what it read travels with its result,
and a later module given those entries as `functions` plans from them instead of reading every function again
(`carried`). What it writes it writes with the RevisionId read then, or reads again first (api.py)."""

from __future__ import annotations

import fnmatch

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.tap.lambdaopt.plugins.module_utils import journal
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import log_groups
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import function_name_of, has_suffix
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import run_bounded

LATEST = "$LATEST"
# The settings of `configuration` a step of the run may change (journal.FIELD_MODULES), which a later step planning
# from lambda_usage_info's reading takes from the run's journal.
CONFIGURATION_KEYS = ("memory_size", "timeout", "reserved_concurrency", "tracing_mode", "dead_letter_target")


def list_functions(lambda_client, all_versions: bool = False) -> list:
    """Every $LATEST function configuration of the account-region (ListFunctions, paginated); with `all_versions`,
    every published version's too (FunctionVersion=ALL): one listing that tells which functions have published a
    version, instead of a call per function."""
    paginator = lambda_client.get_paginator("list_functions")
    pages = paginator.paginate(**({"FunctionVersion": "ALL"} if all_versions else {}))
    return [function for page in pages for function in page["Functions"]]


def latest_of(listing: list) -> list:
    """The $LATEST configurations of a listing made with all_versions, each under its function's unqualified ARN (the
    listing qualifies it `:$LATEST`)."""
    suffix = f":{LATEST}"
    return [{**function, "FunctionArn": function["FunctionArn"].removesuffix(suffix)}
            for function in listing if function.get("Version", LATEST) == LATEST]


def published_versions(listing: list) -> dict:
    """{function name: {version: its configuration}} of the published versions in a listing made with all_versions;
    a function that has published none is left out."""
    versions: dict = {}
    for function in listing:
        if function.get("Version", LATEST) != LATEST:
            versions.setdefault(function["FunctionName"], {})[function["Version"]] = function
    return versions


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


def select_as_asked(functions: list, params: dict) -> tuple[list, list]:
    """select() by a module's fleet options (suffix, functions, name_pattern); its tags need GetFunction."""
    return select(functions, suffix=params.get("suffix"), names=params.get("functions"),
                  name_pattern=params.get("name_pattern"))


def details(lambda_client, names: list, max_workers: int = 8) -> dict:
    """{name: {"reserved_concurrency", "tags", "state", "last_update_status", "revision_id", "listed"}} from
    GetFunction, which unlike ListFunctions returns them all (`listed`: its configuration, as ListFunctions gives
    it). Functions that vanished meanwhile are left out."""
    def fetch(name):  # paced to GetFunction's own quota (pacing.py)
        response = lambda_client.get_function(FunctionName=name)
        return {
            "reserved_concurrency": response.get("Concurrency", {}).get("ReservedConcurrentExecutions"),
            "tags": response.get("Tags", {}),
            "state": response["Configuration"].get("State"),
            "last_update_status": response["Configuration"].get("LastUpdateStatus"),
            "revision_id": response["Configuration"].get("RevisionId"),
            "listed": response["Configuration"],  # the same shape as a ListFunctions entry
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
    and update status (ListFunctions leaves both out), so without it they are unknown (None), never assumed. The
    RevisionId is GetFunction's, the revision the state and reservation were read at."""
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
        "revision_id": detail.get("revision_id"),
        "role_arn": function["Role"],
        "log_group": log_groups.group_of(function),
        "log_format": log_groups.format_of(function),
    }


def carried(entries) -> bool:
    """Whether `entries` (a module's `functions`) are lambda_usage_info's: each carries the configuration it read
    with GetFunction, RevisionId included, so planning from it needs no read of its own."""
    return bool(entries) and all(
        isinstance(entry, dict) and isinstance(entry.get("configuration"), dict)
        and entry["configuration"].get("revision_id") for entry in entries)


def from_carried(lambda_client, params: dict, need_concurrency: bool = True) -> tuple[list, list]:
    """discover's answer from lambda_usage_info's entries, narrowed by the same suffix, pattern and tags, with what
    earlier steps of this run changed since (the run's journal): a function a step may have changed without seeing
    its answer is read again (GetFunction), and is missing if it no longer exists."""
    changed, uncertain = changes_since_read()
    found, unsure = [], []
    for entry in params["functions"]:
        name = entry["function_name"]
        if params.get("suffix") is not None and not has_suffix(name, params["suffix"]):
            continue
        if params.get("name_pattern") and not fnmatch.fnmatchcase(name, params["name_pattern"]):
            continue
        if not matches_tags(entry.get("tags") or {}, params.get("tags")):
            continue
        if name in uncertain:
            unsure.append(name)
            continue
        configuration = {**entry["configuration"], **changed.get(name, {})}
        if name in changed:
            configuration["revision_id"] = None  # the revision read is no longer the function's
        found.append({"function_name": name, "function_arn": entry["function_arn"], "configuration": configuration,
                      "tags": entry.get("tags") or {}})
    fresh = details(lambda_client, unsure) if unsure else {}
    found += [{"function_name": name, "function_arn": detail["listed"]["FunctionArn"],
               "configuration": configuration_of(detail["listed"], detail), "tags": detail["tags"]}
              for name, detail in fresh.items()]
    if not need_concurrency:
        for function in found:
            function["configuration"].pop("reserved_concurrency", None)
    return sorted(found, key=lambda function: function["function_name"]), sorted(set(unsure) - set(fresh))


def changes_since_read() -> tuple[dict, set]:
    """({function name: {configuration field: value}} this run's earlier steps changed, names of the functions one
    may have changed without seeing Lambda's answer), from the run's journal."""
    changed: dict = {}
    uncertain = set()
    for change in journal.function_changes_so_far():
        if change.get("qualifier") or change.get("log_group_name") or change["field"] not in CONFIGURATION_KEYS:
            continue
        if change["reason"] != journal.ACCEPTED:
            uncertain.add(change["function_name"])
        changed.setdefault(change["function_name"], {})[change["field"]] = change["after"]
    return changed, uncertain


def discover(lambda_client, params: dict, need_concurrency: bool = True,
             with_environment: bool = False, listing: list | None = None) -> tuple[list, list]:
    """([{function_name, function_arn, configuration, tags where read}], names asked for that do not exist).

    Given lambda_usage_info's entries (`carried`), answers from them without a call. Otherwise reserved concurrency,
    tags and the RevisionId need one GetFunction per function; without `need_concurrency` and a tag filter,
    ListFunctions alone answers and reserved_concurrency is left out. `listing`: the $LATEST configurations when the
    caller has listed them already. `with_environment` adds each function's environment variables under
    `environment`, kept out of `configuration` so that results which return it never carry them, and
    `environment_error` where Lambda cannot decrypt them; it always reads (the variables never travel in a
    result)."""
    if not with_environment and carried(params.get("functions")):
        return from_carried(lambda_client, params, need_concurrency)
    selected, missing = select_as_asked(list_functions(lambda_client) if listing is None else listing, params)
    names = [function["FunctionName"] for function in selected]
    read = need_concurrency or bool(params.get("tags"))
    if read:
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
        if read:
            entry["tags"] = detail["tags"]
        if with_environment:
            entry["environment"] = function.get("Environment", {}).get("Variables", {})
            if function.get("Environment", {}).get("Error"):
                # Lambda cannot decrypt the variables, so they are unknown rather than none.
                entry["environment_error"] = function["Environment"]["Error"]
        found.append(entry)
    return found, missing
