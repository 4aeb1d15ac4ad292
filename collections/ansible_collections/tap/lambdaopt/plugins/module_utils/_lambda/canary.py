# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canary right-sizing of a function served through an alias: whether its `$LATEST` configuration has something for
the alias's traffic, and whether the version published from it held during the bake period. Pure: no AWS.

A right-sized `$LATEST` reaches an alias's callers only as a new version. The canary publishes one, routes a small
weight of the alias to it, and compares the two versions over the bake period by what Lambda measured of each
(AWS/Lambda metrics by ExecutedVersion): the error rate, the throttles, and the 99th percentile duration, whose ratio
may grow by no more than the slowdown projected for the new memory size (from the evidence of how the function's
code scales, or the worst case without any) times a tolerance. Too few invocations of the canary is a verdict of its
own: nothing was shown, so nothing is promoted unless the task accepts it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.scaling import WORST, Scaling

PROMOTED = "promoted"
ROLLED_BACK = "rolled_back"
# What the canary delivers: the settings lambda_rightsize changes on $LATEST that a version carries.
DELIVERED_FIELDS = ("memory_size", "timeout")
# Settings a version carries that the canary must not release with it: publishing $LATEST would deploy them too.
# Lambda itself refuses to route between versions with other roles or dead-letter queues.
HELD_FIELDS = ("code_sha256", "runtime", "handler", "role", "architectures", "layers", "environment", "tracing_mode",
               "dead_letter_target", "vpc_config", "ephemeral_storage_mb", "image_uri")
NOT_ENOUGH_TRAFFIC = "not enough traffic to judge"
# A canary's error rate is judged by the least it is with this confidence (two-sided 95 %): one error among a few
# dozen invocations is chance, not a regression.
ERROR_RATE_Z = 1.96


def error_rate_floor(errors: int, invocations: int, z: float = ERROR_RATE_Z) -> float:
    """The lower bound of the error rate that `errors` of `invocations` show (Wilson's score interval)."""
    if not invocations:
        return 0.0
    rate = errors / invocations
    centre = rate + z * z / (2 * invocations)
    spread = z * math.sqrt(rate * (1 - rate) / invocations + z * z / (4 * invocations * invocations))
    return max(0.0, (centre - spread) / (1 + z * z / invocations))


def version_settings(configuration: dict) -> dict:
    """The settings of a version (or $LATEST) that the canary compares, from a GetFunctionConfiguration answer."""
    vpc = configuration.get("VpcConfig") or {}
    return {
        "memory_size": configuration.get("MemorySize"),
        "timeout": configuration.get("Timeout"),
        "code_sha256": configuration.get("CodeSha256"),
        "runtime": configuration.get("Runtime"),
        "handler": configuration.get("Handler"),
        "role": configuration.get("Role"),
        "architectures": list(configuration.get("Architectures") or ["x86_64"]),
        "layers": [layer.get("Arn") for layer in configuration.get("Layers") or []],
        "environment": (configuration.get("Environment") or {}).get("Variables") or {},
        "tracing_mode": (configuration.get("TracingConfig") or {}).get("Mode", "PassThrough"),
        "dead_letter_target": (configuration.get("DeadLetterConfig") or {}).get("TargetArn"),
        "vpc_config": {"subnets": sorted(vpc.get("SubnetIds") or []),
                       "security_groups": sorted(vpc.get("SecurityGroupIds") or [])},
        "ephemeral_storage_mb": (configuration.get("EphemeralStorage") or {}).get("Size", 512),
        "image_uri": (configuration.get("ImageConfigResponse") or {}).get("ImageUri"),
    }


@dataclass(frozen=True)
class CanaryPlan:
    """What to do for one alias: `reason` says why nothing is done (`refused` when the canary would be wrong rather
    than merely pointless); otherwise `delivered` holds the {field: (alias's version's value, $LATEST's value)} the
    canary brings to the alias's traffic."""

    delivered: dict = field(default_factory=dict)
    reason: str | None = None
    refused: bool = False

    @property
    def runs(self) -> bool:
        return self.reason is None


def plan_canary(alias: dict, version: dict, latest: dict) -> CanaryPlan:
    """Whether a canary has something to deliver through `alias` (a GetAlias answer), from `version` (the settings
    of the version it points to) to `latest` (those of $LATEST), both as version_settings gives them."""
    name = alias["Name"]
    routing = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    if alias["FunctionVersion"] == "$LATEST":
        return CanaryPlan(reason=f"alias {name} points to $LATEST, so $LATEST's configuration already serves it")
    if routing:
        shares = ", ".join(f"{weight:.0%} to version {routed}" for routed, weight in sorted(routing.items()))
        return CanaryPlan(reason=f"alias {name} already routes {shares}: a shift in progress is left to whoever "
                                 "started it", refused=True)
    delivered = {key: (version[key], latest[key]) for key in DELIVERED_FIELDS if version[key] != latest[key]}
    if not delivered:
        return CanaryPlan(reason=f"version {alias['FunctionVersion']} of alias {name} already has $LATEST's memory "
                                 "size and timeout")
    held = [key for key in HELD_FIELDS if version[key] != latest[key]]
    if held:
        return CanaryPlan(delivered, reason=f"$LATEST also differs from version {alias['FunctionVersion']} in "
                                            f"{', '.join(held)}: publishing it would release that too, and the canary "
                                            "delivers only memory size and timeout", refused=True)
    return CanaryPlan(delivered)


@dataclass(frozen=True)
class Thresholds:
    """When the canary regressed. `max_error_rate_increase` is in errors per invocation (0.01: one point of
    percentage), by which the canary's error rate, at least as high as it is with 95 % confidence, may exceed the old
    version's; `p99_tolerance` multiplies the projected slowdown; `min_invocations` of the canary are needed to
    judge, unless `accept_low_traffic`."""

    max_error_rate_increase: float = 0.01
    p99_tolerance: float = 1.2
    max_throttles: int = 0
    min_invocations: int = 50
    accept_low_traffic: bool = False

    def as_dict(self) -> dict:
        return {"max_error_rate_increase": self.max_error_rate_increase, "p99_tolerance": self.p99_tolerance,
                "max_throttles": self.max_throttles, "min_invocations": self.min_invocations,
                "accept_low_traffic": self.accept_low_traffic}


@dataclass(frozen=True)
class VersionFigures:
    """What Lambda measured of one version over the bake period; None where nothing was measured, and in `unknown`
    each figure CloudWatch could not answer, with why."""

    version: str
    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    p99_ms: float | None = None
    unknown: dict = field(default_factory=dict)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.invocations if self.invocations else None

    def as_dict(self) -> dict:
        rate = self.error_rate
        return {"version": self.version, "invocations": self.invocations, "errors": self.errors,
                "error_rate": None if rate is None else round(rate, 4), "throttles": self.throttles,
                "p99_duration_ms": None if self.p99_ms is None else round(self.p99_ms, 2),
                "unknown_metrics": dict(sorted(self.unknown.items()))}


def projected_slowdown(scaling: Scaling, from_mb: int, to_mb: int) -> float:
    """How many times its duration at `from_mb` the function is projected to take at `to_mb`: the slowest its
    scaling evidence allows (the wholly CPU-bound worst case without evidence)."""
    return scaling.factors(from_mb, to_mb)[1]


@dataclass(frozen=True)
class Verdict:
    decision: str
    reasons: tuple
    baseline: VersionFigures
    canary: VersionFigures
    projected_slowdown: float
    evidence: str
    thresholds: Thresholds
    p99_ratio: float | None = None
    regressed: bool = False

    @property
    def promote(self) -> bool:
        return self.decision == PROMOTED

    @property
    def risk(self) -> str | None:
        """What promoting a canary rolled back would have risked: a shown regression, or a change nothing proved."""
        if self.promote:
            return None
        return "regression" if self.regressed else "unproven"

    def as_dict(self) -> dict:
        return {"decision": self.decision, "reason": "; ".join(self.reasons), "baseline": self.baseline.as_dict(),
                "canary": self.canary.as_dict(),
                "p99_ratio": None if self.p99_ratio is None else round(self.p99_ratio, 3),
                "projected_slowdown": round(self.projected_slowdown, 3),
                "allowed_p99_ratio": round(self.projected_slowdown * self.thresholds.p99_tolerance, 3),
                "evidence": self.evidence, "thresholds": self.thresholds.as_dict()}


def judge(baseline: VersionFigures, canary: VersionFigures, slowdown: float, thresholds: Thresholds,
          evidence: str = WORST.evidence) -> Verdict:
    """Promote the canary only if it held against the baseline over the bake period: every figure known, enough
    invocations of the canary (or low traffic accepted), its error rate (the least it is with 95 % confidence) no
    more than `max_error_rate_increase` above the baseline's, no more throttles than `max_throttles`, and its p99
    duration no more than `slowdown` (projected for its memory size) x `p99_tolerance` times the baseline's."""

    def verdict(decision: str, reasons: list, ratio: float | None = None, regressed: bool = False) -> Verdict:
        return Verdict(decision, tuple(reasons), baseline, canary, slowdown, evidence, thresholds, ratio, regressed)

    unknown = {**{f"baseline {key}": why for key, why in baseline.unknown.items()},
               **{f"canary {key}": why for key, why in canary.unknown.items()}}
    if unknown:
        return verdict(ROLLED_BACK, [f"could not judge: {key} unknown ({why})" for key, why in sorted(unknown.items())])
    regressions, notes = [], []
    if canary.invocations < thresholds.min_invocations:
        shown = (f"{canary.invocations} invocations of version {canary.version} in the bake period, fewer than the "
                 f"{thresholds.min_invocations} needed")
        if not thresholds.accept_low_traffic:
            return verdict(ROLLED_BACK, [f"{NOT_ENOUGH_TRAFFIC}: {shown}"])
        notes.append(f"low traffic accepted: {shown}")
    floor = error_rate_floor(canary.errors, canary.invocations)
    if floor - (baseline.error_rate or 0.0) > thresholds.max_error_rate_increase:
        regressions.append(f"error rate {canary.error_rate:.2%} (at least {floor:.2%} with 95 % confidence) against "
                           f"{baseline.error_rate or 0.0:.2%}, up more than {thresholds.max_error_rate_increase:.2%}")
    if canary.throttles > thresholds.max_throttles:
        regressions.append(f"{canary.throttles} throttles, more than {thresholds.max_throttles}")
    ratio = None
    allowed = slowdown * thresholds.p99_tolerance
    if canary.p99_ms is not None and baseline.p99_ms:
        ratio = canary.p99_ms / baseline.p99_ms
        comparison = (f"p99 duration {canary.p99_ms:.0f} ms against {baseline.p99_ms:.0f} ms (x{ratio:.2f}; projected "
                      f"x{slowdown:.2f} by {evidence}, tolerance {thresholds.p99_tolerance:g}: at most x{allowed:.2f})")
        (regressions if ratio > allowed else notes).append(comparison)
    elif canary.invocations:
        notes.append("no p99 duration of the baseline to compare with")
    if regressions:
        return verdict(ROLLED_BACK, ["regressed: " + "; ".join(regressions), *notes], ratio, regressed=True)
    held = "; ".join(notes or ["no errors, throttles or slowdown beyond the projection"])
    return verdict(PROMOTED, [f"held: {held}"], ratio)
