"""optimize.yml records half-applied work: when a function's update is accepted but ends Failed, the right-sizing
task fails, the block stops, and the change record (written in the `always` block from the failed task's
registered result) holds each change as Lambda was read back to hold it."""

import json

import jsonschema

from tests.test_setup import COLLECTION, run
from tools import baseline, simulator
from tools.emulator_patches import lambda_states

SCHEMA = json.loads((COLLECTION / "data" / "change_record.schema.json").read_text())


def test_a_failed_update_stops_the_run_and_is_recorded_as_read_back(emulator, aws, tmp_path):
    baseline.provision(aws, "dev")
    simulator.simulate_fleet(aws, "dev", days=2, traffic_scale=0.25)
    lambda_ = aws.client("lambda")
    names = [function["FunctionName"] for function in lambda_.list_functions()["Functions"]]
    for name in names:
        lambda_.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
        lambda_states.fail_next_update(name, reason="The subnets have no free IP addresses.",
                                       code="SubnetOutOfIPAddresses")
    records = tmp_path / "records"
    result = run(["ansible-playbook", "playbooks/optimize.yml", "-e", "suffix=dev",
                  "-e", f"lambdaopt_report_dir={tmp_path}", "-e", f"lambdaopt_record_dir={records}",
                  "-e", f"lambdaopt_journal_dir={tmp_path / 'journals'}"],
                 env=emulator.environ())
    assert result.returncode != 0
    assert "Lambda accepted the change of" in result.stdout and "SubnetOutOfIPAddresses" not in result.stderr

    [path] = records.glob("lambdaopt-changes-*.json")
    record = json.loads(path.read_text())
    jsonschema.validate(record, SCHEMA)
    memory = [change for change in record["changes"] if change["field"] == "memory_size"]
    assert memory, record["changes"]
    for change in memory:
        configuration = lambda_.get_function_configuration(FunctionName=change["function_name"])
        assert configuration["LastUpdateStatus"] == "Failed"
        assert change["after"] == configuration["MemorySize"] != change["before"]
        assert change["module"] == "tap.lambdaopt.lambda_rightsize"
    failed = {failure["function_name"] for failure in record["failed"]}
    assert {change["function_name"] for change in memory} <= failed
    # The block stopped at right-sizing: nothing after it ran, so nothing after it is recorded.
    assert not {change["field"] for change in record["changes"]} & {"tracing_mode", "dead_letter_target"}
