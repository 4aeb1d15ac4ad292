"""tools/benchmark.py: the bound AWS's quotas set on a run's calls, calls attributed to tasks by the ledger_marks
callback, and one dry run of the demo fleet measured end to end."""

from tools import baseline, benchmark, simulator
from tools.api_quotas import load_quotas

ACCOUNT, OTHER_ACCOUNT, REGION = "123456789012", "210987654321", "us-east-1"
QUOTAS = load_quotas()


def rate(quota: str, region: str = REGION) -> float:
    return QUOTAS.named(quota).rate_in(region)


def counts(made: int, throttled: int = 0, retried: int = 0) -> dict:
    return {"made": made, "throttled": throttled, "retried": retried}


def test_a_tasks_bound_is_its_slowest_bucket_of_calls_admitted():
    ledger = {ACCOUNT: {REGION: {
        # GetFunction has its own quota; the throttled calls were refused, so they drew nothing from it.
        "lambda": {"GetFunction": counts(250, throttled=50, retried=50),
                   # ListFunctions and UpdateFunctionConfiguration share the control plane's quota.
                   "ListFunctions": counts(30), "UpdateFunctionConfiguration": counts(15)},
        # Each retention operation has a quota of its own (per operation).
        "logs": {"PutRetentionPolicy": counts(10), "DeleteRetentionPolicy": counts(20)},
        # No request rate is documented for IAM: its calls add nothing.
        "iam": {"GetRolePolicy": counts(1000)},
    }}}
    buckets = {bucket.label: calls for bucket, calls in benchmark.calls_by_bucket(ledger, QUOTAS).items()}
    assert buckets == {"lambda-get-function": 200, "lambda-control-plane": 45,
                       "logs-retention-policies (PutRetentionPolicy)": 10,
                       "logs-retention-policies (DeleteRetentionPolicy)": 20}
    seconds = {label: calls / rate(label.split(" ")[0]) for label, calls in buckets.items()}
    bound = benchmark.bound_of(ledger, QUOTAS)
    assert bound.seconds == max(seconds.values())
    assert bound.bucket.label == max(seconds, key=seconds.get)
    assert bound.binding.startswith(f"{bound.bucket.label}: {bound.calls} at ")


def test_buckets_are_per_account_and_region_at_the_regions_rate():
    filter_calls = {"logs": {"FilterLogEvents": counts(100)}}
    ledger = {ACCOUNT: {REGION: filter_calls, "eu-central-1": filter_calls}, OTHER_ACCOUNT: {REGION: filter_calls}}
    buckets = benchmark.calls_by_bucket(ledger, QUOTAS)
    assert sorted((bucket.account, bucket.region, calls) for bucket, calls in buckets.items()) == [
        (ACCOUNT, "eu-central-1", 100), (ACCOUNT, REGION, 100), (OTHER_ACCOUNT, REGION, 100)]
    assert rate("logs-filter-log-events", "eu-central-1") < rate("logs-filter-log-events", REGION)
    assert benchmark.bound_of(ledger, QUOTAS).seconds == 100 / rate("logs-filter-log-events", "eu-central-1")
    assert benchmark.bound_of({ACCOUNT: {REGION: {"iam": {"GetRole": counts(5)}}}}, QUOTAS).seconds == 0


def mark(kind: str, at: float, ledger=None, **fields) -> dict:
    return {"mark": kind, "at": at, "ledger": ledger, **fields}


def test_calls_and_wall_time_go_to_the_task_between_two_marks():
    after_usage = {ACCOUNT: {REGION: {"lambda": {"GetPolicy": counts(30)}}}}
    after_alarms = {ACCOUNT: {REGION: {"lambda": {"GetPolicy": counts(30)},
                                       "monitoring": {"PutMetricAlarm": counts(12, throttled=2, retried=2)}}}}
    marks = [
        mark("task", 100.0, {}, uuid="a", name="Check the suffix", action="ansible.builtin.assert"),
        mark("result", 100.0, uuid="a", status="ok"),
        mark("task", 100.1, {}, uuid="b", name="Measure", action="tap.lambdaopt.lambda_usage_info"),
        mark("result", 104.0, uuid="b", status="ok"),
        mark("task", 104.1, after_usage, uuid="c", name="Find journals", action="ansible.builtin.find"),
        mark("result", 104.5, uuid="c", status="ok"),
        mark("task", 104.6, after_usage, uuid="d", name="Alarm", action="tap.lambdaopt.lambda_alarms"),
        mark("result", 108.0, uuid="d", status="changed"),
        mark("task", 108.1, after_alarms, uuid="e", name="Report", action="tap.lambdaopt.savings_report"),
        mark("result", 108.15, uuid="e", status="ok"),
        mark("end", 108.2, after_alarms),
    ]
    # Two GetPolicy calls answered at once (100.5 to 101.0), one later: the emulator was busy 1.0 s of the task.
    requests = [benchmark.Request(100.5, 0.25, "lambda", "GetPolicy"),
                benchmark.Request(100.625, 0.375, "lambda", "GetPolicy"),
                benchmark.Request(103.0, 0.5, "lambda", "GetPolicy"),
                benchmark.Request(105.0, 0.125, "monitoring", "PutMetricAlarm")]
    tasks = benchmark.tasks_from_marks(marks, QUOTAS, requests)
    assert [task.requests for task in tasks] == [[], requests[:3], [], requests[3:], []]
    assert tasks[1].emulator_seconds == 1.0
    assert benchmark.operation_times(tasks[1].requests) == {("lambda", "GetPolicy"): (3.0, 1.0)}
    assert [(task.name, task.status, round(task.wall, 2), task.made, task.throttled) for task in tasks] == [
        ("Check the suffix", "ok", 0.1, 0, 0), ("Measure", "ok", 4.0, 30, 0), ("Find journals", "ok", 0.5, 0, 0),
        ("Alarm", "changed", 3.5, 12, 2), ("Report", "ok", 0.1, 0, 0)]
    assert tasks[1].bound.seconds == 30 / rate("lambda-get-policy")
    assert tasks[3].bound.seconds == 10 / rate("cloudwatch-put-metric-alarm")

    run = benchmark.RunMeasure("5 functions", 5, "dry run", "aws", wall=9.0, returncode=0, log="-", tasks=tasks,
                               calls=after_alarms, before_tasks=0.6, after_tasks=0.2)
    assert run.bound == tasks[1].bound.seconds + tasks[3].bound.seconds
    assert run.beyond_bound == sum(max(0, task.wall - task.bound.seconds) for task in tasks)
    # savings_report is an action plugin (the controller alone): the find module is what any module task costs.
    assert run.fixed_cost() is tasks[2]
    rendered = benchmark.render_run(run)
    assert benchmark.FORMULA in rendered and "throttled 2, of them retried 2" in rendered


def test_a_dry_run_of_the_demo_fleet_is_measured_task_by_task(emulator, aws, tmp_path):
    baseline.provision(aws, "dev")
    simulator.simulate_fleet(aws, "dev", days=2, traffic_scale=0.1)
    run = benchmark.run_playbook(emulator, "dev", 6, "6 functions", dry_run=True, workdir=tmp_path, quotas="aws")
    assert run.returncode == 0, (tmp_path / "6-functions-dry-run.log").read_text()[-3000:]
    assert emulator.api_quotas.setting["quotas"] is None  # quota mode only while the playbook ran
    by_name = {task.name: task for task in run.tasks}
    # Every call the run made belongs to one task, and the tasks that run on the controller alone made none.
    assert sum(task.made for task in run.tasks) == benchmark.totals(run.calls)["made"] > 0
    assert all(task.made == 0 for task in run.tasks if task.action in ("ansible.builtin.assert",
                                                                        "ansible.builtin.set_fact"))
    usage = by_name["Measure the fleet's usage"]
    assert usage.status == "ok" and usage.made > 0 and usage.bound.seconds > 0
    assert run.bound == sum(task.bound.seconds for task in run.tasks) > 0
    assert run.wall > sum(task.wall for task in run.tasks) > 0
    # The fixed cost is the quickest module task that ran and made no AWS call; which one that is depends on the
    # machine's load, but the journal lookup (it ran: the journal directory exists) is one of them.
    fixed = run.fixed_cost()
    assert fixed is not None and fixed.made == 0 and fixed.action not in run.controller_only
    assert fixed.wall <= by_name["Find the host's retired journals of the suffix kept long enough"].wall
