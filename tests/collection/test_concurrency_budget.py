"""Reservations are a budget taken from the account's unreserved pool, not a floor: they leave every function without
a reservation - the fleet's and everyone else's - what it used at peak, times the headroom."""

import importlib
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.concurrency import NO_DATA, Peak, budget_of

from tests.collection.conftest import mutating
from tests.test_setup import run
from tools import baseline, simulator
from tools.emulator_patches import metric_data_status


def publish_unreserved_peak(aws, peak: float, metric: str = "UnreservedConcurrentExecutions") -> None:
    """What the rest of the account's functions without a reservation used at once, account-wide (no dimension),
    as AWS/Lambda publishes it: one point an hour for the last day."""
    now = datetime.now(UTC)
    aws.client("cloudwatch").put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": metric, "Timestamp": now - timedelta(hours=hour),
         "Value": peak if hour == 5 else peak / 3} for hour in range(1, 24)])


@pytest.fixture
def account_wide_status(aws, monkeypatch):
    """answer(metric, status): GetMetricData answers `status` for the account-wide (no dimension) AWS/Lambda
    `metric`. metric_data_status scripts statuses by a query's dimension value, which an account-wide metric has
    none of, so its lookup is widened for the test."""
    scripted = {}
    by_dimension = metric_data_status.status_of

    def status_of(backend, query):
        metric = query.get("MetricStat", {}).get("Metric", {})
        if not metric.get("Dimensions") and metric.get("MetricName") in scripted:
            return scripted[metric["MetricName"]]
        return by_dimension(backend, query)

    monkeypatch.setattr(metric_data_status, "status_of", status_of)

    def answer(metric: str, status: str) -> None:
        scripted[metric] = status
        # Scripts a status at all, which is what turns the emulator's status answers on; no query has this value.
        metric_data_status.answer_status(metric, "account-wide", status)

    return answer


def unreserved_now(aws) -> int:
    return aws.client("lambda").get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]


@pytest.mark.parametrize("peak, account_floor, keep", [(None, 100, 100), (50, 100, 100), (200, 100, 240)])
def test_the_budget_is_the_larger_of_the_floor_and_the_peak_with_headroom(peak, account_floor, keep):
    unreserved = Peak("UnreservedConcurrentExecutions", peak, NO_DATA if peak is None else None)
    assert budget_of(account_floor, 1000, unreserved, None, 1.2).floor == keep


def test_reservations_leave_the_rest_of_the_account_its_peak(aws, fleet, run_module):
    # x 1.2 = 846 to keep, of the 850 the API handler's provisioned alias leaves: room for two of the four
    # reservations of 2 the quiet functions want (the API handler's covers what its alias holds already).
    publish_unreserved_peak(aws, 705)
    result = run_module("lambda_rightsize", {"suffix": "dev", "reserved_concurrency": "auto"})
    assert not result.failed, result.get("msg")
    assert result["concurrency_budget"]["keep_unreserved"] == 846
    assert result["concurrency_budget"]["unreserved_peak"] == 705
    assert unreserved_now(aws) == 846
    starved = [entry["function_name"] for entry in result["functions"] for refusal in entry["refused"]
               if "the 846 that functions without a reservation need" in refusal["reason"]]
    assert len(starved) == 2, [entry["refused"] for entry in result["functions"]]


def test_without_add_reservations_only_existing_ones_are_adjusted(aws, fleet, run_module):
    lambda_ = aws.client("lambda")
    lambda_.put_function_concurrency(FunctionName="transform-dev", ReservedConcurrentExecutions=400)
    result = run_module("lambda_rightsize", {"suffix": "dev", "reserved_concurrency": "auto",
                                             "add_reservations": False})
    after = {entry["function_name"]: entry["after"]["reserved_concurrency"] for entry in result["functions"]}
    assert after.pop("transform-dev") < 400
    assert set(after.values()) == {None}


def test_a_reservation_the_pool_read_again_has_no_room_for_is_refused_and_the_rest_of_the_change_made(
        aws, fleet, run_module, make_function, monkeypatch):
    """Another team reserves 10 between right-sizing's first round and its increases: of the 850 the API handler's
    alias leaves, 840 is what the rest of the account needs, so no planned reservation fits any more."""
    publish_unreserved_peak(aws, 700)
    make_function("billing-prod")
    module = importlib.import_module("ansible_collections.tap.lambdaopt.plugins.modules.lambda_rightsize")
    reading = module.unreserved_now

    def meanwhile(lambda_client):
        aws.client("lambda").put_function_concurrency(FunctionName="billing-prod", ReservedConcurrentExecutions=10)
        return reading(lambda_client)

    monkeypatch.setattr(module, "unreserved_now", meanwhile)
    result = run_module("lambda_rightsize", {"suffix": "dev", "reserved_concurrency": "auto", "memory_size": "auto"})
    assert not result.failed, result.get("msg")
    refused = [entry for entry in result["functions"]
               if any("read again after the decreases" in refusal["reason"] for refusal in entry["refused"])]
    assert refused, [entry["refused"] for entry in result["functions"]]
    lambda_ = aws.client("lambda")
    for entry in refused:
        [refusal] = [refusal for refusal in entry["refused"] if refusal["field"] == "reserved_concurrency"]
        wanted = re.match(r"reserving (\d+) would leave (\d+) unreserved in the account, below the 840 that functions "
                          r"without a reservation need", refusal["reason"])
        assert wanted and int(wanted[2]) == 840 - int(wanted[1]), refusal
        assert refusal["reason"].endswith("read again after the decreases tell: the pool changed since it was "
                                          "planned; left as it is"), refusal
        assert refusal["risk"] == "account-wide throttling"
        assert entry["before"]["reserved_concurrency"] is None and entry["after"]["reserved_concurrency"] is None
        assert "ReservedConcurrentExecutions" not in lambda_.get_function_concurrency(
            FunctionName=entry["function_name"])
        assert [change["field"] for change in entry["changes"]] == (["memory_size"] if entry["changes"] else [])
        assert entry["status"] == ("changed" if entry["changes"] else "unchanged")
    # The rest of a refused function's change is made.
    resized = [entry for entry in refused if entry["changes"]]
    assert resized
    for entry in resized:
        memory = lambda_.get_function_configuration(FunctionName=entry["function_name"])["MemorySize"]
        assert memory == entry["after"]["memory_size"] != entry["before"]["memory_size"]
    assert unreserved_now(aws) == 840 and result["summary"]["failed"] == 0


def test_optimize_converges_in_one_run_on_a_fleet_that_wants_more_than_the_pool(emulator, aws, tmp_path):
    """optimize.yml twice on 66 functions whose wanted reservations exceed what the pool can give while the rest of
    the account's unreserved use peaks near its limit: the first run keeps that peak x headroom, the second changes
    nothing. (The hardening steps are off: they do not touch the pool, and would only make the test slower.)"""
    baseline.provision(aws, "dev", synthetic=60)
    simulator.simulate_fleet(aws, "dev", traffic_scale=0.1)
    publish_unreserved_peak(aws, 600)  # the rest of the account: 720 to keep of the 1,000
    playbook = ["ansible-playbook", "playbooks/optimize.yml", "-e", "suffix=dev",
                "-e", f"lambdaopt_report_dir={tmp_path}", "-e", f"lambdaopt_record_dir={tmp_path / 'records'}",
                "-e", "lambdaopt_tracing=false", "-e", "lambdaopt_dlq=false", "-e", "lambdaopt_alarms=false"]

    first = run(playbook, env=emulator.environ())
    assert first.returncode == 0, first.stdout[-3000:]
    assert unreserved_now(aws) >= 720
    [record] = (tmp_path / "records").glob("*.json")
    starved = [refusal for refusal in json.loads(record.read_text())["refused"]
               if "the 720 that functions without a reservation need" in refusal["reason"]]
    assert starved, "the fleet must want more than the pool can give"

    emulator.ledger.reset()
    second = run(playbook, env=emulator.environ())
    assert second.returncode == 0, second.stdout[-3000:]
    assert "changed=0" in second.stdout[second.stdout.index("PLAY RECAP"):], second.stdout[-3000:]
    # Nothing written but the run lock, taken and released (an SSM parameter).
    writes = sorted((service, operation) for regions in emulator.ledger.snapshot().values()
                    for services in regions.values() for service, operations in services.items()
                    for operation in operations if mutating([(service, operation)]))
    assert writes == [("ssm", "DeleteParameter"), ("ssm", "PutParameter")], writes


def test_a_provisioned_concurrency_raise_leaves_the_rest_of_the_account_its_peak(aws, fleet, run_module):
    publish_unreserved_peak(aws, 700)  # x 1.2 = 840 to keep, of the 850 unreserved
    result = run_module("lambda_provisioned_concurrency", {"suffix": "dev", "provisioned_concurrency": "300",
                                                           "allow_unsafe": True})
    [alias] = result["aliases"]
    assert alias["status"] == "unchanged"
    assert "the 840 that functions without a reservation need" in alias["refused"][0]["reason"]
    assert unreserved_now(aws) == 850


def test_an_unreadable_unreserved_peak_is_stood_in_for_by_all_concurrent_executions(aws, fleet, run_module,
                                                                                   account_wide_status):
    # The unreserved peak CloudWatch will not answer is low; the ConcurrentExecutions peak of 705 that stands in for
    # it keeps 846 of the 850 the API handler's alias leaves, as in the test above: room for two of four.
    publish_unreserved_peak(aws, 20)
    publish_unreserved_peak(aws, 705, metric="ConcurrentExecutions")
    account_wide_status("UnreservedConcurrentExecutions", "Forbidden")
    result = run_module("lambda_rightsize", {"suffix": "dev", "reserved_concurrency": "auto"})
    assert not result.failed, result.get("msg")
    budget = result["concurrency_budget"]
    assert budget["keep_unreserved"] == 846 and budget["unreserved_peak"] is None
    assert budget["unreserved_peak_unknown"].startswith("GetMetricData answered Forbidden")
    assert budget["stand_in_peak"] == {"metric": "ConcurrentExecutions", "peak": 705, "unknown": None}
    assert "ConcurrentExecutions peak of 705" in budget["reason"]
    assert unreserved_now(aws) == 846
    starved = [entry["function_name"] for entry in result["functions"] for refusal in entry["refused"]
               if "the 846 that functions without a reservation may need" in refusal["reason"]]
    assert len(starved) == 2, [entry["refused"] for entry in result["functions"]]


def test_with_neither_peak_readable_no_increase_takes_from_the_pool(aws, fleet, run_module, account_wide_status):
    lambda_ = aws.client("lambda")
    lambda_.put_function_concurrency(FunctionName="transform-dev", ReservedConcurrentExecutions=400)
    account_wide_status("UnreservedConcurrentExecutions", "Forbidden")
    account_wide_status("ConcurrentExecutions", "InternalError")
    # Provisioned concurrency first, while the API handler has no reservation: its alias draws on the pool.
    raised = run_module("lambda_provisioned_concurrency", {"suffix": "dev", "provisioned_concurrency": "200",
                                                           "allow_unsafe": True})
    [alias] = raised["aliases"]
    assert alias["status"] == "unchanged" and "Forbidden" in alias["refused"][0]["reason"]
    assert "InternalError" in raised["concurrency_budget"]["increases_refused"]
    idle = run_module("lambda_provisioned_concurrency", {"suffix": "dev", "provisioned_concurrency": "auto"})
    [alias] = idle["aliases"]
    assert alias["status"] == "changed" and alias["after"]["provisioned_concurrency"] < 150  # a decrease goes
    provisioned = alias["after"]["provisioned_concurrency"]

    before = unreserved_now(aws)
    result = run_module("lambda_rightsize", {"suffix": "dev", "reserved_concurrency": "auto"})
    assert not result.failed, result.get("msg")
    why = result["concurrency_budget"]["increases_refused"]
    assert "Forbidden" in why and "InternalError" in why
    after = {entry["function_name"]: entry["after"]["reserved_concurrency"] for entry in result["functions"]}
    lowered = 400 - after.pop("transform-dev")
    assert lowered > 0  # a decrease still goes
    # The API handler's reservation covers what its alias already takes from the pool: no increase.
    assert after.pop("api-handler-dev") == provisioned and set(after.values()) == {None}
    assert unreserved_now(aws) == before + lowered
    refusals = [refusal["reason"] for entry in result["functions"] for refusal in entry["refused"]
                if not refusal["reason"].startswith("insufficient data")]
    assert len(refusals) == 3 and all("what functions without a reservation use at peak is unknown" in reason
                                      for reason in refusals), refusals


def aliased_function(aws, make_function, name: str, provisioned: int, invocations: int, spillover: int,
                     peak_provisioned: int, peak: int) -> None:
    """A function whose `live` alias holds `provisioned`, and what the alias did over the last day as AWS/Lambda
    publishes it (dimensions FunctionName and Resource)."""
    lambda_ = aws.client("lambda")
    make_function(name, active=True)
    version = lambda_.publish_version(FunctionName=name)["Version"]
    lambda_.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lambda_.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live",
                                               ProvisionedConcurrentExecutions=provisioned)
    dimensions = [{"Name": "FunctionName", "Value": name}, {"Name": "Resource", "Value": f"{name}:live"}]
    now = datetime.now(UTC)
    figures = {"Invocations": invocations, "ProvisionedConcurrencySpilloverInvocations": spillover,
               "ProvisionedConcurrentExecutions": peak_provisioned, "ConcurrentExecutions": peak,
               "ProvisionedConcurrencyUtilization": peak_provisioned / provisioned, "Duration": invocations * 100.0}
    aws.client("cloudwatch").put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": metric, "Dimensions": dimensions, "Timestamp": now - timedelta(hours=2), "Value": value}
        for metric, value in figures.items()])


def live(aws, name: str) -> int | None:
    configs = aws.client("lambda").list_provisioned_concurrency_configs(FunctionName=name)
    return {config["FunctionArn"].rsplit(":", 1)[-1]: config["RequestedProvisionedConcurrentExecutions"]
            for config in configs["ProvisionedConcurrencyConfigs"]}.get("live")


RAISE = {"suffix": "dev", "provisioned_concurrency": "auto", "raise_on_spillover": True}


@pytest.fixture
def raise_after_decrease(aws, make_function):
    """alpha-dev's alias spills over (20 provisioned, demand 100: auto raises it to 120), zulu-dev's is idle (300
    provisioned, 50 used: auto lowers it to 60). The rest of the account peaks at 500 unreserved: 600 to keep of the
    680 the two leave, so alpha's raise of 100 fits only with the 240 zulu's decrease frees - which comes after it
    in the fleet's order."""
    aliased_function(aws, make_function, "alpha-dev", 20, invocations=7000, spillover=700, peak_provisioned=20,
                     peak=100)
    aliased_function(aws, make_function, "zulu-dev", 300, invocations=7000, spillover=0, peak_provisioned=50, peak=50)
    publish_unreserved_peak(aws, 500)
    assert unreserved_now(aws) == 680


def test_a_decrease_frees_the_room_a_raise_earlier_in_the_fleet_needs(aws, raise_after_decrease, run_module,
                                                                       api_calls):
    first = run_module("lambda_provisioned_concurrency", RAISE)
    assert not first.failed, first.get("msg")
    # The decrease is applied before the raise, and the account's settings are read again in between.
    assert [call[1] for call in api_calls if call[1] in ("PutProvisionedConcurrencyConfig", "GetAccountSettings")] \
        == ["GetAccountSettings", "PutProvisionedConcurrencyConfig", "GetAccountSettings",
            "PutProvisionedConcurrencyConfig"]
    assert first["concurrency_budget"]["keep_unreserved"] == 600
    assert (live(aws, "alpha-dev"), live(aws, "zulu-dev")) == (120, 60)
    assert unreserved_now(aws) == 820

    del api_calls[:]
    second = run_module("lambda_provisioned_concurrency", RAISE)
    assert not second["changed"] and {alias["status"] for alias in second["aliases"]} == {"unchanged"}
    assert mutating(api_calls) == []


def test_a_raise_the_pool_no_longer_has_room_for_is_refused_after_the_decreases(aws, raise_after_decrease,
                                                                               make_function, run_module,
                                                                               monkeypatch):
    """Another team reserves 250 while the decreases are applied: the pool read again keeps no room for the raise."""
    make_function("billing-prod")
    module = importlib.import_module("ansible_collections.tap.lambdaopt.plugins.modules.lambda_provisioned_concurrency")
    applying = module.apply_allocation

    def meanwhile(*args, **kwargs):
        aws.client("lambda").put_function_concurrency(FunctionName="billing-prod", ReservedConcurrentExecutions=250)
        return applying(*args, **kwargs)

    monkeypatch.setattr(module, "apply_allocation", meanwhile)
    result = run_module("lambda_provisioned_concurrency", RAISE)
    assert not result.failed, result.get("msg")
    aliases = {alias["function_name"]: alias for alias in result["aliases"]}
    assert aliases["zulu-dev"]["status"] == "changed" and live(aws, "zulu-dev") == 60
    alpha = aliases["alpha-dev"]
    assert (alpha["status"], alpha["after"], alpha["changes"]) == ("unchanged", {"provisioned_concurrency": 20}, [])
    [refusal] = alpha["refused"]
    assert refusal["reason"].startswith("adding 100 would leave 570 unreserved in the account, below the 600 that "
                                        "functions without a reservation need"), refusal
    assert "read again after the decreases" in refusal["reason"]
    assert live(aws, "alpha-dev") == 20 and unreserved_now(aws) == 670
