"""Run a tap.lambdaopt module in this process, as Ansible runs it on the controller, and count the
AWS calls it makes. For tests and benchmarks; playbooks are the way to run modules for real."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
from collections.abc import Iterator

from ansible.module_utils.common import warnings
from ansible.module_utils.testing import patch_module_args
from botocore.client import BaseClient


def run_module(name: str, args: dict, check: bool = False, diff: bool = False) -> dict:
    """The module's result (what it would hand Ansible), failed or not."""
    module = importlib.import_module(f"ansible_collections.tap.lambdaopt.plugins.modules.{name}")
    # Ansible gathers a module's warnings in process-wide lists that only a new process empties: without this, a
    # result would also carry the warnings of every module run before it in this process.
    warnings._global_warnings.clear()
    warnings._global_deprecations.clear()
    output = io.StringIO()
    with patch_module_args({**args, "_ansible_check_mode": check, "_ansible_diff": diff}), \
            contextlib.redirect_stdout(output), contextlib.suppress(SystemExit):
        module.main()
    return json.loads(output.getvalue())


@contextlib.contextmanager
def recorded_api_calls() -> Iterator[list]:
    """Every AWS operation made in this process inside the block, as (service, operation) pairs."""
    calls: list = []
    original = BaseClient._make_api_call

    def recording(client, operation_name, api_params):
        calls.append((client.meta.service_model.service_name, operation_name))
        return original(client, operation_name, api_params)

    BaseClient._make_api_call = recording
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original
