"""AWS's API request quotas in the local emulator: a ledger of every call and, in quota mode, AWS's throttling.

A WSGI middleware in front of moto's server (tools/emulator.py puts it there). For each signed request it finds
the account, Region, service and operation, counts the call in a ledger and, in quota mode, answers a call above
one of AWS's default request quotas the way the service itself does: its own throttling error, in its own
protocol and with its own HTTP status, so that botocore raises the ClientError AWS would cause and its retry
modes treat it as throttling. The quotas, with their sources, are in tools/aws_quotas.yaml.

What AWS does, and how it is reproduced:
- Request quotas apply per account and per Region (the Lambda, CloudWatch and CloudWatch Logs quota pages say
  "per account per Region"); calls made with an assumed role count against the role's account ("The API rate
  limits are applied to account to which the calling credentials belong", repost.aws question
  QUtQIXKqDSSguiOiPzPNepIw). Each quota is a token bucket per account-Region: it refills at AWS's default rate
  and holds one second's worth of requests unless AWS documents a burst.
- A quota names its operations, or covers every other operation of its service: Lambda's 15 requests per second
  are shared by every control-plane operation except invocation, GetFunction (100/s) and GetPolicy (15/s).
- Logs Insights allows a number of concurrent queries (StartQuery API reference); StartQuery above it answers
  LimitExceededException. AWS counts a query until it ends. The emulator's queries end inside moto at once, so a
  query counts here from StartQuery until the caller has seen it end: GetQueryResults answered Complete, Failed,
  Cancelled or Timeout, or StopQuery was called - or 60 minutes passed, when AWS times a query out.
- Operations no quota names, requests whose operation cannot be told (counted as "unknown"), and quotas whose
  figure AWS does not document (`rate: null` in the data) are never throttled. Quota mode is off unless asked for.

The ledger counts, per (account, Region, service, operation), the calls made, those this middleware throttled,
and those retried: a throttled request that arrives again identical (method, path, query, body, access key).
Unsigned requests (moto's own /moto-api/) are not AWS calls and pass uncounted. Over HTTP, for users in other
processes: GET /lambdaopt-api/ledger, POST /lambdaopt-api/ledger/reset, GET /lambdaopt-api/quotas and
POST /lambdaopt-api/quotas with {"quotas": "aws" or null, "scale": 0.1}. moto's reset (POST /moto-api/reset)
also empties the ledger and puts quota mode back as the emulator started.
"""

from __future__ import annotations

import functools
import hashlib
import http
import io
import json
import math
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import botocore.session
import yaml
from botocore.exceptions import UnknownServiceError
from moto.iam.models import get_account_id_from

QUOTAS_FILE = Path(__file__).with_name("aws_quotas.yaml")
AWS = "aws"
EVERY_OTHER = "every-other"
UNKNOWN = "unknown"
OWN_ROUTES = "/lambdaopt-api/"
MOTO_RESET = "/moto-api/reset"
CREDENTIAL_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
# Logs Insights: the statuses in which a query has ended, and how long AWS lets one run.
QUERY_ENDED = frozenset(("Complete", "Failed", "Cancelled", "Timeout"))
QUERY_TIMEOUT_SECONDS = 3600

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


# ---- the quota data ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ThrottlingError:
    """How a service refuses a request above a quota."""

    code: str
    status: int
    message: str
    json_namespace: str | None = None
    reason: str | None = None
    retry_after_header: bool = False


@dataclass(frozen=True)
class Quota:
    """One of AWS's request quotas: a rate per second (or a count of concurrent queries) per account-Region."""

    name: str
    service: str
    operations: frozenset[str]  # empty for a quota that covers every other operation of its service
    excluded: frozenset[str]  # what such a quota does not cover
    rate: float | None
    burst: float | None
    concurrent: int | None
    per_operation: bool
    region_rates: Mapping[str, float]
    error: ThrottlingError
    source: str
    checked: str

    @property
    def enforced(self) -> bool:
        return self.rate is not None or self.concurrent is not None

    def covers(self, operation: str) -> bool:
        if self.operations:
            return operation in self.operations
        return operation != UNKNOWN and operation not in self.excluded

    def rate_in(self, region: str) -> float:
        return self.region_rates.get(region, self.rate)


@dataclass(frozen=True)
class QuotaTable:
    """A set of quotas, and which of them govern each operation."""

    quotas: tuple[Quota, ...]

    def covering(self, service: str, operation: str) -> tuple[Quota, ...]:
        return tuple(quota for quota in self.quotas
                     if quota.service == service and quota.enforced and quota.covers(operation))

    def named(self, name: str) -> Quota:
        return next(quota for quota in self.quotas if quota.name == name)

    def only(self, *names: str) -> QuotaTable:
        """These quotas alone (a test's way to meet one quota without the others)."""
        return QuotaTable(tuple(self.named(name) for name in names))


@functools.cache
def load_quotas(path: Path = QUOTAS_FILE) -> QuotaTable:
    """The quotas of the data file; a quota of every other operation leaves out those other quotas name."""
    document = yaml.safe_load(path.read_text())
    errors = {service: ThrottlingError(**{key: value for key, value in entry.items()
                                          if key not in ("source", "checked")})
              for service, entry in document["services"].items()}
    named: dict[str, set[str]] = {}
    for entry in document["quotas"]:
        if entry["operations"] != EVERY_OTHER:
            named.setdefault(entry["service"], set()).update(entry["operations"])
    return QuotaTable(tuple(_quota(entry, errors[entry["service"]], named.get(entry["service"], set()))
                            for entry in document["quotas"]))


def _quota(entry: dict, service_error: ThrottlingError, named_elsewhere: set[str]) -> Quota:
    every_other = entry["operations"] == EVERY_OTHER
    error = replace(service_error, **{key: entry[key] for key in ("code", "status", "message") if key in entry})
    rate = entry.get("rate")
    return Quota(
        name=entry["name"],
        service=entry["service"],
        operations=frozenset() if every_other else frozenset(entry["operations"]),
        excluded=frozenset(entry.get("except", ())) | frozenset(named_elsewhere) if every_other else frozenset(),
        rate=rate,
        burst=entry.get("burst", rate),
        concurrent=entry.get("concurrent"),
        per_operation=entry.get("per_operation", False),
        region_rates=entry.get("regions", {}),
        error=error,
        source=entry["source"],
        checked=str(entry["checked"]),
    )


# ---- which call a request is ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    """A signed AWS API request: who made it, where, and what it asks."""

    account: str
    region: str
    service: str
    operation: str
    protocol: str  # rest-json, rest-xml, json, cbor or query
    fingerprint: str  # equal for requests that are identical but for their signature

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.account, self.region, self.service, self.operation


def identify(environ: dict, body: bytes) -> Call | None:
    """The call a signed request makes, or None for a request that is not an AWS API call."""
    scope = _credential_scope(environ)
    if scope is None or environ.get("PATH_INFO", "").startswith("/moto-api/"):
        return None
    access_key, region, service = scope
    protocol, operation = _protocol_and_operation(environ, body, service)
    fingerprint = hashlib.sha256(b"\0".join((
        environ.get("REQUEST_METHOD", "").encode(), environ.get("PATH_INFO", "").encode("utf-8", "replace"),
        environ.get("QUERY_STRING", "").encode(), body, access_key.encode()))).hexdigest()
    return Call(_account_of(environ, access_key), region, service, operation, protocol, fingerprint)


def _credential_scope(environ: dict) -> tuple[str, str, str] | None:
    """(access key, Region, service) of a SigV4 signature, in the Authorization header or a presigned query."""
    match = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match is None:
        credential = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential", [""])[0]
        match = CREDENTIAL_SCOPE.search(f"Credential={credential}")
    return match.groups() if match else None


def _account_of(environ: dict, access_key: str) -> str:
    """The account moto serves the request from, in moto's order (BaseResponse.get_current_account): the
    x-moto-account-id header, else the account that issued the access key (an assumed role's), else moto's
    default account."""
    return environ.get("HTTP_X_MOTO_ACCOUNT_ID") or get_account_id_from(access_key)


def _protocol_and_operation(environ: dict, body: bytes, service: str) -> tuple[str, str]:
    path = environ.get("PATH_INFO", "")
    if environ.get("HTTP_SMITHY_PROTOCOL", "").lower() == "rpc-v2-cbor" or (
            path.startswith("/service/") and "/operation/" in path):
        return "cbor", path.rsplit("/operation/", 1)[-1] or UNKNOWN
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return "json", target.rsplit(".", 1)[-1]
    action = _query_action(environ, body)
    if action:
        return "query", action
    routes = _rest_routes(service)
    if routes is None:
        return "rest-json", UNKNOWN
    protocol, table = routes
    method = environ.get("REQUEST_METHOD", "")
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    operation = next((route.operation for route in table if route.matches(method, path, query)), UNKNOWN)
    return protocol, operation


def _query_action(environ: dict, body: bytes) -> str | None:
    """The Action of a query-protocol request, in its query string or form-encoded body."""
    actions = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    if not actions and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        actions = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action")
    return actions[0] if actions else None


@dataclass(frozen=True)
class _Route:
    """A REST operation's method and request URI (`{Name}` one path segment, `{Name+}` the rest), with the
    query parameters its URI requires (`?versions`, `?List=ALL`)."""

    operation: str
    method: str
    path: re.Pattern
    query: tuple[tuple[str, str | None], ...]

    def matches(self, method: str, path: str, query: Mapping[str, list[str]]) -> bool:
        return (method == self.method and self.path.fullmatch(path.rstrip("/") or "/") is not None
                and all(name in query and (value is None or value in query[name]) for name, value in self.query))


def _route(operation: str, http_trait: Mapping) -> _Route:
    template, _, literal_query = http_trait["requestUri"].partition("?")
    pattern = "".join(
        "(?:.+)" if part.endswith("+}") else "[^/]+" if part.startswith("{") else re.escape(part)
        for part in re.split(r"(\{[^}]+\})", template.rstrip("/") or "/"))
    query = tuple((name, value if separator else None) for name, separator, value in
                  (item.partition("=") for item in literal_query.split("&") if item))
    return _Route(operation, http_trait["method"], re.compile(pattern), query)


@functools.cache
def _rest_routes(service: str) -> tuple[str, tuple[_Route, ...]] | None:
    """A REST service's protocol and its routes, most specific first; None for a service botocore does not
    know by this name or that is not REST."""
    try:
        model = botocore.session.get_session().get_service_model(service)
    except UnknownServiceError:
        return None
    if model.protocol not in ("rest-json", "rest-xml"):
        return None
    routes = [_route(name, model.operation_model(name).http) for name in model.operation_names]
    # Required query parameters first (GET ...?List=ALL before GET ...), then fewer and narrower labels.
    routes.sort(key=lambda route: (-len(route.query), route.path.pattern.count("(?:.+)"),
                                   route.path.pattern.count("[^/]+"), -len(route.path.pattern)))
    return model.protocol, tuple(routes)


# ---- the ledger -------------------------------------------------------------------------------------------

class Ledger:
    """Calls per (account, Region, service, operation): made, throttled here, and retried after a throttle."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str, str], dict[str, int]] = {}
        self._awaiting_retry: set[str] = set()
        self._on_reset: list[Callable[[], None]] = []

    def record(self, call: Call, throttled: bool) -> None:
        with self._lock:
            counts = self._counts.setdefault(call.key, {"made": 0, "throttled": 0, "retried": 0})
            counts["made"] += 1
            if call.fingerprint in self._awaiting_retry:
                self._awaiting_retry.discard(call.fingerprint)
                counts["retried"] += 1
            if throttled:
                counts["throttled"] += 1
                self._awaiting_retry.add(call.fingerprint)

    def snapshot(self) -> dict:
        """{account: {region: {service: {operation: {"made": n, "throttled": n, "retried": n}}}}}"""
        tree: dict = {}
        with self._lock:
            for (account, region, service, operation), counts in sorted(self._counts.items()):
                tree.setdefault(account, {}).setdefault(region, {}).setdefault(service, {})[operation] = dict(counts)
        return tree

    def reset(self) -> None:
        """Forget every call; the quotas' buckets and queries in flight start afresh with it."""
        with self._lock:
            self._counts.clear()
            self._awaiting_retry.clear()
        for listener in self._on_reset:
            listener()

    def on_reset(self, listener: Callable[[], None]) -> None:
        self._on_reset.append(listener)


# ---- quota mode -------------------------------------------------------------------------------------------

class TokenBucket:
    """Holds up to `capacity` requests and refills at `rate` per second; starts full."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate, self.capacity = rate, capacity
        self.tokens, self.updated = capacity, now

    def take(self, now: float) -> float:
        """0 if a request may go now (and takes its token), else the seconds until one may."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass(frozen=True)
class Refusal:
    quota: Quota
    error: ThrottlingError
    retry_after: float


@dataclass
class _InsightsQueries:
    """Logs Insights queries in flight per account-Region: started ones by id, and StartQuery calls admitted
    but not answered yet (so that two at once cannot both take the last place)."""

    started: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    admitted: dict[tuple[str, str], int] = field(default_factory=dict)

    def in_flight(self, place: tuple[str, str], now: float) -> int:
        started = self.started.setdefault(place, {})
        for query_id in [query_id for query_id, since in started.items() if now - since > QUERY_TIMEOUT_SECONDS]:
            del started[query_id]
        return len(started) + self.admitted.get(place, 0)


class QuotaMode:
    """The quotas in force (scaled: `scale` 0.1 allows a tenth of AWS's rates and counts, and a bucket always
    holds at least one request), their buckets per account-Region, and the Logs Insights queries in flight."""

    def __init__(self, table: QuotaTable, scale: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        if scale <= 0:
            raise ValueError("the quota scale must be above 0")
        self.table, self.scale, self._clock = table, scale, clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple, TokenBucket] = {}
        self._queries = _InsightsQueries()

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._queries = _InsightsQueries()

    def admit(self, call: Call) -> Refusal | None:
        """None if the call may go, else the quota it is above and how AWS says so."""
        now = self._clock()
        with self._lock:
            for quota in self.table.covering(call.service, call.operation):
                refusal = self._count_query(quota, call, now) if quota.concurrent else self._take(quota, call, now)
                if refusal is not None:
                    return refusal
            return None

    def _take(self, quota: Quota, call: Call, now: float) -> Refusal | None:
        key = (call.account, call.region, quota.name, call.operation if quota.per_operation else None)
        bucket = self._buckets.get(key)
        if bucket is None:
            rate = quota.rate_in(call.region) * self.scale
            bucket = self._buckets[key] = TokenBucket(rate, max(1.0, quota.burst * self.scale), now)
        wait = bucket.take(now)
        return Refusal(quota, quota.error, wait) if wait else None

    def _count_query(self, quota: Quota, call: Call, now: float) -> Refusal | None:
        place = (call.account, call.region)
        limit = max(1, math.ceil(quota.concurrent * self.scale))
        if self._queries.in_flight(place, now) >= limit:
            error = replace(quota.error, message=quota.error.message.format(limit=limit))
            return Refusal(quota, error, 1.0)
        self._queries.admitted[place] = self._queries.admitted.get(place, 0) + 1
        return None

    def counts_queries(self, call: Call) -> bool:
        """Whether this call starts or ends a Logs Insights query that a concurrency quota counts."""
        if call.service != "logs" or call.operation not in ("StartQuery", "GetQueryResults", "StopQuery"):
            return False
        return any(quota.concurrent for quota in self.table.covering("logs", "StartQuery"))

    def observe_query(self, call: Call, request: bytes, status: int, response: bytes) -> None:
        """Count a query in from StartQuery's answer, out once GetQueryResults says it ended or StopQuery."""
        place = (call.account, call.region)
        with self._lock:
            if call.operation == "StartQuery":
                self._queries.admitted[place] = max(0, self._queries.admitted.get(place, 0) - 1)
                query_id = _json_field(response, "queryId") if status < 300 else None
                if query_id:
                    self._queries.started.setdefault(place, {})[query_id] = self._clock()
                return
            query_id = _json_field(request, "queryId")
            ended = call.operation == "StopQuery" or (
                status < 300 and _json_field(response, "status") in QUERY_ENDED)
            if query_id and ended:
                self._queries.started.get(place, {}).pop(query_id, None)


def _json_field(document: bytes, name: str) -> str | None:
    try:
        value = json.loads(document or b"{}")
    except ValueError:
        return None
    return value.get(name) if isinstance(value, dict) else None


# ---- how a service says "throttled" ------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def throttling_answer(call: Call, refusal: Refusal, request_content_type: str = "") -> Answer:
    """The refusal as the service sends it, in the request's protocol: REST-JSON (x-amzn-ErrorType header and
    a JSON body), JSON (`__type`), CBOR (Smithy RPC v2), query (an XML ErrorResponse) or REST-XML. A
    query-compatible JSON or CBOR service (botocore's `awsQueryCompatible`: SQS, CloudWatch) also names its
    query-era code in the x-amzn-query-error header, from which botocore takes the error code."""
    error = refusal.error
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id)]
    if error.retry_after_header:
        headers.append(("Retry-After", str(max(1, math.ceil(refusal.retry_after)))))
    if call.protocol == "rest-json":
        document = {"Type": "User", "message": error.message}
        if error.reason:
            document["Reason"] = error.reason
        headers += [("x-amzn-ErrorType", error.code), ("Content-Type", "application/json")]
        return Answer(error.status, headers, json.dumps(document).encode())
    if call.protocol in ("json", "cbor"):
        wire_type = f"{error.json_namespace}#{error.code}" if error.json_namespace else error.code
        if _query_compatible(call.service):
            headers.append(("x-amzn-query-error", f"{error.code};Sender"))
        document = {"__type": wire_type, "message": error.message}
        if call.protocol == "cbor":
            headers += [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
            return Answer(error.status, headers, _cbor_text_map(document))
        headers.append(("Content-Type", request_content_type or "application/x-amz-json-1.0"))
        return Answer(error.status, headers, json.dumps(document).encode())
    headers.append(("Content-Type", "text/xml"))
    if call.protocol == "rest-xml":
        body = f"<Error><Code>{error.code}</Code><Message>{error.message}</Message>" \
               f"<RequestId>{request_id}</RequestId></Error>"
    else:
        body = f"<ErrorResponse><Error><Type>Sender</Type><Code>{error.code}</Code><Message>{error.message}" \
               f"</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    return Answer(error.status, headers, body.encode())


@functools.cache
def _query_compatible(service: str) -> bool:
    name = "cloudwatch" if service == "monitoring" else service
    try:
        return "awsQueryCompatible" in botocore.session.get_session().get_service_model(name).metadata
    except UnknownServiceError:
        return False


def _cbor_text_map(document: Mapping[str, str]) -> bytes:
    """A CBOR map of text strings to text strings (RFC 8949 major types 5 and 3): all an error body needs."""
    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        size = next(size for size in (1, 2, 4, 8) if length < 1 << (8 * size))
        return bytes([major << 5 | {1: 24, 2: 25, 4: 26, 8: 27}[size]]) + length.to_bytes(size, "big")

    def text(value: str) -> bytes:
        encoded = value.encode()
        return head(3, len(encoded)) + encoded

    return head(5, len(document)) + b"".join(text(key) + text(value) for key, value in document.items())


# ---- the middleware ---------------------------------------------------------------------------------------

class ApiQuotas:
    """The ledger and quota mode of one emulator, and the WSGI middleware that applies them to its server."""

    def __init__(self, quotas: str | QuotaTable | None = None, scale: float = 1.0) -> None:
        self.ledger = Ledger()
        self._lock = threading.Lock()
        self._mode: QuotaMode | None = None
        self._setting: tuple[str | QuotaTable | None, float] = (None, 1.0)
        self.enforce(quotas, scale)
        self._at_start = self._setting
        self.ledger.on_reset(self._reset_mode)

    @property
    def setting(self) -> dict:
        quotas, scale = self._setting
        return {"quotas": quotas if quotas is None or isinstance(quotas, str) else "custom", "scale": scale}

    def enforce(self, quotas: str | QuotaTable | None, scale: float = 1.0) -> None:
        """Quota mode: "aws" (AWS's default quotas), a QuotaTable, or None (off); `scale` multiplies every
        quota's rate and count."""
        if quotas is None:
            mode = None
        elif quotas == AWS:
            mode = QuotaMode(load_quotas(), scale)
        elif isinstance(quotas, QuotaTable):
            mode = QuotaMode(quotas, scale)
        else:
            raise ValueError(f'quotas must be "{AWS}", a QuotaTable or None, not {quotas!r}')
        with self._lock:
            self._mode, self._setting = mode, (quotas, scale)

    def restore(self) -> None:
        """The ledger emptied and quota mode as at start, as moto's reset leaves everything else."""
        self.enforce(*self._at_start)
        self.ledger.reset()

    def _reset_mode(self) -> None:
        mode = self._mode
        if mode is not None:
            mode.reset()

    def wrap(self, app: WSGIApp) -> WSGIApp:
        def middleware(environ: dict, start_response: Callable) -> Iterable[bytes]:
            return self._serve(app, environ, start_response)

        return middleware

    def _serve(self, app: WSGIApp, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(OWN_ROUTES):
            return self._own_route(environ, start_response)
        if path == MOTO_RESET and environ.get("REQUEST_METHOD") == "POST":
            response = list(app(environ, start_response))
            self.restore()
            return response
        body = _read_body(environ)
        call = identify(environ, body)
        if call is None:
            return app(environ, start_response)
        mode = self._mode
        refusal = mode.admit(call) if mode is not None else None
        self.ledger.record(call, throttled=refusal is not None)
        if refusal is not None:
            answer = throttling_answer(call, refusal, environ.get("CONTENT_TYPE", ""))
            start_response(_status_line(answer.status), answer.headers)
            return [answer.body]
        if mode is not None and mode.counts_queries(call):
            return _answer_then(app, environ, start_response,
                                lambda status, response: mode.observe_query(call, body, status, response))
        return app(environ, start_response)

    def _own_route(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        route = (environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "").rstrip("/"))
        status, document = 200, None
        if route == ("GET", "/lambdaopt-api/ledger"):
            document = self.ledger.snapshot()
        elif route == ("POST", "/lambdaopt-api/ledger/reset"):
            self.ledger.reset()
            document = {"reset": True}
        elif route == ("GET", "/lambdaopt-api/quotas"):
            document = self.setting
        elif route == ("POST", "/lambdaopt-api/quotas"):
            try:
                asked = json.loads(_read_body(environ) or b"{}")
                self.enforce(asked.get("quotas"), float(asked.get("scale", 1.0)))
                document = self.setting
            except (ValueError, TypeError, AttributeError) as error:
                status, document = 400, {"error": str(error)}
        else:
            status, document = 404, {"error": f"no route {route[0]} {route[1]}"}
        start_response(_status_line(status), [("Content-Type", "application/json")])
        return [json.dumps(document).encode()]


def _read_body(environ: dict) -> bytes:
    """The request body, read once and put back for the application behind."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > 0:
        body = environ["wsgi.input"].read(length)
    elif environ.get("wsgi.input_terminated"):
        body = environ["wsgi.input"].read()
    else:
        return b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _answer_then(app: WSGIApp, environ: dict, start_response: Callable,
                 then: Callable[[int, bytes], None]) -> list[bytes]:
    """The application's answer, passed on whole after `then(status, body)` has seen it."""
    seen: dict[str, int] = {}

    def remember(status: str, headers: list, exc_info: object = None) -> Callable:
        seen["status"] = int(status.split(" ", 1)[0])
        return start_response(status, headers, exc_info)

    iterable = app(environ, remember)
    try:
        chunks = list(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    then(seen.get("status", 500), b"".join(chunks))
    return chunks


def _status_line(status: int) -> str:
    return f"{status} {http.HTTPStatus(status).phrase}"
