"""Lambda's Invoke, answered without containers: what a function does comes from the simulator's usage model.

AWS (Lambda API reference, Invoke: https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html):
- `Qualifier` (query string) names a version or alias to invoke; without it, `$LATEST` runs. A published version
  runs with the configuration (memory size, timeout) it was published with.
- The answer carries `X-Amz-Executed-Version`, the version that ran (the one an alias resolved to), and
  `X-Amz-Function-Error` when the function failed, with an error object as the payload.
- With `X-Amz-Log-Type: Tail` on a synchronous (`RequestResponse`) invocation, `X-Amz-Log-Result` holds "the last
  4 KB of the execution log, which is base64-encoded": for a managed runtime in the text format, the invocation's
  START and END lines and its REPORT line (Duration, Billed Duration, Memory Size, Max Memory Used, and Init
  Duration after a cold start); in the JSON format, its platform records ending in `platform.report`.
- The payload of a synchronous invocation is at most 6 MB, of an asynchronous one 1 MB
  (RequestTooLargeException, 413). `Event` answers 202 without a payload, `DryRun` 204 and runs nothing.
- Lambda developer guide, "Lambda function states": while a function is `Pending`, invocations fail.

moto 5.2.5 reads the qualifier from a lowercase `qualifier` parameter that no SDK sends, so it always runs
`$LATEST`; it runs the code in a Docker container, or (with `use_docker` off) echoes the payload with no log.

Here an invocation runs nothing. A function that tools/simulator.py gives a profile by name (tools/usage_profiles.yaml
`functions`, by the name without its `-<suffix>`) takes the duration, memory, cold start and outcome of one
invocation of that profile at the memory size and timeout of the version invoked, as tools/usage_model.py decides
them; a function the profiles do not name answers a plain short REPORT. Invocation n of a function at a memory size
does the same work as invocation n at any other size (seeded by the function, its profile and n), so sizes compare
invocation by invocation and a run repeated on a fresh emulator answers the same figures. A memory leak the
simulator adds to a profile is not: a new version starts new execution environments, in which nothing has leaked
yet. The first invocation of each version (and of `$LATEST`) is a cold start in a new execution environment, which
logs to a stream of its own in the function's log group, as Lambda names it, so the logs hold what Lambda would
write.
"""

from __future__ import annotations

import base64
import functools
import json
import random
import threading
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from ansible_collections.tap.lambdaopt.plugins.module_utils.common import SUFFIX_PATTERN
from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.awslambda.responses import LambdaResponse
from moto.utilities.aws_headers import amz_crc32

from tools.emulator_patches.lambda_states import ResourceConflictException, lifecycle_of
from tools.usage_model import (
    HIGH_MEMORY_SHARE,
    FunctionConfig,
    Invocation,
    UsageProfile,
    _resolve,
    load_profiles,
)

TAIL_BYTES = 4096
MAX_PAYLOAD_BYTES = {"RequestResponse": 6 * 1024 * 1024, "DryRun": 6 * 1024 * 1024, "Event": 1024 * 1024}
# A function the usage profiles do not name: a trivial handler's figures.
PLAIN_DURATION_MS = 1.0
PLAIN_MEMORY_USED_MB = 40
# What a failed invocation answers, per outcome of the usage model.
ERROR_PAYLOADS = {
    "error": {"errorMessage": "upstream call failed", "errorType": "RuntimeError"},
    "out_of_memory": {"errorMessage": "Runtime exited with error: signal: killed", "errorType": "Runtime.OutOfMemory"},
}

# moto's server answers requests on several threads; invocation counters are shared between them.
_lock = threading.Lock()


class RequestTooLargeException(LambdaClientError):
    code = 413

    def __init__(self, message: str) -> None:
        super().__init__("RequestTooLargeException", message)


def apply() -> None:
    LambdaResponse.invoke = amz_crc32(invoke)


@functools.cache
def _profiles() -> tuple[dict[str, UsageProfile], dict[str, str]]:
    return load_profiles()


def profile_of(function_name: str) -> UsageProfile | None:
    """The profile tools/simulator.py gives a function by name: its name without a `-<suffix>` is listed in
    tools/usage_profiles.yaml's `functions` (the longest such name, so `api-handler-dev` is not taken for `api`)."""
    profiles, assigned = _profiles()
    for base in sorted(assigned, key=len, reverse=True):
        rest = function_name[len(base) + 1:]
        if function_name == base or (function_name.startswith(f"{base}-") and SUFFIX_PATTERN.fullmatch(rest)):
            return profiles[assigned[base]]
    return None


def _next_index(backend: LambdaBackend, function: LambdaFunction) -> int:
    """How many invocations of this function at this memory size came before (kept on the backend, which a reset of
    the emulator replaces)."""
    key = (function.function_name, int(function.memory_size))
    with _lock:
        counts = backend.__dict__.setdefault("lambdaopt_invocation_counts", {})
        counts[key] = counts.get(key, 0) + 1
        return counts[key] - 1


def _environment(function: LambdaFunction) -> tuple[bool, str]:
    """(cold start, log stream) of the execution environment that runs this invocation; a new one opens its stream
    before any invocation can log to it. moto publishes a version as a shallow copy of $LATEST, so the copy inherits
    $LATEST's attributes: an environment belongs to the function object that recorded itself in it."""
    with _lock:
        recorded = function.__dict__.get("lambdaopt_environment")
        if recorded is not None and recorded[0] is function:
            return False, recorded[1]
        group = function.logs_group_name
        # Lambda developer guide, "Configuring CloudWatch log groups": in a group other than the function's own,
        # stream names carry the function's name too.
        owner = "" if group == f"/aws/lambda/{function.function_name}" else function.function_name
        stream = f"{datetime.now(UTC):%Y/%m/%d}/{owner}[{function.version}]{uuid.uuid4().hex}"
        function.logs_backend.ensure_log_group(group)
        function.logs_backend.create_log_stream(group, stream)
        function.lambdaopt_environment = (function, stream)
        return True, stream


def _profiled_invocation(function: LambdaFunction, profile: UsageProfile, index: int, cold: bool) -> Invocation:
    """One invocation of `profile` at the function's memory size and timeout: the work drawn as
    usage_model.simulate draws an invocation's, its outcome decided by usage_model's own rules."""
    work = random.Random(f"{function.function_name}/{profile.name}/{index}")
    duration = profile.duration_ms * work.lognormvariate(0, profile.duration_spread)
    memory = profile.memory_used_mb * work.uniform(0.92, 1.05)
    if work.random() < HIGH_MEMORY_SHARE:
        memory = work.uniform(profile.memory_used_mb, profile.memory_peak_mb)
    init = profile.init_duration_ms * work.lognormvariate(0, 0.1)
    failed = work.random() < profile.error_rate
    config = FunctionConfig(int(function.memory_size), int(function.timeout))
    request_ids = random.Random(f"{function.function_name}/{function.version}/{config.memory_size}/{index}")
    # usage_model's rules decide the outcome (out of memory, timeout, error) and the billed duration, as for history.
    return _resolve(datetime.now(UTC), 0.0, duration * profile.duration_factor(config.memory_size),
                    min(memory, profile.memory_peak_mb), init if cold else None, failed, config,
                    config.timeout * 1000.0, request_ids)


def _plain_invocation(function: LambdaFunction, index: int) -> Invocation:
    request_ids = random.Random(f"{function.function_name}/{function.version}/{function.memory_size}/{index}")
    return Invocation(start=datetime.now(UTC), request_id=str(uuid.UUID(int=request_ids.getrandbits(128), version=4)),
                      duration_ms=PLAIN_DURATION_MS, billed_duration_ms=int(PLAIN_DURATION_MS),
                      memory_size=int(function.memory_size),
                      max_memory_used_mb=min(PLAIN_MEMORY_USED_MB, int(function.memory_size)),
                      init_duration_ms=None, outcome="ok")


def _messages(function: LambdaFunction, invocation: Invocation) -> list[str]:
    """The invocation's log events in the function's log format, naming the version that ran."""
    from tools.simulator import log_messages  # tools.simulator imports the emulator, which imports these patches

    log_format = (getattr(function, "logging_config", None) or {}).get("LogFormat", "Text")
    messages = log_messages(invocation, log_format)
    if log_format == "JSON":
        start = json.loads(messages[0])
        start["record"]["version"] = str(function.version)
        messages[0] = json.dumps(start, separators=(",", ":"))
    else:
        messages[0] = messages[0].replace("Version: $LATEST", f"Version: {function.version}", 1)
    return messages


def tail(messages: list[str]) -> str:
    """X-Amz-Log-Result: the last 4 KB of the log, base64-encoded."""
    log = "".join(f"{message}\n" for message in messages).encode()
    return base64.b64encode(log[-TAIL_BYTES:]).decode()


def _write_log(function: LambdaFunction, stream: str, messages: list[str]) -> None:
    now = int(datetime.now(UTC).timestamp() * 1000)
    function.logs_backend.put_log_events(function.logs_group_name, stream,
                                         [{"timestamp": now, "message": message} for message in messages])


def run(backend: LambdaBackend, function: LambdaFunction) -> tuple[Invocation, list[str]]:
    """Run one invocation of `function` (a version, or $LATEST) and log it: (what it did, its log events)."""
    index = _next_index(backend, function)
    cold, stream = _environment(function)
    profile = profile_of(function.function_name)
    invocation = (_profiled_invocation(function, profile, index, cold) if profile is not None
                  else _plain_invocation(function, index))
    messages = _messages(function, invocation)
    _write_log(function, stream, messages)
    return invocation, messages


def _error_payload(invocation: Invocation) -> dict[str, Any]:
    if invocation.outcome == "timeout":
        return {"errorMessage": f"Task timed out after {invocation.duration_ms / 1000:.2f} seconds",
                "errorType": "Sandbox.Timedout"}
    return ERROR_PAYLOADS[invocation.outcome]


def invoke(self: LambdaResponse) -> tuple[int, dict[str, str], bytes]:
    name = unquote(self.path.rsplit("/", 2)[-2])
    function = self.backend.get_function(name, self._get_param("Qualifier") or None)
    invocation_type = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
    body = self.body if isinstance(self.body, bytes) else (self.body or "").encode()
    limit = MAX_PAYLOAD_BYTES.get(invocation_type, MAX_PAYLOAD_BYTES["RequestResponse"])
    if len(body) > limit:
        raise RequestTooLargeException(f"{invocation_type} request payload size ({len(body)} bytes) exceeded "
                                       f"maximum allowed payload size ({limit} bytes).")
    if str(function.version) == "$LATEST":
        lifecycle = lifecycle_of(function)
        lifecycle.settle()
        if lifecycle.state == "Pending":
            raise ResourceConflictException("The operation cannot be performed at this time. The function is "
                                            f"currently in the following state: Pending: {function.function_arn}")
    headers = {"X-Amz-Executed-Version": str(function.version), "content-type": "application/json"}
    # moto's server takes the status code of an answer from its `status` header.
    if invocation_type == "DryRun":
        return 204, {**headers, "status": "204"}, b""
    invocation, messages = run(self.backend, function)
    if invocation_type == "Event":
        return 202, {**headers, "status": "202"}, b""
    payload = body or b"{}"
    if invocation.outcome != "ok":
        headers["X-Amz-Function-Error"] = "Unhandled"
        payload = json.dumps(_error_payload(invocation)).encode()
    if self.headers.get("X-Amz-Log-Type") == "Tail":
        headers["X-Amz-Log-Result"] = tail(messages)
    return 200, headers, payload
