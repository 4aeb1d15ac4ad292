"""tools/api_quotas.py: the emulator's ledger counts each call by account, Region, service and operation, and its
quota mode answers calls above AWS's default request quotas the way each service does (tools/aws_quotas.yaml)."""

import json
import urllib.error
import urllib.request
from dataclasses import replace

import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.retries.standard import ThrottledRetryableChecker

from tests.emulator.test_fault_proxy import client_with_protocol
from tools import api_quotas
from tools.api_quotas import QUOTAS_FILE, QuotaTable, identify, load_quotas
from tools.emulator import DEFAULT_ACCOUNT_ID, emulator_session
from tools.emulator_patches import insights_status

ONE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1})
TWO_ATTEMPTS = Config(retries={"mode": "standard", "total_max_attempts": 2})
# A ten-thousandth of AWS's rates: every bucket holds one request and refills in seconds or more, so the second
# call of an operation in a row is throttled.
TINY = 0.0001
OTHER_ACCOUNT = "210987654321"


def calls(emulator, service, operation, account=DEFAULT_ACCOUNT_ID, region="us-east-1"):
    return emulator.ledger.snapshot().get(account, {}).get(region, {}).get(service, {}).get(operation)


def second_call_error(call) -> ClientError:
    """The error of the second of two calls in a row (the first takes the bucket's only token)."""
    call()
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value


@pytest.fixture
def quotas(emulator, aws):
    """Quota mode switched off again after the test, whatever it switched on."""
    yield emulator
    emulator.enforce_quotas(None)


# ---- the ledger -------------------------------------------------------------------------------------------

def test_the_ledger_counts_calls_by_operation_for_rest_json_and_query_services(emulator, make_function):
    make_function("ledger-fn")  # one IAM CreateRole (query), one Lambda CreateFunction (REST)
    lambda_ = emulator.session().client("lambda")
    lambda_.get_function(FunctionName="ledger-fn")
    lambda_.get_function(FunctionName="ledger-fn", Qualifier="$LATEST")
    lambda_.get_function_configuration(FunctionName="ledger-fn", Qualifier="$LATEST")
    lambda_.list_provisioned_concurrency_configs(FunctionName="ledger-fn")
    logs = emulator.session().client("logs")
    logs.create_log_group(logGroupName="/ledger")
    logs.describe_log_groups()
    logs.describe_log_groups()

    assert calls(emulator, "lambda", "GetFunction") == {"made": 2, "throttled": 0, "retried": 0}
    assert calls(emulator, "lambda", "GetFunctionConfiguration")["made"] == 1
    assert calls(emulator, "lambda", "ListProvisionedConcurrencyConfigs")["made"] == 1
    assert calls(emulator, "lambda", "CreateFunction")["made"] == 1
    assert calls(emulator, "iam", "CreateRole")["made"] == 1
    assert calls(emulator, "logs", "DescribeLogGroups")["made"] == 2
    assert calls(emulator, "logs", "CreateLogGroup")["made"] == 1


def test_the_ledger_names_operations_of_the_json_and_query_protocols(emulator, aws, tmp_path):
    aws.client("cloudwatch").describe_alarms()  # botocore's choice: JSON
    client_with_protocol("cloudwatch", "query", emulator.endpoint, ONE_ATTEMPT, tmp_path).describe_alarms()
    aws.client("sqs").list_queues()
    aws.client("sts").get_caller_identity()

    assert calls(emulator, "monitoring", "DescribeAlarms")["made"] == 2
    assert calls(emulator, "sqs", "ListQueues")["made"] == 1
    assert calls(emulator, "sts", "GetCallerIdentity")["made"] == 1


def test_each_account_and_region_has_its_own_lines(emulator, aws):
    aws.client("lambda").list_functions()
    emulator.session("eu-west-1").client("lambda").list_functions()
    emulator_session(emulator.endpoint, "us-east-1", OTHER_ACCOUNT).client("lambda").list_functions()

    assert calls(emulator, "lambda", "ListFunctions")["made"] == 1
    assert calls(emulator, "lambda", "ListFunctions", region="eu-west-1")["made"] == 1
    assert calls(emulator, "lambda", "ListFunctions", account=OTHER_ACCOUNT)["made"] == 1
    # The role was assumed with the default account's credentials.
    assert calls(emulator, "sts", "AssumeRole")["made"] == 1


def signed(service, method="POST", path="/", query="", **headers):
    return {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
            "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential=testing/20261201/eu-west-1/{service}/aws4_request, "
                                  "SignedHeaders=host, Signature=0", **headers}


@pytest.mark.parametrize(("environ", "body", "service", "operation"), [
    (signed("monitoring", path="/service/GraniteServiceVersion20100801/operation/GetMetricData",
            HTTP_SMITHY_PROTOCOL="rpc-v2-cbor"), b"", "monitoring", "GetMetricData"),
    (signed("logs", HTTP_X_AMZ_TARGET="Logs_20140328.FilterLogEvents"), b"{}", "logs", "FilterLogEvents"),
    (signed("iam", CONTENT_TYPE="application/x-www-form-urlencoded; charset=utf-8"),
     b"Action=ListRoles&Version=2010-05-08", "iam", "ListRoles"),
    (signed("lambda", "GET", "/2015-03-31/functions/my-fn/aliases/live"), b"", "lambda", "GetAlias"),
    (signed("lambda", "GET", "/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:my-fn",
            "Qualifier=live"), b"", "lambda", "GetFunction"),
    (signed("lambda", "GET", "/2019-09-30/functions/my-fn/provisioned-concurrency", "Qualifier=live"), b"",
     "lambda", "GetProvisionedConcurrencyConfig"),
    (signed("lambda", "GET", "/2019-09-30/functions/my-fn/provisioned-concurrency", "List=ALL"), b"",
     "lambda", "ListProvisionedConcurrencyConfigs"),
    (signed("lambda", "GET", "/2015-03-31/no-such-collection"), b"", "lambda", "unknown"),
    (signed("no-such-service", "GET", "/things"), b"", "no-such-service", "unknown"),
])
def test_requests_are_told_apart_by_their_protocol(environ, body, service, operation):
    call = identify(environ, body)
    assert (call.account, call.region, call.service, call.operation) == (DEFAULT_ACCOUNT_ID, "eu-west-1",
                                                                         service, operation)


def test_unsigned_requests_and_motos_own_routes_are_no_aws_calls():
    assert identify({**signed("lambda"), "HTTP_AUTHORIZATION": ""}, b"") is None
    assert identify(signed("lambda", path="/moto-api/reset"), b"") is None


def test_the_ledger_is_readable_and_resettable_over_http(emulator, aws):
    aws.client("lambda").list_functions()
    with urllib.request.urlopen(f"{emulator.endpoint}/lambdaopt-api/ledger") as response:
        assert json.load(response) == emulator.ledger.snapshot()
    urllib.request.urlopen(urllib.request.Request(f"{emulator.endpoint}/lambdaopt-api/ledger/reset", method="POST"))
    assert emulator.ledger.snapshot() == {}


def test_the_emulator_reset_empties_the_ledger_and_ends_quota_mode(emulator, aws):
    emulator.enforce_quotas("aws", scale=TINY)
    aws.client("lambda").list_functions()
    emulator.reset()
    assert emulator.ledger.snapshot() == {}
    assert emulator.api_quotas.setting == {"quotas": None, "scale": 1.0}


# ---- quota mode -------------------------------------------------------------------------------------------

def test_lambda_answers_too_many_requests_with_its_reason_and_retry_after(quotas, aws):
    quotas.enforce_quotas("aws", scale=TINY)
    lambda_ = aws.client("lambda", config=ONE_ATTEMPT)
    error = second_call_error(lambda_.list_functions)
    assert error.response["Error"]["Code"] == "TooManyRequestsException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error.response["Reason"] == "CallerRateLimitExceeded"
    assert int(error.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) >= 1
    assert calls(quotas, "lambda", "ListFunctions") == {"made": 2, "throttled": 1, "retried": 0}


def test_lambda_shares_one_control_plane_bucket_but_get_function_has_its_own(quotas, make_function):
    make_function("quota-fn")
    quotas.enforce_quotas("aws", scale=TINY)
    lambda_ = quotas.session().client("lambda", config=ONE_ATTEMPT)
    lambda_.get_function_configuration(FunctionName="quota-fn")
    with pytest.raises(ClientError, match="TooManyRequestsException"):
        lambda_.list_functions()  # another operation, the same control-plane quota
    lambda_.get_function(FunctionName="quota-fn")  # 100/s of its own


@pytest.mark.parametrize(("service", "protocol", "operation", "code"), [
    ("cloudwatch", "json", "describe_alarms", "Throttling"),
    ("cloudwatch", "smithy-rpc-v2-cbor", "list_metrics", "Throttling"),
    ("cloudwatch", "query", "get_metric_statistics", "Throttling"),
    ("logs", "json", "describe_log_groups", "ThrottlingException"),
    ("dynamodb", "json", "list_tables", "ThrottlingException"),
])
def test_each_service_answers_its_own_throttling_error_in_its_protocol(quotas, aws, tmp_path, service, protocol,
                                                                       operation, code):
    arguments = {"Namespace": "AWS/Lambda", "MetricName": "Errors", "StartTime": 0, "EndTime": 60, "Period": 60,
                 "Statistics": ["Sum"]} if operation == "get_metric_statistics" else {}
    quotas.enforce_quotas("aws", scale=TINY)
    # The first call, through botocore's own choice of protocol (moto answers no CBOR), takes the only token.
    getattr(aws.client(service), operation)(**arguments)
    client = client_with_protocol(service, protocol, quotas.endpoint, ONE_ATTEMPT, tmp_path)
    with pytest.raises(ClientError) as throttled:
        getattr(client, operation)(**arguments)
    assert throttled.value.response["Error"]["Code"] == code
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_sqs_answers_request_throttled_for_its_tagging_quota(quotas, aws):
    sqs = aws.client("sqs", config=ONE_ATTEMPT)
    url = sqs.create_queue(QueueName="quota-queue")["QueueUrl"]
    quotas.enforce_quotas("aws", scale=TINY)
    error = second_call_error(lambda: sqs.tag_queue(QueueUrl=url, Tags={"team": "a"}))
    assert (error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]) == \
        ("RequestThrottled", 400)
    sqs.get_queue_attributes(QueueUrl=url)  # no confirmed quota: never throttled
    sqs.get_queue_attributes(QueueUrl=url)


@pytest.mark.parametrize(("service", "quota", "operation"), [
    ("iam", "iam-requests", "list_roles"),
    ("sts", "sts-requests", "get_caller_identity"),
])
def test_iam_and_sts_answer_throttling_as_a_query_error(quotas, aws, service, quota, operation):
    # AWS documents no rate for them (the data says so), so the test gives one.
    unconfirmed = load_quotas().named(quota)
    assert unconfirmed.rate is None and not unconfirmed.enforced
    quotas.enforce_quotas(QuotaTable((replace(unconfirmed, rate=1.0, burst=1.0),)), scale=TINY)
    client = aws.client(service, config=ONE_ATTEMPT)
    error = second_call_error(getattr(client, operation))
    assert (error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]) == \
        ("Throttling", 400)


def test_a_throttled_request_the_client_retries_is_counted_as_retried(quotas, aws):
    quotas.enforce_quotas("aws", scale=TINY)
    logs = aws.client("logs", config=TWO_ATTEMPTS)
    logs.describe_log_groups()
    with pytest.raises(ClientError, match="ThrottlingException"):
        logs.describe_log_groups()  # throttled, retried once by botocore, throttled again
    assert calls(quotas, "logs", "DescribeLogGroups") == {"made": 3, "throttled": 2, "retried": 1}


def test_insights_refuses_a_query_above_the_concurrency_quota_until_one_ends(quotas, aws):
    logs = aws.client("logs", config=ONE_ATTEMPT)
    logs.create_log_group(logGroupName="/insights")
    logs.create_log_group(logGroupName="/insights-running")
    insights_status.end_queries("/insights-running", "Running")
    # Only the concurrency quota, at a fiftieth of AWS's 100: two queries at once.
    quotas.enforce_quotas(load_quotas().only("logs-insights-concurrent-queries"), scale=0.02)

    def start(group):
        return logs.start_query(logGroupName=group, startTime=0, endTime=60, queryString="fields @message")["queryId"]

    first, running = start("/insights"), start("/insights-running")
    with pytest.raises(ClientError) as refused:
        start("/insights")
    assert refused.value.response["Error"]["Code"] == "LimitExceededException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "limit of [2]" in refused.value.response["Error"]["Message"]

    assert logs.get_query_results(queryId=running)["status"] == "Running"  # still in flight
    with pytest.raises(ClientError, match="LimitExceededException"):
        start("/insights")
    assert logs.get_query_results(queryId=first)["status"] == "Complete"  # ended: its place is free
    third = start("/insights")
    logs.stop_query(queryId=running)
    start("/insights")
    assert third


def test_quota_mode_off_throttles_nothing(emulator, aws):
    lambda_ = aws.client("lambda", config=ONE_ATTEMPT)
    for _ in range(40):  # above Lambda's 15 requests per second, in well under a second's worth of tokens
        lambda_.list_functions()
    assert calls(emulator, "lambda", "ListFunctions") == {"made": 40, "throttled": 0, "retried": 0}


def test_quota_mode_switches_over_http(quotas, aws):
    def post(document):
        request = urllib.request.Request(f"{quotas.endpoint}/lambdaopt-api/quotas", method="POST",
                                         data=json.dumps(document).encode())
        with urllib.request.urlopen(request) as response:
            return json.load(response)

    dynamodb = aws.client("dynamodb", config=ONE_ATTEMPT)
    assert post({"quotas": "aws", "scale": TINY}) == {"quotas": "aws", "scale": TINY}
    assert second_call_error(dynamodb.list_tables).response["Error"]["Code"] == "ThrottlingException"
    assert post({"quotas": None}) == {"quotas": None, "scale": 1.0}
    dynamodb.list_tables()
    dynamodb.list_tables()
    with pytest.raises(urllib.error.HTTPError) as refused:
        post({"quotas": "gcp"})
    assert refused.value.code == 400


# ---- the data ---------------------------------------------------------------------------------------------

def test_every_quota_and_error_has_its_source_and_the_date_it_was_checked():
    document = yaml.safe_load(QUOTAS_FILE.read_text())
    for entry in [*document["services"].values(), *document["quotas"]]:
        assert entry["source"].startswith("https://") and str(entry["checked"]) == "2026-12-01", entry
    for entry in document["quotas"]:
        assert entry["service"] in document["services"], entry["name"]
        if entry.get("rate", 0) is None:
            assert entry["unconfirmed"], entry["name"]
        else:
            assert entry.get("rate") or entry.get("concurrent"), entry["name"]


def test_every_refusal_is_one_botocores_standard_retry_mode_retries_as_throttling():
    throttling_codes = ThrottledRetryableChecker()._throttled_error_codes
    assert {quota.error.code for quota in load_quotas().quotas} <= set(throttling_codes)


def test_lambdas_control_plane_quota_covers_every_operation_aws_does_not_list_apart():
    table = load_quotas()
    [control_plane] = table.covering("lambda", "UpdateFunctionConfiguration")
    assert control_plane.name == "lambda-control-plane" and control_plane.rate == 15
    assert table.covering("lambda", "ListFunctions") == (control_plane,)
    assert [quota.name for quota in table.covering("lambda", "GetFunction")] == ["lambda-get-function"]
    assert [quota.name for quota in table.covering("lambda", "GetPolicy")] == ["lambda-get-policy"]
    assert table.covering("lambda", "Invoke") == ()
    assert table.covering("lambda", api_quotas.UNKNOWN) == ()
    assert {quota.name for quota in table.covering("logs", "StartQuery")} == {
        "logs-start-query", "logs-insights-concurrent-queries"}
    assert table.named("logs-filter-log-events").rate_in("us-east-1") == 25
    assert table.named("logs-filter-log-events").rate_in("eu-central-1") == 5
    assert table.named("logs-filter-log-events").rate_in("eu-west-1") == 10
