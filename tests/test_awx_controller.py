"""awx/configure.yml against a local AWX controller (tools/awx_controller.py, AWX 24.6.1's API): what the awx.awx
modules leave on the controller, read back through its API; a second run that changes nothing; bad input that
fails clearly; and the weekly dry run launched as AWX's scheduler launches it, run by ansible-runner against the
AWS emulator."""

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.test_awx import AWS_SECRET, artifacts_holding, provision_with_usage, published_savings, runner_events
from tests.test_setup import ROOT, run
from tools import fleet_view
from tools.awx_controller import HIDDEN_PASSWORD, Controller

# The emulator's one account-region, reached through an inventory source as a production inventory is.
INVENTORY = "inventories/local"
SCHEDULE = "Lambda optimize, weekly dry run"
# The branch the project syncs: this checkout's own, whatever it is called.
BRANCH = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--abbrev-ref", "HEAD"], capture_output=True,
                        text=True, check=True).stdout.strip()
# What configure.yml creates or updates, and where a second run must find nothing to change.
COLLECTIONS = ("execution_environments", "projects", "inventories", "inventory_sources", "job_templates",
               "schedules", "credentials")
# Input the controller refuses, the task that sends it, and what the failure must say.
BAD_INPUT = (
    ({"lambdaopt_aws_credential": "lambdaopt AWS (never created)"}, "Job templates",
     ["/api/v2/credentials/?name=lambdaopt+AWS+%28never+created%29 returned 0 items, expected 1"]),
    ({"lambdaopt_schedule_rrule": "DTSTART:20261130T060000 RRULE:FREQ=WEEKLY;BYDAY=MO"}, "Weekly dry run*",
     ["DTSTART cannot be a naive datetime", "INTERVAL required in rrule"]),
)


@pytest.fixture(scope="module")
def controller(emulator, tmp_path_factory):
    """A controller whose jobs reach the AWS emulator (through AWX's AWX_TASK_ENV setting), holding the AWS
    credential that the configuration expects an administrator to have created."""
    task_env = {"AWS_ENDPOINT_URL": emulator.endpoint, "AWS_DEFAULT_REGION": emulator.region}
    with Controller(tmp_path_factory.mktemp("awx"), task_env=task_env) as running:
        running.add_aws_credential("lambdaopt AWS", "testing", AWS_SECRET)
        yield running


def configure(controller, *options):
    return run(["ansible-playbook", "awx/configure.yml", "-e", f"lambdaopt_scm_url=file://{ROOT}",
                "-e", f"lambdaopt_scm_branch={BRANCH}", "-e", f"lambdaopt_inventory_source={INVENTORY}", *options],
               env=controller.environ())


@pytest.fixture(scope="module")
def configured(controller):
    """The first run of awx/configure.yml against the controller."""
    first = configure(controller)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    return first


def recap(output: str) -> str:
    return output[output.index("PLAY RECAP"):]


def snapshot(controller) -> dict:
    """Everything the configuration touches, as the API shows it, but for when it was last saved."""
    state = {}
    for collection in COLLECTIONS:
        state[collection] = [{key: value for key, value in record.items() if key not in ("modified", "next_run")}
                             for record in controller.get(f"{collection}/")["results"]]
    for template in controller.get("job_templates/")["results"]:
        state[f"survey {template['name']}"] = controller.get(f"job_templates/{template['id']}/survey_spec/")
    return state


def next_monday_six_utc(after: datetime, start: datetime) -> datetime:
    monday = (after + timedelta(days=-after.weekday() % 7)).replace(hour=6, minute=0, second=0, microsecond=0)
    return max(monday if monday > after else monday + timedelta(days=7), start)


def test_the_configuration_builds_templates_survey_and_schedule_reruns_unchanged_and_refuses_bad_input(
        controller, configured):
    # the execution environment, the project, the inventory, its source, the two job templates, the schedule
    assert "changed=6" in recap(configured.stdout) and "[WARNING]" not in configured.stdout
    environment = controller.one("execution_environments", name="lambdaopt")
    assert (environment["image"], environment["pull"]) == ("registry.example.com/platform/lambdaopt-ee:latest",
                                                           "missing")
    project = controller.one("projects", name="tap.lambdaopt")
    assert (project["scm_type"], project["scm_url"], project["scm_branch"]) == ("git", f"file://{ROOT}", BRANCH)
    # The revision is the branch's commit when the project updated (the branch may have moved on since).
    on_branch = subprocess.run(["git", "-C", str(ROOT), "merge-base", "--is-ancestor", project["scm_revision"], BRANCH])
    assert project["status"] == "successful" and on_branch.returncode == 0, project["scm_revision"]
    assert project["scm_update_on_launch"] and project["default_environment"] == environment["id"]
    assert "playbooks/optimize.yml" in controller.get(f"projects/{project['id']}/playbooks/")
    inventory = controller.one("inventories", name="Lambda fleets")
    source = controller.one("inventory_sources", inventory=inventory["id"])
    assert (source["source"], source["source_project"], source["source_path"]) == (
        "scm", project["id"], f"{INVENTORY}/hosts.yml")
    assert source["update_on_launch"] and source["overwrite"] and source["overwrite_vars"]
    credential = controller.one("credentials", name="lambdaopt AWS")

    templates = {}
    for name, job_type in (("Lambda optimize", "run"), ("Lambda optimize (dry run)", "check")):
        template = templates[name] = controller.one("job_templates", name=name)
        assert (template["job_type"], template["playbook"], template["project"], template["inventory"],
                template["execution_environment"], template["organization"]) == (
            job_type, "playbooks/optimize.yml", project["id"], inventory["id"], environment["id"], 1)
        assert template["survey_enabled"] and template["job_slice_count"] == 1
        assert template["forks"] == 10 and template["diff_mode"]
        attached = controller.get(f"job_templates/{template['id']}/credentials/")["results"]
        assert [item["id"] for item in attached] == [credential["id"]]
    survey = controller.get(f"job_templates/{templates['Lambda optimize']['id']}/survey_spec/")
    questions = {question["variable"]: question for question in survey["spec"]}
    assert list(questions) == ["suffix", "lambdaopt_dry_run"]
    assert (questions["suffix"]["type"], questions["suffix"]["default"], questions["suffix"]["required"]) == (
        "text", "prod", True)
    dry_run = questions["lambdaopt_dry_run"]
    assert (dry_run["type"], dry_run["choices"], dry_run["default"]) == ("multiplechoice", ["true", "false"], "true")
    dry_survey = controller.get(f"job_templates/{templates['Lambda optimize (dry run)']['id']}/survey_spec/")
    assert [question["variable"] for question in dry_survey["spec"]] == ["suffix"]

    schedule = controller.one("schedules", name=SCHEDULE)
    assert schedule["unified_job_template"] == templates["Lambda optimize (dry run)"]["id"] and schedule["enabled"]
    assert schedule["extra_data"] == {"suffix": "prod"} and schedule["timezone"] == "UTC"
    assert schedule["dtstart"] == "2026-11-30T06:00:00Z" and schedule["dtend"] is None  # a Monday, for ever
    next_run = datetime.fromisoformat(schedule["next_run"])
    assert next_run == next_monday_six_utc(datetime.now(UTC), datetime.fromisoformat(schedule["dtstart"]))

    before = snapshot(controller)
    second = configure(controller)
    assert second.returncode == 0, second.stdout[-3000:]
    assert "changed=0" in recap(second.stdout)
    assert snapshot(controller) == before

    # Bad input fails at the task that sends it, says why, and leaves the controller as it was.
    for options, task, failures in BAD_INPUT:
        result = configure(controller, "-e", json.dumps(options), "--start-at-task", task)
        assert result.returncode != 0 and "failed=1" in recap(result.stdout), options
        for failure in failures:
            assert failure in result.stdout, result.stdout[-3000:]
        assert snapshot(controller) == before

    # A launch by hand must answer the survey: both questions, the dry run's from its choices.
    launch = f"job_templates/{templates['Lambda optimize']['id']}/launch/"
    status, refused = controller.request("POST", launch, {})
    assert status == 400
    assert refused["variables_needed_to_start"] == ["'suffix' value missing", "'lambdaopt_dry_run' value missing"]
    status, refused = controller.request("POST", launch, {"extra_vars": {"suffix": "prod", "lambdaopt_dry_run": "no"}})
    assert status == 400
    assert refused["variables_needed_to_start"] == [
        "Value no for 'lambdaopt_dry_run' expected to be one of ['true', 'false']."]
    assert controller.get(f"job_templates/{templates['Lambda optimize']['id']}/jobs/")["count"] == 0


WEEKLY = "DTSTART:20261130T060000Z RRULE:FREQ=WEEKLY;BYDAY=MO;INTERVAL=1"
# Requests AWX refuses, and its answers; {project}, {inventory} and {template} stand for the ids of the records
# each request refers to.
REFUSED = [
    ("projects/", {"name": "tap.lambdaopt", "organization": 1, "scm_type": "git", "scm_url": "file://{root}"},
     {"__all__": ["Project with this Name and Organization already exists."]}),
    ("inventories/", {"name": "Lambda fleets"}, {"organization": ["This field is required."]}),
    ("job_templates/", {"name": "other", "project": "{project}", "inventory": "{inventory}",
                        "playbook": "playbooks/optimize.yml", "job_type": "apply"},
     {"job_type": ['"apply" is not a valid choice.']}),
    ("job_templates/", {"name": "other", "project": "{project}", "inventory": "{inventory}",
                        "playbook": "playbooks/optimize.yml", "job_slice_count": 0},
     {"job_slice_count": ["Ensure this value is greater than or equal to 1."]}),
    ("job_templates/", {"name": "other", "project": "{project}", "inventory": "{inventory}",
                        "playbook": "playbooks/nowhere.yml"}, {"playbook": ["Playbook not found for project."]}),
    ("job_templates/", {"name": "other", "project": "{project}", "playbook": "playbooks/optimize.yml"},
     {"inventory": ["You must either set a default value or ask to prompt on launch."]}),
    ("job_templates/", {"name": "other", "project": "{project}", "inventory": "{inventory}",
                        "playbook": "playbooks/optimize.yml", "forks": 10, "fork": 10},
     {"fork": ["Unknown field: AWX 24.6.1's job_template has no field of this name (the emulator refuses what AWX "
               "would silently drop)."]}),
    ("job_templates/", {"name": "Lambda optimize (dry run)", "project": "{project}", "inventory": "{inventory}",
                        "playbook": "playbooks/optimize.yml"},
     {"__all__": ["Job Template with this Name and Organization already exists."]}),
    ("job_templates/{template}/survey_spec/", {"name": "", "description": "", "spec": [
        {"type": "integer", "question_name": "Count", "variable": "count", "required": True, "default": "5"}]},
     {"error": "Default value 5 in survey question 0 expected to be integer."}),
    ("job_templates/{template}/survey_spec/", {"name": "", "description": "", "spec": [
        {"type": "multiplechoice", "question_name": "Dry run", "variable": "lambdaopt_dry_run", "required": True,
         "choices": ["true", "false"], "default": "yes"}]},
     {"error": "Default choice must be answered from the choices listed."}),
    ("schedules/", {"name": "hourly", "unified_job_template": "{template}",
                    "rrule": "DTSTART;TZID=Nowhere/Else:20261130T060000 RRULE:FREQ=HOURLY;INTERVAL=1"},
     {"rrule": ["rrule parsing failed validation: A valid TZID must be provided (e.g., America/New_York)"]}),
    ("schedules/", {"name": "secondly", "unified_job_template": "{template}",
                    "rrule": "DTSTART:20261130T060000Z RRULE:FREQ=SECONDLY;INTERVAL=1;COUNT=1000"},
     {"rrule": ["SECONDLY is not supported: RULE:FREQ=SECONDLY;INTERVAL=1;COUNT=1000",
                "COUNT > 999 is unsupported: RULE:FREQ=SECONDLY;INTERVAL=1;COUNT=1000"]}),
    ("schedules/", {"name": "other region", "unified_job_template": "{template}", "rrule": WEEKLY,
                    "extra_data": {"aws_region": "eu-west-1"}},
     {"extra_data": ["Variables aws_region are not allowed on launch. Check the Prompt on Launch setting on the "
                     "Job Template to include Extra Variables."]}),
    ("schedules/", {"name": "applying", "unified_job_template": "{template}", "rrule": WEEKLY, "job_type": "run"},
     {"job_type": ["Field is not configured to prompt on launch."]}),
    ("schedules/", {"name": SCHEDULE, "unified_job_template": "{template}", "rrule": WEEKLY},
     {"__all__": ["Schedule with this Name and Unified job template already exists."]}),
]


def test_the_controller_refuses_what_awx_refuses(tmp_path):
    with Controller(tmp_path) as controller:
        def created(path, body):
            status, record = controller.request("POST", path, body)
            assert status in (200, 201), (path, record)
            return record

        ids = {"root": ROOT}
        ids["project"] = created("projects/", {"name": "tap.lambdaopt", "organization": 1, "scm_type": "git",
                                               "scm_url": f"file://{ROOT}", "scm_branch": BRANCH})["id"]
        ids["inventory"] = created("inventories/", {"name": "Lambda fleets", "organization": 1})["id"]
        ids["template"] = created("job_templates/", {
            "name": "Lambda optimize (dry run)", "project": ids["project"], "inventory": ids["inventory"],
            "playbook": "playbooks/optimize.yml", "job_type": "check", "survey_enabled": True})["id"]
        created(f"job_templates/{ids['template']}/survey_spec/", {"name": "", "description": "", "spec": [
            {"type": "text", "question_name": "Suffix", "variable": "suffix", "required": True, "default": "prod"}]})
        created("schedules/", {"name": SCHEDULE, "unified_job_template": ids["template"], "rrule": WEEKLY,
                               "extra_data": {"suffix": "prod"}})

        def filled(value):
            if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
                return ids[value[1:-1]]
            return value.format(**ids) if isinstance(value, str) else value

        before = snapshot(controller)
        for path, body, answer in REFUSED:
            status, refused = controller.request("POST", path.format(**ids),
                                                 {key: filled(value) for key, value in body.items()})
            assert (status, refused) == (400, answer), (path, body)
        assert snapshot(controller) == before


def test_the_weekly_schedule_runs_the_dry_run_template_as_awx_would(controller, configured, aws):
    provision_with_usage(aws, "prod")  # the fleet the survey's default suffix names
    before = fleet_view.describe(aws, "prod")
    template = controller.one("job_templates", name="Lambda optimize (dry run)")

    job = controller.wait_for_job(controller.fire_schedule(controller.one("schedules", name=SCHEDULE)["id"]))

    stdout = controller.get(f"jobs/{job['id']}/stdout/", format="txt")
    assert job["status"] == "successful", job["job_explanation"] + stdout[-3000:]
    assert (job["launch_type"], job["job_template"], job["job_type"], job["playbook"], job["inventory"]) == (
        "scheduled", template["id"], "check", "playbooks/optimize.yml", template["inventory"])
    assert json.loads(job["extra_vars"]) == {"suffix": "prod"}  # the survey's default, and the schedule's answer
    arguments = json.loads(job["job_args"])
    assert arguments[0] == "ansible-playbook" and arguments[-1] == "playbooks/optimize.yml"
    assert {"--check", "--diff", "--forks=10"} <= set(arguments)
    # The project updated and the inventory source imported its file before the job ran, as on AWX.
    updates = controller.get("inventory_updates/", launch_type="dependency")["results"]
    assert updates and updates[-1]["status"] == "successful"
    script = controller.get(f"inventories/{job['inventory']}/script/")
    assert list(script["_meta"]["hostvars"]) == ["emulator-us-east-1"]
    assert script["all"]["vars"]["lambdaopt_memory_headroom"] == 1.3  # the group_vars beside the file came too

    # The savings, in the artifacts AWX keeps for the job and in ansible-runner's own.
    savings = job["artifacts"]["lambdaopt_savings"]
    assert savings["emulator-us-east-1"]["mode"] == "dry_run" and savings["emulator-us-east-1"]["functions"] == 6
    assert savings["emulator-us-east-1"]["changes"] > 0 and "net_monthly_savings" in savings["emulator-us-east-1"]
    private = Path(job["job_cwd"]).parent
    assert published_savings(runner_events(private / "artifacts" / str(job["id"]))) == savings
    assert fleet_view.describe(aws, "prod") == before  # a dry run changes nothing

    # The credential reached the job as AWX injects it, and its secret shows nowhere but the launch record.
    assert (job["job_env"]["AWS_ACCESS_KEY_ID"], job["job_env"]["AWS_SECRET_ACCESS_KEY"]) == ("testing",
                                                                                             HIDDEN_PASSWORD)
    assert AWS_SECRET not in json.dumps(job) and AWS_SECRET not in stdout
    assert set(artifacts_holding(private, AWS_SECRET)) <= {private / "artifacts" / str(job["id"]) / "command"}
