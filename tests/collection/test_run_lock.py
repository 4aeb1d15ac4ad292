"""run_lock: one optimize or rollback run at a time per account-region, with a lock in the account that a killed
run cannot hold for ever."""

import importlib
import json
import threading

from ansible_collections.tap.lambdaopt.plugins.module_utils import run_lock as lock_utils

from tests.collection.conftest import mutating

NAME = "/tap-lambdaopt/run-lock"


def stored(aws) -> dict | None:
    ssm = aws.client("ssm")
    try:
        return json.loads(ssm.get_parameter(Name=NAME)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None


def test_a_second_run_is_stopped_with_who_holds_the_lock_and_how_to_clear_it(aws, run_module):
    first = run_module("run_lock", {"purpose": "optimize dev"})
    assert first["acquired"] and first["changed"]
    assert stored(aws)["holder"] == first["lock"]["holder"]

    second = run_module("run_lock", {"purpose": "optimize dev"})
    assert second.failed and not second["acquired"] and second["held_by_another"]
    assert first["lock"]["holder"] in second["msg"] and "optimize dev" in second["msg"]
    assert f"aws ssm delete-parameter --name {NAME}" in second["msg"]

    assert run_module("run_lock", {"state": "absent", "holder": "someone-else"}).failed
    assert stored(aws)["holder"] == first["lock"]["holder"]
    released = run_module("run_lock", {"state": "absent", "holder": first["lock"]["holder"]})
    assert released["changed"] and stored(aws) is None
    assert run_module("run_lock", {})["acquired"]


def test_an_expired_lock_of_a_run_that_died_is_taken_over(aws, run_module):
    aws.client("ssm").put_parameter(Name=NAME, Type="String", Value=json.dumps({
        "holder": "killed-run", "acquired_at": "2026-01-01T00:00:00+00:00",
        "expires_at": "2026-01-01T02:00:00+00:00", "purpose": "optimize dev"}))
    taken = run_module("run_lock", {})
    assert taken["acquired"] and stored(aws)["holder"] == taken["lock"]["holder"] != "killed-run"
    # reported, not taken over silently: whoever runs next learns that a run died holding it
    assert taken["taken_over"]["holder"] == "killed-run"
    # In process, Ansible hands a warning over as a summary or as text, depending on what ran before in the process.
    warnings = [warning if isinstance(warning, str) else warning["event"]["msg"]
                for warning in taken.get("warnings", [])]
    assert any("took over the expired lock" in warning and "killed-run" in warning for warning in warnings)
    assert run_module("run_lock", {"state": "absent", "holder": taken["lock"]["holder"]})["changed"]
    assert run_module("run_lock", {})["taken_over"] is None


def test_check_mode_writes_nothing_and_reports_the_holder(aws, run_module, api_calls):
    holder = run_module("run_lock", {})["lock"]["holder"]
    del api_calls[:]
    checked = run_module("run_lock", {}, check=True)
    assert not checked.failed and checked["held_by_another"] and checked["lock"]["holder"] == holder
    assert holder in str(checked["warnings"])
    assert mutating(api_calls) == []


def test_a_parameter_that_is_no_lock_is_never_taken_over(aws, run_module):
    aws.client("ssm").put_parameter(Name=NAME, Type="String", Value="someone's setting")
    result = run_module("run_lock", {})
    assert result.failed and "not a tap.lambdaopt run lock" in result["msg"]
    assert aws.client("ssm").get_parameter(Name=NAME)["Parameter"]["Value"] == "someone's setting"
    assert run_module("run_lock", {"state": "absent", "force": True}).failed


def test_bad_input_fails_before_any_call(run_module, api_calls):
    for args, message in (({"state": "absent"}, "needs the holder"), ({"ttl_seconds": 5}, "ttl_seconds"),
                          ({"name": "lock"}, "must be an SSM parameter path")):
        result = run_module("run_lock", args)
        assert result.failed and message in result["msg"]
    assert api_calls == []


def test_a_waiting_run_takes_the_lock_once_the_run_holding_it_releases_it(aws, run_module, monkeypatch):
    first = run_module("run_lock", {"purpose": "optimize dev"})
    module = importlib.import_module("ansible_collections.tap.lambdaopt.plugins.modules.run_lock")
    # Poll often, so that the test does not wait the ten seconds a real run does between attempts.
    monkeypatch.setattr(module, "POLL_SECONDS", 0.05)
    trying, refused = lock_utils.try_acquire, threading.Event()

    def try_acquire(*args, **kwargs):
        holding = trying(*args, **kwargs)
        if holding is not None:
            refused.set()  # the second run found the lock held, and waits
        return holding

    monkeypatch.setattr(lock_utils, "try_acquire", try_acquire)
    released = []
    ssm = aws.client("ssm")

    def first_run_finishes():
        if refused.wait(timeout=20):
            released.append(lock_utils.release(ssm, NAME, first["lock"]["holder"]))

    finishing = threading.Thread(target=first_run_finishes)
    finishing.start()
    try:
        second = run_module("run_lock", {"purpose": "rollback of dev", "wait_seconds": 60})
    finally:
        finishing.join()
    assert [lock.holder for lock in released] == [first["lock"]["holder"]]
    assert not second.failed and second["acquired"], second.get("msg")
    assert second["lock"]["holder"] != first["lock"]["holder"] and second["taken_over"] is None
    assert stored(aws)["holder"] == second["lock"]["holder"]
    assert stored(aws)["purpose"] == "rollback of dev"
