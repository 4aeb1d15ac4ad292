# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Error text made safe to return: the values of environment variables never reach a result, and through it a
change record or a report.

Two kinds of error carry them. AWS echoes a refused environment: an update over Lambda's 4 KB quota answers
InvalidParameterValueException "... exceeded the 4KB limit. String measured: {"NAME":"value",...}". And the
collection's own refusals quote the settings they compare, an environment as a Python dict. Both are redacted
here, keeping the variables' names, which say what was refused."""

from __future__ import annotations

import re

REDACTED = "(redacted)"
# Everything AWS measured, to the end of the message: it may be cut short, so no closing brace is looked for.
MEASURED = re.compile(r"(String measured:).*", re.DOTALL)
# "NAME": "value" and 'NAME': 'value', as JSON and Python quote them, escapes included.
QUOTED_VARIABLE = re.compile(
    r"""(?P<quote>["'])(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P=quote)(?P<colon>\s*:\s*)"""
    r"""(?P<value_quote>["'])(?:\\.|(?!(?P=value_quote)).)*(?P=value_quote)""", re.DOTALL)


def redact_environment(text: str) -> str:
    """`text` without any environment variable's value: AWS's echo of the variables it measured is dropped
    (their names go with it), and every quoted `name: value` pair keeps its name only."""
    text = MEASURED.sub(rf"\1 {REDACTED}", text)
    return QUOTED_VARIABLE.sub(
        lambda found: f"{found['quote']}{found['name']}{found['quote']}{found['colon']}{REDACTED}", text)
