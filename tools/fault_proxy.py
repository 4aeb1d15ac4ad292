"""A fault-injecting HTTP proxy in front of the local emulator: AWS as it behaves on a bad day.

    with FaultProxy(emulator.endpoint, seed=7) as proxy:
        subprocess.run(cmd, env={**environ, "AWS_ENDPOINT_URL": proxy.endpoint})
        print(proxy.stats.render())

    python -m tools.fault_proxy --seed 7 -- ansible-playbook playbooks/optimize.yml -e suffix=dev

A share of the requests to AWS APIs is answered, instead of by the emulator, with the service's own
throttling error in its own protocol (`throttle`), a 500 or 503 (`server_error`), or never: the request
reaches the emulator and is acted on, then the connection is closed without an answer (`drop`), as when
a response is lost on the way back - the case that makes a retried create a second create.

The service is the one in the SigV4 credential scope (`Credential=<key>/<date>/<region>/<service>/aws4_request`);
the protocol is read from the request itself (REST-JSON for Lambda, an `X-Amz-Target` JSON call, a
`smithy-protocol: rpc-v2-cbor` call, a form-encoded query `Action`). Requests without a signature (the
emulator's own `/moto-api/` routes) always pass.

Seeded: the n-th request of an operation meets the fault `Random(f"{seed}/{service}/{operation}/{n}")`
picks, so work done in parallel (requests of different operations interleaving differently from run to
run) meets the same faults; only which of several concurrent calls of one operation comes first can vary.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import subprocess
import sys
import threading
import urllib.parse
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tools.emulator import require_local_endpoint

THROTTLE, SERVER_ERROR, DROP = "throttle", "server_error", "drop"
KINDS = (THROTTLE, SERVER_ERROR, DROP)
FORWARDED = "forwarded"

CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
# botocore's standard retry mode numbers each attempt of one API call: `attempt=2; max=4`.
ATTEMPT = re.compile(r"attempt=(\d+)")
HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                        "upgrade", "expect", "content-length"))
UPSTREAM_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Rates:
    """The share of requests that meet each fault; the rest reach the emulator and come back whole."""

    throttle: float = 0.10
    server_error: float = 0.05
    drop: float = 0.02

    def __post_init__(self) -> None:
        if min(self.throttle, self.server_error, self.drop) < 0 or self.throttle + self.server_error + self.drop > 1:
            raise ValueError("fault rates must be at least 0 and add up to at most 1")

    def pick(self, draw: float) -> str | None:
        """The fault for a uniform draw in [0, 1), or None."""
        for kind, rate in ((THROTTLE, self.throttle), (SERVER_ERROR, self.server_error), (DROP, self.drop)):
            if draw < rate:
                return kind
            draw -= rate
        return None


NO_FAULTS = Rates(0, 0, 0)


# ---- what a fault looks like, per protocol -------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict
    body: bytes


# The throttling error each service answers with (code, HTTP status), as its API reference documents.
THROTTLING = {
    "lambda": ("TooManyRequestsException", 429),
    "monitoring": ("Throttling", 400),  # CloudWatch's query-era code, sent in x-amzn-query-error too
    "logs": ("ThrottlingException", 400),
    "sqs": ("RequestThrottled", 400),
    "iam": ("Throttling", 400),
    "sts": ("Throttling", 400),
    "dynamodb": ("ThrottlingException", 400),
    "secretsmanager": ("ThrottlingException", 400),
    "s3": ("SlowDown", 503),
}
DEFAULT_THROTTLING = ("ThrottlingException", 400)
# A 500 is the service's own internal error where it models one; a 503 is AWS's common ServiceUnavailable.
INTERNAL_ERROR = {"lambda": "ServiceException", "dynamodb": "InternalServerError", "s3": "InternalError",
                  "monitoring": "InternalServiceError", "secretsmanager": "InternalServiceError",
                  "iam": "ServiceFailure", "logs": "ServiceUnavailableException"}
DEFAULT_INTERNAL_ERROR = "InternalFailure"
# JSON and CBOR services that once spoke the query protocol say the query-era code in a header.
QUERY_COMPATIBLE_PREFIX = {"sqs": "com.amazonaws.sqs#", "monitoring": "com.amazonaws.cloudwatch#"}
QUERY_COMPATIBLE = frozenset(QUERY_COMPATIBLE_PREFIX)


def protocol_of(method: str, path: str, headers: dict, body: bytes, service: str) -> str:
    """The wire protocol of a signed request: rest-json, json, cbor, query or rest-xml."""
    if headers.get("smithy-protocol", "").lower() == "rpc-v2-cbor" or "/operation/" in path and path.startswith(
            "/service/"):
        return "cbor"
    if "x-amz-target" in headers:
        return "json"
    if service == "s3":
        return "rest-xml"
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded") and b"Action=" in body:
        return "query"
    return "rest-json"


def operation_of(method: str, path: str, headers: dict, body: bytes, protocol: str) -> str:
    """The operation a request calls; for REST, its method and path with the resource names left out."""
    if protocol == "cbor":
        return path.rsplit("/operation/", 1)[-1]
    if protocol == "json":
        return headers["x-amz-target"].rsplit(".", 1)[-1]
    if protocol == "query":
        return urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action", ["?"])[0]
    segments = urllib.parse.urlsplit(path).path.strip("/").split("/")
    # /<version>/<collection>/<name>/<sub-collection>/<name>: the names vary, the rest is the operation.
    return f"{method} /" + "/".join("*" if index in (2, 4) else segment for index, segment in enumerate(segments))


def error_answer(kind: str, service: str, protocol: str, status_choice: int = 500) -> Answer:
    """The service's own answer for a throttle or a server error, in `protocol`."""
    if kind == THROTTLE:
        code, status = THROTTLING.get(service, DEFAULT_THROTTLING)
        message = "Rate exceeded"
    else:
        status = status_choice
        code = INTERNAL_ERROR.get(service, DEFAULT_INTERNAL_ERROR) if status == 500 else "ServiceUnavailable"
        message = "We encountered an internal error. Please try again." if status == 500 else \
            "The service is unavailable. Please try again shortly."
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id}
    fault = "Sender" if kind == THROTTLE else "Receiver"
    if protocol == "rest-json":
        headers.update({"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/", "Content-Type": "application/json"})
        body = {"Type": "User" if kind == THROTTLE else "Service", "message": message}
        if code == "TooManyRequestsException":
            body["Reason"] = "CallerRateLimitExceeded"
        return Answer(status, headers, json.dumps(body).encode())
    if protocol in ("json", "cbor"):
        # A query-era service keeps its old codes in the header; its JSON/CBOR type is the modelled one.
        wire_code = code
        if service in QUERY_COMPATIBLE:
            headers["x-amzn-query-error"] = f"{code};{fault}"
            wire_code = QUERY_COMPATIBLE_PREFIX[service] + code
        document = {"__type": wire_code, "message": message}
        if protocol == "json":
            headers["Content-Type"] = "application/x-amz-json-1.0"
            return Answer(status, headers, json.dumps(document).encode())
        headers.update({"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"})
        return Answer(status, headers, cbor_text_map(document))
    headers["Content-Type"] = "text/xml"
    if protocol == "rest-xml":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
    else:
        body = (f"<ErrorResponse><Error><Type>{fault}</Type><Code>{code}</Code><Message>{message}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    return Answer(status, headers, body.encode())


def cbor_text_map(document: dict) -> bytes:
    """A CBOR map of text strings to text strings (RFC 8949: major types 5 and 3), all an error body needs."""
    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
            if length < 1 << (8 * size):
                return bytes([major << 5 | extra]) + length.to_bytes(size, "big")
        raise ValueError("too long for CBOR")

    def text(value: str) -> bytes:
        encoded = value.encode()
        return head(3, len(encoded)) + encoded

    return head(5, len(document)) + b"".join(text(key) + text(value) for key, value in document.items())


# ---- figures -------------------------------------------------------------------------------------------

@dataclass
class Stats:
    """What the proxy saw: calls, faults by kind, and retried attempts, per service and per operation."""

    calls: Counter = field(default_factory=Counter)  # service -> requests
    outcomes: Counter = field(default_factory=Counter)  # (service, kind or "forwarded") -> requests
    operations: Counter = field(default_factory=Counter)  # (service, operation, kind) -> faults
    retries: Counter = field(default_factory=Counter)  # service -> requests that were a retried attempt
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, service: str, operation: str, outcome: str, attempt: int) -> None:
        with self.lock:
            self.calls[service] += 1
            self.outcomes[service, outcome] += 1
            if outcome != FORWARDED:
                self.operations[service, operation, outcome] += 1
            if attempt > 1:
                self.retries[service] += 1

    def faults(self, kind: str | None = None, service: str | None = None) -> int:
        return sum(count for (name, outcome), count in self.outcomes.items()
                   if outcome != FORWARDED and (kind is None or outcome == kind)
                   and (service is None or name == service))

    def as_dict(self) -> dict:
        services = sorted(self.calls)
        return {
            "calls": sum(self.calls.values()),
            "faults": {kind: self.faults(kind) for kind in KINDS},
            "retried_attempts": sum(self.retries.values()),
            "services": {service: {"calls": self.calls[service], "retried_attempts": self.retries[service],
                                   **{kind: self.outcomes[service, kind] for kind in KINDS}}
                         for service in services},
        }

    def render(self) -> str:
        figures = self.as_dict()
        lines = [f"{'service':<16} {'calls':>7} {'throttle':>9} {'5xx':>6} {'drop':>6} {'retried':>8}"]
        for service, row in figures["services"].items():
            lines.append(f"{service:<16} {row['calls']:>7} {row[THROTTLE]:>9} {row[SERVER_ERROR]:>6} "
                         f"{row[DROP]:>6} {row['retried_attempts']:>8}")
        faults = figures["faults"]
        lines.append(f"{'total':<16} {figures['calls']:>7} {faults[THROTTLE]:>9} {faults[SERVER_ERROR]:>6} "
                     f"{faults[DROP]:>6} {figures['retried_attempts']:>8}")
        return "\n".join(lines)


# ---- the proxy -----------------------------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gives up on a connection (a timeout, a process ended) is no error of the proxy's.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FaultProxy:
    """A threaded HTTP proxy on 127.0.0.1 that forwards to `upstream`, injecting faults (see the module)."""

    def __init__(self, upstream: str, seed: int = 0, rates: Rates = Rates(), port: int = 0) -> None:
        target = urllib.parse.urlsplit(upstream)
        if target.hostname not in ("127.0.0.1", "localhost", "::1") or target.scheme != "http":
            raise ValueError(f"the fault proxy only fronts a local emulator (http on loopback), not {upstream}")
        self.upstream = (target.hostname, target.port or 80)
        self.seed = seed
        self.rates = rates
        self.stats = Stats()
        self._port = port
        self._counts: Counter = Counter()
        self._scripted: deque = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("the fault proxy is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        self._server = _Server(("127.0.0.1", self._port), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self.endpoint

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def script(self, *faults: str | None, service: str | None = None, status: int = 500) -> None:
        """Make the next signed requests (of `service`, if given) meet these faults, in order, before any
        drawn at random; `None` in the list lets one request through; a server error answers `status`."""
        with self._lock:
            for kind in faults:
                if kind is not None and kind not in KINDS:
                    raise ValueError(f"unknown fault {kind!r}; one of {KINDS}")
                self._scripted.append((service, kind, status))

    def decide(self, service: str, operation: str) -> tuple[str | None, int]:
        """The fault this request meets (or None), and the status of a server error."""
        with self._lock:
            for index, (wanted, kind, status) in enumerate(self._scripted):
                if wanted in (None, service):
                    del self._scripted[index]
                    return kind, status
            self._counts[service, operation] += 1
            draws = random.Random(f"{self.seed}/{service}/{operation}/{self._counts[service, operation]}")
        return self.rates.pick(draws.random()), draws.choice((500, 503))


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        upstream: http.client.HTTPConnection | None = None

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass  # one line per request would drown the output of whatever runs through the proxy

        def finish(self) -> None:
            if self.upstream is not None:
                self.upstream.close()
            super().finish()

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            match = CREDENTIAL_SCOPE.search(headers.get("authorization", ""))
            if match is None or self.path.startswith("/moto-api/"):
                self._answer(self._forward(body))
                return
            service = match.group(1)
            protocol = protocol_of(self.command, self.path, headers, body, service)
            operation = operation_of(self.command, self.path, headers, body, protocol)
            attempt = ATTEMPT.search(headers.get("amz-sdk-request", ""))
            fault, status = proxy.decide(service, operation)
            proxy.stats.record(service, operation, fault or FORWARDED, int(attempt.group(1)) if attempt else 1)
            if fault in (THROTTLE, SERVER_ERROR):
                self._answer(error_answer(fault, service, protocol, status))
            elif fault == DROP:
                self._forward(body)  # acted on, and the answer lost: the connection ends with no reply
                self.close_connection = True
            else:
                self._answer(self._forward(body))

        def _forward(self, body: bytes) -> Answer:
            headers = {key: value for key, value in self.headers.items() if key.lower() not in HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            for fresh in (False, True):
                if self.upstream is None or fresh:
                    if self.upstream is not None:
                        self.upstream.close()
                    self.upstream = http.client.HTTPConnection(*proxy.upstream, timeout=UPSTREAM_TIMEOUT_SECONDS)
                try:
                    self.upstream.request(self.command, self.path, body=body, headers=headers)
                    response = self.upstream.getresponse()
                    content = response.read()
                except (ConnectionError, http.client.HTTPException):
                    if fresh:
                        raise
                    continue  # a kept-alive connection the emulator closed meanwhile: once more on a new one
                kept = {key: value for key, value in response.getheaders() if key.lower() not in HOP_BY_HOP}
                if response.will_close:
                    self.upstream.close()
                    self.upstream = None
                return Answer(response.status, kept, content)
            raise AssertionError("unreachable")

        def _answer(self, answer: Answer) -> None:
            self.send_response_only(answer.status)  # the emulator's own Server and Date pass through
            for key, value in answer.headers.items():
                self.send_header(key, value)
            if not any(key.lower() == "date" for key in answer.headers):
                self.send_header("Date", self.date_time_string())
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _relay

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.fault_proxy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--throttle", type=float, default=Rates.throttle, help="share answered with a throttle")
    parser.add_argument("--server-error", type=float, default=Rates.server_error, help="share answered 500/503")
    parser.add_argument("--drop", type=float, default=Rates.drop, help="share acted on but never answered")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="after '--': run with AWS_ENDPOINT_URL at the proxy")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("nothing to run: give a command after '--'")
    try:
        rates = Rates(args.throttle, args.server_error, args.drop)
    except ValueError as error:
        parser.error(str(error))
    with FaultProxy(require_local_endpoint(), seed=args.seed, rates=rates) as proxy:
        print(f"fault proxy at {proxy.endpoint} (seed {args.seed}) in front of {os.environ['AWS_ENDPOINT_URL']}",
              flush=True)
        returncode = subprocess.run(command, env={**os.environ, "AWS_ENDPOINT_URL": proxy.endpoint},
                                    check=False).returncode
        print(proxy.stats.render(), flush=True)
    return returncode


if __name__ == "__main__":
    sys.exit(main())
