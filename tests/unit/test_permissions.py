"""The shipped IAM policies as documents, and the permission check's pure parts: which statements a run's steps need,
which principal IAM simulates for a caller, and the resource patterns filled in for the caller's account-region."""

import json
import re

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import permissions

from tests.test_setup import COLLECTION

POLICIES = COLLECTION / "policies"
# A read-only action's name says it reads (List, Get, Describe), with these exceptions, each of which changes
# nothing in the account:
# - logs:StartQuery runs a Logs Insights query over events already stored; the query itself is no resource and
#   expires on its own (CloudWatch Logs API reference, StartQuery).
# - logs:StopQuery ends such a query early; it changes no log data or configuration.
# - logs:FilterLogEvents reads events of a log group (the API reference: "Lists log events from the specified log
#   group").
# - iam:SimulatePrincipalPolicy evaluates policies: "The simulation does not perform the API operations" (IAM API
#   reference).
# - apigateway:GET is API Gateway's IAM action for every HTTP GET of its management API, reads only.
READ_ONLY_EXCEPTIONS = {"logs:StartQuery", "logs:StopQuery", "logs:FilterLogEvents", "iam:SimulatePrincipalPolicy",
                        "apigateway:GET"}
READING = re.compile(r"[a-z0-9-]+:(List|Get|Describe)[A-Za-z]*")
# IAM's quota for a managed policy: 6,144 characters, whitespace not counted (IAM User Guide, "IAM and AWS STS
# quotas"); an inline role policy may hold 10,240.
MANAGED_POLICY_CHARACTERS = 6144


def load(name):
    return json.loads((POLICIES / name).read_text())


def actions(document):
    return {action for statement in document["Statement"] for action in permissions._listed(statement["Action"])}


@pytest.mark.parametrize("name", [permissions.RUN_POLICY, permissions.READ_ONLY_POLICY])
def test_each_policy_fits_a_managed_policy_and_every_statement_serves_a_step(name):
    text = (POLICIES / name).read_text()
    document = json.loads(text)
    assert len("".join(text.split())) <= MANAGED_POLICY_CHARACTERS
    assert document["Version"] == "2012-10-17"
    sids = [statement["Sid"] for statement in document["Statement"]]
    assert len(sids) == len(set(sids)) and all(re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids)
    assert [sid for sid in sids if permissions.step_of(sid) is None] == []
    assert {statement["Effect"] for statement in document["Statement"]} == {"Allow"}


def test_the_read_only_policy_holds_no_mutating_action():
    read_only = actions(load(permissions.READ_ONLY_POLICY))
    assert [action for action in sorted(read_only)
            if not READING.fullmatch(action) and action not in READ_ONLY_EXCEPTIONS] == []
    assert not any("*" in action for action in read_only)  # a wildcard could grant a write added later


def test_the_run_policy_holds_every_read_only_statement_as_it_is():
    run = {statement["Sid"]: statement for statement in load(permissions.RUN_POLICY)["Statement"]}
    for statement in load(permissions.READ_ONLY_POLICY)["Statement"]:
        assert run[statement["Sid"]] == statement
    assert "*" not in "".join(actions(load(permissions.RUN_POLICY)))


def test_every_step_has_a_statement_of_its_own():
    served = {permissions.step_of(statement["Sid"]) for statement in load(permissions.RUN_POLICY)["Statement"]}
    assert served == set(permissions.STEPS)


def test_statements_are_picked_by_step_and_rendered_for_the_suffix():
    document = permissions.render(load(permissions.RUN_POLICY), "dev")
    picked = {statement["Sid"] for statement in permissions.statements_for(document, ["tables"])}
    assert {"ReadFunctions", "TablesRead", "TablesWrite"} <= picked
    assert not picked & {"AlarmsWrite", "SecretsWrite", "RunLockTake"}
    assert "{{" not in json.dumps(document) and "function:*-dev" in json.dumps(document)
    assert permissions.step_of("RunLockTake") == "run_lock" and permissions.step_of("ReadRunLock") == "read"
    assert permissions.step_of("Unnamed") is None


def test_resource_patterns_are_filled_in_for_the_callers_account_region():
    fill = {"partition": "aws", "region": "eu-west-1", "account": "111122223333"}
    assert permissions.concrete("arn:aws:lambda:*:*:function:*-dev", **fill) == (
        "arn:aws:lambda:eu-west-1:111122223333:function:*-dev")
    assert permissions.concrete("arn:aws:iam::*:role/*", **fill) == "arn:aws:iam::111122223333:role/*"
    assert permissions.concrete("arn:aws:apigateway:*::/restapis/*", **fill) == (
        "arn:aws:apigateway:eu-west-1::/restapis/*")
    assert permissions.concrete("*", **fill) == "*"
    assert permissions.concrete("arn:aws:sqs:*:*:q", "aws-cn", "cn-north-1", "111122223333") == (
        "arn:aws-cn:sqs:cn-north-1:111122223333:q")


@pytest.mark.parametrize("caller, principal", [
    ("arn:aws:sts::111122223333:assumed-role/lambdaopt-dev/lambdaopt-dev",
     "arn:aws:iam::111122223333:role/lambdaopt-dev"),
    ("arn:aws-us-gov:sts::111122223333:assumed-role/ops/awx-42", "arn:aws-us-gov:iam::111122223333:role/ops"),
    ("arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:user/alice"),
    ("arn:aws:iam::111122223333:root", None),
    ("arn:aws:sts::111122223333:federated-user/bob", None),
])
def test_the_principal_simulated_for_a_caller(caller, principal):
    assert permissions.principal_to_simulate(caller) == principal


def test_denied_lists_each_action_and_resource_once():
    results = [{"EvalActionName": "lambda:UpdateFunctionConfiguration", "EvalResourceName": "f", "EvalDecision": d}
               for d in ("implicitDeny", "implicitDeny")]
    results.append({"EvalActionName": "lambda:GetFunction", "EvalResourceName": "f", "EvalDecision": "allowed"})
    assert permissions.denied(results) == [
        {"action": "lambda:UpdateFunctionConfiguration", "resource": "f", "decision": "implicitDeny"}]
