"""lambda_usage_info reads at once what draws on different quotas: the functions' own resource policies
(GetPolicy's quota), from the listing on, while the functions are read (GetFunction's), their aliases and provisioned
concurrency listed (the control plane's) and their usage measured (CloudWatch's and Logs'), with the same calls,
the same result, and a failure raised as when the reads ran one after the other.

The clients are boto3's, answering from the handlers below instead of an endpoint; threading.Event, not time, says
what ran while what."""

import json
import threading
from collections import Counter

import boto3
import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import pacing
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import triggers
from ansible_collections.tap.lambdaopt.plugins.modules.lambda_usage_info import UsageReader
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
REGION = "us-east-1"
# How long a handler waits for what should happen meanwhile before it gives up: a bound that only a failing run
# reaches, never a measure of time.
GUARD_SECONDS = 10
INTEGRATION_URI = (f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
                   f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:api-dev:live/invocations")


def function_arn(name: str, qualifier: str | None = None) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}" + (f":{qualifier}" if qualifier else "")


def configuration(name: str, version: str = "$LATEST") -> dict:
    return {"FunctionName": name, "FunctionArn": function_arn(name, version), "Version": version,
            "MemorySize": 1024, "Timeout": 30, "Runtime": "python3.12", "Architectures": ["x86_64"],
            "Role": f"arn:aws:iam::{ACCOUNT}:role/{name}-role", "RevisionId": f"{name}-revision",
            "TracingConfig": {"Mode": "PassThrough"}}


def api_policy(name: str, qualifier: str | None) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "lambda:InvokeFunction",
        "Resource": function_arn(name, qualifier),
        "Condition": {"ArnLike": {"AWS:SourceArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:a1b2c3d4e5/*/*/*"}}}]})


def refused(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, operation)


class Account:
    """Two functions: api-dev, with a published version and the alias `live` whose policy lets API Gateway invoke
    it, and worker-dev, with no version and a policy the caller may not read. Each call is recorded; `refuse`
    names the operations to answer AccessDenied."""

    def __init__(self, refuse: tuple = (), wait_in: tuple = ("ListAliases",)):
        self.calls: list = []
        self.refuse = refuse
        self.lock = threading.Lock()
        self.own_policy_read = threading.Event()
        # The operations that wait until a function's own policy is read (only a read made meanwhile ends the
        # wait), and whether it was.
        self.wait_in = wait_in
        self.own_policy_read_during: dict = {}

    def answer(self, operation: str, parameters: dict) -> dict:
        with self.lock:
            self.calls.append((operation, parameters.get("FunctionName"), parameters.get("Qualifier")))
        if operation in self.refuse:
            raise refused(operation)
        if operation in self.wait_in:
            self.own_policy_read_during[operation] = self.own_policy_read.wait(GUARD_SECONDS)
        if operation == "ListAliases":
            return {"Aliases": [{"AliasArn": function_arn("api-dev", "live"), "Name": "live", "FunctionVersion": "1"}]}
        if operation == "GetPolicy":
            if parameters.get("Qualifier") is None:
                self.own_policy_read.set()
            if parameters["FunctionName"] == "worker-dev":
                raise refused(operation)
            if parameters.get("Qualifier") is None:
                raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no policy"}}, operation)
            return {"Policy": api_policy(parameters["FunctionName"], parameters["Qualifier"])}
        return {
            "ListFunctions": {"Functions": [configuration("api-dev"), configuration("api-dev", "1"),
                                            configuration("worker-dev")]},
            "GetFunction": {"Configuration": configuration(parameters.get("FunctionName", "")),
                            "Tags": {"Team": "api"} if parameters.get("FunctionName") == "api-dev" else {}},
            "ListProvisionedConcurrencyConfigs": {"ProvisionedConcurrencyConfigs": []},
            "ListEventSourceMappings": {"EventSourceMappings": []},
            "GetRestApi": {"id": "a1b2c3d4e5", "name": "records-api-dev"},
            "GetResources": {"items": [{"id": "proxy1", "path": "/{proxy+}", "resourceMethods": {"ANY": {
                "methodIntegration": {"type": "AWS_PROXY", "uri": INTEGRATION_URI}}}}]},
            "GetMetricData": {"MetricDataResults": []},
            "DescribeLogGroups": {"logGroups": []},
            "FilterLogEvents": {"events": []},
        }.get(operation, {})


class Module:
    """What UsageReader asks of AnsibleAWSModule: its parameters, and clients (here answering from `account`)."""

    _diff = False

    def __init__(self, account: Account):
        self.account = account
        self.params = {"suffix": "dev", "functions": None, "name_pattern": None, "tags": None, "lookback_days": 14,
                       "logs_insights": "never", "logs_requests_per_second": 1000, "max_report_events": 100,
                       "triggers": True, "read_roles": False, "requests_per_second": 1000}

    def client(self, service: str, **_options):
        client = boto3.client(service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
        client._make_api_call = self.account.answer
        return client


@pytest.fixture(autouse=True)
def unpaced(monkeypatch):
    monkeypatch.setenv(pacing.SWITCH, "off")


def test_the_functions_own_policies_are_read_while_the_aliases_are_listed():
    account = Account()
    result = UsageReader(Module(account)).run()
    assert account.own_policy_read_during == {"ListAliases": True}
    api, worker = result["functions"]
    assert api["aliases"] == [{"name": "live", "function_version": "1", "additional_weights": {}}]
    assert api["triggers"] == {"event_sources": [], "invokers": ["apigateway.amazonaws.com"], "unknown": {},
                               "apis": [{"id": "a1b2c3d4e5", "name": "records-api-dev", "type": "rest",
                                         "integration_timeout_ms": 29000}]}
    assert worker["triggers"] == {"event_sources": [], "invokers": None,
                                  "unknown": {"invokers": "GetPolicy failed: AccessDeniedException"}}
    # The same calls as when the reads ran one after the other: the alias's policy once its alias is known.
    policies = [(name, qualifier) for operation, name, qualifier in account.calls if operation == "GetPolicy"]
    assert Counter(policies) == Counter([("api-dev", None), ("worker-dev", None), ("api-dev", "live")])
    assert policies[-1] == ("api-dev", "live")
    lambda_calls = Counter(operation for operation, _name, _qualifier in account.calls
                           if operation in ("ListFunctions", "GetFunction", "ListAliases",
                                            "ListProvisionedConcurrencyConfigs", "ListEventSourceMappings"))
    assert lambda_calls == {"ListFunctions": 1, "GetFunction": 2, "ListAliases": 1,
                            "ListProvisionedConcurrencyConfigs": 1, "ListEventSourceMappings": 1}
    # Each entry keeps its keys in the order they had when the reads ran one after the other.
    keys = list(api)
    assert keys.index("provisioned_concurrency") < keys.index("window") < keys.index("triggers")


def test_the_functions_own_policies_are_read_from_the_listing_on_while_the_functions_are_read():
    account = Account(wait_in=("GetFunction",))
    result = UsageReader(Module(account)).run()
    assert account.own_policy_read_during == {"GetFunction": True}
    assert [entry["function_name"] for entry in result["functions"]] == ["api-dev", "worker-dev"]
    assert result["functions"][0]["triggers"]["invokers"] == ["apigateway.amazonaws.com"]


def test_with_a_tag_filter_only_the_functions_it_selects_have_their_policies_read():
    account = Account(wait_in=())
    module = Module(account)
    module.params["tags"] = {"Team": "api"}
    result = UsageReader(module).run()
    assert [entry["function_name"] for entry in result["functions"]] == ["api-dev"]
    policies = [(name, qualifier) for operation, name, qualifier in account.calls if operation == "GetPolicy"]
    assert sorted(policies, key=str) == [("api-dev", "live"), ("api-dev", None)]


@pytest.mark.parametrize(("refuse", "raised"), [
    (("ListAliases",), "ListAliases"),  # read_served
    (("DescribeLogGroups",), "DescribeLogGroups"),  # measure
    (("DescribeLogGroups", "ListProvisionedConcurrencyConfigs"), "ListProvisionedConcurrencyConfigs"),
])
def test_a_failed_read_fails_the_run_with_its_own_error(refuse, raised):
    account = Account(refuse=refuse)
    with pytest.raises(ClientError) as failure:
        UsageReader(Module(account)).run()
    assert failure.value.operation_name == raised
    # Nothing was read after the reads that run at once: the triggers are not read for a failed run.
    assert "ListEventSourceMappings" not in {operation for operation, _name, _qualifier in account.calls}


def test_an_own_policy_that_could_not_be_read_leaves_the_aliases_policies_unread():
    class NoCalls:
        """A Lambda client of which any use fails the test (invokers catches only AWS's errors)."""

        def __getattr__(self, name):
            raise AssertionError(f"the client's {name} was used")

    allowed, apis, unknown = triggers.invokers(NoCalls(), triggers.RateLimiter(1000), ["api-dev"],
                                               {"api-dev": ["live"]}, {"api-dev": refused("GetPolicy")})
    assert (allowed, apis, unknown) == ({}, {}, {"api-dev": "GetPolicy failed: AccessDeniedException"})
