# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's own earlier memory changes, read from the journals earlier runs left beside this run's (journal.py).

A window whose REPORT lines hold two memory sizes measured a slowdown; when the collection itself made that move,
the evidence is the outcome of its own decision (`measured after our change`), and the decision says so. Journals
of runs since rolled back (`.rolled-back`) are not read: their change was undone. A journal that cannot be read or
whose chain is broken is skipped here - evidence is only ever labelled by it, never decided from it - and rollback
refuses it on its own."""

from __future__ import annotations

import glob
import os
from datetime import datetime

from ansible_collections.tap.lambdaopt.plugins.module_utils import journal

JOURNAL_PATTERN = "lambdaopt-journal-*-{suffix}.jsonl"


def memory_changes(current_journal: str | None, suffix: str | None, since: datetime) -> dict:
    """{function name: [(memory before, memory after), ...]}: the memory changes AWS accepted in the journals of
    `suffix` beside `current_journal` (this run's, named by optimize.yml), made after `since`."""
    if not current_journal or not suffix:
        return {}
    found: dict = {}
    pattern = os.path.join(os.path.dirname(current_journal), JOURNAL_PATTERN.format(suffix=glob.escape(suffix)))
    for path in sorted(glob.glob(pattern)):
        if os.path.abspath(path) == os.path.abspath(current_journal):
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                entries = journal.parse(handle.read())
        except (OSError, ValueError, journal.JournalError):
            continue
        accepted = {entry.get("intent") for entry in entries if entry.get("event") == "done"}
        for entry in entries:
            memory = (entry.get("fields") or {}).get("memory_size") if entry.get("event") == "intent" else None
            if memory and entry["digest"] in accepted and _after(entry.get("at"), since):
                found.setdefault(entry["function_name"], []).append((memory["before"], memory["after"]))
    return found


def _after(stamp: str | None, since: datetime) -> bool:
    try:
        return stamp is not None and datetime.fromisoformat(stamp) >= since
    except ValueError:
        return False
