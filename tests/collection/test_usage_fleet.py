"""lambda_usage_info's `fleet`: its functions with only what the steps that size nothing plan from, so that a playbook
hands those steps a fraction of the data; and lambda_rightsize and lambda_canary given usage's entries once, as
`usage` alone."""

from collections import Counter

import pytest

from tests.collection.conftest import mutating
from tools import baseline
from tools.emulator_patches import lambda_states

SECRETS = [{"env": "DATABASE_URL", "value": "postgres://app:pw@db.internal:5432/app"}]
SIZING = {"memory_size": "auto", "timeout": "auto", "reserved_concurrency": "auto"}


@pytest.fixture
def prompt_lambda():
    """Lambda's transitions end at the next read: these tests are about what is planned, not about waiting."""
    lambda_states.configure(update_reads=0, pending_reads=0)
    yield
    lambda_states.configure()


def operations(calls: list) -> Counter:
    return Counter(operation for _service, operation in calls)


def plan_of(result: dict) -> dict:
    """A module's result but for `invocation`, which echoes the arguments it was given."""
    return {key: value for key, value in result.items() if key != "invocation"}


def run_both(run_module, api_calls, module: str, args: dict, functions: list, fleet: list):
    """The module in check mode given usage_info's `functions`, then given its `fleet`: ((result, calls), ...)."""
    runs = []
    for entries in (functions, fleet):
        del api_calls[:]
        result = run_module(module, {**args, "functions": entries}, check=True)
        runs.append((result, operations(api_calls)))
        assert not result.failed, (module, result.get("msg"))
        assert mutating(api_calls) == [], module
    return runs


def test_hardening_modules_plan_from_the_fleet_as_from_the_functions(prompt_lambda, aws, run_module, api_calls):
    baseline.provision(aws, "dev")
    # One function tagged apart, so that a tag filter tells whether the fleet's entries carry the tags.
    lambda_ = aws.client("lambda")
    arn = lambda_.get_function(FunctionName="transform-dev")["Configuration"]["FunctionArn"]
    lambda_.tag_resource(Resource=arn, Tags={"Team": "data"})
    usage = run_module("lambda_usage_info", {"suffix": "dev", "read_roles": True})
    assert not usage.failed, usage.get("msg")
    functions, fleet, known_roles = usage["functions"], usage["fleet"], usage["roles"]
    assert [entry["function_name"] for entry in fleet] == [entry["function_name"] for entry in functions]
    for slim, full in zip(fleet, functions, strict=True):
        assert set(slim) == {"function_name", "function_arn", "configuration", "tags"}
        assert slim == {key: full[key] for key in slim}
        assert len(repr(slim)) * 2 < len(repr(full))  # the usage figures stay behind
    cases = [
        # (module, its arguments but `functions`, whether the baseline fleet has anything to change)
        ("log_retention", {"retention_days": 7, "allow_data_loss": True}, True),
        ("lambda_tracing", {"suffix": "dev", "roles": known_roles}, True),
        ("lambda_tracing", {"suffix": "dev", "roles": known_roles, "tags": {"Team": "data"}}, True),
        # Turning tracing off also lists the account's functions, to learn who else on each role still traces.
        ("lambda_tracing", {"suffix": "dev", "roles": known_roles, "mode": "PassThrough"}, False),
        ("lambda_dlq", {"suffix": "dev", "roles": known_roles}, True),
        ("lambda_alarms", {"suffix": "dev", "prune": True}, True),
        ("lambda_secrets", {"suffix": "dev", "roles": known_roles, "secrets": SECRETS}, True),
    ]
    for module, args, changes in cases:
        (from_functions, functions_calls), (from_fleet, fleet_calls) = run_both(
            run_module, api_calls, module, args, functions, fleet)
        assert plan_of(from_fleet) == plan_of(from_functions), module
        assert fleet_calls == functions_calls, module
        assert from_fleet["changed"] == changes, module
    # The tag filter narrowed both to the one function tagged apart.
    tagged = run_module("lambda_tracing", {"suffix": "dev", "functions": fleet, "tags": {"Team": "data"}}, check=True)
    assert [entry["function_name"] for entry in tagged["functions"]] == ["transform-dev"]


def test_rightsize_and_canary_given_usage_alone_plan_its_functions_as_given_them_twice(
        prompt_lambda, aws, fleet, run_module, api_calls):
    usage = run_module("lambda_usage_info", {"suffix": "dev"})
    assert not usage.failed, usage.get("msg")
    carried = usage["functions"]
    for module, args in [("lambda_rightsize", SIZING), ("lambda_canary", {})]:
        runs = []
        for given in ({"functions": carried, "usage": carried}, {"usage": carried}):
            del api_calls[:]
            result = run_module(module, {**given, **args}, check=True)
            assert not result.failed, (module, result.get("msg"))
            assert mutating(api_calls) == [], module
            runs.append((plan_of(result), operations(api_calls)))
        (twice, twice_calls), (once, once_calls) = runs
        assert once == twice, module
        assert once_calls == twice_calls, module
        assert once_calls["ListFunctions"] == once_calls["GetFunction"] == 0, module  # planned from usage's reading
        if module == "lambda_canary":
            assert once["aliases"], "the baseline's aliased function has a canary planned"
    rightsized = run_module("lambda_rightsize", {"usage": carried, **SIZING}, check=True)
    assert rightsized["changed"] and len(rightsized["functions"]) == len(carried)
    assert "usage" in rightsized["invocation"]["module_args"]
    assert rightsized["invocation"]["module_args"]["functions"] is None  # the list is echoed once

    # With a suffix, usage stays the evidence only: the suffix's functions are read afresh, as before.
    del api_calls[:]
    with_suffix = run_module("lambda_rightsize", {"suffix": "dev", "usage": carried, **SIZING}, check=True)
    assert not with_suffix.failed, with_suffix.get("msg")
    assert operations(api_calls)["ListFunctions"] == 1


@pytest.mark.parametrize("module", ["lambda_rightsize", "lambda_canary"])
def test_usage_alone_is_checked_as_functions_are(emulator, run_module, api_calls, module):
    result = run_module(module, {"usage": [{"configuration": {"memory_size": 128}}]}, check=True)
    assert result.failed and "is neither a function name nor a result with function_name" in result["msg"]
    assert api_calls == []
    result = run_module(module, {"memory_size": "auto"} if module == "lambda_rightsize" else {}, check=True)
    assert result.failed and "one of the following is required: suffix, functions, usage" in result["msg"]
