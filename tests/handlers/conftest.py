"""Run the real handler code locally: the shared layer on sys.path, each handler loaded from its file.

Every test here runs without network access and without sleeping, and every line a handler prints is
checked: it must be JSON, and every EMF line must be well formed (see emf.py).
"""

import importlib.util
import socket
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from tests.handlers.table import TABLE

PROGRAM_DIR = Path(__file__).resolve().parents[2] / "infra_pulumi"
# As the Lambda runtime puts the layer's python/ directory on the path.
sys.path.insert(0, str(PROGRAM_DIR / "layer" / "python"))

# Variables the handlers read; cleared so a developer's environment cannot change a test's outcome.
HANDLER_ENVIRONMENT = (
    "AWS_LAMBDA_FUNCTION_NAME", "METRICS_NAMESPACE", "LOG_LEVEL", "MAX_RECORD_BYTES",
    "DEFAULT_CURRENCY", "TABLE_NAME", "BATCH_SIZE",
)


def load_handler(directory: str):
    """Import functions/<directory>/handler.py under a name of its own, as the three modules share theirs."""
    path = PROGRAM_DIR / "functions" / directory / "handler.py"
    spec = importlib.util.spec_from_file_location(f"{directory}_handler", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def api_handler():
    return load_handler("api_handler")


@pytest.fixture(scope="session")
def transform():
    return load_handler("transform")


@pytest.fixture(scope="session")
def batch_processor():
    return load_handler("batch_processor")


@pytest.fixture(autouse=True)
def isolated(monkeypatch):
    """No network, no sleeping, and only the environment each test sets."""
    def refuse(*args, **kwargs):
        raise AssertionError("a handler test tried to reach the network or to sleep")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(time, "sleep", refuse)
    for name in HANDLER_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def dynamodb():
    """A real DynamoDB client whose calls Stubber answers; it checks each request against the API model."""
    client = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1",
    ).client("dynamodb")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def table(batch_processor, dynamodb, monkeypatch):
    """batch-processor's table client replaced by the stubbed one, and TABLE_NAME set; returns the Stubber."""
    client, stubber = dynamodb
    monkeypatch.setattr(batch_processor, "_client", client)
    monkeypatch.setenv("TABLE_NAME", TABLE)
    return stubber
