"""lambda_tracing against the emulator: the 4-step matrix, the role's trace-write policy, and back."""

import pytest

from tests.collection.conftest import mutating
from tools import baseline, fleet_view


@pytest.fixture
def fleet(aws):
    baseline.provision(aws, "dev")


def modes(aws):
    return {state.name: state.tracing for state in fleet_view.describe(aws, "dev")}


def role_policies(aws):
    iam = aws.client("iam")
    return {role["RoleName"]: {name: iam.get_role_policy(RoleName=role["RoleName"], PolicyName=name)["PolicyDocument"]
                               for name in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]}
            for role in iam.list_roles()["Roles"]}


def test_four_step_matrix(aws, fleet, run_module, api_calls):
    checked = run_module("lambda_tracing", {"suffix": "dev"}, check=True, diff=True)
    assert checked["changed"] and mutating(api_calls) == []
    assert set(modes(aws).values()) == {"PassThrough"}
    assert all(after == {"tracing_mode": "Active", "role_policy": True} for after in checked["diff"]["after"].values())

    applied = run_module("lambda_tracing", {"suffix": "dev"})
    assert applied["changed"] and {entry["status"] for entry in applied["functions"]} == {"changed"}
    assert set(modes(aws).values()) == {"Active"}

    del api_calls[:]
    assert not run_module("lambda_tracing", {"suffix": "dev"}, check=True)["changed"]
    assert not run_module("lambda_tracing", {"suffix": "dev"})["changed"]
    assert mutating(api_calls) == []


def test_roles_get_exactly_the_trace_write_permissions_and_nothing_else(aws, fleet, run_module):
    before = role_policies(aws)
    run_module("lambda_tracing", {"suffix": "dev"})
    after = role_policies(aws)
    for role, policies in after.items():
        added = {name: document for name, document in policies.items() if name not in before[role]}
        assert list(added) == ["lambdaopt-xray-write"]
        (statement,) = added["lambdaopt-xray-write"]["Statement"]
        assert sorted(statement["Action"]) == ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
        # The only unscoped resource: X-Ray allows no scoping for trace writes.
        assert statement["Resource"] == "*" and statement["Effect"] == "Allow"
        assert {name: policies[name] for name in before[role]} == before[role]  # others untouched


def test_pass_through_removes_only_the_policy_this_module_added(aws, fleet, run_module):
    run_module("lambda_tracing", {"suffix": "dev"})
    result = run_module("lambda_tracing", {"functions": ["transform-dev"], "mode": "PassThrough"}, diff=True)
    assert result["diff"]["after"] == {"transform-dev": {"tracing_mode": "PassThrough", "role_policy": False}}
    assert modes(aws)["transform-dev"] == "PassThrough" and modes(aws)["api-handler-dev"] == "Active"
    policies = role_policies(aws)["transform-role-dev"]
    assert list(policies) == ["write-own-log-group"]


def test_a_missing_policy_is_restored_even_when_tracing_is_already_on(aws, fleet, run_module):
    run_module("lambda_tracing", {"suffix": "dev"})
    aws.client("iam").delete_role_policy(RoleName="api-handler-role-dev", PolicyName="lambdaopt-xray-write")
    result = run_module("lambda_tracing", {"suffix": "dev"})
    changed = [entry["function_name"] for entry in result["functions"] if entry["status"] == "changed"]
    assert changed == ["api-handler-dev"]
    assert "lambdaopt-xray-write" in role_policies(aws)["api-handler-role-dev"]


def test_unknown_function_entries_fail_after_the_others(aws, fleet, run_module):
    result = run_module("lambda_tracing", {"functions": ["transform-dev", "ghost-dev"]})
    assert result.failed and result["failed_functions"] == ["ghost-dev"]
    assert modes(aws)["transform-dev"] == "Active"


@pytest.mark.parametrize("args, message", [
    ({"suffix": "dev", "mode": "On"}, "value of mode must be one of: Active, PassThrough"),
    ({"suffix": "dev", "requests_per_second": 0}, "requests_per_second must be above 0"),
    ({"functions": [42]}, "neither a function name"),
])
def test_bad_input_fails_before_any_api_call(aws, run_module, api_calls, args, message):
    result = run_module("lambda_tracing", args)
    assert result.failed and message in result["msg"]
    assert api_calls == []
