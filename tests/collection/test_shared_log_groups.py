"""A JSON-format function in a custom log group it shares with a function outside the fleet, beside a text-format
function in its own group: usage measures each function's own lines, log_retention refuses to shorten the shared
group and names the outside function, and the savings report prices the group once.

Sources: Lambda developer guide, "Configuring advanced logging controls" (LoggingConfig LogFormat and LogGroup),
"Configuring CloudWatch log groups" (several functions may share a group; their streams carry the function's name).
"""

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.projection import MeasuredUsage
from ansible_collections.tap.lambdaopt.plugins.plugin_utils import prices, report, savings
from ansible_collections.tap.lambdaopt.plugins.plugin_utils.run_results import read_run

from tools import fleet_view, simulator

SHARED = "/shared/pipeline"
RECORD_SCHEMA = Path(report.SCHEMA).with_name("change_record.schema.json")
# The hour that just began: the whole simulated history lies before the module's window ends.
END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def mixed_fleet(aws, make_function):
    """signature-verifier-dev (cpu-bound profile, JSON) logs to SHARED, as does batch-processor-prod (memory-heavy,
    outside the dev fleet); transform-dev (steady-light) logs text to its own group, webhook-relay-dev (error-prone)
    JSON to its own. {name: SimulatedUsage}."""
    sizes = {"MemorySize": 3008, "Timeout": 300}
    make_function("signature-verifier-dev", **sizes, LoggingConfig={"LogFormat": "JSON", "LogGroup": SHARED})
    make_function("transform-dev", **sizes)
    make_function("webhook-relay-dev", **sizes, LoggingConfig={"LogFormat": "JSON"})
    make_function("batch-processor-prod", **sizes, LoggingConfig={"LogGroup": SHARED})
    usage = {}
    for suffix in ("dev", "prod"):
        usage.update(simulator.simulate_fleet(aws, suffix, days=2, end=END, traffic_scale=0.25))
    return usage


def by_name(result, key="functions"):
    return {entry["function_name"]: entry for entry in result[key]}


def test_usage_measures_each_function_from_its_own_lines(mixed_fleet, run_module):
    result = run_module("lambda_usage_info", {"suffix": "dev"})
    assert not result.failed
    entries = by_name(result)
    for name, log_format, group in (("signature-verifier-dev", "JSON", SHARED),
                                    ("transform-dev", "Text", "/aws/lambda/transform-dev"),
                                    ("webhook-relay-dev", "JSON", "/aws/lambda/webhook-relay-dev")):
        usage, entry = mixed_fleet[name], entries[name]
        assert entry["log_group"] == {"name": group, "log_format": log_format, "functions": [name]}
        assert entry["configuration"]["log_group"] == group
        assert entry["samples"]["report_lines"] == len(usage.invocations) > 0
        assert entry["max_memory_used_mb"]["max"] == max(i.max_memory_used_mb for i in usage.invocations)
        assert entry["duration_ms"]["p999"] is not None
    # The outside function's far hungrier lines in the same group are not the fleet function's.
    assert max(i.max_memory_used_mb for i in mixed_fleet["batch-processor-prod"].invocations) > \
        entries["signature-verifier-dev"]["max_memory_used_mb"]["max"]
    # IncomingBytes is the group's: both functions' records.
    written = sum(len(message.encode())
                  for name, log_format in (("signature-verifier-dev", "JSON"), ("batch-processor-prod", "Text"))
                  for invocation in mixed_fleet[name].invocations
                  for message in simulator.log_messages(invocation, log_format))
    assert entries["signature-verifier-dev"]["log_ingested_bytes"] == pytest.approx(written, rel=0.02)


def retention(aws, group):
    (found,) = [entry for entry in aws.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
                if entry["logGroupName"] == group]
    return found.get("retentionInDays")


def test_retention_refuses_to_shorten_a_group_shared_outside_the_fleet(aws, mixed_fleet, run_module):
    args = {"suffix": "dev", "retention_days": 7, "allow_data_loss": True}
    result = run_module("log_retention", args)
    entries = {entry["log_group_name"]: entry for entry in result["log_groups"]}
    assert set(entries) == {SHARED, "/aws/lambda/transform-dev", "/aws/lambda/webhook-relay-dev"}
    shared = entries[SHARED]
    assert shared["status"] == "refused" and shared["shared_with"] == ["batch-processor-prod"]
    assert shared["function_names"] == ["signature-verifier-dev"]
    assert "batch-processor-prod" in shared["reason"] and "allow_shared_log_groups" in shared["reason"]
    assert "batch-processor-prod" in str(result["warnings"])
    assert entries["/aws/lambda/transform-dev"]["status"] == "changed"
    assert retention(aws, SHARED) is None and retention(aws, "/aws/lambda/transform-dev") == 7
    assert "/aws/lambda/signature-verifier-dev" not in {
        group["logGroupName"] for group in aws.client("logs").describe_log_groups()["logGroups"]}

    allowed = run_module("log_retention", {**args, "allow_shared_log_groups": True}, check=True)
    planned = {entry["log_group_name"]: entry for entry in allowed["log_groups"]}[SHARED]
    assert planned["status"] == "planned" and "batch-processor-prod" in planned["reason"]
    applied = run_module("log_retention", {**args, "allow_shared_log_groups": True})
    assert applied["changed"] and retention(aws, SHARED) == 7
    views = {state.name: state.retention_days for state in fleet_view.describe(aws, "dev")}
    assert views == {"signature-verifier-dev": 7, "transform-dev": 7, "webhook-relay-dev": 7}
    assert not run_module("log_retention", {**args, "allow_shared_log_groups": True})["changed"]


def test_a_refused_group_names_every_guard_it_breaks(aws, make_function, run_module):
    """Shortening a group shared outside the fleet, without consent to the loss, breaks two guards: both are named,
    with what to set and the risk; a group of the fleet's own breaks only the loss guard."""
    make_function("left-dev", LoggingConfig={"LogGroup": SHARED})
    make_function("outsider-prod", LoggingConfig={"LogGroup": SHARED})
    make_function("own-dev")
    make_function("new-dev")
    for group in (SHARED, "/aws/lambda/own-dev"):
        aws.client("logs").create_log_group(logGroupName=group)
    args = {"suffix": "dev", "retention_days": 7}

    result = run_module("log_retention", args)
    entries = {entry["log_group_name"]: entry for entry in result["log_groups"]}
    shared, own = entries[SHARED], entries["/aws/lambda/own-dev"]
    assert shared["status"] == own["status"] == "refused"
    assert [(refusal["field"], refusal["before"], refusal["requested"], refusal["after"], refusal["risk"])
            for refusal in shared["refused"]] == [
        ("retention_in_days", None, 7, None, "permanent loss of older log events of functions outside the fleet"),
        ("retention_in_days", None, 7, None, "permanent loss of older log events")]
    outside, loss = (refusal["reason"] for refusal in shared["refused"])
    assert "shared with outsider-prod outside the fleet" in outside and "set allow_shared_log_groups" in outside
    assert "deletes events older than 7 days" in loss and "set allow_data_loss or export_bucket" in loss
    assert [refusal["risk"] for refusal in own["refused"]] == ["permanent loss of older log events"]
    assert "set allow_data_loss or export_bucket" in own["refused"][0]["reason"]
    assert entries["/aws/lambda/new-dev"]["status"] == "created" and entries["/aws/lambda/new-dev"]["refused"] == []
    assert result["summary"]["with_refusals"] == 2
    assert retention(aws, SHARED) is None and retention(aws, "/aws/lambda/own-dev") is None

    # Allowed to touch the shared group, it still lacks consent to the loss; with both, nothing is refused.
    planned = run_module("log_retention", {**args, "allow_shared_log_groups": True}, check=True)
    (refusal,) = {entry["log_group_name"]: entry for entry in planned["log_groups"]}[SHARED]["refused"]
    assert refusal["risk"] == "permanent loss of older log events"
    consented = run_module("log_retention", {**args, "allow_shared_log_groups": True, "allow_data_loss": True},
                           check=True)
    assert [entry["refused"] for entry in consented["log_groups"]] == [[], [], []]
    assert {entry["log_group_name"]: entry["status"] for entry in consented["log_groups"]} == {
        SHARED: "planned", "/aws/lambda/own-dev": "planned", "/aws/lambda/new-dev": "unchanged"}


def test_retention_acts_once_on_a_group_several_fleet_functions_share(aws, make_function, run_module):
    for name in ("left-dev", "right-dev"):
        make_function(name, LoggingConfig={"LogGroup": SHARED})
    result = run_module("log_retention", {"suffix": "dev", "retention_days": 30})
    (entry,) = result["log_groups"]
    assert entry["log_group_name"] == SHARED and entry["status"] == "created"
    assert entry["function_names"] == ["left-dev", "right-dev"] and entry["shared_with"] == []
    assert retention(aws, SHARED) == 30


def test_savings_price_a_shared_group_once(aws, make_function, run_module):
    """Two fleet functions in one group: the group's ingestion and storage are one line, not one per function."""
    sizes = {"MemorySize": 3008, "Timeout": 300}
    for name in ("signature-verifier-dev", "transform-dev"):
        make_function(name, **sizes, LoggingConfig={"LogFormat": "JSON", "LogGroup": SHARED})
    simulator.simulate_fleet(aws, "dev", days=2, end=END, traffic_scale=0.25)
    usage = run_module("lambda_usage_info", {"suffix": "dev"})["functions"]
    ingested = {entry["log_ingested_bytes"] for entry in usage}
    assert len(ingested) == 1 and ingested.pop() > 0  # each function's figure is the whole group's
    planned = run_module("log_retention", {"suffix": "dev", "retention_days": 7, "allow_data_loss": True},
                         check=True)
    run = read_run(usage, {"log_retention": planned}, dry_run=True)
    money = savings.build(usage, run, prices.load("us-east-1"), savings.Assumptions())

    for row in money["functions"]:
        assert not [line for line in row["lines"] if line["component"] in ("log_ingestion", "log_storage")]
        assert row["log_retention_days"] == {"before": None, "after": 7}
    group_lines = [line for line in money["shared"]["lines"] if line["component"] in ("log_ingestion", "log_storage")]
    assert [line["item"] for line in group_lines] == [f"Log ingestion {SHARED}", f"Log storage {SHARED}"]
    assert "signature-verifier-dev, transform-dev" in group_lines[0]["basis"]
    single = savings.Costing(prices.load("us-east-1"), savings.Assumptions()).ingestion(
        MeasuredUsage.of(usage[0]))
    assert money["totals"]["by_component"]["log_ingestion"]["before"] == single.before == group_lines[0]["before"]
    document = report.assemble(usage, run, prices.load("us-east-1"), savings.Assumptions(), "123456789012",
                               "us-east-1")
    jsonschema.validate(document, json.loads(report.SCHEMA.read_text()))
    # The retention change is told once, with the group's first function.
    changes = [change for row in money["functions"] for change in row["changes"]
               if change["setting"] == "log_retention_days"]
    assert len(changes) == 1


def test_the_change_record_and_rollback_follow_the_real_group(aws, make_function, run_module):
    from ansible_collections.tap.lambdaopt.plugins.plugin_utils import change_record
    for name in ("left-dev", "right-dev"):
        make_function(name, LoggingConfig={"LogGroup": SHARED})
    aws.client("logs").create_log_group(logGroupName=SHARED)
    result = run_module("log_retention", {"suffix": "dev", "retention_days": 14, "allow_data_loss": True})
    record = change_record.build({"log_retention": dict(result)}, dry_run=False, account_id="123456789012",
                                 region="us-east-1")
    jsonschema.validate(record, json.loads(RECORD_SCHEMA.read_text()))
    [change] = record["changes"]
    assert (change["log_group_name"], change["function_name"], change["before"], change["after"]) == (
        SHARED, "left-dev", None, 14)
    rolled_back = run_module("lambda_rollback", {"record": record})
    assert not rolled_back.failed and rolled_back["changed"]
    assert retention(aws, SHARED) is None
    assert not run_module("lambda_rollback", {"record": record})["changed"]


def test_a_custom_group_without_a_leading_slash_is_exported_under_the_prefix(aws, make_function, run_module):
    make_function("archived-dev", LoggingConfig={"LogGroup": "team-logs"})
    logs = aws.client("logs")
    logs.create_log_group(logGroupName="team-logs")
    logs.create_log_stream(logGroupName="team-logs", logStreamName="2026/11/20/archived-dev[$LATEST]aa")
    logs.put_log_events(logGroupName="team-logs", logStreamName="2026/11/20/archived-dev[$LATEST]aa",
                        logEvents=[{"timestamp": 1_795_000_000_000, "message": "x" * 100}])
    aws.client("s3").create_bucket(Bucket="log-archive")
    result = run_module("log_retention", {"suffix": "dev", "retention_days": 7, "export_bucket": "log-archive"})
    (entry,) = result["log_groups"]
    assert entry["status"] == "changed"
    assert entry["export"]["destination"] == "s3://log-archive/lambdaopt-exports/team-logs"
    assert retention(aws, "team-logs") == 7
