"""Half-applied work, without AWS: what _lambda/api.py reports when Lambda accepted part of a change before a later
step failed, the role policies a run wrote, and the change record and run outcome built from such results."""

import json

import jsonschema
import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import roles
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import api as lambda_api
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter
from ansible_collections.tap.lambdaopt.plugins.plugin_utils import change_record, run_results
from botocore.exceptions import ClientError, WaiterError

from tests.test_setup import COLLECTION

SCHEMA = json.loads((COLLECTION / "data" / "change_record.schema.json").read_text())
NAME = "transform-dev"


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{operation} refused"}}, operation)


class FakeLambda:
    """A function of 3008 MB, 300 s and no reservation, whose update is accepted (its values then read back) and
    whose wait fails as Lambda's waiter does when the update ends Failed; each of its calls can be refused."""

    def __init__(self, refuse: dict | None = None):
        self.configuration = {"MemorySize": 3008, "Timeout": 300, "State": "Active", "LastUpdateStatus": "Successful",
                              "RevisionId": "r1"}
        self.concurrency: dict = {}
        self.refuse = refuse or {}
        self.calls: list = []

    def _call(self, operation: str) -> None:
        self.calls.append(operation)
        if operation in self.refuse and len([call for call in self.calls if call == operation]) > self.refuse[
                operation][1]:
            raise client_error(self.refuse[operation][0], operation)

    def get_function(self, FunctionName):
        self._call("GetFunction")
        return {"Configuration": dict(self.configuration), "Concurrency": dict(self.concurrency)}

    def put_function_concurrency(self, FunctionName, ReservedConcurrentExecutions):
        self._call("PutFunctionConcurrency")
        self.concurrency = {"ReservedConcurrentExecutions": ReservedConcurrentExecutions}

    def update_function_configuration(self, FunctionName, RevisionId, **changes):
        self._call("UpdateFunctionConfiguration")
        self.configuration.update(changes, LastUpdateStatus="Failed", RevisionId="r2")

    def get_waiter(self, name):
        fake = self

        class Waiter:
            def wait(self, **_):
                fake.calls.append(f"wait {name}")
                raise WaiterError(name="FunctionUpdatedV2", reason="Waiter encountered a terminal failure state",
                                  last_response={"Configuration": dict(fake.configuration)})

        return Waiter()


def apply(client: FakeLambda, changes: dict) -> None:
    planned_from = {"memory_size": 3008, "timeout": 300, "reserved_concurrency": None}
    lambda_api.apply_function(client, RateLimiter(1000), NAME, changes,
                              {field: planned_from[field] for field in changes})


def test_an_update_whose_wait_fails_is_partly_applied_and_read_back():
    client = FakeLambda()
    with pytest.raises(lambda_api.PartlyApplied) as raised:
        apply(client, {"memory_size": 1024})
    error = raised.value
    assert error.accepted == {"memory_size": 1024} and error.read_back
    assert (error.settings["memory_size"], error.settings["timeout"]) == (1024, 300)
    assert "Lambda accepted the change of memory_size" in str(error)
    assert "terminal failure state" in str(error) and "LastUpdateStatus is Failed" in str(error)
    assert client.calls[-1] == "GetFunction"  # read back after the failure


def test_a_function_that_cannot_be_read_back_is_taken_to_hold_what_lambda_accepted():
    client = FakeLambda(refuse={"GetFunction": ("ServiceException", 1)})
    with pytest.raises(lambda_api.PartlyApplied) as raised:
        apply(client, {"memory_size": 1024, "timeout": 30})
    error = raised.value
    assert not error.read_back and error.settings == {"memory_size": 1024, "timeout": 30}
    assert "could not be read back" in str(error)


def test_a_reservation_put_before_a_refused_update_is_partly_applied():
    client = FakeLambda(refuse={"UpdateFunctionConfiguration": ("InvalidParameterValueException", 0)})
    with pytest.raises(lambda_api.PartlyApplied) as raised:
        apply(client, {"reserved_concurrency": 5, "memory_size": 1024})
    error = raised.value
    assert error.accepted == {"reserved_concurrency": 5}
    assert (error.settings["reserved_concurrency"], error.settings["memory_size"]) == (5, 3008)
    assert "InvalidParameterValueException" in str(error)


def test_a_refusal_before_anything_was_accepted_is_raised_as_it_is():
    client = FakeLambda(refuse={"UpdateFunctionConfiguration": ("InvalidParameterValueException", 0)})
    with pytest.raises(ClientError):
        apply(client, {"memory_size": 1024})
    assert "GetFunction" not in client.calls[1:]


def entry(role: str = "transform-role-dev") -> dict:
    return {"function_name": NAME, "role_name": role, "status": "planned",
            "before": {"tracing_mode": "PassThrough", "role_policy": False},
            "after": {"tracing_mode": "Active", "role_policy": True}}


def test_grant_then_apply_reports_the_function_as_read_back_and_the_role_as_granted():
    pending = [entry()]
    granted = lambda_api.grant_then_apply(FakeLambda(), pending, lambda role: None,
                                          lambda entry: {"tracing_mode": "Active"}, 1000, 1)
    assert granted == {"transform-role-dev": None}
    [failed] = pending
    assert failed["status"] == "failed" and failed["accepted"] == ["tracing_mode"]
    assert failed["after"] == {"tracing_mode": "Active", "role_policy": True}


def test_a_function_whose_role_was_not_granted_is_left_as_it_was():
    def refuse_grant(role):
        raise client_error("AccessDenied", "PutRolePolicy")

    client = FakeLambda()
    pending = [entry()]
    granted = lambda_api.grant_then_apply(client, pending, refuse_grant, lambda entry: {"tracing_mode": "Active"},
                                          1000, 1)
    assert "AccessDenied" in str(granted["transform-role-dev"]) and client.calls == []
    assert pending[0]["status"] == "failed" and pending[0]["after"] == pending[0]["before"]
    assert "accepted" not in pending[0]


def test_role_policies_carry_what_the_run_did_to_each_role():
    documents = {"a-role": (None, {"Statement": []}), "b-role": (None, {"Statement": []}),
                 "c-role": (None, {"Statement": []}), "same-role": ({"Statement": []}, {"Statement": []})}
    planned = roles.policy_changes(documents, "policy")
    assert [(change["role_name"], change["status"]) for change in planned] == [
        ("a-role", "planned"), ("b-role", "planned"), ("c-role", "planned")]
    done = roles.policy_changes(documents, "policy", {"a-role": None, "b-role": client_error("AccessDenied", "Put")})
    assert [(change["role_name"], change["status"], change["after"]) for change in done] == [
        ("a-role", "changed", {"Statement": []}), ("b-role", "failed", None)]
    assert "AccessDenied" in done[1]["error"]


RIGHTSIZED = {"function_name": NAME, "status": "failed", "accepted": ["reserved_concurrency"],
              "error": "Lambda accepted the change of reserved_concurrency, then: refused",
              "before": {"memory_size": 3008, "timeout": 300, "reserved_concurrency": None},
              "after": {"memory_size": 3008, "timeout": 300, "reserved_concurrency": 5},
              "changes": [{"field": "memory_size", "before": 3008, "after": 1024, "reason": "max used x 1.3"},
                          {"field": "reserved_concurrency", "before": None, "after": 5, "reason": "peak x 1.2"}],
              "refused": []}


def build(dry_run: bool = False, **results) -> dict:
    return change_record.build(results, dry_run, "123456789012", "us-east-1")


def test_the_record_holds_what_a_failed_function_was_read_back_to_hold():
    record = build(rightsize={"functions": [RIGHTSIZED]})
    jsonschema.validate(record, SCHEMA)
    assert [(change["field"], change["before"], change["after"]) for change in record["changes"]] == [
        ("reserved_concurrency", None, 5)]
    assert [failure["function_name"] for failure in record["failed"]] == [NAME]


def test_a_failed_function_changed_by_someone_else_is_not_recorded_as_the_runs_change():
    moved = {**RIGHTSIZED, "after": {"memory_size": 2048, "timeout": 300, "reserved_concurrency": None}}
    del moved["accepted"]
    assert build(rightsize={"functions": [moved]})["changes"] == []


def test_a_dry_run_records_no_half_applied_change():
    assert build(dry_run=True, rightsize={"functions": [RIGHTSIZED]})["changes"] == []


def test_hardening_half_applied_and_the_roles_granted_are_recorded():
    traced = {**entry(), "status": "failed", "accepted": ["tracing_mode"], "error": "wait failed",
              "after": {"tracing_mode": "Active", "role_policy": True}}
    refused = {**entry("other-role"), "function_name": "other-dev", "status": "failed", "error": "refused",
               "after": {"tracing_mode": "PassThrough", "role_policy": True}}
    policies = [{"role_name": "transform-role-dev", "policy_name": "lambdaopt-xray-write", "before": None,
                 "after": {"Statement": []}, "status": "changed"},
                {"role_name": "other-role", "policy_name": "lambdaopt-xray-write", "before": None,
                 "after": {"Statement": []}, "status": "changed"},
                {"role_name": "refused-role", "policy_name": "lambdaopt-xray-write", "before": None,
                 "after": None, "status": "failed", "error": "AccessDenied"}]
    record = build(tracing={"functions": [traced, refused], "role_policies": policies})
    jsonschema.validate(record, SCHEMA)
    assert [(change["function_name"], change["after"]) for change in record["changes"]] == [(NAME, "Active")]
    assert [policy["role_name"] for policy in record["role_policies"]] == ["transform-role-dev", "other-role"]


def test_the_run_outcome_counts_the_memory_a_failed_function_holds():
    usage = [{"function_name": NAME, "configuration": {"memory_size": 3008, "tracing_mode": "PassThrough"}}]
    half = {**RIGHTSIZED, "accepted": ["memory_size"],
            "after": {"memory_size": 1024, "timeout": 300, "reserved_concurrency": None}}
    outcome = run_results.read_run(usage, {"rightsize": {"functions": [half]}}, dry_run=False).functions[NAME]
    assert outcome.memory_after == 1024
    assert [(change["setting"], change["after"]) for change in outcome.changes] == [("memory_size", 1024)]
    refused = {**RIGHTSIZED, "after": RIGHTSIZED["before"]}
    del refused["accepted"]
    outcome = run_results.read_run(usage, {"rightsize": {"functions": [refused]}}, dry_run=False).functions[NAME]
    assert outcome.memory_after == 3008 and outcome.changes == []
