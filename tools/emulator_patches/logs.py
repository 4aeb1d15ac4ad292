"""CloudWatch Logs as AWS validates it, and its filter patterns' terms as AWS matches them."""

from __future__ import annotations

import re
from typing import Any

from moto.logs import models as logs_models
from moto.logs.exceptions import InvalidParameterException
from moto.logs.models import LogsBackend
from moto.logs.utils import EventMessageFilter

VALID_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)


def apply() -> None:
    retention_values()
    filter_pattern_terms()


# A term: a quoted phrase or a word, with its prefix (`?` any of these, `-` none of these).
TERM = re.compile(r'([?-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))')


class TermFilter(EventMessageFilter):
    """A filter pattern of terms for unstructured log events (CloudWatch Logs user guide, "Filter pattern syntax for
    metric filters, subscription filters, filter log events, and Live Tail": case-sensitive terms that must all
    appear, a quoted term matching its phrase exactly, `?term ?term` matching events with any of them, `-term`
    excluding events with it). moto 5.2.5 matches a pattern that begins with `?` or `-` against every event, so a
    bounded read (`?REPORT ?"platform.report"`) counted START and END lines too. JSON (`{ }`) and space-delimited
    (`[ ]`) patterns stay moto's own."""

    def __init__(self, pattern: str):
        super().__init__(pattern)
        stripped = (pattern or "").strip()
        self.terms = None if not stripped or stripped[0] in "{[" else [
            (prefix, word or quoted) for prefix, quoted, word in TERM.findall(stripped)]

    def matches(self, message: str) -> bool:
        if self.terms is None:
            return super().matches(message)
        anyof = [term for prefix, term in self.terms if prefix == "?"]
        return (all(term in message for prefix, term in self.terms if prefix == "")
                and not any(term in message for prefix, term in self.terms if prefix == "-")
                and (not anyof or any(term in message for term in anyof)))


def filter_pattern_terms() -> None:
    logs_models.EventMessageFilter = TermFilter


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
