#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: lambda_rightsize
short_description: Right-size the memory, timeout and reserved concurrency of a fleet of Lambda functions
version_added: 0.1.0
description:
  - Sets memory, timeout and reserved concurrency across one account-region's fleet in one task, from the
    functions' real usage. Each setting is an explicit value, C(auto) (derived from usage), or left alone
    when not given.
  - Explicit values and C(auto) pass the same guards. Memory never goes below the observed max memory used
    times O(memory_headroom). A timeout never goes below the observed max (or p99.9) duration times
    O(timeout_headroom), projected for the smaller CPU share when memory drops below 1,769 MB; lowering
    memory is refused if that projection no longer fits the timeout. Reserved concurrency never goes below
    the observed peak or the provisioned concurrency of the function's aliases and versions, and never takes the
    account's unreserved pool below its floor.
  - A change that breaks a guard is not applied; it is returned under C(refused) with its risk, unless
    O(allow_unsafe) is set. Functions with fewer than O(min_invocations) invocations in the window get no
    change at all.
  - Each changed function gets one C(UpdateFunctionConfiguration) carrying all its changed fields, waiting
    for C(LastUpdateStatus) before and after, with bounded parallelism and a client-side rate limit. Its
    reservation is set first, so that a reservation Lambda refuses leaves the function unchanged.
  - In check mode nothing is changed and the full plan is returned, with a diff under C(--diff).
  - One function failing does not stop the others; the task fails at the end and names it.
options:
  memory_size:
    description: Memory in MB (128-10240), or C(auto). Left alone when not given.
    type: str
  timeout:
    description: Timeout in seconds (1-900), or C(auto). Left alone when not given.
    type: str
  reserved_concurrency:
    description: Reserved concurrent executions (0 or more), or C(auto). Left alone when not given.
    type: str
  usage:
    description:
      - The C(functions) returned by M(tap.lambdaopt.lambda_usage_info), to decide from without measuring
        again.
      - Given as O(functions) too, they are what is planned from (configurations, reservations, provisioned
        concurrency, with what earlier steps of the run changed since); given with O(suffix) or names alone, the
        current configurations are read afresh.
      - Given without O(functions) and O(suffix), its entries are the functions as well, as if given as O(functions)
        too (so a playbook passes the list once). One of O(suffix), O(functions) and O(usage) is required.
    type: list
    elements: dict
  power_tuning:
    description:
      - The C(functions) returned by M(tap.lambdaopt.lambda_power_tuning), as evidence of how each measured
        function's duration scales with memory, where the window's own traffic at two or more memory sizes gives
        none. The decisions it is used for state C(power tuning) as their evidence.
    type: list
    elements: dict
  lookback_days:
    description: Window of usage to decide from when O(usage) is not given.
    type: int
    default: 14
  max_report_events:
    description:
      - When O(usage) is not given and the log events are read (where Logs Insights cannot answer), at most this
        many report events per log group, oldest first; a function with more invocations in the window is sized
        on that sample, and its usage says so (C(samples.report_lines_sampled)).
      - A function whose invocation count CloudWatch could not answer (C(GetMetricData) status C(InternalError)
        or C(Forbidden), listed in C(unknown_metrics)) is never changed by C(auto), as unknown is insufficient data.
    type: int
    default: 10000
  memory_headroom:
    description: Memory is kept at least this multiple of the observed max memory used.
    type: float
    default: 1.3
  timeout_headroom:
    description: Timeouts are kept at least this multiple of the observed (and projected) duration.
    type: float
    default: 1.5
  concurrency_headroom:
    description: C(auto) reserves this multiple of the observed peak concurrency.
    type: float
    default: 1.2
  timeout_statistic:
    description: The observed duration a timeout must cover, C(max) or C(p999) (p99.9).
    type: str
    choices: [max, p999]
    default: max
  min_invocations:
    description: Fewer invocations than this in the window is too little data for any change.
    type: int
    default: 50
  memory_increment_mb:
    description: C(auto) memory is rounded up to a multiple of this.
    type: int
    default: 64
  max_slowdown:
    description:
      - Keep C(auto) memory high enough that CPU-bound code would run at most this many times slower
        (e.g. C(2) keeps at least 885 MB). Unset, only the memory and timeout guards apply.
    type: float
  unreserved_floor:
    description:
      - Unreserved concurrency the account must keep (AWS requires 100; lower on small accounts).
      - Reservations that grow are applied after every other change, against the account's settings read again;
        one that would no longer leave the pool its budget (another team reserved meanwhile) is refused, listed
        under RV(functions[].refused), and the function's other changes are still made.
    type: int
    default: 100
  allow_unsafe:
    description:
      - Apply explicit values even when they break a guard or cannot be checked for lack of data. The
        account's unreserved floor is never overridden, since AWS refuses it anyway.
    type: bool
    default: false
  concurrency_projection_cap:
    description:
      - Fully CPU-bound code would run up to 13.8 times longer at 128 MB than at 1,769 MB, and so hold that many
        more executions at once. Without evidence of how a function's code scales, C(auto) reservations follow
        that worst-case projection of the peak only up to this factor; the reason says when it was capped.
    type: float
    default: 2.0
  add_reservations:
    description:
      - With C(auto), also reserve concurrency for functions that have none. C(false) adjusts existing
        reservations only; an explicit O(reserved_concurrency) value is still applied where the guards allow.
    type: bool
    default: true
  context_guards:
    description:
      - Read what invokes each function (as M(tap.lambdaopt.lambda_usage_info) does with
        O(tap.lambdaopt.lambda_usage_info#module:triggers)) and apply the guards of that context on top of the others.
        An SQS consumer's timeout stays within its queue's visibility timeout, and its memory is not lowered so far
        that the timeout it needs would exceed it (C(auto) keeps the lowest memory that fits); a visibility timeout
        below 6 times the timeout AWS recommends is noted. A function API Gateway may invoke is not lowered so far
        that its projected duration, with O(timeout_headroom), exceeds the integration timeout of the API that invokes
        it, read from the API (REST APIs C(GetRestApi) and C(GetResources), HTTP and WebSocket APIs C(GetApi) and
        C(GetIntegrations), one listing per API); a longer timeout is noted as having no effect for its callers. A
        stream consumer whose C(IteratorAge) rose over the window keeps its memory.
      - A function whose max memory used grows over the window (daily maxima, from the log events or Logs Insights) is
        sized for the trend O(trend_horizon_days) after the window, or, when the fit explains less than
        O(trend_min_r_squared) of the variation, its memory is not lowered and the growth rate is given. Its
        C(auto) timeout likewise covers a growing max duration (daily maxima of the AWS/Lambda metric), projected
        for the new memory.
      - A function without triggers or trend is planned as without this option.
    type: bool
    default: true
  api_integration_timeout:
    description:
      - Seconds API Gateway waits for a function it invokes, where the API's own integration timeout cannot be read
        (its resource policy names no API, or the API cannot be read; the result's C(context.notes) says so).
        API Gateway's defaults are 29 for REST and WebSocket APIs and 30 for HTTP APIs.
    type: float
    default: 29
  trend_horizon_days:
    description:
      - How many days after the window C(auto) memory must still cover a growing max memory used, e.g. the
        interval of the scheduled run plus a margin.
    type: float
    default: 7
  trend_min_r_squared:
    description: A trend in memory use explaining less than this share of its variation is too uncertain to size for.
    type: float
    default: 0.8
extends_documentation_fragment:
  - tap.lambdaopt.fleet
  - tap.lambdaopt.updates
  - tap.lambdaopt.function_updates
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - tap.lambdaopt maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Right-size the dev fleet from its usage
  tap.lambdaopt.lambda_rightsize:
    suffix: dev
    memory_size: auto
    timeout: auto
    reserved_concurrency: auto

- name: Apply the agreed targets where usage allows them
  tap.lambdaopt.lambda_rightsize:
    suffix: prod
    memory_size: 1024
    timeout: 30
    reserved_concurrency: 50

- name: Decide from usage measured by an earlier task, for the functions it measured
  tap.lambdaopt.lambda_rightsize:
    usage: "{{ usage.functions }}"
    memory_size: auto
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
      sample: transform-dev
    status:
      description: C(changed), C(unchanged), C(planned) (check mode) or C(failed).
      type: str
      sample: changed
    before:
      description: Memory, timeout and reserved concurrency before the task.
      type: dict
      sample: {"memory_size": 3008, "timeout": 300, "reserved_concurrency": null}
    after:
      description: The same after the task (planned values in check mode).
      type: dict
      sample: {"memory_size": 128, "timeout": 3, "reserved_concurrency": 2}
    changes:
      description: Each change made (or planned), with its reason.
      type: list
      elements: dict
      sample: [{"field": "memory_size", "before": 3008, "after": 128, "requested": "auto",
                "reason": "max memory used 91 MB x headroom 1.3 = 119 MB", "risk": null}]
    scaling:
      description:
        - How the function's durations are taken to scale with memory, which every projection of its decisions
          (timeout, reservation, the guards) uses, and the evidence for it.
        - C(evidence) is C(worst case) (no evidence, so wholly CPU-bound), C(two memory sizes) (the window's REPORT
          lines at two or more CPU shares, fitted to duration = io + cpu x max(1, 1769 / memory)), C(measured after
          our change) (the same, where an earlier run of this fleet made the move, read from its journal beside
          this run's), or C(Lambda Insights) (its CPU time against the duration).
        - C(cpu_fraction) is the fitted share of the duration at a full vCPU that is CPU work; projections towards
          less memory use the upper of C(cpu_fraction_bounds), about three standard errors of the fit away.
      type: dict
      sample: {"evidence": "two memory sizes", "cpu_fraction": 0.18, "cpu_fraction_bounds": [0.12, 0.24],
               "detail": "durations at 1024 MB: 212 ms avg of 5120, 3008 MB: 190 ms avg of 4980"}
    refused:
      description:
        - Each requested change not made, with the reason and the risk it would have run.
        - A change or refusal decided by a guard of the function's context also names it in C(context), one of
          C(sqs), C(api_gateway), C(stream) or C(trend).
      type: list
      elements: dict
      sample: [{"field": "reserved_concurrency", "before": null, "after": null, "requested": 50,
                "reason": "50 is below the observed peak concurrency 85", "risk": "throttling"}]
    context:
      description:
        - With O(context_guards), what invokes the function (C(triggers), as M(tap.lambdaopt.lambda_usage_info)
          returns them, with the APIs that invoke it and their integration timeouts) and C(notes) on the settings
          it keeps (a queue's visibility timeout below AWS's recommended 6 times the timeout, a timeout API callers
          never wait for, an API whose integration timeout could not be read and was taken from
          O(api_integration_timeout)).
      type: dict
      returned: when O(context_guards) is set
      sample: {"triggers": {"event_sources": [], "invokers": ["apigateway.amazonaws.com"], "unknown": {},
                            "apis": [{"id": "a1b2c3d4e5", "name": "records-api-dev", "type": "rest",
                                      "integration_timeout_ms": 29000}]},
               "notes": ["a timeout of 60 s has no effect for API Gateway callers, who get an error after its 29 s
                          integration timeout"]}
    projection:
      description:
        - Average billed duration as measured in the window, and at the new memory from best case (I/O-bound)
          to worst case (CPU-bound), with the invocations scaled to a month. Absent where usage is missing.
          M(tap.lambdaopt.savings_report) turns these into dollars.
      type: dict
      sample: {"avg_billed_duration_ms": {"measured": 129.5, "best": 129.5, "worst": 1788.4},
               "monthly_invocations": 12590}
    error:
      description: Why the function failed, when it did.
      type: str
      returned: when status is failed
    accepted:
      description:
        - The settings Lambda accepted before the function failed (a reservation put before a refused
          configuration update, or an update whose wait failed or timed out). C(after) is then what the function
          was read back to hold, and the change record records it so that a rollback can undo it.
      type: list
      elements: str
      returned: when a function failed after part of its change was made
      sample: ["memory_size", "timeout"]
failed_functions:
  description: Names of functions that could not be changed or were not found.
  returned: always
  type: list
  elements: str
  sample: []
summary:
  description: How many functions were changed, unchanged, refused something, or failed.
  returned: always
  type: dict
  sample: {"functions": 6, "changed": 3, "unchanged": 3, "with_refusals": 2, "failed": 0}
concurrency_budget:
  description:
    - What the account's unreserved pool must keep after the reservations (C(keep_unreserved)) - the account's
      floor, or the account-wide peak of C(UnreservedConcurrentExecutions) in the window times
      O(concurrency_headroom) if that is more - and where it came from, with the C(reason) refusals quote.
      Null when reservations were not asked for.
    - When C(GetMetricData) could not read the unreserved peak (C(unreserved_peak_unknown)), the account-wide
      C(ConcurrentExecutions) peak stands in for it (C(stand_in_peak)); it counts every execution, so at least
      what the functions without a reservation used. A window without data points is not such a failure.
    - When neither could be read, C(increases_refused) says why, C(keep_unreserved) is the account's whole
      concurrency, and every new or raised reservation is refused; decreases still go.
  returned: always
  type: dict
  sample: {"keep_unreserved": 240, "account_floor": 100, "unreserved_peak": 200, "headroom": 1.2,
           "unreserved_peak_unknown": null, "stand_in_peak": null, "increases_refused": null,
           "reason": "the 240 that functions without a reservation need (their account-wide peak of 200 x headroom
             1.2)",
           "source": "AWS/Lambda UnreservedConcurrentExecutions, account-wide (GetMetricData); ConcurrentExecutions,
             account-wide, in its stead when it cannot be read"}
diff:
  description:
    - C(before) and C(after) of each function changed (or to be changed), by function name; of a function that
      failed part-way, what it was read back to hold.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"transform-dev": {"memory_size": 3008, "timeout": 300, "reserved_concurrency": null}},
           "after": {"transform-dev": {"memory_size": 128, "timeout": 3, "reserved_concurrency": 2}}}
"""

import os
from datetime import UTC, datetime, timedelta

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.tap.lambdaopt.plugins.module_utils import journal
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import earlier_changes, projection
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.api import (
    PartlyApplied,
    apply_all,
    planned_from_before,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.concurrency import (
    read_pool,
    refused_after_reread,
    unreserved_now,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.discovery import discover
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.evidence import evidence_of, measure
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import (
    MEMORY_LIMITS_MB,
    STARVED_POOL,
    TIMEOUT_LIMITS_S,
    ConcurrencyPool,
    Policy,
    plan_function,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan_context import context_of
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.triggers import read_triggers
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.versions import carried_allocations
from ansible_collections.tap.lambdaopt.plugins.module_utils._provisioned.api import allocations
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import (
    FLEET_ARGUMENT_SPEC,
    UPDATE_ARGUMENT_SPEC,
    USAGE_FLEET_REQUIRED_ONE_OF,
    auto_or_whole,
    aws_client,
    fleet_of_usage,
    fleet_selection_errors,
    update_option_errors,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.decisions import Decision
from ansible_collections.tap.lambdaopt.plugins.module_utils.metric_data import lookback_errors
from ansible_collections.tap.lambdaopt.plugins.module_utils.results import (
    CHANGED,
    FAILED,
    PLANNED,
    UNCHANGED,
    bulk_result,
    fail_part_way,
    finish,
    not_applied,
    partly_applied,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

SETTINGS = ("memory_size", "timeout", "reserved_concurrency")
LIMITS = {"memory_size": MEMORY_LIMITS_MB, "timeout": TIMEOUT_LIMITS_S, "reserved_concurrency": (0, None)}
USAGE_KEYS = ("invocations", "errors", "throttles", "duration_ms", "max_memory_used_mb", "init_duration_ms",
              "avg_billed_duration_ms", "log_ingested_bytes", "peak_concurrency", "samples", "sources", "window",
              "unknown_metrics", "daily_max_memory_used_mb", "daily_max_duration_ms", "triggers",
              "durations_by_memory_size", "lambda_insights")


def parse_requests(params: dict) -> tuple[dict, list]:
    """({setting: 'auto' | int | None}, errors), checked before any API call."""
    requests, errors = {}, []
    for setting in SETTINGS:
        requests[setting], error = auto_or_whole(setting, params.get(setting), *LIMITS[setting])
        if error:
            errors.append(error)
    return requests, errors


def policy_errors(params: dict) -> list:
    errors = []
    for name in ("memory_headroom", "timeout_headroom", "concurrency_headroom"):
        if params[name] < 1:
            errors.append(f"{name} must be at least 1, got {params[name]:g}")
    for name in ("min_invocations", "memory_increment_mb", "unreserved_floor"):
        if params[name] < (0 if name in ("min_invocations", "unreserved_floor") else 1):
            errors.append(f"{name} is out of range: {params[name]}")
    if params["concurrency_projection_cap"] < 1:
        errors.append("concurrency_projection_cap must be at least 1")
    if params["max_slowdown"] is not None and params["max_slowdown"] < 1:
        errors.append("max_slowdown must be at least 1")
    if not 1 <= params["api_integration_timeout"] <= 900:
        errors.append("api_integration_timeout must be between 1 and 900")
    if params["trend_horizon_days"] < 0:
        errors.append("trend_horizon_days must not be negative")
    if not 0 <= params["trend_min_r_squared"] <= 1:
        errors.append("trend_min_r_squared must be between 0 and 1")
    return errors + update_option_errors(params)


def settings_of(configuration: dict) -> dict:
    return {setting: configuration[setting] for setting in SETTINGS}


class Rightsizer:
    def __init__(self, module: AnsibleAWSModule, requests: dict):
        self.module = module
        self.params = module.params
        self.requests = requests
        self.lambda_client = aws_client(module, "lambda")
        self.budget = None
        self.provisioned = {}
        self.found: dict = {}  # {name: the function as discovered}
        self.entries: list = []
        self.missing: list = []
        self.policy = Policy(
            memory_headroom=self.params["memory_headroom"],
            timeout_headroom=self.params["timeout_headroom"],
            concurrency_headroom=self.params["concurrency_headroom"],
            min_invocations=self.params["min_invocations"],
            memory_increment_mb=self.params["memory_increment_mb"],
            timeout_statistic=self.params["timeout_statistic"],
            max_slowdown=self.params["max_slowdown"],
            unreserved_floor=self.params["unreserved_floor"],
            allow_unsafe=self.params["allow_unsafe"],
            concurrency_projection_cap=self.params["concurrency_projection_cap"],
            add_reservations=self.params["add_reservations"],
        )

    def measured_fleet(self) -> tuple[list, list]:
        functions, missing = discover(self.lambda_client, fleet_of_usage(self.params))
        given = {entry.get("function_name"): entry for entry in self.params["usage"] or []}
        unmeasured = [function for function in functions if function["function_name"] not in given]
        for function in functions:
            if function["function_name"] in given:
                function.update({key: given[function["function_name"]].get(key) for key in USAGE_KEYS})
        if unmeasured:
            measure(aws_client(self.module, "cloudwatch"),
                    aws_client(self.module, "logs"), unmeasured, self.params["lookback_days"],
                    max_report_events=self.params["max_report_events"])
        untriggered = [function for function in functions if function.get("triggers") is None]
        if self.params["context_guards"] and untriggered:
            read_triggers(self.lambda_client, aws_client(self.module, "sqs"), aws_client(self.module, "cloudwatch"),
                          untriggered, self.params["lookback_days"], self.params["requests_per_second"],
                          apigateway=aws_client(self.module, "apigateway"),
                          apigatewayv2=aws_client(self.module, "apigatewayv2"))
        return functions, missing

    def context(self, function: dict):
        """The guards of the function's context, or None (planned as before) without context_guards."""
        if not self.params["context_guards"]:
            return None
        return context_of(function.get("triggers"), function.get("daily_max_memory_used_mb"),
                          function.get("daily_max_duration_ms"),
                          api_integration_timeout_s=self.params["api_integration_timeout"],
                          trend_horizon_days=self.params["trend_horizon_days"],
                          trend_min_r_squared=self.params["trend_min_r_squared"],
                          window_days=(function.get("window") or {}).get("days"))

    def concurrency_pool(self) -> ConcurrencyPool:
        if self.requests["reserved_concurrency"] is None:
            return ConcurrencyPool(unreserved=0, floor=0)
        pool, self.budget = read_pool(self.lambda_client, aws_client(self.module, "cloudwatch"),
                                      self.policy.unreserved_floor, self.policy.concurrency_headroom,
                                      self.params["lookback_days"])
        return pool

    def provisioned_concurrency(self, functions: list) -> dict:
        """{name: provisioned concurrency of all its aliases and versions}, when reservations are planned (a
        reservation below it is refused by Lambda): as lambda_usage_info listed it, else listed here."""
        if self.requests["reserved_concurrency"] is None:
            return {}
        limiter = RateLimiter(self.params["requests_per_second"])
        carried = carried_allocations(self.params["usage"])

        def allocated(name: str) -> list:
            return carried[name] if name in carried else allocations(self.lambda_client, limiter, name)

        return {function["function_name"]: sum(allocation["requested"] for allocation in
                                               allocated(function["function_name"]))
                for function in functions}

    def plan(self, functions: list, pool: ConcurrencyPool) -> list:
        """One entry per function, in the fleet's order; reservations are planned against one pool, decreases
        first and the smallest increases next, so that one run reaches what a second would."""
        provisioned = self.provisioned = self.provisioned_concurrency(functions)
        # The memory moves earlier runs of this fleet made within the window: what tells a slowdown measured
        # after our own change.
        ours = earlier_changes.memory_changes(os.environ.get(journal.ENVIRONMENT_VARIABLE), self.params["suffix"],
                                              datetime.now(UTC) - timedelta(days=self.params["lookback_days"]))
        tuned = {entry["function_name"]: entry for entry in self.params["power_tuning"] or []
                 if isinstance(entry, dict) and entry.get("function_name")}
        evidence = {function["function_name"]: evidence_of(function, ours.get(function["function_name"], ()),
                                                           tuned.get(function["function_name"]))
                    for function in functions}

        def planned(function: dict, against: ConcurrencyPool):
            configuration = function["configuration"]
            return plan_function(configuration["memory_size"], configuration["timeout"],
                                 configuration["reserved_concurrency"], self.requests,
                                 evidence[function["function_name"]], against, self.policy,
                                 provisioned.get(function["function_name"], 0), self.context(function))

        def wanted_increase(function: dict) -> int:
            unlimited = ConcurrencyPool(unreserved=10**9, floor=0)
            reserved = function["configuration"]["reserved_concurrency"]
            held = reserved if reserved is not None else provisioned.get(function["function_name"], 0)
            wanted = planned(function, unlimited).after("reserved_concurrency", reserved)
            return (wanted if wanted is not None else held) - held

        plans = {function["function_name"]: planned(function, pool)
                 for function in sorted(functions, key=lambda function: (wanted_increase(function),
                                                                         function["function_name"]))}
        entries = []
        for function in functions:
            configuration = function["configuration"]
            plan = plans[function["function_name"]]
            before = settings_of(configuration)
            after = {setting: plan.after(setting, before[setting]) for setting in SETTINGS}
            entry = {
                "function_name": function["function_name"],
                "before": before,
                "after": after,
                "changes": [decision.as_dict() for decision in plan.changes],
                "refused": [decision.as_dict() for decision in plan.refused],
                "status": PLANNED if plan.changes else UNCHANGED,
                # Which evidence of how the code scales with memory its projections used.
                "scaling": evidence[function["function_name"]].scaling.as_dict(),
            }
            if self.params["context_guards"]:
                context = self.context(function)
                entry["context"] = {"triggers": function.get("triggers"),
                                    "notes": context.notes(after["timeout"]) if context else []}
            measured = projection.measured_usage_of(function)
            if measured is not None:
                entry["projection"] = projection.project(measured, after["memory_size"])
            entries.append(entry)
        return entries

    def apply_increases_last(self, work: dict, planned_from: dict) -> tuple[dict, dict]:
        """Apply the plan in two rounds: first every function whose reservation does not grow (decreases free the
        pool), then the increases, each only if the account's unreserved pool - read again, as other teams may have
        reserved meanwhile - still keeps the budget after it. A function whose increase no longer fits keeps its
        reservation and takes the rest of its changes. Returns ({name: error or None} of the functions updated,
        {name: why its increase is refused})."""
        def increase(name: str) -> int:
            if "reserved_concurrency" not in work[name] or work[name]["reserved_concurrency"] is None:
                return 0
            held = planned_from[name].get("reserved_concurrency")
            if held is None:  # without a reservation, its provisioned concurrency is what it takes from the pool
                held = self.provisioned.get(name, 0)
            return max(0, work[name]["reserved_concurrency"] - held)

        first = {name: changes for name, changes in work.items() if not increase(name)}
        errors = apply_all(self.lambda_client, first, planned_from, self.params["requests_per_second"],
                           self.params["max_workers"], read=self.found)
        growing = sorted((name for name in work if increase(name)), key=lambda name: (increase(name), name))
        if not growing:
            return errors, {}
        unreserved = unreserved_now(self.lambda_client)
        fitting, refused = {}, {}
        for name in growing:
            if unreserved - increase(name) < self.budget.floor:
                refused[name] = refused_after_reread(
                    f"reserving {work[name]['reserved_concurrency']} would leave {unreserved - increase(name)} "
                    f"unreserved in the account, below {self.budget.reason}")
                rest = {field: value for field, value in work[name].items() if field != "reserved_concurrency"}
                if rest:
                    fitting[name] = rest
                continue
            unreserved -= increase(name)
            fitting[name] = work[name]
        errors.update(apply_all(self.lambda_client, fitting, planned_from, self.params["requests_per_second"],
                                self.params["max_workers"], read=self.found))
        return errors, refused

    def apply(self, entries: list) -> None:
        """Apply the plan and read every function it touched back. A failed function's `after` is what it holds;
        one part of whose change Lambda accepted names those fields under `accepted`. An AWS error that stops the
        run part-way leaves each function as reading it back finds it, and is raised once they are settled."""
        work = {entry["function_name"]: {change["field"]: change["after"] for change in entry["changes"]}
                for entry in entries if entry["changes"]}
        planned_from = {entry["function_name"]: planned_from_before(entry, work[entry["function_name"]])
                        for entry in entries if entry["function_name"] in work}
        stopped, refused = None, {}
        try:
            errors, refused = self.apply_increases_last(work, planned_from)
        except (BotoCoreError, ClientError) as error:
            stopped, errors = error, {name: error for name in work}
        for entry in entries:
            if entry["function_name"] in refused:
                refuse_increase(entry, refused[entry["function_name"]])
        applied = [entry for entry in entries if entry["function_name"] in work and entry["changes"]]
        for entry in applied:
            error = errors.get(entry["function_name"])
            if error is None:
                entry["status"] = CHANGED
            elif isinstance(error, PartlyApplied):
                entry.update(status=FAILED, error=str(error), accepted=sorted(error.accepted),
                             after=settings_of(error.settings))
            else:
                entry.update(status=FAILED, error=str(error), after=entry["before"])
        names = sorted(entry["function_name"] for entry in applied)
        fresh, _missing = discover(self.lambda_client, {"functions": names}) if names else ([], [])
        now = {function["function_name"]: settings_of(function["configuration"]) for function in fresh}
        for entry in applied:
            if entry["function_name"] in now:
                entry["after"] = now[entry["function_name"]]
            if stopped is not None:
                settle_stopped(entry, work[entry["function_name"]], stopped)
        if stopped is not None:
            raise stopped

    def run(self) -> dict:
        functions, self.missing = self.measured_fleet()
        self.found = {function["function_name"]: function for function in functions}
        self.entries = self.plan(functions, self.concurrency_pool())
        if not self.module.check_mode:
            self.apply(self.entries)
        if not self.entries and not self.missing:
            self.module.warn("no functions matched the selection; nothing to do")
        return self.result()

    def result(self) -> dict:
        """The module's result from the entries planned (and applied) so far."""
        result = bulk_result(self.module, "functions", self.entries, self.missing,
                             concurrency_budget=self.budget.as_dict() if self.budget else None)
        # The summary counts each function once: one part of whose change Lambda accepted as failed, not changed.
        result["summary"]["changed"] -= sum(1 for entry in self.entries if partly_applied(entry))
        return result


def refuse_increase(entry: dict, reason: str) -> None:
    """A planned reservation increase that the pool, read again after the decreases, no longer has room for:
    refused, the reservation left as it is; the function's other changes stay planned."""
    [change] = [change for change in entry["changes"] if change["field"] == "reserved_concurrency"]
    refusal = Decision("reserved_concurrency", change["before"], change["requested"], change["before"], reason,
                       risk=STARVED_POOL, refused=True, refused_value=change["after"])
    entry["changes"] = [change for change in entry["changes"] if change["field"] != "reserved_concurrency"]
    entry["refused"] = entry["refused"] + [refusal.as_dict()]
    entry["after"] = {**entry["after"], "reserved_concurrency": change["before"]}
    if not entry["changes"]:
        entry["status"] = UNCHANGED


def settle_stopped(entry: dict, changes: dict, stopped: Exception) -> None:
    """A function whose update's outcome a run stopped part-way (by `stopped`) did not learn, as reading it back
    (its `after`) shows it: changed when it holds every planned value, failed naming those it holds otherwise."""
    if entry.get("accepted"):
        return
    made = sorted(field for field, value in changes.items()
                  if entry["after"][field] == value != entry["before"][field])
    if made and len(made) == len(changes):
        entry["status"] = CHANGED
        entry.pop("error", None)
    elif made:
        entry.update(accepted=made, error=f"the run stopped part-way ({stopped}); read back, it holds the change "
                                          f"of {', '.join(made)}")


def main():
    argument_spec = dict(
        memory_size=dict(type="str"),
        timeout=dict(type="str"),
        reserved_concurrency=dict(type="str"),
        usage=dict(type="list", elements="dict"),
        power_tuning=dict(type="list", elements="dict"),
        lookback_days=dict(type="int", default=14),
        max_report_events=dict(type="int", default=10000),
        memory_headroom=dict(type="float", default=1.3),
        timeout_headroom=dict(type="float", default=1.5),
        concurrency_headroom=dict(type="float", default=1.2),
        timeout_statistic=dict(type="str", choices=["max", "p999"], default="max"),
        min_invocations=dict(type="int", default=50),
        memory_increment_mb=dict(type="int", default=64),
        max_slowdown=dict(type="float"),
        unreserved_floor=dict(type="int", default=100),
        allow_unsafe=dict(type="bool", default=False),
        concurrency_projection_cap=dict(type="float", default=2.0),
        add_reservations=dict(type="bool", default=True),
        context_guards=dict(type="bool", default=True),
        api_integration_timeout=dict(type="float", default=29),
        trend_horizon_days=dict(type="float", default=7),
        trend_min_r_squared=dict(type="float", default=0.8),
        **FLEET_ARGUMENT_SPEC,
        **UPDATE_ARGUMENT_SPEC,
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, required_one_of=USAGE_FLEET_REQUIRED_ONE_OF,
                              supports_check_mode=True)
    requests, errors = parse_requests(module.params)
    errors += fleet_selection_errors(fleet_of_usage(module.params)) + policy_errors(module.params)
    errors += lookback_errors(module.params["lookback_days"])
    if module.params["max_report_events"] < 1:
        errors.append("max_report_events must be at least 1")
    if errors:
        module.fail_json(msg="; ".join(errors))

    rightsizer = Rightsizer(module, requests)
    try:
        result = rightsizer.run()
    except (BotoCoreError, ClientError) as error:
        # Every function planned or changed so far is returned, so that the change record holds what was done.
        failure = "Could not right-size the fleet"
        not_applied(module, rightsizer.entries, f"{failure}: {error}")
        fail_part_way(module, error, failure, rightsizer.result())
    finish(module, result, "could not right-size")


if __name__ == "__main__":
    main()
