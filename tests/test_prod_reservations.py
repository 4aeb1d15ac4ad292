"""Production adds no reservation by default: inventories/prod sets lambdaopt_add_reservations false, and optimize.yml
hands it to lambda_rightsize, whose own default (true) would add reservations with `auto`."""

import json
import os

import yaml

from tests.test_setup import ROOT, run

HOST = "prod-123456789012-us-east-1"


def prod_vars() -> dict:
    listed = run(["ansible-inventory", "-i", "inventories/prod", "--list"])
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)["_meta"]["hostvars"][HOST]


def tasks_of(tasks: list):
    for task in tasks:
        yield task
        for section in ("block", "rescue", "always"):
            yield from tasks_of(task.get(section, []))


def rightsize_arguments() -> dict:
    [play] = yaml.safe_load((ROOT / "playbooks" / "optimize.yml").read_text())
    [arguments] = [task["tap.lambdaopt.lambda_rightsize"] for task in tasks_of(play["tasks"])
                   if "tap.lambdaopt.lambda_rightsize" in task]
    return arguments


def rendered_for_prod(expression: str):
    """The value `expression` takes on the prod inventory's host, as Ansible templates a task argument there."""
    environment = {**os.environ, "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
    shown = run(["ansible", "-i", "inventories/prod", HOST, "-m", "ansible.builtin.debug",
                 "-a", json.dumps({"msg": expression})], env=environment)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    [play] = json.loads(shown.stdout)["plays"]
    return play["tasks"][0]["hosts"][HOST]["msg"]


def test_prod_adjusts_existing_reservations_and_adds_none():
    host_vars = prod_vars()
    assert host_vars["lambdaopt_reserved_concurrency"] == "auto"
    assert host_vars["lambdaopt_add_reservations"] is False


def test_optimize_hands_prods_add_reservations_to_lambda_rightsize():
    expression = rightsize_arguments()["add_reservations"]
    assert "lambdaopt_add_reservations" in expression
    assert rendered_for_prod(expression) is False
