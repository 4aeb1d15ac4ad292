"""lambda_power_tuning against the emulator, whose Invoke answers from the usage model at the invoked version's memory
(tools/emulator_patches/lambda_invoke.py): the curves of a CPU-bound and an I/O-bound function, the function put
back and its temporary versions deleted whatever happens, refusals, and check mode."""

import json

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.collection.conftest import mutating
from tools import baseline
from tools.emulator_patches import lambda_states

CPU_BOUND = "signature-verifier-dev"  # profile cpu-bound: 95 % of its time is CPU work
IO_BOUND = "transform-dev"  # profile steady-light: 10 %
ALIASED = "api-handler-dev"  # served through its alias `live`, on version 1
PAYLOAD = {"records": [{"id": "power-tuning-test"}]}
# Configuration fields a measurement must leave as it found them.
KEPT = ("MemorySize", "Timeout", "Environment", "TracingConfig", "Description", "Handler", "Runtime", "Role")


@pytest.fixture
def fleet(aws):
    baseline.provision(aws, "dev")
    lambda_ = aws.client("lambda")
    for name in (CPU_BOUND, IO_BOUND, ALIASED):
        lambda_.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})


def entry_of(result: dict, name: str) -> dict:
    return next(entry for entry in result["functions"] if entry["function_name"] == name)


def measured(curve: list) -> list:
    return [point for point in curve if point["status"] == "measured"]


def settings(aws, name: str) -> dict:
    configuration = aws.client("lambda").get_function_configuration(FunctionName=name)
    return {key: configuration.get(key) for key in KEPT}


def versions(aws, name: str) -> list:
    return [version["Version"] for version in aws.client("lambda").list_versions_by_function(
        FunctionName=name)["Versions"]]


def test_a_cpu_bound_function_slows_as_memory_drops_and_is_fastest_at_the_largest_size(aws, fleet, run_module):
    result = run_module("lambda_power_tuning", {"functions": [CPU_BOUND], "payloads": {CPU_BOUND: PAYLOAD},
                                                "memory_sizes": [256, 512, 1024, 1536]})
    assert not result.failed, result.get("msg")
    entry = entry_of(result, CPU_BOUND)
    assert entry["status"] == "measured" and entry["evidence"] == "power tuning"
    curve = measured(entry["curve"])
    assert [point["memory_size"] for point in curve] == [256, 512, 1024, 1536]
    durations = [point["duration_ms"]["avg"] for point in curve]
    assert durations == sorted(durations, reverse=True) and len(set(durations)) == 4
    # A quarter of a vCPU: about 6.6 times as long as at 1,536 MB, which is close to a full one.
    assert durations[0] > 5 * durations[-1]
    assert entry["best"]["speed"] == 1536
    assert all(point["invocations"] == 10 and point["failed_invocations"] == 0 for point in curve)


def test_an_io_bound_function_is_cheapest_at_the_smallest_size(aws, fleet, run_module):
    result = run_module("lambda_power_tuning", {"functions": [IO_BOUND], "payloads": {IO_BOUND: PAYLOAD}})
    entry = entry_of(result, IO_BOUND)
    # The default ladder up to the function's own 3,008 MB, which is measured too.
    assert entry["memory_sizes"] == [3008, 2048, 1536, 1024, 512, 256, 128]
    assert [point["memory_size"] for point in measured(entry["curve"])] == [128, 256, 512, 1024, 1536, 2048, 3008]
    assert entry["best"]["cost"] == 128
    costs = [point["cost_per_million_invocations"] for point in entry["curve"]]
    assert costs == sorted(costs)
    # Above 1,769 MB a function has a full vCPU, so 2,048 MB is as fast as 3,008 MB: the fastest is one of the two
    # (which, is the invocations' own spread), and they take about as long.
    assert entry["best"]["speed"] in (2048, 3008)
    at = {point["memory_size"]: point["duration_ms"]["avg"] for point in measured(entry["curve"])}
    assert abs(at[2048] - at[3008]) <= 0.3 * at[3008]
    assert entry["best"]["balanced"] in (128, 256, 512)


def test_the_configuration_is_restored_and_every_temporary_version_deleted(aws, fleet, run_module):
    names = [CPU_BOUND, IO_BOUND, ALIASED]
    before = {name: (settings(aws, name), versions(aws, name)) for name in names}
    result = run_module("lambda_power_tuning", {"functions": names, "payloads": dict.fromkeys(names, PAYLOAD),
                                                "invocations": 3})
    assert not result.failed, result.get("msg")
    assert result["changed"] and result["summary"]["measured"] == 3
    for name in names:
        entry = entry_of(result, name)
        assert entry["restored"] and entry["temporary_versions"]
        assert (settings(aws, name), versions(aws, name)) == before[name]
    assert aws.client("lambda").get_alias(FunctionName=ALIASED, Name="live")["FunctionVersion"] == "1"


def test_a_failed_update_mid_run_still_restores_and_deletes(aws, fleet, run_module):
    before = settings(aws, IO_BOUND), versions(aws, IO_BOUND)
    # The first size is the function's own; the update to the second is accepted, then ends Failed.
    lambda_states.fail_next_update(IO_BOUND)
    result = run_module("lambda_power_tuning", {"functions": [IO_BOUND], "payloads": {IO_BOUND: PAYLOAD},
                                                "invocations": 2})
    assert result.failed and result["failed_functions"] == [IO_BOUND]
    entry = entry_of(result, IO_BOUND)
    assert entry["status"] == "failed" and "Lambda accepted the change of memory_size" in entry["error"]
    assert [point["memory_size"] for point in entry["curve"]] == [3008]
    assert entry["restored"] and len(entry["temporary_versions"]) == 1 and entry["left_versions"] == []
    assert entry["best"] == {"cost": None, "speed": None, "balanced": None}
    assert (settings(aws, IO_BOUND), versions(aws, IO_BOUND)) == before


def test_a_failed_invocation_mid_run_still_restores_and_deletes(aws, fleet, run_module, monkeypatch):
    """Lambda refuses the invocations of the third size (as it does when it cannot decrypt the environment)."""
    before = settings(aws, CPU_BOUND), versions(aws, CPU_BOUND)
    original = BaseClient._make_api_call
    invocations = []

    def refusing(client, operation_name, api_params):
        if operation_name == "Invoke":
            invocations.append(api_params["Qualifier"])
            if len(set(invocations)) == 3:
                raise ClientError({"Error": {"Code": "KMSAccessDeniedException", "Message": "injected"}}, "Invoke")
        return original(client, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", refusing)
    result = run_module("lambda_power_tuning", {"functions": [CPU_BOUND], "payloads": {CPU_BOUND: PAYLOAD},
                                                "memory_sizes": [2048, 1024, 512, 256], "invocations": 2})
    entry = entry_of(result, CPU_BOUND)
    assert entry["status"] == "failed" and "KMSAccessDeniedException" in entry["error"]
    assert [point["memory_size"] for point in entry["curve"]] == [1024, 2048]
    assert len(entry["temporary_versions"]) == 3 and entry["restored"]
    assert (settings(aws, CPU_BOUND), versions(aws, CPU_BOUND)) == before


def test_a_memory_change_by_someone_else_is_never_overwritten(aws, fleet, run_module):
    lambda_states.update_before_next(IO_BOUND, {"MemorySize": 1800})
    result = run_module("lambda_power_tuning", {"functions": [IO_BOUND], "payloads": {IO_BOUND: PAYLOAD},
                                                "invocations": 2})
    entry = entry_of(result, IO_BOUND)
    assert entry["status"] == "failed" and "memory_size is now 1800 (planned from 3008)" in entry["error"]
    assert settings(aws, IO_BOUND)["MemorySize"] == 1800
    assert versions(aws, IO_BOUND) == ["$LATEST"]


def test_functions_without_a_payload_are_refused(aws, fleet, run_module, api_calls):
    aws.client("lambda").tag_resource(Resource=aws.client("lambda").get_function(
        FunctionName=ALIASED)["Configuration"]["FunctionArn"], Tags={"lambdaopt:test-payload": "file:///tmp/x.json"})
    result = run_module("lambda_power_tuning", {"suffix": "dev", "payloads": {IO_BOUND: PAYLOAD}, "invocations": 1,
                                                "memory_sizes": [1024]})
    assert not result.failed, result.get("msg")
    refused = {entry["function_name"]: entry["reason"] for entry in result["functions"] if entry["status"] == "refused"}
    assert sorted(refused) == ["api-handler-dev", "batch-processor-dev", "nightly-cleanup-dev", CPU_BOUND,
                               "webhook-relay-dev"]
    assert "no test payload" in refused[CPU_BOUND]
    assert "names neither ssm:<parameter> nor s3://<bucket>/<key>" in refused[ALIASED]
    assert result["summary"] == {"functions": 6, "measured": 1, "would_measure": 0, "refused": 5, "failed": 0}
    # One size, one invocation, of the one function with a payload.
    assert [operation for _service, operation in api_calls if operation == "Invoke"] == ["Invoke"]


def test_check_mode_invokes_nothing(aws, fleet, run_module, api_calls):
    before = settings(aws, IO_BOUND), versions(aws, IO_BOUND)
    result = run_module("lambda_power_tuning", {"functions": [IO_BOUND, CPU_BOUND], "payloads": {IO_BOUND: PAYLOAD}},
                        check=True)
    assert not result["changed"] and not result.failed
    assert [operation for _service, operation in api_calls if operation == "Invoke"] == []
    assert mutating(api_calls) == []
    entry = entry_of(result, IO_BOUND)
    assert entry["status"] == "would-measure" and entry["invocations"] == 10
    assert entry["memory_sizes"] == [3008, 2048, 1536, 1024, 512, 256, 128]
    assert entry_of(result, CPU_BOUND)["status"] == "refused"
    assert (settings(aws, IO_BOUND), versions(aws, IO_BOUND)) == before


def test_payloads_named_by_tag_come_from_ssm_and_s3(aws, fleet, run_module):
    lambda_ = aws.client("lambda")
    aws.client("ssm").put_parameter(Name="/lambdaopt/payloads/transform", Value=json.dumps(PAYLOAD),
                                    Type="SecureString")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="lambdaopt-test-payloads")
    s3.put_object(Bucket="lambdaopt-test-payloads", Key="signature-verifier.json", Body=json.dumps(PAYLOAD).encode())
    tags = {IO_BOUND: "ssm:/lambdaopt/payloads/transform",
            CPU_BOUND: "s3://lambdaopt-test-payloads/signature-verifier.json",
            ALIASED: "ssm:/lambdaopt/payloads/missing"}
    for name, value in tags.items():
        arn = lambda_.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        lambda_.tag_resource(Resource=arn, Tags={"lambdaopt:test-payload": value})
    result = run_module("lambda_power_tuning", {"functions": list(tags), "memory_sizes": [1024], "invocations": 2})
    assert entry_of(result, IO_BOUND)["payload_source"] == tags[IO_BOUND]
    assert entry_of(result, CPU_BOUND)["payload_source"] == tags[CPU_BOUND]
    assert {entry_of(result, name)["status"] for name in (IO_BOUND, CPU_BOUND)} == {"measured"}
    # A payload the tag names but that cannot be read fails that function, after the others.
    assert result.failed and result["failed_functions"] == [ALIASED]
    assert "could not read its test payload from ssm:/lambdaopt/payloads/missing" in entry_of(result, ALIASED)["error"]


def test_a_payload_that_is_not_json_is_refused(aws, fleet, run_module):
    result = run_module("lambda_power_tuning", {"functions": [IO_BOUND], "payloads": {IO_BOUND: "{not json"}})
    entry = entry_of(result, IO_BOUND)
    assert entry["status"] == "refused" and "not JSON" in entry["reason"]


def test_versions_a_killed_run_left_are_deleted_and_aliased_ones_kept(aws, fleet, run_module):
    lambda_ = aws.client("lambda")
    lambda_.update_function_configuration(FunctionName=IO_BOUND, MemorySize=512)
    lambda_.get_waiter("function_updated_v2").wait(FunctionName=IO_BOUND, WaiterConfig={"Delay": 1})
    left = lambda_.publish_version(FunctionName=IO_BOUND, Description="lambdaopt power tuning at 512 MB")["Version"]
    lambda_.update_function_configuration(FunctionName=IO_BOUND, MemorySize=3008)
    lambda_.get_waiter("function_updated_v2").wait(FunctionName=IO_BOUND, WaiterConfig={"Delay": 1})
    served = lambda_.publish_version(FunctionName=IO_BOUND, Description="lambdaopt power tuning at 3008 MB")["Version"]
    lambda_.create_alias(FunctionName=IO_BOUND, Name="pinned", FunctionVersion=served)
    result = run_module("lambda_power_tuning", {"functions": [IO_BOUND], "payloads": {IO_BOUND: PAYLOAD},
                                                "memory_sizes": [1024], "invocations": 1})
    entry = entry_of(result, IO_BOUND)
    assert entry["status"] == "measured" and entry["deleted_leftover_versions"] == [left]
    assert versions(aws, IO_BOUND) == ["$LATEST", served]


@pytest.mark.parametrize("args, message", [
    ({"invocations": 0}, "invocations must be between 1 and 1000, got 0"),
    ({"memory_sizes": [64]}, "memory_sizes must be between 128 and 10240 MB, got 64"),
    ({"balanced_weight": 1.5}, "balanced_weight must be between 0 and 1, got 1.5"),
    ({"price_per_gb_second": {"x86_64": -1}}, "price_per_gb_second for x86_64 must be above 0, got -1"),
])
def test_bad_options_fail_before_any_call(aws, run_module, api_calls, args, message):
    result = run_module("lambda_power_tuning", {"suffix": "dev", **args})
    assert result.failed and message in result["msg"]
    assert api_calls == []
