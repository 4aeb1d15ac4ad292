# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What invokes each function of a fleet, read in bulk: its event source mappings with their sources' settings,
the services its resource policy lets invoke it, and how far behind its stream consumers are.

One paginated ListEventSourceMappings for the whole account-region (not one per function); one
GetQueueAttributes per SQS queue mapped to the fleet; per function one ListAliases and one GetPolicy for it and
each alias, within Lambda's control-plane quota; IteratorAge of the stream consumers in one batched
GetMetricData. What could not be read is said to be unknown, never taken for "no trigger".
"""

from __future__ import annotations

import json
from datetime import datetime

from ansible_collections.amazon.aws.plugins.module_utils.arn import parse_aws_arn
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.tap.lambdaopt.plugins.module_utils import usage
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass

SQS, KINESIS, DYNAMODB_STREAM, OTHER = "sqs", "kinesis", "dynamodb", "other"
API_GATEWAY = "apigateway.amazonaws.com"
STREAM_TYPES = (KINESIS, DYNAMODB_STREAM)
# Mappings that deliver nothing do not constrain the function.
INACTIVE_STATES = ("Disabled", "Disabling", "Deleting")


def source_type(event_source_arn: str) -> str:
    service = (parse_aws_arn(event_source_arn) or {}).get("service")
    return {"sqs": SQS, "kinesis": KINESIS, "dynamodb": DYNAMODB_STREAM}.get(service, OTHER)


def function_name_of(function_arn: str) -> str:
    """The function a mapping's FunctionArn names, with or without a version or alias qualifier."""
    resource = (parse_aws_arn(function_arn) or {}).get("resource") or ""
    parts = resource.split(":")
    return parts[1] if len(parts) > 1 and parts[0] == "function" else resource


def list_mappings(lambda_client, limiter: RateLimiter, names: set) -> dict:
    """{function name: [mapping]} for the functions in `names`, from one paginated listing of the account-region."""
    found: dict = {}
    pages = iter(lambda_client.get_paginator("list_event_source_mappings").paginate())
    while True:
        limiter.acquire()  # every page is one ListEventSourceMappings call
        page = next(pages, None)
        if page is None:
            return found
        for mapping in page["EventSourceMappings"]:
            name = function_name_of(mapping.get("FunctionArn", ""))
            if name in names:
                found.setdefault(name, []).append(mapping)


def visibility_timeouts(sqs_client, queue_arns: list) -> tuple[dict, dict]:
    """({queue ARN: visibility timeout in s}, {queue ARN: why unknown}), one GetQueueAttributes per queue."""
    timeouts, unknown = {}, {}
    for arn in queue_arns:
        parts = parse_aws_arn(arn) or {}
        try:
            url = sqs_client.get_queue_url(QueueName=parts.get("resource"),
                                           QueueOwnerAWSAccountId=parts.get("account_id"))["QueueUrl"]
            attributes = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
            timeouts[arn] = int(attributes["Attributes"]["VisibilityTimeout"])
        except (BotoCoreError, ClientError) as error:
            unknown[arn] = f"GetQueueAttributes failed: {_code(error)}"
    return timeouts, unknown


def invokers(lambda_client, limiter: RateLimiter, names: list) -> tuple[dict, dict]:
    """({name: sorted service principals its resource policies allow to invoke it}, {name: why unknown}).

    A permission given on an alias (AddPermission with a Qualifier, as for an API integration that invokes the
    alias) is in that alias's policy, not the function's: each alias's policy is read too (ListAliases, then one
    GetPolicy per alias)."""
    found, unknown = {}, {}
    for name in names:
        try:
            aliases = [None]
            pages = iter(lambda_client.get_paginator("list_aliases").paginate(FunctionName=name))
            while True:
                limiter.acquire()  # every page is one ListAliases call
                page = next(pages, None)
                if page is None:
                    break
                aliases += [alias["Name"] for alias in page["Aliases"]]
            services = set()
            for alias in aliases:
                limiter.acquire()
                services |= _allowed_services(lambda_client, name, alias)
            found[name] = sorted(services)
        except (BotoCoreError, ClientError) as error:
            unknown[name] = f"{_operation(error)} failed: {_code(error)}"
    return found, unknown


def _allowed_services(lambda_client, name: str, alias: str | None) -> set:
    """The service principals one resource policy (the function's, or an alias's) allows; none without a policy."""
    try:
        answer = lambda_client.get_policy(FunctionName=name, **({"Qualifier": alias} if alias else {}))
    except is_boto3_error_code("ResourceNotFoundException"):
        return set()  # no resource policy: nothing outside the account's own callers may invoke it
    policy = json.loads(answer["Policy"])
    return {service for statement in _as_list(policy.get("Statement")) if statement.get("Effect") == "Allow"
            for service in _as_list((statement.get("Principal") or {}).get("Service")
                                    if isinstance(statement.get("Principal"), dict) else None)}


def iterator_age(cloudwatch, names: list, start: datetime, end: datetime) -> tuple[dict, dict]:
    """({name: [daily maximum IteratorAge in ms, oldest first]}, {name: why unknown}) for stream consumers."""
    if not names:
        return {}, {}
    queries = [usage.metric_query(f"age{index}", "AWS/Lambda", "IteratorAge",
                                  [{"Name": "FunctionName", "Value": name}], "Maximum", usage.DAY_SECONDS)
               for index, name in enumerate(names)]
    answers = usage.run_metric_queries(cloudwatch, queries, start, end)
    series, unknown = {}, {}
    for index, name in enumerate(names):
        if f"age{index}" in answers.unknown:
            unknown[name] = answers.unknown[f"age{index}"]
        else:
            series[name] = [value for _, value in sorted(answers.points.get(f"age{index}", []))]
    return series, unknown


def read_triggers(lambda_client, sqs_client, cloudwatch, functions: list, lookback_days: int,
                  requests_per_second: float) -> None:
    """Add `triggers` to each discovered function (in place): {event_sources: [...], invokers: [...], unknown: {}}.
    An event source is {type, arn, state, batch_size} plus `visibility_timeout` for a queue and
    `iterator_age_ms` (daily maxima over the window) for a stream."""
    names = [function["function_name"] for function in functions]
    limiter = RateLimiter(requests_per_second)
    mappings = list_mappings(lambda_client, limiter, set(names))
    queues = sorted({mapping["EventSourceArn"] for found in mappings.values() for mapping in found
                     if source_type(mapping.get("EventSourceArn", "")) == SQS})
    timeouts, queue_unknown = visibility_timeouts(sqs_client, queues)
    allowed, policy_unknown = invokers(lambda_client, limiter, names)
    streaming = sorted(name for name, found in mappings.items()
                       if any(source_type(mapping.get("EventSourceArn", "")) in STREAM_TYPES for mapping in found))
    start, end = usage.window(lookback_days)
    ages, age_unknown = iterator_age(cloudwatch, streaming, start, end)
    for function in functions:
        name = function["function_name"]
        sources, unknown = [], {}
        for mapping in mappings.get(name, []):
            arn = mapping.get("EventSourceArn", "")
            source = {"type": source_type(arn), "arn": arn, "state": mapping.get("State"),
                      "batch_size": mapping.get("BatchSize")}
            if source["type"] == SQS:
                source["visibility_timeout"] = timeouts.get(arn)
                if arn in queue_unknown:
                    unknown[arn] = queue_unknown[arn]
            elif source["type"] in STREAM_TYPES:
                source["iterator_age_ms"] = ages.get(name)
                if name in age_unknown:
                    unknown[f"{arn} IteratorAge"] = age_unknown[name]
            sources.append(source)
        if name in policy_unknown:
            unknown["invokers"] = policy_unknown[name]
        function["triggers"] = {"event_sources": sorted(sources, key=lambda source: source["arn"]),
                                "invokers": allowed.get(name), "unknown": unknown}


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _operation(error: Exception) -> str:
    return getattr(error, "operation_name", None) or "reading the resource policy"


def _code(error: Exception) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__
