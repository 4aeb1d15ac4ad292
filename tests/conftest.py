"""Shared fixtures: one emulator for the whole test session, reset before each test that uses it."""

import io
import json
import zipfile

import pytest
from botocore.config import Config

from tools.emulator import Emulator


@pytest.fixture(scope="session")
def emulator():
    with Emulator() as running:
        yield running


@pytest.fixture
def aws(emulator):
    """A boto3 session on a freshly reset emulator."""
    emulator.reset()
    return emulator.session()


def _tiny_package() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


@pytest.fixture
def make_function(aws):
    """Create a bare function (and its role) in the emulator; returns its configuration."""
    iam = aws.client("iam")
    # Without botocore's own checks, out-of-range values reach the emulator, as tests of its limits need.
    lambda_ = aws.client("lambda", config=Config(parameter_validation=False))
    role_arn = iam.create_role(
        RoleName="test-function-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]

    def create(name: str, **settings) -> dict:
        return lambda_.create_function(
            FunctionName=name,
            Role=role_arn,
            Runtime="python3.12",
            Handler="handler.handler",
            Code={"ZipFile": _tiny_package()},
            **settings,
        )

    return create
