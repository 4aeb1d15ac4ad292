"""Logs Insights statistics, which moto 5.2.5 does not compute: its queries ignore `filter`, `parse`, `fields` and
`stats` and answer one `@ptr` row per event.

A query with a `stats` command is evaluated here, strictly (`answer_like_moto()` switches this off for one
account-region until the emulator's reset, for a test of what a client does with an answer without statistics):
the commands `filter`, `parse`, `fields`, `stats` and `limit`, and within them only what is written below.
Anything else is refused with MalformedQueryException, as AWS refuses a query it cannot parse, rather than
answered wrongly.

What it follows (CloudWatch Logs user guide, "CloudWatch Logs Insights query syntax", "Supported logs and discovered
fields", "stats", "parse"; API reference, StartQuery, GetQueryResults):
- Every event has `@timestamp`, `@message`, `@logStream` and `@log` (`<account id>:<log group>`). A Lambda REPORT
  line adds `@type` (`REPORT`), `@requestId`, `@duration`, `@billedDuration`, `@initDuration` (ms) and
  `@memorySize`, `@maxMemoryUsed` in bytes (MB x 1,000,000). A JSON event's fields are discovered, nested ones named
  with dots (`record.metrics.maxMemoryUsedMB`).
- `filter` keeps the events its expression (`=`, `!=`, `<`, `<=`, `>`, `>=`, `and`, `or`, `not`, arithmetic)
  holds for; a missing field compares false. `parse <field> /regex/` extracts its named groups (`(?<name>...)`),
  leaving them empty where it does not match. `fields <expression> as <name>` computes fields; `coalesce()` gives
  its first present argument; arithmetic on a missing field is missing.
- `stats` aggregates with `count(*)`, `count(field)`, `sum`, `avg`, `stddev` (here the population standard
  deviation), `min`, `max` and `pct(field, n)` (here the nearest-rank percentile; AWS approximates), `by` fields
  and `bin(<n><unit>)`, which rounds @timestamp down to a multiple of the period (units `ms`, `s`, `m`, `h`, `d`,
  `w` and their long names) and is written as `YYYY-MM-DD HH:MM:SS.000`. The result field of a group is named as
  written (`bin(1d)`); a missing value is left out.
- At most 10,000 rows (StartQuery's `limit` default), or a `limit` command's.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from moto.logs.exceptions import LogsClientError
from moto.logs.models import LogsBackend, logs_backends

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
MAX_ROWS = 10_000
REPORT = re.compile(
    r"^REPORT RequestId:\s*(?P<request>\S+)\s+Duration:\s*(?P<duration>[\d.]+)\s*ms\s+"
    r"Billed Duration:\s*(?P<billed>\d+)\s*ms\s+Memory Size:\s*(?P<size>\d+)\s*MB\s+"
    r"Max Memory Used:\s*(?P<used>\d+)\s*MB(?:\s+Init Duration:\s*(?P<init>[\d.]+)\s*ms)?")
TOKEN = re.compile(r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<number>\d+(?:\.\d+)?)(?![\w.])
                     |(?P<period>\d+[a-z]+)|(?P<name>[@A-Za-z_][\w.@]*|`[^`]+`)|(?P<op>!=|<=|>=|[=<>*/+\-(),]))""",
                   re.VERBOSE)
PERIOD_MS = {unit: milliseconds for milliseconds, units in (
    (1, ("ms", "msec", "millisecond")), (1000, ("s", "sec", "second")), (60_000, ("m", "min", "minute")),
    (3_600_000, ("h", "hr", "hour")), (86_400_000, ("d", "day")), (604_800_000, ("w", "week")))
    for unit in units + tuple(f"{unit}s" for unit in units if len(unit) > 1)}
AGGREGATES = ("count", "sum", "avg", "stddev", "min", "max", "pct")
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")


class MalformedQueryException(LogsClientError):
    def __init__(self, message: str):
        self.code = 400
        super().__init__("MalformedQueryException", message)


def answer_like_moto(account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION) -> None:
    """From now until the emulator is reset, Logs Insights queries in this account-region are answered as moto
    does: one `@ptr` row per event, no statistics."""
    logs_backends[account_id][region].lambdaopt_insights_statistics = False


def apply() -> None:
    original = LogsBackend.start_query

    def start_query(self: LogsBackend, log_group_names: list[str], start_time: int, end_time: int,
                    query_string: str) -> str:
        enabled = getattr(self, "lambdaopt_insights_statistics", True)
        commands = split_commands(query_string) if enabled else []
        if enabled and any(_verb(command) == "stats" for command in commands):
            plan = [_parse_command(command) for command in commands]  # refused before the query starts, as AWS does
        else:
            plan = None
        query_id = original(self, log_group_names, start_time, end_time, query_string)
        query = self.queries[query_id]
        if plan is not None and query.status == "Complete":  # not a scripted outcome (insights_status)
            events = [(_event_fields(self.account_id, name, stream, event), event.timestamp)
                      for name in log_group_names for stream in self.groups[name].streams.values()
                      for event in stream.events if start_time * 1000 <= event.timestamp <= end_time * 1000]
            query.results = run(plan, events)
        return query_id

    LogsBackend.start_query = start_query


def split_commands(query: str) -> list[str]:
    """The query's commands: split at `|` outside strings and a `parse` command's /regex/."""
    commands, current, quote, in_regex, escaped = [], "", None, False, False
    for character in query:
        if escaped:
            current, escaped = current + character, False
            continue
        if character == "\\" and (quote or in_regex):
            current, escaped = current + character, True
            continue
        if quote:
            quote = None if character == quote else quote
        elif in_regex:
            in_regex = character != "/"
        elif character in "\"'":
            quote = character
        elif character == "/" and _verb(current) == "parse":
            in_regex = True
        elif character == "|":
            commands.append(current.strip())
            current = ""
            continue
        current += character
    if quote or in_regex:
        raise MalformedQueryException("unterminated string or regular expression")
    return [command for command in commands + [current.strip()] if command]


def _verb(command: str) -> str:
    return command.strip().split(" ", 1)[0].lower()


def _tokens(text: str) -> list[tuple[str, str]]:
    found, position = [], 0
    text = text.strip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise MalformedQueryException(f"unexpected symbol at {text[position:position + 20]!r}")
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "name" and value.startswith("`"):
            value = value[1:-1]
        elif kind == "name" and value.lower() in ("and", "or", "not", "as", "by"):
            kind, value = "keyword", value.lower()
        found.append((kind, value))
        position = match.end()
    return found


class _Parser:
    """Expressions over one event's fields, as nested tuples: ("field", name), ("literal", value), ("call", name,
    arguments), ("op", operator, left, right), ("not", operand)."""

    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise MalformedQueryException(f"expected {value or 'more'} at {token[1] if token else 'the end'}")
        self.position += 1
        return token

    def done(self) -> bool:
        return self.position == len(self.tokens)

    def expression(self):
        left = self.conjunction()
        while self.peek() == ("keyword", "or"):
            self.take()
            left = ("op", "or", left, self.conjunction())
        return left

    def conjunction(self):
        left = self.negation()
        while self.peek() == ("keyword", "and"):
            self.take()
            left = ("op", "and", left, self.negation())
        return left

    def negation(self):
        if self.peek() == ("keyword", "not"):
            self.take()
            return ("not", self.negation())
        left = self.sum()
        if self.peek() and self.peek()[0] == "op" and self.peek()[1] in COMPARISONS:
            return ("op", self.take()[1], left, self.sum())
        return left

    def sum(self):
        left = self.product()
        while self.peek() in (("op", "+"), ("op", "-")):
            left = ("op", self.take()[1], left, self.product())
        return left

    def product(self):
        left = self.operand()
        while self.peek() in (("op", "*"), ("op", "/")):
            left = ("op", self.take()[1], left, self.operand())
        return left

    def operand(self):
        kind, value = self.take()
        if kind == "number":
            return ("literal", float(value))
        if kind == "string":
            return ("literal", json.loads(value) if value.startswith('"') else value[1:-1])
        if (kind, value) == ("op", "("):
            inner = self.expression()
            self.take(")")
            return inner
        if kind == "name" and self.peek() == ("op", "("):
            self.take("(")
            arguments = []
            while self.peek() != ("op", ")"):
                if self.peek() == ("op", "*"):
                    self.take()
                    arguments.append(("star",))
                elif self.peek() and self.peek()[0] == "period":
                    arguments.append(("period", self.take()[1]))
                else:
                    arguments.append(self.expression())
                if self.peek() == ("op", ","):
                    self.take()
            self.take(")")
            return ("call", value.lower(), arguments)
        if kind == "name":
            return ("field", value)
        raise MalformedQueryException(f"unexpected {value!r}")

    def named_list(self, allow_keyword_end: str | None = None) -> list[tuple[str, Any]]:
        """`expression [as name], ...` up to the end (or the keyword `allow_keyword_end`)."""
        items = []
        while not self.done() and self.peek() != ("keyword", allow_keyword_end):
            start = self.position
            expression = self.expression()
            if self.peek() == ("keyword", "as"):
                self.take()
                name = self.take()[1]
            else:
                name = _written(self.tokens[start:self.position])
            items.append((name, expression))
            if self.peek() == ("op", ","):
                self.take()
        return items


def _written(tokens: list[tuple[str, str]]) -> str:
    return "".join(value if kind != "keyword" else f" {value} " for kind, value in tokens)


def _parse_command(command: str) -> tuple:
    verb, _, rest = command.strip().partition(" ")
    verb = verb.lower()
    if verb == "filter":
        parser = _Parser(rest)
        condition = parser.expression()
        if not parser.done():
            raise MalformedQueryException(f"unexpected {parser.peek()[1]!r} in filter")
        return ("filter", condition)
    if verb == "parse":
        match = re.fullmatch(r"\s*([@\w.]+)\s+/(.*)/\s*", rest, re.DOTALL)
        if match is None:
            raise MalformedQueryException("parse takes a field and a /regular expression/ here")
        try:
            pattern = re.compile(re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", match.group(2)))
        except re.error as error:
            raise MalformedQueryException(f"invalid regular expression: {error}") from error
        if not pattern.groupindex:
            raise MalformedQueryException("parse's regular expression names no group")
        return ("parse", match.group(1), pattern)
    if verb == "fields":
        return ("fields", _Parser(rest).named_list())
    if verb == "stats":
        parser = _Parser(rest)
        aggregates = parser.named_list("by")
        groups = []
        if parser.peek() == ("keyword", "by"):
            parser.take()
            groups = parser.named_list()
        for name, expression in aggregates:
            if expression[0] != "call" or expression[1] not in AGGREGATES:
                raise MalformedQueryException(f"{name} is not an aggregation this emulator computes")
        for name, expression in groups:
            if expression[0] == "call" and expression[1] != "bin":
                raise MalformedQueryException(f"cannot group by {name}")
        return ("stats", aggregates, groups)
    if verb == "limit":
        if not rest.strip().isdigit() or not 1 <= int(rest) <= MAX_ROWS:
            raise MalformedQueryException("limit takes a number from 1 to 10000")
        return ("limit", int(rest))
    raise MalformedQueryException(f"the emulator does not evaluate {verb!r} commands")


def _flatten(document: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(document, dict):
        return {prefix[:-1]: document} if prefix else {}
    found: dict[str, Any] = {}
    for key, value in document.items():
        found.update(_flatten(value, f"{prefix}{key}."))
    return found


def _event_fields(account_id: str, group: str, stream, event) -> dict[str, Any]:
    fields: dict[str, Any] = {"@timestamp": event.timestamp, "@message": event.message,
                              "@logStream": stream.log_stream_name, "@log": f"{account_id}:{group}"}
    report = REPORT.match(event.message)
    if report:
        fields.update({"@type": "REPORT", "@requestId": report["request"], "@duration": float(report["duration"]),
                       "@billedDuration": float(report["billed"]), "@memorySize": int(report["size"]) * 1_000_000,
                       "@maxMemoryUsed": int(report["used"]) * 1_000_000})
        if report["init"] is not None:
            fields["@initDuration"] = float(report["init"])
    elif event.message.startswith("{"):
        try:
            document = json.loads(event.message)
        except ValueError:
            document = None
        if isinstance(document, dict):
            fields.update({key: value for key, value in _flatten(document).items() if key not in fields})
    return fields


def _evaluate(expression, fields: dict[str, Any]) -> Any:
    kind = expression[0]
    if kind == "literal":
        return expression[1]
    if kind == "field":
        return fields.get(expression[1])
    if kind == "not":
        return not _evaluate(expression[1], fields)
    if kind == "call":
        if expression[1] != "coalesce":
            raise MalformedQueryException(f"{expression[1]}() is not a function this emulator evaluates here")
        return next((value for value in (_evaluate(argument, fields) for argument in expression[2])
                     if value is not None), None)
    operator, left, right = expression[1], _evaluate(expression[2], fields), _evaluate(expression[3], fields)
    if operator == "and":
        return bool(left) and bool(right)
    if operator == "or":
        return bool(left) or bool(right)
    if left is None or right is None:
        return False if operator in COMPARISONS else None
    if operator in COMPARISONS:
        if isinstance(left, str) != isinstance(right, str):
            left, right = str(left), str(right)
        return {"=": left == right, "!=": left != right, "<": left < right, "<=": left <= right, ">": left > right,
                ">=": left >= right}[operator]
    if isinstance(left, str) or isinstance(right, str):
        return None
    if operator == "/" and right == 0:
        return None
    return {"+": left + right, "-": left - right, "*": left * right, "/": left / right}[operator]


def _group_value(name: str, expression, fields: dict[str, Any]) -> Any:
    if expression[0] == "call":  # bin(period)
        arguments = expression[2]
        if len(arguments) != 1 or arguments[0][0] != "period":
            raise MalformedQueryException(f"{name}: bin takes one period such as 1d")
        amount, unit = re.fullmatch(r"(\d+)([a-z]+)", arguments[0][1]).groups()
        if unit not in PERIOD_MS or int(amount) < 1:
            raise MalformedQueryException(f"{name}: unknown period {arguments[0][1]}")
        period = int(amount) * PERIOD_MS[unit]
        start = fields["@timestamp"] // period * period
        return datetime.fromtimestamp(start / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.000")
    return _evaluate(expression, fields)


def _aggregate(expression, rows: list[dict[str, Any]]) -> Any:
    function, arguments = expression[1], expression[2]
    if function == "count" and arguments == [("star",)]:
        return len(rows)
    if not arguments or arguments[0][0] in ("star", "period"):
        raise MalformedQueryException(f"{function}() needs a field")
    values = [_evaluate(arguments[0], row) for row in rows]
    values = [value for value in values if value is not None]
    if function == "count":
        return len(values)
    if any(isinstance(value, str) for value in values):
        raise MalformedQueryException(f"{function}() of a text field")
    if function == "pct":
        if len(arguments) != 2 or arguments[1][0] != "literal":
            raise MalformedQueryException("pct() takes a field and a percentile")
        if not values:
            return None
        ordered = sorted(values)
        return ordered[max(1, math.ceil(round(arguments[1][1] * len(ordered) / 100, 9))) - 1]
    if len(arguments) != 1:
        raise MalformedQueryException(f"{function}() takes one field")
    if not values:
        return None
    return {"sum": sum, "min": min, "max": max, "avg": lambda found: sum(found) / len(found),
            "stddev": _standard_deviation}[function](values)


def _standard_deviation(values: list) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((value - mean) ** 2 for value in values) / len(values))


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def run(plan: list[tuple], events: list[tuple[dict[str, Any], int]]) -> list[dict[str, str]]:
    """The rows the query's commands make of the events: stats rows, field name to text value."""
    rows = [fields for fields, _ in sorted(events, key=lambda pair: pair[1])]
    limit = MAX_ROWS
    for command in plan:
        if command[0] == "filter":
            rows = [row for row in rows if _evaluate(command[1], row) is True]
        elif command[0] == "parse":
            _, field, pattern = command
            for row in rows:
                match = pattern.search(str(row.get(field, "")))
                row.update({name: (match.group(name) if match else None) for name in pattern.groupindex})
        elif command[0] == "fields":
            for row in rows:
                row.update({name: _evaluate(expression, row) for name, expression in command[1]})
        elif command[0] == "stats":
            _, aggregates, groups = command
            grouped: dict[tuple, list] = {}
            for row in rows:
                key = tuple(_group_value(name, expression, row) for name, expression in groups)
                grouped.setdefault(key, []).append(row)
            rows = [{**dict(zip((name for name, _ in groups), key, strict=True)),
                     **{name: _aggregate(expression, members) for name, expression in aggregates}}
                    for key, members in grouped.items()]
        else:
            limit = min(limit, command[1])
    return [{name: _text(value) for name, value in row.items() if value is not None} for row in rows[:limit]]
