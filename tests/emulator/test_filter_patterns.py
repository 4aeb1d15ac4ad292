"""FilterLogEvents' term patterns in the emulator as AWS matches them (tools/emulator_patches/logs.py): all plain
terms, a quoted phrase exactly, any of the `?` terms, none of the `-` terms; case-sensitive."""

import time

import pytest

MESSAGES = [
    "START RequestId: r-1 Version: $LATEST",
    "[ERROR]\tr-1\tRuntimeError: upstream call failed",
    "END RequestId: r-1",
    "REPORT RequestId: r-1\tDuration: 20.5 ms\tBilled Duration: 21 ms\tMemory Size: 1024 MB\tMax Memory Used: 90 MB\t",
    '{"time":"t","type":"platform.report","record":{"requestId":"r-2","metrics":{"maxMemoryUsedMB":91}}}',
    "2026-11-30T10:00:00Z r-3 Task timed out after 3.00 seconds",
]


@pytest.fixture
def logs(aws):
    client = aws.client("logs")
    client.create_log_group(logGroupName="/aws/lambda/f")
    client.create_log_stream(logGroupName="/aws/lambda/f", logStreamName="s")
    now = int(time.time() * 1000)
    client.put_log_events(logGroupName="/aws/lambda/f", logStreamName="s", logEvents=[
        {"timestamp": now - 60_000 + index, "message": message} for index, message in enumerate(MESSAGES)])
    return client


@pytest.mark.parametrize(("pattern", "expected"), [
    ('?REPORT ?"platform.report"', [3, 4]),  # the usage reading's pattern: either log format's report
    ("REPORT", [3]),
    ('"Max Memory Used"', [3]),
    ("RequestId r-1", [0, 2, 3]),  # every term
    ("r-1 -END -START", [1, 3]),
    ("?ERROR ?timed", [1, 5]),
    ("requestid", []),  # case-sensitive
])
def test_term_patterns_match_as_aws_matches_them(logs, pattern, expected):
    events = logs.filter_log_events(logGroupName="/aws/lambda/f", filterPattern=pattern)["events"]
    assert [event["message"] for event in events] == [MESSAGES[index] for index in expected]
