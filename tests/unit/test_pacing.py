"""Each AWS call paced to its request quota (module_utils/pacing.py), at the rates the emulator enforces in quota
mode (tools/aws_quotas.yaml, with AWS's sources)."""

import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import pacing
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import paced_pages

from tools.api_quotas import load_quotas

REGIONS = ("us-east-1", "us-west-2", "eu-central-1", "ap-northeast-3")


def an_operation_of(quota):
    return sorted(quota.operations)[0] if quota.operations is not pacing.EVERY_OTHER else "UpdateFunctionConfiguration"


@pytest.mark.parametrize("quota", pacing.QUOTAS, ids=lambda quota: quota.name)
def test_each_quota_is_the_one_the_emulator_enforces(quota):
    documented = load_quotas()
    operations = quota.operations if quota.operations is not pacing.EVERY_OTHER else (an_operation_of(quota),)
    for operation in operations:
        [enforced] = [found for found in documented.covering(quota.service, operation) if found.rate is not None]
        for region in REGIONS:
            assert quota.rate_in(region) == enforced.rate_in(region), (operation, region)


def test_each_call_draws_from_its_own_quota():
    assert pacing.quota_of("lambda", "GetFunction").name == "lambda-get-function"
    assert pacing.quota_of("lambda", "GetPolicy").name == "lambda-get-policy"
    assert pacing.quota_of("lambda", "UpdateFunctionConfiguration").name == "lambda-control-plane"
    assert pacing.quota_of("lambda", "ListAliases").name == "lambda-control-plane"
    assert pacing.quota_of("lambda", "Invoke") is None  # bound by concurrency, not a request rate
    assert pacing.quota_of("monitoring", "PutMetricAlarm").rate == 3
    assert pacing.quota_of("logs", "FilterLogEvents").rate_in("us-east-1") == 25
    assert pacing.quota_of("monitoring", "ListTagsForResource") is None  # not called in bulk: not paced


def test_a_paced_client_waits_for_its_quota_before_each_call(aws, monkeypatch):
    monkeypatch.delenv(pacing.SWITCH, raising=False)
    drawn = []
    monkeypatch.setattr(pacing, "limiter_of", lambda quota, region: drawn.append((quota.name, region)) or Limiter())
    lambda_client = pacing.pace(aws.client("lambda"))
    lambda_client.list_functions()
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName="absent")
    pacing.pace(aws.client("logs")).describe_log_groups()
    assert drawn == [("lambda-control-plane", "us-east-1"), ("lambda-get-function", "us-east-1"),
                     ("logs-describe-log-groups", "us-east-1")]


def test_pacing_can_be_switched_off(aws, monkeypatch):
    monkeypatch.setenv(pacing.SWITCH, "off")
    monkeypatch.setattr(pacing, "limiter_of", lambda quota, region: pytest.fail("paced although switched off"))
    pacing.pace(aws.client("lambda")).list_functions()


def test_one_bucket_per_quota_and_region_for_the_whole_process():
    quota = pacing.quota_of("lambda", "GetFunction")
    assert pacing.limiter_of(quota, "us-east-1") is pacing.limiter_of(quota, "us-east-1")
    assert pacing.limiter_of(quota, "us-east-1") is not pacing.limiter_of(quota, "eu-west-1")
    assert pacing.limiter_of(quota, "us-east-1").rate == 100


class Limiter:
    def acquire(self):
        pass


def test_a_paced_listing_takes_one_token_per_call_it_makes():
    limiter = Counting()
    assert list(paced_pages(iter([{"Aliases": []}]), limiter)) == [{"Aliases": []}] and limiter.taken == 1
    limiter = Counting()
    pages = [{"Aliases": [1], "NextMarker": "m"}, {"Aliases": [2]}]
    assert list(paced_pages(iter(pages), limiter)) == pages and limiter.taken == 2


class Counting:
    taken = 0

    def acquire(self):
        self.taken += 1
