#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lambda_canary
short_description: Deliver a right-sized configuration to a Lambda alias's traffic through a canary
version_added: 0.3.0
description:
  - M(tap.lambdaopt.lambda_rightsize) changes a function's C($LATEST). A function served through an alias keeps
    running the version the alias points to, so its callers see nothing of that change until a new version is
    published and the alias moves to it. This module closes that loop, for each alias of the selected functions
    (O(aliases), by default every alias found) whose version differs from C($LATEST) in memory size or timeout.
  - It publishes C($LATEST) as a new version (once its last update is done, with C(RevisionId) and C(CodeSha256)
    as read, so that nothing slipped in since is published), routes O(weight) of the alias's traffic to it
    (C(RoutingConfig.AdditionalVersionWeights)), and observes both versions for O(bake_minutes) through the
    AWS/Lambda metrics Lambda publishes per version that ran through the alias (dimensions C(FunctionName),
    C(Resource) C(<function>:<alias>) and C(ExecutedVersion)) - C(Invocations), C(Errors), C(Throttles) and the
    99th percentile of C(Duration). One bake period serves every alias of the task.
  - Then it decides, alias by alias. The canary is promoted (the alias's C(FunctionVersion) becomes the new
    version, its routing cleared) if its error rate (the least it is with 95 % confidence) is at most
    O(max_error_rate_increase) above the old version's, it was throttled at most O(max_throttles) times, and its
    p99 duration is at most the slowdown projected for its memory size times O(p99_tolerance) times the old
    version's. The projection comes from the evidence of how the
    function's code scales, taken from O(usage) as M(tap.lambdaopt.lambda_rightsize) takes it, and is the wholly
    CPU-bound worst case without evidence. Otherwise the weight is rolled back (routing cleared, the alias on its
    old version) and the new version, when this task published it, deleted. Fewer than O(min_invocations)
    invocations of the canary is a verdict of its own, rolled back as C(not enough traffic to judge) unless
    O(accept_low_traffic) is set. A figure CloudWatch cannot answer also rolls back. Each alias's entry holds the
    verdict with its numbers.
  - A canary rolled back leaves C($LATEST) as it is, at the size the canary refused; the next version published
    from it would take that size, so the verdict is the evidence to roll back the right-sizing as well.
  - Only memory size and timeout are delivered. An alias whose version differs from C($LATEST) in anything else
    (code, runtime, handler, role, layers, environment, tracing, dead-letter queue, VPC, ephemeral storage, image) is
    refused, with the fields named, since publishing C($LATEST) would release those too. An alias that already routes
    traffic to a second version is refused (a shift in progress belongs to whoever started it); one on C($LATEST)
    needs no canary; a function without an alias is left alone with the reason (M(tap.lambdaopt.lambda_rightsize)'s
    change already reaches its traffic).
  - Provisioned concurrency moves with the version. An allocation made on an alias belongs to the alias. While the
    alias routes a weight to the canary, Lambda divides the allocation between the two versions (the API's
    C(AllocatedProvisionedConcurrentExecutions) "fluctuates depending on the amount of concurrency that is
    provisioned for the function versions"), so the old version keeps less than all of it for the bake period and
    more of its requests may spill over to on-demand concurrency (the Lambda developer guide advises a larger
    allocation while routing is active; raise it beforehand with M(tap.lambdaopt.lambda_provisioned_concurrency) if
    spillover matters). When the alias moves to the new version, or back, Lambda provisions the version it now
    serves; the module waits until the allocation is C(READY) again, up to O(wait_timeout) seconds, and reports its
    status. An allocation made on a version number stays with that version and is not touched.
  - Every change is announced to the run's journal before it is made (C(LAMBDAOPT_JOURNAL), as optimize.yml sets
    it), namely the new version (C(resource), kind C(lambda_version), created, its ARN with the acceptance) and each
    move of an alias (subject C(alias), with the alias's C(function_version) and C(additional_version_weights) before
    and after). To put an alias back, a rollback points it at the earliest C(before)'s version with that routing where
    it still holds the latest C(after), waits for its provisioned concurrency to be C(READY), and may then delete the
    versions the run created that no alias serves any more.
  - Check mode plans, with the version each alias would move to as C(new), and calls nothing that changes anything.
options:
  aliases:
    description: Only these aliases. By default every alias of the selected functions.
    type: list
    elements: str
  weight:
    description: Share of the alias's traffic routed to the canary during the bake period, above 0 and below 1.
    type: float
    default: 0.1
  bake_minutes:
    description:
      - How long both versions are observed before the verdict, from the moment the weight is shifted. Lambda's
        metrics reach CloudWatch a minute or two late, so the last minutes of a short bake period may count less.
    type: int
    default: 30
  max_error_rate_increase:
    description:
      - How far the canary's error rate (errors per invocation) may exceed the old version's. The canary's rate is
        taken at the least it is with 95 % confidence (Wilson score interval), so that one error among a few dozen
        invocations does not count as a regression.
    type: float
    default: 0.01
  p99_tolerance:
    description:
      - How far beyond the projected slowdown the canary's p99 duration may go, as a factor; a canary whose p99
        is more than projected slowdown x this x the old version's p99 is rolled back.
    type: float
    default: 1.2
  max_throttles:
    description: Throttles of the canary tolerated in the bake period.
    type: int
    default: 0
  min_invocations:
    description: Invocations of the canary needed in the bake period to judge it.
    type: int
    default: 50
  accept_low_traffic:
    description: Judge a canary with fewer than O(min_invocations) invocations on what it did, instead of rolling
      it back as not enough traffic to judge.
    type: bool
    default: false
  usage:
    description:
      - The C(functions) of M(tap.lambdaopt.lambda_usage_info), whose evidence of how each function's durations
        scale with memory gives the projected slowdown. A function without an entry is projected as wholly CPU-bound.
      - Given without O(functions) and O(suffix), its entries are the functions as well, as if given as O(functions)
        too (so a playbook passes the list once). One of O(suffix), O(functions) and O(usage) is required.
    type: list
    elements: dict
  wait_timeout:
    description: Seconds to wait for an alias's provisioned concurrency to be C(READY) after it moves.
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
- name: Deliver the right-sized configuration to the dev fleet's aliases
  tap.lambdaopt.lambda_canary:
    suffix: dev
    usage: "{{ usage.functions }}"

- name: A longer bake period and a stricter error budget for the live alias
  tap.lambdaopt.lambda_canary:
    functions: [api-handler-prod]
    aliases: [live]
    weight: 0.05
    bake_minutes: 60
    max_error_rate_increase: 0.001

- name: Only plan the canaries
  tap.lambdaopt.lambda_canary:
    suffix: prod
  check_mode: true
  register: canaries
"""

RETURN = r"""
aliases:
  description:
    - One entry per alias of the selected functions, sorted by function and alias, and one per function without an
      alias (C(qualifier) null).
  returned: always
  type: list
  elements: dict
  contains:
    function_name:
      description: The function's name.
      type: str
      sample: api-handler-dev
    qualifier:
      description: The alias's name; null for a function without an alias.
      type: str
      sample: live
    alias_arn:
      description: The alias's ARN.
      type: str
      sample: arn:aws:lambda:us-east-1:123456789012:function:api-handler-dev:live
    status:
      description:
        - C(changed) (promoted), C(refused) (rolled back after the bake period, or not tried, with the reason),
          C(unchanged) (nothing to deliver), C(planned) (check mode) or C(failed).
      type: str
      sample: changed
    reason:
      description: Why nothing was tried, for an alias that was not.
      type: str
      returned: when no canary ran
      sample: version 3 of alias live already has $LATEST's memory size and timeout
    before:
      description: The version the alias pointed to, its routing, memory size and timeout, before the task.
      type: dict
      sample: {"function_version": "1", "additional_version_weights": {}, "memory_size": 3008, "timeout": 300}
    after:
      description: The same after the task; C(function_version) C(new) in check mode, for the version to publish.
      type: dict
      sample: {"function_version": "2", "additional_version_weights": {}, "memory_size": 512, "timeout": 30}
    delivered:
      description: What the canary brings to the alias's traffic, each field with the old and the new value.
      type: dict
      sample: {"memory_size": [3008, 512], "timeout": [300, 30]}
    canary:
      description:
        - The canary version, whether this task published it (C(created); a version Lambda already had with the
          same code and configuration is reused and never deleted), the weight and the bake period's window.
      type: dict
      returned: when a canary ran
      sample: {"version": "2", "created": true, "weight": 0.1, "bake_minutes": 30,
               "window": {"start": "2026-12-01T10:00:00+00:00", "end": "2026-12-01T10:30:00+00:00"}}
    verdict:
      description:
        - C(promoted) or C(rolled_back), the reason, each version's figures over the bake period, the p99 ratio,
          the projected slowdown, the evidence it rests on, the largest ratio allowed, and the thresholds.
      type: dict
      returned: when a canary ran
      sample: {"decision": "rolled_back", "reason": "regressed: p99 duration 7980 ms against 2470 ms (x3.23; ...)",
               "baseline": {"version": "1", "invocations": 412, "errors": 0, "error_rate": 0.0, "throttles": 0,
                            "p99_duration_ms": 2470.2, "unknown_metrics": {}},
               "canary": {"version": "2", "invocations": 61, "errors": 0, "error_rate": 0.0, "throttles": 0,
                          "p99_duration_ms": 7980.5, "unknown_metrics": {}},
               "p99_ratio": 3.231, "projected_slowdown": 1.25, "allowed_p99_ratio": 1.5,
               "evidence": "Lambda Insights", "thresholds": {"max_error_rate_increase": 0.01, "p99_tolerance": 1.2,
               "max_throttles": 0, "min_invocations": 50, "accept_low_traffic": false}}
    provisioned_concurrency:
      description: The alias's own provisioned concurrency, and its status once the alias settled; null without.
      type: dict
      sample: {"requested": 102, "status": "READY"}
    refused:
      description: The delivery not made, with the reason and the risk it would have run.
      type: list
      elements: dict
      sample: [{"field": "function_version", "reason": "not enough traffic to judge: 3 invocations ...",
                "risk": "unproven"}]
    error:
      description: Why the alias failed, when it did; says where its routing was left.
      type: str
      returned: when status is failed
failed_aliases:
  description: C(function:alias) of every alias that failed, and functions that were not found.
  returned: always
  type: list
  elements: str
  sample: []
summary:
  description: How many entries, promoted or planned, unchanged, refused or rolled back, and failed.
  returned: always
  type: dict
  sample: {"aliases": 6, "changed": 1, "unchanged": 5, "with_refusals": 0, "failed": 0}
diff:
  description: Before and after of every alias acted on, by C(function:alias).
  returned: when diff mode is on
  type: dict
  sample: {"before": {"api-handler-dev:live": {"function_version": "1", "memory_size": 3008}},
           "after": {"api-handler-dev:live": {"function_version": "2", "memory_size": 512}}}
"""

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.tap.lambdaopt.plugins.module_utils import journal
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import canary_api
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.api import (
    NotApplied,
    delete_version,
    ready_function,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.canary import (
    DELIVERED_FIELDS,
    CanaryPlan,
    Thresholds,
    Verdict,
    VersionFigures,
    judge,
    plan_canary,
    projected_slowdown,
    version_settings,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.discovery import discover
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.evidence import evidence_of
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.scaling import WORST
from ansible_collections.tap.lambdaopt.plugins.module_utils._provisioned.api import wait_until_ready
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import (
    FLEET_ARGUMENT_SPEC,
    UPDATE_ARGUMENT_SPEC,
    USAGE_FLEET_REQUIRED_ONE_OF,
    aws_client,
    fleet_of_usage,
    fleet_selection_errors,
    function_name_of,
    update_option_errors,
    waiter_client,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.results import (
    CHANGED,
    FAILED,
    PLANNED,
    REFUSED,
    UNCHANGED,
    bulk_result,
    fail_part_way,
    finish,
    not_applied,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter, run_bounded

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

# How a version published by the canary describes itself (Lambda allows 256 characters).
VERSION_DESCRIPTION = "tap.lambdaopt canary"
PLANNED_VERSION = "new"


def wait_for_bake(seconds: float) -> None:
    """The bake period: looked up when called, so that a test can observe it without waiting."""
    time.sleep(seconds)


@dataclass
class AliasCanary:
    """One alias's canary as it goes: what was read, its plan, and what was done; `entry` is its result."""

    function_name: str
    alias: dict
    version: dict
    latest: dict
    plan: CanaryPlan
    allocation: dict | None
    entry: dict
    revision: str | None = None
    shifted_at: datetime | None = None
    verdict: Verdict | None = None

    @property
    def name(self) -> str:
        return self.alias["Name"]

    @property
    def old_version(self) -> str:
        return self.alias["FunctionVersion"]


@dataclass
class FunctionCanary:
    """The version published for a function's aliases (one for all of them), and whether the task created it."""

    name: str
    arn: str
    aliases: list = field(default_factory=list)
    version: dict | None = None
    created: bool = False
    failures: dict = field(default_factory=dict)


def option_errors(params: dict) -> list:
    errors = fleet_selection_errors(fleet_of_usage(params)) + update_option_errors(params)
    if not 0 < params["weight"] < 1:
        errors.append(f"weight must be above 0 and below 1, got {params['weight']:g}")
    if params["bake_minutes"] < 1:
        errors.append("bake_minutes must be at least 1")
    if params["max_error_rate_increase"] < 0:
        errors.append("max_error_rate_increase must be 0 or more")
    if params["p99_tolerance"] < 1:
        errors.append("p99_tolerance must be at least 1")
    for name in ("max_throttles", "min_invocations"):
        if params[name] < 0:
            errors.append(f"{name} must be 0 or more, got {params[name]}")
    if params["wait_timeout"] < 1:
        errors.append("wait_timeout must be at least 1 second")
    return errors


def entry_key(entry: dict) -> str:
    return f"{entry['function_name']}:{entry['qualifier']}" if entry["qualifier"] else entry["function_name"]


def served_by(version: str, weights: dict, settings: dict) -> dict:
    return {"function_version": version, "additional_version_weights": dict(weights),
            "memory_size": settings["memory_size"], "timeout": settings["timeout"]}


class Canary:
    def __init__(self, module: AnsibleAWSModule):
        self.module = module
        self.params = module.params
        self.lambda_client = aws_client(module, "lambda")
        self.limiter = RateLimiter(self.params["requests_per_second"])
        self.thresholds = Thresholds(
            max_error_rate_increase=self.params["max_error_rate_increase"],
            p99_tolerance=self.params["p99_tolerance"],
            max_throttles=self.params["max_throttles"],
            min_invocations=self.params["min_invocations"],
            accept_low_traffic=self.params["accept_low_traffic"],
        )
        self.usage = {function_name_of(entry): entry for entry in self.params["usage"] or []}
        self.canaries: list[AliasCanary] = []
        self.entries: list = []
        self.arns: dict = {}

    # Discover and plan: reads only.

    def read_function(self, name: str) -> list:
        """The function's aliases (those asked for), each with the version it serves and $LATEST, as read now."""
        wanted = set(self.params["aliases"] or [])
        aliases = [alias for alias in canary_api.aliases_of(self.lambda_client, self.limiter, name)
                   if not wanted or alias["Name"] in wanted]
        if not aliases:
            return []
        latest = canary_api.configuration(self.lambda_client, self.limiter, name, "$LATEST")
        found = []
        for alias in aliases:
            version = (latest if alias["FunctionVersion"] == "$LATEST" else
                       canary_api.configuration(self.lambda_client, self.limiter, name, alias["FunctionVersion"]))
            allocation = canary_api.allocation(self.lambda_client, self.limiter, name, alias["Name"])
            found.append((alias, version, latest, allocation))
        return found

    def plan(self, functions: list) -> None:
        names = sorted(function["function_name"] for function in functions)
        self.arns = {function["function_name"]: function["function_arn"] for function in functions}
        reads = run_bounded(self.read_function, names, self.params["max_workers"])
        for name in names:
            aliases, error = reads[name]
            if error is not None:
                raise error
            if not aliases:
                asked = self.params["aliases"]
                self.entries.append({
                    "function_name": name, "qualifier": None, "alias_arn": None, "status": UNCHANGED,
                    "reason": ("not served through any of the aliases " + ", ".join(asked) if asked else
                               "not served through an alias: lambda_rightsize's change of $LATEST already reaches its "
                               "traffic"),
                    "before": {}, "after": {}, "refused": []})
                continue
            for alias, version, latest, allocation in aliases:
                self.canaries.append(self.planned(name, alias, version, latest, allocation))

    def planned(self, name: str, alias: dict, version: dict, latest: dict, allocation: dict | None) -> AliasCanary:
        old, new = version_settings(version), version_settings(latest)
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        plan = plan_canary(alias, old, new)
        state = latest.get("State")
        if plan.runs and (state == "Failed" or latest.get("LastUpdateStatus") == "Failed"):
            plan = CanaryPlan(plan.delivered, reason=f"$LATEST's {'state' if state == 'Failed' else 'last update'} "
                                                     "failed: nothing is published from it", refused=True)
        before = served_by(alias["FunctionVersion"], weights, old)
        entry = {"function_name": name, "qualifier": alias["Name"], "alias_arn": alias["AliasArn"],
                 "status": UNCHANGED, "before": before, "after": dict(before),
                 "delivered": {key: list(pair) for key, pair in plan.delivered.items()},
                 "provisioned_concurrency": allocation, "refused": []}
        if plan.refused:
            entry.update(status=REFUSED, reason=plan.reason)
            entry["refused"].append({"field": "function_version", "reason": plan.reason, "risk": "release"})
        elif not plan.runs:
            entry["reason"] = plan.reason
        else:
            entry.update(status=PLANNED, after=served_by(PLANNED_VERSION, {}, new))
        return AliasCanary(name, alias, version, latest, plan, allocation, entry)

    # Apply: publish, shift, bake, judge, then promote or roll back.

    def start(self, function: FunctionCanary) -> None:
        """Publish $LATEST once for the function's aliases, then shift each alias's weight to it. A failure fails
        the aliases it concerns, recorded in `function.failures`, and the others go on."""
        name = function.name
        # Waits out an update in progress ($LATEST just right-sized): PublishVersion is refused meanwhile.
        latest = ready_function(self.lambda_client, name)["Configuration"]
        if version_settings(latest) != version_settings(function.aliases[0].latest):
            raise NotApplied("$LATEST changed since it was read: nothing was published; the next run plans from the "
                             "new configuration")
        existing = canary_api.published_versions(self.lambda_client, self.limiter, name)
        accepted = journal.announce("resource", function.arn, resource_kind="lambda_version", name=name,
                                    change="created")
        published = canary_api.publish(self.lambda_client, self.limiter, latest, self.description(latest))
        function.version, function.created = published, published["Version"] not in existing
        # Lambda answers with the version it already had when $LATEST is unchanged since: not the run's to delete.
        accepted(arn=published["FunctionArn"], **({} if function.created else {"reused": True}))
        if any(version_settings(published)[key] != version_settings(latest)[key]
               for key in (*DELIVERED_FIELDS, "code_sha256")):
            self.discard(function)
            raise NotApplied(f"Lambda answered with version {published['Version']}, which does not hold $LATEST's "
                             "configuration; nothing was routed to it")
        for canary in function.aliases:
            try:
                self.shift(canary, published["Version"])
            except (BotoCoreError, ClientError) as error:
                function.failures[canary.name] = f"could not route {self.params['weight']:g} to version " \
                                                 f"{published['Version']}, the alias is as it was: {error}"
        if not any(canary.shifted_at for canary in function.aliases):
            self.discard(function)

    def description(self, latest: dict) -> str:
        return f"{VERSION_DESCRIPTION}: {latest['MemorySize']} MB, {latest['Timeout']} s"

    def shift(self, canary: AliasCanary, version: str) -> None:
        weights = {version: self.params["weight"]}
        accepted = journal.announce(
            "alias", canary.alias["AliasArn"], function_name=canary.function_name, alias_name=canary.name,
            before={"function_version": canary.old_version, "additional_version_weights": {}},
            after={"function_version": canary.old_version, "additional_version_weights": weights},
            change="weight shifted")
        answer = canary_api.route(self.lambda_client, self.limiter, canary.function_name, canary.name,
                                  canary.old_version, weights, canary.alias["RevisionId"])
        accepted()
        canary.revision, canary.shifted_at = answer["RevisionId"], datetime.now(UTC)

    def discard(self, function: FunctionCanary) -> None:
        """Delete the function's canary version when the task created it and no alias serves it any more."""
        if function.version is None or not function.created:
            return
        version = function.version
        accepted = journal.announce("resource", version["FunctionArn"], resource_kind="lambda_version",
                                    name=function.name, change="deleted")
        delete_version(self.lambda_client, self.limiter, function.name, version["Version"])
        accepted()

    def bake_window(self, started: list) -> tuple[datetime, datetime]:
        start = min(canary.shifted_at for canary in started).replace(second=0, microsecond=0)
        return start, start + timedelta(minutes=self.params["bake_minutes"])

    def observe(self, started: list, functions: dict) -> None:
        """Wait out the bake period, then judge every canary that started on what each version did."""
        start, end = self.bake_window(started)
        wait_for_bake(max(0.0, (end - datetime.now(UTC)).total_seconds()))
        served = [(canary.function_name, canary.name, version) for canary in started
                  for version in (canary.old_version, functions[canary.function_name].version["Version"])]
        try:
            figures = canary_api.fetch_version_figures(aws_client(self.module, "cloudwatch"), served, start, end)
        except (BotoCoreError, ClientError) as error:
            reason = f"could not read the bake period's metrics: {error}"
            figures = {key: VersionFigures(version=key[2], unknown={"metrics": reason}) for key in served}
        for canary in started:
            new = functions[canary.function_name].version
            scaling = evidence_of(self.usage[canary.function_name]).scaling \
                if canary.function_name in self.usage else WORST
            slowdown = projected_slowdown(scaling, canary.version["MemorySize"], new["MemorySize"])
            canary.verdict = judge(figures[(canary.function_name, canary.name, canary.old_version)],
                                   figures[(canary.function_name, canary.name, new["Version"])], slowdown,
                                   self.thresholds, scaling.evidence)
            canary.entry["canary"] = {"version": new["Version"], "created": functions[canary.function_name].created,
                                      "weight": self.params["weight"], "bake_minutes": self.params["bake_minutes"],
                                      "window": {"start": start.isoformat(), "end": end.isoformat()}}
            canary.entry["verdict"] = canary.verdict.as_dict()

    def conclude(self, canary: AliasCanary, version: dict) -> None:
        """Promote the canary or roll its weight back (a canary never judged is rolled back), then wait for the
        alias's provisioned concurrency."""
        promote = canary.verdict is not None and canary.verdict.promote
        routed = {version["Version"]: self.params["weight"]}
        target = version["Version"] if promote else canary.old_version
        accepted = journal.announce(
            "alias", canary.alias["AliasArn"], function_name=canary.function_name, alias_name=canary.name,
            before={"function_version": canary.old_version, "additional_version_weights": routed},
            after={"function_version": target, "additional_version_weights": {}},
            change="promoted" if promote else "rolled back")
        canary_api.route(self.lambda_client, self.limiter, canary.function_name, canary.name, target, {},
                         canary.revision)
        accepted()
        canary.shifted_at = None
        if promote:
            canary.entry.update(status=CHANGED, after=served_by(target, {}, version_settings(version)))
        else:
            reason = canary.verdict.as_dict()["reason"] if canary.verdict else "rolled back unjudged: the task failed"
            risk = canary.verdict.risk if canary.verdict else "unproven"
            canary.entry.update(status=REFUSED, after=dict(canary.entry["before"]))
            canary.entry["refused"].append({"field": "function_version", "reason": reason, "risk": risk})
        if canary.allocation is not None:
            wait_until_ready(waiter_client(self.module, "lambda"), canary.function_name, canary.name,
                             self.params["wait_timeout"])
            canary.entry["provisioned_concurrency"] = {**canary.allocation, "status": "READY"}

    def settle(self, function: FunctionCanary) -> None:
        """Conclude each alias of the function that carries a canary, then delete the version if none kept it."""
        for canary in function.aliases:
            if canary.shifted_at is None:
                continue
            try:
                self.conclude(canary, function.version)
            except (BotoCoreError, ClientError) as error:
                if canary.shifted_at:
                    where = f"it may still route {self.params['weight']:g} to version {function.version['Version']}"
                    canary.entry["after"] = {**canary.entry["before"], "additional_version_weights": {
                        function.version["Version"]: self.params["weight"]}}
                else:
                    where = f"it serves version {canary.entry['after']['function_version']}, its routing cleared"
                function.failures[canary.name] = f"could not conclude the canary ({where}): {error}"
        kept = any(canary.verdict is not None and canary.verdict.promote and canary.name not in function.failures
                   for canary in function.aliases)
        if not kept and not any(canary.shifted_at for canary in function.aliases):
            self.discard(function)

    def apply(self) -> bool:
        """Run every planned canary; whether any published a version."""
        pending: dict = {}
        for canary in self.canaries:
            if canary.entry["status"] == PLANNED:
                pending.setdefault(canary.function_name, FunctionCanary(
                    canary.function_name, self.arns[canary.function_name])).aliases.append(canary)
        outcomes = run_bounded(lambda name: self.start(pending[name]), sorted(pending), self.params["max_workers"])
        self.fail(pending, outcomes, "could not start the canary")
        started = [canary for function in pending.values() for canary in function.aliases if canary.shifted_at]
        if started:
            live = sorted({canary.function_name for canary in started})
            try:
                self.observe(started, pending)
            finally:
                # Whatever stopped the judging, no alias is left routing to an unjudged canary.
                self.fail(pending, run_bounded(lambda name: self.settle(pending[name]), live,
                                               self.params["max_workers"]), "could not conclude the canary")
        return any(function.version is not None for function in pending.values())

    def fail(self, functions: dict, outcomes: dict, doing: str) -> None:
        """Mark failed the aliases of the functions whose step raised, and those the step failed one by one."""
        for name, function in functions.items():
            error = outcomes.get(name, (None, None))[1]
            for canary in function.aliases:
                why = function.failures.get(canary.name)
                if error is not None and canary.entry["status"] == PLANNED:
                    why = f"{doing}: {error}"
                if why:
                    canary.entry.update(status=FAILED, error=why)
                    if not canary.shifted_at:
                        canary.entry["after"] = dict(canary.entry["before"])

    def run(self) -> dict:
        functions, missing = discover(self.lambda_client, fleet_of_usage(self.params), need_concurrency=False)
        self.plan(functions)
        ran = False if self.module.check_mode else self.apply()
        self.entries += [canary.entry for canary in self.canaries]
        self.entries.sort(key=lambda entry: (entry["function_name"], entry["qualifier"] or ""))
        return bulk_result(self.module, "aliases", self.entries, missing, entry_key, changed=ran)

    def result_not_applied(self, error: Exception) -> dict:
        entries = self.entries + [canary.entry for canary in self.canaries]
        not_applied(self.module, entries, str(error))
        return bulk_result(self.module, "aliases", entries, [], entry_key)


def main():
    argument_spec = dict(
        aliases=dict(type="list", elements="str"),
        weight=dict(type="float", default=0.1),
        bake_minutes=dict(type="int", default=30),
        max_error_rate_increase=dict(type="float", default=0.01),
        p99_tolerance=dict(type="float", default=1.2),
        max_throttles=dict(type="int", default=0),
        min_invocations=dict(type="int", default=50),
        accept_low_traffic=dict(type="bool", default=False),
        usage=dict(type="list", elements="dict"),
        wait_timeout=dict(type="int", default=900),
        **FLEET_ARGUMENT_SPEC,
        **UPDATE_ARGUMENT_SPEC,
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, required_one_of=USAGE_FLEET_REQUIRED_ONE_OF,
                              supports_check_mode=True)
    errors = option_errors(module.params)
    if errors:
        module.fail_json(msg="; ".join(errors))
    canary = Canary(module)
    try:
        result = canary.run()
    except (BotoCoreError, ClientError) as error:
        fail_part_way(module, error, "Could not run the canaries", canary.result_not_applied(error))
    finish(module, result, "could not deliver through a canary to")


if __name__ == "__main__":
    main()
