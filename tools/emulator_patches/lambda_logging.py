"""Lambda's advanced logging controls (`LoggingConfig`) as AWS keeps them; moto 5.2.5 does not model them at all.

AWS (Lambda API reference, type LoggingConfig; Lambda developer guide, "Configuring advanced logging controls for
Lambda functions", "Log-level filtering" and "Configuring CloudWatch log groups"):
- `LogFormat` is `Text` or `JSON`; every function has one, `Text` unless set.
- `LogGroup` names the CloudWatch Logs group the function sends its logs to, 1-512 characters of
  `[\\.\\-_/#A-Za-z0-9]+`; "by default, Lambda functions send logs to a default log group named
  `/aws/lambda/<function name>`". Any group may be named, and several functions may share one.
- `ApplicationLogLevel` (TRACE, DEBUG, INFO, WARN, ERROR, FATAL) and `SystemLogLevel` (DEBUG, INFO, WARN) filter
  what Lambda sends; "to use log-level filtering, your function must be configured to use the JSON log format".
  A JSON function without levels gets INFO for both; a Text function has none.
- CreateFunction and UpdateFunctionConfiguration take a `LoggingConfig`; an update changes the fields it names and
  keeps the others. GetFunction, GetFunctionConfiguration and ListFunctions return it.

Here the emulator is stricter than the documentation states outright: a log level sent with `LogFormat` Text is
refused (InvalidParameterValueException) rather than ignored. Invocations through moto also log to the configured
group.
"""

from __future__ import annotations

import re
from typing import Any

from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import LambdaBackend, LambdaFunction

LOG_FORMATS = ("Text", "JSON")
APPLICATION_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")
LOG_GROUP_PATTERN = re.compile(r"[\.\-_/#A-Za-z0-9]{1,512}")
DEFAULT_LEVEL = "INFO"
LEVELS = ("ApplicationLogLevel", "SystemLogLevel")


def apply() -> None:
    logging_config()


def default_log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def resolve(function_name: str, current: dict[str, Any] | None, requested: dict[str, Any] | None) -> dict[str, Any]:
    """The LoggingConfig a function has after `requested` is applied over `current` (None: a new function).
    Raises InvalidParameterValueException for a value AWS refuses."""
    requested = dict(requested or {})
    log_format = requested.get("LogFormat") or (current or {}).get("LogFormat") or "Text"
    if log_format not in LOG_FORMATS:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{log_format}' at 'loggingConfig.logFormat' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(LOG_FORMATS)}]")
    group = requested.get("LogGroup") or (current or {}).get("LogGroup") or default_log_group(function_name)
    if not LOG_GROUP_PATTERN.fullmatch(group):
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{group}' at 'loggingConfig.logGroup' failed to satisfy constraint: "
            "Member must have length between 1 and 512 and satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+")
    for key, allowed in (("ApplicationLogLevel", APPLICATION_LOG_LEVELS), ("SystemLogLevel", SYSTEM_LOG_LEVELS)):
        level = requested.get(key)
        if level is not None and level not in allowed:
            raise InvalidParameterValueException(
                f"1 validation error detected: Value '{level}' at 'loggingConfig.{key[0].lower()}{key[1:]}' failed "
                f"to satisfy constraint: Member must satisfy enum value set: [{', '.join(allowed)}]")
    if log_format == "Text":
        named = [key for key in LEVELS if requested.get(key)]
        if named:
            raise InvalidParameterValueException(
                f"{' and '.join(named)} can only be set when LogFormat is JSON (log-level filtering needs the JSON "
                "log format)")
        return {"LogFormat": "Text", "LogGroup": group}
    # Switching to JSON keeps levels already set; a JSON function without them filters at INFO.
    return {
        "LogFormat": "JSON",
        "ApplicationLogLevel": requested.get("ApplicationLogLevel") or (current or {}).get("ApplicationLogLevel")
        or DEFAULT_LEVEL,
        "SystemLogLevel": requested.get("SystemLogLevel") or (current or {}).get("SystemLogLevel") or DEFAULT_LEVEL,
        "LogGroup": group,
    }


def logging_config() -> None:
    """Keep, validate and return LoggingConfig; send moto's own invocation logs to the configured group."""
    original_create = LambdaBackend.create_function
    original_update = LambdaBackend.update_function_configuration
    original_init = LambdaFunction.__init__
    original_update_configuration = LambdaFunction.update_configuration
    original_get = LambdaFunction.get_configuration

    def create_function(self: LambdaBackend, spec: dict[str, Any]) -> LambdaFunction:
        resolve(spec.get("FunctionName") or "", None, spec.get("LoggingConfig"))
        return original_create(self, spec)

    def update_function_configuration(
        self: LambdaBackend, function_name: str, qualifier: str, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        if "LoggingConfig" in body:
            function = self.get_function(function_name, qualifier)
            resolve(function.function_name, getattr(function, "logging_config", None), body["LoggingConfig"])
        return original_update(self, function_name, qualifier, body)

    def init(self: LambdaFunction, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        self.logging_config = resolve(self.function_name, None, spec.get("LoggingConfig"))
        self.logs_group_name = self.logging_config["LogGroup"]

    def update_configuration(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "LoggingConfig" in config_updates:
            self.logging_config = resolve(self.function_name, getattr(self, "logging_config", None),
                                          config_updates["LoggingConfig"])
            self.logs_group_name = self.logging_config["LogGroup"]
        return original_update_configuration(self, config_updates)

    def get_configuration(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
        configuration = original_get(self, on_create)
        configuration["LoggingConfig"] = dict(getattr(self, "logging_config", None)
                                              or resolve(self.function_name, None, None))
        return configuration

    LambdaBackend.create_function = create_function
    LambdaBackend.update_function_configuration = update_function_configuration
    LambdaFunction.__init__ = init
    LambdaFunction.update_configuration = update_configuration
    LambdaFunction.get_configuration = get_configuration
