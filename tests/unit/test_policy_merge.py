"""Merging the collection's statements into role policies other suffixes and people share (pure)."""

import json
import re

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import policy_merge as merge
from ansible_collections.tap.lambdaopt.plugins.module_utils.rollback import plan_policies
from hypothesis import given
from hypothesis import strategies as st

XRAY = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
HAND_WRITTEN = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::team-bucket/*"}
QUEUE = "arn:aws:sqs:us-east-1:123456789012:{}"
# Function names are letters, digits, - and _; so are the suffixes of their fleets.
suffixes = st.text(alphabet="abcXYZxz019-_", min_size=1, max_size=12)


def send(suffix, *queues):
    return merge.statement(merge.statement_id("DlqSend", suffix), ["sqs:SendMessage"],
                           [QUEUE.format(queue) for queue in queues])


@given(suffixes)
def test_a_sid_is_letters_and_digits_and_gives_back_its_suffix(suffix):
    sid = merge.statement_id("XrayWrite", suffix)
    # IAM: "The Sid element supports ASCII uppercase letters (A-Z), lowercase letters (a-z), and numbers (0-9)."
    assert re.fullmatch(r"[A-Za-z0-9]+", sid)
    assert merge.sid_suffix("XrayWrite", sid) == suffix
    assert merge.sid_suffix("DlqSend", sid) is None


@given(suffixes, suffixes)
def test_two_suffixes_never_share_a_sid(first, second):
    assert (merge.statement_id("DlqSend", first) == merge.statement_id("DlqSend", second)) == (first == second)


def test_sids_read_as_what_they_are():
    assert merge.statement_id("XrayWrite", "dev") == "LambdaoptXrayWriteFordev"
    assert merge.statement_id("XrayWrite", "pr-7") == "LambdaoptXrayWriteForprX002D7"
    assert merge.statement_id("XrayWrite", None) == "LambdaoptXrayWrite"


@given(suffixes, suffixes, st.booleans())
def test_merging_then_removing_one_suffix_leaves_the_other_and_hand_written_statements(first, second, hand):
    if first == second:
        return
    start = merge.document_of([HAND_WRITTEN] if hand else [])
    with_first = merge.merged(start, {merge.statement_id("DlqSend", first)}, [send(first, "a-dlq")])
    both = merge.merged(with_first, {merge.statement_id("DlqSend", second)}, [send(second, "b-dlq", "c-dlq")])
    without_first = merge.merged(both, {merge.statement_id("DlqSend", first)}, [])
    expected = ([HAND_WRITTEN] if hand else []) + [send(second, "b-dlq", "c-dlq")]
    assert merge.statements_of(without_first) == expected
    removed_both = merge.merged(without_first, {merge.statement_id("DlqSend", second)}, [])
    assert removed_both == (merge.document_of([HAND_WRITTEN]) if hand else None)


@given(suffixes, suffixes)
def test_restoring_one_run_keeps_what_another_suffix_added_since(first, second):
    if first == second:
        return
    sid = merge.statement_id("XrayWrite", first)
    current = merge.document_of([HAND_WRITTEN])
    after_run = merge.merged(current, {sid}, [merge.statement(sid, XRAY, ["*"])])
    before, after = merge.owned(current, {sid}), merge.owned(after_run, {sid})
    other = merge.statement_id("XrayWrite", second)
    later = merge.merged(after_run, {other}, [merge.statement(other, XRAY, ["*"])])
    restored = merge.restored(later, before, after)
    assert merge.statements_of(restored) == [HAND_WRITTEN, merge.statement(other, XRAY, ["*"])]


def test_restoring_a_record_of_whole_documents_drops_only_their_statements():
    legacy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "WriteXRayTraces", "Effect": "Allow", "Action": XRAY, "Resource": "*"}]}
    later = merge.merged(legacy, {"LambdaoptXrayWriteForb"}, [merge.statement("LambdaoptXrayWriteForb", XRAY, ["*"])])
    assert merge.sids_of(merge.restored(later, None, legacy)) == {"LambdaoptXrayWriteForb"}
    assert merge.restored(legacy, None, legacy) is None


def test_order_of_actions_and_resources_does_not_make_a_change():
    written = merge.document_of([send("dev", "b-dlq", "a-dlq")])
    shuffled = json.loads(json.dumps(written))
    shuffled["Statement"][0]["Resource"].reverse()
    assert merge.same_statements(written, shuffled)
    assert not merge.same_statements(written, merge.document_of([send("dev", "a-dlq")]))


def test_size_is_counted_as_iam_counts_it_without_white_space():
    document = merge.document_of([HAND_WRITTEN])
    assert merge.policy_size(document) == len(json.dumps(document, separators=(",", ":")))
    assert merge.role_size([document, document], None) == 2 * merge.policy_size(document)


def test_per_function_queues_of_a_suffix_collapse_to_the_collections_pattern_only():
    queues = [QUEUE.format(f"fn{index}-dev-dlq") for index in range(3)] + [
        QUEUE.format("team-owned"), QUEUE.format("x-dev2-dlq"), QUEUE.format("lambda-dlq-dev")]
    assert merge.collapsed_queues(queues, "dev") == sorted([
        QUEUE.format("*-dev-dlq"), QUEUE.format("team-owned"), QUEUE.format("x-dev2-dlq"),
        QUEUE.format("lambda-dlq-dev")])
    assert merge.collapsed_queues(queues, None) == sorted(queues)


def test_only_an_arn_of_a_per_function_queue_of_the_suffix_has_a_pattern_in_its_own_account_and_region():
    assert merge.queue_pattern("arn:aws-cn:sqs:cn-north-1:210987654321:fn-dev-dlq", "dev") == (
        "arn:aws-cn:sqs:cn-north-1:210987654321:*-dev-dlq")
    for value in ("fn-dev-dlq", f"x{QUEUE.format('fn-dev-dlq')}", QUEUE.format("fn:x-dev-dlq"),
                  QUEUE.format("*-dev-dlq"), QUEUE.format("fn-dev2-dlq"), QUEUE.format("fn-dev")):
        assert merge.queue_pattern(value, "dev") is None, value
    assert merge.queue_pattern(QUEUE.format("fn-dev-dlq"), "") is None


def test_a_role_beyond_the_limit_is_refused_naming_it_and_the_figures():
    big = merge.document_of([send("dev", *[f"function-{index:04d}-dev-dlq" for index in range(200)])])
    assert merge.policy_size(big) > merge.ROLE_POLICY_SIZE_LIMIT
    with pytest.raises(merge.PolicyTooLarge, match=r"role shared-role's inline policies would hold \d+ characters"):
        merge.check_size("shared-role", [], big)
    merge.check_size("shared-role", [], merge.document_of([send("dev", "a-dlq")]))


def test_a_run_without_a_suffix_owns_its_functions_suffix_statement():
    dev = merge.statement_id("XrayWrite", "dev")
    document = merge.document_of([merge.statement(dev, XRAY, ["*"]), merge.statement(
        merge.statement_id("XrayWrite", "prod"), XRAY, ["*"])])
    assert merge.run_sids(document, "XrayWrite", None, ["transform-dev"]) == (dev, {dev, "LambdaoptXrayWrite"})
    assert merge.run_sids(document, "XrayWrite", "dev", ["anything"]) == (dev, {dev})
    assert merge.run_sids(None, "XrayWrite", None, ["transform-dev"]) == ("LambdaoptXrayWrite",
                                                                         {"LambdaoptXrayWrite"})


def test_rollback_decides_on_the_runs_own_statements_only():
    mine, theirs = merge.statement_id("XrayWrite", "a"), merge.statement_id("XrayWrite", "b")
    after = merge.document_of([merge.statement(mine, XRAY, ["*"])])
    recorded = [{"role_name": "shared", "policy_name": "lambdaopt-xray-write", "before": None, "after": after}]
    key = ("shared", "lambdaopt-xray-write")
    added_since = merge.merged(after, {theirs}, [merge.statement(theirs, XRAY, ["*"]), HAND_WRITTEN])
    [item] = plan_policies(recorded, {key: added_since}, force=False)
    assert item.decision == "restore" and item.entry["current"] == after
    [item] = plan_policies(recorded, {key: merge.merged(added_since, {mine}, [])}, force=False)
    assert item.decision == "unchanged" and item.entry["current"] is None
    changed = merge.merged(added_since, {mine}, [merge.statement(mine, ["xray:PutTraceSegments"], ["*"])])
    assert plan_policies(recorded, {key: changed}, force=False)[0].decision == "drifted"
    assert plan_policies(recorded, {key: changed}, force=True)[0].decision == "force"
