"""tap.lambdaopt.savings_report as a playbook task: it runs on the controller, needs no AWS, and stops with a
clear message rather than guessing."""

import json

import yaml

from tests.test_setup import run

USAGE = [{
    "function_name": "api-dev",
    "function_arn": "arn:aws:lambda:eu-west-1:210987654321:function:api-dev",
    "configuration": {"memory_size": 3008, "architecture": "arm64", "tracing_mode": "PassThrough"},
    "window": {"start": "2026-11-09T12:00:00+00:00", "end": "2026-11-23T12:00:00+00:00", "days": 14},
    "invocations": 33600, "errors": 0, "avg_billed_duration_ms": 200,
    "samples": {"observed_memory_size_mb": 3008}, "log_ingested_bytes": 1048576,
    "init_duration_ms": {"cold_starts": 10},
}]
RIGHTSIZE = {"functions": [{"function_name": "api-dev", "status": "planned", "before": {"memory_size": 3008},
                            "after": {"memory_size": 1024}, "changes": [], "refused": []}]}


def play(tmp_path, tasks, check=False):
    playbook = tmp_path / "report.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "connection": "local",
                                         "vars": {"usage": USAGE, "rightsize": RIGHTSIZE}, "tasks": tasks}]))
    return run(["ansible-playbook", "-i", "localhost,", str(playbook), *(["--check"] if check else [])])


def report_task(**options):
    return {"tap.lambdaopt.savings_report": {"usage": "{{ usage }}", "rightsize": "{{ rightsize }}", **options},
            "register": "savings", "ignore_errors": True}


def check(that):
    return {"ansible.builtin.assert": {"that": that}}


def test_an_unlisted_region_stops_unless_a_fallback_is_named(tmp_path):
    result = play(tmp_path, [
        report_task(),
        check(["savings is failed", "'no checked prices for region eu-west-1' in savings.msg"]),
        report_task(price_region="us-east-1", dest=str(tmp_path / "out")),
        check(["savings is succeeded", "savings is not changed", "savings.report.prices.fallback",
               "savings.summary.region == 'eu-west-1'", "savings.summary.account_id == '210987654321'"]),
    ])
    assert result.returncode == 0, result.stdout[-3000:]
    [written] = (tmp_path / "out").glob("*.json")
    assert "us-east-1 prices used, as asked" in written.with_suffix(".md").read_text()
    assert json.loads(written.read_text())["prices"]["fleet_region"] == "eu-west-1"


def test_check_mode_writes_a_labelled_dry_run_report(tmp_path):
    result = play(tmp_path, [report_task(price_region="us-east-1", dest=str(tmp_path)),
                             check(["savings is succeeded", "savings.summary.mode == 'dry_run'",
                                    "savings.summary.net_monthly_savings.expected > 0"])], check=True)
    assert result.returncode == 0, result.stdout[-3000:]
    [html] = tmp_path.glob("lambdaopt-savings-210987654321-eu-west-1-*-dry-run.html")
    assert "Projected savings of the plan (dry run: nothing was changed)" in html.read_text()


def test_bad_input_is_refused_with_its_reason(tmp_path):
    result = play(tmp_path, [
        report_task(price_region="us-east-1", cpu_bound_share=1.5),
        check(["savings is failed", "'cpu_bound_share must be between 0 and 1' in savings.msg"]),
        report_task(price_region="us-east-1", region="us-west-2"),
        check(["savings is failed", "'the functions are in eu-west-1, but region is us-west-2' in savings.msg"]),
        report_task(price_file=str(tmp_path / "missing.yaml")),
        check(["savings is failed", "'cannot read the price table' in savings.msg"]),
        report_task(price_region="us-east-1", rightsize={"functions": [{"function_name": "api-dev"}]}),
        check(["savings is failed", "'pass the results the collection' in savings.msg"]),
        {"tap.lambdaopt.savings_report": {"usage": [{"invocations": 1}], "region": "us-east-1"},
         "register": "savings", "ignore_errors": True},
        check(["savings is failed", "'entries [0] have no function_name' in savings.msg"]),
    ])
    assert result.returncode == 0, result.stdout[-3000:]
