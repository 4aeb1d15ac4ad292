#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lambda_power_tuning
short_description: Measure how a fleet's Lambda functions run at each memory size, by invoking them
version_added: 0.2.0
description:
  - For each selected function that has a safe test payload, measures its cost and duration at each candidate memory
    size and returns the curve and the best size for each strategy. Nothing is right-sized here; the curve is evidence
    for M(tap.lambdaopt.lambda_rightsize) (C(evidence) is C(power tuning)).
  - B(This module invokes the functions' code.) A function is measured only with a payload that its owners declared
    safe to send any number of times, from O(payloads) or from the function's tag C(lambdaopt:test-payload), which
    names an SSM parameter (C(ssm:/path/to/parameter), read with decryption) or an S3 object (C(s3://bucket/key)).
    The payload must be JSON, at most 6 MB. A function without one is refused (status C(refused), with the reason).
  - 'For each size, largest first: the function is set to it (C(UpdateFunctionConfiguration), read just before and
    waited for as every module of this collection meets the update state machine), a temporary version is published
    (naming the C(RevisionId) it was set at, described C(lambdaopt power tuning at <size> MB)), and that version is
    invoked O(invocations) times (C(RequestResponse), C(LogType: Tail)), at most O(max_workers) at once. Billed
    duration, duration, max memory used and cold starts are read from the C(REPORT) line (or the JSON
    C(platform.report) record) at the end of each invocation''s log tail.'
  - Sizes smaller than the memory the invocations already used, or than a size where an invocation ran out of memory
    or time, are skipped (status C(skipped)), as they could only fail. A size where an invocation ran out of memory or
    time is C(failed) and never a best size; the other sizes are still measured.
  - Whatever happens, the function's memory is put back to what it was and every temporary version is deleted (also
    when a step fails part-way). A change of the memory by someone else during the run is never overwritten; the
    function is then reported failed, left as the other client set it. Temporary versions left by an earlier run that
    was killed (recognised by their description, and served by no alias) are deleted first. Each memory change is
    announced to the run's journal, as other modules' changes are, so a killed run can be rolled back.
  - While a function is measured, its C($LATEST) runs at each candidate size in turn, for as long as that size's
    invocations take. Traffic that reaches C($LATEST) directly meets those sizes; traffic through an alias does not.
    Measure functions served on C($LATEST) outside production, or at a quiet time.
  - 'Cost per invocation: billed duration (which includes the initialisation of a cold start) x memory in GB x
    O(price_per_gb_second) for the function''s architecture, plus O(price_per_million_requests) / 1,000,000. The
    defaults are the us-east-1 list prices; give your region''s. (The collection''s price table,
    C(data/prices.yaml), is read on the controller by M(tap.lambdaopt.savings_report); this module runs where boto3
    runs and takes its prices as options.)'
  - 'Best size per strategy, among sizes where every invocation fit in memory and time: C(cost) the cheapest per
    invocation; C(speed) the shortest average duration (of equally fast sizes, the cheaper); C(balanced) the lowest
    O(balanced_weight) x (cost / cheapest cost) + (1 - O(balanced_weight)) x (duration / shortest duration), each
    figure as a multiple of the best size''s, so with the default 0.5 a size 10% dearer and 10% faster ties with the
    cheapest. Ties go to the smaller size.'
  - B(Check mode invokes nothing and changes nothing). It reads each function and its payload and returns what it
    would measure (status C(would-measure), the sizes and invocations), with C(changed) false. A real run reports
    C(changed) true when it invoked a function, changed its configuration or published a version, even though it put
    everything back, because running the functions' code may have changed what they act on.
  - Functions are measured one after another; one function failing does not stop the others, and the task fails at
    the end and names it.
options:
  payloads:
    description:
      - Test payloads by function name. A string is taken as JSON text; any other value is sent as JSON. A payload
        given here is used instead of the function's C(lambdaopt:test-payload) tag.
    type: dict
  memory_sizes:
    description:
      - Memory sizes to measure, in MB (128-10240). Sizes above the function's own memory size are left out.
      - By default C(128), C(256), C(512), C(1024), C(1536), C(2048) and C(3008), up to the function's own size, and
        the function's own size.
    type: list
    elements: int
  invocations:
    description: Invocations at each memory size (1-1000).
    type: int
    default: 10
  max_workers:
    description:
      - Invocations in flight at once. Functions are measured one after another, so this bounds the load the
        measurement puts on whatever the functions call.
    type: int
    default: 4
  requests_per_second:
    description:
      - Client-side limit on Lambda control-plane calls (configuration updates, publishing and deleting versions).
        Lambda allows 15 a second per account-region, shared with everything else that calls it.
    type: float
    default: 15
  balanced_weight:
    description: Weight of cost against duration in the C(balanced) strategy, from 0 (duration only) to 1 (cost only).
    type: float
    default: 0.5
  price_per_gb_second:
    description: USD per GB-second of compute, by architecture. The default is the us-east-1 list price.
    type: dict
    default: {"x86_64": 0.0000166667, "arm64": 0.0000133334}
  price_per_million_requests:
    description: USD per million requests. The default is the us-east-1 list price.
    type: float
    default: 0.2
extends_documentation_fragment:
  - tap.lambdaopt.fleet
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - tap.lambdaopt maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: See what would be measured, invoking nothing
  tap.lambdaopt.lambda_power_tuning:
    suffix: staging
  check_mode: true

- name: Measure the staging functions that carry a lambdaopt:test-payload tag
  tap.lambdaopt.lambda_power_tuning:
    suffix: staging
  register: tuning

- name: Measure one function with a payload given here, at chosen sizes, in eu-west-1
  tap.lambdaopt.lambda_power_tuning:
    functions: [transform-staging]
    payloads:
      transform-staging: {"records": [{"id": "test-1", "amount": 12.5}]}
    memory_sizes: [256, 512, 1024, 1769]
    invocations: 20
    region: eu-west-1
    price_per_gb_second: {"x86_64": 0.0000166667, "arm64": 0.0000133334}

- name: The cheapest size of each function
  ansible.builtin.debug:
    msg: "{{ tuning.functions | selectattr('status', 'equalto', 'measured')
             | items2dict(key_name='function_name', value_name='best') }}"
"""

RETURN = r"""
functions:
  description: One entry per selected function, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    function_name:
      description: The function's name.
      type: str
      sample: transform-staging
    function_arn:
      description: The function's ARN.
      type: str
      sample: arn:aws:lambda:us-east-1:123456789012:function:transform-staging
    status:
      description:
        - C(measured); C(would-measure) in check mode; C(refused) (no usable test payload, or no price for its
          architecture), with C(reason); C(failed), with C(error).
      type: str
      sample: measured
    reason:
      description: Why the function was not measured.
      type: str
      returned: when status is refused
      sample: "no test payload: power tuning invokes the function, so it needs one that is safe to send, ..."
    error:
      description: Why the measurement failed, and anything that could not be put back.
      type: str
      returned: when status is failed
    memory_size:
      description: The function's own memory size in MB, which it has again after the task.
      type: int
      sample: 3008
    architecture:
      description: The function's architecture, whose price is used.
      type: str
      sample: x86_64
    payload_source:
      description: Where the test payload came from (C(task option payloads), C(ssm:<name>), C(s3://<bucket>/<key>)).
      type: str
      sample: ssm:/lambdaopt/test-payloads/transform
    memory_sizes:
      description: The sizes measured (or to measure), largest first.
      type: list
      elements: int
      sample: [3008, 2048, 1536, 1024, 512, 256, 128]
    invocations:
      description: Invocations at each size.
      type: int
      sample: 10
    evidence:
      description: What the curve is evidence of, in the words the collection's decisions use.
      type: str
      returned: when status is measured or failed
      sample: power tuning
    curve:
      description:
        - One point per size, smallest first. C(status) is C(measured), C(failed) (an invocation ran out of memory or
          time, C(ran_out_of) says which, or none succeeded) or C(skipped), with C(reason).
        - C(cost_per_million_invocations) is in USD, from the average billed duration. C(failed_invocations) counts
          invocations that answered a function error or whose log tail held no report.
      type: list
      elements: dict
      returned: when status is measured or failed
      sample: [{"memory_size": 128, "status": "measured", "invocations": 10, "failed_invocations": 0,
                "duration_ms": {"avg": 268.4, "max": 371.9}, "avg_billed_duration_ms": 296.1,
                "max_memory_used_mb": 76, "cold_starts": 1, "cost_per_million_invocations": 0.8169}]
    best:
      description: The best size for each strategy (C(cost), C(speed), C(balanced)); null where no size qualifies.
      type: dict
      returned: when status is measured or failed
      sample: {"cost": 128, "speed": 2048, "balanced": 512}
    prices:
      description: The prices used, USD per GB-second of its architecture and per request.
      type: dict
      returned: when status is measured or failed
      sample: {"gb_second": 0.0000166667, "request": 0.0000002}
    temporary_versions:
      description: The versions this task published to measure the function; all deleted unless C(left_versions) says.
      type: list
      elements: str
      returned: when status is measured or failed
      sample: ["4", "5", "6"]
    left_versions:
      description: Temporary versions that could not be deleted (the error says why).
      type: list
      elements: str
      returned: when status is failed
      sample: []
    deleted_leftover_versions:
      description: Temporary versions an earlier, killed run had left, deleted before measuring.
      type: list
      elements: str
      returned: when status is measured or failed
      sample: []
    restored:
      description: Whether the function's memory is what it was before the task.
      type: bool
      returned: when status is measured or failed
      sample: true
    memory_size_now:
      description: The memory size the function was left at, when it could not be put back.
      type: int
      returned: when restored is false
failed_functions:
  description: Names of functions that failed, then of those not found.
  returned: always
  type: list
  elements: str
  sample: []
summary:
  description: How many functions were selected, measured, would be measured, refused and failed.
  returned: always
  type: dict
  sample: {"functions": 3, "measured": 2, "would_measure": 0, "refused": 1, "failed": 0}
"""

from dataclasses import dataclass, field

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import power_tuning
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.api import (
    NotApplied,
    PartlyApplied,
    apply_function,
    delete_version,
    ready_function,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.discovery import details, discover
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.power_tuning_api import (
    TuningError,
    invoke_times,
    leftover_versions,
    publish_at,
    read_payload,
    versions_of,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import (
    BOTOCORE_RETRIES,
    FLEET_ARGUMENT_SPEC,
    FLEET_REQUIRED_ONE_OF,
    UPDATE_ARGUMENT_SPEC,
    RetryingClient,
    aws_client,
    fleet_selection_errors,
    update_option_errors,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.pacing import pace
from ansible_collections.tap.lambdaopt.plugins.module_utils.redaction import redact_environment
from ansible_collections.tap.lambdaopt.plugins.module_utils.results import FAILED, REFUSED, bulk_result, finish
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

MEASURED = "measured"
WOULD_MEASURE = "would-measure"
DEFAULT_PRICE_PER_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
# An invocation may run for the function's whole timeout; the client waits that long and this much more.
INVOKE_READ_MARGIN_SECONDS = 60
MAX_INVOCATIONS = 1000
EVIDENCE = "power tuning"


def option_errors(params: dict) -> list:
    errors = fleet_selection_errors(params) + update_option_errors(params)
    errors += power_tuning.memory_size_errors(params["memory_sizes"])
    if not 1 <= params["invocations"] <= MAX_INVOCATIONS:
        errors.append(f"invocations must be between 1 and {MAX_INVOCATIONS}, got {params['invocations']}")
    if not 0 <= params["balanced_weight"] <= 1:
        errors.append(f"balanced_weight must be between 0 and 1, got {params['balanced_weight']:g}")
    for architecture, price in params["price_per_gb_second"].items():
        try:
            if float(price) <= 0:
                errors.append(f"price_per_gb_second for {architecture} must be above 0, got {price}")
        except (TypeError, ValueError):
            errors.append(f"price_per_gb_second for {architecture} must be a number, got {price!r}")
    if params["price_per_million_requests"] < 0:
        errors.append(f"price_per_million_requests must be 0 or more, got {params['price_per_million_requests']:g}")
    return errors


@dataclass
class Trial:
    """One function to measure: its entry so far, the sizes and the payload to send."""

    entry: dict
    sizes: list
    payload: bytes
    prices: power_tuning.Prices
    timeout: int


@dataclass
class Measurement:
    """What a measurement did to a function, kept up to date step by step so that it can be undone whatever fails:
    the memory it had (`original`) and holds now as far as this run knows (`held`), the versions it published."""

    original: int
    held: int
    published: list = field(default_factory=list)
    deleted: list = field(default_factory=list)
    leftovers_deleted: list = field(default_factory=list)
    curve: list = field(default_factory=list)
    touched: bool = False


class PowerTuning:
    def __init__(self, module: AnsibleAWSModule):
        self.module = module
        self.params = module.params
        self.lambda_client = aws_client(module, "lambda")
        self.limiter = RateLimiter(self.params["requests_per_second"])
        self.payloads = self.params["payloads"] or {}
        self.touched = False

    def found(self) -> tuple[list, list]:
        return discover(self.lambda_client, self.params, need_concurrency=False)

    def tags_of(self, functions: list) -> dict:
        """{name: tags} of the functions whose payload may come from their tag (one GetFunction each)."""
        untold = [function["function_name"] for function in functions if function["function_name"] not in self.payloads]
        return {name: detail["tags"] for name, detail in details(self.lambda_client, untold).items()}

    def plan(self, functions: list) -> tuple[list, list]:
        """(every function's entry, the trials of those to measure)."""
        tags = self.tags_of(functions)
        entries, trials = [], []
        for function in functions:
            name, configuration = function["function_name"], function["configuration"]
            entry = {"function_name": name, "function_arn": function["function_arn"],
                     "memory_size": configuration["memory_size"], "architecture": configuration["architecture"]}
            entries.append(entry)
            source, reason = power_tuning.payload_source(name, self.payloads, tags.get(name, {}))
            price = self.params["price_per_gb_second"].get(configuration["architecture"])
            if reason is None and price is None:
                reason = f"no price_per_gb_second for its architecture, {configuration['architecture']}"
            if reason is not None:
                entry.update(status=REFUSED, reason=reason)
                continue
            entry["payload_source"] = source.describe()
            try:
                payload = power_tuning.encode_payload(
                    self.payloads[name] if source.kind == "task" else self.read_payload(source))
            except power_tuning.PayloadError as error:
                entry.update(status=REFUSED, reason=str(error))
                continue
            except (BotoCoreError, ClientError) as error:
                entry.update(status=FAILED, error=f"could not read its test payload from {source.describe()}: {error}")
                continue
            sizes = power_tuning.candidate_sizes(self.params["memory_sizes"], configuration["memory_size"])
            entry.update(status=WOULD_MEASURE, memory_sizes=sizes, invocations=self.params["invocations"])
            prices = power_tuning.Prices(float(price), self.params["price_per_million_requests"] / power_tuning.MILLION)
            trials.append(Trial(entry, sizes, payload, prices, configuration["timeout"]))
        return entries, trials

    def read_payload(self, source: power_tuning.PayloadSource) -> str:
        ssm = aws_client(self.module, "ssm") if source.kind == "ssm" else None
        s3 = aws_client(self.module, "s3") if source.kind == "s3" else None
        return read_payload(ssm, s3, source)

    def invoke_client(self, trials: list) -> RetryingClient:
        """A Lambda client that waits for the longest invocation the functions' timeouts allow."""
        longest = max(trial.timeout for trial in trials)
        config = dict(BOTOCORE_RETRIES, read_timeout=longest + INVOKE_READ_MARGIN_SECONDS)
        return RetryingClient(pace(self.module.client("lambda", config=config)))

    def set_memory(self, name: str, size: int, measurement: Measurement, after_failed_update: bool = False) -> None:
        """Set the function's memory, from what this run left it at; `held` follows what Lambda accepted."""
        measurement.touched = True
        try:
            apply_function(self.lambda_client, self.limiter, name, {"memory_size": size},
                           {"memory_size": measurement.held}, after_failed_update)
        except PartlyApplied as error:
            measurement.held = error.settings.get("memory_size", size)
            raise
        measurement.held = size

    def measure_sizes(self, invoker, trial: Trial, measurement: Measurement, existing: set) -> None:
        name = trial.entry["function_name"]
        for size in trial.sizes:
            reason = power_tuning.skip_reason(size, measurement.curve)
            if reason is not None:
                measurement.curve.append(power_tuning.skipped_point(size, reason))
                continue
            if size != measurement.held:
                self.set_memory(name, size, measurement)
            version = publish_at(self.lambda_client, self.limiter, name, size)["Version"]
            if version not in existing:  # Lambda answers with the last version when nothing changed since it
                existing.add(version)
                measurement.published.append(version)
                measurement.touched = True
            measurement.touched = True  # running the function's code is a change, whatever it leaves behind
            outcomes = invoke_times(invoker, name, version, trial.payload, self.params["invocations"],
                                    self.params["max_workers"])
            measurement.curve.append(power_tuning.size_point(size, outcomes, trial.prices))

    def put_back(self, name: str, measurement: Measurement) -> list:
        """Put the memory back and delete every version this run published, each step whatever the others did;
        the problems met."""
        problems = []
        if measurement.held != measurement.original:
            try:
                # The update that failed part-way, if any, was this run's own: putting its value back resolves it.
                self.set_memory(name, measurement.original, measurement, after_failed_update=True)
            except (BotoCoreError, ClientError, NotApplied, PartlyApplied) as error:
                problems.append(f"its memory could not be put back to {measurement.original} MB: {error}")
        for version in measurement.published:
            try:
                delete_version(self.lambda_client, self.limiter, name, version)
            except (BotoCoreError, ClientError) as error:
                problems.append(f"temporary version {version} could not be deleted: {error}")
            else:
                measurement.deleted.append(version)
        return problems

    def tune(self, invoker, trial: Trial) -> None:
        """Measure one function and complete its entry; whatever fails, its memory is put back and its temporary
        versions deleted."""
        entry, name = trial.entry, trial.entry["function_name"]
        try:
            function = ready_function(self.lambda_client, name)
        except (BotoCoreError, ClientError, NotApplied) as error:
            entry.update(status=FAILED, error=redact_environment(str(error)))
            return
        memory = function["Configuration"]["MemorySize"]
        measurement = Measurement(original=memory, held=memory)
        failure = None
        try:
            versions = versions_of(self.lambda_client, self.limiter, name)
            for version in leftover_versions(self.lambda_client, self.limiter, name, versions):
                delete_version(self.lambda_client, self.limiter, name, version)
                measurement.leftovers_deleted.append(version)
                measurement.touched = True
            self.measure_sizes(invoker, trial, measurement, {version["Version"] for version in versions})
        except (BotoCoreError, ClientError, NotApplied, PartlyApplied, TuningError) as error:
            failure = error
        finally:
            problems = self.put_back(name, measurement)
        self.complete(entry, trial, measurement, [str(failure)] if failure else [], problems)

    def complete(self, entry: dict, trial: Trial, measurement: Measurement, failures: list, problems: list) -> None:
        curve = sorted(measurement.curve, key=lambda point: point["memory_size"])
        # A measurement cut short has no best size: the sizes it did not reach might have been.
        entry.update(
            status=MEASURED, evidence=EVIDENCE, curve=curve,
            best=power_tuning.best_sizes(curve, self.params["balanced_weight"]) if not failures else dict.fromkeys(
                power_tuning.STRATEGIES),
            prices={"gb_second": trial.prices.gb_second, "request": trial.prices.request},
            temporary_versions=list(measurement.published), deleted_leftover_versions=measurement.leftovers_deleted,
            restored=measurement.held == measurement.original,
        )
        # Put back or not, a function this run changed, published or invoked was changed.
        self.touched = self.touched or measurement.touched
        if not entry["restored"]:
            entry["memory_size_now"] = measurement.held
        if failures or problems:
            entry.update(status=FAILED, error=redact_environment("; ".join(failures + problems)),
                         left_versions=[version for version in measurement.published
                                        if version not in measurement.deleted])

    def run(self) -> dict:
        functions, missing = self.found()
        entries, trials = self.plan(functions)
        if not self.module.check_mode and trials:
            invoker = self.invoke_client(trials)
            for trial in trials:
                self.tune(invoker, trial)
        statuses = [entry["status"] for entry in entries]
        summary = {"functions": len(entries), "measured": statuses.count(MEASURED),
                   "would_measure": statuses.count(WOULD_MEASURE), "refused": statuses.count(REFUSED),
                   "failed": statuses.count(FAILED) + len(missing)}
        return bulk_result(self.module, "functions", entries, missing, changed=self.touched, summary=summary)


def main():
    argument_spec = dict(
        payloads=dict(type="dict"),
        memory_sizes=dict(type="list", elements="int"),
        invocations=dict(type="int", default=10),
        balanced_weight=dict(type="float", default=0.5),
        price_per_gb_second=dict(type="dict", default=DEFAULT_PRICE_PER_GB_SECOND),
        price_per_million_requests=dict(type="float", default=0.2),
        **FLEET_ARGUMENT_SPEC,
        **UPDATE_ARGUMENT_SPEC,
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, required_one_of=FLEET_REQUIRED_ONE_OF,
                              supports_check_mode=True)
    errors = option_errors(module.params)
    if errors:
        module.fail_json(msg="; ".join(errors))
    try:
        result = PowerTuning(module).run()
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg="Could not measure the fleet's functions")
    finish(module, result, "could not measure")


if __name__ == "__main__":
    main()
