"""API Gateway integration timeouts as AWS states them; moto 5.2.5 leaves a REST integration's timeout out when it
was not set, gives a WebSocket API's integrations the HTTP APIs' default, and accepts any value.

AWS (API Gateway API reference, Integration `timeoutInMillis`: "Custom timeout between 50 and 29,000 milliseconds.
The default value is 29,000 milliseconds or 29 seconds"; apigatewayv2 API reference, Integration `TimeoutInMillis`:
"Custom timeout between 50 and 29,000 milliseconds for WebSocket APIs and between 50 and 30,000 milliseconds for
HTTP APIs. The default timeout is 29 seconds for WebSocket APIs and 30 seconds for HTTP APIs"):
- a REST integration without a timeout of its own answers 29,000 (Regional and private REST APIs may be raised above
  29,000 through a quota increase, so only the lower bound, 50, is checked there);
- an HTTP or WebSocket API's integration is refused (BadRequestException) outside 50 to 30,000 or 50 to 29,000, and
  defaults to 30,000 or 29,000.
"""

from __future__ import annotations

from typing import Any

from moto.apigateway.exceptions import BadRequestException as RestBadRequest
from moto.apigateway.models import Integration as RestIntegration
from moto.apigatewayv2.exceptions import BadRequestException
from moto.apigatewayv2.models import Api

REST_DEFAULT_MS = 29000
MIN_MS = 50
V2_LIMITS_MS = {"HTTP": 30000, "WEBSOCKET": 29000}


def apply() -> None:
    rest_default()
    v2_limits()


def rest_default() -> None:
    original = RestIntegration.__init__

    def __init__(self: RestIntegration, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self.timeout_in_millis is None:
            self.timeout_in_millis = REST_DEFAULT_MS
        elif int(self.timeout_in_millis) < MIN_MS:
            raise RestBadRequest(f"Timeout should be at least {MIN_MS} ms")
        self.timeout_in_millis = int(self.timeout_in_millis)

    RestIntegration.__init__ = __init__


def v2_limits() -> None:
    original = Api.create_integration

    def create_integration(self: Api, *args: Any, **kwargs: Any):
        limit = V2_LIMITS_MS.get(self.protocol_type, V2_LIMITS_MS["HTTP"])
        timeout = kwargs.get("timeout_in_millis")
        if timeout is not None and not MIN_MS <= int(timeout) <= limit:
            raise BadRequestException(f"Invalid timeout: {timeout}. Timeout must be between {MIN_MS} and {limit} "
                                      f"milliseconds")
        integration = original(self, *args, **kwargs)
        if timeout is None:
            integration.timeout_in_millis = limit
        return integration

    Api.create_integration = create_integration
