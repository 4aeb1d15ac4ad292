# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which log group each function really logs to, and whose lines a log group's streams hold.

AWS, Lambda API reference (LoggingConfig) and developer guide ("Configuring advanced logging controls for Lambda
functions", "Configuring CloudWatch log groups"):
- A function logs to `/aws/lambda/<function name>` unless `LoggingConfig.LogGroup` names another group; any group
  may be named, and several functions may share one. ListFunctions, GetFunction and GetFunctionConfiguration
  return `LoggingConfig`.
- In the function's default group the streams are `YYYY/MM/DD/[<version>]<environment id>`; in a custom group
  "the log streams Lambda creates include the function name and function version":
  `YYYY/MM/DD/<function name>[<version>]<environment id>`. So a stream says whose lines it holds. Function names
  cannot contain `[`, so the name is everything between the date and the first `[`.
- Stream names start with the date, so FilterLogEvents' `logStreamNamePrefix` cannot pick one function's streams
  out of a shared group: the lines are read once per group and attributed here, by stream.

A *log source* names the lines of one function in one group: the group's name when the function logs to its own
default group (so a fleet with no custom groups is keyed exactly as before), else `<group>[<function name>]` —
unambiguous, since `[` is not allowed in a log group's name.
"""

from __future__ import annotations

import re

DEFAULT_GROUP_PREFIX = "/aws/lambda/"
TEXT = "Text"
JSON = "JSON"
# DescribeLogGroups' largest page (its `limit`), also its default.
DESCRIBE_PAGE_SIZE = 50
STREAM_OWNER = re.compile(r"^\d{4}/\d{2}/\d{2}/(?P<owner>[^\[/]*)\[")


def default_group(function_name: str) -> str:
    return f"{DEFAULT_GROUP_PREFIX}{function_name}"


def group_of(function: dict) -> str:
    """The group a function (a ListFunctions or GetFunctionConfiguration entry) sends its logs to."""
    return (function.get("LoggingConfig") or {}).get("LogGroup") or default_group(function["FunctionName"])


def format_of(function: dict) -> str:
    """`Text` or `JSON`: whether its invocations end in a REPORT line or a platform.report record."""
    return (function.get("LoggingConfig") or {}).get("LogFormat") or TEXT


def stream_owner(stream_name: str) -> str | None:
    """The function a custom group's stream belongs to; None for a default group's stream (no name in it)."""
    match = STREAM_OWNER.match(stream_name or "")
    return (match.group("owner") or None) if match else None


def source_key(group: str, owner: str | None) -> str:
    """The log source of `owner`'s lines in `group` (see the module's description)."""
    if owner is None or group == default_group(owner):
        return group
    return f"{group}[{owner}]"


def source_of_stream(group: str, stream_name: str) -> str:
    return source_key(group, stream_owner(stream_name))


def users_by_group(functions: list) -> dict:
    """{log group: sorted names of the functions that log to it}, from ListFunctions entries."""
    users: dict = {}
    for function in functions:
        users.setdefault(group_of(function), []).append(function["FunctionName"])
    return {group: sorted(names) for group, names in users.items()}


def describe_groups(logs, names, default_groups: int | None = None) -> dict:
    """{name: DescribeLogGroups entry} for the groups among `names` that exist: the default groups in one listing
    of `/aws/lambda/` or each by its own name as prefix, whichever takes fewer calls; any other group by its own name
    as prefix.

    `default_groups`: about how many `/aws/lambda/` groups the account has (one per function: the length of its
    function listing), so that the listing's pages can be told (DESCRIBE_PAGE_SIZE groups a page, DescribeLogGroups'
    most). Without it the default groups are listed, as for a whole fleet. DescribeLogGroups has its own request
    quota (10 a second by default), which a few groups read by name in an account of thousands stay far below."""
    wanted = set(names)
    default = {name for name in wanted if name.startswith(DEFAULT_GROUP_PREFIX)}
    listing_pages = -(-default_groups // DESCRIBE_PAGE_SIZE) if default_groups is not None else None
    if default and (listing_pages is None or len(default) >= listing_pages):
        prefixes = {DEFAULT_GROUP_PREFIX} | (wanted - default)
    else:
        prefixes = wanted
    paginator = logs.get_paginator("describe_log_groups")
    found = {}
    for prefix in sorted(prefixes):
        for page in paginator.paginate(logGroupNamePrefix=prefix, PaginationConfig={"PageSize": DESCRIBE_PAGE_SIZE}):
            found.update({group["logGroupName"]: group for group in page["logGroups"]
                          if group["logGroupName"] in wanted})
    return found
