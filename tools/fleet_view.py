"""Read a suffix's fleet back from the account and print it as a table."""

from __future__ import annotations

from dataclasses import dataclass

import boto3
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import has_suffix


@dataclass(frozen=True)
class FunctionState:
    name: str
    memory_size: int
    timeout: int
    retention_days: int | None
    tracing: str
    dead_letter_target: str | None
    reserved_concurrency: int | None


def describe(session: boto3.Session, suffix: str) -> list[FunctionState]:
    lambda_, logs = session.client("lambda"), session.client("logs")
    functions = [
        function
        for page in lambda_.get_paginator("list_functions").paginate()
        for function in page["Functions"]
        if has_suffix(function["FunctionName"], suffix)
    ]
    # The group each function logs to: its own, or the one its LoggingConfig names.
    groups = {function["FunctionName"]: (function.get("LoggingConfig") or {}).get("LogGroup")
              or f"/aws/lambda/{function['FunctionName']}" for function in functions}
    prefixes = {"/aws/lambda/", *(name for name in groups.values() if not name.startswith("/aws/lambda/"))}
    retention = {
        group["logGroupName"]: group.get("retentionInDays")
        for prefix in sorted(prefixes)
        for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix)
        for group in page["logGroups"]
    }
    return sorted(
        (
            FunctionState(
                name=function["FunctionName"],
                memory_size=function["MemorySize"],
                timeout=function["Timeout"],
                retention_days=retention.get(groups[function["FunctionName"]]),
                tracing=function.get("TracingConfig", {}).get("Mode", "PassThrough"),
                dead_letter_target=function.get("DeadLetterConfig", {}).get("TargetArn"),
                reserved_concurrency=lambda_.get_function_concurrency(FunctionName=function["FunctionName"]).get(
                    "ReservedConcurrentExecutions"
                ),
            )
            for function in functions
        ),
        key=lambda state: state.name,
    )


def render(states: list[FunctionState]) -> str:
    header = ("function", "memory MB", "timeout s", "log retention", "tracing", "DLQ", "reserved concurrency")
    rows = [
        (
            state.name,
            str(state.memory_size),
            str(state.timeout),
            f"{state.retention_days} days" if state.retention_days else "never expires",
            state.tracing,
            state.dead_letter_target.rsplit(":", 1)[-1] if state.dead_letter_target else "none",
            str(state.reserved_concurrency) if state.reserved_concurrency is not None else "none",
        )
        for state in states
    ]
    if not rows:
        return "no functions found"
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
