"""The write-ahead journal, without AWS: each line is on disk and chained to the one before; a line cut short by a
kill is dropped, any other change to the file refuses it whole; as a record, its changes pass record_trust."""

import json
import threading

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import journal, record_trust

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


def test_an_alias_allocation_keeps_its_qualifier(tmp_path):
    path = tmp_path / "lambdaopt-journal-1.jsonl"
    journal.Journal(str(path)).intent(ARN, "api-handler-dev", {"provisioned_concurrency": 102},
                                      {"provisioned_concurrency": 150}, qualifier="live")
    [change] = journal.as_record(path.read_text())["changes"]
    assert (change["qualifier"], change["before"], change["after"]) == ("live", 150, 102)
    assert change["module"] == "tap.lambdaopt.lambda_provisioned_concurrency"
    assert record_trust.Checker(journal.as_record(path.read_text())).run() == []
