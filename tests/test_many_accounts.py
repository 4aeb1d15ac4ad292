"""One run of playbooks/optimize.yml across three accounts of the emulator, each reached by assuming a
role: every account is optimized and reported on its own, and an account that fails does not stop the
others."""

import json
import re
import shutil

import yaml

from tests.test_setup import ROOT, run
from tools import baseline, fleet_view, simulator
from tools.emulator import emulator_session

ACCOUNTS = {"111111111111": 0, "222222222222": 2, "333333333333": 0}  # account -> synthetic functions


def host(account, **extra):
    return {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "aws_region": "us-east-1", "aws_role_arn": f"arn:aws:iam::{account}:role/lambdaopt", **extra}


def test_each_account_is_optimized_and_reported_alone(emulator, aws, tmp_path):
    sessions = {account: emulator_session(emulator.endpoint, "us-east-1", account) for account in ACCOUNTS}
    for account, synthetic in ACCOUNTS.items():
        baseline.provision(sessions[account], "dev", synthetic=synthetic)
        simulator.simulate_fleet(sessions[account], "dev", traffic_scale=0.25)
    default_account = fleet_view.describe(aws, "dev")
    hosts = {f"dev-{account}-us-east-1": host(account) for account in ACCOUNTS}
    # An account whose endpoint cannot be reached: it fails, the others go on.
    hosts["dev-444444444444-us-east-1"] = host("444444444444", aws_endpoint_url="http://127.0.0.1:9")
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    shutil.copytree(ROOT / "inventories" / "local" / "group_vars", tmp_path / "group_vars")  # the dev policy
    reports = tmp_path / "reports"

    result = run(["ansible-playbook", "-i", str(inventory), "playbooks/optimize.yml", "-e", "suffix=dev",
                  "-e", f"lambdaopt_report_dir={reports}", "-e", f"lambdaopt_record_dir={tmp_path / 'records'}",
                  "-e", f"lambdaopt_journal_dir={tmp_path / 'journals'}",
                  "--forks", "4"], env=emulator.environ())

    assert result.returncode != 0  # the run ends failed ...
    recap = dict(re.findall(r"^(\S+)\s+: (ok=.*)$", result.stdout[result.stdout.index("PLAY RECAP"):], re.M))
    assert "failed=1" in recap["dev-444444444444-us-east-1"]  # ... and says which
    for account, synthetic in ACCOUNTS.items():
        assert "failed=0" in recap[f"dev-{account}-us-east-1"], result.stdout[-3000:]
        fleet = {state.name: state for state in fleet_view.describe(sessions[account], "dev")}
        assert len(fleet) == 6 + synthetic
        assert fleet["transform-dev"].memory_size == 128 and fleet["transform-dev"].tracing == "Active"
        [written] = reports.glob(f"lambdaopt-savings-{account}-us-east-1-*.json")
        report = json.loads(written.read_text())
        assert report["account_id"] == account
        assert len(report["functions"]) == 6 + synthetic  # its own functions, no other account's
    assert fleet_view.describe(aws, "dev") == default_account == []  # the credentials' own account: untouched
    assert len(list(reports.glob("*.json"))) == 3
