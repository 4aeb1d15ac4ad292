"""Lambda aliases, versions and their per-version metrics, as AWS keeps and checks them.

AWS (Lambda API reference, CreateAlias, UpdateAlias, AliasRoutingConfiguration, PublishVersion, DeleteFunction,
ProvisionedConcurrencyConfigListItem; Lambda developer guide, "Implement Lambda canary deployments using a weighted
alias" and "Configuring provisioned concurrency"; CloudWatch user guide, "Percentiles"):
- An alias points to at most two versions: its FunctionVersion and, in RoutingConfig.AdditionalVersionWeights, one
  more, whose key is a version number (pattern `[0-9]+`, so never `$LATEST`) and whose weight is 0.0 to 1.0. Both
  versions must be published (the alias cannot point to `$LATEST` while it routes), exist, have the same execution
  role and the same dead-letter queue configuration, or none. A routing configuration without weights clears it.
- Every alias has a RevisionId that changes with each update; UpdateAlias naming another RevisionId answers
  PreconditionFailedException.
- PublishVersion publishes only if `$LATEST` still has the RevisionId (PreconditionFailedException) and the
  CodeSha256 (InvalidParameterValueException) the request names, when it names them.
- A version that an alias points to, or routes a weight to, cannot be deleted (ResourceConflictException).
- Provisioned concurrency configured on an alias belongs to the alias, not to a version: when the alias moves to
  another version, Lambda provisions that version's execution environments, and while it routes a weight to a second
  version the allocation is divided between the two versions (AllocatedProvisionedConcurrentExecutions "fluctuates
  depending on the amount of concurrency that is provisioned for the function versions"). Either way the alias's
  allocation is IN_PROGRESS until the environments are ready, then READY.
- Lambda publishes the invocation metrics of an alias per version that ran, with the dimension ExecutedVersion
  (FunctionName, Resource `<function>:<alias>`, ExecutedVersion). CloudWatch answers percentiles (`p99`) of raw
  values (PutMetricData Value, or Values and Counts), and of a statistic set only when its values are all one
  value (SampleCount 1, or Minimum equal to Maximum).

moto 5.2.5 stores any RoutingConfig unchecked, never changes an alias's RevisionId and ignores the one sent, ignores
PublishVersion's RevisionId and CodeSha256, deletes a version an alias points to, and answers any percentile with a
server error. Here those are as AWS has them; the provisioned concurrency of an alias that moves or starts routing
is IN_PROGRESS for one read (GetProvisionedConcurrencyConfig, ListProvisionedConcurrencyConfigs), as a new
allocation is (tools/emulator_patches/lambda_concurrency.py). Percentiles are nearest-rank (CloudWatch
approximates them).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from moto.awslambda.exceptions import (
    InvalidParameterValueException,
    LambdaClientError,
    PreconditionFailedException,
    UnknownFunctionException,
)
from moto.awslambda.models import LambdaAlias, LambdaBackend, LambdaFunction
from moto.awslambda.responses import LambdaResponse
from moto.cloudwatch.models import CloudWatchBackend, MetricAggregatedDatum, MetricDatum

from tools.emulator_patches.cloudwatch import metric_points
from tools.emulator_patches.lambda_concurrency import _provisioned_configs
from tools.emulator_patches.lambda_states import ResourceConflictException, lifecycle_of

VERSION_KEY = re.compile(r"[0-9]+")
PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d+)?)")
REVISION_MISMATCH = ("The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias "
                     "API to retrieve the latest Revision Id")


class ValidationException(LambdaClientError):
    def __init__(self, message: str) -> None:
        super().__init__("ValidationException", message)


def apply() -> None:
    routing_checked()
    alias_revisions()
    publish_conditions()
    referenced_versions_kept()
    provisioned_concurrency_follows_the_alias()
    percentile_statistics()


def weights_of(routing_config: dict | None) -> dict:
    return dict((routing_config or {}).get("AdditionalVersionWeights") or {})


def _dead_letter_target(function: LambdaFunction) -> str | None:
    return getattr(function, "dead_letter_target", None)


def check_routing(backend: LambdaBackend, function_name: str, primary: str, routing_config: dict | None) -> None:
    """Refuse a routing configuration AWS refuses, for an alias whose FunctionVersion is `primary`."""
    weights = weights_of(routing_config)
    if not weights:
        return
    for version, weight in weights.items():
        if not VERSION_KEY.fullmatch(str(version)):
            raise ValidationException(
                f"1 validation error detected: Value '{weights}' at 'routingConfig.additionalVersionWeights' failed "
                "to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression "
                "pattern: [0-9]+]")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0.0 <= weight <= 1.0:
            raise ValidationException(
                f"1 validation error detected: Value '{weights}' at 'routingConfig.additionalVersionWeights' failed "
                "to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or "
                "equal to 1.0, Member must have value greater than or equal to 0.0]")
    if len(weights) > 1:
        raise InvalidParameterValueException("An alias can point to at most two versions: RoutingConfig can name "
                                             "only one additional version.")
    if primary.upper() == "$LATEST":
        raise InvalidParameterValueException("$LATEST is not supported for an alias pointing to more than 1 version")
    (additional,) = weights
    if additional == primary:
        raise InvalidParameterValueException(f"Version {additional} is the alias's function version; the additional "
                                             "version in RoutingConfig must be another one.")
    main = backend.get_function(function_name, primary)
    try:
        other = backend.get_function(function_name, additional)
    except UnknownFunctionException:
        raise UnknownFunctionException(f"{main.function_arn.rsplit(':', 1)[0]}:{additional}") from None
    if other.role != main.role:
        raise InvalidParameterValueException("Both versions of a weighted alias must have the same execution role.")
    if _dead_letter_target(other) != _dead_letter_target(main):
        raise InvalidParameterValueException("Both versions of a weighted alias must have the same dead-letter queue "
                                             "configuration, or none.")


def routing_checked() -> None:
    original_create = LambdaBackend.create_alias
    original_update = LambdaBackend.update_alias

    def create_alias(self: LambdaBackend, name: str, function_name: str, function_version: str, description: str,
                     routing_config: dict | None) -> LambdaAlias:
        check_routing(self, function_name, function_version, routing_config)
        return original_create(self, name, function_name, function_version, description,
                               routing_config if weights_of(routing_config) else None)

    def update_alias(self: LambdaBackend, name: str, function_name: str, function_version: str | None,
                     description: str | None, routing_config: dict | None) -> LambdaAlias:
        alias = self.get_alias(name, function_name)
        primary = function_version or alias.function_version
        routing = routing_config if routing_config is not None else alias.routing_config
        check_routing(self, function_name, primary, routing)
        if routing_config is not None and not weights_of(routing_config):
            alias.routing_config = None  # cleared: GetAlias no longer shows a routing configuration
            routing_config = None
        return original_update(self, name, function_name, function_version, description, routing_config)

    LambdaBackend.create_alias = create_alias
    LambdaBackend.update_alias = update_alias


def alias_revisions() -> None:
    """Each update gives the alias a new RevisionId; an update naming an older one is refused."""
    original_alias_update = LambdaAlias.update
    original_response = LambdaResponse.update_alias

    def update(self: LambdaAlias, description: str | None, function_version: str | None,
               routing_config: dict | None) -> None:
        original_alias_update(self, description, function_version, routing_config)
        self.revision_id = str(uuid.uuid4())

    def update_alias(self: LambdaResponse) -> Any:
        function_name = unquote(self.path.rsplit("/")[-3])
        alias_name = unquote(self.path.rsplit("/", 2)[-1])
        revision = json.loads(self.body or "{}").get("RevisionId")
        if revision is not None and revision != self.backend.get_alias(alias_name, function_name).revision_id:
            raise PreconditionFailedException(REVISION_MISMATCH)
        return original_response(self)

    LambdaAlias.update = update
    LambdaResponse.update_alias = update_alias


def publish_conditions() -> None:
    original = LambdaResponse.publish_version

    def publish_version(self: LambdaResponse) -> Any:
        function_name = unquote(self.path.split("/")[-2])
        body = json.loads(self.body or "{}")
        latest = self.backend.get_function(function_name)
        if body.get("RevisionId") not in (None, lifecycle_of(latest).revision):
            raise PreconditionFailedException(REVISION_MISMATCH)
        if body.get("CodeSha256") not in (None, latest.code_sha_256):
            raise InvalidParameterValueException(
                f"CodeSHA256 ({body['CodeSha256']}) is different from current CodeSHA256 in $LATEST "
                f"({latest.code_sha_256}). Please try again with the CodeSHA256 in $LATEST.")
        return original(self)

    LambdaResponse.publish_version = publish_version


def referenced_versions_kept() -> None:
    original = LambdaBackend.delete_function

    def delete_function(self: LambdaBackend, function_name: str, qualifier: str | None = None) -> None:
        function = self.get_function(function_name, qualifier)
        version = str(function.version)
        if VERSION_KEY.fullmatch(version):
            holders = sorted(alias.name for alias in self.list_aliases(function.function_name)
                             if alias.function_version == version or version in weights_of(alias.routing_config))
            if holders:
                raise ResourceConflictException("Unable to delete version because the following aliases reference "
                                                f"it: [{', '.join(holders)}]")
        return original(self, function_name, qualifier)

    LambdaBackend.delete_function = delete_function


def provisioned_concurrency_follows_the_alias() -> None:
    original_update = LambdaBackend.update_alias
    original_get = LambdaResponse.get_provisioned_concurrency_config

    def update_alias(self: LambdaBackend, name: str, function_name: str, function_version: str | None,
                     description: str | None, routing_config: dict | None) -> LambdaAlias:
        alias = self.get_alias(name, function_name)
        served = (alias.function_version, weights_of(alias.routing_config))
        updated = original_update(self, name, function_name, function_version, description, routing_config)
        config = _provisioned_configs(self).get((self.get_function(function_name).function_name, name))
        if config is not None and (updated.function_version, weights_of(updated.routing_config)) != served:
            config.update(status="IN_PROGRESS", lambdaopt_reallocating=True)
        return updated

    def get(self: LambdaResponse) -> Any:
        answer = original_get(self)
        for config in _provisioned_configs(self.backend).values():
            if config.pop("lambdaopt_reallocating", False):
                config["status"] = "READY"
        return answer

    LambdaBackend.update_alias = update_alias
    LambdaResponse.get_provisioned_concurrency_config = get
    LambdaResponse.list_provisioned_concurrency_configs = get


def _percentile_values(data: list) -> list[float]:
    """The values a percentile is taken over: raw values, and statistic sets that hold a single value."""
    values: list[float] = []
    for datum in data:
        if isinstance(datum, MetricDatum):
            values.append(float(datum.value))
        elif isinstance(datum, MetricAggregatedDatum) and datum.min == datum.max and \
                math.isclose(datum.sum, datum.min * datum.sample_count):
            values.extend([float(datum.min)] * int(datum.sample_count))
    return values


def nearest_rank(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def _percentile_result(backend: CloudWatchBackend, query: dict, percent: float, start: Any, end: Any,
                       scan_by: str) -> dict:
    stat = query["MetricStat"]
    metric = stat["Metric"]
    wanted = frozenset((dimension["Name"], dimension["Value"]) for dimension in metric.get("Dimensions", []))
    data = [datum for datum in metric_points(backend, metric["Namespace"], metric["MetricName"], wanted)
            if not stat.get("Unit") or datum.unit == stat["Unit"]]
    period = timedelta(seconds=int(stat["Period"]))
    timestamps, values = [], []
    period_start = start
    while period_start < end:
        period_end = period_start + period
        held = _percentile_values([datum for datum in data if period_start <= datum.timestamp < min(period_end, end)])
        if held:
            timestamps.append(period_start)
            values.append(nearest_rank(held, percent))
        period_start = period_end
    if scan_by == "TimestampDescending":
        timestamps.reverse()
        values.reverse()
    return {"id": query["Id"], "label": query.get("Label") or f"{metric['MetricName']} {stat['Stat']}",
            "values": values, "timestamps": timestamps, "status_code": "Complete"}


def percentile_statistics() -> None:
    original = CloudWatchBackend.get_metric_data

    def get_metric_data(self: CloudWatchBackend, queries: list[dict[str, Any]], start_time: Any, end_time: Any,
                        scan_by: str = "TimestampAscending") -> list[dict[str, Any]]:
        percentiles = {query["Id"]: PERCENTILE.fullmatch(query["MetricStat"]["Stat"]) for query in queries
                       if "MetricStat" in query}
        percentiles = {query_id: match for query_id, match in percentiles.items() if match}
        if not percentiles:
            return original(self, queries, start_time, end_time, scan_by)
        others = [query for query in queries if query["Id"] not in percentiles]
        answered = {result["id"]: result for result in (original(self, others, start_time, end_time, scan_by)
                                                         if others else [])}
        start, end = start_time.replace(microsecond=0), end_time.replace(microsecond=0)
        for query in queries:
            if query["Id"] in percentiles and query.get("ReturnData", True):
                answered[query["Id"]] = _percentile_result(self, query, float(percentiles[query["Id"]].group(1)),
                                                           start, end, scan_by)
        return [answered[query["Id"]] for query in queries if query["Id"] in answered]

    CloudWatchBackend.get_metric_data = get_metric_data
