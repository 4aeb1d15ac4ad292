"""Lambda's function states and update state machine, as AWS runs them.

AWS (Lambda developer guide, "Lambda function states"; API reference, GetFunctionConfiguration and
UpdateFunctionConfiguration):
- A new function is `Pending` while Lambda creates its resources; "any invocations or other API actions that
  operate on the function will fail" until it is `Active` (UpdateFunctionCode, UpdateFunctionConfiguration and
  PublishVersion answer ResourceConflictException). A function idle for weeks becomes `Inactive`; one whose
  resources could not be created is `Failed`, and must be deleted and recreated.
- After UpdateFunctionConfiguration or UpdateFunctionCode, `LastUpdateStatus` is `InProgress` until the update
  is done; meanwhile another update of the same function answers ResourceConflictException (409), "An update is
  in progress for resource". The update's own answer already says `InProgress`.
- Every function has a `RevisionId` that changes with each update; an update that names a RevisionId other than
  the current one answers PreconditionFailedException (412).
- When Lambda cannot decrypt a function's environment variables, GetFunction returns `Environment.Error`
  (ErrorCode, Message) and no `Variables`.
- An update Lambda accepted can still fail while it is carried out (a VPC's subnets out of addresses, for one):
  `LastUpdateStatus` then ends `Failed`, with `LastUpdateStatusReason` and `LastUpdateStatusReasonCode`, instead
  of `Successful`, and the `function_updated_v2` waiter stops with that failure. AWS does not document which
  values GetFunction shows after a failed update; here it shows those the update carried, as its own answer did
  (the collection reads the function back rather than assume either).

moto answers every update `Successful` at once, keeps functions `Active`, has no RevisionId on functions and
never reports an environment error. Here a transition lasts a number of reads of the function (GetFunction or
GetFunctionConfiguration, as waiters poll) or a number of seconds, set with `configure`; ListFunctions, which
AWS answers without these fields, reads nothing. Tests steer a function with `begin_update`, `set_state`,
`update_before_next`, `conflict_before_next`, `fail_next_update` and `break_environment`, and read what each
function went through with `history`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from moto.awslambda.exceptions import LambdaClientError, PreconditionFailedException
from moto.awslambda.models import LambdaBackend, LambdaFunction, lambda_backends
from moto.awslambda.responses import LambdaResponse
from moto.core import DEFAULT_ACCOUNT_ID

DEFAULT_REGION = "us-east-1"

# How long a transition lasts unless configured otherwise: the next two reads show it.
DEFAULT_UPDATE_READS = 2
DEFAULT_PENDING_READS = 1


@dataclass
class Timing:
    """How long an update (and a new function's Pending state) lasts: a number of reads, or of seconds."""

    update_reads: int = DEFAULT_UPDATE_READS
    pending_reads: int = DEFAULT_PENDING_READS
    seconds: float | None = None


timing = Timing()


class ResourceConflictException(LambdaClientError):
    code = 409

    def __init__(self, message: str) -> None:
        super().__init__("ResourceConflictException", message)


@dataclass
class Transition:
    """A state that ends by itself: after `reads_left` reads, or at `until` (monotonic seconds); or, when
    `refusals_left` is set, after that many requests were refused because of it, whichever comes first."""

    reads_left: int | None = None
    until: float | None = None
    refusals_left: int | None = None

    @classmethod
    def lasting(cls, reads: int) -> Transition:
        if timing.seconds is not None:
            return cls(until=time.monotonic() + timing.seconds)
        return cls(reads_left=reads)

    def over(self) -> bool:
        if self.refusals_left is not None and self.refusals_left <= 0:
            return True
        if self.until is not None:
            return time.monotonic() >= self.until
        return self.reads_left is not None and self.reads_left <= 0

    def read(self) -> None:
        if self.reads_left is not None:
            self.reads_left -= 1

    def refused(self) -> None:
        if self.refusals_left is not None:
            self.refusals_left -= 1


@dataclass
class Lifecycle:
    """One $LATEST function's state, update status, revision and environment error."""

    state: str = "Active"
    state_reason: str = ""
    update_status: str = "Successful"
    revision: str = field(default_factory=lambda: str(uuid.uuid4()))
    transition: Transition | None = None
    environment_error: dict | None = None
    # Changes another client makes just before this function's next update arrives: done at once
    # (update_before_next), or begun and in progress, with the number of requests it refuses (conflict_before_next).
    next_interference: dict | None = None
    next_conflict: tuple | None = None
    # (reason code, reason) the next update ends Failed with, and those of the update in progress.
    next_failure: tuple | None = None
    failure: tuple | None = None
    update_reason: tuple | None = None
    # What happened to the function, in order: "read Successful", "refused ResourceConflictException", ...
    history: list = field(default_factory=list)

    def settle(self) -> None:
        if self.transition is not None and self.transition.over():
            self.transition = None
            if self.state == "Pending":
                self.state = "Active"
            if self.update_status == "InProgress":
                self.update_status = "Failed" if self.failure else "Successful"
                self.update_reason, self.failure = self.failure, None

    def read(self) -> None:
        """One read of the function: it shows the current state, and brings a transition one read closer."""
        self.settle()
        self.history.append(f"read {'Pending' if self.state == 'Pending' else self.update_status}")
        if self.transition is not None:
            self.transition.read()

    def busy(self) -> str | None:
        """Why an update would be refused now, or None."""
        self.settle()
        if self.state == "Pending":
            return "The function is currently in the following state: Pending"
        if self.update_status == "InProgress":
            return "An update is in progress for resource"
        return None

    def updated(self, by: str = "updated") -> None:
        self.history.append(by)
        self.revision = str(uuid.uuid4())
        self.update_status = "InProgress"
        self.update_reason, self.failure, self.next_failure = None, self.next_failure, None
        self.transition = Transition.lasting(timing.update_reads)


def history(name: str, account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION) -> list:
    """What the function went through since it was created, in order: reads with the status they showed
    ("read InProgress"), updates ("updated", "updated by another client") and refusals
    ("refused ResourceConflictException")."""
    return list(lifecycle_of(_latest(name, account_id, region)).history)


def configure(update_reads: int = DEFAULT_UPDATE_READS, pending_reads: int = DEFAULT_PENDING_READS,
              seconds: float | None = None) -> None:
    """How long transitions last from now on; `seconds`, when given, replaces the read counts."""
    timing.update_reads, timing.pending_reads, timing.seconds = update_reads, pending_reads, seconds


def lifecycle_of(function: LambdaFunction) -> Lifecycle:
    if not hasattr(function, "lambdaopt_lifecycle"):
        function.lambdaopt_lifecycle = Lifecycle()
    return function.lambdaopt_lifecycle


def _latest(name: str, account_id: str, region: str) -> LambdaFunction:
    return lambda_backends[account_id][region].get_function(name)


def begin_update(name: str, changes: dict | None = None, account_id: str = DEFAULT_ACCOUNT_ID,
                 region: str = DEFAULT_REGION) -> None:
    """Another client updates the function now (UpdateFunctionConfiguration parameters): it is InProgress."""
    function = _latest(name, account_id, region)
    if changes:
        LambdaFunction.update_configuration(function, changes)
    lifecycle_of(function).updated(by="updated by another client")


def update_before_next(name: str, changes: dict, account_id: str = DEFAULT_ACCOUNT_ID,
                       region: str = DEFAULT_REGION) -> None:
    """Another client's update of the function lands just before the next update request for it arrives,
    and is done at once: the request then carries a stale RevisionId."""
    lifecycle_of(_latest(name, account_id, region)).next_interference = dict(changes)


def conflict_before_next(name: str, changes: dict, refusals: int = 1, account_id: str = DEFAULT_ACCOUNT_ID,
                         region: str = DEFAULT_REGION) -> None:
    """Another client's update of the function begins just before the next UpdateFunctionConfiguration request for
    it arrives, after whatever read the requester made: that request meets it InProgress (ResourceConflictException),
    as do the next `refusals - 1`, and then it is done (or sooner, after the reads an update lasts), with a new
    RevisionId. On AWS such an update ends after some seconds; counting the requests it refuses lets a test make
    it end while the refused client backs off before sending the same request again, without depending on time."""
    lifecycle_of(_latest(name, account_id, region)).next_conflict = (dict(changes), refusals)


def fail_next_update(name: str, reason: str = "Lambda was unable to configure access to your environment "
                     "variables because the KMS key is invalid for CreateGrant.", code: str = "InvalidStateKMSKey",
                     account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION) -> None:
    """The function's next update is accepted (InProgress), and then ends Failed with `code` and `reason`."""
    lifecycle_of(_latest(name, account_id, region)).next_failure = (code, reason)


def set_state(name: str, state: str, reason: str = "", account_id: str = DEFAULT_ACCOUNT_ID,
              region: str = DEFAULT_REGION) -> None:
    """Put the function in `state`: Pending lasts as configured, Active, Inactive and Failed stay."""
    lifecycle = lifecycle_of(_latest(name, account_id, region))
    lifecycle.state = state
    lifecycle.state_reason = reason
    lifecycle.transition = Transition.lasting(timing.pending_reads) if state == "Pending" else None


def break_environment(name: str, error_code: str = "KMSAccessDeniedException",
                      message: str = "Lambda was unable to decrypt the environment variables because KMS access "
                                     "was denied.", account_id: str = DEFAULT_ACCOUNT_ID,
                      region: str = DEFAULT_REGION) -> None:
    """Lambda can no longer decrypt the function's environment (its KMS key was disabled, for example)."""
    lifecycle_of(_latest(name, account_id, region)).environment_error = {"ErrorCode": error_code, "Message": message}


def apply() -> None:
    _configuration_fields()
    _updates_wait_for_the_state_machine()
    _reads_advance_transitions()


def _configuration_fields() -> None:
    original_create = LambdaBackend.create_function
    original_get = LambdaFunction.get_configuration

    def create_function(self: LambdaBackend, spec: dict[str, Any]) -> LambdaFunction:
        created = original_create(self, spec)
        lifecycle = lifecycle_of(self.get_function(spec["FunctionName"]))
        if timing.pending_reads or timing.seconds:
            lifecycle.state = "Pending"
            lifecycle.transition = Transition.lasting(timing.pending_reads)
        created.lambdaopt_lifecycle = lifecycle  # moto answers from a copy when it published a version
        return created

    def get_configuration(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
        configuration = original_get(self, on_create)
        lifecycle = lifecycle_of(self)
        lifecycle.settle()
        configuration["State"] = lifecycle.state
        configuration["RevisionId"] = lifecycle.revision
        if lifecycle.state == "Pending":
            configuration.update(StateReason="The function is being created.", StateReasonCode="Creating")
        elif lifecycle.state_reason:
            configuration["StateReason"] = lifecycle.state_reason
        if not on_create:
            configuration["LastUpdateStatus"] = lifecycle.update_status
            if lifecycle.update_status == "Failed" and lifecycle.update_reason:
                configuration["LastUpdateStatusReasonCode"], configuration["LastUpdateStatusReason"] = \
                    lifecycle.update_reason
        if lifecycle.environment_error:
            configuration["Environment"] = {"Error": dict(lifecycle.environment_error)}
        return configuration

    LambdaBackend.create_function = create_function
    LambdaFunction.get_configuration = get_configuration


def _refuse_if_busy(function: LambdaFunction) -> None:
    lifecycle = lifecycle_of(function)
    reason = lifecycle.busy()
    if reason is not None:
        lifecycle.history.append("refused ResourceConflictException")
        if lifecycle.transition is not None:
            lifecycle.transition.refused()
        raise ResourceConflictException(f"The operation cannot be performed at this time. {reason}: "
                                        f"{function.function_arn}")


def _updates_wait_for_the_state_machine() -> None:
    original_update_configuration = LambdaBackend.update_function_configuration
    original_update_code = LambdaBackend.update_function_code
    original_publish = LambdaBackend.publish_version

    def update_function_configuration(self: LambdaBackend, function_name: str, qualifier: str,
                                      body: dict[str, Any]) -> dict[str, Any] | None:
        function = self.get_function(function_name)
        lifecycle = lifecycle_of(function)
        if lifecycle.next_conflict is not None:
            (changes, refusals), lifecycle.next_conflict = lifecycle.next_conflict, None
            LambdaFunction.update_configuration(function, changes)
            lifecycle.updated(by="updated by another client")
            lifecycle.transition.refusals_left = refusals
        if lifecycle.next_interference is not None:
            interference, lifecycle.next_interference = lifecycle.next_interference, None
            LambdaFunction.update_configuration(function, interference)
            lifecycle.history.append("updated by another client")
            lifecycle.revision = str(uuid.uuid4())
        _refuse_if_busy(function)
        if body.get("RevisionId") not in (None, lifecycle.revision):
            lifecycle.history.append("refused PreconditionFailedException")
            raise PreconditionFailedException("The Revision Id provided does not match the latest Revision Id. "
                                              "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
        if "Environment" in body:
            lifecycle.environment_error = None  # new variables are encrypted afresh
        lifecycle.updated()
        return original_update_configuration(self, function_name, qualifier, body)

    def update_function_code(self: LambdaBackend, function_name: str, qualifier: str,
                             body: dict[str, Any]) -> dict[str, Any] | None:
        function = self.get_function(function_name)
        _refuse_if_busy(function)
        lifecycle_of(function).updated()
        return original_update_code(self, function_name, qualifier, body)

    def publish_version(self: LambdaBackend, function_name: str, description: str = "") -> LambdaFunction | None:
        latest = self.get_function(function_name)
        _refuse_if_busy(latest)
        version = original_publish(self, function_name, description)
        if version is not None and version is not latest:
            # moto copies $LATEST shallowly; a published version is immutable and never in transition.
            version.lambdaopt_lifecycle = Lifecycle(revision=lifecycle_of(latest).revision)
        return version

    LambdaBackend.update_function_configuration = update_function_configuration
    LambdaBackend.update_function_code = update_function_code
    LambdaBackend.publish_version = publish_version


def _reads_advance_transitions() -> None:
    def reading(original, name_of):
        def read(self: LambdaResponse) -> str:
            answer = original(self)
            if self._get_param("Qualifier", None) in (None, "$LATEST"):
                lifecycle_of(self.backend.get_function(name_of(self.path))).read()
            return answer
        return read

    # The paths moto's own handlers take the name from: .../functions/<name> and .../functions/<name>/configuration.
    LambdaResponse.get_function = reading(LambdaResponse.get_function,
                                          lambda path: unquote(path.rsplit("/", 1)[-1]))
    LambdaResponse.get_function_configuration = reading(LambdaResponse.get_function_configuration,
                                                        lambda path: unquote(path.rsplit("/", 2)[-2]))
