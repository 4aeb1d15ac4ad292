"""The emulator refuses a function environment over Lambda's 4 KB quota as AWS does.

Source: Lambda Developer Guide, "Lambda quotas" (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html):
"Function environment variables: 4 KB, for all environment variables associated with the function, in aggregate".
AWS answers InvalidParameterValueException, "Lambda was unable to configure your environment variables because the
environment variables you have provided exceeded the 4KB limit. String measured: {...}", echoing every variable.
"""

import json

import pytest
from botocore.exceptions import ClientError

SECRETISH = "s3cr3t-value-never-to-be-shown"


def oversize(extra: int = 1) -> dict:
    """Variables whose JSON map is 4096 bytes plus `extra`."""
    base = {"TOKEN": SECRETISH, "PAD": ""}
    base["PAD"] = "x" * (4096 + extra - len(json.dumps(base, separators=(",", ":"))))
    return base


def test_an_update_over_4_kb_is_refused_and_echoes_the_variables(aws, make_function):
    make_function("sized", active=True, Environment={"Variables": {"KEEP": "1"}})
    lambda_ = aws.client("lambda")
    with pytest.raises(ClientError) as refused:
        lambda_.update_function_configuration(FunctionName="sized", Environment={"Variables": oversize()})
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"].startswith("Lambda was unable to configure your environment variables because the "
                                       "environment variables you have provided exceeded the 4KB limit. "
                                       "String measured: {")
    assert SECRETISH in error["Message"]
    assert lambda_.get_function_configuration(FunctionName="sized")["Environment"]["Variables"] == {"KEEP": "1"}


def test_a_create_over_4_kb_is_refused(aws, make_function):
    with pytest.raises(ClientError) as refused:
        make_function("too-big", Environment={"Variables": oversize()})
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "too-big" not in [f["FunctionName"] for f in aws.client("lambda").list_functions()["Functions"]]


def test_exactly_4_kb_is_accepted(aws, make_function):
    variables = oversize(extra=0)
    make_function("at-limit", active=True, Environment={"Variables": variables})
    assert aws.client("lambda").get_function_configuration(
        FunctionName="at-limit")["Environment"]["Variables"] == variables
