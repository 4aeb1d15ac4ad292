# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions, whatever they size: a field's before, what was asked, what it is set to and why, and the risk a
refused one would have run. Pure; shared by Lambda sizing, provisioned concurrency and DynamoDB capacity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AUTO = "auto"


@dataclass(frozen=True)
class Decision:
    field: str
    before: Any
    requested: Any
    after: Any
    reason: str
    risk: str | None = None
    refused: bool = False
    # Where a guard from the function's context decided it (_lambda/plan_context.py: sqs, api_gateway, stream,
    # trend).
    context: str | None = None
    # The value a refused change would have set, where known.
    refused_value: Any = None

    @property
    def changed(self) -> bool:
        return not self.refused and self.after != self.before

    @property
    def target(self) -> Any:
        """What the decision set, or for a refused one, what it would have set."""
        return self.refused_value if self.refused else self.after

    def as_dict(self) -> dict:
        answer = {"field": self.field, "before": self.before, "requested": self.requested, "after": self.after,
                  "reason": self.reason, "risk": self.risk}
        if self.context is not None:
            answer["context"] = self.context
        return answer


def refuse_or_accept(policy, field_name: str, before, requested, after, reason: str, risk: str) -> Decision:
    """Refuse a change that breaks a guard, or make it when `policy.allow_unsafe` says so, saying which."""
    if policy.allow_unsafe:
        return Decision(field_name, before, requested, after, f"{reason} (allowed by allow_unsafe)", risk=risk)
    return Decision(field_name, before, requested, before, reason, risk=risk, refused=True, refused_value=after)
