"""A local AWX controller for tests: the part of AWX 24.6.1's REST API (`/api/v2/`) that the awx.awx modules in
awx/configure.yml call, validated the way AWX 24.6.1 validates it, and a task runner that runs a launched job
template's playbook with ansible-runner the way AWX's dispatcher does.

AWX needs containers, which these machines cannot run; this is to AWX what moto is to AWS. It listens on
127.0.0.1 only.

In Python:

    with Controller(work_dir, task_env={"AWS_ENDPOINT_URL": emulator.endpoint}) as controller:
        subprocess.run(["ansible-playbook", "awx/configure.yml", ...], env=controller.environ())
        job = controller.wait_for_job(controller.fire_schedule(schedule_id))

From the shell:

    python -m tools.awx_controller run --aws-credential "lambdaopt AWS" -- \\
        ansible-playbook awx/configure.yml -e lambdaopt_scm_url=file://$PWD

What it follows, from AWX 24.6.1 (the awx.awx collection in the `ansible` package is 24.6.1, and warns when the
controller's X-API-Product-Version differs):
- authentication: a token from POST /api/v2/tokens/ with basic auth, then `Authorization: Bearer`; basic auth
  on any endpoint; 401 without either. /api/, /api/v2/ping/ answer without authentication; /me/, /config/.
- lists with AWX's pagination (count, next, previous, results; page, page_size) and filters by field
  (`?name=`, `?organization=`, `or__id`/`or__name` as the modules' name-or-id lookups send them, `__icontains`,
  `__in`); an unknown filter field is a 400.
- create (POST), update (PATCH) and delete of organizations, credentials, execution environments, projects,
  inventories, inventory sources, job templates and schedules, each checked as AWX's serializers and models
  check it: required fields, the field types and choices (null coerced to "" or false, as AWX's char and
  boolean fields do), foreign keys that must exist, names unique per organization (per inventory for inventory
  sources, per template for schedules), `{"field": ["message"]}` and `{"__all__": [...]}` errors in AWX's
  words (paraphrased where its wording is not at hand: git URLs, credential inputs, and the uniqueness of
  inventory sources and schedules). A job template's organization is its project's; a job template needs a
  project, an inventory (or to prompt for one), and a playbook that the project's last update found; `job_type`
  is run or check; credentials attach through /job_templates/<id>/credentials/ (no two of one type; ssh,
  vault, cloud, net or kubernetes kinds only).
- survey specs (/job_templates/<id>/survey_spec/): AWX's checks of the spec and of every question (type,
  question_name, variable, required; duplicate variables; default of the question's type; integer min/max;
  choices for multiple choice, one default among them; password defaults shown as $encrypted$).
- schedules: the `rrule` checked as AWX checks it (DTSTART required, once, with a time zone; at least one
  RRULE, each with INTERVAL; no SECONDLY, no numbered BYDAY, not both COUNT and UNTIL, COUNT at most 999; no
  EXDATE or RDATE) and parsed with python-dateutil as RFC 5545, as AWX does; `next_run`, `dtstart`, `dtend`,
  `timezone` and `until` computed from it. A schedule's prompts must be ones its template prompts for, and its
  `extra_data` must answer the template's survey (AWX's "not allowed on launch" otherwise).
- projects: creating a git project, or changing its URL or branch, starts a project update, shown in the
  response's summary_fields.current_update, as the modules' `wait` expects. A `file://` repository is synced:
  its branch must exist (`scm_revision` is that commit) and its playbooks are found as AWX finds them.
- launching (POST /job_templates/<id>/launch/) with AWX's survey validation (`variables_needed_to_start`) and
  its extra variables: the template's, then the survey's valid defaults, then the answers. A schedule fires
  through `Controller.fire_schedule`, with the schedule's prompts, as AWX's scheduler launches it.
- running a job as AWX's RunJob does: the project updated first when it updates on launch, then the
  inventory sources that update on launch (`ansible-inventory --list --export` over the project's file, as an
  inventory import reads it); the project copied into the job's private data directory; the inventory written
  as the executable script AWX writes; the extra variables with AWX's awx_* variables; the command line from
  the job (`--check` for a check job, `--diff`, `--forks`, `--limit`, verbosity, tags); the collection and
  role paths from the project's ansible.cfg, as AWX sets them; an Amazon Web Services credential injected as
  AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and the session token); `task_env` as AWX's AWX_TASK_ENV setting;
  then `ansible-runner run` with the job's id as ident. The job keeps AWX's `artifacts` (the set_stats data of
  the playbook_on_stats event), `job_args`, `job_cwd`, `job_env` with secrets hidden, its stdout
  (/jobs/<id>/stdout/?format=txt) and events (/jobs/<id>/job_events/).

Where it is simpler than AWX:
- One user (a superuser); no roles, teams, RBAC, activity stream, notifications, labels, instance groups,
  workflows or webhooks (those fields are stored, not acted on). Credential types are the managed ones that
  matter here (Machine, Source Control, Vault, Amazon Web Services, Container Registry); only Amazon Web
  Services credentials are injected into jobs. Passwords in credentials and surveys are masked, not encrypted.
- Only `file://` git projects sync; any other URL fails its project update (no network). The checkout is
  the repository's working tree (tracked and untracked files that git does not ignore), not a clone of the
  branch's commit, so a job runs what is on disk; the branch is only checked to exist.
- Jobs run one at a time, on this machine's Python and ansible-runner: the execution environment is recorded,
  not pulled or run. A private data directory is kept after its job (AWX deletes it) so a test can read the
  runner's artifacts; `job_cwd` is its project directory. A job template whose slices would be more than one
  job (AWX launches a workflow of slices) is refused at launch. Schedules do not fire on their own.
- Smart and constructed inventories are not built; an inventory's hosts are what its sources last imported.

Where it is stricter than AWX:
- An unknown field in a request body is refused with a field error (AWX's serializers drop it silently), so a
  field that the configuration sets and AWX would ignore shows up as a failure. Read-only fields are ignored,
  as AWX ignores them (the job_template module sends `organization`, which AWX takes from the project).
- A job template's `job_slice_count` below 1 is refused (AWX's field takes 0 and runs one job).
"""

from __future__ import annotations

import argparse
import base64
import configparser
import copy
import itertools
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from dateutil import rrule as dateutil_rrule

AWX_VERSION = "24.6.1"
API_ROOT = "/api/v2/"
HOST = "127.0.0.1"
# AWX's settings: MAX_FORKS, the REST framework's page sizes, and its mask for secrets in a job's environment.
MAX_FORKS = 200
PAGE_SIZE = 25
MAX_PAGE_SIZE = 200
ENCRYPTED = "$encrypted$"
HIDDEN_PASSWORD = "**********"
# A job without a timeout of its own ends after this long: a test must not hang on a stuck playbook.
JOB_TIMEOUT_SECONDS = 1800
BIN = Path(sys.executable).parent
NOT_FOUND = {"detail": "Not found."}


class ApiError(Exception):
    """An API answer other than success: the status and AWX's JSON body."""

    def __init__(self, status: int, body: dict) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def invalid(errors: dict) -> ApiError:
    return ApiError(400, errors)


class _FieldError(ValueError):
    """One field's value is refused; the message is AWX's."""


# ---- fields and resource kinds ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A writable field: its type as AWX's serializer sees it, and the limits AWX's model puts on it."""

    kind: str  # text, variables, flag, number, choice, link, document
    default: Any = None
    required: bool = False
    nullable: bool = False
    choices: tuple = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    target: str | None = None


def text(max_length: int | None = None, *, required: bool = False, nullable: bool = False) -> Field:
    return Field("text", None if nullable else "", required, nullable, max_length=max_length)


def variables() -> Field:
    """YAML or JSON text holding a mapping (extra_vars, an inventory's variables)."""
    return Field("variables", "")


def flag(default: bool = False, *, nullable: bool = False) -> Field:
    return Field("flag", None if nullable else default, nullable=nullable)


def number(default: int | None = 0, *, minimum: int | None = None, maximum: int | None = None,
           nullable: bool = False) -> Field:
    return Field("number", default, nullable=nullable, minimum=minimum, maximum=maximum)


def choice(*choices: object, default: object = "", nullable: bool = False) -> Field:
    return Field("choice", default, nullable=nullable, choices=choices)


def link(target: str, *, required: bool = False) -> Field:
    return Field("link", None, required, nullable=not required, target=target)


def document() -> Field:
    return Field("document", {})


@dataclass(frozen=True)
class Kind:
    """A resource collection: its writable fields, the read-only ones AWX shows (and ignores on write),
    and what its name must be unique within (None: not unique)."""

    collection: str
    type: str
    label: str
    fields: dict[str, Field]
    read_only: frozenset[str] = frozenset()
    unique_within: tuple[str, ...] | None = None
    template: bool = False  # a unified job template: one id sequence with the other templates


NAMED = {"name": text(512, required=True), "description": text()}
COMMON_READ_ONLY = frozenset({"id", "type", "url", "related", "summary_fields", "created", "modified"})
TEMPLATE_READ_ONLY = COMMON_READ_ONLY | {"last_job_run", "last_job_failed", "next_job_run", "status"}
# A job template's prompt-on-launch switches, and the launch (or schedule) field each one opens.
PROMPTS = {
    "job_type": "ask_job_type_on_launch",
    "inventory": "ask_inventory_on_launch",
    "limit": "ask_limit_on_launch",
    "job_tags": "ask_tags_on_launch",
    "skip_tags": "ask_skip_tags_on_launch",
    "diff_mode": "ask_diff_mode_on_launch",
    "verbosity": "ask_verbosity_on_launch",
    "scm_branch": "ask_scm_branch_on_launch",
    "execution_environment": "ask_execution_environment_on_launch",
    "forks": "ask_forks_on_launch",
    "job_slice_count": "ask_job_slice_count_on_launch",
    "timeout": "ask_timeout_on_launch",
    "credentials": "ask_credential_on_launch",
    "labels": "ask_labels_on_launch",
    "instance_groups": "ask_instance_groups_on_launch",
}
ASK_FIELDS = sorted({*PROMPTS.values(), "ask_variables_on_launch"})
INVENTORY_SOURCES = ("file", "constructed", "scm", "ec2", "gce", "azure_rm", "vmware", "satellite6", "openstack",
                     "rhv", "controller", "insights", "terraform", "openshift_virtualization")
VERBOSITY = (0, 1, 2, 3, 4, 5)

KINDS: dict[str, Kind] = {kind.collection: kind for kind in (
    Kind("organizations", "organization", "Organization", {
        **NAMED, "max_hosts": number(minimum=0), "custom_virtualenv": text(100, nullable=True),
        "default_environment": link("execution_environments"),
    }, COMMON_READ_ONLY, unique_within=()),
    Kind("credentials", "credential", "Credential", {
        **NAMED, "organization": link("organizations"), "credential_type": link("credential_types", required=True),
        "inputs": document(), "user": link("users"),
    }, COMMON_READ_ONLY | {"kind", "cloud", "managed", "kubernetes"},
        unique_within=("organization", "credential_type")),
    Kind("execution_environments", "execution_environment", "Execution Environment", {
        **NAMED, "organization": link("organizations"), "image": text(1024, required=True),
        "credential": link("credentials"), "pull": choice("", "always", "missing", "never"),
    }, COMMON_READ_ONLY | {"managed"}),
    Kind("projects", "project", "Project", {
        **NAMED, "local_path": text(1024), "scm_type": choice("", "git", "svn", "insights", "archive"),
        "scm_url": text(1024), "scm_branch": text(256), "scm_refspec": text(1024), "scm_clean": flag(),
        "scm_track_submodules": flag(), "scm_delete_on_update": flag(), "credential": link("credentials"),
        "timeout": number(), "organization": link("organizations"), "scm_update_on_launch": flag(),
        "scm_update_cache_timeout": number(minimum=0), "allow_override": flag(),
        "custom_virtualenv": text(100, nullable=True), "default_environment": link("execution_environments"),
        "signature_validation_credential": link("credentials"),
    }, TEMPLATE_READ_ONLY | {"scm_revision", "last_update_failed", "last_updated"},
        unique_within=("organization",), template=True),
    Kind("inventories", "inventory", "Inventory", {
        **NAMED, "organization": link("organizations", required=True), "kind": choice("", "smart", "constructed"),
        "host_filter": text(nullable=True), "variables": variables(), "prevent_instance_group_fallback": flag(),
    }, COMMON_READ_ONLY | {"total_hosts", "has_inventory_sources", "total_inventory_sources", "pending_deletion"},
        unique_within=("organization",)),
    Kind("inventory_sources", "inventory_source", "Inventory Source", {
        **NAMED, "source": choice(*INVENTORY_SOURCES, default=None), "source_path": text(1024),
        "source_vars": variables(), "scm_branch": text(1024), "credential": link("credentials"),
        "enabled_var": text(), "enabled_value": text(), "host_filter": text(nullable=True), "overwrite": flag(),
        "overwrite_vars": flag(), "custom_virtualenv": text(100, nullable=True), "timeout": number(),
        "verbosity": choice(0, 1, 2, default=1), "limit": text(),
        "execution_environment": link("execution_environments"),
        "inventory": link("inventories", required=True), "update_on_launch": flag(),
        "update_cache_timeout": number(minimum=0), "source_project": link("projects"),
    }, TEMPLATE_READ_ONLY | {"last_update_failed", "last_updated"}, unique_within=("inventory",), template=True),
    Kind("job_templates", "job_template", "Job Template", {
        **NAMED, "job_type": choice("run", "check", default="run"), "inventory": link("inventories"),
        "project": link("projects"), "playbook": text(1024), "scm_branch": text(1024),
        "forks": number(minimum=0), "limit": text(), "verbosity": choice(*VERBOSITY, default=0),
        "extra_vars": variables(), "job_tags": text(1024), "force_handlers": flag(), "skip_tags": text(1024),
        "start_at_task": text(1024), "timeout": number(), "use_fact_cache": flag(),
        "execution_environment": link("execution_environments"), "host_config_key": text(1024),
        **{ask: flag() for ask in ASK_FIELDS},
        "survey_enabled": flag(), "become_enabled": flag(), "diff_mode": flag(), "allow_simultaneous": flag(),
        "custom_virtualenv": text(100, nullable=True), "job_slice_count": number(1, minimum=1),
        "webhook_service": choice("", "github", "gitlab"), "webhook_credential": link("credentials"),
        "webhook_key": text(64), "prevent_instance_group_fallback": flag(),
    }, TEMPLATE_READ_ONLY | {"organization"}, unique_within=("organization",), template=True),
    Kind("schedules", "schedule", "Schedule", {
        **NAMED, "unified_job_template": link("unified_job_templates", required=True), "enabled": flag(True),
        "rrule": text(required=True), "extra_data": document(), "inventory": link("inventories"),
        "scm_branch": text(1024, nullable=True), "job_type": choice("", "run", "check", default=None, nullable=True),
        "job_tags": text(1024, nullable=True), "skip_tags": text(1024, nullable=True),
        "limit": text(nullable=True), "diff_mode": flag(nullable=True),
        "verbosity": choice(*VERBOSITY, default=None, nullable=True),
        "execution_environment": link("execution_environments"), "forks": number(None, minimum=0, nullable=True),
        "job_slice_count": number(None, minimum=0, nullable=True), "timeout": number(None, nullable=True),
    }, COMMON_READ_ONLY | {"next_run", "dtstart", "dtend", "timezone", "until"},
        unique_within=("unified_job_template",)),
)}
TEMPLATE_COLLECTIONS = tuple(name for name, kind in KINDS.items() if kind.template)
# The read-only fields a new record starts with, before anything updates or runs it.
NEVER_RUN = {"status": "never updated", "last_job_run": None, "last_job_failed": False, "next_job_run": None}
INITIAL = {
    "projects": {**NEVER_RUN, "scm_revision": "", "last_update_failed": False, "last_updated": None},
    "inventory_sources": {**NEVER_RUN, "last_update_failed": False, "last_updated": None},
    "job_templates": {**NEVER_RUN, "status": "never updated"},
    "inventories": {"total_hosts": 0, "pending_deletion": False},
    "execution_environments": {"managed": False},
}
JOB_COLLECTIONS = ("project_updates", "inventory_updates", "jobs")
# Names for the fields a name must be unique within, as Django's unique_together message spells them.
UNIQUE_LABELS = {"organization": "Organization", "credential_type": "Credential type", "inventory": "Inventory",
                 "unified_job_template": "Unified job template"}

# The managed credential types that matter here: AWX's ids, kinds and input fields.
CREDENTIAL_TYPES = (
    (1, "Machine", "ssh", "ssh", ("username", "password", "ssh_key_data", "ssh_key_unlock", "become_method",
                                  "become_username", "become_password"), (), {"password", "ssh_key_data",
                                                                                "ssh_key_unlock", "become_password"}),
    (2, "Source Control", "scm", "scm", ("username", "password", "ssh_key_data", "ssh_key_unlock"), (),
     {"password", "ssh_key_data", "ssh_key_unlock"}),
    (3, "Vault", "vault", "vault", ("vault_password", "vault_id"), ("vault_password",), {"vault_password"}),
    (5, "Amazon Web Services", "cloud", "aws", ("username", "password", "security_token", "sts_assume_role_arn"),
     ("username", "password"), {"password", "security_token"}),
    (17, "Container Registry", "registry", "registry", ("host", "username", "password", "verify_ssl"), ("host",),
     {"password"}),
)
CREDENTIAL_KINDS_FOR_JOBS = ("ssh", "vault", "cloud", "net", "kubernetes")

# AWX's playbook discovery: a YAML file with a play's `hosts:` or an import_playbook line, or vaulted.
PLAYBOOK_LINE = re.compile(r"^\s*-?\s*(?:hosts|(?:ansible\.builtin\.)?import_playbook):\s*.*$")
SECRET_NAME = re.compile(r"API|TOKEN|KEY|SECRET|PASS", re.IGNORECASE)
URL_PASSWORD = re.compile(r"^(.*?://[^:/@]+:)([^@]*)(@.*)$")
# A container image reference: [registry[:port]/]path[:tag][@digest], as AWX's image name validator reads it.
IMAGE_NAME = re.compile(
    r"^(?:(?=[^:/]{1,253})(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*(?::\d{1,5})?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$")
GIT_URL_SCHEMES = ("http", "https", "ssh", "git", "git+ssh", "file")
# True and 1, False and 0 are one value each to a set: both spellings are accepted.
TRUE_VALUES = {True, "1", "t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
FALSE_VALUES = {False, "0", "f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
                ""}


def _timestamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_mapping(value: Any) -> dict:
    """A mapping given as such, or as JSON or YAML text, as AWX parses extra variables."""
    if isinstance(value, dict):
        return value
    if value in (None, ""):
        return {}
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise _FieldError(f"Cannot parse as JSON or YAML: {error}") from None
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise _FieldError(f"Input type `{type(parsed).__name__}` is not a dictionary")
    return parsed


def _coerce(field_spec: Field, value: Any, exists: Callable[[str, int], bool]) -> Any:
    """A request value as AWX's serializer field takes it, or _FieldError with AWX's message."""
    kind = field_spec.kind
    if value is None:
        if field_spec.nullable:
            return None
        if kind in ("text", "variables", "choice"):
            return ""  # AWX's char and choice fields take null as ""
        if kind == "flag":
            return False  # and its boolean fields as false
        raise _FieldError("This field may not be null.")
    if kind in ("text", "variables"):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _FieldError("Not a valid string.")
        value = str(value)
        if field_spec.required and not value.strip():
            raise _FieldError("This field may not be blank.")
        if field_spec.max_length and len(value) > field_spec.max_length:
            raise _FieldError(f"Ensure this field has no more than {field_spec.max_length} characters.")
        if kind == "variables":
            _parse_mapping(value)
        return value
    if kind == "flag":
        if isinstance(value, (bool, int, str)):
            if value in TRUE_VALUES:
                return True
            if value in FALSE_VALUES:
                return False
        raise _FieldError("Must be a valid boolean.")
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _FieldError("A valid integer is required.")
        try:
            whole = int(value) if not isinstance(value, float) or value.is_integer() else None
        except ValueError:
            whole = None
        if whole is None:
            raise _FieldError("A valid integer is required.")
        if field_spec.minimum is not None and whole < field_spec.minimum:
            raise _FieldError(f"Ensure this value is greater than or equal to {field_spec.minimum}.")
        if field_spec.maximum is not None and whole > field_spec.maximum:
            raise _FieldError(f"Ensure this value is less than or equal to {field_spec.maximum}.")
        return whole
    if kind == "choice":
        for option in field_spec.choices:
            if str(option) == str(value) and not isinstance(value, (dict, list, bool)):
                return option
        raise _FieldError(f'"{value}" is not a valid choice.')
    if kind == "link":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise _FieldError(f"Incorrect type. Expected pk value, received {type(value).__name__}.")
        try:
            pk = int(value)
        except ValueError:
            raise _FieldError("Incorrect type. Expected pk value, received str.") from None
        if not exists(field_spec.target, pk):
            raise _FieldError(f'Invalid pk "{pk}" - object does not exist.')
        return pk
    if kind == "document":
        return _parse_mapping(value)
    raise AssertionError(kind)


# ---- schedules' recurrence rules ---------------------------------------------------------------------------


def rrule_errors(value: str) -> list[str]:
    """AWX's checks of a schedule's rrule, then RFC 5545 parsing: the messages AWX gives, empty if valid."""
    errors = []
    starts = re.findall(r"DTSTART(?:;[^:]+)?:[0-9]+T[0-9]+Z?", value)
    if not starts:
        errors.append("Valid DTSTART required in rrule. Value should start with: DTSTART:YYYYMMDDTHHMMSSZ")
    if re.search(r"DTSTART:[0-9]+T[0-9]+(?:\s|$)", value):
        errors.append("DTSTART cannot be a naive datetime.  Specify ;TZINFO= or YYYYMMDDTHHMMSSZZ.")
    if len(starts) > 1:
        errors.append("Multiple DTSTART is not supported.")
    lowered = value.lower()
    if "rrule:" not in lowered:
        errors.append("One or more rule required in rrule.")
    if "exdate:" in lowered:
        return ["EXDATE not allowed in rrule."]
    if "rdate:" in lowered:
        return ["RDATE not allowed in rrule."]
    for rule in re.findall(r"RULE:\S*", value):
        if "interval" not in rule.lower():
            errors.append(f"INTERVAL required in rrule: {rule}")
        elif "secondly" in rule.lower():
            errors.append(f"SECONDLY is not supported: {rule}")
        if re.search(r"BYDAY[:=][0-9]+[a-zA-Z]{2}", rule):
            errors.append(f"BYDAY with numeric prefix not supported: {rule}")
        if "COUNT" in rule and "UNTIL" in rule:
            errors.append(f"RRULE may not contain both COUNT and UNTIL: {rule}")
        count = re.search(r"COUNT=([0-9]+)", rule)
        if count and int(count.group(1)) > 999:
            errors.append(f"COUNT > 999 is unsupported: {rule}")
    try:
        parse_rrule(value)
    except (ValueError, TypeError, OverflowError) as error:
        errors.append(f"rrule parsing failed validation: {error}")
    return errors


def parse_rrule(value: str) -> dateutil_rrule.rruleset:
    """The rule set of an rrule, as AWX's Schedule.rrulestr reads it: whitespace-separated lines, a naive UNTIL
    read in DTSTART's zone; a DTSTART without a time zone refused."""
    start_in_utc = re.search(r"DTSTART:[0-9]+T[0-9]+Z", value)
    if start_in_utc:
        value = re.sub(r"(UNTIL=[0-9]+T[0-9]+)(?![0-9Z])", r"\1Z", value)
    ruleset = dateutil_rrule.rrulestr(value, forceset=True)
    first = next(iter(ruleset), None)
    if first is not None and first.tzinfo is None:
        raise ValueError("A valid TZID must be provided (e.g., America/New_York)")
    return ruleset


def schedule_times(value: str, now: datetime | None = None) -> dict[str, Any]:
    """A schedule's computed fields: next_run after now, the first and (if bounded) last run, zone, until."""
    ruleset = parse_rrule(value)
    now = now or datetime.now(UTC)
    first = next(iter(ruleset), None)
    following = ruleset.after(now)
    # A bounded rule (COUNT is at most 999) ends at its last run; an unbounded one has no end.
    last = deque(itertools.islice(ruleset, 100_000), maxlen=1) if re.search(r"COUNT=|UNTIL=", value) else ()
    zone = re.search(r"DTSTART;TZID=([^:]+):", value)
    until = re.search(r"UNTIL=([0-9]{8}T[0-9]{6})", value)
    return {
        "dtstart": _iso(first),
        "dtend": _iso(last[0]) if last else None,
        "next_run": _iso(following),
        "timezone": zone.group(1) if zone else "UTC",
        "until": datetime.strptime(until.group(1), "%Y%m%dT%H%M%S").isoformat() if until else "",
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


# ---- surveys --------------------------------------------------------------------------------------------------

SURVEY_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str,
                "integer": int, "float": float}


def survey_spec_error(spec: Any, old_spec: dict) -> str | None:
    """AWX's check of a posted survey spec: the first problem, or None. Normalizes choices and defaults given
    as newline-separated text, and keeps a password question's stored default when $encrypted$ is posted."""
    if not isinstance(spec, dict):
        return "Field 'name' is missing from survey spec."
    error = None
    for name, expected, label in (("name", str, "string"), ("description", str, "string"),
                                  ("spec", list, "list of items")):
        if name not in spec:
            error = f"Field '{name}' is missing from survey spec."
        elif not isinstance(spec[name], expected):
            error = f"Expected {label} for field '{name}', received {type(spec[name]).__name__} type."
    if isinstance(spec.get("spec"), list) and not spec["spec"]:
        error = "'spec' doesn't contain any items."
    if error:
        return error
    old_questions = {item.get("variable"): item for item in old_spec.get("spec", []) if isinstance(item, dict)}
    seen = set()
    for index, question in enumerate(spec["spec"]):
        if not isinstance(question, dict):
            return f"Survey question {index} is not a json object."
        for name in ("type", "question_name", "variable", "required"):
            if name not in question:
                return f"'{name}' missing from survey question {index}"
            expected, label = (bool, "boolean") if name == "required" else (str, "string")
            if not isinstance(question[name], expected):
                return f"'{name}' in survey question {index} expected to be {label}."
        if question["variable"] in seen:
            return f"'variable' '{question['variable']}' duplicated in survey question {index}."
        seen.add(question["variable"])
        kind = question["type"]
        if kind not in SURVEY_TYPES:
            return (f"'{kind}' in survey question {index} is not one of '{', '.join(SURVEY_TYPES)}' allowed "
                    "question types.")
        default = question.get("default", "")
        if default != "" and not isinstance(default, SURVEY_TYPES[kind]):
            label = kind if kind in ("integer", "float") else "string"
            return f"Default value {default} in survey question {index} expected to be {label}."
        for limit in ("min", "max"):
            if question.get(limit) is not None and not isinstance(question[limit], int):
                return f"The {limit} limit in survey question {index} expected to be integer."
        if kind in ("multiplechoice", "multiselect"):
            if "choices" not in question:
                return f"Survey question {index} of type {kind} must specify choices."
            if isinstance(question["choices"], str):
                question["choices"] = "\n".join(line for line in question["choices"].splitlines() if line.strip())
            if "default" in question:
                if isinstance(question["default"], str):
                    question["default"] = "\n".join(
                        line for line in question["default"].splitlines() if line.strip())
                    defaults = question["default"].splitlines()
                else:
                    defaults = question["default"]
                if kind == "multiplechoice" and len(defaults) > 1:
                    return "Multiple Choice (Single Select) can only have one default value."
                if any(item not in question["choices"] for item in defaults):
                    return "Default choice must be answered from the choices listed."
        if isinstance(default, str) and default.startswith(ENCRYPTED):
            if kind != "password":
                return (f"$encrypted$ is a reserved keyword for password question defaults, survey question "
                        f"{index} is type {kind}.")
            old_default = old_questions.get(question["variable"], {}).get("default")
            if not isinstance(old_default, str):
                return f"$encrypted$ is a reserved keyword, may not be used for new default in position {index}."
            question["default"] = old_default
    return None


def _choices(question: dict) -> list:
    options = question.get("choices", [])
    return [line for line in options.splitlines() if line.strip()] if isinstance(options, str) else list(options)


def survey_answer_errors(question: dict, answers: dict, required: bool = True) -> list[str]:
    """AWX's check of one survey answer (or its absence): the messages AWX gives."""
    variable, kind = question["variable"], question["type"]
    if variable not in answers:
        return [f"'{variable}' value missing"] if question["required"] and required else []
    value = answers[variable]
    if kind in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return [f"Value {value} for '{variable}' expected to be a string."]
        errors = []
        if question.get("min") not in ("", None) and len(value) < int(question["min"]):
            errors.append(f"'{variable}' value {value} is too small (length is {len(value)} must be at least "
                          f"{question['min']}).")
        if question.get("max") not in ("", None) and len(value) > int(question["max"]):
            errors.append(f"'{variable}' value {value} is too large (must be no more than {question['max']}).")
        return errors
    if kind in ("integer", "float"):
        numeric = (int,) if kind == "integer" else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric):
            label = "an integer" if kind == "integer" else "a numeric type"
            return [f"Value {value} for '{variable}' expected to be {label}."]
        errors = []
        if question.get("min") not in ("", None) and value < question["min"]:
            errors.append(f"'{variable}' value {value} is too small (must be at least {question['min']}).")
        if question.get("max") not in ("", None) and value > question["max"]:
            errors.append(f"'{variable}' value {value} is too large (must be no more than {question['max']}).")
        return errors
    if kind == "multiselect":
        if not isinstance(value, list):
            return [f"'{variable}' value is expected to be a list."]
        return [f"Value {item} for '{variable}' expected to be one of {_choices(question)}."
                for item in value if item not in _choices(question)]
    if kind == "multiplechoice" and value not in _choices(question):
        return [f"Value {value} for '{variable}' expected to be one of {_choices(question)}."]
    return []


# ---- the controller's state and API semantics ----------------------------------------------------------------


@dataclass
class Response:
    status: int
    body: Any = None
    content_type: str = "application/json"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    user: dict | None = None


class ControllerState:
    """Everything the controller holds, and AWX's rules for changing it. One lock guards it all."""

    def __init__(self, username: str, password: str, work_dir: Path, task_env: dict[str, str]) -> None:
        self.lock = threading.RLock()
        self.password = password
        self.work_dir = work_dir
        self.task_env = dict(task_env)
        self._ids: dict[str, itertools.count] = {}
        self.objects: dict[str, dict[int, dict]] = {
            name: {} for name in (*KINDS, "credential_types", "users", "tokens", *JOB_COLLECTIONS)}
        self.runner: JobRunner | None = None
        now = _timestamp()
        self.objects["users"][1] = {"id": 1, "username": username, "first_name": "", "last_name": "", "email": "",
                                    "is_superuser": True, "is_system_auditor": False, "created": now}
        for pk, name, kind, namespace, inputs, required, secret in CREDENTIAL_TYPES:
            self.objects["credential_types"][pk] = {
                "id": pk, "name": name, "description": "", "kind": kind, "namespace": namespace, "managed": True,
                "inputs": {"fields": [{"id": input_id, "label": input_id, "type": "string",
                                       **({"secret": True} if input_id in secret else {})} for input_id in inputs],
                           "required": list(required)},
                "injectors": {}, "created": now, "modified": now}
        self._insert("organizations", {"name": "Default", "description": "The default organization"})
        self._insert("execution_environments", {"name": "AWX EE (latest)", "image": "quay.io/ansible/awx-ee:latest",
                                                "pull": ""})

    # -- ids and lookups

    def next_id(self, collection: str) -> int:
        sequence = ("unified_job_templates" if collection in TEMPLATE_COLLECTIONS
                    else "unified_jobs" if collection in JOB_COLLECTIONS else collection)
        return next(self._ids.setdefault(sequence, itertools.count(1)))

    def _insert(self, collection: str, values: dict) -> dict:
        kind = KINDS[collection]
        now = _timestamp()
        record = {name: copy.deepcopy(spec.default) for name, spec in kind.fields.items()}
        record.update(copy.deepcopy(INITIAL.get(collection, {})), **values)
        record.update(id=self.next_id(collection), created=now, modified=now)
        self.objects[collection][record["id"]] = record
        return record

    def exists(self, target: str, pk: int) -> bool:
        return self.find(target, pk) is not None

    def find(self, target: str, pk: int | None) -> dict | None:
        if pk is None:
            return None
        if target == "unified_job_templates":
            return next((self.objects[name][pk] for name in TEMPLATE_COLLECTIONS if pk in self.objects[name]), None)
        return self.objects[target].get(pk)

    def get(self, collection: str, pk: int) -> dict:
        record = self.find(collection, pk)
        if record is None:
            raise ApiError(404, NOT_FOUND)
        return record

    def template_collection(self, pk: int) -> str:
        return next(name for name in TEMPLATE_COLLECTIONS if pk in self.objects[name])

    # -- representation

    def url(self, collection: str, pk: int, sub: str = "") -> str:
        return f"{API_ROOT}{collection}/{pk}/{sub + '/' if sub else ''}"

    def brief(self, collection: str, pk: int | None) -> dict | None:
        record = self.find(collection, pk)
        if record is None:
            return None
        summary = {"id": record["id"], "name": record.get("name", record.get("username")),
                   "description": record.get("description", "")}
        if collection == "credentials":
            summary.update(kind=self.objects["credential_types"][record["credential_type"]]["kind"])
        return summary

    def represent(self, collection: str, record: dict) -> dict:
        """A record as AWX's API shows it: its fields, type, url, related links and summary fields."""
        pk = record["id"]
        shown = {key: copy.deepcopy(value) for key, value in record.items() if not key.startswith("_")}
        kind = KINDS.get(collection)
        type_name = kind.type if kind else {"jobs": "job", "project_updates": "project_update",
                                            "inventory_updates": "inventory_update",
                                            "credential_types": "credential_type", "users": "user"}[collection]
        related: dict[str, str] = {}
        summary: dict[str, Any] = {}
        fields = kind.fields if kind else {}
        for name, spec in fields.items():
            if spec.kind == "link" and record.get(name) is not None:
                target = spec.target if spec.target != "unified_job_templates" else self.template_collection(
                    record[name])
                related[name] = self.url(target, record[name])
                summary[name] = self.brief(target, record[name])
        if collection == "credentials":
            credential_type = self.objects["credential_types"][record["credential_type"]]
            secret = {item["id"] for item in credential_type["inputs"]["fields"] if item.get("secret")}
            shown["inputs"] = {key: ENCRYPTED if key in secret and value else value
                               for key, value in record["inputs"].items()}
            shown.update(kind=credential_type["kind"], cloud=credential_type["kind"] == "cloud", managed=False)
        elif collection == "job_templates":
            related.update({sub: self.url(collection, pk, sub) for sub in (
                "survey_spec", "credentials", "launch", "schedules", "jobs")})
            summary["credentials"] = [self.brief("credentials", credential) for credential in record["_credentials"]]
            spec = record["_survey_spec"]
            if "name" in spec and "description" in spec:
                summary["survey"] = {"title": spec["name"], "description": spec["description"]}
            if record.get("organization") is not None:
                summary["organization"] = self.brief("organizations", record["organization"])
        elif collection == "projects":
            related.update({sub: self.url(collection, pk, sub) for sub in ("update", "playbooks", "project_updates")})
        elif collection == "inventories":
            related.update({sub: self.url(collection, pk, sub) for sub in ("inventory_sources", "script")})
        elif collection == "inventory_sources":
            related.update({sub: self.url(collection, pk, sub) for sub in ("update", "inventory_updates")})
        elif collection == "schedules":
            shown.update(schedule_times(record["rrule"]))
        elif collection == "jobs":
            related.update({sub: self.url(collection, pk, sub) for sub in ("job_events", "stdout", "credentials")})
            for name, target in (("job_template", "job_templates"), ("inventory", "inventories"),
                                 ("project", "projects"), ("execution_environment", "execution_environments"),
                                 ("schedule", "schedules")):
                if record.get(name) is not None:
                    related[name] = self.url(target, record[name])
                    summary[name] = self.brief(target, record[name])
            summary["credentials"] = [self.brief("credentials", credential) for credential in record["_credentials"]]
        shown.update(type=type_name, url=self.url(collection, pk), related=related, summary_fields=summary)
        return shown

    # -- lists and filters

    def listing(self, collection: str, query: dict[str, list[str]], records: Iterable[dict] | None = None,
                path: str = "") -> dict:
        """A page of a collection, filtered by the query as AWX's field lookups filter it."""
        if records is None:
            if collection == "unified_job_templates":
                records = [self.represent(name, record) for name in TEMPLATE_COLLECTIONS
                           for record in self.objects[name].values()]
                for record in records:
                    if record["type"] == "inventory_source":
                        record["organization"] = self.objects["inventories"][record["inventory"]]["organization"]
            else:
                records = [self.represent(collection, record) for record in self.objects[collection].values()]
        records = sorted(records, key=lambda record: record["id"])
        alternatives = []
        for key, values in query.items():
            if key in ("page", "page_size", "format", "order_by", "hostvars"):
                continue
            name, _, lookup = key.removeprefix("or__").partition("__")
            if records and name not in records[0] and name not in ("id",):
                raise ApiError(400, {"detail": f"Cannot resolve keyword '{name}' into field."})
            test = self._lookup(name, lookup or "exact", values[-1])
            if key.startswith("or__"):
                alternatives.append(test)
            else:
                records = [record for record in records if test(record)]
        if alternatives:
            records = [record for record in records if any(test(record) for test in alternatives)]
        try:
            page = max(1, int(query.get("page", ["1"])[-1]))
            size = min(MAX_PAGE_SIZE, max(1, int(query.get("page_size", [str(PAGE_SIZE)])[-1])))
        except ValueError:
            raise ApiError(404, {"detail": "Invalid page."}) from None
        start = (page - 1) * size
        if start and start >= len(records):
            raise ApiError(404, {"detail": "Invalid page."})

        def page_url(number: int) -> str:
            kept = [(key, value) for key, values in query.items() if key != "page" for value in values]
            return f"{path}?{urllib.parse.urlencode([*kept, ('page', number)])}"

        return {"count": len(records), "next": page_url(page + 1) if start + size < len(records) else None,
                "previous": page_url(page - 1) if page > 1 else None, "results": records[start:start + size]}

    @staticmethod
    def _lookup(name: str, lookup: str, wanted: str) -> Callable[[dict], bool]:
        def text_of(value: Any) -> str:
            if isinstance(value, bool):
                return "true" if value else "false"
            return "" if value is None else str(value)

        def normalized(value: str) -> str:
            return {"True": "true", "False": "false", "None": "", "null": ""}.get(value, value)

        if lookup in ("exact", "iexact"):
            fold = str.lower if lookup == "iexact" else str
            return lambda record: fold(text_of(record.get(name))) == fold(normalized(wanted))
        if lookup in ("contains", "icontains"):
            fold = str.lower if lookup == "icontains" else str
            return lambda record: fold(wanted) in fold(text_of(record.get(name)))
        if lookup == "in":
            options = {normalized(option) for option in wanted.split(",")}
            return lambda record: text_of(record.get(name)) in options
        if lookup == "isnull":
            expected = wanted.lower() in ("true", "1")
            return lambda record: (record.get(name) is None) == expected
        raise ApiError(400, {"detail": f"Unsupported field lookup: {lookup}"})

    # -- create, update, delete

    def create(self, collection: str, body: Any) -> Response:
        kind = KINDS[collection]
        attrs = self._validated(kind, body, None)
        record = {name: copy.deepcopy(spec.default) for name, spec in kind.fields.items()}
        record.update(copy.deepcopy(INITIAL.get(collection, {})), **attrs)
        self._derive(collection, record, attrs, None)
        self._check_unique(kind, record, None)
        now = _timestamp()
        record.update(id=self.next_id(collection), created=now, modified=now)
        self.objects[collection][record["id"]] = record
        summary = self._after_save(collection, record, attrs, None)
        return Response(201, self._with_summary(collection, record, summary))

    def update(self, collection: str, pk: int, body: Any) -> Response:
        kind = KINDS[collection]
        record = self.get(collection, pk)
        before = copy.deepcopy(record)
        attrs = self._validated(kind, body, record)
        merged = {**record, **attrs}
        self._derive(collection, merged, attrs, record)
        self._check_unique(kind, merged, pk)
        record.update(merged, modified=_timestamp())
        summary = self._after_save(collection, record, attrs, before)
        return Response(200, self._with_summary(collection, record, summary))

    def delete(self, collection: str, pk: int) -> Response:
        self.get(collection, pk)
        del self.objects[collection][pk]
        return Response(204)

    def _with_summary(self, collection: str, record: dict, summary: dict) -> dict:
        shown = self.represent(collection, record)
        shown["summary_fields"].update(summary)
        return shown

    def _validated(self, kind: Kind, body: Any, instance: dict | None) -> dict:
        """The request's fields, each coerced and checked; then the kind's checks across fields."""
        if not isinstance(body, dict):
            raise invalid({"non_field_errors": [
                f"Invalid data. Expected a dictionary, but got {type(body).__name__}."]})
        errors: dict[str, list[str]] = {}
        attrs = {}
        for name, value in body.items():
            spec = kind.fields.get(name)
            if spec is None:
                if name not in kind.read_only:
                    errors[name] = [f"Unknown field: AWX {AWX_VERSION}'s {kind.type} has no field of this name "
                                    "(the emulator refuses what AWX would silently drop)."]
                continue
            try:
                attrs[name] = _coerce(spec, value, self.exists)
            except _FieldError as error:
                errors[name] = [str(error)]
        if instance is None:
            for name, spec in kind.fields.items():
                if spec.required and name not in body:
                    errors.setdefault(name, ["This field is required."])
        if errors:
            raise invalid(errors)
        merged = {**(instance or {name: copy.deepcopy(spec.default) for name, spec in kind.fields.items()}), **attrs}
        check = getattr(self, f"_check_{kind.collection}", None)
        if check:
            check(merged, attrs, instance)
        return attrs

    def _check_unique(self, kind: Kind, record: dict, pk: int | None) -> None:
        if kind.unique_within is None:
            return
        for other in self.objects[kind.collection].values():
            if other["id"] != pk and other["name"] == record["name"] and all(
                    other.get(name) == record.get(name) for name in kind.unique_within):
                if not kind.unique_within:
                    raise invalid({"name": [f"{kind.label} with this Name already exists."]})
                others = [UNIQUE_LABELS[name] for name in kind.unique_within]
                together = " and ".join([", ".join(["Name", *others[:-1]]), others[-1]])
                raise invalid({"__all__": [f"{kind.label} with this {together} already exists."]})

    def _derive(self, collection: str, record: dict, attrs: dict, instance: dict | None) -> None:
        if collection == "job_templates":
            project = self.find("projects", record.get("project"))
            record["organization"] = project["organization"] if project else None
            record.setdefault("_survey_spec", {})
            record.setdefault("_credentials", [])
        elif collection == "credentials":
            record.setdefault("inputs", {})

    def _after_save(self, collection: str, record: dict, attrs: dict, before: dict | None) -> dict:
        """What saving starts: a project's update when it is new or its source changed. Returns summary fields
        that only this response shows."""
        if collection != "projects" or not record["scm_type"]:
            return {}
        source = ("scm_type", "scm_url", "scm_branch", "scm_refspec")
        if before is not None and all(before[name] == record[name] for name in source):
            return {}
        update = self.update_project(record["id"], "manual")
        return {"current_update": {"id": update["id"], "name": record["name"], "description": "",
                                   "status": update["status"], "failed": update["failed"]}}

    # -- each kind's checks across fields, as AWX's serializers and model clean methods make them

    def _check_credentials(self, record: dict, attrs: dict, instance: dict | None) -> None:
        if instance is None and record.get("organization") is None and record.get("user") is None:
            raise invalid({"detail": ["Missing 'user', 'team', or 'organization'."]})
        credential_type = self.objects["credential_types"][record["credential_type"]]
        known = {item["id"] for item in credential_type["inputs"]["fields"]}
        errors = {key: [f"'{key}' is not a field of {credential_type['name']}."] for key in record["inputs"]
                  if key not in known}
        errors.update({key: ["required for " + credential_type["name"]] for key in credential_type["inputs"]["required"]
                       if not record["inputs"].get(key)})
        if errors:
            raise invalid({"inputs": errors})

    def _check_execution_environments(self, record: dict, attrs: dict, instance: dict | None) -> None:
        if not IMAGE_NAME.match(record["image"]):
            raise invalid({"image": [f"Invalid container image name {record['image']}"]})
        credential = self.find("credentials", record.get("credential"))
        if credential and self.objects["credential_types"][credential["credential_type"]]["kind"] != "registry":
            raise invalid({"credential": ["Execution Environment credential must be of type registry."]})

    def _check_projects(self, record: dict, attrs: dict, instance: dict | None) -> None:
        if record["scm_type"] == "":
            for name in ("scm_update_on_launch", "scm_delete_on_update", "scm_track_submodules", "scm_clean"):
                if record[name]:
                    raise invalid({name: ["Update options must be set to false for manual projects."]})
            return
        url = record["scm_url"].strip()
        if not url:
            raise invalid({"scm_url": ["SCM URL is required."]})
        if record["scm_type"] == "git":
            scheme = urllib.parse.urlsplit(url).scheme
            scp_like = re.match(r"^[\w.-]+@[\w.-]+:", url)
            if not (scheme in GIT_URL_SCHEMES or scp_like or url.startswith("/")):
                raise invalid({"scm_url": [f"Unsupported git URL: {url}"]})
        credential = self.find("credentials", record.get("credential"))
        if credential and self.objects["credential_types"][credential["credential_type"]]["kind"] != "scm":
            raise invalid({"credential": ["Credential kind must be 'scm'."]})

    def _check_inventories(self, record: dict, attrs: dict, instance: dict | None) -> None:
        if record["kind"] == "smart" and not record.get("host_filter"):
            raise invalid({"host_filter": ["Smart inventories must specify host_filter"]})
        if instance is not None and instance["kind"] == "" and record["kind"] == "smart":
            raise invalid({"kind": ["Cannot change a regular inventory into a smart inventory."]})

    def _check_inventory_sources(self, record: dict, attrs: dict, instance: dict | None) -> None:
        if not record.get("source"):
            raise invalid({"source": ["This field may not be blank."]})
        inventory = self.objects["inventories"][record["inventory"]]
        if inventory["kind"] == "smart":
            raise invalid({"inventory": ["Cannot create Inventory Source for Smart Inventory"]})
        if record["source"] == "scm":
            project = self.find("projects", record.get("source_project"))
            if project is None:
                raise invalid({"source_project": ["Project required for scm type sources."]})
            if project["scm_type"] == "":
                raise invalid({"source_project": ["Cannot use manual project for SCM-based inventory."]})
            if record["scm_branch"] and not project["allow_override"]:
                raise invalid({"scm_branch": ["Project does not allow overriding branch."]})
        else:
            redundant = [name for name in ("source_project", "source_path", "scm_branch") if record.get(name)]
            if redundant:
                raise invalid({"detail": [f"Cannot set {' '.join(redundant)} if not SCM type."]})

    def _check_job_templates(self, record: dict, attrs: dict, instance: dict | None) -> None:
        project = self.find("projects", record.get("project"))
        if project is None:
            raise invalid({"project": ["Job Templates must have a project assigned."]})
        if record.get("inventory") is None and not record["ask_inventory_on_launch"]:
            raise invalid({"inventory": ["You must either set a default value or ask to prompt on launch."]})
        playbooks = project.get("_playbooks", [])
        if record["playbook"] and not project["allow_override"] and record["playbook"] not in playbooks:
            raise invalid({"playbook": ["Playbook not found for project."]})
        if not record["playbook"]:
            raise invalid({"playbook": ["Must select playbook for project."]})
        if record["scm_branch"] and not project["allow_override"]:
            raise invalid({"scm_branch": ["Project does not allow overriding branch."]})
        if record["ask_scm_branch_on_launch"] and not project["allow_override"]:
            raise invalid({"ask_scm_branch_on_launch": ["Project does not allow overriding branch."]})
        if record["forks"] > MAX_FORKS:
            raise invalid({"forks": [f"Maximum number of forks ({MAX_FORKS}) exceeded."]})
        if record["webhook_credential"] is not None and not record["webhook_service"]:
            raise invalid({"webhook_credential": ["Must match the selected webhook service."]})

    def _check_schedules(self, record: dict, attrs: dict, instance: dict | None) -> None:
        errors = rrule_errors(record["rrule"])
        if errors:
            raise invalid({"rrule": errors})
        template_id = record["unified_job_template"]
        collection = self.template_collection(template_id)
        template = self.objects[collection][template_id]
        if collection == "projects" and template["scm_type"] == "":
            raise invalid({"unified_job_template": ["Manual Project cannot have a schedule set."]})
        if collection != "job_templates":
            return
        if instance is not None and attrs == {"enabled": False}:
            return  # disabling a schedule needs no check of its template, as in AWX
        prompt_errors = {name: ["Field is not configured to prompt on launch."]
                         for name, ask in PROMPTS.items() if record.get(name) not in (None, "") and not template[ask]}
        _, _, variable_errors = self.accept_variables(template, record["extra_data"], manual_launch=False)
        if variable_errors:
            prompt_errors["extra_data"] = variable_errors
        if prompt_errors:
            raise invalid(prompt_errors)

    # -- surveys, launches and schedules firing

    def accept_variables(self, template: dict, answers: dict, manual_launch: bool) -> tuple[dict, dict, list]:
        """AWX's split of launch-time variables into accepted and rejected ones, and the errors: a manual launch
        must answer the survey's required questions and has other variables ignored; a schedule's variables
        need not answer them (the defaults do at launch) but must each be allowed."""
        remaining = dict(answers)
        accepted, errors = {}, []
        spec = template["_survey_spec"]
        if template["survey_enabled"] and spec:
            for question in spec.get("spec", []):
                problems = survey_answer_errors(question, answers, required=manual_launch)
                errors += problems
                if not problems and question["variable"] in remaining:
                    accepted[question["variable"]] = remaining.pop(question["variable"])
        if template["ask_variables_on_launch"]:
            accepted.update(remaining)
            remaining = {}
        template_vars = _parse_mapping(template["extra_vars"])
        remaining = {key: value for key, value in remaining.items() if template_vars.get(key, object()) != value}
        if remaining and not manual_launch:
            errors.append(f"Variables {', '.join(map(str, remaining))} are not allowed on launch. Check the Prompt on "
                          "Launch setting on the Job Template to include Extra Variables.")
        return accepted, remaining, errors

    def launch_requirements(self, template: dict) -> dict:
        questions = template["_survey_spec"].get("spec", []) if template["survey_enabled"] else []
        needed = [question["variable"] for question in questions if question["required"]]
        return {
            "can_start_without_user_input": not needed and template["inventory"] is not None,
            "passwords_needed_to_start": [], "survey_enabled": template["survey_enabled"],
            "variables_needed_to_start": needed, "credential_needed_to_start": False,
            "inventory_needed_to_start": template["inventory"] is None,
            "job_template_data": {"name": template["name"], "id": template["id"],
                                  "description": template["description"]},
            **{ask: template[ask] for ask in ASK_FIELDS},
            "defaults": {"extra_vars": template["extra_vars"], "job_type": template["job_type"],
                         "limit": template["limit"], "job_tags": template["job_tags"],
                         "skip_tags": template["skip_tags"], "verbosity": template["verbosity"],
                         "diff_mode": template["diff_mode"], "forks": template["forks"],
                         "job_slice_count": template["job_slice_count"], "timeout": template["timeout"],
                         "inventory": self.brief("inventories", template["inventory"]),
                         "credentials": [self.brief("credentials", pk) for pk in template["_credentials"]]},
        }

    def launch(self, template_id: int, body: Any) -> Response:
        """POST /job_templates/<id>/launch/: AWX's checks of a manual launch, then a new job, queued."""
        template = self.get("job_templates", template_id)
        if body in (None, ""):
            body = {}
        if not isinstance(body, dict):
            raise invalid({"non_field_errors": ["Invalid data. Expected a dictionary."]})
        try:
            answers = _parse_mapping(body.get("extra_vars", {}))
        except _FieldError as error:
            raise invalid({"extra_vars": [str(error)]}) from None
        accepted, rejected, errors = self.accept_variables(template, answers, manual_launch=True)
        ignored: dict[str, Any] = {"extra_vars": rejected} if rejected else {}
        prompts = {}
        for name, value in body.items():
            if name == "extra_vars":
                continue
            if name in PROMPTS and template[PROMPTS[name]]:
                prompts[name] = value
            else:
                ignored[name] = value
        problems: dict[str, Any] = {}
        if errors:
            problems["variables_needed_to_start"] = errors
        project = self.find("projects", template["project"])
        if project is None:
            problems["project"] = "A project is required to run a job."
        elif project.get("status") == "failed":
            problems["playbook"] = "The project's last update failed; it must update before a job can run."
        if template["inventory"] is None and "inventory" not in prompts:
            problems["inventory"] = "Job Template 'inventory' is missing or undefined."
        if problems:
            raise invalid(problems)
        job = self.create_job(template, accepted, prompts, launch_type="manual")
        shown = self.represent("jobs", job)
        return Response(201, {"job": job["id"], "ignored_fields": ignored, **shown})

    def fire_schedule(self, schedule_id: int) -> int:
        """What AWX's scheduler does when a schedule is due: its template launched with the schedule's prompts."""
        schedule = self.get("schedules", schedule_id)
        if not schedule["enabled"]:
            raise ApiError(400, {"detail": "The schedule is disabled."})
        template = self.get("job_templates", schedule["unified_job_template"])
        prompts = {name: schedule[name] for name in PROMPTS if schedule.get(name) not in (None, "")}
        job = self.create_job(template, dict(schedule["extra_data"]), prompts, launch_type="scheduled",
                              schedule=schedule_id)
        return job["id"]

    def create_job(self, template: dict, answers: dict, prompts: dict, launch_type: str,
                   schedule: int | None = None) -> dict:
        """A job from its template as AWX's create_unified_job makes it. Extra variables: the template's, then
        the survey's defaults that pass its checks, then the answers."""
        extra_vars = _parse_mapping(template["extra_vars"])
        if template["survey_enabled"]:
            for question in template["_survey_spec"].get("spec", []):
                default = question.get("default")
                if default is not None and not survey_answer_errors(question, {question["variable"]: default}):
                    extra_vars[question["variable"]] = default
        extra_vars.update(answers)
        options = {name: template[name] for name in (
            "job_type", "inventory", "project", "playbook", "scm_branch", "forks", "limit", "verbosity",
            "job_tags", "force_handlers", "skip_tags", "start_at_task", "timeout", "use_fact_cache",
            "diff_mode", "become_enabled", "allow_simultaneous", "organization")}
        options.update({name: value for name, value in prompts.items() if name in options})
        inventory = self.find("inventories", options["inventory"])
        hosts = len(self.inventory_script(inventory["id"])["_meta"]["hostvars"]) if inventory else 0
        if min(template["job_slice_count"], hosts) > 1:
            raise invalid({"job_slice_count": [
                "The emulator runs one job per launch; AWX would launch a workflow of slices here."]})
        project = self.find("projects", options["project"])
        organization = self.find("organizations", options["organization"])
        environment = (prompts.get("execution_environment") or template["execution_environment"]
                       or (project or {}).get("default_environment")
                       or (organization or {}).get("default_environment")
                       or min(self.objects["execution_environments"]))
        now = _timestamp()
        job = {
            "id": self.next_id("jobs"), "name": template["name"], "description": template["description"],
            "created": now, "modified": now, "launch_type": launch_type, "status": "pending", "failed": False,
            "started": None, "finished": None, "elapsed": 0.0, "job_explanation": "", "result_traceback": "",
            "job_args": "", "job_cwd": "", "job_env": {}, "execution_node": "localhost", "job_template": template["id"],
            "schedule": schedule, **options, "extra_vars": json.dumps(extra_vars),
            "execution_environment": environment, "job_slice_number": 0, "job_slice_count": 1, "artifacts": {},
            "scm_revision": "", "_credentials": list(template["_credentials"]),
        }
        self.objects["jobs"][job["id"]] = job
        template.update(last_job_run=now, status="pending")
        if self.runner:
            self.runner.submit(job["id"])
        return job

    # -- project and inventory updates

    def update_project(self, project_id: int, launch_type: str) -> dict:
        """A project update: for a git project at a file:// URL (or a local path), the branch's commit and the
        playbooks of the working tree; any other source fails, as it would unreachable."""
        project = self.get("projects", project_id)
        now = _timestamp()
        update = {"id": self.next_id("project_updates"), "name": project["name"], "project": project_id,
                  "launch_type": launch_type, "status": "running", "failed": False, "created": now,
                  "started": now, "finished": None, "scm_revision": "", "job_explanation": "", "result_stdout": ""}
        self.objects["project_updates"][update["id"]] = update
        try:
            checkout, revision = _local_checkout(project)
            files = _checkout_files(checkout)
        except RuntimeError as error:
            update.update(status="failed", failed=True, job_explanation=str(error), result_stdout=str(error))
            project.update(status="failed", last_update_failed=True)
        else:
            playbooks = sorted(name for name in files if _could_be_playbook(checkout, name))
            update.update(status="successful", scm_revision=revision,
                          result_stdout=f"{len(files)} files at {revision}; playbooks: {', '.join(playbooks)}")
            project.update(status="successful", last_update_failed=False, scm_revision=revision,
                           _checkout=str(checkout), _playbooks=playbooks)
        update["finished"] = project["last_updated"] = project["last_job_run"] = _timestamp()
        project["last_job_failed"] = update["failed"]
        return update

    def update_inventory_source(self, source_id: int, launch_type: str) -> dict:
        """An inventory update of an scm source: `ansible-inventory --list --export` over the file in the source
        project's checkout, as AWX's inventory import reads it."""
        source = self.get("inventory_sources", source_id)
        now = _timestamp()
        update = {"id": self.next_id("inventory_updates"), "name": source["name"], "inventory_source": source_id,
                  "inventory": source["inventory"], "launch_type": launch_type, "status": "running",
                  "failed": False, "created": now, "started": now, "finished": None, "job_explanation": "",
                  "result_stdout": ""}
        self.objects["inventory_updates"][update["id"]] = update
        project = self.find("projects", source.get("source_project"))
        checkout = project.get("_checkout") if project else None
        problem = None
        if source["source"] != "scm":
            problem = f"The emulator imports scm inventory sources only, not {source['source']}."
        elif not checkout:
            problem = "The source project has not updated successfully."
        else:
            path = Path(checkout) / source["source_path"]
            if not source["source_path"] or not path.exists():
                problem = f"Source path {source['source_path']!r} not found in the project."
        if problem is None:
            self.lock.release()  # the import may take seconds; the API stays available meanwhile
            try:
                result = subprocess.run(
                    [str(BIN / "ansible-inventory"), "-i", str(path), "--list", "--export"], cwd=checkout,
                    capture_output=True, text=True, timeout=300, env=_clean_environment())
            finally:
                self.lock.acquire()
            if result.returncode != 0:
                problem = result.stderr.strip() or result.stdout.strip()
            else:
                source["_content"] = json.loads(result.stdout)
                update["result_stdout"] = result.stdout
        if problem is not None:
            update.update(status="failed", failed=True, job_explanation=problem, result_stdout=problem)
        else:
            update["status"] = "successful"
        update["finished"] = source["last_updated"] = source["last_job_run"] = _timestamp()
        source.update(last_update_failed=update["failed"], last_job_failed=update["failed"], status=update["status"])
        inventory = self.objects["inventories"][source["inventory"]]
        inventory["total_hosts"] = len(self.inventory_script(inventory["id"])["_meta"]["hostvars"])
        return update

    def inventory_script(self, inventory_id: int) -> dict:
        """The inventory as AWX's job inventory script prints it: groups, the inventory's variables on `all`,
        every host's variables under _meta; merged from what each source last imported."""
        inventory = self.get("inventories", inventory_id)
        script: dict[str, Any] = {"all": {"children": [], "vars": _parse_mapping(inventory["variables"])},
                                  "_meta": {"hostvars": {}}}
        sources = sorted((source for source in self.objects["inventory_sources"].values()
                          if source["inventory"] == inventory_id), key=lambda source: source["id"])
        for source in sources:
            for group, content in source.get("_content", {}).items():
                if group == "_meta":
                    for host, values in content.get("hostvars", {}).items():
                        script["_meta"]["hostvars"].setdefault(host, {}).update(values)
                    continue
                merged = script.setdefault(group, {})
                for key in ("hosts", "children"):
                    if content.get(key):
                        merged[key] = sorted({*merged.get(key, []), *content[key]})
                if content.get("vars"):
                    merged.setdefault("vars", {}).update(content["vars"])
                for host in content.get("hosts", []):
                    script["_meta"]["hostvars"].setdefault(host, {})
        return script


def _clean_environment() -> dict[str, str]:
    """The environment a job's processes start from: this Python's tools first, nothing of the test process's
    own (AWX runs jobs in a container of their own)."""
    return {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}


def _local_checkout(project: dict) -> tuple[Path, str]:
    if project["scm_type"] != "git":
        raise RuntimeError(f"The emulator updates git projects only, not {project['scm_type'] or 'manual'} ones.")
    url = project["scm_url"]
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        path = Path(urllib.parse.unquote(parts.path))
    elif url.startswith("/"):
        path = Path(url)
    else:
        raise RuntimeError(f"The emulator reaches file:// repositories only; {url} is out of reach.")
    branch = project["scm_branch"] or "HEAD"
    result = subprocess.run(["git", "-C", str(path), "rev-parse", "--verify", "--quiet", f"{branch}^{{commit}}"],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"fatal: couldn't find remote ref {branch} in {url}")
    root = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                          timeout=60)
    return Path(root.stdout.strip()), result.stdout.strip()


def _checkout_files(checkout: Path) -> list[str]:
    """The files a clone would hold, taken from the working tree: tracked ones, and untracked ones git does not
    ignore."""
    result = subprocess.run(["git", "-C", str(checkout), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(result.stderr.decode(errors="replace").strip())
    return sorted({name for name in result.stdout.decode().split("\0") if name and (checkout / name).is_file()})


def _could_be_playbook(checkout: Path, name: str) -> bool:
    """AWX's playbook discovery: YAML outside roles, tasks, group_vars, host_vars and hidden directories, with a
    play's hosts or an import_playbook line, or vaulted."""
    path = Path(name)
    if path.suffix not in (".yml", ".yaml"):
        return False
    directories = path.parts[:-1]
    if any(part in ("roles", "tasks", "group_vars", "host_vars") or part.startswith(".") for part in directories):
        return False
    try:
        with open(checkout / name, encoding="utf-8", errors="ignore") as lines:
            for number, line in enumerate(lines):
                if PLAYBOOK_LINE.match(line) or (number == 0 and line.startswith("$ANSIBLE_VAULT;")):
                    return True
    except OSError:
        return False
    return False


def redacted_environment(environment: dict[str, str]) -> dict[str, str]:
    """A job's environment as AWX's API shows it: values of names that look secret hidden, as are passwords in
    URLs; the AWS access key id and Ansible's own settings shown."""
    shown = {}
    for name, value in environment.items():
        if name == "AWS_ACCESS_KEY_ID" or (name.startswith("ANSIBLE_") and not name.startswith("ANSIBLE_NET")):
            shown[name] = value
        elif SECRET_NAME.search(name):
            shown[name] = HIDDEN_PASSWORD
        else:
            shown[name] = URL_PASSWORD.sub(rf"\g<1>{HIDDEN_PASSWORD}\g<3>", value) if isinstance(value, str) else value
    return shown


# ---- running jobs --------------------------------------------------------------------------------------------


class JobRunner:
    """AWX's dispatcher in miniature: jobs run one at a time, in a worker thread, as AWX's RunJob runs them."""

    def __init__(self, state: ControllerState) -> None:
        self.state = state
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="awx-job")
        self._process: subprocess.Popen | None = None
        self._stopping = False

    def submit(self, job_id: int) -> None:
        self._executor.submit(self._run_safely, job_id)

    def stop(self) -> None:
        self._stopping = True
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _run_safely(self, job_id: int) -> None:
        state = self.state
        with state.lock:
            job = state.objects["jobs"][job_id]
            job.update(status="running", started=_timestamp())
        started = time.monotonic()
        try:
            outcome = self._run(job_id)
        except Exception as error:  # a job that breaks the runner is an errored job, as in AWX
            outcome = {"status": "error", "job_explanation": f"{type(error).__name__}: {error}",
                       "result_traceback": repr(error)}
        with state.lock:
            job.update(outcome, failed=outcome["status"] != "successful", finished=_timestamp(),
                       elapsed=round(time.monotonic() - started, 3))
            template = state.find("job_templates", job["job_template"])
            if template is not None:
                template.update(status=job["status"], last_job_failed=job["failed"])

    def _run(self, job_id: int) -> dict:
        state = self.state
        with state.lock:
            job = state.objects["jobs"][job_id]
            project = state.get("projects", job["project"])
            if project["scm_update_on_launch"] or not project.get("_checkout"):
                update = state.update_project(project["id"], "dependency")
                if update["failed"]:
                    return self._previous_task_failed("project_update", update)
            job["scm_revision"] = project["scm_revision"]
            sources = sorted((source for source in state.objects["inventory_sources"].values()
                              if source["inventory"] == job["inventory"] and source["update_on_launch"]),
                             key=lambda source: source["id"])
            for source in sources:
                update = state.update_inventory_source(source["id"], "dependency")
                if update["failed"]:
                    return self._previous_task_failed("inventory_update", update)
            script = state.inventory_script(job["inventory"])
            inventory = state.objects["inventories"][job["inventory"]]
            template = state.find("job_templates", job["job_template"]) or {}
            schedule = state.find("schedules", job.get("schedule"))
            credentials = [state.objects["credentials"][pk] for pk in job["_credentials"]]
            credential_env = {}
            for credential in credentials:
                credential_type = state.objects["credential_types"][credential["credential_type"]]
                credential_env.update(_injected_environment(credential_type, credential["inputs"]))
            checkout = Path(project["_checkout"])
            user = state.objects["users"][1]
            extra_vars = {
                **json.loads(job["extra_vars"]),
                "awx_job_id": job["id"], "awx_job_launch_type": job["launch_type"],
                "awx_job_template_id": template.get("id"), "awx_job_template_name": template.get("name"),
                "awx_project_revision": job["scm_revision"], "awx_project_scm_branch": project["scm_branch"],
                "awx_inventory_id": inventory["id"], "awx_inventory_name": inventory["name"],
                "awx_execution_node": "localhost",
                **({"awx_schedule_id": schedule["id"], "awx_schedule_name": schedule["name"]} if schedule else
                   {"awx_user_id": user["id"], "awx_user_name": user["username"]}),
            }
            task_env = dict(state.task_env)
            options = dict(job)

        private = Path(tempfile.mkdtemp(prefix=f"awx_{job_id}_", dir=state.work_dir))
        project_dir = private / "project"
        for name in _checkout_files(checkout):
            target = project_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(checkout / name, target, follow_symlinks=False)
        (private / "inventory").mkdir()
        hosts = private / "inventory" / "hosts"
        hosts.write_text(f"#!{sys.executable}\n# -*- coding: utf-8 -*-\nprint({json.dumps(script)!r})\n")
        hosts.chmod(0o700)
        (private / "env").mkdir()
        environment = {
            **task_env,
            "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
            "ANSIBLE_PARAMIKO_RECORD_HOST_KEYS": "False", "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "AWX_PRIVATE_DATA_DIR": str(private), "JOB_ID": str(job_id), "INVENTORY_ID": str(options["inventory"]),
            "PROJECT_REVISION": options["scm_revision"],
            **_galaxy_paths(project_dir, private),
            **credential_env,
        }
        for name, content in (("extravars", extra_vars), ("envvars", environment)):
            path = private / "env" / name
            path.write_text(json.dumps(content))
            path.chmod(0o600)
        (private / "env" / "cmdline").write_text(" ".join(_playbook_arguments(options)))
        with state.lock:
            state.objects["jobs"][job_id].update(job_cwd=str(project_dir))

        command = [str(BIN / "ansible-runner"), "run", str(private), "-p", options["playbook"], "--ident",
                   str(job_id)]
        timeout = options["timeout"] or JOB_TIMEOUT_SECONDS
        with open(private / "runner.log", "w") as log:
            if self._stopping:
                return {"status": "canceled", "job_explanation": "The controller stopped."}
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=private,
                                             env=_clean_environment())
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
                return {"status": "failed", "job_explanation": f"Job terminated due to timeout ({timeout} s)."}
            finally:
                returncode, self._process = self._process.returncode, None
        return self._outcome(private / "artifacts" / str(job_id), returncode)

    @staticmethod
    def _previous_task_failed(job_type: str, update: dict) -> dict:
        explanation = json.dumps({"job_type": job_type, "job_name": update["name"], "job_id": str(update["id"])})
        return {"status": "failed", "job_explanation": f"Previous Task Failed: {explanation}"}

    @staticmethod
    def _outcome(artifacts: Path, returncode: int) -> dict:
        """The job's end as AWX records it from the runner's artifacts."""
        status_file = artifacts / "status"
        status = status_file.read_text().strip() if status_file.exists() else "error"
        outcome: dict[str, Any] = {"status": {"successful": "successful", "failed": "failed", "canceled": "canceled",
                                              "timeout": "failed"}.get(status, "error")}
        if returncode != 0 and outcome["status"] == "successful":
            outcome["status"] = "failed"
        launched = artifacts / "command"
        if launched.exists():
            record = json.loads(launched.read_text())
            outcome.update(job_args=json.dumps(record.get("command", [])),
                           job_env=redacted_environment(record.get("env", {})))
        for event in _events(artifacts):
            if event.get("event") == "playbook_on_stats":
                outcome["artifacts"] = event.get("event_data", {}).get("artifact_data", {})
        return outcome


def _events(artifacts: Path) -> list[dict]:
    folder = artifacts / "job_events"
    events = [json.loads(path.read_text()) for path in folder.glob("*.json")] if folder.is_dir() else []
    return sorted(events, key=lambda event: event.get("counter", 0))


def _injected_environment(credential_type: dict, inputs: dict) -> dict[str, str]:
    """What AWX's injector for a credential's type puts in a job's environment."""
    if credential_type["namespace"] != "aws":
        return {}
    environment = {"AWS_ACCESS_KEY_ID": inputs.get("username", ""), "AWS_SECRET_ACCESS_KEY": inputs.get("password", "")}
    if inputs.get("security_token"):
        environment.update(AWS_SECURITY_TOKEN=inputs["security_token"], AWS_SESSION_TOKEN=inputs["security_token"])
    return environment


def _galaxy_paths(project_dir: Path, private: Path) -> dict[str, str]:
    """The collection and role paths AWX sets for a job: what the job's requirements installed, then the
    project's ansible.cfg setting, then Ansible's defaults."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(project_dir / "ansible.cfg")
    paths = {}
    for variable, settings, folder, default in (
            ("ANSIBLE_COLLECTIONS_PATH", ("collections_path", "collections_paths"), "requirements_collections",
             "~/.ansible/collections:/usr/share/ansible/collections"),
            ("ANSIBLE_ROLES_PATH", ("roles_path",), "requirements_roles",
             "~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles")):
        entries = default.split(":")
        configured = next((config.get("defaults", name) for name in settings if config.has_option("defaults", name)),
                          None)
        if configured:
            entries = [entry for entry in configured.split(":") if entry not in entries] + entries
        paths[variable] = os.pathsep.join([str(private / folder), *entries])
    return paths


def _playbook_arguments(job: dict) -> list[str]:
    """The ansible-playbook options AWX's RunJob builds from a job."""
    arguments = []
    if job["job_type"] == "check":
        arguments.append("--check")
    if job["become_enabled"]:
        arguments.append("--become")
    if job["diff_mode"]:
        arguments.append("--diff")
    if job["forks"]:
        arguments.append(f"--forks={job['forks']}")
    if job["force_handlers"]:
        arguments.append("--force-handlers")
    if job["limit"]:
        arguments += ["-l", json.dumps(job["limit"])]
    if job["verbosity"]:
        arguments.append("-" + "v" * min(5, job["verbosity"]))
    if job["job_tags"]:
        arguments += ["-t", json.dumps(job["job_tags"])]
    if job["skip_tags"]:
        arguments.append(f"--skip-tags={json.dumps(job['skip_tags'])}")
    if job["start_at_task"]:
        arguments.append(f"--start-at-task={json.dumps(job['start_at_task'])}")
    return arguments


# ---- HTTP ------------------------------------------------------------------------------------------------------

Handler = Callable[..., Response]


class Api:
    """The routes: each path pattern and method to what answers it."""

    def __init__(self, state: ControllerState) -> None:
        self.state = state
        collections = "|".join(KINDS)
        self.routes: list[tuple[re.Pattern, dict[str, Handler]]] = [
            (r"/api/", {"GET": self.versions}),
            (r"/api/v2/", {"GET": self.root}),
            (r"/api/v2/ping/", {"GET": self.ping}),
            (r"/api/v2/config/", {"GET": self.config}),
            (r"/api/v2/me/", {"GET": self.me}),
            (r"/api/v2/tokens/", {"POST": self.create_token}),
            (r"/api/v2/tokens/(?P<pk>\d+)/", {"DELETE": self.delete_token}),
            (r"/api/v2/credential_types/", {"GET": self.list_of("credential_types")}),
            (r"/api/v2/credential_types/(?P<pk>\d+)/", {"GET": self.detail_of("credential_types")}),
            (r"/api/v2/unified_job_templates/", {"GET": self.list_of("unified_job_templates")}),
            (r"/api/v2/job_templates/(?P<pk>\d+)/survey_spec/",
             {"GET": self.survey, "POST": self.set_survey, "DELETE": self.delete_survey}),
            (r"/api/v2/job_templates/(?P<pk>\d+)/credentials/",
             {"GET": self.template_credentials, "POST": self.attach_credential}),
            (r"/api/v2/job_templates/(?P<pk>\d+)/launch/", {"GET": self.launch_info, "POST": self.launch}),
            (r"/api/v2/job_templates/(?P<pk>\d+)/schedules/",
             {"GET": self.template_schedules, "POST": self.create_template_schedule}),
            (r"/api/v2/job_templates/(?P<pk>\d+)/jobs/", {"GET": self.template_jobs}),
            (r"/api/v2/projects/(?P<pk>\d+)/playbooks/", {"GET": self.playbooks}),
            (r"/api/v2/projects/(?P<pk>\d+)/update/", {"GET": self.can_update, "POST": self.update_project}),
            (r"/api/v2/inventories/(?P<pk>\d+)/script/", {"GET": self.script}),
            (r"/api/v2/inventory_sources/(?P<pk>\d+)/update/",
             {"GET": self.can_update, "POST": self.update_inventory_source}),
            (r"/api/v2/jobs/(?P<pk>\d+)/stdout/", {"GET": self.stdout}),
            (r"/api/v2/jobs/(?P<pk>\d+)/job_events/", {"GET": self.job_events}),
            (fr"/api/v2/(?P<collection>{'|'.join(JOB_COLLECTIONS)})/", {"GET": self.list_any}),
            (fr"/api/v2/(?P<collection>{'|'.join(JOB_COLLECTIONS)})/(?P<pk>\d+)/", {"GET": self.detail_any}),
            (fr"/api/v2/(?P<collection>{collections})/", {"GET": self.list_any, "POST": self.create}),
            (fr"/api/v2/(?P<collection>{collections})/(?P<pk>\d+)/",
             {"GET": self.detail_any, "PATCH": self.update, "DELETE": self.delete}),
        ]
        self.routes = [(re.compile(pattern + "$"), handlers) for pattern, handlers in self.routes]

    def handle(self, method: str, target: str, headers: Any, raw: bytes) -> Response:
        parts = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        for pattern, handlers in self.routes:
            matched = pattern.match(parts.path)
            if matched is None:
                continue
            if method not in handlers:
                return Response(405, {"detail": f'Method "{method}" not allowed.'})
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError as error:
                return Response(400, {"detail": f"JSON parse error - {error}"})
            with self.state.lock:
                request = Request(method, parts.path, query, body)
                if parts.path not in ("/api/", "/api/v2/ping/"):
                    request.user = self._authenticate(headers)
                    if request.user is None:
                        return Response(401, {"detail": "Authentication credentials were not provided."})
                arguments = {key: int(value) if key == "pk" else value
                             for key, value in matched.groupdict().items()}
                try:
                    return handlers[method](request, **arguments)
                except ApiError as error:
                    return Response(error.status, error.body)
        return Response(404, NOT_FOUND)

    def _authenticate(self, headers: Any) -> dict | None:
        scheme, _, credentials = (headers.get("Authorization") or "").partition(" ")
        users = self.state.objects["users"]
        if scheme.lower() == "bearer":
            token = next((token for token in self.state.objects["tokens"].values()
                          if secrets.compare_digest(token["token"], credentials.strip())), None)
            return users.get(token["user"]) if token else None
        if scheme.lower() == "basic":
            try:
                username, _, password = base64.b64decode(credentials).decode().partition(":")
            except ValueError:
                return None
            user = users[1]
            if secrets.compare_digest(username, user["username"]) and secrets.compare_digest(
                    password, self.state.password):
                return user
        return None

    # -- generic resources

    def list_of(self, collection: str) -> Handler:
        return lambda request: Response(200, self._list(collection, request))

    def detail_of(self, collection: str) -> Handler:
        return lambda request, pk: Response(200, self.state.represent(collection, self.state.get(collection, pk)))

    def _list(self, collection: str, request: Request, records: Iterable[dict] | None = None) -> dict:
        return self.state.listing(collection, request.query, records, request.path)

    def list_any(self, request: Request, collection: str) -> Response:
        return Response(200, self._list(collection, request))

    def detail_any(self, request: Request, collection: str, pk: int) -> Response:
        return Response(200, self.state.represent(collection, self.state.get(collection, pk)))

    def create(self, request: Request, collection: str) -> Response:
        return self.state.create(collection, request.body)

    def update(self, request: Request, collection: str, pk: int) -> Response:
        return self.state.update(collection, pk, request.body)

    def delete(self, request: Request, collection: str, pk: int) -> Response:
        return self.state.delete(collection, pk)

    # -- the API's own endpoints

    def versions(self, request: Request) -> Response:
        return Response(200, {"description": "AWX REST API", "current_version": API_ROOT,
                              "available_versions": {"v2": API_ROOT}, "custom_logo": "", "custom_login_info": "",
                              "login_redirect_override": ""})

    def root(self, request: Request) -> Response:
        names = ("ping", "config", "me", "tokens", "organizations", "credential_types", "credentials",
                 "execution_environments", "projects", "project_updates", "inventories", "inventory_sources",
                 "inventory_updates", "job_templates", "jobs", "schedules", "unified_job_templates")
        return Response(200, {name: f"{API_ROOT}{name}/" for name in names})

    def ping(self, request: Request) -> Response:
        return Response(200, {"ha": False, "version": AWX_VERSION, "active_node": "localhost",
                              "install_uuid": "00000000-0000-4000-8000-000000000000",
                              "instances": [{"node": "localhost", "node_type": "hybrid", "uuid": "", "heartbeat":
                                             _timestamp(), "capacity": 1, "version": AWX_VERSION}],
                              "instance_groups": [{"name": "default", "capacity": 1, "instances": ["localhost"]}]})

    def config(self, request: Request) -> Response:
        return Response(200, {"version": AWX_VERSION, "time_zone": "UTC", "license_info": {},
                              "project_base_dir": "", "project_local_paths": [], "custom_virtualenvs": [],
                              "analytics_status": "off", "become_methods": [["sudo", "Sudo"]]})

    def me(self, request: Request) -> Response:
        user = {**request.user, "type": "user", "url": f"{API_ROOT}users/{request.user['id']}/"}
        return Response(200, {"count": 1, "next": None, "previous": None, "results": [user]})

    def create_token(self, request: Request) -> Response:
        body = request.body or {}
        if not isinstance(body, dict) or body.get("scope", "write") not in ("read", "write"):
            raise invalid({"scope": ['Must be a simple space-separated string with allowed scopes ["read", "write"].']})
        pk = self.state.next_id("tokens")
        token = {"id": pk, "user": request.user["id"], "token": secrets.token_urlsafe(24), "scope": body.get(
            "scope", "write"), "description": body.get("description", ""), "created": _timestamp()}
        self.state.objects["tokens"][pk] = token
        return Response(201, {**token, "type": "o_auth2_access_token", "url": f"{API_ROOT}tokens/{pk}/",
                              "refresh_token": None, "application": None, "expires": None})

    def delete_token(self, request: Request, pk: int) -> Response:
        if self.state.objects["tokens"].pop(pk, None) is None:
            raise ApiError(404, NOT_FOUND)
        return Response(204)

    # -- job templates

    def survey(self, request: Request, pk: int) -> Response:
        spec = copy.deepcopy(self.state.get("job_templates", pk)["_survey_spec"])
        for question in spec.get("spec", []):
            if question.get("type") == "password" and question.get("default"):
                question["default"] = ENCRYPTED
        return Response(200, spec)

    def set_survey(self, request: Request, pk: int) -> Response:
        template = self.state.get("job_templates", pk)
        spec = copy.deepcopy(request.body)
        error = survey_spec_error(spec, template["_survey_spec"])
        if error:
            raise invalid({"error": error})
        template.update(_survey_spec=spec, modified=_timestamp())
        return Response(200)

    def delete_survey(self, request: Request, pk: int) -> Response:
        self.state.get("job_templates", pk).update(_survey_spec={}, modified=_timestamp())
        return Response(200)

    def template_credentials(self, request: Request, pk: int) -> Response:
        template = self.state.get("job_templates", pk)
        records = [self.state.represent("credentials", self.state.objects["credentials"][credential])
                   for credential in template["_credentials"]]
        return Response(200, self._list("credentials", request, records))

    def attach_credential(self, request: Request, pk: int) -> Response:
        """Attach ({"id": n}) or detach ({"id": n, "disassociate": true}) a credential, with AWX's checks."""
        template = self.state.get("job_templates", pk)
        body = request.body if isinstance(request.body, dict) else {}
        if "id" not in body:
            raise invalid({"msg": "\"id\" field is required to associate or disassociate."})
        try:
            credential = self.state.get("credentials", int(body["id"]))
        except (TypeError, ValueError):
            raise invalid({"msg": "\"id\" field must be an integer."}) from None
        attached = template["_credentials"]
        if body.get("disassociate"):
            if credential["id"] in attached:
                attached.remove(credential["id"])
            return Response(204)
        if credential["id"] in attached:
            return Response(204)
        credential_type = self.state.objects["credential_types"][credential["credential_type"]]
        if any(self.state.objects["credentials"][other]["credential_type"] == credential["credential_type"]
               for other in attached):
            raise invalid({"error": f"Cannot assign multiple {credential_type['name']} credentials."})
        if credential_type["kind"] not in CREDENTIAL_KINDS_FOR_JOBS:
            raise invalid({"error": f"Cannot assign a Credential of kind `{credential_type['kind']}`."})
        attached.append(credential["id"])
        return Response(204)

    def launch_info(self, request: Request, pk: int) -> Response:
        return Response(200, self.state.launch_requirements(self.state.get("job_templates", pk)))

    def launch(self, request: Request, pk: int) -> Response:
        return self.state.launch(pk, request.body)

    def template_schedules(self, request: Request, pk: int) -> Response:
        self.state.get("job_templates", pk)
        records = [self.state.represent("schedules", schedule) for schedule in self.state.objects["schedules"].values()
                   if schedule["unified_job_template"] == pk]
        return Response(200, self._list("schedules", request, records))

    def create_template_schedule(self, request: Request, pk: int) -> Response:
        self.state.get("job_templates", pk)
        body = {**request.body, "unified_job_template": pk} if isinstance(request.body, dict) else request.body
        return self.state.create("schedules", body)

    def template_jobs(self, request: Request, pk: int) -> Response:
        records = [self.state.represent("jobs", job) for job in self.state.objects["jobs"].values()
                   if job["job_template"] == pk]
        return Response(200, self._list("jobs", request, records))

    # -- projects, inventories, jobs

    def playbooks(self, request: Request, pk: int) -> Response:
        return Response(200, list(self.state.get("projects", pk).get("_playbooks", [])))

    def can_update(self, request: Request, pk: int) -> Response:
        return Response(200, {"can_update": True})

    def update_project(self, request: Request, pk: int) -> Response:
        update = self.state.update_project(pk, "manual")
        return Response(202, {"project_update": update["id"], **self.state.represent("project_updates", update)})

    def update_inventory_source(self, request: Request, pk: int) -> Response:
        update = self.state.update_inventory_source(pk, "manual")
        return Response(202, {"inventory_update": update["id"], **self.state.represent("inventory_updates", update)})

    def script(self, request: Request, pk: int) -> Response:
        return Response(200, self.state.inventory_script(pk))

    def stdout(self, request: Request, pk: int) -> Response:
        job = self.state.get("jobs", pk)
        path = Path(job["job_cwd"]).parent / "artifacts" / str(pk) / "stdout" if job["job_cwd"] else None
        content = path.read_text(errors="replace") if path and path.exists() else ""
        if request.query.get("format", ["json"])[-1] in ("txt", "txt_download", "ansi", "ansi_download"):
            return Response(200, content, "text/plain; charset=utf-8")
        return Response(200, {"range": {"start": 0, "end": content.count("\n"), "absolute_end": content.count("\n")},
                              "content": content})

    def job_events(self, request: Request, pk: int) -> Response:
        job = self.state.get("jobs", pk)
        events = _events(Path(job["job_cwd"]).parent / "artifacts" / str(pk)) if job["job_cwd"] else []
        records = [{**event, "id": event.get("counter", index), "type": "job_event", "job": pk}
                   for index, event in enumerate(events)]
        return Response(200, self._list("job_events", request, records))


class _RequestHandler(BaseHTTPRequestHandler):
    server_version = "AWX-emulator"
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        response = self.server.api.handle(self.command, self.path, self.headers, raw)
        if response.status == 204 or response.body is None:
            payload = b""
        elif isinstance(response.body, str):
            payload = response.body.encode()
        else:
            payload = json.dumps(response.body).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-API-Product-Name", "AWX")
        self.send_header("X-API-Product-Version", AWX_VERSION)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _answer

    def log_message(self, *args: Any) -> None:
        """Quiet: a test's output is not the place for access logs."""


class Controller:
    """The controller on 127.0.0.1, in a thread of this process; jobs run in a worker thread."""

    def __init__(self, work_dir: str | Path, *, username: str = "admin", password: str | None = None,
                 task_env: dict[str, str] | None = None, port: int = 0) -> None:
        self.work_dir = Path(work_dir)
        self.username = username
        self.password = password or secrets.token_urlsafe(16)
        self.port = port
        self.state = ControllerState(username, self.password, self.work_dir, task_env or {})
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("the controller is not running")
        return f"http://{HOST}:{self._server.server_address[1]}"

    def start(self) -> str:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.state.runner = JobRunner(self.state)
        self._server = ThreadingHTTPServer((HOST, self.port), _RequestHandler)
        self._server.daemon_threads = True
        self._server.api = Api(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, name="awx-controller", daemon=True)
        self._thread.start()
        return self.endpoint

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.state.runner is not None:
            self.state.runner.stop()
            self.state.runner = None

    def __enter__(self) -> Controller:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def environ(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for the awx.awx modules (or awxkit) to reach this controller."""
        environment = dict(os.environ if base is None else base)
        environment.update(CONTROLLER_HOST=self.endpoint, CONTROLLER_USERNAME=self.username,
                           CONTROLLER_PASSWORD=self.password, CONTROLLER_VERIFY_SSL="false")
        return environment

    def request(self, method: str, path: str, body: Any = None, **query: Any) -> tuple[int, Any]:
        """One API call with basic auth, as a client makes it: (status, parsed JSON body or text)."""
        url = f"{self.endpoint}{path if path.startswith('/') else API_ROOT + path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Basic {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw, kind = response.status, response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            status, raw, kind = error.code, error.read(), error.headers.get("Content-Type", "")
        if not raw:
            return status, None
        return status, json.loads(raw) if kind.startswith("application/json") else raw.decode()

    def get(self, path: str, **query: Any) -> Any:
        status, body = self.request("GET", path, **query)
        if status != 200:
            raise ApiError(status, body)
        return body

    def one(self, collection: str, **query: Any) -> dict:
        """The one record of a collection that the query finds."""
        found = self.get(f"{collection}/", **query)
        if found["count"] != 1:
            raise ApiError(404, {"detail": f"{found['count']} {collection} match {query}"})
        return found["results"][0]

    def fire_schedule(self, schedule_id: int) -> int:
        """Launch a schedule's template now, as AWX's scheduler does when the schedule is due; the job's id."""
        with self.state.lock:
            return self.state.fire_schedule(schedule_id)

    def wait_for_job(self, job_id: int, timeout: float = 900) -> dict:
        """The job as the API shows it once it has finished."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(f"jobs/{job_id}/")
            if job["status"] not in ("pending", "waiting", "running"):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout:.0f} s")
            time.sleep(0.5)

    def add_aws_credential(self, name: str, access_key: str, secret_key: str, organization: str = "Default") -> dict:
        """An Amazon Web Services credential, created through the API as an administrator would create it."""
        credential_type = self.one("credential_types", name="Amazon Web Services")
        status, body = self.request("POST", "credentials/", {
            "name": name, "organization": self.one("organizations", name=organization)["id"],
            "credential_type": credential_type["id"], "inputs": {"username": access_key, "password": secret_key}})
        if status != 201:
            raise ApiError(status, body)
        return body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a command against a fresh controller, then stop it")
    run.add_argument("--work-dir", help="where jobs' private data directories go (default: a temporary one)")
    run.add_argument("--aws-credential", metavar="NAME",
                     help="first create an Amazon Web Services credential of this name from AWS_ACCESS_KEY_ID and "
                          "AWS_SECRET_ACCESS_KEY (the emulator's test keys if unset)")
    run.add_argument("argv", nargs=argparse.REMAINDER)
    arguments = parser.parse_args(argv)
    command = arguments.argv[1:] if arguments.argv[:1] == ["--"] else arguments.argv
    if not command:
        parser.error("give the command to run after --")
    task_env = {name: os.environ[name] for name in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION")
                if name in os.environ}
    with tempfile.TemporaryDirectory(prefix="awx-controller-") as scratch, Controller(
            arguments.work_dir or scratch, task_env=task_env) as controller:
        if arguments.aws_credential:
            controller.add_aws_credential(arguments.aws_credential, os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                                          os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))
        print(f"AWX {AWX_VERSION} emulator at {controller.endpoint}", file=sys.stderr)
        return subprocess.run(command, env=controller.environ()).returncode


if __name__ == "__main__":
    sys.exit(main())
