"""The change record holds provisioned concurrency and table throughput changes, as applied or planned."""

import json
from datetime import datetime

import jsonschema
from ansible_collections.tap.lambdaopt.plugins.module_utils import journal, record_schema
from ansible_collections.tap.lambdaopt.plugins.plugin_utils import change_record, report_render, run_results

from tests.test_setup import COLLECTION
from tests.unit.test_savings import full_plan, function

SCHEMA = json.loads((COLLECTION / "data" / "change_record.schema.json").read_text())
ALIAS = {"function_name": "api-handler-dev", "qualifier": "live", "status": "changed",
         "before": {"provisioned_concurrency": 150}, "after": {"provisioned_concurrency": 102},
         "changes": [{"field": "provisioned_concurrency", "before": 150, "after": 102, "requested": "auto",
                      "reason": "idle: observed peak use 85 x headroom 1.2 = 102", "risk": None}], "refused": []}
TABLE = {"table_name": "data-table-dev", "status": "changed",
         "before": {"billing_mode": "PROVISIONED", "read_capacity": 100, "write_capacity": 100},
         "after": {"billing_mode": "PROVISIONED", "read_capacity": 7, "write_capacity": 4},
         "changes": [{"field": "read_capacity", "before": 100, "after": 7, "reason": "peak 4.1 x 1.5"},
                     {"field": "write_capacity", "before": 100, "after": 4, "reason": "peak 2.3 x 1.5"}],
         "refused": []}


def build(status="changed", dry_run=False):
    results = {"provisioned_concurrency": {"aliases": [{**ALIAS, "status": status}]},
               "tables": {"tables": [{**TABLE, "status": status}]}}
    return change_record.build(results, dry_run, "123456789012", "us-east-1")


def test_applied_changes_are_recorded_with_their_module():
    record = build()
    jsonschema.validate(record, SCHEMA)
    (change,) = record["changes"]
    assert change == {"function_name": "api-handler-dev", "field": "provisioned_concurrency", "before": 150,
                      "after": 102, "module": "tap.lambdaopt.lambda_provisioned_concurrency",
                      "reason": ALIAS["changes"][0]["reason"], "qualifier": "live"}
    (table,) = record["tables"]
    assert (table["before"], table["after"]) == (TABLE["before"], TABLE["after"])
    assert table["module"] == "tap.lambdaopt.dynamodb_capacity"
    assert table["reason"] == "peak 4.1 x 1.5; peak 2.3 x 1.5"


def test_a_failed_change_is_recorded_as_failed_not_as_a_change():
    record = build(status="failed")
    assert record["changes"] == [] and record["tables"] == []
    assert {entry["function_name"] for entry in record["failed"]} == {"api-handler-dev", "data-table-dev"}


def test_a_dry_run_record_shows_the_plan():
    record = build(status="planned", dry_run=True)
    assert record["mode"] == "dry_run" and len(record["changes"]) == 1 and len(record["tables"]) == 1


def test_the_record_carries_the_digest_of_its_content_and_rollback_trusts_it():
    from ansible_collections.tap.lambdaopt.plugins.module_utils import record_trust
    record = build()
    assert record["schema_version"] == 2 and record["digest"] == record_trust.digest(record)
    record_trust.check_record(json.loads(json.dumps(record, indent=2)))  # as written to the file and read back


XRAY = {"Version": "2012-10-17", "Statement": [{"Sid": "WriteXRayTraces", "Effect": "Allow", "Resource": "*",
                                                "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]}]}


def test_a_role_policy_is_recorded_as_written_and_a_failed_grant_is_no_change():
    functions = [{"function_name": f"f{number}-dev", "role_name": f"r{number}", "status": "changed",
                  "before": {"tracing_mode": "PassThrough"}, "after": {"tracing_mode": "Active"}}
                 for number in (1, 2)]
    functions.append({"function_name": "f3-dev", "role_name": "r3", "status": "failed", "error": "conflict",
                      "before": {"tracing_mode": "PassThrough"}, "after": {"tracing_mode": "PassThrough"}})
    policies = [{"role_name": "r1", "policy_name": "lambdaopt-xray-write", "before": None, "after": XRAY},
                {"role_name": "r2", "policy_name": "lambdaopt-xray-write", "before": None, "after": None,
                 "status": "failed", "error": "AccessDenied"},
                # Written, though the role's function then failed: the policy stays, so rollback must see it.
                {"role_name": "r3", "policy_name": "lambdaopt-xray-write", "before": None, "after": XRAY,
                 "status": "changed"}]
    record = change_record.build({"tracing": {"functions": functions, "role_policies": policies}}, False,
                                 "123456789012", "us-east-1")
    jsonschema.validate(record, SCHEMA)
    assert [(policy["role_name"], sorted(policy)) for policy in record["role_policies"]] == [
        (role, ["after", "before", "module", "policy_name", "role_name"]) for role in ("r1", "r3")]


def test_the_record_and_the_savings_report_tell_what_one_reading_found():
    """Both are built from one reading of the registered results: the same changes, refusals and failures."""
    results = full_plan("busy-dev")
    results["provisioned_concurrency"] = {"aliases": [ALIAS, {**ALIAS, "qualifier": "blue", "status": "failed",
                                                               "error": "conflict"}]}
    results["tables"] = {"tables": [TABLE]}
    usage = [function("busy-dev", 33_600), function("api-handler-dev", 33_600)]
    reading = run_results.read(results, dry_run=False)
    record = change_record.of_run(reading, "123456789012", "us-east-1")
    outcome = run_results.read_run(usage, results, dry_run=False)
    assert record == change_record.build(results, False, "123456789012", "us-east-1",
                                         now=datetime.fromisoformat(record["recorded_at"]))
    told = {(name, change["setting"], change["before"], change["after"])
            for name, row in outcome.functions.items() for change in row.changes}
    assert {(change["function_name"], change["field"], change["before"], change["after"])
            for change in record["changes"]} == {("api-handler-dev", "provisioned_concurrency", 150, 102)}
    assert told == {("api-handler-dev", "provisioned_concurrency (live)", 150, 102)}  # the plan was not applied
    assert [(failure["function_name"], failure["module"]) for failure in record["failed"]] == [
        ("api-handler-dev", "tap.lambdaopt.lambda_provisioned_concurrency")]
    assert outcome.functions["api-handler-dev"].failed == [{"task": "lambda_provisioned_concurrency",
                                                            "error": "conflict"}]
    assert [(refusal["function_name"], refusal["field"]) for refusal in record["refused"]] == [
        ("busy-dev", "reserved_concurrency")]
    assert [refusal["setting"] for refusal in outcome.functions["busy-dev"].refused] == ["reserved_concurrency"]
    (table,) = record["tables"]
    assert [(change["setting"], change["after"]) for change in outcome.table_changes] == [
        ("data-table-dev read_capacity", 7), ("data-table-dev write_capacity", 4)]
    assert table["reason"] == "; ".join(change["reason"] for change in outcome.table_changes)


def test_the_record_is_of_the_kind_and_version_its_readers_accept():
    record = build()
    assert (record["kind"], record["schema_version"], record["mode"]) == (
        record_schema.KIND, record_schema.SCHEMA_VERSION, record_schema.APPLIED)
    rebuilt = journal.as_record("", "us-east-1")  # what rollback makes of a killed run's journal
    assert (rebuilt["kind"], rebuilt["schema_version"], rebuilt["mode"]) == (
        record["kind"], record["schema_version"], record["mode"])
    assert build(status="planned", dry_run=True)["mode"] == record_schema.DRY_RUN


def test_a_right_sizing_change_records_the_evidence_it_was_projected_with():
    from ansible_collections.tap.lambdaopt.plugins.module_utils import record_trust

    entry = {"function_name": "api-handler-dev", "status": "changed",
             "before": {"memory_size": 3008, "timeout": 300, "reserved_concurrency": None},
             "after": {"memory_size": 1536, "timeout": 300, "reserved_concurrency": None},
             "changes": [{"field": "memory_size", "before": 3008, "after": 1536, "requested": "auto",
                          "reason": "one step towards 640 MB", "risk": None}],
             "refused": [{"field": "timeout", "before": 300, "after": 300, "requested": 2,
                          "reason": "2 s is below the observed max", "risk": "timeout"}],
             "scaling": {"evidence": "Lambda Insights", "cpu_fraction": 0.2, "cpu_fraction_bounds": [0.19, 0.21],
                         "detail": "CPU time 79 ms of 397 ms"}}
    record = change_record.build({"rightsize": {"functions": [entry]}}, False, "123456789012", "us-east-1")
    jsonschema.validate(record, SCHEMA)
    (change,) = record["changes"]
    assert change["evidence"] == "Lambda Insights"
    record_trust.check_record(json.loads(json.dumps(record)))
    forged = json.loads(json.dumps(record))
    forged["changes"][0]["evidence"] = "a hunch"
    forged.pop("digest", None)
    try:
        record_trust.check_record(record_trust.with_digest(forged))
    except record_trust.RecordError as error:
        assert "evidence 'a hunch' is not one the collection decides from" in str(error)
    else:
        raise AssertionError("a record naming unknown evidence was trusted")
    outcome = run_results.read_run([{"function_name": "api-handler-dev", "configuration": {"memory_size": 3008}}],
                                   {"rightsize": {"functions": [entry]}}, dry_run=False)
    told = outcome.functions["api-handler-dev"]
    assert [change["evidence"] for change in told.changes] == ["Lambda Insights"]
    assert [refusal["evidence"] for refusal in told.refused] == ["Lambda Insights"]
    notes = report_render.notes({"functions": [{"function_name": "api-handler-dev", "changes": told.changes,
                                                "refused": told.refused, "failed": [], "unknown": []}]})
    assert notes["changes"][0][1].endswith("Evidence: Lambda Insights.")
    assert notes["refused"][0][1].endswith("Evidence: Lambda Insights.")


CANARY_ARN = "arn:aws:lambda:us-east-1:123456789012:function:api-handler-dev:live"


def canary_entry(decision="promoted", created=True):
    """An alias's entry as lambda_canary returns it, promoted to version 4 or rolled back to version 3."""
    before = {"function_version": "3", "additional_version_weights": {}, "memory_size": 3008, "timeout": 300}
    promoted = decision == "promoted"
    entry = {"function_name": "api-handler-dev", "qualifier": "live", "alias_arn": CANARY_ARN,
             "status": "changed" if promoted else "refused", "before": before,
             "after": {**before, "function_version": "4", "memory_size": 1024} if promoted else dict(before),
             "delivered": {"memory_size": [3008, 1024]}, "provisioned_concurrency": None,
             "canary": {"version": "4", "created": created, "weight": 0.1, "bake_minutes": 30},
             "verdict": {"decision": decision.replace(" ", "_"), "reason": "regressed: p99 duration x3.2"},
             "refused": [] if promoted else [{"field": "function_version", "reason": "regressed: p99 duration x3.2",
                                              "risk": "latency"}]}
    return entry


def test_a_promoted_canary_records_the_alias_and_the_version_it_published():
    record = change_record.build({"canary": {"aliases": [canary_entry()]}}, False, "123456789012", "us-east-1")
    assert record["aliases"] == [{"function_name": "api-handler-dev", "alias_name": "live",
                                  "before": {"function_version": "3", "additional_version_weights": {}},
                                  "after": {"function_version": "4", "additional_version_weights": {}},
                                  "module": "tap.lambdaopt.lambda_canary"}]
    assert record["resources"] == [{"kind": "lambda_version", "name": "api-handler-dev",
                                    "arn": "arn:aws:lambda:us-east-1:123456789012:function:api-handler-dev:4",
                                    "change": "created", "module": "tap.lambdaopt.lambda_canary"}]
    jsonschema.validate(record, SCHEMA)
    from ansible_collections.tap.lambdaopt.plugins.module_utils import record_trust
    record_trust.check_record(record)


def test_a_rolled_back_canary_records_no_move_and_its_refusal():
    record = change_record.build({"canary": {"aliases": [canary_entry("rolled back")]}}, False, "123456789012",
                                 "us-east-1")
    assert (record["aliases"], record["resources"]) == ([], [])
    assert [(refusal["function_name"], refusal["field"], refusal["qualifier"], refusal["module"])
            for refusal in record["refused"]] == [
        ("api-handler-dev", "function_version", "live", "tap.lambdaopt.lambda_canary")]
    jsonschema.validate(record, SCHEMA)


def test_a_reused_version_is_not_recorded_as_created_and_a_dry_run_records_no_move():
    record = change_record.build({"canary": {"aliases": [canary_entry(created=False)]}}, False, "123456789012",
                                 "us-east-1")
    assert len(record["aliases"]) == 1 and record["resources"] == []
    planned = {**canary_entry(), "status": "planned",
               "after": {"function_version": "new", "additional_version_weights": {}}}
    assert change_record.build({"canary": {"aliases": [planned]}}, True, "123456789012", "us-east-1")["aliases"] == []
