"""GetMetricData's per-query status codes, which moto never answers (every moto result is `Complete`), made
answerable on demand for chosen metrics.

AWS (CloudWatch API reference, MetricDataResult and GetMetricData):
- Each MetricDataResult carries a `StatusCode`: `Complete` when all data points of the time range were returned;
  `PartialData` when only some were, and the response's `NextToken` asks for more (the same request repeated with
  `NextToken`); `InternalError` when an error occurred ("retry your request using NextToken, if present");
  `Forbidden` when the caller may not read that metric. `Messages` (MessageData: `Code`, `Value`) says more.
- A `NextToken` that CloudWatch did not issue is refused with `InvalidNextToken` (GetMetricData's errors).

In-process control (tests run the emulator in their own process): `answer_status(metric, dimension value, status)`
makes every query of that metric with that dimension value answer `status`. `PartialData` splits the query's data
points: the first page returns the first half (rounded down) with `PartialData` and a `NextToken`; the request
repeated with it returns the rest with `Complete`, and every other query once more, without data points (those that
were complete) or with the status they are made to answer. `InternalError` and `Forbidden` return no data points,
on every page. State lives on moto's CloudWatch backend, so the emulator's reset clears it.
"""

from __future__ import annotations

import uuid
from typing import Any

from moto.cloudwatch.exceptions import CloudWatchException
from moto.cloudwatch.models import CloudWatchBackend, cloudwatch_backends
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

STATUSES = ("Complete", "PartialData", "InternalError", "Forbidden")
DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
MESSAGES = {
    "InternalError": "An internal error occurred while reading this metric.",
    "Forbidden": "You are not authorized to read this metric.",
}


class InvalidNextToken(CloudWatchException):
    code = "InvalidNextToken"


def apply() -> None:
    scripted_status()


def _scripted(backend: CloudWatchBackend) -> dict[tuple[str, str], str]:
    if not hasattr(backend, "lambdaopt_metric_status"):
        backend.lambdaopt_metric_status = {}
    return backend.lambdaopt_metric_status


def _pages(backend: CloudWatchBackend) -> dict[str, dict[str, tuple[list, list]]]:
    if not hasattr(backend, "lambdaopt_metric_pages"):
        backend.lambdaopt_metric_pages = {}
    return backend.lambdaopt_metric_pages


def answer_status(metric_name: str, dimension_value: str, status: str, account_id: str = DEFAULT_ACCOUNT_ID,
                  region: str = DEFAULT_REGION) -> None:
    """Make GetMetricData answer `status` for every query of `metric_name` with a dimension whose value is
    `dimension_value` (a function name, a log group name, a table name...), until the emulator is reset."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    _scripted(cloudwatch_backends[account_id][region])[(metric_name, dimension_value)] = status


def status_of(backend: CloudWatchBackend, query: dict[str, Any]) -> str:
    metric = query.get("MetricStat", {}).get("Metric", {})
    scripted = _scripted(backend)
    for dimension in metric.get("Dimensions", []):
        status = scripted.get((metric.get("MetricName"), dimension.get("Value")))
        if status is not None:
            return status
    return "Complete"


def scripted_status() -> None:
    original = CloudWatchResponse.get_metric_data

    def get_metric_data(self: CloudWatchResponse) -> ActionResult:
        backend = self.cloudwatch_backend
        token = self._get_param("NextToken")
        if not _scripted(backend) and not token:
            return original(self)
        remaining = _pages(backend).pop(token, None) if token else {}
        if token and remaining is None:
            raise InvalidNextToken("The service cannot process the NextToken provided.")
        answered = original(self)
        statuses = {query["Id"]: status_of(backend, query) for query in self._get_params().get("MetricDataQueries", [])}
        results, more = [], {}
        for result in answered.result["MetricDataResults"]:
            status = statuses.get(result["id"], "Complete")
            values, timestamps = result["values"], result["timestamps"]
            if status in MESSAGES:
                values, timestamps = [], []
            elif token:
                # A later page: the rest of a query that was partial, nothing more of the others.
                values, timestamps = remaining.get(result["id"], ([], []))
                status = "Complete"
            elif status == "PartialData":
                half = len(values) // 2
                more[result["id"]] = (values[half:], timestamps[half:])
                values, timestamps = values[:half], timestamps[:half]
            answer = dict(result, values=values, timestamps=timestamps, status_code=status)
            if status in MESSAGES:
                answer["messages"] = [{"code": status, "value": MESSAGES[status]}]
            results.append(answer)
        body: dict[str, Any] = {"MetricDataResults": results}
        if more:
            body["NextToken"] = str(uuid.uuid4())
            _pages(backend)[body["NextToken"]] = more
        return ActionResult(body)

    CloudWatchResponse.get_metric_data = get_metric_data
