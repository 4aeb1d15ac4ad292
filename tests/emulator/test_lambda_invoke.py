"""Invoke answers without containers, with the REPORT line the usage model gives the version invoked
(tools/emulator_patches/lambda_invoke.py).

Sources: Lambda API reference, Invoke (Qualifier names a version or alias; X-Amz-Executed-Version; X-Amz-Function-Error;
X-Amz-Log-Result, "the last 4 KB of the execution log, which is base64-encoded", with LogType Tail on a synchronous
invocation; payloads of at most 6 MB synchronous; DryRun runs nothing); Lambda developer guide, "Lambda function
states" (invocations of a Pending function fail) and "Configuring JSON and plain text log formats".
"""

import base64
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.report_lines import parse_report
from botocore.exceptions import ClientError

from tools.usage_model import load_profiles

WAIT = {"Delay": 1}
CPU_BOUND = "signature-verifier-test"  # the cpu-bound profile, by tools/usage_profiles.yaml's name for it
IO_BOUND = "transform-test"  # steady-light: a tenth of its time is CPU work
# Enough memory for either profile, and time for the CPU-bound one at a quarter of a vCPU.
ROOMY = {"MemorySize": 3008, "Timeout": 300}


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def publish_at(lambda_, name: str, memory_size: int) -> str:
    """A version of `name` published at `memory_size` MB."""
    if lambda_.get_function_configuration(FunctionName=name)["MemorySize"] != memory_size:
        lambda_.update_function_configuration(FunctionName=name, MemorySize=memory_size)
        lambda_.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=WAIT)
    return lambda_.publish_version(FunctionName=name)["Version"]


def tail_of(answer: dict) -> list:
    return base64.b64decode(answer["LogResult"]).decode().splitlines()


def reports(lambda_, name: str, version: str, count: int) -> list:
    """The parsed REPORT lines of `count` invocations of one version."""
    lines = []
    for _ in range(count):
        answer = lambda_.invoke(FunctionName=name, Qualifier=version, LogType="Tail", Payload=b"{}")
        assert answer["ExecutedVersion"] == version
        lines.append(parse_report(tail_of(answer)[-1]))
    return lines


def test_a_version_runs_at_the_memory_it_was_published_with(aws, make_function):
    make_function(CPU_BOUND, active=True, **ROOMY)
    lambda_ = aws.client("lambda")
    large = publish_at(lambda_, CPU_BOUND, 3008)
    small = publish_at(lambda_, CPU_BOUND, 512)
    (at_large,) = reports(lambda_, CPU_BOUND, large, 1)
    (at_small,) = reports(lambda_, CPU_BOUND, small, 1)
    assert (at_large.memory_size_mb, at_small.memory_size_mb) == (3008, 512)
    latest = lambda_.invoke(FunctionName=CPU_BOUND, LogType="Tail")
    assert latest["ExecutedVersion"] == "$LATEST" and parse_report(tail_of(latest)[-1]).memory_size_mb == 512


def test_the_tail_is_the_last_4_kb_of_the_log_ending_in_the_report_line(aws, make_function):
    make_function(CPU_BOUND, active=True, **ROOMY)
    answer = aws.client("lambda").invoke(FunctionName=CPU_BOUND, LogType="Tail", Payload=b'{"record": 1}')
    log = base64.b64decode(answer["LogResult"])
    assert 0 < len(log) <= 4096
    lines = log.decode().splitlines()
    assert lines[0].startswith("START RequestId: ") and lines[0].endswith("Version: $LATEST")
    assert lines[-2].startswith("END RequestId: ") and lines[-1].startswith("REPORT RequestId: ")
    assert json.loads(answer["Payload"].read()) == {"record": 1}
    # Without LogType Tail there is no log in the answer.
    assert "LogResult" not in aws.client("lambda").invoke(FunctionName=CPU_BOUND)


def test_durations_follow_the_profile_invocation_by_invocation(aws, make_function):
    """Invocation n does the same work at every size, so the durations' ratio is the profile's duration factor."""
    profiles, assigned = load_profiles()
    lambda_ = aws.client("lambda")
    for name, profile in ((CPU_BOUND, profiles[assigned["signature-verifier"]]),
                          (IO_BOUND, profiles[assigned["transform"]])):
        make_function(name, active=True, **ROOMY)
        large, small = publish_at(lambda_, name, 3008), publish_at(lambda_, name, 256)
        for at_large, at_small in zip(reports(lambda_, name, large, 3), reports(lambda_, name, small, 3), strict=True):
            assert (at_large.status, at_small.status) == (None, None)
            assert at_small.max_memory_used_mb == at_large.max_memory_used_mb
            assert at_small.duration_ms / at_large.duration_ms == pytest.approx(
                profile.duration_factor(256) / profile.duration_factor(3008), rel=1e-3)
    assert profiles[assigned["signature-verifier"]].duration_factor(256) > 6  # a CPU-bound function slows most


def test_the_first_invocation_of_a_version_is_a_cold_start(aws, make_function):
    make_function(IO_BOUND, active=True)
    lambda_ = aws.client("lambda")
    first = publish_at(lambda_, IO_BOUND, 1024)
    lines = reports(lambda_, IO_BOUND, first, 3)
    assert lines[0].init_duration_ms is not None
    assert lines[0].billed_duration_ms >= lines[0].duration_ms + lines[0].init_duration_ms
    second = publish_at(lambda_, IO_BOUND, 512)
    assert reports(lambda_, IO_BOUND, second, 1)[0].init_duration_ms is not None


def test_figures_are_the_same_on_a_fresh_emulator(emulator, aws, make_function):
    make_function(CPU_BOUND, active=True, **ROOMY)
    lambda_ = aws.client("lambda")
    before = reports(lambda_, CPU_BOUND, publish_at(lambda_, CPU_BOUND, 1024), 3)
    emulator.reset()
    role = aws.client("iam").create_role(RoleName="again", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lambda_.create_function(FunctionName=CPU_BOUND, Role=role, Runtime="python3.12", Handler="handler.handler",
                            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18}, **ROOMY)
    lambda_.get_waiter("function_active_v2").wait(FunctionName=CPU_BOUND, WaiterConfig=WAIT)
    after = reports(lambda_, CPU_BOUND, publish_at(lambda_, CPU_BOUND, 1024), 3)
    assert [(line.duration_ms, line.max_memory_used_mb) for line in after] == [
        (line.duration_ms, line.max_memory_used_mb) for line in before]


def test_too_little_memory_fails_the_invocation_out_of_memory(aws, make_function):
    make_function(CPU_BOUND, active=True)
    lambda_ = aws.client("lambda")
    answer = lambda_.invoke(FunctionName=CPU_BOUND, Qualifier=publish_at(lambda_, CPU_BOUND, 128), LogType="Tail")
    assert answer["FunctionError"] == "Unhandled"
    assert json.loads(answer["Payload"].read())["errorType"] == "Runtime.OutOfMemory"
    report = parse_report(tail_of(answer)[-1])
    assert report.status == "error" and report.max_memory_used_mb == 128


def test_a_function_without_a_profile_answers_a_plain_report(aws, make_function):
    make_function("unprofiled", active=True, MemorySize=256)
    answer = aws.client("lambda").invoke(FunctionName="unprofiled", LogType="Tail")
    report = parse_report(tail_of(answer)[-1])
    assert (report.memory_size_mb, report.billed_duration_ms, report.status) == (256, 1, None)


def test_a_json_logging_function_ends_its_tail_in_platform_report(aws, make_function):
    make_function(IO_BOUND, active=True, LoggingConfig={"LogFormat": "JSON"})
    lambda_ = aws.client("lambda")
    version = publish_at(lambda_, IO_BOUND, 512)
    lines = tail_of(lambda_.invoke(FunctionName=IO_BOUND, Qualifier=version, LogType="Tail"))
    assert json.loads(lines[0])["record"]["version"] == version
    assert json.loads(lines[-1])["type"] == "platform.report" and parse_report(lines[-1]).memory_size_mb == 512


def test_the_invocation_is_logged_to_the_versions_stream(aws, make_function):
    make_function(IO_BOUND, active=True)
    lambda_ = aws.client("lambda")
    version = publish_at(lambda_, IO_BOUND, 512)
    lambda_.invoke(FunctionName=IO_BOUND, Qualifier=version)
    lambda_.invoke(FunctionName=IO_BOUND, Qualifier=version)
    (stream,) = aws.client("logs").describe_log_streams(logGroupName=f"/aws/lambda/{IO_BOUND}")["logStreams"]
    assert f"[{version}]" in stream["logStreamName"]
    events = aws.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{IO_BOUND}", filterPattern="REPORT")
    assert len(events["events"]) == 2


def test_a_dry_run_runs_nothing(aws, make_function):
    make_function(IO_BOUND, active=True)
    answer = aws.client("lambda").invoke(FunctionName=IO_BOUND, InvocationType="DryRun")
    assert answer["StatusCode"] == 204
    assert aws.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{IO_BOUND}")["logGroups"] == []


def test_a_pending_function_cannot_be_invoked(aws, make_function):
    make_function(IO_BOUND)
    with pytest.raises(ClientError) as excinfo:
        aws.client("lambda").invoke(FunctionName=IO_BOUND)
    assert error_code(excinfo) == "ResourceConflictException" and "Pending" in str(excinfo.value)


def test_a_payload_over_6_mb_is_refused(aws, make_function):
    make_function(IO_BOUND, active=True)
    with pytest.raises(ClientError) as excinfo:
        aws.client("lambda").invoke(FunctionName=IO_BOUND, Payload=json.dumps("x" * (6 * 1024 * 1024)).encode())
    assert error_code(excinfo) == "RequestTooLargeException"


def test_an_alias_runs_the_version_it_points_to(aws, make_function):
    make_function(IO_BOUND, active=True, **ROOMY)
    lambda_ = aws.client("lambda")
    version = publish_at(lambda_, IO_BOUND, 1024)
    publish_at(lambda_, IO_BOUND, 512)
    lambda_.create_alias(FunctionName=IO_BOUND, Name="live", FunctionVersion=version)
    answer = lambda_.invoke(FunctionName=IO_BOUND, Qualifier="live", LogType="Tail")
    assert answer["ExecutedVersion"] == version and parse_report(tail_of(answer)[-1]).memory_size_mb == 1024


def test_an_asynchronous_invocation_is_accepted_and_logged(aws, make_function):
    make_function(IO_BOUND, active=True)
    answer = aws.client("lambda").invoke(FunctionName=IO_BOUND, InvocationType="Event", LogType="Tail")
    assert answer["StatusCode"] == 202 and "LogResult" not in answer
    events = aws.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{IO_BOUND}", filterPattern="REPORT")
    assert len(events["events"]) == 1


def test_concurrent_first_invocations_of_a_new_version_all_answer(aws, make_function):
    make_function(IO_BOUND, active=True, **ROOMY)
    lambda_ = aws.client("lambda")
    version = publish_at(lambda_, IO_BOUND, 512)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _index: lambda_.invoke(FunctionName=IO_BOUND, Qualifier=version, LogType="Tail"),
                                range(8)))
    assert [parse_report(tail_of(answer)[-1]).memory_size_mb for answer in answers] == [512] * 8
