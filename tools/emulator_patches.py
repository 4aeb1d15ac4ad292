"""Where moto's server differs from AWS in ways tap.lambdaopt depends on, make it behave as AWS does.

Every patch here reproduces a documented AWS behaviour and is pinned by a test in
tests/emulator/test_patches.py. None exists to make the project's code pass where AWS would fail.
Patches change moto's classes in this process, so they apply to the server the launcher starts
in-process (tools/emulator.py). `apply()` is idempotent.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from moto.awslambda import urls as lambda_urls
from moto.awslambda.exceptions import InvalidParameterValueException, LambdaClientError, ValidationException
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.awslambda.responses import LambdaResponse
from moto.cloudwatch.models import CloudWatchBackend
from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.logs.exceptions import InvalidParameterException
from moto.logs.models import LogsBackend

MEMORY_RANGE = (128, 10240)
TIMEOUT_RANGE = (1, 900)
LIST_FUNCTIONS_PAGE_LIMIT = 50
# AWS's default regional concurrency quota, used unless the launcher is told otherwise.
DEFAULT_CONCURRENCY_QUOTA = 1000
UNRESERVED_CONCURRENCY_FLOOR = 100
VALID_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)

_applied = False
# The CloudWatch patches swap a narrowed lookup in on the backend for one call, so such calls take turns.
_metrics_lookup = threading.Lock()


def apply() -> None:
    """Install every patch once."""
    global _applied
    if _applied:
        return
    os.environ.setdefault("MOTO_LAMBDA_CONCURRENCY_QUOTA", str(DEFAULT_CONCURRENCY_QUOTA))
    _patch_dead_letter_and_tracing_config()
    _patch_configuration_limits()
    _patch_retention_values()
    _patch_list_functions_paging()
    _patch_account_settings()
    _patch_metric_data_lookup()
    _patch_exact_statistics_dimensions()
    _patch_provisioned_concurrency()
    _patch_billing_mode_switches()
    _applied = True


def _patch_dead_letter_and_tracing_config() -> None:
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


def _patch_configuration_limits() -> None:
    """AWS rejects memory outside 128-10,240 MB and timeouts outside 1-900 s; moto accepts any value."""
    original_create = LambdaBackend.create_function
    original_update = LambdaBackend.update_function_configuration

    def create_function(self: LambdaBackend, spec: dict[str, Any]) -> LambdaFunction:
        _check_limits(spec)
        return original_create(self, spec)

    def update_function_configuration(
        self: LambdaBackend, function_name: str, qualifier: str, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        _check_limits(body)
        return original_update(self, function_name, qualifier, body)

    LambdaBackend.create_function = create_function
    LambdaBackend.update_function_configuration = update_function_configuration


def _patch_retention_values() -> None:
    """AWS accepts only its fixed list of retention periods; moto accepts any number."""
    original = LogsBackend.put_retention_policy

    def put_retention_policy(self: LogsBackend, log_group_name: str, retention_in_days: Any) -> None:
        if int(retention_in_days) not in VALID_RETENTION_DAYS:
            raise InvalidParameterException(
                constraint=f"Member must satisfy enum value set: [{', '.join(map(str, VALID_RETENTION_DAYS))}]",
                parameter="retentionInDays",
                value=retention_in_days,
            )
        original(self, log_group_name, retention_in_days)

    LogsBackend.put_retention_policy = put_retention_policy


def _patch_list_functions_paging() -> None:
    """AWS returns at most 50 functions a page with a NextMarker; moto returns everything at once."""

    def list_functions(self: LambdaResponse) -> str:
        version = self.querystring.get("FunctionVersion", [None])[0]
        start = int(self.querystring.get("Marker", ["0"])[0] or 0)
        requested = int(self.querystring.get("MaxItems", [LIST_FUNCTIONS_PAGE_LIMIT])[0])
        page_size = min(requested, LIST_FUNCTIONS_PAGE_LIMIT)
        functions = list(self.backend.list_functions(version))
        page = functions[start:start + page_size]
        result: dict[str, Any] = {"Functions": [function.get_configuration() for function in page]}
        if start + page_size < len(functions):
            result["NextMarker"] = str(start + page_size)
        return json.dumps(result)

    LambdaResponse.list_functions = list_functions


def _patch_account_settings() -> None:
    """AWS answers GetAccountSettings with the regional concurrency limit and the unreserved pool;
    moto has no route for it. The floor of 100 unreserved is enforced by moto itself once
    MOTO_LAMBDA_CONCURRENCY_QUOTA is set, which apply() does."""
    lambda_urls.url_paths[r"{0}/(?P<api_version>[^/]+)/account-settings/?$"] = LambdaResponse.dispatch

    def get_account_settings(self: LambdaResponse) -> str:
        quota = int(os.environ["MOTO_LAMBDA_CONCURRENCY_QUOTA"])
        functions = list(self.backend.list_functions())
        reserved = _claimed_concurrency(self.backend)
        code_size = sum(int(getattr(function, "code_size", 0) or 0) for function in functions)
        return json.dumps(
            {
                "AccountLimit": {
                    "TotalCodeSize": 80530636800,
                    "CodeSizeUnzipped": 262144000,
                    "CodeSizeZipped": 52428800,
                    "ConcurrentExecutions": quota,
                    "UnreservedConcurrentExecutions": quota - reserved,
                },
                "AccountUsage": {"TotalCodeSize": code_size, "FunctionCount": len(functions)},
            }
        )

    LambdaResponse.get_account_settings = get_account_settings



def _patch_metric_data_lookup() -> None:
    """Speed only, no behaviour: moto answers each GetMetricData query by scanning every stored data
    point once per period, which makes a fleet-sized call (thousands of queries over hundreds of
    thousands of points) take hours. Each plain query is answered by moto itself, over only the
    points of its own metric and dimensions, so the answers are moto's own."""
    original = CloudWatchBackend.get_metric_data

    def get_metric_data(self: CloudWatchBackend, queries: list[dict[str, Any]], start_time: Any, end_time: Any,
                        scan_by: str = "TimestampAscending") -> list[dict[str, Any]]:
        if len(queries) < 2 or any("MetricStat" not in query for query in queries):
            return original(self, queries, start_time, end_time, scan_by)
        by_metric: dict[tuple, list] = {}
        for datum in self.get_all_metrics():
            key = (datum.namespace, datum.name, frozenset((d.name, d.value) for d in datum.dimensions))
            by_metric.setdefault(key, []).append(datum)
        results = []
        unpatched = self.get_all_metrics
        with _metrics_lookup:
            try:
                for query in queries:
                    metric = query["MetricStat"]["Metric"]
                    key = (metric["Namespace"], metric["MetricName"],
                           frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])))
                    self.get_all_metrics = lambda key=key: by_metric.get(key, [])
                    results.extend(original(self, [query], start_time, end_time, scan_by))
            finally:
                self.get_all_metrics = unpatched
        return results

    CloudWatchBackend.get_metric_data = get_metric_data


def _dimension_set(datum: Any) -> frozenset:
    return frozenset((dimension.name, dimension.value) for dimension in datum.dimensions)


def _patch_exact_statistics_dimensions() -> None:
    """AWS answers GetMetricStatistics from the data points published with exactly the dimensions asked for (a
    metric is its namespace, name and whole dimension set); moto also counts points that carry more dimensions,
    so a function's Invocations would include those Lambda publishes per alias as well."""
    original = CloudWatchBackend.get_metric_statistics

    def get_metric_statistics(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Any:
        dimensions = kwargs["dimensions"] if "dimensions" in kwargs else args[6]
        wanted = frozenset((dimension["Name"], dimension["Value"]) for dimension in dimensions or [])
        unpatched = self.get_all_metrics
        with _metrics_lookup:
            try:
                self.get_all_metrics = lambda: [datum for datum in unpatched() if _dimension_set(datum) == wanted]
                return original(self, *args, **kwargs)
            finally:
                self.get_all_metrics = unpatched

    CloudWatchBackend.get_metric_statistics = get_metric_statistics


class ProvisionedConcurrencyConfigNotFoundException(LambdaClientError):
    code = 404

    def __init__(self, message: str) -> None:
        super().__init__("ProvisionedConcurrencyConfigNotFoundException", message)


def _provisioned_configs(backend: LambdaBackend) -> dict[tuple[str, str], dict[str, Any]]:
    """{(function name, qualifier): config}, kept on the backend so that a reset forgets them."""
    if not hasattr(backend, "lambdaopt_provisioned"):
        backend.lambdaopt_provisioned = {}
    return backend.lambdaopt_provisioned


def _claimed_concurrency(backend: LambdaBackend, leave_out: tuple[str, str] | None = None) -> int:
    """What functions take out of the account's unreserved pool: their reserved concurrency, or for a function
    without a reservation, the provisioned concurrency of its aliases and versions."""
    claimed = 0
    configs = _provisioned_configs(backend)
    for function in backend.list_functions():
        if function.reserved_concurrency:
            claimed += int(function.reserved_concurrency)
            continue
        claimed += sum(config["requested"] for key, config in configs.items()
                       if key[0] == function.function_name and key != leave_out)
    return claimed


def _patch_provisioned_concurrency() -> None:
    """AWS keeps provisioned concurrency per alias or version (Put/Get/Delete/ListProvisionedConcurrencyConfigs):
    IN_PROGRESS until the environments are allocated, then READY; refused on $LATEST, above the function's
    reserved concurrency, or when it would leave the account less than 100 unreserved. moto has no such API.
    Here allocation completes by the next read, so callers see IN_PROGRESS once, as AWS answers a Put."""
    lambda_urls.url_paths[
        r"{0}/(?P<api_version>[^/]+)/functions/(?P<function_name>[\w_:%-]+)/provisioned-concurrency/?$"
    ] = LambdaResponse.dispatch

    def target(response: LambdaResponse) -> tuple[LambdaFunction, str, str]:
        name = unquote(response.path.rstrip("/").split("/")[-2]).split(":")[-1]
        function = response.backend.get_function(name)
        qualifier = response.querystring.get("Qualifier", [""])[0]
        return function, name, qualifier

    def view(function: LambdaFunction, qualifier: str, config: dict[str, Any],
             with_arn: bool = False) -> dict[str, Any]:
        allocated = config["requested"] if config["status"] == "READY" else 0
        answer = {
            "RequestedProvisionedConcurrentExecutions": config["requested"],
            "AvailableProvisionedConcurrentExecutions": allocated,
            "AllocatedProvisionedConcurrentExecutions": allocated,
            "Status": config["status"],
            "LastModified": config["last_modified"],
        }
        if with_arn:
            answer["FunctionArn"] = f"{function.function_arn}:{qualifier}"
        return answer

    def put(self: LambdaResponse) -> tuple[int, dict, str]:
        function, name, qualifier = target(self)
        if not qualifier or qualifier == "$LATEST":
            raise InvalidParameterValueException("Provisioned Concurrency Configs cannot be applied to unpublished "
                                                 "function versions.")
        if not qualifier.isdigit():
            self.backend.get_alias(qualifier, name)  # ResourceNotFoundException when there is no such alias
        requested = int(json.loads(self.body)["ProvisionedConcurrentExecutions"])
        configs = _provisioned_configs(self.backend)
        if function.reserved_concurrency:
            others = sum(config["requested"] for key, config in configs.items()
                         if key[0] == name and key[1] != qualifier)
            if others + requested > int(function.reserved_concurrency):
                raise InvalidParameterValueException(
                    "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution "
                    "for function")
        else:
            quota = int(os.environ["MOTO_LAMBDA_CONCURRENCY_QUOTA"])
            if quota - _claimed_concurrency(self.backend, leave_out=(name, qualifier)) - requested < \
                    UNRESERVED_CONCURRENCY_FLOOR:
                raise InvalidParameterValueException(
                    "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
                    f"below its minimum value of [{UNRESERVED_CONCURRENCY_FLOOR}].")
        config = {"requested": requested, "status": "IN_PROGRESS",
                  "last_modified": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")}
        configs[(name, qualifier)] = config
        answer = view(function, qualifier, config)
        config["status"] = "READY"
        return 202, {}, json.dumps(answer)

    def get(self: LambdaResponse) -> tuple[int, dict, str]:
        function, name, qualifier = target(self)
        configs = _provisioned_configs(self.backend)
        if self.querystring.get("List"):
            found = [view(function, key[1], config, with_arn=True)
                     for key, config in sorted(configs.items()) if key[0] == name]
            return 200, {}, json.dumps({"ProvisionedConcurrencyConfigs": found})
        if (name, qualifier) not in configs:
            raise ProvisionedConcurrencyConfigNotFoundException(
                "No Provisioned Concurrency Config found for this function")
        return 200, {}, json.dumps(view(function, qualifier, configs[(name, qualifier)]))

    def delete(self: LambdaResponse) -> tuple[int, dict, str]:
        _, name, qualifier = target(self)
        _provisioned_configs(self.backend).pop((name, qualifier), None)
        return 204, {}, ""

    LambdaResponse.put_provisioned_concurrency_config = put
    LambdaResponse.get_provisioned_concurrency_config = get
    LambdaResponse.list_provisioned_concurrency_configs = get
    LambdaResponse.delete_provisioned_concurrency_config = delete


class LimitExceededException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("LimitExceededException", message)


# AWS allows this many switches of a table to on-demand in any 24 hours; switching to provisioned is not limited.
SWITCHES_TO_ON_DEMAND_PER_DAY = 4


def _patch_billing_mode_switches() -> None:
    """AWS records when a table last switched to on-demand (BillingModeSummary.LastUpdateToPayPerRequestDateTime),
    refuses a fifth switch to on-demand within 24 hours, and shows an on-demand table's provisioned throughput
    as 0 read and 0 write units; moto does none of these."""
    original_update = DynamoDBBackend.update_table
    original_describe = Table.describe

    def update_table(self: DynamoDBBackend, name: str, **changes: Any) -> Table:
        table = self.get_table(name)
        now = datetime.now(UTC)
        if changes.get("billing_mode") == "PAY_PER_REQUEST" and table.billing_mode != "PAY_PER_REQUEST":
            recent = [moment for moment in getattr(table, "lambdaopt_switches_to_on_demand", [])
                      if now - moment < timedelta(hours=24)]
            if len(recent) >= SWITCHES_TO_ON_DEMAND_PER_DAY:
                raise LimitExceededException(
                    f"Subscriber limit exceeded: Update to PayPerRequest mode are limited to "
                    f"{SWITCHES_TO_ON_DEMAND_PER_DAY} times in 24 hours for table {name}")
            table.lambdaopt_switches_to_on_demand = [*recent, now]
        previous = dict(table.throughput)
        updated = original_update(self, name, **changes)
        if updated.billing_mode == "PAY_PER_REQUEST":
            updated.throughput = {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0, "NumberOfDecreasesToday": 0}
        elif changes.get("throughput"):
            decreased = any(int(updated.throughput.get(key, 0)) < int(previous.get(key, 0))
                            for key in ("ReadCapacityUnits", "WriteCapacityUnits"))
            updated.throughput = {**updated.throughput,
                                  "NumberOfDecreasesToday": previous.get("NumberOfDecreasesToday", 0) + decreased}
        return updated

    def describe(self: Table, base_key: str = "TableDescription") -> dict[str, Any]:
        described = original_describe(self, base_key)
        switches = getattr(self, "lambdaopt_switches_to_on_demand", [])
        if switches:
            described[base_key]["BillingModeSummary"]["LastUpdateToPayPerRequestDateTime"] = switches[-1].timestamp()
        return described

    DynamoDBBackend.update_table = update_table
    Table.describe = describe
