# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every tap.lambdaopt module shares: fleet selection options and the retry policy."""

from __future__ import annotations

import re

from ansible_collections.amazon.aws.plugins.module_utils.arn import parse_aws_arn
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.tap.lambdaopt.plugins.module_utils.decisions import AUTO

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
    return RetryingClient(module.client(service, config=BOTOCORE_RETRIES), retry)


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


def partly_applied(entry: dict) -> bool:
    """A failed entry part of whose change AWS accepted (`accepted`): its `after` is what it then held."""
    return entry.get("status") == "failed" and bool(entry.get("accepted"))


def function_results(module, entries: list, missing: list, changed: bool = False, **extra) -> dict:
    """The result of a module that changes functions: `changed` when any function was (or would be) changed, even
    in part, or `changed` says something else was, the entries, the functions that failed or were not found, and
    under --diff the functions acted on."""
    acted = [entry for entry in entries if entry["status"] in ("planned", "changed") or partly_applied(entry)]
    failed = [entry["function_name"] for entry in entries if entry["status"] == "failed"] + list(missing)
    result = dict(changed=changed or bool(acted), functions=entries, failed_functions=failed, **extra)
    if module._diff:
        result["diff"] = {"before": {entry["function_name"]: entry["before"] for entry in acted},
                          "after": {entry["function_name"]: entry["after"] for entry in acted}}
    return result


def exit_with_function_results(module, entries: list, missing: list, failure: str, changed: bool = False,
                               **extra) -> None:
    """End a module that changes functions (see function_results): a failed task naming every function that
    failed or was not found, after all the others were done."""
    result = function_results(module, entries, missing, changed, **extra)
    if result["failed_functions"]:
        module.fail_json(msg=f"{failure}: {', '.join(result['failed_functions'])}", **result)
    module.exit_json(**result)


def fail_part_way(module, error: Exception, msg: str, entries: list, missing: list, changed: bool = False,
                  **extra) -> None:
    """End a module that met an unexpected AWS error part-way, as fail_json_aws does (its detail in the
    message), with every per-function result gathered so far, so that what was done is recorded: an entry still
    planned in a real run was never applied, and fails with the run."""
    if not module.check_mode:
        for entry in entries:
            if entry["status"] == "planned":
                entry.update(status="failed", error=f"not applied: {msg}: {error}", after=entry["before"])
    module.fail_json_aws(error, msg=msg, **function_results(module, entries, missing, changed, **extra))


def bulk_result(module, kind: str, entries: list, missing: list, key) -> dict:
    """The result of a module that acts on many resources of one kind: `changed`, the entries under `kind`,
    `failed_<kind>` (those that failed, then those not found), a summary, and under --diff the settings before
    and after of every resource acted on, named by `key(entry)`."""
    acted = [entry for entry in entries if entry["status"] in ("planned", "changed")]
    failed = [key(entry) for entry in entries if entry["status"] == "failed"] + list(missing)
    result = {
        "changed": bool(acted),
        kind: entries,
        f"failed_{kind}": failed,
        "summary": {
            kind: len(entries),
            "changed": len(acted),
            "unchanged": sum(1 for entry in entries if entry["status"] == "unchanged"),
            "with_refusals": sum(1 for entry in entries if entry["refused"]),
            "failed": len(failed),
        },
    }
    if module._diff:
        result["diff"] = {"before": {key(entry): entry["before"] for entry in acted},
                          "after": {key(entry): entry["after"] for entry in acted}}
    return result
