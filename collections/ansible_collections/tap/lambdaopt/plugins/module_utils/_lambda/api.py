# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Applying configuration changes to Lambda functions: one UpdateFunctionConfiguration per function with all its
changed fields, within the control-plane quota, as Lambda's update state machine requires - read the function
first, wait while it is Pending or being updated, never touch a Failed one, update only the revision that was
read, and wait for the update to finish.

Across a fleet the updates are sent first and waited for after (apply_all): a worker that waited for each update
before sending the next would leave the control-plane quota, which binds, mostly unused."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import client_call
from ansible_collections.tap.lambdaopt.plugins.module_utils.journal import (
    FIELD_MODULES,
    changed_variables,
    from_environment,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.redaction import redact_environment
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter, run_bounded

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass

# Result field -> (UpdateFunctionConfiguration parameter, key the value goes under, if any).
CONFIGURATION_FIELDS = {
    "memory_size": ("MemorySize", None),
    "timeout": ("Timeout", None),
    "tracing_mode": ("TracingConfig", "Mode"),
    "dead_letter_target": ("DeadLetterConfig", "TargetArn"),
    # The whole map: UpdateFunctionConfiguration replaces a function's variables.
    "environment": ("Environment", "Variables"),
}


def configuration_update(changes: dict) -> dict:
    """The UpdateFunctionConfiguration parameters for the configuration fields among `changes`."""
    update = {}
    for field, value in changes.items():
        if field in CONFIGURATION_FIELDS:
            parameter, key = CONFIGURATION_FIELDS[field]
            update[parameter] = {key: value} if key else value
    return update


# The waiters poll GetFunction (its own quota of 100/s) once a second.
WAITER_CONFIG = {"Delay": 1, "MaxAttempts": 300}
# Updates waited for at once: each wait is GetFunction once a second, well within its quota of 100/s.
CONFIRM_WORKERS = 16
# How many times a function found busy (Pending, or another update in progress) is waited for before giving up.
MAX_WAITS = 3
# Another update that slips in between a read of this task and the update sent after it makes Lambda answer
# ResourceConflictException; the update is sent again with bounded backoff (the other update began moments ago),
# after which the stale RevisionId tells whether the function changed. Only after such a read: an update sent from
# a reading carried from earlier in the run (read_at) may meet an update of any age, and the next attempt reads the
# function and waits for it instead (send_updates).
CONFLICT_RETRY = AWSRetry.jittered_backoff(retries=4, delay=1, max_delay=8,
                                           catch_extra_error_codes=["ResourceConflictException"])


class NotApplied(Exception):
    """A function the apply step left as it was, with the reason (reported for that function alone)."""


class PartlyApplied(Exception):
    """A function some of whose changes Lambda accepted before a later step failed: a reservation put before a
    refused configuration update, or an update accepted whose wait failed or timed out. `accepted` holds the
    {field: value} Lambda took; `settings` what the function holds, read back after the failure (as
    `current_settings` gives them), or, when it could not be read, what it was planned from with the accepted
    values over it (`read_back` False)."""

    def __init__(self, error: Exception, accepted: dict, settings: dict, read_back: bool,
                 update_status: str | None = None) -> None:
        self.error, self.accepted, self.settings, self.read_back = error, dict(accepted), dict(settings), read_back
        if not read_back:
            held = "it could not be read back, so it is taken to hold what Lambda accepted"
        else:
            held = f"read back afterwards, its LastUpdateStatus is {update_status or 'not given'}"
        super().__init__(f"Lambda accepted the change of {', '.join(sorted(accepted))}, then: {error} ({held})")


def current_settings(function: dict) -> dict:
    """The settings the collection changes, as a GetFunction answer holds them."""
    configuration = function["Configuration"]
    return {
        "memory_size": configuration.get("MemorySize"),
        "timeout": configuration.get("Timeout"),
        "tracing_mode": configuration.get("TracingConfig", {}).get("Mode", "PassThrough"),
        "dead_letter_target": configuration.get("DeadLetterConfig", {}).get("TargetArn"),
        "environment": configuration.get("Environment", {}).get("Variables", {}),
        "reserved_concurrency": function.get("Concurrency", {}).get("ReservedConcurrentExecutions"),
    }


def wait_until_updated(lambda_client, name: str) -> None:
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=WAITER_CONFIG)


def ready_function(lambda_client, name: str, after_failed_update: bool = False) -> dict:
    """GetFunction at a moment Lambda would accept an update: a Pending function is waited for until Active and an
    update in progress until done. Only GetFunction tells (ListFunctions leaves State and LastUpdateStatus out).
    A function whose last update failed is left alone unless `after_failed_update` (Lambda takes a new update
    then, and a rollback that puts back what the failed update changed is what resolves it)."""
    for _wait in range(MAX_WAITS):
        function = lambda_client.get_function(FunctionName=name)
        configuration = function["Configuration"]
        if configuration.get("State") == "Failed":
            raise NotApplied(f"its state is Failed ({configuration.get('StateReason', 'no reason given')}): Lambda "
                             f"changes nothing until it is redeployed, so it is left alone")
        if configuration.get("LastUpdateStatus") == "Failed" and not after_failed_update:
            raise NotApplied(f"its last update failed ({configuration.get('LastUpdateStatusReason', 'no reason')}"
                             f"): left for whoever made that update to resolve")
        if configuration.get("State") == "Pending":
            lambda_client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=WAITER_CONFIG)
        elif configuration.get("LastUpdateStatus") == "InProgress":
            wait_until_updated(lambda_client, name)
        else:
            # Active, or Inactive: an idle function's configuration can still be changed.
            return function
    raise NotApplied(f"other updates kept it busy through {MAX_WAITS} waits; try again later")


def refuse_blind_writes(function: dict, changes: dict, planned_from: dict) -> None:
    """Fail the function rather than overwrite what someone changed since it was planned, or wipe an environment
    Lambda cannot decrypt (GetFunction then returns Environment.Error and no Variables)."""
    now = current_settings(function)
    moved = [f"{field} is now {now[field]!r} (planned from {value!r})"
             for field, value in planned_from.items() if now[field] != value]
    if moved:
        raise NotApplied(f"changed by someone else since it was read: {'; '.join(moved)}. Nothing was overwritten; "
                         f"the next run plans from the new values")
    error = function["Configuration"].get("Environment", {}).get("Error")
    if "environment" in changes and error:
        raise NotApplied(undecryptable_environment(error))


def undecryptable_environment(error: dict) -> str:
    """Why a function whose configuration holds Environment.Error (and so no Variables) is not given variables."""
    return (f"Lambda cannot decrypt its environment ({error.get('ErrorCode')}: {error.get('Message')}); writing "
            f"Environment would replace every variable, so it is left alone")


def apply_function(lambda_client, limiter: RateLimiter, name: str, changes: dict, planned_from: dict,
                   after_failed_update: bool = False, update_call: Callable = client_call,
                   wait: bool = True, read: dict | None = None) -> dict | None:
    """Apply {field: value} to one function planned from `planned_from` ({field: value it had}).

    Each attempt reads the function (a first one may take `read` instead), refuses blind writes, and sends the
    update with the RevisionId it read: when someone changes the function in between, Lambda answers
    PreconditionFailedException, and the function is read and checked once more (send_updates, which also says how
    an update in progress is met). The reservation goes first: Lambda checks it against the account's pool and the
    function's provisioned concurrency, the likeliest refusal, and then nothing else has been changed. A failure
    after Lambda accepted part of the work raises PartlyApplied, with the function read back.

    `update_call(lambda_client, "update_function_configuration", **parameters)` makes the update:
    common.retry_iam_propagation for an update Lambda checks against a role's grant that may not have propagated
    yet (a dead-letter queue).

    `read`: the function as discovery found it earlier in the run; where that can stand in for a read (read_at),
    the first attempt is sent with its RevisionId without reading the function again (one read per function per
    run): the function is read only when Lambda refuses that update.

    Without `wait`, returns the fields of the configuration update Lambda accepted and is still making, for
    confirm_updated to wait for (None when there is none)."""
    accepted: dict = {}
    try:
        sent = send_updates(lambda_client, limiter, name, changes, dict(planned_from), accepted, after_failed_update,
                            update_call, read_at(read, changes))
        if sent and wait:
            wait_until_updated(lambda_client, name)
    except Exception as error:
        if not accepted:
            raise
        raise read_back_after_failure(lambda_client, name, error, accepted, planned_from) from error
    return accepted if sent and not wait else None


def confirm_updated(lambda_client, name: str, accepted: dict, planned_from: dict) -> None:
    """Wait until the update apply_function sent without waiting is done; PartlyApplied when it did not finish
    (its LastUpdateStatus Failed, or the wait ran out), with the function read back."""
    try:
        wait_until_updated(lambda_client, name)
    except Exception as error:
        raise read_back_after_failure(lambda_client, name, error, accepted, planned_from) from error


def read_at(function: dict | None, changes: dict) -> dict | None:
    """A GetFunction answer rebuilt from a function as discovery found it earlier in the run, for an update's first
    attempt: sent with the RevisionId read then, Lambda refuses it if the function changed since
    (PreconditionFailedException) or is being updated now (ResourceConflictException), and the next attempt reads
    the function, waiting out an update in progress (ready_function). None where it cannot stand in for a read:
    read without its revision, changed by this run since (discovery.from_carried drops the revision), not then
    ready for an update, or for a change no revision guards (a reservation is written on its own call) or that
    needs the variables a result never carries (an environment)."""
    configuration = (function or {}).get("configuration") or {}
    if (not configuration.get("revision_id") or "reserved_concurrency" in changes or "environment" in changes
            or configuration.get("state") not in ("Active", "Inactive")
            or configuration.get("last_update_status") != "Successful"):
        return None
    answer = {
        "FunctionName": function["function_name"], "FunctionArn": function["function_arn"],
        "RevisionId": configuration["revision_id"], "State": configuration["state"],
        "LastUpdateStatus": configuration["last_update_status"], "MemorySize": configuration["memory_size"],
        "Timeout": configuration["timeout"], "TracingConfig": {"Mode": configuration["tracing_mode"]},
    }
    if configuration.get("dead_letter_target"):
        answer["DeadLetterConfig"] = {"TargetArn": configuration["dead_letter_target"]}
    return {"Configuration": answer}


def send_updates(lambda_client, limiter: RateLimiter, name: str, changes: dict, planned_from: dict,
                 accepted: dict, after_failed_update: bool, update_call: Callable = client_call,
                 known: dict | None = None) -> bool:
    """apply_function's attempts; each change Lambda accepts is added to `accepted` as soon as it is. Whether a
    configuration update was sent (then Lambda is still making it). `known`: a GetFunction answer (read_at) the
    first attempt takes instead of reading the function.

    Two attempts at most. An update refused with PreconditionFailedException (the function changed since it was
    read) or ResourceConflictException (another update in progress) goes on to the next attempt, which reads the
    function, waits until it is ready and checks it again. Before that, a conflict met by an update sent right
    after a read of this task is retried with CONFLICT_RETRY's bounded backoff (the other update began since that
    read, moments ago); one met by an update sent from `known` is not (only a read tells how far the update it met
    has got)."""
    configuration = configuration_update(changes)
    for attempt in range(2):
        carried = attempt == 0 and known is not None
        function = known if carried else ready_function(lambda_client, name, after_failed_update)
        if attempt and all(current_settings(function)[field] == value for field, value in changes.items()):
            return False  # the update had landed, its answer lost: the retry met it in progress or its new revision
        refuse_blind_writes(function, changes, planned_from)
        if "reserved_concurrency" in changes and attempt == 0:
            intent = journal_intent(function, {"reserved_concurrency": changes["reserved_concurrency"]})
            limiter.acquire()
            if changes["reserved_concurrency"] is None:
                lambda_client.delete_function_concurrency(FunctionName=name)
            else:
                lambda_client.put_function_concurrency(
                    FunctionName=name, ReservedConcurrentExecutions=changes["reserved_concurrency"])
            planned_from["reserved_concurrency"] = accepted["reserved_concurrency"] = changes["reserved_concurrency"]
            journal_done(intent)
        if not configuration:
            return False
        intent = journal_intent(function, {field: value for field, value in changes.items()
                                           if field in CONFIGURATION_FIELDS})
        limiter.acquire()
        update = partial(update_call, lambda_client, "update_function_configuration")
        try:
            (update if carried else CONFLICT_RETRY(update))(
                FunctionName=name, RevisionId=function["Configuration"]["RevisionId"], **configuration)
        except is_boto3_error_code(["PreconditionFailedException", "ResourceConflictException"]):
            continue  # read again, waiting out an update in progress, and check again
        accepted.update({field: value for field, value in changes.items() if field in CONFIGURATION_FIELDS})
        journal_done(intent)
        return True
    raise NotApplied("changed by someone else twice while it was being updated; nothing was overwritten")


def journal_intent(function: dict, changes: dict) -> tuple | None:
    """Announce `changes` to the run's journal (see journal.py), flushed to disk, before they are sent; the
    function's values now, as just read, are their "before". Only the fields the journal knows are written
    there, and of the environment only the variables the update adds, changes or removes: the function's other
    variables may hold values that must not reach a file."""
    journal = from_environment()
    if journal is None:
        return None
    journaled = {field: value for field, value in changes.items() if field in FIELD_MODULES}
    before = current_settings(function)
    if "environment" in journaled:
        before["environment"], journaled["environment"] = changed_variables(before["environment"],
                                                                            journaled["environment"])
        if not journaled["environment"] and not before["environment"]:
            del journaled["environment"]
    if not journaled:
        return None
    configuration = function["Configuration"]
    return journal, journal.intent(configuration["FunctionArn"], configuration["FunctionName"], journaled, before)


def journal_done(intent: tuple | None) -> None:
    """Mark an announced change accepted by Lambda."""
    if intent is not None:
        intent[0].done(intent[1])


def read_back_after_failure(lambda_client, name: str, error: Exception, accepted: dict,
                            planned_from: dict) -> PartlyApplied:
    """The PartlyApplied of a function whose `accepted` changes Lambda took before `error`, read back once."""
    try:
        function = lambda_client.get_function(FunctionName=name)
    except (BotoCoreError, ClientError):
        return PartlyApplied(error, accepted, {**planned_from, **accepted}, read_back=False)
    return PartlyApplied(error, accepted, current_settings(function), read_back=True,
                         update_status=function["Configuration"].get("LastUpdateStatus"))


def apply_all(lambda_client, work: dict, planned_from: dict, requests_per_second: float, max_workers: int,
              after_failed_update: bool = False, update_call: Callable = client_call, read: dict | None = None
              ) -> dict:
    """Apply {name: {field: value}} across the fleet, each planned from planned_from[name]; {name: error or None}.
    Every update is sent first, then each is waited for: waiting takes GetFunction calls (a quota of their own), and
    by then most are done. `after_failed_update`: see ready_function; `update_call`: see apply_function; `read`:
    {name: the function as discovery found it earlier in the run}, see apply_function."""
    limiter = RateLimiter(requests_per_second)
    sent = run_bounded(
        lambda name: apply_function(lambda_client, limiter, name, work[name], planned_from.get(name, {}),
                                    after_failed_update, update_call, wait=False, read=(read or {}).get(name)),
        sorted(work), max_workers,
    )
    errors = {name: error for name, (_accepted, error) in sent.items()}
    making = {name: accepted for name, (accepted, error) in sent.items() if error is None and accepted}
    confirmed = run_bounded(
        lambda name: confirm_updated(lambda_client, name, making[name], planned_from.get(name, {})),
        sorted(making), CONFIRM_WORKERS,
    )
    errors.update({name: error for name, (_result, error) in confirmed.items()})
    return errors


def planned_from_before(entry: dict, changes: dict) -> dict:
    """What a function was planned from, when its entry's `before` holds each field it changes."""
    return {field: entry["before"][field] for field in changes if field in entry["before"]}


def settings_in_entry(entry: dict, settings: dict) -> dict:
    """The settings among `settings` (as `current_settings` gives them) that an entry's `before` holds."""
    return {key: settings[key] for key in entry["before"] if key in settings}


def grant_then_apply(lambda_client, pending: list, grant_role: Callable[[str], None],
                     changes_of: Callable[[dict], dict], requests_per_second: float, max_workers: int,
                     planned_from: Callable[[dict, dict], dict] = planned_from_before,
                     read_back: Callable[[dict, dict], dict] = settings_in_entry,
                     update_call: Callable = client_call, read: dict | None = None) -> dict:
    """Roles first, then functions: each role gets what its functions will need (`grant_role`), and
    a function is updated (`changes_of(entry)`, possibly empty; planned from `planned_from(entry, changes)`) only
    once its role has it. Marks each pending entry `changed`, or `failed` with the error and its `after` what the
    function then holds: its `before`, with the role's `role_policy` where the role was granted, and where Lambda
    accepted the update before a later failure, the function read back (`read_back(entry, settings)` maps it to
    the entry's keys) and the fields it accepted under `accepted`.
    `update_call` makes each function's update, `read` holds them as discovery found them earlier in the run (see
    apply_function).
    The roles are granted `max_workers` at a time (IAM's writes and the waits for them to count are slow, and a
    fleet may have a role a function).
    Returns {role: the error its grant met, or None}: a role granted stays granted when its functions fail."""
    role_errors = {}
    for role, (_result, error) in run_bounded(grant_role, sorted({entry["role_name"] for entry in pending}),
                                              max_workers).items():
        if error is not None and not isinstance(error, (BotoCoreError, ClientError)):
            raise error
        role_errors[role] = error
    work, origins = {}, {}
    for entry in pending:
        changes = changes_of(entry)
        if changes and role_errors[entry["role_name"]] is None:
            work[entry["function_name"]] = changes
            origins[entry["function_name"]] = planned_from(entry, changes)
    errors = apply_all(lambda_client, work, origins, requests_per_second, max_workers, update_call=update_call,
                       read=read)
    for entry in pending:
        role_error = role_errors[entry["role_name"]]
        error = role_error or errors.get(entry["function_name"])
        if error is None:
            entry["status"] = "changed"
            continue
        after = dict(entry["before"])
        if role_error is None and "role_policy" in entry["after"]:
            after["role_policy"] = entry["after"]["role_policy"]
        if isinstance(error, PartlyApplied):
            after.update(read_back(entry, error.settings))
            entry["accepted"] = sorted(error.accepted)
        entry.update(status="failed", error=redact_environment(str(error)), after=after)
    return role_errors


def delete_version(lambda_client, limiter: RateLimiter, name: str, version: str) -> None:
    """Delete a version a task published; one already gone is as good."""
    limiter.acquire()
    try:
        lambda_client.delete_function(FunctionName=name, Qualifier=version)
    except is_boto3_error_code("ResourceNotFoundException"):
        pass
