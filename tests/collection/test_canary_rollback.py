"""lambda_rollback puts back what lambda_canary did, from the run's journal: an alias promoted to a canary goes back
to its old version and routing where it still holds what the canary left (drift is kept), and the version the canary
published is deleted once no alias serves it; a canary that was rolled back leaves nothing to do."""

import pytest

from tests.collection.conftest import mutating
from tests.collection.test_lambda_canary import (  # noqa: F401 - fixtures
    CANARY,
    CPU_BOUND,
    IO_BOUND,
    alias_state,
    aliased,
    bake,
    instant_updates,
    usage_entry,
    versions,
)


@pytest.fixture
def canary_run(aws, aliased, bake, run_module, monkeypatch, tmp_path):  # noqa: F811
    """canary_run(name, memory, timeout) -> (the canary's alias entry, the run's journal text), the journal no
    longer set for what follows (a rollback writes none)."""
    def run(name: str, memory: int, timeout: int, provisioned: int | None = None) -> tuple:
        aliased(name, memory, timeout, provisioned)
        bake(name)
        path = tmp_path / "lambdaopt-journal-test.jsonl"
        monkeypatch.setenv("LAMBDAOPT_JOURNAL", str(path))
        result = run_module("lambda_canary", {"functions": [name], "usage": [usage_entry(name)], **CANARY})
        monkeypatch.delenv("LAMBDAOPT_JOURNAL")
        assert not result.failed, result.get("msg")
        (entry,) = result["aliases"]
        return entry, path.read_text()

    return run


def by_kind(result) -> dict:
    return {item["kind"]: item for item in result["items"]}


def test_a_promoted_canary_is_put_back_on_its_old_version_and_its_version_deleted(aws, canary_run, run_module,
                                                                                 api_calls):
    entry, text = canary_run(IO_BOUND, 512, 30, provisioned=5)
    assert entry["status"] == "changed" and alias_state(aws, IO_BOUND) == ("2", {})

    checked = run_module("lambda_rollback", {"journal": text, "suffix": "test"}, check=True)
    assert not checked.failed, checked.get("msg")
    assert {item["kind"]: item["status"] for item in checked["items"]} == {"alias": "planned",
                                                                          "lambda_version": "planned"}
    assert alias_state(aws, IO_BOUND) == ("2", {})

    result = run_module("lambda_rollback", {"journal": text, "suffix": "test"})
    assert not result.failed, result.get("msg")
    items = by_kind(result)
    assert (items["alias"]["name"], items["alias"]["status"]) == (f"{IO_BOUND}:live", "restored")
    assert items["alias"]["current"] == {"function_version": "2", "additional_version_weights": {}}
    assert (items["lambda_version"]["name"], items["lambda_version"]["status"]) == (f"{IO_BOUND}:2", "restored")
    assert alias_state(aws, IO_BOUND) == ("1", {})
    assert versions(aws, IO_BOUND) == ["$LATEST", "1"]
    (config,) = aws.client("lambda").list_provisioned_concurrency_configs(FunctionName=IO_BOUND)[
        "ProvisionedConcurrencyConfigs"]
    assert config["Status"] == "READY"

    del api_calls[:]
    again = run_module("lambda_rollback", {"journal": text})
    assert not again["changed"] and {item["status"] for item in again["items"]} == {"unchanged"}
    assert mutating(api_calls) == []


def test_an_alias_moved_since_the_canary_is_drift_kept_with_the_version_it_serves(aws, canary_run, run_module):
    _entry, text = canary_run(IO_BOUND, 512, 30)
    lambda_ = aws.client("lambda")
    lambda_.update_alias(FunctionName=IO_BOUND, Name="live", FunctionVersion="1",
                         RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})

    result = run_module("lambda_rollback", {"journal": text})
    items = by_kind(result)
    assert items["alias"]["status"] == "drifted"
    assert items["lambda_version"]["status"] == "kept" and "alias live serves it" in items["lambda_version"]["reason"]
    assert alias_state(aws, IO_BOUND) == ("1", {"2": 0.5})
    assert versions(aws, IO_BOUND) == ["$LATEST", "1", "2"]

    forced = by_kind(run_module("lambda_rollback", {"journal": text, "force": True}))
    assert (forced["alias"]["status"], forced["lambda_version"]["status"]) == ("forced", "restored")
    assert alias_state(aws, IO_BOUND) == ("1", {}) and versions(aws, IO_BOUND) == ["$LATEST", "1"]


def test_a_canary_rolled_back_by_its_verdict_leaves_nothing_to_do(aws, canary_run, run_module, api_calls):
    entry, text = canary_run(CPU_BOUND, 512, 300)
    assert entry["verdict"]["decision"] == "rolled_back"

    del api_calls[:]
    result = run_module("lambda_rollback", {"journal": text, "suffix": "test"})
    assert not result.failed and not result["changed"], result.get("msg")
    assert {(item["kind"], item["status"]) for item in result["items"]} == {("alias", "unchanged"),
                                                                           ("lambda_version", "unchanged")}
    assert mutating(api_calls) == []
    assert alias_state(aws, CPU_BOUND) == ("1", {}) and versions(aws, CPU_BOUND) == ["$LATEST", "1"]
