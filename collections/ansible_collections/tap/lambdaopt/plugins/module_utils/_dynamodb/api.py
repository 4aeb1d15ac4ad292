# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A DynamoDB table's throughput settings, read and written in one shape: billing mode and provisioned read and
write capacity, the capacity None for an on-demand table (which DynamoDB reports as 0)."""

from __future__ import annotations

ON_DEMAND = "PAY_PER_REQUEST"
PROVISIONED = "PROVISIONED"
# UpdateTable returns at once; the table is UPDATING until the change is in place.
WAITER_CONFIG = {"Delay": 5, "MaxAttempts": 120}


def table_settings(table: dict) -> dict:
    """{billing_mode, read_capacity, write_capacity} of a DescribeTable answer's Table."""
    mode = (table.get("BillingModeSummary") or {}).get("BillingMode") or PROVISIONED
    throughput = table.get("ProvisionedThroughput") or {}
    if mode == ON_DEMAND:
        return {"billing_mode": mode, "read_capacity": None, "write_capacity": None}
    return {"billing_mode": mode, "read_capacity": throughput.get("ReadCapacityUnits"),
            "write_capacity": throughput.get("WriteCapacityUnits")}


def request_throughput(dynamodb, table_name: str, settings: dict) -> None:
    """Ask for `settings` with one UpdateTable; DynamoDB accepts it at once, and the table is UPDATING."""
    arguments = {"BillingMode": settings["billing_mode"]}
    if settings["billing_mode"] == PROVISIONED:
        arguments["ProvisionedThroughput"] = {"ReadCapacityUnits": settings["read_capacity"],
                                              "WriteCapacityUnits": settings["write_capacity"]}
    dynamodb.update_table(TableName=table_name, **arguments)


def wait_until_active(dynamodb, table_name: str) -> None:
    dynamodb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig=WAITER_CONFIG)


def update_throughput(dynamodb, table_name: str, settings: dict) -> None:
    """Put a table in `settings` with one UpdateTable, and wait until it is ACTIVE again."""
    request_throughput(dynamodb, table_name, settings)
    wait_until_active(dynamodb, table_name)
