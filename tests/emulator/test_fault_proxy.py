"""tools/fault_proxy.py: each fault is what the service itself answers, in its own protocol, so botocore parses it
into the service's error code and its retry handler retries it; a dropped request was acted on; the emulator's
own routes are never faulted; the faults follow the seed."""

import gzip
import json
import re
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import botocore
import botocore.session
import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils import run_lock
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import BOTOCORE_RETRIES, RetryingClient
from ansible_collections.tap.lambdaopt.plugins.modules.lambda_secrets import SecretPlan, apply_secrets
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from tools import fault_proxy
from tools.emulator import EMULATOR_CREDENTIALS
from tools.fault_proxy import DROP, NO_FAULTS, SERVER_ERROR, THROTTLE, FaultProxy, Rates, cbor_text_map

ONE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1})
TWO_ATTEMPTS = Config(retries={"mode": "standard", "total_max_attempts": 2})
BOTOCORE_MODELS = Path(botocore.__file__).parent / "data"


@pytest.fixture
def proxy(emulator, aws):
    with FaultProxy(emulator.endpoint, rates=NO_FAULTS) as running:
        yield running


def client_with_protocol(service: str, protocol: str, endpoint: str, config: Config, tmp_path: Path):
    """A botocore client for `service` that speaks `protocol` (one of those its model lists)."""
    [model_file] = (BOTOCORE_MODELS / service).glob("*/service-2.json.gz")
    model = json.loads(gzip.decompress(model_file.read_bytes()))
    assert protocol in model["metadata"]["protocols"]
    model["metadata"].update(protocol=protocol, protocols=[protocol])
    folder = tmp_path / protocol / service / model_file.parent.name
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(tmp_path / protocol))
    client = session.create_client(service, region_name="us-east-1", endpoint_url=endpoint, config=config,
                                   aws_access_key_id=EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                                   aws_secret_access_key=EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    assert client.meta.service_model.resolved_protocol == protocol
    return client


# service, protocol (None: the one botocore picks), a read-only call, the throttling code, its status,
# the code of a 500.
PROTOCOLS = [
    ("lambda", None, "list_functions", "TooManyRequestsException", 429, "ServiceException"),
    ("cloudwatch", None, "describe_alarms", "Throttling", 400, "InternalServiceError"),
    ("cloudwatch", "smithy-rpc-v2-cbor", "describe_alarms", "Throttling", 400, "InternalServiceError"),
    ("cloudwatch", "query", "describe_alarms", "Throttling", 400, "InternalServiceError"),
    ("logs", None, "describe_log_groups", "ThrottlingException", 400, "ServiceUnavailableException"),
    ("sqs", None, "list_queues", "RequestThrottled", 400, "InternalFailure"),
    ("iam", None, "list_roles", "Throttling", 400, "ServiceFailure"),
    ("sts", None, "get_caller_identity", "Throttling", 400, "InternalFailure"),
    ("dynamodb", None, "list_tables", "ThrottlingException", 400, "InternalServerError"),
    ("secretsmanager", None, "list_secrets", "ThrottlingException", 400, "InternalServiceError"),
    ("s3", None, "list_buckets", "SlowDown", 503, "InternalError"),
]


def test_botocore_speaks_json_to_cloudwatch(aws):
    # CloudWatch's model lists CBOR first, but botocore prefers JSON among the protocols a model lists.
    assert aws.client("cloudwatch").meta.service_model.resolved_protocol == "json"


@pytest.mark.parametrize(("service", "protocol", "call", "throttle_code", "throttle_status", "internal_code"),
                         PROTOCOLS, ids=[f"{row[0]}-{row[1] or 'default'}" for row in PROTOCOLS])
def test_each_fault_is_the_services_own_error_and_botocore_retries_it(
        aws, proxy, tmp_path, service, protocol, call, throttle_code, throttle_status, internal_code):
    def client(config):
        if protocol is None:
            return aws.client(service, endpoint_url=proxy.endpoint, config=config)
        return client_with_protocol(service, protocol, proxy.endpoint, config, tmp_path / str(id(config)))

    once, twice = client(ONE_ATTEMPT), client(TWO_ATTEMPTS)
    for kind, status, code in ((THROTTLE, throttle_status, throttle_code), (SERVER_ERROR, 500, internal_code),
                               (SERVER_ERROR, 503, "ServiceUnavailable")):
        proxy.script(kind, status=status)
        with pytest.raises(ClientError) as raised:
            getattr(once, call)()
        assert raised.value.response["Error"]["Code"] == code
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        # Two attempts, both faulted: botocore's standard retry handler took it for retryable.
        proxy.script(kind, kind, status=status)
        with pytest.raises(ClientError) as raised:
            getattr(twice, call)()
        assert raised.value.response["Error"]["Code"] == code
        assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 1

    proxy.script(DROP)
    with pytest.raises(ConnectionClosedError):
        getattr(once, call)()
    counted = proxy.stats.as_dict()["services"][once.meta.service_model.endpoint_prefix]
    assert (counted[THROTTLE], counted[SERVER_ERROR], counted[DROP], counted["retried_attempts"]) == (3, 6, 1, 3)


def test_a_retried_call_after_a_fault_succeeds(aws, proxy):
    lambda_ = aws.client("lambda", endpoint_url=proxy.endpoint, config=TWO_ATTEMPTS)
    proxy.script(THROTTLE, service="lambda")
    assert lambda_.list_functions()["ResponseMetadata"]["RetryAttempts"] == 1
    assert proxy.stats.calls["lambda"] == 2 and proxy.stats.retries["lambda"] == 1


def test_a_dropped_request_was_acted_on_and_its_retry_finds_the_same_queue(aws, proxy):
    direct = aws.client("sqs")
    proxy.script(DROP)
    with pytest.raises(ConnectionClosedError):
        aws.client("sqs", endpoint_url=proxy.endpoint, config=ONE_ATTEMPT).create_queue(QueueName="dropped")
    assert [url.rsplit("/", 1)[-1] for url in direct.list_queues()["QueueUrls"]] == ["dropped"]

    proxy.script(DROP)
    aws.client("sqs", endpoint_url=proxy.endpoint, config=TWO_ATTEMPTS).create_queue(QueueName="retried")
    assert sorted(url.rsplit("/", 1)[-1] for url in direct.list_queues()["QueueUrls"]) == ["dropped", "retried"]


def test_the_emulators_own_routes_are_never_faulted(emulator, aws):
    aws.client("sqs").create_queue(QueueName="kept-until-reset")
    with FaultProxy(emulator.endpoint, rates=Rates(throttle=1.0, server_error=0, drop=0)) as proxy:
        request = urllib.request.Request(f"{proxy.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        with pytest.raises(ClientError, match="RequestThrottled"):
            aws.client("sqs", endpoint_url=proxy.endpoint, config=ONE_ATTEMPT).list_queues()
        assert dict(proxy.stats.calls) == {"sqs": 1}
    assert "QueueUrls" not in aws.client("sqs").list_queues()


def test_the_faults_follow_the_seed():
    def faults(seed, operations):
        proxy = FaultProxy("http://127.0.0.1:9", seed=seed)
        return [proxy.decide("lambda", operation) for operation in operations]

    in_turn = ["GetFunction", "UpdateFunctionConfiguration"] * 2000
    first = faults(7, in_turn)
    assert first == faults(7, in_turn) and first != faults(8, in_turn)
    # Each operation meets the same faults however calls of different operations interleave.
    interleaved = faults(7, sorted(in_turn))
    assert sorted(first, key=str) == sorted(interleaved, key=str)
    assert [fault for fault, operation in zip(first, in_turn, strict=True) if operation == "GetFunction"] == \
        [fault for fault, operation in zip(interleaved, sorted(in_turn), strict=True) if operation == "GetFunction"]
    shares = {kind: sum(fault == kind for fault, _ in first) / len(first) for kind in (THROTTLE, SERVER_ERROR, DROP)}
    assert 0.08 < shares[THROTTLE] < 0.12 and 0.035 < shares[SERVER_ERROR] < 0.065 and 0.01 < shares[DROP] < 0.03
    assert {status for fault, status in first if fault == SERVER_ERROR} == {500, 503}


def test_rates_are_checked():
    with pytest.raises(ValueError):
        Rates(throttle=0.6, server_error=0.3, drop=0.2)
    with pytest.raises(ValueError):
        FaultProxy("https://lambda.us-east-1.amazonaws.com")


def test_cbor_error_body():
    # RFC 8949 appendix A: {"a": "A"} is a1 61 61 61 41; lengths from 24 on take an extra byte.
    assert cbor_text_map({"a": "A"}).hex() == "a1616161" + "41"
    assert cbor_text_map({"k": "x" * 30})[:5].hex() == "a1616b" + "781e"


def test_a_secret_created_before_its_answer_was_lost_is_not_created_again(aws, proxy):
    """CreateSecret acted on, its answer dropped, every retry botocore makes throttled: the outer retry calls
    CreateSecret again, which must find its own secret (the same ClientRequestToken), not a conflict."""
    # Two attempts stand for botocore's (BOTOCORE_RETRIES): all that matters is that it gives up.
    client = aws.client("secretsmanager", endpoint_url=proxy.endpoint, config=TWO_ATTEMPTS)
    attempts = client.meta.config.retries["total_max_attempts"]
    secrets = RetryingClient(client)
    proxy.script(DROP, *[THROTTLE] * (attempts - 1), service="secretsmanager")
    planned = [SecretPlan({"env": "API_KEY", "secret_name": "chaos-api-key", "action": "create",
                           "status": "planned"}, "v" * 20)]
    apply_secrets(secrets, planned, {"ManagedBy": "tap.lambdaopt"})
    listed = aws.client("secretsmanager").list_secrets()["SecretList"]
    assert [secret["Name"] for secret in listed] == ["chaos-api-key"]
    assert planned[0].entry["status"] == "created" and planned[0].entry["secret_arn"] == listed[0]["ARN"]
    assert proxy.stats.outcomes["secretsmanager", DROP] == 1
    assert proxy.stats.outcomes["secretsmanager", THROTTLE] == attempts - 1


@pytest.mark.parametrize(("service", "call", "kind", "status"), [
    (service, call, kind, status)
    for service, protocol, call, *_ in PROTOCOLS if protocol is None and service != "s3"
    for kind, status in ((THROTTLE, 400), (SERVER_ERROR, 500), (SERVER_ERROR, 503))
], ids=lambda value: str(value))
def test_the_collections_client_outlasts_botocores_attempts(aws, proxy, service, call, kind, status):
    """When botocore gives up on a transient answer (here at once), the collection's retrying client makes the call
    again."""
    client = aws.client(service, endpoint_url=proxy.endpoint, config=ONE_ATTEMPT)
    proxy.script(kind, status=status)
    getattr(RetryingClient(client), call)()
    prefix = client.meta.service_model.endpoint_prefix
    assert proxy.stats.outcomes[prefix, kind] == 1 and proxy.stats.outcomes[prefix, "forwarded"] == 1


def test_the_command_line_runs_a_command_through_the_proxy(emulator, aws, monkeypatch, capsys):
    for key, value in emulator.environ({}).items():
        monkeypatch.setenv(key, value)
    call = "import boto3; boto3.client('sqs').create_queue(QueueName='through-the-proxy')"
    assert fault_proxy.main(["--seed", "3", "--throttle", "0", "--server-error", "0", "--drop", "0", "--",
                             sys.executable, "-c", call]) == 0
    printed = capsys.readouterr().out
    assert f"in front of {emulator.endpoint}" in printed
    assert re.search(r"^sqs\s+1\s+0\s+0\s+0\s+0$", printed, re.MULTILINE), printed
    assert aws.client("sqs").list_queues()["QueueUrls"][0].endswith("/through-the-proxy")


def test_a_run_lock_taken_before_its_answer_was_lost_is_ours(aws, proxy):
    """PutParameter acted on, its answer dropped: botocore's retry meets ParameterAlreadyExists, and the lock found
    is the one this run wrote, not another run's."""
    ssm = RetryingClient(aws.client("ssm", endpoint_url=proxy.endpoint, config=Config(**BOTOCORE_RETRIES)))
    lock = run_lock.Lock.new("chaos-run", 600, "optimize", datetime.now(UTC))
    proxy.script(DROP, service="ssm")
    assert run_lock.try_acquire(ssm, "/tap/lambdaopt/chaos-lock", lock) is None
    assert run_lock.held(aws.client("ssm"), "/tap/lambdaopt/chaos-lock") == lock
    assert proxy.stats.outcomes["ssm", DROP] == 1
    other = run_lock.Lock.new("another-run", 600, "optimize", datetime.now(UTC))
    assert run_lock.try_acquire(ssm, "/tap/lambdaopt/chaos-lock", other) == lock
