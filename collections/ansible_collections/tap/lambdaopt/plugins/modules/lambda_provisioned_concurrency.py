#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lambda_provisioned_concurrency
short_description: Right-size the provisioned concurrency of a fleet's Lambda aliases from their real use
version_added: 0.2.0
description:
  - Finds every alias and version of the selected functions that has provisioned concurrency, measures how much
    of it was used over the lookback window (C(ProvisionedConcurrentExecutions) and
    C(ProvisionedConcurrencyUtilization), maximum) and how many requests spilled over to on-demand concurrency
    (C(ProvisionedConcurrencySpilloverInvocations)), and sets the allocation in one task for the whole fleet.
  - C(auto) lowers an idle allocation to the observed peak use times O(headroom), never below it and never
    below 1, so it never removes provisioned concurrency. When more than O(spillover_threshold) of the alias's
    invocations spilled over, the allocation is too small; C(auto) then raises it to the observed peak
    concurrency times O(headroom) if O(raise_on_spillover) is set, and otherwise reports it as refused.
  - An explicit number passes the same guard (never below peak use times headroom) unless O(allow_unsafe) is
    set. C(0) removes the allocation, the only way this module removes one.
  - A raise needs concurrency to allocate - within the function's reserved concurrency when it has one, else
    from the account's unreserved pool, which keeps O(unreserved_floor) or, if more, what the functions
    without a reservation used at once account-wide (C(UnreservedConcurrentExecutions), no dimension; when
    CloudWatch cannot read it, C(ConcurrentExecutions) account-wide, and when neither can be read, no raise takes
    from the pool) times O(headroom), so that the rest of the account is never starved. O(allow_unsafe) does not
    override either.
  - Aliases with fewer than O(min_invocations) invocations in the window get no automatic change.
  - Every change of the task is planned against one pool, so that one run reaches what a second would - first the
    allocations that do not grow, whose decreases free room for the raises, then the raises, smallest first.
    The decreases are applied first; then the account's settings (C(GetAccountSettings)) are read again, and
    each raise is applied only if it still fits the pool (and its function's reservation) as they are then -
    one that no longer does, as other teams took from the pool meanwhile or a decrease failed, is refused with
    the budget's reason and nothing is changed.
  - Each change is one C(PutProvisionedConcurrencyConfig) (or C(DeleteProvisionedConcurrencyConfig)) within a
    client-side rate limit, then waits until the allocation is C(READY). One alias failing does not stop the
    others; the task fails at the end and names it.
  - Every entry carries the C(recommendation) of C(auto), also when O(provisioned_concurrency) is not given and
    nothing is changed. In check mode nothing is changed and the plan is returned, with a diff under C(--diff).
options:
  provisioned_concurrency:
    description: Provisioned concurrency for each alias (0 removes it), or C(auto). Nothing is changed when omitted.
    type: str
  aliases:
    description: Only these aliases (or version numbers). By default every one that has provisioned concurrency.
    type: list
    elements: str
  headroom:
    description: The allocation is kept at least this multiple of the observed peak use.
    type: float
    default: 1.2
  spillover_threshold:
    description: Share of the alias's invocations (0 to 1) that may spill over before the allocation is too small.
    type: float
    default: 0.01
  raise_on_spillover:
    description: Let C(auto) raise an allocation that is too small, instead of reporting it.
    type: bool
    default: false
  lookback_days:
    description: Window of usage to decide from.
    type: int
    default: 14
  min_invocations:
    description: Fewer invocations of the alias than this in the window is too little data for any change.
    type: int
    default: 50
  unreserved_floor:
    description: Unreserved concurrency the account must keep (AWS requires 100; lower on small accounts).
    type: int
    default: 100
  allow_unsafe:
    description: Apply explicit values even below the observed peak use or without the data to check them.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for each changed allocation to become C(READY).
    type: int
    default: 900
extends_documentation_fragment:
  - tap.lambdaopt.fleet
  - tap.lambdaopt.updates
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - tap.lambdaopt maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Lower idle provisioned concurrency across the dev fleet
  tap.lambdaopt.lambda_provisioned_concurrency:
    suffix: dev
    provisioned_concurrency: auto

- name: Also raise allocations that requests spill over from
  tap.lambdaopt.lambda_provisioned_concurrency:
    suffix: prod
    provisioned_concurrency: auto
    raise_on_spillover: true

- name: Only report what auto would do
  tap.lambdaopt.lambda_provisioned_concurrency:
    suffix: prod
  register: provisioned

- name: Remove the allocation of one alias
  tap.lambdaopt.lambda_provisioned_concurrency:
    functions: [api-handler-dev]
    aliases: [live]
    provisioned_concurrency: 0
"""

RETURN = r"""
aliases:
  description: One entry per alias or version with provisioned concurrency, sorted by function and qualifier.
  returned: always
  type: list
  elements: dict
  contains:
    function_name:
      description: The function's name.
      type: str
      sample: api-handler-dev
    qualifier:
      description: The alias name or version number.
      type: str
      sample: live
    function_arn:
      description: The qualified ARN of the alias or version.
      type: str
      sample: arn:aws:lambda:us-east-1:123456789012:function:api-handler-dev:live
    status:
      description: C(changed), C(unchanged), C(planned) (check mode) or C(failed).
      type: str
      sample: changed
    before:
      description: The allocation before the task.
      type: dict
      sample: {"provisioned_concurrency": 150}
    after:
      description: The allocation after the task (planned in check mode); 0 when removed.
      type: dict
      sample: {"provisioned_concurrency": 102}
    allocation_status:
      description: C(READY), C(IN_PROGRESS) or C(FAILED) as Lambda last reported it.
      type: str
      sample: READY
    memory_size:
      description: Memory of the version the alias serves, in MB, which the allocation is billed at.
      type: int
      sample: 3008
    architecture:
      description: Architecture of that version.
      type: str
      sample: x86_64
    usage:
      description:
        - What the alias did in the window.
        - C(unknown_metrics) lists the metrics C(GetMetricData) could not answer (status C(InternalError) or
          C(Forbidden)) with the reason; they are C(null), never zero, and an alias with any is not changed
          (insufficient data).
      type: dict
      sample: {"window": {"start": "2026-11-10T04:00:00+00:00", "end": "2026-11-24T04:00:00+00:00", "days": 14},
               "invocations": 7011, "spillover_invocations": 0, "peak_provisioned_executions": 85,
               "max_utilization": 0.5667, "peak_concurrency": 85, "avg_duration_ms": 380.5,
               "source": "AWS/Lambda metrics of the alias (GetMetricData)", "unknown_metrics": {}}
    recommendation:
      description: What C(auto) would set, and why, whatever the task asked.
      type: dict
      sample: {"provisioned_concurrency": 102, "reason": "idle: observed peak use 85 x headroom 1.2 = 102"}
    changes:
      description: The change made (or planned), with its reason.
      type: list
      elements: dict
      sample: [{"field": "provisioned_concurrency", "before": 150, "after": 102, "requested": "auto",
                "reason": "idle: observed peak use 85 x headroom 1.2 = 102", "risk": null}]
    refused:
      description: The requested change not made, with the reason and the risk it would have run.
      type: list
      elements: dict
      sample: []
    error:
      description: Why the alias failed, when it did.
      type: str
      returned: when status is failed
failed_aliases:
  description: C(function:qualifier) of every alias that could not be changed, and functions that were not found.
  returned: always
  type: list
  elements: str
  sample: []
concurrency_budget:
  description:
    - What the account's unreserved pool must keep after a raise that draws on it (C(keep_unreserved)), and why
      (C(reason)), as M(tap.lambdaopt.lambda_rightsize) reports it. When the account-wide unreserved peak cannot be
      read, the account-wide C(ConcurrentExecutions) peak stands in for it (C(stand_in_peak)); when neither can,
      C(increases_refused) says why and no raise takes from the pool. Null when no change was asked for.
  returned: always
  type: dict
  sample: {"keep_unreserved": 840, "account_floor": 100, "unreserved_peak": 700, "headroom": 1.2,
           "unreserved_peak_unknown": null, "stand_in_peak": null, "increases_refused": null,
           "reason": "the 840 that functions without a reservation need (their account-wide peak of 700 x headroom
             1.2)",
           "source": "AWS/Lambda UnreservedConcurrentExecutions, account-wide (GetMetricData); ConcurrentExecutions,
             account-wide, in its stead when it cannot be read"}
summary:
  description: How many aliases were changed, unchanged, refused something, or failed.
  returned: always
  type: dict
  sample: {"aliases": 1, "changed": 1, "unchanged": 0, "with_refusals": 0, "failed": 0}
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.tap.lambdaopt.plugins.module_utils import metric_data
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.concurrency import (
    read_pool,
    refused_after_reread,
    unreserved_now,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.discovery import discover
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import ConcurrencyPool
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.versions import carried_allocations
from ansible_collections.tap.lambdaopt.plugins.module_utils._provisioned import metrics as alias_metrics
from ansible_collections.tap.lambdaopt.plugins.module_utils._provisioned.api import (
    allocations,
    apply_allocation,
    version_settings,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._provisioned.plan import (
    FIELD,
    NO_ROOM,
    AliasEvidence,
    Allocation,
    ProvisioningPolicy,
    plan_fleet,
    recommend,
    refit_raises,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import (
    FLEET_ARGUMENT_SPEC,
    FLEET_REQUIRED_ONE_OF,
    UPDATE_ARGUMENT_SPEC,
    auto_or_whole,
    aws_client,
    fleet_selection_errors,
    update_option_errors,
    waiter_client,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.decisions import Decision
from ansible_collections.tap.lambdaopt.plugins.module_utils.journal import from_environment
from ansible_collections.tap.lambdaopt.plugins.module_utils.results import (
    CHANGED,
    FAILED,
    PLANNED,
    UNCHANGED,
    bulk_result,
    finish,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter, run_bounded

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule


def option_errors(params: dict) -> list:
    errors = fleet_selection_errors(params) + update_option_errors(params)
    if params["headroom"] < 1:
        errors.append(f"headroom must be at least 1, got {params['headroom']:g}")
    if not 0 <= params["spillover_threshold"] <= 1:
        errors.append(f"spillover_threshold must be between 0 and 1, got {params['spillover_threshold']:g}")
    errors += metric_data.lookback_errors(params["lookback_days"])
    for name in ("min_invocations", "unreserved_floor"):
        if params[name] < 0:
            errors.append(f"{name} must be 0 or more, got {params[name]}")
    if params["wait_timeout"] < 1:
        errors.append("wait_timeout must be at least 1 second")
    return errors


class ProvisionedConcurrency:
    def __init__(self, module: AnsibleAWSModule, requested):
        self.module = module
        self.params = module.params
        self.requested = requested
        self.lambda_client = aws_client(module, "lambda")
        self.limiter = RateLimiter(self.params["requests_per_second"])
        self.budget = None
        # What the plan was made from: each alias's Allocation, and {function: {qualifier: allocation}} of every
        # alias and version of the selected functions, as read.
        self.allocations: dict = {}
        self.held: dict = {}
        self.policy = ProvisioningPolicy(
            headroom=self.params["headroom"],
            min_invocations=self.params["min_invocations"],
            spillover_threshold=self.params["spillover_threshold"],
            raise_on_spillover=self.params["raise_on_spillover"],
            unreserved_floor=self.params["unreserved_floor"],
            allow_unsafe=self.params["allow_unsafe"],
        )

    def found(self) -> tuple[list, list]:
        """(entries for every allocation of the selected functions, names not found)."""
        # Reserved concurrency (one GetFunction per function) matters only to a raise, so only to a task that asks
        # for a change; a recommendation needs ListFunctions alone.
        functions, missing = discover(self.lambda_client, self.params, need_concurrency=self.requested is not None)
        reserved = {function["function_name"]: function["configuration"].get("reserved_concurrency")
                    for function in functions}
        listed = self.allocations_of(functions)
        wanted = set(self.params["aliases"] or [])
        entries = []
        for name, configs in sorted(listed.items()):
            for config in configs:
                if wanted and config["qualifier"] not in wanted:
                    continue
                entries.append({"function_name": name, "reserved": reserved[name], "configs": configs, **config})
        unsettled = [_key(entry) for entry in entries if entry.get("memory_size") is None]
        settings = run_bounded(lambda key: version_settings(self.lambda_client, self.limiter, *key), unsettled,
                               self.params["max_workers"])
        for entry in entries:
            if _key(entry) not in settings:
                continue
            result, error = settings[_key(entry)]
            if error is not None:
                raise error
            entry.update(result)
        return entries, missing

    def allocations_of(self, functions: list) -> dict:
        """{name: its allocations}: as lambda_usage_info listed them (with the memory and architecture of the version
        each serves) when its entries were given, else listed here."""
        carried = carried_allocations(self.params["functions"])
        names = sorted(function["function_name"] for function in functions)
        unlisted = [name for name in names if name not in carried]
        listed = run_bounded(lambda name: allocations(self.lambda_client, self.limiter, name), unlisted,
                             self.params["max_workers"])
        for _configs, error in listed.values():
            if error is not None:
                raise error
        return {name: carried[name] if name in carried else listed[name][0] for name in names}

    def measure(self, entries: list) -> None:
        start, end = metric_data.window(self.params["lookback_days"])
        figures = alias_metrics.fetch_alias_metrics(aws_client(self.module, "cloudwatch"),
                                                    [(entry["function_name"], entry["qualifier"]) for entry in entries],
                                                    start, end)
        window = {"start": start.isoformat(), "end": end.isoformat(), "days": self.params["lookback_days"]}
        for entry in entries:
            entry["usage"] = alias_metrics.usage_of(figures[(entry["function_name"], entry["qualifier"])], window)

    def unreserved_pool(self) -> ConcurrencyPool | None:
        """The unreserved pool now, and what it must keep (concurrency.read_pool), when a change is asked for."""
        if self.requested is None:
            return None
        pool, self.budget = read_pool(self.lambda_client, aws_client(self.module, "cloudwatch"),
                                      self.params["unreserved_floor"], self.params["headroom"],
                                      self.params["lookback_days"])
        return pool

    def plan(self, entries: list) -> list:
        """One result per alias, with every change of the task planned against one pool (_provisioned/plan.py
        plan_fleet)."""
        pool = self.unreserved_pool()
        results = []
        for entry in entries:
            current = entry["requested"]
            evidence = AliasEvidence(
                invocations=entry["usage"]["invocations"],
                spillover_invocations=entry["usage"]["spillover_invocations"],
                peak_provisioned_executions=entry["usage"]["peak_provisioned_executions"],
                peak_concurrency=entry["usage"]["peak_concurrency"],
                unknown=tuple(sorted(entry["usage"]["unknown_metrics"].items())),
            )
            recommendation = recommend(current, evidence, self.policy)
            results.append({
                "function_name": entry["function_name"],
                "qualifier": entry["qualifier"],
                "function_arn": entry["function_arn"],
                "before": {"provisioned_concurrency": current},
                "after": {"provisioned_concurrency": current},
                "allocation_status": entry["status"],
                "memory_size": entry["memory_size"],
                "architecture": entry["architecture"],
                "usage": entry["usage"],
                "recommendation": {"provisioned_concurrency": recommendation.after, "reason": recommendation.reason},
                "changes": [],
                "refused": [],
                "status": UNCHANGED,
            })
            self.allocations[_key(entry)] = Allocation(entry["function_name"], entry["qualifier"], current,
                                                       entry["reserved"], evidence)
            self.held[entry["function_name"]] = {config["qualifier"]: config["requested"]
                                                 for config in entry["configs"]}
        if self.requested is None:
            return results
        decisions = plan_fleet(list(self.allocations.values()), _copy(self.held), self.requested, pool, self.policy)
        for result in results:
            decision = decisions[_key(result)]
            if decision.refused:
                result["refused"].append(decision.as_dict())
            elif decision.changed:
                result["changes"].append(decision.as_dict())
                result["after"] = {FIELD: decision.after}
                result["status"] = PLANNED
        return results

    def apply(self, results: list) -> None:
        """Apply the decreases, then - with the account's unreserved pool read again - the raises that still fit;
        one that no longer does is refused, naming the budget, and left as it was."""
        pending = {_key(result): result for result in results if result["status"] == PLANNED}
        lowered = [key for key, result in pending.items() if result["after"][FIELD] < result["before"][FIELD]]
        raised = [key for key in pending if key not in lowered]
        self.allocate(pending, lowered)
        if not raised:
            return
        held = _copy(self.held)
        for key in lowered:  # a failed decrease holds what it held before
            held[key[0]][key[1]] = pending[key]["after"][FIELD]
        pool = ConcurrencyPool(unreserved_now(self.lambda_client), self.budget.floor, self.budget.reason)
        refusals = refit_raises([(self.allocations[key], pending[key]["after"][FIELD]) for key in raised], held, pool)
        for key, refusal in refusals.items():
            if refusal:
                _refuse_after_reread(pending[key], refusal)
        self.allocate(pending, [key for key in raised if refusals[key] is None])

    def allocate(self, pending: dict, keys: list) -> None:
        """Set the allocations of `keys`, each waited for until READY, and record how each ended."""
        waiting = waiter_client(self.module, "lambda")
        journal = from_environment()

        def allocate_one(key):
            result = pending[key]
            # Announced to the run's journal (journal.py) before the call, so that a killed run can be rolled back.
            intent = journal and journal.intent(
                result["function_arn"], key[0], {FIELD: result["after"][FIELD]}, result["before"], qualifier=key[1])
            status = apply_allocation(self.lambda_client, waiting, self.limiter, *key, result["after"][FIELD],
                                      self.params["wait_timeout"])
            if intent:
                journal.done(intent)
            return status

        outcomes = run_bounded(allocate_one, sorted(keys), self.params["max_workers"])
        for key in keys:
            status, error = outcomes[key]
            if error is not None:
                pending[key].update(status=FAILED, error=str(error), after=dict(pending[key]["before"]))
            else:
                pending[key].update(status=CHANGED, allocation_status=status)

    def run(self) -> dict:
        entries, missing = self.found()
        self.measure(entries)
        results = self.plan(entries)
        if not self.module.check_mode:
            self.apply(results)
        outcome = bulk_result(self.module, "aliases", results, missing,
                              lambda result: f"{result['function_name']}:{result['qualifier']}",
                              concurrency_budget=self.budget.as_dict() if self.budget else None)
        if not results and not missing:
            self.module.warn("no provisioned concurrency found on the selected functions; nothing to do")
        return outcome


def _key(entry: dict) -> tuple:
    return entry["function_name"], entry["qualifier"]


def _copy(held: dict) -> dict:
    return {name: dict(allocations) for name, allocations in held.items()}


def _refuse_after_reread(result: dict, refusal: str) -> None:
    """A planned raise that the pool, read again after the decreases, no longer has room for: refused, unchanged."""
    [change] = result["changes"]
    decision = Decision(FIELD, change["before"], change["requested"], change["before"], refused_after_reread(refusal),
                        risk=NO_ROOM, refused=True)
    result.update(changes=[], refused=result["refused"] + [decision.as_dict()], after=dict(result["before"]),
                  status=UNCHANGED)


def main():
    argument_spec = dict(
        provisioned_concurrency=dict(type="str"),
        aliases=dict(type="list", elements="str"),
        headroom=dict(type="float", default=1.2),
        spillover_threshold=dict(type="float", default=0.01),
        raise_on_spillover=dict(type="bool", default=False),
        lookback_days=dict(type="int", default=14),
        min_invocations=dict(type="int", default=50),
        unreserved_floor=dict(type="int", default=100),
        allow_unsafe=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=900),
        **FLEET_ARGUMENT_SPEC,
        **UPDATE_ARGUMENT_SPEC,
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, required_one_of=FLEET_REQUIRED_ONE_OF,
                              supports_check_mode=True)
    requested, error = auto_or_whole("provisioned_concurrency", module.params["provisioned_concurrency"], 0, None)
    errors = ([error] if error else []) + option_errors(module.params)
    if errors:
        module.fail_json(msg="; ".join(errors))
    try:
        result = ProvisionedConcurrency(module, requested).run()
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg="Could not right-size provisioned concurrency")
    finish(module, result, "could not change provisioned concurrency of")


if __name__ == "__main__":
    main()
