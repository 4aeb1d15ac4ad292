"""Run the collection's modules in-process, as Ansible would run them on the controller."""

import pytest

from tools import baseline, module_runner, simulator

TRAFFIC_SCALE = 0.25
MUTATING_PREFIXES = ("Update", "Put", "Create", "Delete", "Publish", "Tag", "Untag", "Start")


class ModuleResult(dict):
    @property
    def failed(self) -> bool:
        return bool(self.get("failed"))


@pytest.fixture
def run_module(emulator, monkeypatch):
    """run_module(name, args, check=False, diff=False) -> the module's result as a dict."""
    for key, value in emulator.environ({}).items():
        monkeypatch.setenv(key, value)

    def run(name: str, args: dict, check: bool = False, diff: bool = False) -> ModuleResult:
        return ModuleResult(module_runner.run_module(name, args, check=check, diff=diff))

    return run


@pytest.fixture
def fleet(aws):
    """The baseline fleet with two weeks of simulated usage at a quarter of the profiles' traffic
    (enough evidence for every decision, less to read): {name: SimulatedUsage}."""
    baseline.provision(aws, "dev")
    return simulator.simulate_fleet(aws, "dev", traffic_scale=TRAFFIC_SCALE)


@pytest.fixture
def api_calls():
    """Every AWS operation made in this process during the test, as (service, operation) pairs."""
    with module_runner.recorded_api_calls() as calls:
        yield calls


def mutating(calls):
    # StartQuery only reads (a Logs Insights query).
    return [call for call in calls if call[1].startswith(MUTATING_PREFIXES) and call[1] != "StartQuery"]
