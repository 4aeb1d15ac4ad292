"""The write-ahead journal, without AWS: each line is on disk and chained to the one before; a line cut short by a
kill is dropped, any other change to the file refuses it whole; as a record, its changes pass record_trust."""

import json
import threading

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import journal, record_trust, rollback
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import api as lambda_api

ARN = "arn:aws:lambda:us-east-1:123456789012:function:transform-dev"


def write_run(path):
    book = journal.Journal(str(path))
    memory = book.intent(ARN, "transform-dev", {"memory_size": 512, "timeout": 30},
                         {"memory_size": 3008, "timeout": 300, "tracing_mode": "PassThrough"})
    book.done(memory)
    book.intent(ARN, "transform-dev", {"log_retention_days": 7}, {"log_retention_days": None},
                log_group_name="/aws/lambda/transform-dev")
    return book


def test_a_run_reads_back_as_a_record_that_claims_nothing_unseen(tmp_path):
    path = tmp_path / "host" / "lambdaopt-journal-1.jsonl"
    write_run(path)
    record = journal.as_record(path.read_text())
    assert (record["account_id"], record["region"]) == ("123456789012", "us-east-1")
    changes = {change["field"]: change for change in record["changes"]}
    assert changes["memory_size"]["before"] == 3008 and changes["memory_size"]["after"] == 512
    assert changes["memory_size"]["module"] == "tap.lambdaopt.lambda_rightsize"
    assert changes["memory_size"]["reason"] == "journaled, accepted"
    assert changes["log_retention_days"]["reason"].startswith("journaled, not seen accepted")
    assert changes["log_retention_days"]["log_group_name"] == "/aws/lambda/transform-dev"
    assert "tracing_mode" not in changes  # read, never announced
    assert record_trust.Checker(record).run() == []


def test_a_last_line_cut_short_by_a_kill_is_dropped(tmp_path):
    path = tmp_path / "lambdaopt-journal-1.jsonl"
    write_run(path)
    whole = path.read_text()
    path.write_text(whole + '{"kind": "tap.lambdaopt journal", "event": "intent", "fie')
    assert journal.as_record(path.read_text()) == journal.as_record(whole)
    # and the next line is chained to the last whole one
    journal.Journal(str(path)).append("done", intent="x")
    assert journal.parse(path.read_text())[-1]["event"] == "done"


@pytest.mark.parametrize("tamper", ["edit", "drop", "swap"])
def test_a_journal_changed_since_it_was_written_is_refused_whole(tmp_path, tamper):
    path = tmp_path / "lambdaopt-journal-1.jsonl"
    write_run(path)
    lines = path.read_text().splitlines()
    if tamper == "edit":
        lines[0] = lines[0].replace('"before": 3008', '"before": 10240')
    elif tamper == "drop":
        del lines[1]
    else:
        lines[1], lines[2] = lines[2], lines[1]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(journal.JournalError, match="line"):
        journal.as_record(path.read_text())


def test_a_rechained_journal_still_meets_the_scope_checks(tmp_path):
    """Whoever can write the file can rebuild the chain: what it may ask for is bounded by record_trust."""
    path = tmp_path / "lambdaopt-journal-1.jsonl"
    book = journal.Journal(str(path))
    book.intent(ARN, "transform-dev", {"memory_size": 512}, {"memory_size": 999999})
    book.intent("arn:aws:lambda:us-east-1:123456789012:function:x", "transform-dev", {"runtime": "python3.12"},
                {"runtime": "nodejs"})
    problems = record_trust.Checker(journal.as_record(path.read_text())).run()
    assert any("999999" in problem for problem in problems)
    assert any("'runtime' is not a setting" in problem for problem in problems)


def test_two_accounts_in_one_journal_are_refused(tmp_path):
    path = tmp_path / "lambdaopt-journal-1.jsonl"
    book = journal.Journal(str(path))
    book.intent(ARN, "transform-dev", {"memory_size": 512}, {"memory_size": 3008})
    book.intent(ARN.replace("123456789012", "999999999999"), "transform-dev", {"memory_size": 512},
                {"memory_size": 3008})
    with pytest.raises(journal.JournalError, match="more than one account-region"):
        journal.as_record(path.read_text())


def test_threads_of_one_module_keep_one_chain(tmp_path):
    path = tmp_path / "lambdaopt-journal-1.jsonl"
    book = journal.Journal(str(path))
    threads = [threading.Thread(target=lambda i=i: book.done(book.intent(
        ARN, f"f{i}", {"memory_size": 512}, {"memory_size": 3008}))) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = journal.parse(path.read_text())
    assert len(entries) == 16
    assert {entry["intent"] for entry in entries if entry["event"] == "done"} == {
        entry["digest"] for entry in entries if entry["event"] == "intent"}
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_appends_of_one_process_read_the_file_once_and_another_writer_in_between_is_read(tmp_path, monkeypatch):
    path = str(tmp_path / "lambdaopt-journal-1.jsonl")
    reads = []
    whole = journal.Journal.last_digest
    monkeypatch.setattr(journal.Journal, "last_digest", staticmethod(lambda fd: reads.append(fd) or whole(fd)))
    ours = journal.Journal(path)
    for i in range(50):
        ours.done(ours.intent(ARN, f"f{i}", {"memory_size": 512}, {"memory_size": 3008}))
    assert len(reads) == 1  # the first append reads the (empty) file; the rest chain to what was written
    # Another process appends (with its own record of what it wrote); back in ours, the file has grown since our
    # last line, so it is read again, whole.
    ours_written = dict(journal._LAST_WRITTEN)
    monkeypatch.setattr(journal, "_LAST_WRITTEN", {})
    journal.Journal(path).intent(ARN, "other", {"timeout": 30}, {"timeout": 300})
    monkeypatch.setattr(journal, "_LAST_WRITTEN", ours_written)
    ours.intent(ARN, "last", {"timeout": 60}, {"timeout": 300})
    entries = journal.parse(open(path).read())  # one unbroken chain
    assert [entry.get("function_name") for entry in entries[-2:]] == ["other", "last"]
    assert len(reads) == 3


def test_an_alias_allocation_keeps_its_qualifier(tmp_path):
    path = tmp_path / "lambdaopt-journal-1.jsonl"
    journal.Journal(str(path)).intent(ARN, "api-handler-dev", {"provisioned_concurrency": 102},
                                      {"provisioned_concurrency": 150}, qualifier="live")
    [change] = journal.as_record(path.read_text())["changes"]
    assert (change["qualifier"], change["before"], change["after"]) == ("live", 150, 102)
    assert change["module"] == "tap.lambdaopt.lambda_provisioned_concurrency"
    assert record_trust.Checker(journal.as_record(path.read_text())).run() == []


ROLE_ARN = "arn:aws:iam::123456789012:role/transform-role-dev"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:api-key-dev-AbCdEf"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:lambda-dlq-dev"
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/data-table-dev"
XRAY = {"Version": "2012-10-17", "Statement": [{"Sid": "LambdaoptXrayWriteFordev", "Effect": "Allow",
                                                "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                                                "Resource": "*"}]}
ON_DEMAND = {"billing_mode": "PAY_PER_REQUEST", "read_capacity": None, "write_capacity": None}
PROVISIONED = {"billing_mode": "PROVISIONED", "read_capacity": 5, "write_capacity": 5}


def announce_hardening(monkeypatch, path) -> None:
    """What a run's hardening and table steps announce, each accepted."""
    monkeypatch.setenv(journal.ENVIRONMENT_VARIABLE, str(path))
    journal.announce("role_policy", ROLE_ARN, role_name="transform-role-dev", policy_name="lambdaopt-xray-write",
                     before=None, after=XRAY)()
    journal.announce("resource", QUEUE_ARN, resource_kind="sqs_queue", name="lambda-dlq-dev", change="created")()
    journal.announce("alarm", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:lambdaopt-transform-dev-duration",
                     alarm_name="lambdaopt-transform-dev-duration", function_name="transform-dev", queue_name=None,
                     change="created")()
    journal.announce("resource", None, resource_kind="secret", name="api-key-dev", change="created")(arn=SECRET_ARN)
    journal.announce("table", TABLE_ARN, table_name="data-table-dev", before=ON_DEMAND, after=PROVISIONED,
                     reason="steady traffic")()


def recorded_hardening() -> dict:
    """The change record of the same run, from its modules' results."""
    from ansible_collections.tap.lambdaopt.plugins.plugin_utils import change_record
    results = {
        "tracing": {"functions": [], "role_policies": [{"role_name": "transform-role-dev",
                                                        "policy_name": "lambdaopt-xray-write", "before": None,
                                                        "after": XRAY, "status": "changed"}]},
        "dead_letter_queues": {"functions": [], "queues": [{"queue_name": "lambda-dlq-dev", "queue_arn": QUEUE_ARN,
                                                           "status": "created"}]},
        "alarms": {"alarms": [{"alarm_name": "lambdaopt-transform-dev-duration", "function_name": "transform-dev",
                               "status": "created"}]},
        "secrets": {"functions": [], "secrets": [{"env": "API_KEY", "secret_name": "api-key-dev",
                                                  "secret_arn": SECRET_ARN, "status": "created", "action": "create"}]},
        "tables": {"tables": [{"table_name": "data-table-dev", "status": "changed", "before": ON_DEMAND,
                               "after": PROVISIONED, "changes": [{"reason": "steady traffic"}]}]},
    }
    return change_record.build(results, False, "123456789012", "us-east-1")


def test_hardening_and_tables_read_back_in_the_shapes_of_a_change_record(tmp_path, monkeypatch):
    path = tmp_path / "lambdaopt-journal-1.jsonl"
    announce_hardening(monkeypatch, path)
    record, recorded = journal.as_record(path.read_text()), recorded_hardening()
    for section in ("role_policies", "alarms", "resources", "tables"):
        assert record[section] == recorded[section], section
    assert (record["account_id"], record["region"]) == ("123456789012", "us-east-1")
    assert record_trust.Checker(record).run() == []


def test_without_a_journal_announcing_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(journal.ENVIRONMENT_VARIABLE, raising=False)
    journal.announce("alarm", None, alarm_name="lambdaopt-x", change="created")()
    assert list(tmp_path.iterdir()) == []


def test_a_change_announced_but_not_seen_accepted_claims_nothing(tmp_path, monkeypatch):
    path = tmp_path / "lambdaopt-journal-1.jsonl"
    monkeypatch.setenv(journal.ENVIRONMENT_VARIABLE, str(path))
    journal.announce("role_policy", ROLE_ARN, role_name="transform-role-dev", policy_name="lambdaopt-xray-write",
                     before=None, after=XRAY)
    journal.announce("alarm", None, alarm_name="lambdaopt-transform-dev-duration", function_name="transform-dev",
                     queue_name=None, change="created")
    journal.announce("alarm", None, alarm_name="lambdaopt-old-dev-duration", function_name="old-dev",
                     queue_name=None, change="deleted")
    journal.announce("resource", None, resource_kind="secret", name="api-key-dev", change="created")
    journal.announce("table", TABLE_ARN, table_name="data-table-dev", before=ON_DEMAND, after=PROVISIONED,
                     reason=None)
    record = journal.as_record(path.read_text())
    assert record_trust.Checker(record).run() == []
    # Rollback reads the account: a policy and a table still as they were are "unchanged", an alarm never made is
    # not deleted; a deletion not seen accepted is not listed; a secret that may exist is reported, not claimed.
    [policy] = rollback.plan_policies(record["role_policies"], {("transform-role-dev", "lambdaopt-xray-write"): None},
                                      force=False)
    assert policy.decision == "unchanged"
    [table] = rollback.settle_decisions(rollback.plan_tables(record["tables"], {"data-table-dev": ON_DEMAND}), False)
    assert table.decision == "unchanged"
    assert [alarm.decision for alarm in rollback.plan_alarms(record["alarms"], existing=set())] == ["unchanged"]
    [secret] = rollback.plan_resources(record["resources"])
    assert (secret.entry["field"], secret.decision, secret.entry["reason"]) == (
        "interrupted", "kept", rollback.KEPT_RESOURCE_REASONS["interrupted"])
    # and where the calls had landed, each is put back
    [policy] = rollback.plan_policies(record["role_policies"],
                                      {("transform-role-dev", "lambdaopt-xray-write"): XRAY}, force=False)
    assert policy.decision == "restore"
    assert [alarm.decision for alarm in rollback.plan_alarms(
        record["alarms"], existing={"lambdaopt-transform-dev-duration"})] == ["restore"]


def test_a_journal_of_role_policies_alone_takes_the_region_it_is_rolled_back_in(tmp_path, monkeypatch):
    path = tmp_path / "lambdaopt-journal-1.jsonl"
    monkeypatch.setenv(journal.ENVIRONMENT_VARIABLE, str(path))
    journal.announce("role_policy", ROLE_ARN, role_name="transform-role-dev", policy_name="lambdaopt-xray-write",
                     before=None, after=XRAY)()
    record = journal.as_record(path.read_text(), "eu-west-1")
    assert (record["account_id"], record["region"]) == ("123456789012", "eu-west-1")
    monkeypatch.setenv(journal.ENVIRONMENT_VARIABLE, str(path))
    journal.announce("role_policy", ROLE_ARN.replace("123456789012", "999999999999"),
                     role_name="other-role", policy_name="lambdaopt-xray-write", before=None, after=XRAY)()
    with pytest.raises(journal.JournalError, match="more than one account-region"):
        journal.as_record(path.read_text(), "eu-west-1")


def test_a_policy_written_twice_keeps_its_first_before(tmp_path, monkeypatch):
    path = tmp_path / "lambdaopt-journal-1.jsonl"
    monkeypatch.setenv(journal.ENVIRONMENT_VARIABLE, str(path))
    for before, after in ((None, XRAY), (XRAY, None)):
        journal.announce("role_policy", ROLE_ARN, role_name="transform-role-dev",
                         policy_name="lambdaopt-xray-write", before=before, after=after)()
    [policy] = journal.as_record(path.read_text())["role_policies"]
    assert (policy["before"], policy["after"]) == (None, None)


def test_an_unknown_subject_is_refused(tmp_path):
    path = tmp_path / "lambdaopt-journal-1.jsonl"
    journal.Journal(str(path)).append("intent", subject="bucket", resource_arn=None, name="x")
    with pytest.raises(journal.JournalError, match="'bucket'"):
        journal.as_record(path.read_text())


def test_of_an_environment_only_the_variables_the_update_changes_are_journaled(tmp_path, monkeypatch):
    path = tmp_path / "lambdaopt-journal-1.jsonl"
    monkeypatch.setenv(journal.ENVIRONMENT_VARIABLE, str(path))
    variables = {"DB_PASSWORD": "hunter2", "API_KEY_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:"
                                                                 "secret:old-AbCdEf"}
    function = {"Configuration": {"FunctionArn": ARN, "FunctionName": "transform-dev", "MemorySize": 512,
                                  "Timeout": 30, "Environment": {"Variables": variables}}}
    wanted = {**variables, "API_KEY_SECRET_ARN": SECRET_ARN, "TOKEN_SECRET_ARN": SECRET_ARN}
    lambda_api.journal_done(lambda_api.journal_intent(function, {"environment": wanted}))
    assert "hunter2" not in path.read_text()
    [change] = journal.as_record(path.read_text())["changes"]
    assert (change["field"], change["module"]) == ("environment", "tap.lambdaopt.lambda_secrets")
    assert change["before"] == {"API_KEY_SECRET_ARN": variables["API_KEY_SECRET_ARN"]}
    assert change["after"] == {"API_KEY_SECRET_ARN": SECRET_ARN, "TOKEN_SECRET_ARN": SECRET_ARN}
    # an environment the update leaves as it is announces nothing
    path.unlink()
    assert lambda_api.journal_intent(function, {"environment": dict(variables)}) is None
    assert not path.exists()


def test_changed_variables():
    assert journal.changed_variables({"A": "1", "B": "2", "C": "3"}, {"A": "1", "B": "x", "D": "4"}) == (
        {"B": "2", "C": "3"}, {"B": "x", "D": "4"})


@pytest.mark.parametrize("arn, place", [
    (ARN, ("123456789012", "us-east-1")),
    (ROLE_ARN, ("123456789012", "")),  # a global service's ARN names no region
    (TABLE_ARN, ("123456789012", "us-east-1")),
])
def test_an_intent_is_placed_by_its_resources_arn(arn, place):
    assert journal.account_and_region(arn) == place


@pytest.mark.parametrize("text", ["transform-dev", "arn:aws:lambda", f"see {ARN}", ""])
def test_an_intent_on_what_is_not_an_arn_is_refused(text):
    with pytest.raises(journal.JournalError, match="is not an ARN"):
        journal.account_and_region(text)


ALIAS_ARN = f"{ARN}:live"


def announce_canary(monkeypatch, path, promote: bool):
    """What lambda_canary journals: the version it publishes, the weight it shifts, then the promotion or the roll
    back (and then the version's deletion)."""
    monkeypatch.setenv(journal.ENVIRONMENT_VARIABLE, str(path))
    journal.announce("resource", ARN, resource_kind="lambda_version", name="transform-dev",
                     change="created")(arn=f"{ARN}:4")
    journal.announce("alias", ALIAS_ARN, function_name="transform-dev", alias_name="live",
                     before={"function_version": "3", "additional_version_weights": {}},
                     after={"function_version": "3", "additional_version_weights": {"4": 0.1}},
                     change="weight shifted")()
    journal.announce("alias", ALIAS_ARN, function_name="transform-dev", alias_name="live",
                     before={"function_version": "3", "additional_version_weights": {"4": 0.1}},
                     after={"function_version": "4" if promote else "3", "additional_version_weights": {}},
                     change="promoted" if promote else "rolled back")()
    if not promote:
        journal.announce("resource", f"{ARN}:4", resource_kind="lambda_version", name="transform-dev",
                         change="deleted")()


def test_a_canary_reads_back_as_the_aliases_first_before_and_last_after_and_its_version(tmp_path, monkeypatch):
    path = tmp_path / "lambdaopt-journal-1.jsonl"
    announce_canary(monkeypatch, path, promote=True)
    record = journal.as_record(path.read_text())
    assert record["aliases"] == [{
        "function_name": "transform-dev", "alias_name": "live", "module": "tap.lambdaopt.lambda_canary",
        "before": {"function_version": "3", "additional_version_weights": {}},
        "after": {"function_version": "4", "additional_version_weights": {}}}]
    assert record["resources"] == [{"kind": "lambda_version", "name": "transform-dev", "arn": f"{ARN}:4",
                                    "change": "created", "module": "tap.lambdaopt.lambda_canary"}]
    assert record_trust.Checker(record).run() == []


def test_a_rolled_back_canary_reads_back_as_an_alias_where_it_was_and_its_version_deleted(tmp_path, monkeypatch):
    path = tmp_path / "lambdaopt-journal-1.jsonl"
    announce_canary(monkeypatch, path, promote=False)
    record = journal.as_record(path.read_text())
    [alias] = record["aliases"]
    assert alias["before"] == alias["after"] == {"function_version": "3", "additional_version_weights": {}}
    assert [(resource["arn"], resource["change"]) for resource in record["resources"]] == [(f"{ARN}:4", "deleted")]
    assert record_trust.Checker(record).run() == []


def test_a_weight_shift_not_seen_accepted_is_read_as_an_alias_that_may_route(tmp_path, monkeypatch):
    path = tmp_path / "lambdaopt-journal-1.jsonl"
    monkeypatch.setenv(journal.ENVIRONMENT_VARIABLE, str(path))
    journal.announce("resource", ARN, resource_kind="lambda_version", name="transform-dev", change="created")
    journal.announce("alias", ALIAS_ARN, function_name="transform-dev", alias_name="live",
                     before={"function_version": "3", "additional_version_weights": {}},
                     after={"function_version": "3", "additional_version_weights": {"4": 0.1}},
                     change="weight shifted")
    record = journal.as_record(path.read_text())
    [alias] = record["aliases"]
    assert alias["after"]["additional_version_weights"] == {"4": 0.1}
    # the version's publication was never seen accepted: its number is unknown, and it is reported, not claimed
    assert [(resource["arn"], resource["change"]) for resource in record["resources"]] == [(ARN, "interrupted")]
    assert record_trust.Checker(record).run() == []


def test_a_version_lambda_already_had_is_not_the_runs_to_delete(tmp_path, monkeypatch):
    """PublishVersion answers with the existing version when $LATEST is unchanged since it was published: the
    canary journals it as reused, and the record claims no version."""
    path = tmp_path / "lambdaopt-journal-1.jsonl"
    monkeypatch.setenv(journal.ENVIRONMENT_VARIABLE, str(path))
    journal.announce("resource", ARN, resource_kind="lambda_version", name="transform-dev",
                     change="created")(arn=f"{ARN}:3", reused=True)
    record = journal.as_record(path.read_text())
    assert record["resources"] == []
