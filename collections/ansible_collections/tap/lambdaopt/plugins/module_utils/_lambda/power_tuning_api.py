# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWS calls of power tuning: read a function's test payload, publish and delete its temporary versions, and
invoke a version with its log tail. Control-plane calls take a token of the run's rate limiter; invocations are
bounded by the number in flight instead (they count against the function's concurrency, not that quota)."""

from __future__ import annotations

import base64

from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.power_tuning import (
    MAX_PAYLOAD_BYTES,
    VERSION_DESCRIPTION,
    Outcome,
    PayloadError,
    PayloadSource,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.report_lines import parse_report
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter, paced_pages, run_bounded


class TuningError(Exception):
    """A function whose measurement cannot go on (reported for that function alone)."""


def read_payload(ssm, s3, source: PayloadSource) -> str:
    """The text of a payload kept in an SSM parameter (decrypted) or an S3 object."""
    if source.kind == "ssm":
        return ssm.get_parameter(Name=source.location, WithDecryption=True)["Parameter"]["Value"]
    body = s3.get_object(Bucket=source.location, Key=source.key)["Body"]
    # One byte more than Invoke takes is enough to know the object is too large.
    content = body.read(MAX_PAYLOAD_BYTES + 1)
    body.close()
    if len(content) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"{source.describe()} holds more than Invoke's {MAX_PAYLOAD_BYTES} bytes")
    return content.decode("utf-8", errors="replace")


def versions_of(lambda_client, limiter: RateLimiter, name: str) -> list:
    """The function's published versions (ListVersionsByFunction, without $LATEST)."""
    pages = paced_pages(lambda_client.get_paginator("list_versions_by_function").paginate(FunctionName=name), limiter)
    return [version for page in pages for version in page["Versions"] if version["Version"] != "$LATEST"]


def aliased_versions(lambda_client, limiter: RateLimiter, name: str) -> set:
    """Every version an alias of the function serves, including those it routes a weight of its traffic to."""
    served = set()
    for page in paced_pages(lambda_client.get_paginator("list_aliases").paginate(FunctionName=name), limiter):
        for alias in page["Aliases"]:
            served.add(alias["FunctionVersion"])
            served.update(((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}).keys())
    return served


def leftover_versions(lambda_client, limiter: RateLimiter, name: str, versions: list) -> list:
    """Temporary versions an earlier run left (it was killed before it could delete them): described as power
    tuning's, and served by no alias."""
    left = [version["Version"] for version in versions
            if (version.get("Description") or "").startswith(VERSION_DESCRIPTION)]
    if not left:
        return []
    served = aliased_versions(lambda_client, limiter, name)
    return [version for version in left if version not in served]


def publish_at(lambda_client, limiter: RateLimiter, name: str, memory_mb: int) -> dict:
    """Publish the function as it is now, which must be at `memory_mb` with its last update done. The publication
    names the RevisionId just read, so that a version is never made of a change someone else slipped in."""
    limiter.acquire()
    configuration = lambda_client.get_function_configuration(FunctionName=name)
    if configuration["MemorySize"] != memory_mb or configuration.get("LastUpdateStatus") not in (None, "Successful"):
        raise TuningError(f"expected it at {memory_mb} MB with its update done, found {configuration['MemorySize']} MB "
                          f"and LastUpdateStatus {configuration.get('LastUpdateStatus')}")
    limiter.acquire()
    return lambda_client.publish_version(FunctionName=name, RevisionId=configuration["RevisionId"],
                                         Description=f"{VERSION_DESCRIPTION} at {memory_mb} MB")


def invoke_with_tail(lambda_client, name: str, version: str, payload: bytes) -> Outcome:
    """One synchronous invocation of a version, read from the REPORT line at the end of its log tail."""
    answer = lambda_client.invoke(FunctionName=name, Qualifier=version, InvocationType="RequestResponse",
                                  LogType="Tail", Payload=payload)
    answer["Payload"].read()  # the function's answer is not needed, but the connection is reused once it is read
    log = base64.b64decode(answer.get("LogResult") or "").decode("utf-8", errors="replace")
    report = next((parsed for parsed in map(parse_report, reversed(log.splitlines())) if parsed is not None), None)
    return Outcome(report, answer.get("FunctionError"))


def invoke_times(lambda_client, name: str, version: str, payload: bytes, count: int, max_workers: int) -> list:
    """[Outcome] of `count` invocations of a version, at most `max_workers` in flight. An invocation Lambda refused
    (after the client's retries) fails the measurement."""
    results = run_bounded(lambda _index: invoke_with_tail(lambda_client, name, version, payload), list(range(count)),
                          max_workers)
    errors = [error for _outcome, error in results.values() if error is not None]
    if errors:
        raise errors[0]
    return [results[index][0] for index in range(count)]
