"""Lambda's limit on a function's environment variables, as AWS enforces it.

"Function environment variables: 4 KB, for all environment variables associated with the function, in
aggregate" (Lambda Developer Guide, "Lambda quotas",
https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). AWS refuses a CreateFunction or
UpdateFunctionConfiguration whose variables exceed it with InvalidParameterValueException, and its message echoes
the variables it measured, values included: "Lambda was unable to configure your environment variables because
the environment variables you have provided exceeded the 4KB limit. String measured: {...}". moto accepts any
size. The echo is reproduced because it is what makes the refusal dangerous: whoever turns the error into text
shows every value, secrets included.
"""

from __future__ import annotations

import json
from typing import Any

from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import LambdaBackend, LambdaFunction

ENVIRONMENT_LIMIT_BYTES = 4096


def measured(variables: dict) -> str:
    """The variables as AWS measures them: the JSON map, without spaces."""
    return json.dumps(variables, separators=(",", ":"))


def check_environment_size(request: dict[str, Any]) -> None:
    variables = (request.get("Environment") or {}).get("Variables")
    if not variables:
        return
    text = measured(variables)
    if len(text.encode("utf-8")) > ENVIRONMENT_LIMIT_BYTES:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables you have "
            f"provided exceeded the 4KB limit. String measured: {text}")


def apply() -> None:
    original_create = LambdaBackend.create_function
    original_update = LambdaBackend.update_function_configuration

    def create_function(self: LambdaBackend, spec: dict[str, Any]) -> LambdaFunction:
        check_environment_size(spec)
        return original_create(self, spec)

    def update_function_configuration(
        self: LambdaBackend, function_name: str, qualifier: str, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        check_environment_size(body)
        return original_update(self, function_name, qualifier, body)

    LambdaBackend.create_function = create_function
    LambdaBackend.update_function_configuration = update_function_configuration
