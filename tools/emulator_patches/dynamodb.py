"""DynamoDB billing-mode switches and capacity decreases as AWS records and limits them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table


def apply() -> None:
    billing_mode_switches()


class LimitExceededException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("LimitExceededException", message)


# AWS allows this many switches of a table to on-demand in any 24 hours; switching to provisioned is not limited.
SWITCHES_TO_ON_DEMAND_PER_DAY = 4


def billing_mode_switches() -> None:
    """AWS records when a table last switched to on-demand (BillingModeSummary.LastUpdateToPayPerRequestDateTime),
    refuses a fifth switch to on-demand within 24 hours, and shows an on-demand table's provisioned throughput
    as 0 read and 0 write units; moto does none of these."""
    original_update = DynamoDBBackend.update_table
    original_describe = Table.describe

    def update_table(self: DynamoDBBackend, name: str, **changes: Any) -> Table:
        table = self.get_table(name)
        now = datetime.now(UTC)
        if changes.get("billing_mode") == "PAY_PER_REQUEST" and table.billing_mode != "PAY_PER_REQUEST":
            recent = [moment for moment in getattr(table, "lambdaopt_switches_to_on_demand", [])
                      if now - moment < timedelta(hours=24)]
            if len(recent) >= SWITCHES_TO_ON_DEMAND_PER_DAY:
                raise LimitExceededException(
                    f"Subscriber limit exceeded: Update to PayPerRequest mode are limited to "
                    f"{SWITCHES_TO_ON_DEMAND_PER_DAY} times in 24 hours for table {name}")
            table.lambdaopt_switches_to_on_demand = [*recent, now]
        previous = dict(table.throughput)
        updated = original_update(self, name, **changes)
        if updated.billing_mode == "PAY_PER_REQUEST":
            updated.throughput = {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0, "NumberOfDecreasesToday": 0}
        elif changes.get("throughput"):
            decreased = any(int(updated.throughput.get(key, 0)) < int(previous.get(key, 0))
                            for key in ("ReadCapacityUnits", "WriteCapacityUnits"))
            updated.throughput = {**updated.throughput,
                                  "NumberOfDecreasesToday": previous.get("NumberOfDecreasesToday", 0) + decreased}
        return updated

    def describe(self: Table, base_key: str = "TableDescription") -> dict[str, Any]:
        described = original_describe(self, base_key)
        switches = getattr(self, "lambdaopt_switches_to_on_demand", [])
        if switches:
            described[base_key]["BillingModeSummary"]["LastUpdateToPayPerRequestDateTime"] = switches[-1].timestamp()
        return described

    DynamoDBBackend.update_table = update_table
    Table.describe = describe
