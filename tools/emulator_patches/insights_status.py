"""Logs Insights queries that do not complete, and StopQuery, which moto 5.2.5 lacks (its queries all run to
`Complete` inside StartQuery).

AWS (CloudWatch Logs API reference, StartQuery, GetQueryResults and StopQuery):
- StartQuery names its log groups; a group that does not exist fails the whole query with
  ResourceNotFoundException ("Log group '<name>' does not exist for account ID '<account>'", the message AWS
  returns as users quote it, e.g. lumigo-io/lumigo-CLI issue #79), whichever of the named groups it is. moto
  refuses too, with a generic message; here the message names the group, as AWS's does. Up to 100 queries run at
  once per account ("You can have up to 100 concurrent CloudWatch Logs insights queries", StartQuery; the quota in
  tools/aws_quotas.yaml); StartQuery answers LimitExceededException beyond.
- GetQueryResults' `status` is one of `Scheduled`, `Running`, `Complete`, `Failed`, `Cancelled`, `Timeout` and
  `Unknown`; queries time out after 60 minutes of runtime.
- StopQuery stops a query that is in progress (`{"success": true}`; GetQueryResults then says `Cancelled`). "If the
  query has already ended, the operation returns an error indicating that the specified query is not running":
  InvalidParameterException here (one of the two client errors StopQuery documents); an unknown query id is
  ResourceNotFoundException.

In-process control (tests run the emulator in their own process): `end_queries(log group, status)` makes every query
that names that group end in `status` (`Failed`, `Timeout`, `Cancelled`, `Unknown`, with no results) or stay
`Running` until StopQuery. State lives on moto's Logs backend, so the emulator's reset clears it.
"""

from __future__ import annotations

import json

from moto.logs.exceptions import InvalidParameterException, LimitExceededException, ResourceNotFoundException
from moto.logs.models import LogsBackend, logs_backends
from moto.logs.responses import LogsResponse

OUTCOMES = ("Running", "Failed", "Timeout", "Cancelled", "Unknown")
ENDED = ("Complete", "Failed", "Timeout", "Cancelled", "Unknown")
MAX_CONCURRENT_QUERIES = 100
DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"


def apply() -> None:
    scripted_outcomes()
    stop_query()


def _outcomes(backend: LogsBackend) -> dict[str, str]:
    if not hasattr(backend, "lambdaopt_query_outcomes"):
        backend.lambdaopt_query_outcomes = {}
    return backend.lambdaopt_query_outcomes


def end_queries(log_group: str, status: str, account_id: str = DEFAULT_ACCOUNT_ID,
                region: str = DEFAULT_REGION) -> None:
    """Make every Logs Insights query naming `log_group` end in `status` (or stay `Running` until StopQuery),
    until the emulator is reset."""
    if status not in OUTCOMES:
        raise ValueError(f"status must be one of {', '.join(OUTCOMES)}")
    _outcomes(logs_backends[account_id][region])[log_group] = status


def scripted_outcomes() -> None:
    original = LogsBackend.start_query

    def start_query(self: LogsBackend, log_group_names: list[str], start_time: int, end_time: int,
                    query_string: str) -> str:
        for name in log_group_names or []:
            if name not in self.groups:
                raise ResourceNotFoundException(f"Log group '{name}' does not exist for account ID '{self.account_id}'")
        if sum(query.status == "Running" for query in self.queries.values()) >= MAX_CONCURRENT_QUERIES:
            raise LimitExceededException()
        query_id = original(self, log_group_names, start_time, end_time, query_string)
        outcomes = _outcomes(self)
        outcome = next((outcomes[name] for name in log_group_names or [] if name in outcomes), None)
        if outcome is not None:
            self.queries[query_id].status = outcome
            self.queries[query_id].results = []
        return query_id

    LogsBackend.start_query = start_query


def stop_query() -> None:
    def stop(self: LogsBackend, query_id: str) -> None:
        query = self.queries.get(query_id)
        if query is None:
            raise ResourceNotFoundException(f"Query {query_id} does not exist")
        if query.status in ENDED:
            raise InvalidParameterException(f"Query {query_id} is not running")
        query.status = "Cancelled"

    def stop_query_response(self: LogsResponse) -> str:
        self.logs_backend.lambdaopt_stop_query(self._get_param("queryId"))
        return json.dumps({"success": True})

    LogsBackend.lambdaopt_stop_query = stop
    LogsResponse.stop_query = stop_query_response
