"""Event source mappings as AWS lists and checks them.

- ListEventSourceMappings answers at most 100 mappings a page, with a NextMarker to resume from (Lambda API
  reference, ListEventSourceMappings: "returns a maximum of 100 items in each response, even if you set the number
  higher"); moto returns every mapping in one page.
- CreateEventSourceMapping from an SQS queue is refused when the queue's visibility timeout is less than the
  function's timeout (Lambda developer guide, "Using Lambda with Amazon SQS": the visibility timeout must be at
  least the function's timeout; AWS answers InvalidParameterValueException); moto accepts it.
"""

from __future__ import annotations

import json

from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import LambdaBackend
from moto.awslambda.responses import LambdaResponse
from moto.sqs.models import sqs_backends

MAX_MAPPINGS_PER_PAGE = 100


def apply() -> None:
    paged_listing()
    visibility_timeout_checked()


def paged_listing() -> None:
    original = LambdaResponse.list_event_source_mappings

    def list_event_source_mappings(self: LambdaResponse) -> str:
        everything = json.loads(original(self))["EventSourceMappings"]
        start = int(self.querystring.get("Marker", ["0"])[0] or 0)
        size = min(int(self.querystring.get("MaxItems", [MAX_MAPPINGS_PER_PAGE])[0]), MAX_MAPPINGS_PER_PAGE)
        result = {"EventSourceMappings": everything[start:start + size]}
        if start + size < len(everything):
            result["NextMarker"] = str(start + size)
        return json.dumps(result)

    LambdaResponse.list_event_source_mappings = list_event_source_mappings


def visibility_timeout_checked() -> None:
    original = LambdaBackend.create_event_source_mapping

    def create_event_source_mapping(self: LambdaBackend, spec: dict):
        source = spec.get("EventSourceArn") or ""
        if source.startswith("arn:aws:sqs:") and spec.get("FunctionName"):
            function = self._lambdas.get_function_by_name_or_arn_with_qualifier(spec["FunctionName"])
            queues = sqs_backends[self.account_id][self.region_name].queues.values()
            for queue in queues:
                if queue.queue_arn == source and int(queue.visibility_timeout) < int(function.timeout):
                    raise InvalidParameterValueException(
                        f"Queue visibility timeout: {int(queue.visibility_timeout)} seconds is less than Function "
                        f"timeout: {int(function.timeout)} seconds")
        return original(self, spec)

    LambdaBackend.create_event_source_mapping = create_event_source_mapping
