# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merging the collection's statements into a role's inline policy that others share (pure).

A role may serve functions of several suffixes, or functions outside any fleet. So the collection never writes a
whole inline policy: each statement it manages is named (Sid) after the collection, the grant and the suffix
whose run wrote it, and a run adds, changes or drops only the statements of its own suffix. Every other statement,
another suffix's or a hand-written one, stays as it is. A policy left with no statement is deleted.

IAM Sids take ASCII letters and digits only ("The Sid element supports ASCII uppercase letters (A-Z), lowercase
letters (a-z), and numbers (0-9)": IAM User Guide, IAM JSON policy elements: Sid), so a suffix's other characters
are escaped, one way only, so that two suffixes never share a Sid.

A role's inline policies together may hold 10,240 characters, white space not counted (IAM User Guide, IAM and
AWS STS quotas). Before that is near, per-function dead-letter queue ARNs of a suffix collapse to the pattern the
collection names them by; a role that would still exceed it is not written at all.
"""

from __future__ import annotations

import json

from ansible_collections.tap.lambdaopt.plugins.module_utils.common import format_arn, has_suffix, parse_whole_arn

SID_PREFIX = "Lambdaopt"
ESCAPE = "X"
POLICY_VERSION = "2012-10-17"
ROLE_POLICY_SIZE_LIMIT = 10240
# Per-function queue ARNs collapse once the role's inline policies would pass this many characters.
COLLAPSE_AT = 8192
# lambda_dlq names a per-function queue `<function>-dlq`, and a fleet's functions are named `*-<suffix>`.
QUEUE_SUFFIX = "-dlq"


class PolicyTooLarge(ValueError):
    """The role's inline policies would exceed IAM's size limit."""


def sid_token(suffix: str | None) -> str:
    """The suffix as Sid characters: letters and digits as they are, except the escape letter; every other
    character (and the escape letter itself) as the escape letter and its code point in four hex digits."""
    return "".join(character if character.isascii() and character.isalnum() and character != ESCAPE
                   else f"{ESCAPE}{ord(character):04X}" for character in suffix or "")


def statement_id(grant: str, suffix: str | None) -> str:
    """The Sid of `grant`'s statement written for `suffix` (a run without a suffix has one of its own)."""
    return f"{SID_PREFIX}{grant}" + (f"For{sid_token(suffix)}" if suffix else "")


def sid_suffix(grant: str, sid) -> str | None:
    """The suffix a Sid of `grant` was written for (inverse of statement_id); None for any other Sid, or the Sid of
    a run without a suffix."""
    prefix = f"{SID_PREFIX}{grant}For"
    if not isinstance(sid, str) or not sid.startswith(prefix) or len(sid) == len(prefix):
        return None
    token, suffix, index = sid[len(prefix):], [], 0
    while index < len(token):
        if token[index] != ESCAPE:
            suffix.append(token[index])
            index += 1
            continue
        code = token[index + 1:index + 5]
        if len(code) != 4 or any(digit not in "0123456789ABCDEF" for digit in code):
            return None
        suffix.append(chr(int(code, 16)))
        index += 5
    return "".join(suffix) if statement_id(grant, "".join(suffix)) == sid else None


def run_sids(document: dict | None, grant: str, suffix: str | None, function_names) -> tuple[str, set]:
    """(the Sid a run writes `grant` under, the Sids of the statements it owns in `document`).

    A run of a suffix owns its suffix's statement. A run that names functions without a suffix owns the statements
    of the suffixes those functions belong to (their names end in `-<suffix>`) and its own, suffix-less one; it
    writes under its functions' suffix when they have exactly one such statement, so that it changes that grant
    instead of adding a second one beside it."""
    own = statement_id(grant, suffix)
    if suffix:
        return own, {own}
    names = list(function_names)
    inferred = sorted(sid for sid in sids_of(document)
                      if sid_suffix(grant, sid) and any(has_suffix(name, sid_suffix(grant, sid)) for name in names))
    return (inferred[0] if len(inferred) == 1 else own), set(inferred) | {own}


def _one_or_sorted(values) -> str | list:
    values = sorted(set(values))
    return values[0] if len(values) == 1 else values


def statement(sid: str, actions, resources) -> dict:
    """An Allow statement, its actions and resources sorted (one of each as a plain string), as it is written."""
    return {"Sid": sid, "Effect": "Allow", "Action": _one_or_sorted(actions), "Resource": _one_or_sorted(resources)}


def as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def statements_of(document: dict | None) -> list:
    if not document:
        return []
    return as_list(document.get("Statement"))


def _normal(statement_: dict) -> dict:
    """A statement compared without regard to the order of its actions and resources."""
    return {key: _one_or_sorted(value) if key in ("Action", "Resource", "NotAction", "NotResource")
            and isinstance(value, list) and value else value for key, value in statement_.items()}


def document_of(statements: list) -> dict | None:
    return {"Version": POLICY_VERSION, "Statement": statements} if statements else None


def owned(document: dict | None, sids) -> dict | None:
    """The part of `document` whose statements carry one of `sids` (None when it has none): what a run records."""
    sids = set(sids)
    return document_of([_normal(entry) for entry in statements_of(document) if entry.get("Sid") in sids])


def merged(document: dict | None, sids, statements: list) -> dict | None:
    """`document` with its statements named by `sids` replaced by `statements`; every other statement is kept as it
    is, in its place. None when no statement is left: the policy is then deleted."""
    sids = set(sids)
    kept = [entry for entry in statements_of(document) if entry.get("Sid") not in sids]
    result = document_of(kept + [_normal(entry) for entry in statements])
    if result is not None and document and document.get("Version"):
        result["Version"] = document["Version"]
    return result


def same_statements(first: dict | None, second: dict | None) -> bool:
    """Whether two documents grant alike, statement by statement, whatever the order of actions and resources."""
    return sorted(json.dumps(_normal(entry), sort_keys=True) for entry in statements_of(first)) == sorted(
        json.dumps(_normal(entry), sort_keys=True) for entry in statements_of(second))


def sids_of(*documents: dict | None) -> set:
    return {entry.get("Sid") for document in documents for entry in statements_of(document) if entry.get("Sid")}


def restored(current: dict | None, before: dict | None, after: dict | None) -> dict | None:
    """The document that puts back what a run recorded (`before` and `after`, its own statements), leaving every
    statement the run did not write - another suffix's added since, a hand-written one - as it is now."""
    return merged(current, sids_of(before, after), statements_of(before))


def policy_size(document: dict | None) -> int:
    """Characters of a policy document as IAM counts them, white space not counted, as it is written."""
    if document is None:
        return 0
    return sum(1 for character in json.dumps(document) if not character.isspace())


def role_size(other_documents, document: dict | None) -> int:
    """The size IAM counts for a role: its other inline policies and `document` in place of the one written."""
    return sum(policy_size(entry) for entry in other_documents) + policy_size(document)


def queue_pattern(queue_arn: str, suffix: str) -> str | None:
    """The wildcard of the collection's per-function queue names of `suffix` (`*-<suffix>-dlq`) in the queue's
    account and region, when `queue_arn` is such a queue; else None."""
    queue = parse_whole_arn(queue_arn)
    name = queue["resource"] if queue else ""
    if not suffix or ":" in name or "*" in name or not has_suffix(name, f"{suffix}{QUEUE_SUFFIX}"):
        return None
    return format_arn(queue, resource=f"*-{suffix}{QUEUE_SUFFIX}")


def collapsed_queues(queue_arns, suffix: str | None) -> list:
    """`queue_arns` with the suffix's per-function queues as one wildcard per account-region; others as they are."""
    result = set()
    for arn in queue_arns:
        result.add(queue_pattern(arn, suffix) or arn)
    return sorted(result)


def check_size(role: str, other_documents, document: dict | None) -> None:
    """Raise PolicyTooLarge, naming the role and the figures, when writing `document` would exceed the limit."""
    total = role_size(other_documents, document)
    if total > ROLE_POLICY_SIZE_LIMIT:
        raise PolicyTooLarge(
            f"role {role}'s inline policies would hold {total} characters (white space not counted), beyond IAM's "
            f"limit of {ROLE_POLICY_SIZE_LIMIT} for a role: nothing was written to it, and its functions were left "
            "as they were; move some functions to a role of their own, or attach a managed policy")
