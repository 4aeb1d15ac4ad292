# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What invokes each function of a fleet, read in bulk: its event source mappings with their sources' settings,
the services its resource policy lets invoke it, the integration timeouts of the API Gateway APIs that call it,
and how far behind its stream consumers are.

One paginated ListEventSourceMappings for the whole account-region (not one per function); one
GetQueueAttributes per SQS queue mapped to the fleet; per function one ListAliases (Lambda's control-plane quota)
and one GetPolicy for it and each alias (GetPolicy's own quota); one listing of the integrations of each API named
in the fleet's resource policies (not one per function); IteratorAge of the stream consumers in one batched
GetMetricData. What could not be read is said to be unknown, never taken for "no trigger".
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from ansible_collections.amazon.aws.plugins.module_utils.arn import parse_aws_arn
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.tap.lambdaopt.plugins.module_utils import metric_data
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter, paced_pages

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass

SQS, KINESIS, DYNAMODB_STREAM, OTHER = "sqs", "kinesis", "dynamodb", "other"
API_GATEWAY = "apigateway.amazonaws.com"
STREAM_TYPES = (KINESIS, DYNAMODB_STREAM)
# Mappings that deliver nothing do not constrain the function.
INACTIVE_STATES = ("Disabled", "Disabling", "Deleting")
# Integration timeouts when an integration does not state its own (API Gateway developer guide, quotas; API
# reference: REST `Integration.timeoutInMillis` "The default value is 29,000 milliseconds or 29 seconds";
# apigatewayv2 `TimeoutInMillis` "between 50 and 29,000 milliseconds for WebSocket APIs and between 50 and 30,000
# milliseconds for HTTP APIs. The default timeout is 29 seconds for WebSocket APIs and 30 seconds for HTTP APIs").
REST, HTTP, WEBSOCKET = "rest", "http", "websocket"
DEFAULT_INTEGRATION_TIMEOUT_MS = {REST: 29000, HTTP: 30000, WEBSOCKET: 29000}
# The function an integration invokes: its URI is the function's ARN (HTTP APIs), or API Gateway's Lambda service
# path around it (`arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations`).
FUNCTION_IN_URI = re.compile(r"arn:[\w-]+:lambda:[\w-]+:\d{12}:function:(?P<name>[^:/]+)")


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
    for page in paced_pages(lambda_client.get_paginator("list_event_source_mappings").paginate(), limiter):
        for mapping in page["EventSourceMappings"]:
            name = function_name_of(mapping.get("FunctionArn", ""))
            if name in names:
                found.setdefault(name, []).append(mapping)
    return found


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


def read_own_policies(lambda_client, limiter: RateLimiter, names: list) -> dict:
    """{name: the (service principal, API id) pairs the function's own (unqualified) resource policy allows, or the
    error that reading it raised}: one GetPolicy per function, in order. It needs only the names, so
    lambda_usage_info reads it (GetPolicy's own quota) from the listing on, while the functions are read, their
    aliases listed (the control plane's quota) and their usage measured, and hands it to `invokers`."""
    read: dict = {}
    for name in names:
        try:
            read[name] = _allowed_services(lambda_client, limiter, name, None)
        except (BotoCoreError, ClientError) as error:
            read[name] = error
    return read


def invokers(lambda_client, limiter: RateLimiter, names: list, known_aliases: dict | None = None,
             own_policies: dict | None = None) -> tuple[dict, dict, dict]:
    """({name: sorted service principals its resource policies allow to invoke it}, {name: sorted ids of the API
    Gateway APIs they name, None where a statement lets API Gateway invoke it without naming its API},
    {name: why unknown}).

    A permission given on an alias (AddPermission with a Qualifier, as for an API integration that invokes the
    alias) is in that alias's policy, not the function's: each alias's policy is read too (ListAliases, then one
    GetPolicy per alias; `known_aliases` {name: [alias names]} where they were read already, by
    versions.read_served). `own_policies`: read_own_policies of the functions whose own policy was read already;
    one that failed to be read leaves the function unknown and its aliases' policies unread, as when it fails here.
    The API is the one its statement's `AWS:SourceArn` condition names
    (`arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<method>/<path>`, Lambda developer guide, "Invoking a
    Lambda function using an Amazon API Gateway endpoint")."""
    found, apis, unknown = {}, {}, {}
    for name in names:
        try:
            aliases = [None]
            if name in (known_aliases or {}):
                aliases += known_aliases[name]
            else:
                pages = lambda_client.get_paginator("list_aliases").paginate(FunctionName=name)
                aliases += [alias["Name"] for page in paced_pages(pages, limiter) for alias in page["Aliases"]]
            services, api_ids = set(), set()
            for alias in aliases:
                if alias is None and name in (own_policies or {}):
                    allowed = _read_already(own_policies[name])
                else:
                    allowed = _allowed_services(lambda_client, limiter, name, alias)
                for service, api_id in allowed:
                    services.add(service)
                    if service == API_GATEWAY:
                        api_ids.add(api_id)
            found[name] = sorted(services)
            if api_ids:
                apis[name] = None if None in api_ids else sorted(api_ids)
        except (BotoCoreError, ClientError) as error:
            unknown[name] = f"{_operation(error)} failed: {_code(error)}"
    return found, apis, unknown


def _read_already(allowed: set | Exception) -> set:
    if isinstance(allowed, Exception):
        raise allowed
    return allowed


def _allowed_services(lambda_client, limiter: RateLimiter, name: str, alias: str | None) -> set:
    """{(service principal, API id or None)} one resource policy (the function's, or an alias's) allows; none
    without a policy. The API id is named for API Gateway's statements only, when their source ARN names one."""
    limiter.acquire()
    try:
        answer = lambda_client.get_policy(FunctionName=name, **({"Qualifier": alias} if alias else {}))
    except is_boto3_error_code("ResourceNotFoundException"):
        return set()  # no resource policy: nothing outside the account's own callers may invoke it
    policy = json.loads(answer["Policy"])
    return {(service, api_id_of(statement) if service == API_GATEWAY else None)
            for statement in _as_list(policy.get("Statement")) if statement.get("Effect") == "Allow"
            for service in _as_list((statement.get("Principal") or {}).get("Service")
                                    if isinstance(statement.get("Principal"), dict) else None)}


def api_id_of(statement: dict) -> str | None:
    """The API a statement's `AWS:SourceArn` condition (ArnLike or ArnEquals, any key case) names, or None when it
    names none or a wildcard."""
    for operator, conditions in (statement.get("Condition") or {}).items():
        if operator.lower() not in ("arnlike", "arnequals", "stringequals", "stringlike"):
            continue
        for key, value in (conditions or {}).items():
            if key.lower() != "aws:sourcearn":
                continue
            for arn in _as_list(value):
                resource = (parse_aws_arn(arn) or {}).get("resource") or ""
                api_id = resource.split("/", 1)[0]
                if api_id and not any(character in api_id for character in "*?"):
                    return api_id
    return None


def integration_timeouts(apigateway, apigatewayv2, limiter: RateLimiter, api_ids: list) -> tuple[dict, dict]:
    """({API id: {id, name, type, timeouts: {function name: the least integration timeout in ms of the integrations
    that invoke it}}}, {API id: why unknown}), one listing of each API's integrations.

    A REST API (GetRestApi answers) lists its integrations with its resources (GetResources with `embed=methods`,
    paginated: each method's `methodIntegration`); an HTTP or WebSocket API (apigatewayv2 GetApi) with
    GetIntegrations (paginated). An integration without a timeout of its own has its API type's default."""
    found, unknown = {}, {}
    for api_id in api_ids:
        try:
            found[api_id] = _rest_api(apigateway, limiter, api_id)
        except is_boto3_error_code("NotFoundException"):
            try:
                found[api_id] = _api_v2(apigatewayv2, limiter, api_id)
            except is_boto3_error_code("NotFoundException"):
                unknown[api_id] = "neither a REST API (GetRestApi) nor an HTTP or WebSocket API (GetApi): not found"
            except (BotoCoreError, ClientError) as error:  # pylint: disable=duplicate-except
                unknown[api_id] = f"{_operation(error)} failed: {_code(error)}"
        except (BotoCoreError, ClientError) as error:  # pylint: disable=duplicate-except
            unknown[api_id] = f"{_operation(error)} failed: {_code(error)}"
    return found, unknown


def _rest_api(apigateway, limiter: RateLimiter, api_id: str) -> dict:
    limiter.acquire()
    api = apigateway.get_rest_api(restApiId=api_id)
    integrations = []
    pages = apigateway.get_paginator("get_resources").paginate(restApiId=api_id, embed=["methods"])
    for page in paced_pages(pages, limiter):
        integrations += [(method["methodIntegration"].get("uri"), method["methodIntegration"].get("timeoutInMillis"))
                         for resource in page.get("items", [])
                         for method in (resource.get("resourceMethods") or {}).values()
                         if method.get("methodIntegration")]
    return _api_entry(api_id, api.get("name"), REST, integrations)


def _api_v2(apigatewayv2, limiter: RateLimiter, api_id: str) -> dict:
    limiter.acquire()
    api = apigatewayv2.get_api(ApiId=api_id)
    kind = WEBSOCKET if api.get("ProtocolType") == "WEBSOCKET" else HTTP
    integrations = []
    for page in paced_pages(apigatewayv2.get_paginator("get_integrations").paginate(ApiId=api_id), limiter):
        integrations += [(item.get("IntegrationUri"), item.get("TimeoutInMillis")) for item in page.get("Items", [])]
    return _api_entry(api_id, api.get("Name"), kind, integrations)


def _api_entry(api_id: str, name: str | None, kind: str, integrations: list) -> dict:
    timeouts: dict = {}
    for uri, timeout in integrations:
        match = FUNCTION_IN_URI.search(uri or "")
        if match is None:
            continue
        timeout = int(timeout) if timeout is not None else DEFAULT_INTEGRATION_TIMEOUT_MS[kind]
        timeouts[match["name"]] = min(timeout, timeouts.get(match["name"], timeout))
    return {"id": api_id, "name": name, "type": kind, "timeouts": timeouts}


def iterator_age(cloudwatch, names: list, start: datetime, end: datetime) -> tuple[dict, dict]:
    """({name: [daily maximum IteratorAge in ms, oldest first]}, {name: why unknown}) for stream consumers."""
    if not names:
        return {}, {}
    queries = [metric_data.metric_query(f"age{index}", "AWS/Lambda", "IteratorAge",
                                        [{"Name": "FunctionName", "Value": name}], "Maximum", metric_data.DAY_SECONDS)
               for index, name in enumerate(names)]
    answers = metric_data.run_metric_queries(cloudwatch, queries, start, end)
    series, unknown = {}, {}
    for index, name in enumerate(names):
        if f"age{index}" in answers.unknown:
            unknown[name] = answers.unknown[f"age{index}"]
        else:
            series[name] = [value for _stamp, value in sorted(answers.points.get(f"age{index}", []))]
    return series, unknown


def read_triggers(lambda_client, sqs_client, cloudwatch, functions: list, lookback_days: int,
                  requests_per_second: float, apigateway=None, apigatewayv2=None, own_policies: dict | None = None
                  ) -> None:
    """Add `triggers` to each discovered function (in place): {event_sources: [...], invokers: [...], unknown: {}},
    and `apis` for a function API Gateway may invoke. An event source is {type, arn, state, batch_size} plus
    `visibility_timeout` for a queue and `iterator_age_ms` (daily maxima over the window) for a stream. An API is
    {id, name, type, integration_timeout_ms}: the least timeout of its integrations that invoke the function, None
    where the API could not be read or none of its integrations names the function (then `unknown` says why).
    `own_policies`: read_own_policies of the functions, where read already."""
    names = [function["function_name"] for function in functions]
    limiter = RateLimiter(requests_per_second)
    mappings = list_mappings(lambda_client, limiter, set(names))
    queues = sorted({mapping["EventSourceArn"] for found in mappings.values() for mapping in found
                     if source_type(mapping.get("EventSourceArn", "")) == SQS})
    timeouts, queue_unknown = visibility_timeouts(sqs_client, queues)
    known_aliases = {function["function_name"]: [alias["name"] for alias in function["aliases"]]
                     for function in functions if "aliases" in function}
    allowed, api_ids, policy_unknown = invokers(lambda_client, limiter, names, known_aliases, own_policies)
    named = sorted({api_id for ids in api_ids.values() for api_id in ids or ()})
    if apigateway is not None and apigatewayv2 is not None:
        apis, api_unknown = integration_timeouts(apigateway, apigatewayv2, limiter, named)
    else:
        apis, api_unknown = {}, dict.fromkeys(named, "not read")
    streaming = sorted(name for name, found in mappings.items()
                       if any(source_type(mapping.get("EventSourceArn", "")) in STREAM_TYPES for mapping in found))
    start, end = metric_data.window(lookback_days)
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
        if name in api_ids:
            function["triggers"]["apis"] = _apis_of(name, api_ids[name], apis, api_unknown, unknown)


def _apis_of(name: str, api_ids: list | None, apis: dict, api_unknown: dict, unknown: dict) -> list:
    if api_ids is None:
        unknown["api"] = "a resource policy lets API Gateway invoke it without naming the API (AWS:SourceArn)"
        return []
    found = []
    for api_id in api_ids:
        api = apis.get(api_id)
        if api is None:
            unknown[f"api {api_id}"] = api_unknown.get(api_id, "not read")
            found.append({"id": api_id, "name": None, "type": None, "integration_timeout_ms": None})
            continue
        timeout = api["timeouts"].get(name)
        if timeout is None:
            unknown[f"api {api_id}"] = "none of its integrations names the function"
        found.append({"id": api_id, "name": api["name"], "type": api["type"], "integration_timeout_ms": timeout})
    return found


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _operation(error: Exception) -> str:
    return getattr(error, "operation_name", None) or "reading the resource policy"


def _code(error: Exception) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__
