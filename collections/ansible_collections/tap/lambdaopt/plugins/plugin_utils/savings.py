# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run's monthly cost before and after, per function and in total: Lambda compute and requests, log
ingestion and storage, and what the hardening adds. Everything comes from the usage measured in the
window and one price table.

Every line is rounded to the cent on its own, so each total is exactly the sum of what it totals.
Where the duration at a new memory size is uncertain there are three scenarios: the code is I/O-bound
(duration unchanged), CPU-bound (duration scales with the CPU share), or in between (expected)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.log_groups import default_group
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import FULL_VCPU_MEMORY_MB
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.projection import HOURS_PER_MONTH, MeasuredUsage
from ansible_collections.tap.lambdaopt.plugins.module_utils.retention import describe as describe_retention

SCENARIOS = ("io_bound", "expected", "cpu_bound")
COMPONENTS = ("lambda", "log_ingestion", "log_storage", "hardening", "provisioned_concurrency", "data_store")
CENT = Decimal("0.01")
ZERO = Decimal(0)
SECONDS_PER_MONTH = Decimal(HOURS_PER_MONTH * 3600)
# What pricing a table takes, per unit-hour provisioned and per request unit on demand (prices.Prices.dynamodb).
TABLE_PRICES = frozenset(("read_capacity_unit_hour", "write_capacity_unit_hour", "read_request_units",
                          "write_request_units"))
DAYS_PER_MONTH = Decimal(HOURS_PER_MONTH) / 24


@dataclass(frozen=True)
class Assumptions:
    """What the report assumes where measurements cannot tell; every one is stated in the report."""

    cpu_bound_share: Decimal = Decimal("0.5")
    xray_reservoir_per_second: Decimal = Decimal(1)
    xray_fixed_rate: Decimal = Decimal("0.05")
    secret_reads_per_cold_start: Decimal = Decimal(1)
    sqs_requests_per_error: Decimal = Decimal(1)

    def describe(self) -> dict:
        reservoir, reads = float(self.xray_reservoir_per_second), float(self.secret_reads_per_cold_start)
        return {
            "expected_duration": f"the expected case takes {self.cpu_bound_share:%} of the billed time as CPU-bound "
                                 "(it scales with the CPU share, which is proportional to memory up to "
                                 f"{FULL_VCPU_MEMORY_MB} MB) and the rest as I/O-bound (unchanged)",
            "xray": f"X-Ray records {reservoir:g} request(s) a second and {self.xray_fixed_rate:%} of the rest; "
                    "retrieving and scanning traces is not counted",
            "secrets": f"each function reads each of its secrets {reads:g} time(s) per cold start and caches it",
            "dead_letter_queue": f"every error costs {float(self.sqs_requests_per_error):g} SQS request(s), an upper "
                                 "bound since only failed asynchronous invocations reach the queue",
            "log_storage": "a never-expiring group grows by what it ingests; a group with a retention period holds "
                           "at most that many days of ingestion (uncompressed, so an upper bound)",
            "unchanged": "costs the run does not change (existing alarms, tracing, data transfer) are left out of "
                         "both sides; free tiers are not deducted",
        }


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def same(value: Decimal) -> dict:
    return dict.fromkeys(SCENARIOS, cents(value))


def add(*triples: dict) -> dict:
    return {scenario: sum((triple[scenario] for triple in triples), ZERO) for scenario in SCENARIOS}


def subtract(minuend: dict, subtrahend: dict) -> dict:
    return {scenario: minuend[scenario] - subtrahend[scenario] for scenario in SCENARIOS}


def size(byte_count) -> str:
    value = Decimal(byte_count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _cpu_share(memory_mb: int) -> Decimal:
    return min(Decimal(1), Decimal(memory_mb) / FULL_VCPU_MEMORY_MB)


def duration_factors(measured_at_mb: int, memory_mb: int, cpu_bound_share: Decimal) -> dict:
    """Per scenario, how much longer (or shorter) a function runs at `memory_mb` than it was measured."""
    ratio = _cpu_share(measured_at_mb) / _cpu_share(memory_mb)
    return {"io_bound": Decimal(1), "expected": 1 + cpu_bound_share * (ratio - 1), "cpu_bound": ratio}


@dataclass
class Line:
    component: str
    item: str
    before: dict
    after: dict
    basis: str
    detail: dict | None = None

    def as_dict(self) -> dict:
        entry = {"component": self.component, "item": self.item, "before": self.before, "after": self.after,
                 "savings": subtract(self.before, self.after), "basis": self.basis}
        if self.detail is not None:
            entry["detail"] = self.detail
        return entry


class Unknown(Exception):
    """A line that cannot be costed for lack of data; reported as unknown, never as zero."""

    def __init__(self, component: str, item: str, reason: str):
        super().__init__(reason)
        self.entry = {"component": component, "item": item, "reason": reason}


def months_in_window(usage: MeasuredUsage) -> Decimal | None:
    """How many times its window a month is; None for a window of unknown length."""
    return Decimal(HOURS_PER_MONTH) / (Decimal(str(usage.window_days)) * 24) if usage.window_days else None


def per_month(usage: MeasuredUsage, count) -> Decimal | None:
    """A count measured over the usage's window, scaled to a month; None where either is unknown."""
    scale = months_in_window(usage)
    return None if count is None or scale is None else Decimal(count) * scale


def billed_ms(usage: MeasuredUsage) -> Decimal | None:
    return Decimal(str(usage.avg_billed_duration_ms)) if usage.avg_billed_duration_ms else None


class Costing:
    def __init__(self, prices, assumptions: Assumptions):
        self.prices = prices
        self.assumptions = assumptions

    def _per_gb(self, byte_count: Decimal, price: Decimal) -> Decimal:
        return byte_count / self.prices.bytes_per_gb * price

    def compute(self, usage: MeasuredUsage, before_mb: int, after_mb: int) -> Line:
        item = "Lambda compute and requests"
        if not usage.has_compute:
            raise Unknown("lambda", item, "no invocations or billed duration measured in the window")
        invocations = per_month(usage, usage.invocations)
        billed = billed_ms(usage)
        gb_second = self.prices.gb_second_for(usage.architecture)

        def at(memory_mb: int) -> dict:
            factors = duration_factors(usage.memory_size_mb, memory_mb, self.assumptions.cpu_bound_share)
            return {scenario: cents(invocations * billed * factors[scenario] / 1000 * memory_mb / 1024
                                    * gb_second + invocations * self.prices.request)
                    for scenario in SCENARIOS}

        basis = (f"{invocations:.0f} invocations a month, {billed} ms average billed at "
                 f"{usage.memory_size_mb} MB ({usage.architecture}); {before_mb} MB -> {after_mb} MB")
        return Line("lambda", item, at(before_mb), at(after_mb), basis)

    def ingestion(self, usage: MeasuredUsage, item: str = "Log ingestion", users: str = "") -> Line:
        monthly = per_month(usage, usage.log_ingested_bytes)
        if monthly is None:
            raise Unknown("log_ingestion", item, "no IncomingBytes data for the log group")
        cost = same(self._per_gb(monthly, self.prices.log_ingestion_per_gb))
        return Line("log_ingestion", item, cost, dict(cost), f"{size(monthly)} ingested a month{users}")

    def storage(self, usage: MeasuredUsage, retention: dict | None, item: str = "Log storage",
                users: str = "") -> Line:
        if retention is None:
            raise Unknown("log_storage", item, "log retention was not part of the run")
        stored = Decimal(retention["stored_bytes"])
        ingested = per_month(usage, usage.log_ingested_bytes)
        if ingested is None and retention["before"] != retention["after"]:
            raise Unknown("log_storage", item, "retention changes, but the group's ingestion is unknown")

        def held(days: int | None) -> Decimal:
            """Average bytes held over the coming month."""
            if ingested is None:
                return stored
            growing = stored + ingested / 2
            return growing if days is None else min(growing, ingested / DAYS_PER_MONTH * days)

        def growth(days: int | None) -> Decimal | None:
            return None if ingested is None else (ingested if days is None else ZERO)

        before, after = held(retention["before"]), held(retention["after"])
        detail = {
            "stored_bytes": int(stored),
            "ingested_bytes_per_month": None if ingested is None else int(ingested),
            "retention_days": {"before": retention["before"], "after": retention["after"]},
            "average_stored_bytes": {"before": int(before), "after": int(after)},
            "growth_bytes_per_month": {"before": growth(retention["before"]), "after": growth(retention["after"])},
        }
        detail["growth_bytes_per_month"] = {side: None if value is None else int(value)
                                            for side, value in detail["growth_bytes_per_month"].items()}
        basis = (f"{size(stored)} stored now; {describe_retention(retention['before'])} -> "
                 f"{describe_retention(retention['after'])}")
        if retention["before"] is None and ingested:
            basis += f"; never expiring, it grows {size(ingested)} a month"
        basis += users
        return Line("log_storage", item,
                    same(self._per_gb(before, self.prices.log_storage_per_gb_month)),
                    same(self._per_gb(after, self.prices.log_storage_per_gb_month)), basis, detail)

    def tracing(self, usage: MeasuredUsage, before: bool, after: bool) -> Line:
        item = "X-Ray traces"
        invocations = per_month(usage, usage.invocations)
        if not invocations:
            raise Unknown("hardening", item, "no invocations measured in the window")
        reservoir = self.assumptions.xray_reservoir_per_second * SECONDS_PER_MONTH
        traced = min(invocations, reservoir + self.assumptions.xray_fixed_rate * max(ZERO, invocations - reservoir))
        cost = same(traced * self.prices.trace_recorded)
        return Line("hardening", item, cost if before else same(ZERO), cost if after else same(ZERO),
                    f"{traced:.0f} traces recorded a month")

    def dead_letter(self, usage: MeasuredUsage) -> Line:
        item = "Dead-letter queue requests"
        errors = per_month(usage, usage.errors)
        if errors is None:
            raise Unknown("hardening", item, "no error count measured in the window")
        requests = errors * self.assumptions.sqs_requests_per_error
        return Line("hardening", item, same(ZERO), same(requests * self.prices.sqs_request),
                    f"{requests:.0f} SQS requests a month")

    def secret_reads(self, usage: MeasuredUsage, secrets: int) -> Line:
        item = "Secrets Manager reads"
        cold_starts = per_month(usage, usage.cold_starts)
        if cold_starts is None:
            raise Unknown("hardening", item, "no cold starts measured in the window")
        calls = cold_starts * secrets * self.assumptions.secret_reads_per_cold_start
        return Line("hardening", item, same(ZERO), same(calls * self.prices.secret_api_call),
                    f"{calls:.0f} API calls a month ({secrets} secret(s) per cold start)")

    def alarm(self, change) -> Line:
        price = (self.prices.high_resolution_alarm_metric_month if change.high_resolution
                 else self.prices.alarm_metric_month)
        cost = same(change.metrics * price)
        return Line("hardening", f"Alarm {change.alarm_name}", same(ZERO) if change.added else cost,
                    cost if change.added else same(ZERO),
                    f"{change.metrics} alarm metric(s), {'added' if change.added else 'deleted'}")

    def provisioned_concurrency(self, alias: dict) -> Line:
        """An alias's allocation, billed every second at the memory of the version it serves, less what the
        requests it serves save against the on-demand duration rate the compute line charges them."""
        entry, before, after = alias["entry"], alias["before"], alias["after"]
        item = f"Provisioned concurrency {entry['qualifier']}"
        architecture = entry.get("architecture") or "x86_64"
        allocation_rate = self.prices.provisioned_concurrency_gb_second.get(architecture)
        duration_rate = self.prices.provisioned_duration_gb_second.get(architecture)
        if allocation_rate is None or duration_rate is None:
            raise Unknown("provisioned_concurrency", item,
                          f"the price table has no provisioned concurrency prices for {architecture}")
        gigabytes = Decimal(entry["memory_size"]) / 1024
        usage = entry.get("usage") or {}
        days = (usage.get("window") or {}).get("days")
        served_gb_seconds = ZERO
        spillover = ZERO
        if usage.get("invocations") and usage.get("avg_duration_ms") and days:
            invocations = Decimal(usage["invocations"]) * Decimal(HOURS_PER_MONTH) / (Decimal(str(days)) * 24)
            served_gb_seconds = invocations * Decimal(str(usage["avg_duration_ms"])) / 1000 * gigabytes
            spillover = Decimal(usage.get("spillover_invocations") or 0) / Decimal(usage["invocations"])
        discount = self.prices.gb_second_for(architecture) - duration_rate

        def served_share(allocated: int) -> Decimal:
            """None of it without an allocation; all of it after a raise, which covers the observed peak; else
            as measured."""
            if not allocated:
                return ZERO
            return Decimal(1) if allocated > before else 1 - spillover

        def cost(allocated: int) -> dict:
            return same(allocated * gigabytes * SECONDS_PER_MONTH * allocation_rate
                        - served_gb_seconds * served_share(allocated) * discount)

        basis = (f"{before} -> {after} provisioned at {entry['memory_size']} MB ({architecture}), billed every "
                 f"second; {served_gb_seconds:.0f} GB-seconds a month of requests, {1 - spillover:.1%} of them served "
                 "on provisioned environments at the lower duration rate")
        return Line("provisioned_concurrency", item, cost(before), cost(after), basis)

    def table(self, table: dict) -> Line:
        """A table's throughput: provisioned capacity by the unit-hour, or on demand by the request units it
        consumed in the window, scaled to a month."""
        entry = table["entry"]
        item = f"DynamoDB table {entry['table_name']}"
        prices = self.prices.dynamodb
        if not TABLE_PRICES <= set(prices):
            raise Unknown("data_store", item, "the price table has no DynamoDB prices")
        consumed = table_consumption(entry.get("usage") or {})

        def cost(settings: dict) -> Decimal:
            if settings["billing_mode"] == "PAY_PER_REQUEST":
                if consumed is None:
                    raise Unknown("data_store", item, "no consumed capacity measured in the window")
                return SECONDS_PER_MONTH * (consumed["read"] * prices["read_request_units"]
                                            + consumed["write"] * prices["write_request_units"])
            read_units, write_units = Decimal(settings["read_capacity"] or 0), Decimal(settings["write_capacity"] or 0)
            return Decimal(HOURS_PER_MONTH) * (read_units * prices["read_capacity_unit_hour"]
                                               + write_units * prices["write_capacity_unit_hour"])

        def describe(settings: dict) -> str:
            if settings["billing_mode"] == "PAY_PER_REQUEST":
                return "on demand"
            return f"{settings['read_capacity']} RCU / {settings['write_capacity']} WCU provisioned"

        basis = f"{describe(table['before'])} -> {describe(table['after'])}"
        if consumed is not None:
            basis += (f"; consumed {consumed['read']:.2f} read and {consumed['write']:.2f} write units a second "
                      "on average")
        return Line("data_store", item, same(cost(table["before"])), same(cost(table["after"])), basis)

    def secret(self, name: str) -> Line:
        return Line("hardening", f"Secret {name}", same(ZERO), same(self.prices.secret_month), "secret created")

    def group_lines(self, group: str, functions: list, run) -> tuple[list, list]:
        """The ingestion and storage of a log group the function rows do not price: one shared by several
        functions, or named by a function's LoggingConfig. Its IncomingBytes and stored bytes are the whole
        group's, so it is priced once."""
        first = functions[0]
        usage = MeasuredUsage.of(first)
        retention = run.functions[first["function_name"]].retention
        users = f"; log group {group}, shared by {', '.join(function['function_name'] for function in functions)}"
        return collect([lambda: self.ingestion(usage, f"Log ingestion {group}", users),
                        lambda: self.storage(usage, retention, f"Log storage {group}", users)])

    def function_lines(self, function: dict, outcome, own_log_group: bool = True) -> tuple[list, list]:
        usage = MeasuredUsage.of(function)
        builders = [lambda: self.compute(usage, outcome.memory_before, outcome.memory_after)]
        if own_log_group:
            builders += [lambda: self.ingestion(usage), lambda: self.storage(usage, outcome.retention)]
        if outcome.tracing_before != outcome.tracing_after:
            builders.append(lambda: self.tracing(usage, outcome.tracing_before, outcome.tracing_after))
        if outcome.dead_letter_added:
            builders.append(lambda: self.dead_letter(usage))
        if outcome.secrets_added:
            builders.append(lambda: self.secret_reads(usage, outcome.secrets_added))
        builders += [lambda change=change: self.alarm(change) for change in outcome.alarms]
        builders += [lambda alias=alias: self.provisioned_concurrency(alias) for alias in outcome.provisioned]
        return collect(builders)


def collect(builders: list) -> tuple[list, list]:
    """(lines, unknown lines) from functions that each build one line or raise Unknown."""
    lines, unknown = [], []
    for build in builders:
        try:
            lines.append(build())
        except Unknown as missing:
            unknown.append(missing.entry)
    return lines, unknown


def table_consumption(usage: dict) -> dict | None:
    """Read and write units consumed a second, on average over the time the table was in use, or None where
    not measured. dynamodb_capacity averages over the hours that had data; hours without any consumed nothing,
    so the average over the whole span (from the first hour with data to the end of the window) is lower."""
    read, write = (usage.get("read") or {}).get("average"), (usage.get("write") or {}).get("average")
    if read is None or write is None:
        return None
    busy = Decimal(1)
    if usage.get("hours") and usage.get("span_hours"):
        busy = Decimal(usage["hours"]) / Decimal(usage["span_hours"])
    return {"read": Decimal(str(read)) * busy, "write": Decimal(str(write)) * busy}


def summed(lines: list) -> dict:
    before = add(*(line.before for line in lines))
    after = add(*(line.after for line in lines))
    return {"before": before, "after": after, "savings": subtract(before, after)}


def by_component(lines: list) -> dict:
    return {component: summed([line for line in lines if line.component == component]) for component in COMPONENTS}


def function_row(function: dict, outcome, lines: list, unknown: list) -> dict:
    usage = MeasuredUsage.of(function)
    billed = billed_ms(usage)
    return {
        "function_name": function["function_name"],
        "status": "measured" if usage.has_compute else "no_data",
        "architecture": usage.architecture,
        "memory_size": {"before": outcome.memory_before, "after": outcome.memory_after},
        "log_retention_days": None if outcome.retention is None else {
            "before": outcome.retention["before"], "after": outcome.retention["after"]},
        "usage": {
            "invocations": usage.invocations,
            "monthly_invocations": int(per_month(usage, usage.invocations)) if usage.has_compute else None,
            "avg_billed_duration_ms": float(billed) if billed is not None else None,
            "measured_at_memory_mb": usage.memory_size_mb,
        },
        **summed(lines),
        "by_component": by_component(lines),
        "lines": [line.as_dict() for line in lines],
        "unknown": unknown,
        "changes": outcome.changes,
        "refused": outcome.refused,
        "failed": outcome.failed,
        # Only of a function served through an alias: whether its right-sizing reached the alias's traffic.
        **({"delivery": outcome.delivery} if outcome.delivery else {}),
    }


def totals(rows: list, shared: dict) -> dict:
    figures = {side: add(*(row[side] for row in rows), shared[side]) for side in ("before", "after")}
    figures["savings"] = subtract(figures["before"], figures["after"])
    components = {
        component: {side: add(*(row["by_component"][component][side] for row in rows),
                              shared["by_component"][component][side]) for side in ("before", "after", "savings")}
        for component in COMPONENTS
    }
    savings = figures["savings"]
    return {
        **figures,
        "annual_savings": {scenario: savings[scenario] * 12 for scenario in SCENARIOS},
        "net_monthly_savings": {"expected": savings["expected"], "low": min(savings.values()),
                                "high": max(savings.values())},
        "by_component": components,
        "functions": len(rows),
        "functions_without_data": [row["function_name"] for row in rows if row["status"] == "no_data"],
        "unknown_lines": sum(len(row["unknown"]) for row in rows) + len(shared["unknown"]),
        "changes": sum(len(row["changes"]) for row in rows) + len(shared["changes"]),
        "refused": sum(len(row["refused"]) for row in rows),
        "failed": sum(len(row["failed"]) for row in rows),
    }


def log_group_of(function: dict) -> str:
    return (function.get("log_group") or {}).get("name") or default_group(function["function_name"])


def shared_log_groups(usage: list) -> dict:
    """{group: its functions, by name} for the groups priced on their own line: those used by more than one
    function of the report, and those a function's LoggingConfig names instead of its own."""
    members: dict = {}
    for function in sorted(usage, key=lambda entry: entry["function_name"]):
        members.setdefault(log_group_of(function), []).append(function)
    return {group: functions for group, functions in members.items()
            if len(functions) > 1 or group != default_group(functions[0]["function_name"])}


def build(usage: list, run, prices, assumptions: Assumptions) -> dict:
    """{functions, shared, totals}: the money of a report, in Decimals."""
    costing = Costing(prices, assumptions)
    groups = shared_log_groups(usage)
    rows = []
    for function in sorted(usage, key=lambda entry: entry["function_name"]):
        outcome = run.functions[function["function_name"]]
        lines, unknown = costing.function_lines(function, outcome, own_log_group=log_group_of(function) not in groups)
        rows.append(function_row(function, outcome, lines, unknown))
    shared_lines, group_unknown = [], []
    for group, functions in sorted(groups.items()):
        lines, unknown = costing.group_lines(group, functions, run)
        shared_lines += lines
        group_unknown += unknown
    shared_lines += [costing.alarm(change) for change in run.shared_alarms]
    shared_lines += [costing.secret(name) for name in run.secrets_created]
    table_lines, unknown = collect([lambda table=table: costing.table(table) for table in run.tables])
    shared_lines += table_lines
    unknown = group_unknown + unknown
    shared = {**summed(shared_lines), "by_component": by_component(shared_lines),
              "lines": [line.as_dict() for line in shared_lines], "unknown": unknown, "changes": run.table_changes}
    return {"functions": rows, "shared": shared, "totals": totals(rows, shared)}
