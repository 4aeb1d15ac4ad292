# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a function serves besides $LATEST - its aliases and the provisioned concurrency of its aliases and versions -
read once per run, by lambda_usage_info, and carried in its result to the modules that need it.

One listing of every version (ListFunctions with FunctionVersion=ALL) tells which functions have published a
version; only those are asked for their aliases (ListAliases) and allocations (ListProvisionedConcurrencyConfigs).
A function that has published none has no provisioned concurrency: Lambda allocates it only to a published version
or an alias of one, never to $LATEST (Lambda developer guide, "Configuring provisioned concurrency"). Its aliases,
which can only name $LATEST, are not read: they serve exactly what $LATEST serves."""

from __future__ import annotations

from ansible_collections.tap.lambdaopt.plugins.module_utils import journal
from ansible_collections.tap.lambdaopt.plugins.module_utils._provisioned.api import allocations
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter, paced_pages, run_bounded


def read_served(lambda_client, functions: list, published: dict, limiter: RateLimiter, max_workers: int) -> None:
    """Add `aliases` ([{name, function_version, additional_weights}]) and `provisioned_concurrency` ([{qualifier,
    function_arn, requested, status, memory_size, architecture}]) to each function in place. `published`:
    discovery.published_versions of the listing the functions came from."""
    with_versions = [function["function_name"] for function in functions if function["function_name"] in published]
    read = run_bounded(lambda name: (aliases(lambda_client, limiter, name), allocations(lambda_client, limiter, name)),
                       with_versions, max_workers)
    for function in functions:
        name = function["function_name"]
        if name not in read:
            function.update(aliases=[], provisioned_concurrency=[])
            continue
        found, error = read[name]
        if error is not None:
            raise error
        found_aliases, found_allocations = found
        served = {alias["name"]: alias["function_version"] for alias in found_aliases}
        for allocation in found_allocations:
            version = published[name].get(served.get(allocation["qualifier"], allocation["qualifier"]), {})
            allocation.update(memory_size=version.get("MemorySize"),
                              architecture=(version.get("Architectures") or ["x86_64"])[0])
        function.update(aliases=found_aliases, provisioned_concurrency=found_allocations)


def aliases(lambda_client, limiter: RateLimiter, name: str) -> list:
    """[{name, function_version, additional_weights}] of the function's aliases (ListAliases, paginated)."""
    pages = lambda_client.get_paginator("list_aliases").paginate(FunctionName=name)
    return sorted(({"name": alias["Name"], "function_version": alias["FunctionVersion"],
                    "additional_weights": (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights", {})}
                   for page in paced_pages(pages, limiter) for alias in page["Aliases"]),
                  key=lambda alias: alias["name"])


def carried_allocations(entries: list) -> dict:
    """{name: allocations} as lambda_usage_info listed them in `entries`, with the changes this run's earlier steps
    made since (the run's journal); a function one of them may have changed without seeing Lambda's answer is left
    out, to be listed again."""
    carried = {entry["function_name"]: [dict(allocation) for allocation in entry["provisioned_concurrency"]]
               for entry in entries or [] if isinstance(entry, dict) and "provisioned_concurrency" in entry}
    for change in journal.function_changes_so_far():
        name, qualifier = change["function_name"], change.get("qualifier")
        if change["field"] != "provisioned_concurrency" or name not in carried:
            continue
        if change["reason"] != journal.ACCEPTED:
            del carried[name]
            continue
        kept = [allocation for allocation in carried[name] if allocation["qualifier"] != qualifier]
        changed = next((allocation for allocation in carried[name] if allocation["qualifier"] == qualifier), None)
        if change["after"] and changed is not None:
            kept.append({**changed, "requested": change["after"]})
        elif change["after"]:
            del carried[name]  # a new allocation: its version's settings are not among those carried
            continue
        carried[name] = sorted(kept, key=lambda allocation: allocation["qualifier"])
    return carried
