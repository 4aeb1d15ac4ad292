"""lambda_canary: a right-sized $LATEST delivered to an alias's traffic through a canary version, judged on the bake
period's per-version metrics (the simulator writes them from the usage model at each version's memory size), then
promoted or rolled back; provisioned concurrency follows the alias; check mode changes nothing; a function without
an alias is left alone; the journal holds each change before it is made. The decisions themselves are pure
(module_utils/_lambda/canary.py) and tested without AWS first."""

import contextlib
import json
from datetime import UTC, datetime

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.canary import (
    PROMOTED,
    ROLLED_BACK,
    Thresholds,
    VersionFigures,
    error_rate_floor,
    judge,
    plan_canary,
    projected_slowdown,
    version_settings,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.scaling import WORST
from ansible_collections.tap.lambdaopt.plugins.modules import lambda_canary
from botocore.client import BaseClient

from tests.collection.conftest import mutating
from tools import simulator
from tools.emulator_patches import lambda_states

CPU_BOUND = "signature-verifier-test"  # tools/usage_profiles.yaml: cpu-bound, 95 % of its time CPU work
IO_BOUND = "transform-test"  # steady-light: a tenth of its time CPU work
BAKE_MINUTES = 30
# Enough requests that half the bake period's, at the quietest hour of the day, is over min_invocations.
TRAFFIC_SCALE = {CPU_BOUND: 120, IO_BOUND: 45}
CANARY = {"weight": 0.5, "bake_minutes": BAKE_MINUTES, "min_invocations": 30}
CHANGES = ("PublishVersion", "UpdateAlias", "DeleteFunction")


# The decisions, without AWS.

def configuration(**changed) -> dict:
    base = {"FunctionName": "f", "MemorySize": 3008, "Timeout": 300, "CodeSha256": "abc", "Runtime": "python3.12",
            "Handler": "handler.handler", "Role": "arn:aws:iam::123456789012:role/r",
            "Environment": {"Variables": {"LOG_LEVEL": "INFO"}}}
    return {**base, **changed}


def alias(version="1", **extra) -> dict:
    return {"Name": "live", "FunctionVersion": version, **extra}


def test_a_canary_delivers_only_memory_and_timeout():
    plan = plan_canary(alias(), version_settings(configuration()),
                       version_settings(configuration(MemorySize=512, Timeout=30)))
    assert plan.runs and plan.delivered == {"memory_size": (3008, 512), "timeout": (300, 30)}

    same = plan_canary(alias(), version_settings(configuration()), version_settings(configuration()))
    assert not same.runs and not same.refused and "already has $LATEST's memory size and timeout" in same.reason

    code = plan_canary(alias(), version_settings(configuration()),
                       version_settings(configuration(MemorySize=512, CodeSha256="new",
                                                      Environment={"Variables": {"LOG_LEVEL": "DEBUG"}})))
    assert code.refused and "code_sha256, environment" in code.reason and "DEBUG" not in code.reason

    routing = plan_canary(alias(RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}}),
                          version_settings(configuration()), version_settings(configuration(MemorySize=512)))
    assert routing.refused and "10% to version 2" in routing.reason
    latest = plan_canary(alias("$LATEST"), version_settings(configuration()), version_settings(configuration()))
    assert not latest.runs and not latest.refused


def figures(version: str, invocations: int, p99: float, errors: int = 0, throttles: int = 0) -> VersionFigures:
    return VersionFigures(version, invocations, errors, throttles, p99)


@pytest.mark.parametrize(("canary", "decision", "said"), [
    (figures("2", 100, 260.0), PROMOTED, "held: p99 duration 260 ms against 200 ms (x1.30; projected x1.25"),
    (figures("2", 100, 320.0), ROLLED_BACK, "regressed: p99 duration 320 ms"),
    (figures("2", 100, 200.0, errors=5), ROLLED_BACK, "regressed: error rate 5.00% (at least 2.15% with 95 % "
                                                      "confidence) against 0.10%"),
    (figures("2", 100, 200.0, throttles=1), ROLLED_BACK, "regressed: 1 throttles, more than 0"),
    (figures("2", 10, 200.0), ROLLED_BACK, "not enough traffic to judge: 10 invocations of version 2"),
    (VersionFigures("2", 100, unknown={"p99_ms": "GetMetricData answered InternalError"}), ROLLED_BACK,
     "could not judge: canary p99_ms unknown"),
])
def test_the_verdict_compares_the_canary_with_the_old_version(canary, decision, said):
    baseline = figures("1", 1000, 200.0, errors=1)
    verdict = judge(baseline, canary, 1.25, Thresholds(), "two memory sizes")
    assert verdict.decision == decision and said in verdict.as_dict()["reason"]
    assert verdict.as_dict()["allowed_p99_ratio"] == 1.5
    assert verdict.risk == (None if decision == PROMOTED else
                            "regression" if "regressed" in said else "unproven")


def test_one_error_among_a_few_dozen_invocations_is_chance_not_a_regression():
    assert error_rate_floor(0, 50) == 0.0
    assert 0.0 < error_rate_floor(1, 67) < 0.01 < error_rate_floor(5, 100) < 0.05
    assert error_rate_floor(500, 10000) == pytest.approx(0.05, abs=0.005)  # many invocations: the rate itself
    verdict = judge(figures("1", 200, 200.0), figures("2", 67, 210.0, errors=1), 1.0, Thresholds())
    assert verdict.promote, verdict.as_dict()["reason"]


def test_low_traffic_can_be_accepted_and_is_said():
    verdict = judge(figures("1", 1000, 200.0), figures("2", 10, 210.0), 1.0, Thresholds(accept_low_traffic=True))
    assert verdict.promote and "low traffic accepted: 10 invocations" in verdict.as_dict()["reason"]


def test_without_evidence_the_projection_is_the_cpu_bound_worst_case():
    assert projected_slowdown(WORST, 3008, 512) == pytest.approx(1769 / 512)
    assert projected_slowdown(WORST, 512, 3008) == 1.0  # more memory is never projected faster than as measured


# The module, against the emulator.

@pytest.fixture(autouse=True)
def instant_updates():
    """Functions are created Active and updated at once, so the tests spend no time in Lambda's waiters."""
    lambda_states.configure(update_reads=0, pending_reads=0)
    yield
    lambda_states.configure()


@pytest.fixture
def aliased(aws, make_function):
    """aliased(name, memory, timeout, provisioned=None): the function at 3008 MB and 300 s behind alias `live` on
    version 1, then $LATEST right-sized to `memory` and `timeout` as lambda_rightsize leaves it."""
    lambda_ = aws.client("lambda")

    def create(name: str, memory: int, timeout: int, provisioned: int | None = None) -> None:
        make_function(name, active=True, MemorySize=3008, Timeout=300)
        lambda_.publish_version(FunctionName=name)
        lambda_.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        if provisioned:
            lambda_.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live",
                                                       ProvisionedConcurrentExecutions=provisioned)
        lambda_.update_function_configuration(FunctionName=name, MemorySize=memory, Timeout=timeout)

    return create


@pytest.fixture
def bake(aws, monkeypatch):
    """The bake period, observed without waiting: when the module waits, the simulator writes what each version the
    alias serves did over the period. Returns {function: {version: invocations}} once it has run."""
    ran = {}

    def wait(_seconds: float) -> None:
        start = datetime.now(UTC).replace(second=0, microsecond=0)
        for name in ran["names"]:
            ran[name] = simulator.write_bake_metrics(aws, name, "live", start, BAKE_MINUTES,
                                                     traffic_scale=ran["scale"].get(name, 1))

    monkeypatch.setattr(lambda_canary, "wait_for_bake", wait)

    def observing(*names: str, scale: dict | None = None) -> dict:
        ran.update(names=names, scale=TRAFFIC_SCALE if scale is None else scale)
        return ran

    return observing


def alias_state(aws, name: str) -> tuple:
    found = aws.client("lambda").get_alias(FunctionName=name, Name="live")
    return found["FunctionVersion"], (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def versions(aws, name: str) -> list:
    listed = aws.client("lambda").list_versions_by_function(FunctionName=name)["Versions"]
    return [version["Version"] for version in listed]


# Evidence that the function's durations hardly change with memory: what the transform's history would show.
IO_BOUND_EVIDENCE = {"durations_by_memory_size": [
    {"memory_size_mb": 3008, "invocations": 2000, "avg_ms": 130.0, "stddev_ms": 30.0},
    {"memory_size_mb": 1024, "invocations": 2000, "avg_ms": 138.0, "stddev_ms": 30.0}]}


def usage_entry(name: str, memory: int = 3008) -> dict:
    return {"function_name": name, "configuration": {"memory_size": memory}, "invocations": 4000,
            **IO_BOUND_EVIDENCE}


@contextlib.contextmanager
def journal_at_each_change(path):
    """[(operation, the journal's last line when the call was made)] for every change the block makes."""
    seen = []
    original = BaseClient._make_api_call

    def recording(client, operation, params):
        if operation in CHANGES:
            lines = path.read_text().splitlines() if path.exists() else []
            seen.append((operation, params, json.loads(lines[-1]) if lines else None))
        return original(client, operation, params)

    BaseClient._make_api_call = recording
    try:
        yield seen
    finally:
        BaseClient._make_api_call = original


def test_a_size_that_regresses_is_rolled_back_and_its_version_deleted(aws, aliased, bake, run_module, monkeypatch,
                                                                      tmp_path):
    aliased(CPU_BOUND, 512, 300)
    bake(CPU_BOUND)
    journal = tmp_path / "journal.jsonl"
    monkeypatch.setenv("LAMBDAOPT_JOURNAL", str(journal))
    with journal_at_each_change(journal) as seen:
        result = run_module("lambda_canary", {"functions": [CPU_BOUND], "usage": [usage_entry(CPU_BOUND)], **CANARY})
    assert not result.failed, result.get("msg")
    (entry,) = result["aliases"]
    verdict = entry["verdict"]
    assert entry["status"] == "refused" and verdict["decision"] == "rolled_back"
    assert verdict["reason"].startswith("regressed: p99 duration") and verdict["evidence"] == "two memory sizes"
    # The CPU-bound code at 512 MB is about 3.3 times slower; its evidence projected little more than none.
    assert verdict["projected_slowdown"] < 1.5 and verdict["p99_ratio"] > 2 * verdict["allowed_p99_ratio"] / 1.2
    assert verdict["canary"]["invocations"] >= 30 and verdict["baseline"]["invocations"] >= 30
    assert entry["refused"][0]["risk"] == "regression"
    assert entry["after"] == entry["before"] == {"function_version": "1", "additional_version_weights": {},
                                                 "memory_size": 3008, "timeout": 300}
    assert entry["canary"]["version"] == "2" and entry["canary"]["created"]
    assert alias_state(aws, CPU_BOUND) == ("1", {})
    assert versions(aws, CPU_BOUND) == ["$LATEST", "1"]
    assert aws.client("lambda").get_function_configuration(FunctionName=CPU_BOUND)["MemorySize"] == 512
    assert result["changed"] and result["summary"]["with_refusals"] == 1

    assert [(operation, last["event"], last.get("subject"), last.get("change")) for operation, _params, last in seen
            ] == [("PublishVersion", "intent", "resource", "created"),
                  ("UpdateAlias", "intent", "alias", "weight shifted"),
                  ("UpdateAlias", "intent", "alias", "rolled back"),
                  ("DeleteFunction", "intent", "resource", "deleted")]
    shifted, rolled_back = seen[1][2], seen[2][2]
    assert (shifted["before"], shifted["after"]) == (
        {"function_version": "1", "additional_version_weights": {}},
        {"function_version": "1", "additional_version_weights": {"2": 0.5}})
    assert rolled_back["after"] == {"function_version": "1", "additional_version_weights": {}}
    events = [json.loads(line)["event"] for line in journal.read_text().splitlines()]
    assert events == ["intent", "done"] * 4


def test_a_size_that_holds_is_promoted_and_provisioned_concurrency_follows(aws, aliased, bake, run_module,
                                                                           api_calls):
    aliased(IO_BOUND, 512, 30, provisioned=5)
    bake(IO_BOUND)
    args = {"suffix": "test", **CANARY}
    del api_calls[:]

    checked = run_module("lambda_canary", args, check=True, diff=True)
    assert checked["changed"] and not checked.failed
    (entry,) = checked["aliases"]
    assert entry["status"] == "planned" and entry["delivered"] == {"memory_size": [3008, 512], "timeout": [300, 30]}
    assert checked["diff"]["after"] == {f"{IO_BOUND}:live": {"function_version": "new",
                                                             "additional_version_weights": {},
                                                             "memory_size": 512, "timeout": 30}}
    assert mutating(api_calls) == [] and alias_state(aws, IO_BOUND) == ("1", {})

    applied = run_module("lambda_canary", args)
    (entry,) = applied["aliases"]
    assert applied["changed"] and entry["status"] == "changed", entry.get("verdict") or entry.get("error")
    assert entry["verdict"]["decision"] == "promoted" and entry["verdict"]["evidence"] == "worst case"
    assert entry["verdict"]["p99_ratio"] < entry["verdict"]["allowed_p99_ratio"]
    assert entry["after"] == {"function_version": "2", "additional_version_weights": {}, "memory_size": 512,
                              "timeout": 30}
    assert alias_state(aws, IO_BOUND) == ("2", {})
    assert versions(aws, IO_BOUND) == ["$LATEST", "1", "2"]
    # The allocation stays on the alias, and serves the version the alias moved to once it is ready again.
    assert entry["provisioned_concurrency"] == {"requested": 5, "status": "READY"}
    (config,) = aws.client("lambda").list_provisioned_concurrency_configs(FunctionName=IO_BOUND)[
        "ProvisionedConcurrencyConfigs"]
    assert (config["FunctionArn"].rsplit(":", 1)[-1], config["Status"]) == ("live", "READY")

    del api_calls[:]
    rechecked = run_module("lambda_canary", args, check=True, diff=True)
    assert not rechecked["changed"] and rechecked["diff"] == {"before": {}, "after": {}}
    reapplied = run_module("lambda_canary", args)
    assert not reapplied["changed"] and reapplied["aliases"][0]["status"] == "unchanged"
    assert "already has $LATEST's memory size and timeout" in reapplied["aliases"][0]["reason"]
    assert mutating(api_calls) == []


def test_too_little_traffic_is_rolled_back_as_not_enough_to_judge(aws, aliased, bake, run_module):
    aliased(IO_BOUND, 512, 30)
    bake(IO_BOUND, scale={IO_BOUND: 0.1})
    (entry,) = run_module("lambda_canary", {"functions": [IO_BOUND], **CANARY})["aliases"]
    assert entry["status"] == "refused" and entry["verdict"]["decision"] == "rolled_back"
    assert entry["verdict"]["reason"].startswith("not enough traffic to judge")
    assert entry["refused"][0]["risk"] == "unproven"
    assert alias_state(aws, IO_BOUND) == ("1", {}) and versions(aws, IO_BOUND) == ["$LATEST", "1"]


def test_a_function_without_an_alias_is_left_alone_with_the_reason(aws, make_function, run_module, api_calls):
    make_function("webhook-relay-test", active=True, MemorySize=512)
    del api_calls[:]
    result = run_module("lambda_canary", {"functions": ["webhook-relay-test", "missing-test"], **CANARY})
    assert result.failed and result["failed_aliases"] == ["missing-test"]
    (entry,) = result["aliases"]
    assert (entry["qualifier"], entry["status"]) == (None, "unchanged")
    assert entry["reason"].startswith("not served through an alias")
    assert mutating(api_calls) == []


def test_bad_options_are_refused_before_any_call(run_module, api_calls):
    result = run_module("lambda_canary", {"suffix": "test", "weight": 1.0, "bake_minutes": 0, "p99_tolerance": 0.5})
    assert result.failed and "weight must be above 0 and below 1" in result["msg"]
    assert "bake_minutes must be at least 1" in result["msg"] and "p99_tolerance must be at least 1" in result["msg"]
    assert api_calls == []
