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

from tools.emulator_patches.lambda_configuration import refuse_invalid_requests

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
    refuse_invalid_requests(check_environment_size)
