"""Event source mappings as AWS lists and checks them.

- ListEventSourceMappings answers at most 100 mappings a page, with a NextMarker to resume from (Lambda API
  reference, ListEventSourceMappings: "returns a maximum of 100 items in each response, even if you set the number
  higher"); moto returns every mapping in one page.
- CreateEventSourceMapping from an SQS queue is refused when the queue's visibility timeout is less than the
  function's timeout (Lambda developer guide, "Using Lambda with Amazon SQS": the visibility timeout must be at
  least the function's timeout; AWS answers InvalidParameterValueException); moto accepts it.
- A permission added with a Qualifier (an alias or version) goes into that qualifier's own resource policy, which
  GetPolicy with the same Qualifier returns; the unqualified function's policy does not hold it (Lambda API
  reference, AddPermission and GetPolicy: "Qualifier ... to get the policy for that resource"). moto keeps one
  policy per function whatever the qualifier.
"""

from __future__ import annotations

import json

from moto.awslambda.exceptions import GenericResourcNotFound, InvalidParameterValueException
from moto.awslambda.models import LambdaBackend
from moto.awslambda.policy import Policy
from moto.awslambda.responses import LambdaResponse
from moto.sqs.models import sqs_backends

MAX_MAPPINGS_PER_PAGE = 100


def apply() -> None:
    paged_listing()
    visibility_timeout_checked()
    policies_per_qualifier()


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


def _qualified_policies(backend: LambdaBackend) -> dict:
    """{(function name, qualifier): Policy}, kept on the backend so that a reset forgets them."""
    if not hasattr(backend, "lambdaopt_qualified_policies"):
        backend.lambdaopt_qualified_policies = {}
    return backend.lambdaopt_qualified_policies


def policies_per_qualifier() -> None:
    add_permission, get_policy = LambdaBackend.add_permission, LambdaBackend.get_policy

    def name_of(function_name: str) -> str:
        return function_name.split(":function:")[-1].split(":")[0]

    def qualified_add_permission(self: LambdaBackend, function_name: str, qualifier: str, raw: str):
        if not qualifier or qualifier == "$LATEST":
            return add_permission(self, function_name, qualifier, raw)
        self.get_function(function_name, qualifier)  # ResourceNotFoundException for an unknown alias or version
        # The statement's resource is the function's ARN with the qualifier, as AWS writes it.
        policy = _qualified_policies(self).setdefault((name_of(function_name), qualifier),
                                                      Policy(self.get_function(function_name)))
        statement, _ = policy.add_statement(raw, qualifier)
        return statement

    def qualified_get_policy(self: LambdaBackend, function_name: str, qualifier: str | None = None) -> str:
        if not qualifier or qualifier == "$LATEST":
            return get_policy(self, function_name, qualifier)
        self.get_function(function_name, qualifier)
        policy = _qualified_policies(self).get((name_of(function_name), qualifier))
        if policy is None:
            raise GenericResourcNotFound()
        return policy.wire_format()

    LambdaBackend.add_permission = qualified_add_permission
    LambdaBackend.get_policy = qualified_get_policy
