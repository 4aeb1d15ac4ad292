"""Lambda function configuration as AWS keeps it: dead-letter and tracing settings round-trip, values outside
AWS's limits are refused, and ListFunctions pages."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from moto.awslambda.exceptions import ValidationException
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.awslambda.responses import LambdaResponse

MEMORY_RANGE = (128, 10240)
TIMEOUT_RANGE = (1, 900)
LIST_FUNCTIONS_PAGE_LIMIT = 50
# ListFunctions "returns a subset of the FunctionConfiguration fields"; these come only from GetFunction or
# GetFunctionConfiguration (Lambda API reference, ListFunctions).
NOT_LISTED = ("State", "StateReason", "StateReasonCode", "LastUpdateStatus", "LastUpdateStatusReason",
              "LastUpdateStatusReasonCode")


def apply() -> None:
    dead_letter_and_tracing_config()
    configuration_limits()
    list_functions_paging()


def dead_letter_and_tracing_config() -> None:
    """AWS stores DeadLetterConfig (create and update) and TracingConfig (update) and returns them;
    moto drops both. An empty TargetArn removes the dead-letter queue, as in AWS."""
    original_init = LambdaFunction.__init__
    original_update = LambdaFunction.update_configuration
    original_get = LambdaFunction.get_configuration

    def init(self: LambdaFunction, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        self.dead_letter_target = (spec.get("DeadLetterConfig") or {}).get("TargetArn") or None

    def update_configuration(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "DeadLetterConfig" in config_updates:
            self.dead_letter_target = (config_updates["DeadLetterConfig"] or {}).get("TargetArn") or None
        if "TracingConfig" in config_updates:
            self.tracing_config = {"Mode": config_updates["TracingConfig"].get("Mode", "PassThrough")}
        return original_update(self, config_updates)

    def get_configuration(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
        configuration = original_get(self, on_create)
        target = getattr(self, "dead_letter_target", None)
        if target:
            configuration["DeadLetterConfig"] = {"TargetArn": target}
        return configuration

    LambdaFunction.__init__ = init
    LambdaFunction.update_configuration = update_configuration
    LambdaFunction.get_configuration = get_configuration


def _check_limits(configuration: dict[str, Any]) -> None:
    for key, field, (low, high) in (
        ("MemorySize", "memorySize", MEMORY_RANGE),
        ("Timeout", "timeout", TIMEOUT_RANGE),
    ):
        value = configuration.get(key)
        if value is None:
            continue
        if int(value) < low:
            raise ValidationException(value, field, f"Member must have value greater than or equal to {low}")
        if int(value) > high:
            raise ValidationException(value, field, f"Member must have value less than or equal to {high}")


def refuse_invalid_requests(check: Callable[[dict[str, Any]], None]) -> None:
    """Run `check` on every CreateFunction and UpdateFunctionConfiguration request before moto acts on it, as AWS
    validates a request first; `check` raises the error AWS answers."""
    original_create = LambdaBackend.create_function
    original_update = LambdaBackend.update_function_configuration

    def create_function(self: LambdaBackend, spec: dict[str, Any]) -> LambdaFunction:
        check(spec)
        return original_create(self, spec)

    def update_function_configuration(
        self: LambdaBackend, function_name: str, qualifier: str, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        check(body)
        return original_update(self, function_name, qualifier, body)

    LambdaBackend.create_function = create_function
    LambdaBackend.update_function_configuration = update_function_configuration


def configuration_limits() -> None:
    """AWS rejects memory outside 128-10,240 MB and timeouts outside 1-900 s; moto accepts any value."""
    refuse_invalid_requests(_check_limits)


def list_functions_paging() -> None:
    """AWS returns at most 50 functions a page with a NextMarker, and no state or update status; moto returns
    everything at once, with both."""

    def list_functions(self: LambdaResponse) -> str:
        version = self.querystring.get("FunctionVersion", [None])[0]
        start = int(self.querystring.get("Marker", ["0"])[0] or 0)
        requested = int(self.querystring.get("MaxItems", [LIST_FUNCTIONS_PAGE_LIMIT])[0])
        page_size = min(requested, LIST_FUNCTIONS_PAGE_LIMIT)
        configurations = _every_version(self.backend) if version == "ALL" else [
            function.get_configuration() for function in self.backend.list_functions(version)]
        page = configurations[start:start + page_size]
        result: dict[str, Any] = {"Functions": [_listed(configuration) for configuration in page]}
        if start + page_size < len(configurations):
            result["NextMarker"] = str(start + page_size)
        return json.dumps(result)

    LambdaResponse.list_functions = list_functions


def _every_version(backend: Any) -> list[dict[str, Any]]:
    """FunctionVersion=ALL: each function's $LATEST (its ARN qualified `:$LATEST`, as AWS lists it) and then its
    published versions. moto deep-copies every function for this, code included, on every page; reading the
    configurations needs no copy."""
    configurations = []
    for group in list(backend._lambdas._functions.values()):
        if group["latest"] is not None:
            latest = group["latest"].get_configuration()
            configurations.append({**latest, "FunctionArn": f"{latest['FunctionArn']}:$LATEST"})
        configurations += [version.get_configuration() for version in group["versions"]]
    return configurations


def _listed(configuration: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in configuration.items() if key not in NOT_LISTED}
