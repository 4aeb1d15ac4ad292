"""log_retention against the emulator: the 4-step matrix, what shortening puts at stake, export first."""

import pytest

from tests.collection.conftest import mutating


def retention(aws):
    return {group["logGroupName"]: group.get("retentionInDays")
            for group in aws.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]}


def by_group(result):
    return {entry["log_group_name"]: entry for entry in result["log_groups"]}


@pytest.fixture
def groups(aws, make_function):
    """Three functions: one group kept forever with events, one at 30 days, one missing."""
    logs = aws.client("logs")
    for name in ("forever-dev", "month-dev", "missing-dev"):
        make_function(name)
    logs.create_log_group(logGroupName="/aws/lambda/forever-dev")
    logs.create_log_stream(logGroupName="/aws/lambda/forever-dev", logStreamName="s")
    logs.put_log_events(logGroupName="/aws/lambda/forever-dev", logStreamName="s",
                        logEvents=[{"timestamp": 1_795_000_000_000 + i, "message": "x" * 100} for i in range(50)])
    logs.create_log_group(logGroupName="/aws/lambda/month-dev")
    logs.put_retention_policy(logGroupName="/aws/lambda/month-dev", retentionInDays=30)
    return logs


def test_four_step_matrix(aws, groups, run_module, api_calls):
    args = {"suffix": "dev", "retention_days": 7, "allow_data_loss": True}
    before = retention(aws)
    checked = run_module("log_retention", args, check=True, diff=True)
    assert checked["changed"] and mutating(api_calls) == [] and retention(aws) == before
    planned = by_group(checked)
    assert planned["/aws/lambda/missing-dev"]["before"] == {"exists": False, "retention_in_days": None}
    assert checked["diff"]["after"]["/aws/lambda/forever-dev"] == {"exists": True, "retention_in_days": 7}
    assert planned["/aws/lambda/forever-dev"]["bytes_at_stake"] > 0
    assert "deletes events older than 7 days" in planned["/aws/lambda/forever-dev"]["reason"]

    applied = run_module("log_retention", args)
    assert applied["changed"]
    assert {entry["status"] for entry in applied["log_groups"]} == {"changed", "created"}
    assert retention(aws) == {f"/aws/lambda/{name}": 7 for name in ("forever-dev", "month-dev", "missing-dev")}

    del api_calls[:]
    assert not run_module("log_retention", args, check=True)["changed"]
    assert not run_module("log_retention", args)["changed"]
    assert mutating(api_calls) == []


def test_shortening_without_consent_is_refused_and_says_what_is_at_stake(aws, groups, run_module):
    result = run_module("log_retention", {"suffix": "dev", "retention_days": 7})
    entries = by_group(result)
    assert not result.failed
    assert entries["/aws/lambda/forever-dev"]["status"] == "refused"
    assert entries["/aws/lambda/forever-dev"]["bytes_at_stake"] == entries["/aws/lambda/forever-dev"]["stored_bytes"]
    (refusal,) = entries["/aws/lambda/forever-dev"]["refused"]
    assert (refusal["requested"], refusal["risk"]) == (7, "permanent loss of older log events")
    assert "set allow_data_loss or export_bucket" in refusal["reason"]
    assert entries["/aws/lambda/missing-dev"]["refused"] == []
    assert entries["/aws/lambda/missing-dev"]["status"] == "created"
    assert retention(aws)["/aws/lambda/forever-dev"] is None
    assert retention(aws)["/aws/lambda/month-dev"] == 30
    assert "set allow_data_loss or export_bucket" in str(result["warnings"])


def test_lengthening_needs_no_consent(aws, groups, run_module):
    result = run_module("log_retention", {"functions": ["month-dev"], "retention_days": 90})
    assert by_group(result)["/aws/lambda/month-dev"]["status"] == "changed"
    assert retention(aws)["/aws/lambda/month-dev"] == 90


def test_export_to_s3_before_shortening(aws, groups, run_module):
    aws.client("s3").create_bucket(Bucket="log-archive")
    result = run_module("log_retention", {"functions": ["forever-dev"], "retention_days": 7,
                                          "export_bucket": "log-archive"})
    entry = by_group(result)["/aws/lambda/forever-dev"]
    assert entry["status"] == "changed" and entry["export"]["status"] == "COMPLETED"
    assert entry["export"]["destination"] == "s3://log-archive/lambdaopt-exports/aws/lambda/forever-dev"
    assert aws.client("s3").list_objects_v2(Bucket="log-archive").get("KeyCount", 0) > 0
    assert retention(aws)["/aws/lambda/forever-dev"] == 7


def test_a_failed_export_leaves_retention_alone_and_fails_the_task(aws, groups, run_module):
    result = run_module("log_retention", {"suffix": "dev", "retention_days": 7, "export_bucket": "no-such-bucket"})
    assert result.failed and "/aws/lambda/forever-dev" in result["failed_log_groups"]
    assert retention(aws)["/aws/lambda/forever-dev"] is None
    assert by_group(result)["/aws/lambda/missing-dev"]["status"] == "created"


def test_never_deletes_a_log_group(aws, groups, run_module, api_calls):
    run_module("log_retention", {"suffix": "dev", "retention_days": 1, "allow_data_loss": True})
    assert not [call for call in api_calls if call[1] == "DeleteLogGroup"]
    assert len(retention(aws)) == 3


@pytest.mark.parametrize("args, message", [
    ({"suffix": "dev", "retention_days": 8}, "value of retention_days must be one of: 1, 3, 5, 7"),
    ({"suffix": "dev"}, "missing required arguments: retention_days"),
    ({"suffix": "dev", "retention_days": 7, "export_timeout": 0}, "export_timeout must be at least 1"),
])
def test_bad_input_fails_before_any_api_call(aws, run_module, api_calls, args, message):
    result = run_module("log_retention", args)
    assert result.failed and message in result["msg"]
    assert api_calls == []
