"""CloudWatch Logs as AWS validates it."""

from __future__ import annotations

from typing import Any

from moto.logs.exceptions import InvalidParameterException
from moto.logs.models import LogsBackend

VALID_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)


def apply() -> None:
    retention_values()


def retention_values() -> None:
    """AWS accepts only its fixed list of retention periods; moto accepts any number."""
    original = LogsBackend.put_retention_policy

    def put_retention_policy(self: LogsBackend, log_group_name: str, retention_in_days: Any) -> None:
        if int(retention_in_days) not in VALID_RETENTION_DAYS:
            raise InvalidParameterException(
                constraint=f"Member must satisfy enum value set: [{', '.join(map(str, VALID_RETENTION_DAYS))}]",
                parameter="retentionInDays",
                value=retention_in_days,
            )
        original(self, log_group_name, retention_in_days)

    LogsBackend.put_retention_policy = put_retention_policy
