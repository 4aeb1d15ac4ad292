# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every tap.lambdaopt module shares: fleet selection options and the retry policy."""

from __future__ import annotations

import re

from ansible_collections.amazon.aws.plugins.module_utils.arn import parse_aws_arn
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.tap.lambdaopt.plugins.module_utils.decisions import AUTO
from ansible_collections.tap.lambdaopt.plugins.module_utils.pacing import pace

SUFFIX_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")

# Each service says "throttled" and "failed inside, try again" in its own words. AWSRetry knows Throttling,
# TooManyRequestsException, RequestLimitExceeded, InternalFailure, InternalError and ServiceUnavailable; these
# are the others of the services the collection calls: throttling (Logs, DynamoDB, Secrets Manager:
# ThrottlingException; SQS: RequestThrottled) and internal errors (Lambda: ServiceException; DynamoDB:
# InternalServerError; CloudWatch, Secrets Manager: InternalServiceError; IAM: ServiceFailure; Logs:
# ServiceUnavailableException, InternalServerException).
TRANSIENT_ERROR_CODES = (
    "ThrottlingException", "TooManyRequestsException", "RequestThrottled", "ServiceException", "InternalServerError",
    "InternalServiceError", "ServiceFailure", "ServiceUnavailableException", "InternalServerException",
)
# Every call is retried by botocore first (BOTOCORE_RETRIES: throttling, 5xx and dropped connections, up to 8
# attempts with the same parameters); when botocore gives up on a transient answer, the call is made again after
# a jittered backoff that spans a longer outage. A call made again is a new request: a create must carry its own
# idempotency token (lambda_secrets' CreateSecret does) or be an upsert.
RETRY = AWSRetry.jittered_backoff(retries=6, delay=1, max_delay=30, catch_extra_error_codes=list(TRANSIENT_ERROR_CODES))
# Lambda checks a new dead-letter queue against the execution role, and IAM changes take seconds to
# propagate: right after the role is granted sqs:SendMessage, Lambda may still refuse the queue. Only the call
# that sets the queue waits for it (retry_iam_propagation): any other call so refused fails at once.
IAM_PROPAGATION_RETRY = AWSRetry.jittered_backoff(
    retries=6, delay=2, max_delay=20,
    catch_extra_error_codes=[*TRANSIENT_ERROR_CODES, "InvalidParameterValueException"],
)
# botocore's standard mode, for every call: throttling, 500/502/503/504 and connection errors, dropped ones
# included. Paginators' and waiters' calls get no other retry, and one page that fails ends the whole listing: 8
# attempts (backoff capped at 20 s) outlast a run of faults that 5 did not (a FilterLogEvents page throttled and
# answered 503 five times in a row stopped the fleet's measurement). `total_max_attempts` counts the first attempt;
# botocore's older `max_attempts` counts only retries, and Config rewrites a dict that names it.
BOTOCORE_RETRIES = {"retries": {"mode": "standard", "total_max_attempts": 8}}
# Client attributes that are not API calls, or whose calls retry on their own.
NOT_RETRIED = frozenset(("get_paginator", "get_waiter", "can_paginate", "exceptions", "meta"))


class RetryingClient:
    """A boto3 client whose every API call is retried on throttling and transient errors (RETRY), without
    callers having to ask.

    This departs from amazon.aws's convention on purpose. There, `module.client(service,
    retry_decorator=AWSRetry.jittered_backoff())` wraps the client so that only the calls made with
    `aws_retry=True` are retried, and every other call is made once. Here every call is retried, so that no call
    can forget to ask, and the same functions serve a plain boto3 client (in tests and tools), which would reject
    `aws_retry`. Paginators and waiters are left as they are (NOT_RETRIED): their calls get botocore's standard
    retry mode (BOTOCORE_RETRIES), and a paginator's pages cannot be retried one by one from outside it."""

    def __init__(self, client, retry=RETRY):
        self._client = client
        self._retry = retry

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if name in NOT_RETRIED or not callable(attribute):
            return attribute
        return self._retry(attribute)

    def unretried(self):
        """The boto3 client underneath, for a call that is to be retried its own way."""
        return self._client


def aws_client(module, service: str, retry=RETRY) -> RetryingClient:
    return RetryingClient(waiter_client(module, service), retry)


def waiter_client(module, service: str):
    """A plain boto3 client, paced to AWS's request quotas (pacing.py), with botocore's standard retry: what
    waiters and paginators take."""
    return pace(module.client(service, config=BOTOCORE_RETRIES))


def client_call(client, operation: str, **parameters):
    """Make one API call (`operation`, as boto3 names it) as the client makes every call, with its own retry."""
    return getattr(client, operation)(**parameters)


def retry_iam_propagation(client, operation: str, **parameters):
    """Make one API call (`operation`, as boto3 names it) with IAM_PROPAGATION_RETRY in place of the client's own
    retry: the call whose refusal may only mean that a role's new grant has not reached the service yet. The
    client's other calls keep its own retry, and fail at once on the error this one waits out. `client` is a
    RetryingClient or a plain boto3 client."""
    raw = client.unretried() if isinstance(client, RetryingClient) else client
    return IAM_PROPAGATION_RETRY(getattr(raw, operation))(**parameters)


def parse_whole_arn(value) -> dict | None:
    """amazon.aws's parse_aws_arn of a value that is one ARN and nothing else; None for anything else.
    parse_aws_arn searches: it finds an ARN inside a longer string, such as a URI that embeds one."""
    parts = parse_aws_arn(value) if isinstance(value, str) else None
    return parts if parts and value == format_arn(parts) else None


def format_arn(parts: dict, **replaced) -> str:
    """The ARN of parse_aws_arn's `parts` (partition, service, region, account_id, resource), with any of them
    `replaced`: another resource in the same account and region."""
    return "arn:{partition}:{service}:{region}:{account_id}:{resource}".format(**{**parts, **replaced})


FLEET_ARGUMENT_SPEC = dict(
    suffix=dict(type="str"),
    functions=dict(type="list", elements="raw"),
    name_pattern=dict(type="str"),
    tags=dict(type="dict"),
)
FLEET_REQUIRED_ONE_OF = [["suffix", "functions"]]
# A module that also takes lambda_usage_info's `functions` as `usage` may be given them there alone
# (fleet_of_usage).
USAGE_FLEET_REQUIRED_ONE_OF = [["suffix", "functions", "usage"]]

# Documented by the tap.lambdaopt.updates fragment.
UPDATE_ARGUMENT_SPEC = dict(
    requests_per_second=dict(type="float", default=15),
    max_workers=dict(type="int", default=4),
)


def update_option_errors(params: dict) -> list:
    errors = []
    if not 0 < params["requests_per_second"] <= 15:
        errors.append("requests_per_second must be above 0 and at most 15 (Lambda's control-plane quota)")
    if params["max_workers"] < 1:
        errors.append("max_workers must be at least 1")
    return errors


def suffix_errors(suffix: str | None) -> list:
    if suffix is not None and not SUFFIX_PATTERN.fullmatch(suffix):
        return [f"suffix {suffix!r} is not valid: use lowercase letters, digits and inner hyphens, e.g. 'dev'"]
    return []


def has_suffix(name: str, suffix: str) -> bool:
    """Whether a resource belongs to the environment `suffix`: its name ends in `-{suffix}` exactly, so
    `transform-dev2` and `transformdev` are not part of `dev`."""
    return name.endswith(f"-{suffix}")


def auto_or_whole(name: str, raw, low: int, high: int | None) -> tuple:
    """(None | 'auto' | the number, error or None) for an option that takes 'auto' or a whole number in range."""
    if raw is None or str(raw).strip().lower() == AUTO:
        return (None if raw is None else AUTO), None
    try:
        value = int(str(raw).strip())
    except ValueError:
        return None, f"{name} must be 'auto' or a whole number, got {raw!r}"
    if value < low or (high is not None and value > high):
        span = f"between {low} and {high}" if high is not None else f"{low} or more"
        return value, f"{name} must be {span}, got {value}"
    return value, None


def fleet_of_usage(params: dict) -> dict:
    """The fleet selection of a module that takes `usage` too: given neither `functions` nor `suffix`, usage's
    entries are the functions as well, so that a playbook hands the same list over once. A copy, so that the
    module's `invocation` (its params, echoed in its result) does not carry the list twice."""
    if params.get("functions") is None and params.get("suffix") is None and params.get("usage") is not None:
        return {**params, "functions": params["usage"]}
    return params


def fleet_selection_errors(params: dict) -> list:
    """Problems with the fleet selection options, found before any API call."""
    errors = suffix_errors(params.get("suffix"))
    for entry in params.get("functions") or []:
        if not function_name_of(entry):
            errors.append(f"functions entry {entry!r} is neither a function name nor a result with function_name")
    return errors


def function_name_of(entry) -> str | None:
    """A `functions` entry is a name, or a per-function result of another module of this collection."""
    if isinstance(entry, str) and entry:
        return entry
    if isinstance(entry, dict) and isinstance(entry.get("function_name"), str) and entry["function_name"]:
        return entry["function_name"]
    return None
