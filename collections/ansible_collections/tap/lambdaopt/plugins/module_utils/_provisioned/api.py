# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lambda's provisioned concurrency API, one call each: what is allocated, what the allocated version is, and
setting or removing an allocation and waiting for it to be READY."""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.arn import parse_aws_arn
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter, paced_pages

try:
    from botocore.waiter import WaiterModel, create_waiter_with_client
except ImportError:  # handled by AnsibleAWSModule
    pass

# botocore has no waiter for provisioned concurrency; this one polls its status as the AWS CLI does for others.
READY_WAITER = "ProvisionedConcurrencyReady"
POLL_SECONDS = 5


def wait_until_ready(waiter_client, function_name: str, qualifier: str, timeout: int) -> None:
    """Wait until the provisioned concurrency of an alias or version is READY (WaiterError when it FAILED or the
    wait ran out)."""
    create_waiter_with_client(READY_WAITER, _ready_waiter_model(timeout), waiter_client).wait(
        FunctionName=function_name, Qualifier=qualifier)


def _ready_waiter_model(timeout: int):
    return WaiterModel({"version": 2, "waiters": {READY_WAITER: {
        "operation": "GetProvisionedConcurrencyConfig",
        "delay": POLL_SECONDS,
        "maxAttempts": max(1, timeout // POLL_SECONDS),
        "acceptors": [
            {"matcher": "path", "argument": "Status", "expected": "READY", "state": "success"},
            {"matcher": "path", "argument": "Status", "expected": "FAILED", "state": "failure"},
        ],
    }}})


def qualifier_of(function_arn: str) -> str:
    """The alias or version a qualified function ARN (arn:<partition>:lambda:<region>:<account>:function:<name>:
    <qualifier>) names, as ListProvisionedConcurrencyConfigs gives it."""
    return parse_aws_arn(function_arn)["resource_id"].rsplit(":", 1)[-1]


def allocations(lambda_client, limiter: RateLimiter, function_name: str) -> list:
    """[{qualifier, function_arn, requested, status}] for every alias and version of the function that has
    provisioned concurrency (ListProvisionedConcurrencyConfigs, paginated)."""
    found = []
    pages = lambda_client.get_paginator("list_provisioned_concurrency_configs").paginate(FunctionName=function_name)
    for page in paced_pages(pages, limiter):
        found += [{"qualifier": qualifier_of(config["FunctionArn"]), "function_arn": config["FunctionArn"],
                   "requested": config["RequestedProvisionedConcurrentExecutions"], "status": config["Status"]}
                  for config in page["ProvisionedConcurrencyConfigs"]]
    return sorted(found, key=lambda config: config["qualifier"])


def version_settings(lambda_client, limiter: RateLimiter, function_name: str, qualifier: str) -> dict:
    """Memory and architecture of the version an alias serves: what its allocation is billed at."""
    limiter.acquire()
    configuration = lambda_client.get_function_configuration(FunctionName=function_name, Qualifier=qualifier)
    return {"memory_size": configuration["MemorySize"],
            "architecture": (configuration.get("Architectures") or ["x86_64"])[0]}


def apply_allocation(lambda_client, waiter_client, limiter: RateLimiter, function_name: str, qualifier: str,
                     provisioned: int, timeout: int) -> str | None:
    """Set an alias's allocation (0 removes it) and wait until it is READY; the status it ends in."""
    limiter.acquire()
    if provisioned == 0:
        lambda_client.delete_provisioned_concurrency_config(FunctionName=function_name, Qualifier=qualifier)
        return None
    lambda_client.put_provisioned_concurrency_config(FunctionName=function_name, Qualifier=qualifier,
                                                     ProvisionedConcurrentExecutions=provisioned)
    wait_until_ready(waiter_client, function_name, qualifier, timeout)
    return "READY"
