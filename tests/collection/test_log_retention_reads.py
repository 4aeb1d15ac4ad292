"""What log_retention reads before it writes: the account's functions once, and the fleet's log groups in as few
DescribeLogGroups calls as their number allows (AWS: at most 50 groups a page; DescribeLogGroups has a request quota
of its own)."""

from collections import Counter

import pytest

OTHERS = 150  # functions outside the fleet: four pages of ListFunctions, four of /aws/lambda/ groups


@pytest.fixture
def account(aws, make_function):
    """Two dev functions among OTHERS prod ones, each with its default log group."""
    logs = aws.client("logs")
    names = ["alpha-dev", "beta-dev"] + [f"other-{index:03d}-prod" for index in range(OTHERS)]
    for name in names:
        make_function(name)
        logs.create_log_group(logGroupName=f"/aws/lambda/{name}")
    return logs


def retention(logs):
    pages = logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix="/aws/lambda/")
    return {group["logGroupName"]: group.get("retentionInDays") for page in pages for group in page["logGroups"]}


def reads(calls):
    return Counter(operation for _, operation in calls if operation in ("ListFunctions", "DescribeLogGroups"))


def test_a_few_groups_in_a_large_account_are_read_by_name(account, run_module, api_calls):
    result = run_module("log_retention", {"suffix": "dev", "retention_days": 14, "allow_data_loss": True})
    assert result["summary"]["changed"] == 2
    # One listing of the 152 functions (4 pages), not one for the selection and another for who shares the groups;
    # each group by its own name rather than the 4 pages of every /aws/lambda/ group.
    assert reads(api_calls) == {"ListFunctions": 4, "DescribeLogGroups": 2}
    after = retention(account)
    assert after["/aws/lambda/alpha-dev"] == after["/aws/lambda/beta-dev"] == 14
    assert {days for name, days in after.items() if name.endswith("-prod")} == {None}


def test_a_whole_fleet_is_read_in_one_listing_of_its_groups(account, run_module, api_calls):
    result = run_module("log_retention", {"suffix": "prod", "retention_days": 14, "allow_data_loss": True})
    assert result["summary"]["changed"] == OTHERS
    assert reads(api_calls) == {"ListFunctions": 4, "DescribeLogGroups": 4}
    after = retention(account)
    assert {days for name, days in after.items() if name.endswith("-prod")} == {14}
    assert after["/aws/lambda/alpha-dev"] is None
