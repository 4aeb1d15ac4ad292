"""The simulated history is what the function's current configuration in the emulator produces."""

from tests.simulator.test_simulator_in_emulator import END, metric_sum, report_lines
from tools import baseline, simulator
from tools.usage_model import FunctionConfig


def test_history_reflects_the_configuration_in_the_emulator(aws):
    baseline.provision(aws, "dev")
    lambda_ = aws.client("lambda")
    lambda_.get_waiter("function_active_v2").wait(FunctionName="batch-processor-dev", WaiterConfig={"Delay": 1})
    lambda_.update_function_configuration(FunctionName="batch-processor-dev", MemorySize=1024)
    # A reservation below the alias's provisioned concurrency would be refused, so the alias gives it up first.
    lambda_.delete_provisioned_concurrency_config(FunctionName="api-handler-dev", Qualifier="live")
    lambda_.put_function_concurrency(FunctionName="api-handler-dev", ReservedConcurrentExecutions=40)
    fleet = simulator.simulate_fleet(aws, "dev", end=END)
    memory_heavy = fleet["batch-processor-dev"]
    assert memory_heavy.config == FunctionConfig(1024, 300, None)
    statuses = [(line["status"], line["error"]) for line in report_lines(aws, "batch-processor-dev")]
    assert statuses.count(("error", "Runtime.OutOfMemory")) == memory_heavy.out_of_memory > 0
    assert metric_sum(aws, "api-handler-dev", "Throttles") == fleet["api-handler-dev"].throttles > 0
