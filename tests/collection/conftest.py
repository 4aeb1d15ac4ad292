"""Run the collection's modules in-process, as Ansible would run them on the controller."""

import importlib
import json

import pytest
from ansible.module_utils.testing import patch_module_args
from botocore.client import BaseClient

from tools import baseline, simulator


class ModuleResult(dict):
    @property
    def failed(self) -> bool:
        return bool(self.get("failed"))


@pytest.fixture
def run_module(emulator, capsys, monkeypatch):
    """run_module(name, args, check=False, diff=False) -> the module's result as a dict."""
    for key, value in emulator.environ({}).items():
        monkeypatch.setenv(key, value)

    def run(name: str, args: dict, check: bool = False, diff: bool = False) -> ModuleResult:
        module = importlib.import_module(f"ansible_collections.tap.lambdaopt.plugins.modules.{name}")
        full_args = {**args, "_ansible_check_mode": check, "_ansible_diff": diff}
        capsys.readouterr()
        with patch_module_args(full_args), pytest.raises(SystemExit):
            module.main()
        return ModuleResult(json.loads(capsys.readouterr().out))

    return run


@pytest.fixture
def fleet(aws):
    """The baseline fleet with two weeks of simulated usage at a quarter of the profiles' traffic
    (enough evidence for every decision, less to read): {name: SimulatedUsage}."""
    baseline.provision(aws, "dev")
    return simulator.simulate_fleet(aws, "dev", traffic_scale=TRAFFIC_SCALE)


TRAFFIC_SCALE = 0.25
MUTATING_PREFIXES = ("Update", "Put", "Create", "Delete", "Publish", "Tag", "Untag", "Start")


@pytest.fixture
def api_calls(monkeypatch):
    """Every AWS operation made in this process from here on, as (service, operation) pairs."""
    calls = []
    original = BaseClient._make_api_call

    def recording(client, operation_name, api_params):
        calls.append((client.meta.service_model.service_name, operation_name))
        return original(client, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return calls


def mutating(calls):
    # StartQuery only reads (a Logs Insights query).
    return [call for call in calls if call[1].startswith(MUTATING_PREFIXES) and call[1] != "StartQuery"]
