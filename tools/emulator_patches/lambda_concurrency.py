"""Lambda concurrency as AWS accounts for it: GetAccountSettings with the unreserved pool, and provisioned
concurrency per alias or version, both within the account's regional quota."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from moto.awslambda import urls as lambda_urls
from moto.awslambda.exceptions import InvalidParameterValueException, LambdaClientError
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.awslambda.responses import LambdaResponse

# AWS's default regional concurrency quota, used unless the launcher is told otherwise.
DEFAULT_CONCURRENCY_QUOTA = 1000
UNRESERVED_CONCURRENCY_FLOOR = 100


def apply() -> None:
    os.environ.setdefault("MOTO_LAMBDA_CONCURRENCY_QUOTA", str(DEFAULT_CONCURRENCY_QUOTA))
    account_settings()
    provisioned_concurrency()
    reservation_covers_provisioned()


def account_settings() -> None:
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


def provisioned_concurrency() -> None:
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


def reservation_covers_provisioned() -> None:
    """AWS refuses PutFunctionConcurrency below the provisioned concurrency the function's aliases and versions
    hold together: a reservation caps every execution of the function, provisioned ones included (Lambda developer
    guide, "Configuring provisioned concurrency": provisioned concurrency cannot exceed reserved concurrency).
    moto knows no provisioned concurrency, so it accepts any reservation."""
    original = LambdaBackend.put_function_concurrency

    def put_function_concurrency(self: LambdaBackend, function_name: str, reserved_concurrency: str) -> str:
        name = self.get_function(function_name).function_name
        provisioned = sum(config["requested"] for key, config in _provisioned_configs(self).items() if key[0] == name)
        if int(reserved_concurrency) < provisioned:
            raise InvalidParameterValueException(
                f"ReservedConcurrentExecutions [{reserved_concurrency}] should not be lower than the function's "
                f"total provisioned concurrency [{provisioned}]")
        return original(self, function_name, reserved_concurrency)

    LambdaBackend.put_function_concurrency = put_function_concurrency
