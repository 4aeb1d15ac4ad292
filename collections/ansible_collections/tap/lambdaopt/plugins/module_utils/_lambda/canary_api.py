# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWS calls of canary right-sizing: read a function's aliases and versions, publish `$LATEST` as a version,
route an alias's weight, and read what each version an alias served did over the bake period (AWS/Lambda metrics by
ExecutedVersion). Control-plane calls take a token of the run's rate limiter."""

from __future__ import annotations

import math
from datetime import datetime

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.canary import VersionFigures
from ansible_collections.tap.lambdaopt.plugins.module_utils.metric_data import metric_query, run_metric_queries
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter, paced_pages

# (figure, metric, statistic) per version; Lambda publishes them with dimensions FunctionName, Resource and
# ExecutedVersion. A version without any data point for a count has a count of 0: a throttled request, which runs
# no version, counts against a version only where Lambda attributes it to one.
VERSION_METRICS = (
    ("invocations", "Invocations", "Sum"),
    ("errors", "Errors", "Sum"),
    ("throttles", "Throttles", "Sum"),
    ("p99_ms", "Duration", "p99"),
)
METRIC_SOURCE = "AWS/Lambda metrics of the alias by ExecutedVersion (GetMetricData)"


def aliases_of(lambda_client, limiter: RateLimiter, name: str) -> list:
    """The function's aliases (ListAliases, paginated), by name."""
    pages = paced_pages(lambda_client.get_paginator("list_aliases").paginate(FunctionName=name), limiter)
    return sorted((alias for page in pages for alias in page["Aliases"]), key=lambda alias: alias["Name"])


def read_alias(lambda_client, limiter: RateLimiter, name: str, alias: str) -> dict:
    limiter.acquire()
    return lambda_client.get_alias(FunctionName=name, Name=alias)


def configuration(lambda_client, limiter: RateLimiter, name: str, qualifier: str) -> dict:
    """GetFunctionConfiguration of a version, or of $LATEST."""
    limiter.acquire()
    return lambda_client.get_function_configuration(FunctionName=name, Qualifier=qualifier)


def allocation(lambda_client, limiter: RateLimiter, name: str, alias: str) -> dict | None:
    """The alias's own provisioned concurrency ({requested, status}), or None when it has none."""
    limiter.acquire()
    try:
        config = lambda_client.get_provisioned_concurrency_config(FunctionName=name, Qualifier=alias)
    except is_boto3_error_code("ProvisionedConcurrencyConfigNotFoundException"):
        return None
    return {"requested": config["RequestedProvisionedConcurrentExecutions"], "status": config["Status"]}


def published_versions(lambda_client, limiter: RateLimiter, name: str) -> set:
    """The numbers of the function's published versions (ListVersionsByFunction, without $LATEST)."""
    pages = paced_pages(lambda_client.get_paginator("list_versions_by_function").paginate(FunctionName=name), limiter)
    return {version["Version"] for page in pages for version in page["Versions"] if version["Version"] != "$LATEST"}


def publish(lambda_client, limiter: RateLimiter, latest: dict, description: str) -> dict:
    """Publish $LATEST as `latest` (its GetFunctionConfiguration) read it: PublishVersion names its RevisionId and
    CodeSha256, so that a version is never made of a change someone else slipped in since."""
    limiter.acquire()
    return lambda_client.publish_version(FunctionName=latest["FunctionName"], RevisionId=latest["RevisionId"],
                                         CodeSha256=latest["CodeSha256"], Description=description)


def route(lambda_client, limiter: RateLimiter, name: str, alias: str, version: str, weights: dict,
          revision: str) -> dict:
    """Point the alias at `version` with `weights` ({other version: share}; empty clears the routing), only if the
    alias still has the RevisionId read (PreconditionFailedException otherwise)."""
    limiter.acquire()
    return lambda_client.update_alias(FunctionName=name, Name=alias, FunctionVersion=version,
                                      RoutingConfig={"AdditionalVersionWeights": weights}, RevisionId=revision)


def metrics_period(start: datetime, end: datetime) -> int:
    """One period that covers the whole window, in whole minutes as GetMetricData takes them."""
    return max(60, math.ceil((end - start).total_seconds() / 60) * 60)


def fetch_version_figures(cloudwatch, served: list, start: datetime, end: datetime) -> dict:
    """{(function name, alias, version): VersionFigures} of what each version ran through the alias between `start`
    and `end`, in batched GetMetricData calls; a figure CloudWatch could not answer is listed as unknown."""
    queries, keys = [], {}
    period = metrics_period(start, end)
    for index, (name, alias, version) in enumerate(served):
        dimensions = [{"Name": "FunctionName", "Value": name}, {"Name": "Resource", "Value": f"{name}:{alias}"},
                      {"Name": "ExecutedVersion", "Value": version}]
        for position, (figure, metric, statistic) in enumerate(VERSION_METRICS):
            query_id = f"v{index}m{position}"
            queries.append(metric_query(query_id, "AWS/Lambda", metric, dimensions, statistic, period))
            keys[query_id] = ((name, alias, version), figure)
    answers = run_metric_queries(cloudwatch, queries, start, end)
    figures: dict = {key: {"unknown": {}} for key in served}
    for query_id, (key, figure) in keys.items():
        values = [value for _stamp, value in answers.points.get(query_id, [])]
        if query_id in answers.unknown:
            figures[key]["unknown"][figure] = answers.unknown[query_id]
        elif figure == "p99_ms":
            # One period covers the window; were it split, the largest of its p99s is the one never understated.
            figures[key][figure] = max(values) if values else None
        else:
            figures[key][figure] = int(round(sum(values)))
    return {key: VersionFigures(version=key[2], invocations=found.get("invocations", 0),
                                errors=found.get("errors", 0), throttles=found.get("throttles", 0),
                                p99_ms=found.get("p99_ms"), unknown=found["unknown"])
            for key, found in figures.items()}
