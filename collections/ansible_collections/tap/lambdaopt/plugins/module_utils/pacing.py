# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every AWS call a module makes, paced to the request quota AWS sets for it.

AWS refuses a call above one of its API request quotas (per account and Region) with a throttling error; the client
retries it after a backoff that costs more time than waiting for the quota would have. So each client a module makes
waits, before each attempt it sends, for a token of the quota the call draws from: a fleet-wide run then goes as
fast as the account-region allows, and its calls are refused only where something else shares the quota.

The quotas are AWS's defaults for the operations the collection calls in bulk (checked 2026-12-01; the emulator's
tools/aws_quotas.yaml holds each with its source, and a test keeps the two equal):
- Lambda (developer guide, "Lambda quotas", API requests): GetFunction 100 requests a second, GetPolicy 15, and 15
  shared by every other control-plane operation; invocation is bound by concurrency, not a request rate.
- CloudWatch (service quotas): PutMetricAlarm 3 a second, DeleteAlarms 3, DescribeAlarms 9, GetMetricData 500.
- CloudWatch Logs (quotas): PutRetentionPolicy 5 a second, DescribeLogGroups 10, CreateExportTask 5, StartQuery 10,
  GetQueryResults 10, DescribeLogStreams 25, FilterLogEvents 10 (25 in us-east-1, 5 in a few Regions).
A call no quota here names is not paced. Several tools sharing an account-region share its quotas too; the retry
(common.BOTOCORE_RETRIES) covers the refusals that sharing causes.

LAMBDAOPT_API_PACING=off in the environment turns pacing off: for an endpoint that enforces no quota (the local
emulator outside its quota mode), where it would only make a run slower."""

from __future__ import annotations

import os
import threading

from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter

EVERY_OTHER = None
SWITCH = "LAMBDAOPT_API_PACING"


class Quota:
    """One request quota: the operations of a service it covers (EVERY_OTHER: each one no other quota of the
    service names, except those `excluded`), and its rate per second, by Region where AWS sets it by Region."""

    def __init__(self, name: str, service: str, operations: tuple | None, rate: float, regions: dict | None = None,
                 excluded: tuple = ()) -> None:
        self.name, self.service, self.operations, self.rate = name, service, operations, rate
        self.regions = regions or {}
        self.excluded = excluded

    def rate_in(self, region: str | None) -> float:
        return self.regions.get(region, self.rate)


QUOTAS = (
    Quota("lambda-get-function", "lambda", ("GetFunction",), 100),
    Quota("lambda-get-policy", "lambda", ("GetPolicy",), 15),
    Quota("lambda-control-plane", "lambda", EVERY_OTHER, 15, excluded=("Invoke", "InvokeAsync",
                                                                       "InvokeWithResponseStream")),
    Quota("cloudwatch-put-metric-alarm", "monitoring", ("PutMetricAlarm",), 3),
    Quota("cloudwatch-delete-alarms", "monitoring", ("DeleteAlarms",), 3),
    Quota("cloudwatch-describe-alarms", "monitoring", ("DescribeAlarms",), 9),
    Quota("cloudwatch-get-metric-data", "monitoring", ("GetMetricData",), 500),
    Quota("logs-put-retention-policy", "logs", ("PutRetentionPolicy",), 5),
    Quota("logs-describe-log-groups", "logs", ("DescribeLogGroups",), 10),
    Quota("logs-describe-log-streams", "logs", ("DescribeLogStreams",), 25),
    Quota("logs-create-export-task", "logs", ("CreateExportTask",), 5),
    Quota("logs-start-query", "logs", ("StartQuery",), 10),
    Quota("logs-get-query-results", "logs", ("GetQueryResults",), 10),
    Quota("logs-filter-log-events", "logs", ("FilterLogEvents",), 10,
          regions={"us-east-1": 25, "ap-northeast-3": 5, "ap-southeast-3": 5, "ca-west-1": 5, "eu-central-1": 5,
                   "il-central-1": 5}),
)

_limiters: dict = {}
_lock = threading.Lock()


def quota_of(service: str, operation: str) -> Quota | None:
    """The quota a call draws from, or None."""
    named = [quota for quota in QUOTAS if quota.service == service and quota.operations is not EVERY_OTHER]
    for quota in named:
        if operation in quota.operations:
            return quota
    return next((quota for quota in QUOTAS if quota.service == service and quota.operations is EVERY_OTHER
                 and operation not in quota.excluded), None)


def limiter_of(quota: Quota, region: str | None) -> RateLimiter:
    """One token bucket per quota and Region for the whole process: every client and thread of a module shares it."""
    with _lock:
        key = (quota.name, region)
        if key not in _limiters:
            _limiters[key] = RateLimiter(quota.rate_in(region))
        return _limiters[key]


def pace(client):
    """Make `client` (a boto3 client) wait for its quota's token before each attempt it sends; returns it."""
    if os.environ.get(SWITCH) == "off":
        return client
    service = client.meta.service_model.signing_name
    region = client.meta.region_name

    def wait_for_quota(event_name: str, **_kwargs) -> None:
        quota = quota_of(service, event_name.rsplit(".", 1)[-1])
        if quota is not None:
            limiter_of(quota, region).acquire()

    client.meta.events.register(f"before-send.{client.meta.service_model.service_id.hyphenize()}", wait_for_quota)
    return client
