"""One read per function: lambda_usage_info reads each function once per run and returns what it read
(configuration with its RevisionId, tags, aliases, provisioned concurrency, and with read_roles the roles' inline
policies); the modules after it, given those entries, plan from them without reading every function again, take
what earlier steps of the run changed from the run's journal, and still write only to the function's current
revision."""

import contextlib
import json
from collections import Counter

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import journal, policy_merge, roles
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.versions import carried_allocations
from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient

from tests.collection.conftest import mutating
from tools.emulator_patches import lambda_states

ACCOUNT = "123456789012"
REGION = "us-east-1"
# The reads lambda_usage_info made already: a module planning from its entries makes none of them.
READS_CARRIED = {"GetFunction", "GetFunctionConfiguration", "ListFunctions", "ListAliases",
                 "ListProvisionedConcurrencyConfigs", "ListRolePolicies", "GetRolePolicy",
                 "GetAccountAuthorizationDetails"}
# Settled at once: the emulator ends a transition after a number of reads, not of seconds.
SETTLE = {"Delay": 0, "MaxAttempts": 20}
# The queue lambda_dlq gives the suffix's functions.
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:lambda-dlq-dev"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def operations(calls: list) -> Counter:
    return Counter(operation for _service, operation in calls)


@contextlib.contextmanager
def sent_parameters(operation: str):
    """The parameters of every `operation` call made in this process inside the block, in order."""
    sent: list = []
    original = BaseClient._make_api_call

    def recording(client, operation_name, api_params):
        if operation_name == operation:
            sent.append(dict(api_params))
        return original(client, operation_name, api_params)

    BaseClient._make_api_call = recording
    try:
        yield sent
    finally:
        BaseClient._make_api_call = original


def serve_with_provisioned_concurrency(lambda_, name: str, requested: int) -> str:
    """Publish the function, point the alias `live` at the version and allocate to it; the version's number."""
    version = lambda_.publish_version(FunctionName=name)["Version"]
    lambda_.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lambda_.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live",
                                               ProvisionedConcurrentExecutions=requested)
    return version


@pytest.fixture
def prompt_lambda():
    """Lambda's transitions (a new function's Pending, an update's InProgress) end at the next read: these tests are
    about what is read, not about waiting, which the modules would do a second at a time."""
    lambda_states.configure(update_reads=0, pending_reads=0)
    yield
    lambda_states.configure()


def by_name(entries: list) -> dict:
    return {entry["function_name"]: entry for entry in entries}


# 1. What lambda_usage_info carries.

def test_usage_info_carries_revision_tags_aliases_and_the_served_versions_allocations(
        prompt_lambda, aws, make_function, run_module, api_calls):
    lambda_ = aws.client("lambda")
    make_function("plain-dev", active=True, MemorySize=256, Tags={"Team": "data"})
    make_function("served-dev", active=True, MemorySize=512, Architectures=["arm64"], Tags={"Team": "api"})
    version = serve_with_provisioned_concurrency(lambda_, "served-dev", 3)
    # $LATEST moves on after the version was published: the allocation is billed at the version's memory.
    lambda_.update_function_configuration(FunctionName="served-dev", MemorySize=1024)
    lambda_.get_waiter("function_updated_v2").wait(FunctionName="served-dev", WaiterConfig=SETTLE)
    del api_calls[:]

    result = run_module("lambda_usage_info", {"suffix": "dev", "read_roles": True})
    calls = operations(api_calls)
    assert not result.failed, result.get("msg")
    functions = by_name(result["functions"])
    assert sorted(functions) == ["plain-dev", "served-dev"]
    # One listing of every version, one GetFunction per function, and aliases and allocations listed only for the
    # function that has published a version.
    assert calls["ListFunctions"] == 1
    assert calls["GetFunction"] == 2
    assert calls["ListAliases"] == 1 and calls["ListProvisionedConcurrencyConfigs"] == 1
    # The role both functions share, read once, on its own (too few roles for the account's listing to pay).
    assert result["roles"] == {"test-function-role": {}}
    assert calls["ListRolePolicies"] == 1 and not calls["GetAccountAuthorizationDetails"]

    plain, served = functions["plain-dev"], functions["served-dev"]
    assert plain["aliases"] == [] and plain["provisioned_concurrency"] == []
    assert plain["tags"] == {"Team": "data"} and served["tags"] == {"Team": "api"}
    assert served["configuration"]["memory_size"] == 1024
    assert served["aliases"] == [{"name": "live", "function_version": version, "additional_weights": {}}]
    assert served["provisioned_concurrency"] == [{
        "qualifier": "live", "function_arn": function_arn("served-dev:live"), "requested": 3, "status": "READY",
        "memory_size": 512, "architecture": "arm64"}]
    for name, entry in functions.items():
        now = lambda_.get_function(FunctionName=name)["Configuration"]
        assert entry["configuration"]["revision_id"] == now["RevisionId"]


# 2. Planning from the carried entries.

def planned_functions(result: dict) -> dict:
    return by_name(result["functions"])


def planned_aliases(result: dict) -> dict:
    """lambda_provisioned_concurrency's entries, but for the window's timestamps, which differ between two runs."""
    planned = {}
    for entry in result["aliases"]:
        usage = {key: value for key, value in entry["usage"].items() if key != "window"}
        planned[(entry["function_name"], entry["qualifier"])] = {**entry, "usage": usage}
    return planned


def test_modules_given_usage_infos_entries_plan_as_from_the_suffix_without_reading_again(
        prompt_lambda, aws, fleet, run_module, api_calls):
    usage = run_module("lambda_usage_info", {"suffix": "dev", "read_roles": True})
    assert not usage.failed, usage.get("msg")
    carried, known_roles = usage["functions"], usage["roles"]
    assert sorted(known_roles) == sorted({roles.role_name(entry["configuration"]["role_arn"]) for entry in carried})
    sizing = {"memory_size": "auto", "timeout": "auto", "reserved_concurrency": "auto"}
    cases = [
        # (module, the task given only the suffix, the task given usage_info's entries, its entries by key, what
        #  the suffix's run reads that the carried run must not, what the carried run reads on purpose, whether the
        #  baseline fleet has anything to change)
        ("lambda_rightsize", {"suffix": "dev", **sizing}, {"functions": carried, "usage": carried, **sizing},
         planned_functions, {"ListFunctions", "GetFunction", "ListProvisionedConcurrencyConfigs"}, {}, True),
        ("lambda_provisioned_concurrency", {"suffix": "dev", "provisioned_concurrency": "auto"},
         {"functions": carried, "provisioned_concurrency": "auto"}, planned_aliases,
         {"ListFunctions", "GetFunction", "ListProvisionedConcurrencyConfigs", "GetFunctionConfiguration"}, {}, True),
        ("lambda_tracing", {"suffix": "dev"}, {"suffix": "dev", "functions": carried, "roles": known_roles},
         planned_functions, {"ListFunctions", "ListRolePolicies", "GetRolePolicy"}, {}, True),
        # Turning tracing off lists the account's functions, to learn who else on each role still traces.
        ("lambda_tracing", {"suffix": "dev", "mode": "PassThrough"},
         {"suffix": "dev", "mode": "PassThrough", "functions": carried, "roles": known_roles}, planned_functions,
         {"ListRolePolicies", "GetRolePolicy"}, {"ListFunctions": 1}, False),
        ("lambda_dlq", {"suffix": "dev"}, {"suffix": "dev", "functions": carried, "roles": known_roles},
         planned_functions, {"ListFunctions", "ListRolePolicies", "GetRolePolicy"}, {}, True),
    ]
    for module, own, given, planned, own_reads, on_purpose, changes in cases:
        del api_calls[:]
        from_suffix = run_module(module, own, check=True)
        suffix_calls = operations(api_calls)
        del api_calls[:]
        from_usage = run_module(module, given, check=True)
        usage_calls = operations(api_calls)
        assert not from_suffix.failed and not from_usage.failed, (module, from_suffix.get("msg"),
                                                                  from_usage.get("msg"))
        assert mutating(api_calls) == [], module
        assert own_reads <= set(suffix_calls), (module, suffix_calls)  # what there was to save
        assert {operation: count for operation, count in usage_calls.items() if operation in READS_CARRIED} \
            == on_purpose, (module, usage_calls)
        assert planned(from_usage), module
        assert planned(from_usage) == planned(from_suffix), module
        assert from_usage.get("role_policies") == from_suffix.get("role_policies"), module
        assert from_usage["changed"] == from_suffix["changed"] == changes, module


# 3. What earlier steps of the run changed, from its journal.

def test_a_later_step_takes_an_accepted_change_from_the_journal_and_reads_an_unconfirmed_one_again(
        prompt_lambda, aws, make_function, run_module, api_calls, tmp_path, monkeypatch):
    lambda_ = aws.client("lambda")
    make_function("first-dev", active=True)
    make_function("second-dev", active=True)
    usage = run_module("lambda_usage_info", {"suffix": "dev", "triggers": False})
    assert not usage.failed, usage.get("msg")
    carried = usage["functions"]

    # An earlier step of the run pointed both functions at the suffix's queue: the first seen accepted (the
    # journal alone says so; the emulator is left as it was, to tell where the value comes from), the second
    # announced but not seen accepted - and it did not land. Meanwhile another writer changed the second's memory.
    path = tmp_path / "journal.jsonl"
    monkeypatch.setenv(journal.ENVIRONMENT_VARIABLE, str(path))
    run_journal = journal.Journal(str(path))
    accepted = run_journal.intent(function_arn("first-dev"), "first-dev",
                                  {"dead_letter_target": QUEUE}, {"dead_letter_target": None})
    run_journal.done(accepted)
    run_journal.intent(function_arn("second-dev"), "second-dev", {"dead_letter_target": QUEUE},
                       {"dead_letter_target": None})
    lambda_.update_function_configuration(FunctionName="second-dev", MemorySize=512)
    lambda_.get_waiter("function_updated_v2").wait(FunctionName="second-dev", WaiterConfig=SETTLE)
    reads = {name: len(lambda_states.history(name)) for name in ("first-dev", "second-dev")}

    del api_calls[:]
    dlq = run_module("lambda_dlq", {"suffix": "dev", "functions": carried}, check=True)
    assert not dlq.failed, dlq.get("msg")
    before = {name: entry["before"]["dead_letter_target"] for name, entry in planned_functions(dlq).items()}
    assert before == {"first-dev": QUEUE, "second-dev": None}
    # Only the unconfirmed function is read again, with one GetFunction (no listing of the account).
    calls = operations(api_calls)
    assert (calls["ListFunctions"], calls["GetFunction"]) == (0, 1)
    assert len(lambda_states.history("first-dev")) == reads["first-dev"]
    assert len(lambda_states.history("second-dev")) == reads["second-dev"] + 1
    reads["second-dev"] += 1

    del api_calls[:]
    rightsize = run_module("lambda_rightsize", {"functions": carried, "usage": carried}, check=True)
    assert not rightsize.failed, rightsize.get("msg")
    memory = {name: entry["before"]["memory_size"] for name, entry in planned_functions(rightsize).items()}
    assert memory == {"first-dev": 128, "second-dev": 512}
    calls = operations(api_calls)
    assert (calls["ListFunctions"], calls["GetFunction"]) == (0, 1)
    # The one GetFunction (GetFunction reads show in the emulator's history).
    assert len(lambda_states.history("first-dev")) == reads["first-dev"]
    assert len(lambda_states.history("second-dev")) == reads["second-dev"] + 1
    assert mutating(api_calls) == []


def test_carried_allocations_take_an_accepted_change_and_list_an_unconfirmed_one_again(
        prompt_lambda, aws, make_function, run_module, api_calls, tmp_path, monkeypatch):
    lambda_ = aws.client("lambda")
    for name in ("first-dev", "second-dev"):
        make_function(name, active=True)
        serve_with_provisioned_concurrency(lambda_, name, 2)
    usage = run_module("lambda_usage_info", {"suffix": "dev", "triggers": False})
    assert not usage.failed, usage.get("msg")

    path = tmp_path / "journal.jsonl"
    monkeypatch.setenv(journal.ENVIRONMENT_VARIABLE, str(path))
    run_journal = journal.Journal(str(path))
    accepted = run_journal.intent(function_arn("first-dev:live"), "first-dev", {"provisioned_concurrency": 4},
                                  {"provisioned_concurrency": 2}, qualifier="live")
    run_journal.done(accepted)
    run_journal.intent(function_arn("second-dev:live"), "second-dev", {"provisioned_concurrency": 5},
                       {"provisioned_concurrency": 2}, qualifier="live")
    lambda_.put_provisioned_concurrency_config(FunctionName="second-dev", Qualifier="live",
                                               ProvisionedConcurrentExecutions=5)

    del api_calls[:]
    result = run_module("lambda_provisioned_concurrency", {"functions": usage["functions"]}, check=True)
    assert not result.failed, result.get("msg")
    before = {key: entry["before"]["provisioned_concurrency"] for key, entry in planned_aliases(result).items()}
    assert before == {("first-dev", "live"): 4, ("second-dev", "live"): 5}
    calls = operations(api_calls)
    assert calls["ListProvisionedConcurrencyConfigs"] == 1  # the second function's, listed again
    assert calls["ListFunctions"] == 0 and calls["GetFunction"] == 0  # allocations are not function settings
    assert mutating(api_calls) == []


def test_carried_allocations_drop_a_removed_allocation_and_list_a_new_one_again(tmp_path, monkeypatch):
    entries = [
        {"function_name": "kept-dev", "provisioned_concurrency": [
            {"qualifier": "1", "requested": 2, "memory_size": 256, "architecture": "x86_64"},
            {"qualifier": "live", "requested": 5, "memory_size": 256, "architecture": "x86_64"}]},
        {"function_name": "new-dev", "provisioned_concurrency": [
            {"qualifier": "live", "requested": 1, "memory_size": 512, "architecture": "arm64"}]},
        {"function_name": "untouched-dev", "provisioned_concurrency": []},
        {"function_name": "unlisted-dev"},
    ]
    path = tmp_path / "journal.jsonl"
    monkeypatch.setenv(journal.ENVIRONMENT_VARIABLE, str(path))
    run_journal = journal.Journal(str(path))
    for name, qualifier, before, after in [("kept-dev", "live", 5, 0), ("kept-dev", "1", 2, 3),
                                           ("new-dev", "canary", None, 2)]:
        run_journal.done(run_journal.intent(function_arn(f"{name}:{qualifier}"), name,
                                            {"provisioned_concurrency": after}, {"provisioned_concurrency": before},
                                            qualifier=qualifier))
    assert carried_allocations(entries) == {
        # The removed allocation is gone, the changed one keeps its version's settings.
        "kept-dev": [{"qualifier": "1", "requested": 3, "memory_size": 256, "architecture": "x86_64"}],
        # new-dev is left out: the new allocation's version settings were never read, so it is listed again.
        "untouched-dev": [],
    }
    assert entries[0]["provisioned_concurrency"][0]["requested"] == 2  # the entries given are not changed


# 4. The roles' inline policies, read in one listing.

def create_roles(iam, names: list) -> None:
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    for name in names:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)


def policy(sid: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Sid": sid, "Effect": "Allow", "Action": "s3:GetObject",
                                                    "Resource": "*"}]}


def test_read_policies_lists_more_roles_than_a_default_page_in_one_call_and_keeps_only_those_asked_for(
        aws, api_calls):
    iam = aws.client("iam")
    # One role more than GetAccountAuthorizationDetails answers by default (MaxItems 100).
    create_roles(iam, [f"role-{index:03d}" for index in range(101)])
    iam.put_role_policy(RoleName="role-000", PolicyName="first", PolicyDocument=json.dumps(policy("First")))
    iam.put_role_policy(RoleName="role-000", PolicyName="second", PolicyDocument=json.dumps(policy("Second")))
    iam.put_role_policy(RoleName="role-100", PolicyName="only", PolicyDocument=json.dumps(policy("Only")))
    del api_calls[:]

    asked = ["role-000", "role-050", "role-100", "no-such-role", *(f"role-00{index}" for index in range(1, 7))]
    assert len(asked) == roles.ACCOUNT_LISTING_FROM_ROLES
    with sent_parameters("GetAccountAuthorizationDetails") as sent:
        found = roles.read_policies(iam, asked, 4)
    assert found == {"role-000": {"first": policy("First"), "second": policy("Second")}, "role-050": {},
                     "role-100": {"only": policy("Only")}, **{f"role-00{index}": {} for index in range(1, 7)}}
    assert api_calls == [("iam", "GetAccountAuthorizationDetails")]
    assert [(parameters["Filter"], parameters["MaxItems"]) for parameters in sent] == [(["Role"], 1000)]


def deny_authorization_details(iam) -> None:
    """The client's GetAccountAuthorizationDetails answers AccessDenied, as for a policy without the action."""
    def denied(**_kwargs):
        response = AWSResponse(url="", status_code=403, headers={}, raw=None)
        return response, {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform: "
                                    "iam:GetAccountAuthorizationDetails"}, "ResponseMetadata": {"HTTPStatusCode": 403}}

    iam.meta.events.register("before-call.iam.GetAccountAuthorizationDetails", denied)


def test_read_policies_reads_each_role_on_its_own_when_the_listing_is_denied(aws, api_calls):
    iam = aws.client("iam")
    others = [f"with-none-{index}" for index in range(7)]
    create_roles(iam, ["with-two", *others])
    iam.put_role_policy(RoleName="with-two", PolicyName="first", PolicyDocument=json.dumps(policy("First")))
    iam.put_role_policy(RoleName="with-two", PolicyName="second", PolicyDocument=json.dumps(policy("Second")))
    asked = ["with-two", *others, "no-such-role", "no-such-role-either"]
    assert len(asked) >= roles.ACCOUNT_LISTING_FROM_ROLES
    listed = roles.read_policies(iam, asked, 4)

    deny_authorization_details(iam)
    del api_calls[:]
    found = roles.read_policies(iam, asked, 4)
    assert found == listed == {"with-two": {"first": policy("First"), "second": policy("Second")},
                               **dict.fromkeys(others, {})}
    assert operations(api_calls) == Counter({"GetAccountAuthorizationDetails": 1, "ListRolePolicies": 10,
                                             "GetRolePolicy": 2})


def test_read_policies_reads_a_few_roles_each_on_its_own(aws, api_calls):
    iam = aws.client("iam")
    create_roles(iam, ["with-two", "with-none"])
    iam.put_role_policy(RoleName="with-two", PolicyName="first", PolicyDocument=json.dumps(policy("First")))
    iam.put_role_policy(RoleName="with-two", PolicyName="second", PolicyDocument=json.dumps(policy("Second")))
    del api_calls[:]
    found = roles.read_policies(iam, ["with-two", "with-none", "no-such-role"], 4)
    assert found == {"with-two": {"first": policy("First"), "second": policy("Second")}, "with-none": {}}
    assert operations(api_calls) == Counter({"ListRolePolicies": 3, "GetRolePolicy": 2})


def test_a_real_run_reads_its_roles_again_in_one_listing_and_keeps_what_was_written_since(
        prompt_lambda, aws, run_module, api_calls):
    # One role a function, enough of them for the account's listing; lambda_usage_info reads them first.
    iam, lambda_ = aws.client("iam"), aws.client("lambda")
    names = [f"worker-{index:02d}-dev" for index in range(roles.ACCOUNT_LISTING_FROM_ROLES + 2)]
    create_roles(iam, [f"{name}-role" for name in names])
    for name in names:
        lambda_.create_function(FunctionName=name, Role=f"arn:aws:iam::{ACCOUNT}:role/{name}-role",
                                Runtime="python3.12", Handler="handler.handler", Code={"ZipFile": b"stub"})
    usage = run_module("lambda_usage_info", {"suffix": "dev", "read_roles": True, "triggers": False})
    assert not usage.failed, usage.get("msg")
    assert usage["roles"][f"{names[0]}-role"] == {}
    # Another writer puts a statement into the policy tracing writes, after that reading.
    iam.put_role_policy(RoleName=f"{names[0]}-role", PolicyName="lambdaopt-xray-write",
                        PolicyDocument=json.dumps(policy("TeamReadsItsBucket")))
    del api_calls[:]

    result = run_module("lambda_tracing", {"functions": usage["functions"], "roles": usage["roles"]})
    assert not result.failed, result.get("msg")
    reads = operations([call for call in api_calls if call[0] == "iam" and not call[1].startswith("Put")])
    assert reads == Counter({"GetAccountAuthorizationDetails": 1})
    assert operations(api_calls)["PutRolePolicy"] == len(names)
    written = iam.get_role_policy(RoleName=f"{names[0]}-role", PolicyName="lambdaopt-xray-write")["PolicyDocument"]
    assert policy("TeamReadsItsBucket")["Statement"][0] in written["Statement"]
    assert any("xray:PutTraceSegments" in policy_merge.as_list(statement["Action"])
               for statement in written["Statement"])
    assert {entry["status"] for entry in result["functions"]} == {"changed"}


# 5. A stale reading is safe in a real run.

def test_a_stale_carried_reading_lands_on_the_current_revision_and_overwrites_nothing(
        prompt_lambda, aws, make_function, run_module):
    lambda_ = aws.client("lambda")
    make_function("traced-dev", active=True, MemorySize=128)
    usage = run_module("lambda_usage_info", {"suffix": "dev", "triggers": False})
    (read,) = usage["functions"]
    # Another writer changes the function after lambda_usage_info read it.
    lambda_.update_function_configuration(FunctionName="traced-dev", MemorySize=512)
    lambda_.get_waiter("function_updated_v2").wait(FunctionName="traced-dev", WaiterConfig=SETTLE)
    current = lambda_.get_function(FunctionName="traced-dev")["Configuration"]["RevisionId"]
    assert current != read["configuration"]["revision_id"]

    with sent_parameters("UpdateFunctionConfiguration") as sent:
        result = run_module("lambda_tracing", {"functions": usage["functions"]})
    assert not result.failed, result.get("msg")
    assert [entry["status"] for entry in result["functions"]] == ["changed"]
    now = lambda_.get_function_configuration(FunctionName="traced-dev")
    assert now["TracingConfig"]["Mode"] == "Active"
    assert now["MemorySize"] == 512  # the other writer's memory, not the one read
    # Whatever was tried first, what Lambda took names the revision the other writer left; no update carried memory.
    assert sent and sent[-1]["RevisionId"] == current
    assert {parameters["RevisionId"] for parameters in sent} <= {read["configuration"]["revision_id"], current}
    assert all(set(parameters) == {"FunctionName", "RevisionId", "TracingConfig"} for parameters in sent)
    assert lambda_states.history("traced-dev").count("updated") == 2  # the other writer's, then this one
