"""The emulator keeps Lambda's advanced logging controls (LoggingConfig) as AWS does.

Sources: Lambda API reference, type LoggingConfig (LogFormat JSON | Text; LogGroup 1-512 characters of
[\\.\\-_/#A-Za-z0-9]+, default /aws/lambda/<function name>; ApplicationLogLevel TRACE..FATAL; SystemLogLevel
DEBUG | INFO | WARN); Lambda developer guide, "Log-level filtering" ("to use log-level filtering, your function must
be configured to use the JSON log format") and "Configuring CloudWatch log groups" (several functions may send logs
to the same group).
"""

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

UNVALIDATED = Config(parameter_validation=False)


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def settled(lambda_, name: str) -> dict:
    """The function's configuration once Lambda has finished creating or updating it (each read advances the
    emulator's state machine, as a waiter's polls would, without waiting)."""
    for _ in range(5):
        configuration = lambda_.get_function_configuration(FunctionName=name)
        if configuration["State"] == "Active" and configuration["LastUpdateStatus"] != "InProgress":
            return configuration
    raise AssertionError(f"{name} did not settle")


def test_a_new_function_logs_text_to_its_own_group(aws, make_function):
    """AWS: LogFormat defaults to Text and LogGroup to /aws/lambda/<function name>."""
    created = make_function("plain")
    assert created["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/plain"}
    assert aws.client("lambda").get_function(FunctionName="plain")["Configuration"]["LoggingConfig"] == {
        "LogFormat": "Text", "LogGroup": "/aws/lambda/plain"}


def test_json_and_a_custom_group_round_trip_through_get_and_list(aws, make_function):
    """AWS: CreateFunction keeps LoggingConfig; GetFunctionConfiguration and ListFunctions return it, with INFO
    levels for a JSON function that named none."""
    make_function("structured", LoggingConfig={"LogFormat": "JSON", "LogGroup": "/shared/pipeline"})
    lambda_ = aws.client("lambda")
    expected = {"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO",
                "LogGroup": "/shared/pipeline"}
    assert lambda_.get_function_configuration(FunctionName="structured")["LoggingConfig"] == expected
    (listed,) = lambda_.list_functions()["Functions"]
    assert listed["LoggingConfig"] == expected


def test_an_update_changes_the_fields_it_names_and_keeps_the_others(aws, make_function):
    """AWS: UpdateFunctionConfiguration with a LoggingConfig changes what it names; back to Text drops the levels."""
    make_function("evolving")
    lambda_ = aws.client("lambda")

    def update(**changes) -> dict:
        settled(lambda_, "evolving")
        lambda_.update_function_configuration(FunctionName="evolving", **changes)
        return settled(lambda_, "evolving")["LoggingConfig"]

    assert update(LoggingConfig={"LogGroup": "/shared/pipeline"}) == {"LogFormat": "Text",
                                                                      "LogGroup": "/shared/pipeline"}
    assert update(LoggingConfig={"LogFormat": "JSON", "SystemLogLevel": "WARN"}) == {
        "LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN", "LogGroup": "/shared/pipeline"}
    assert update(MemorySize=256)["SystemLogLevel"] == "WARN"
    assert update(LoggingConfig={"LogFormat": "Text"}) == {"LogFormat": "Text", "LogGroup": "/shared/pipeline"}


@pytest.mark.parametrize("logging_config", [
    {"LogFormat": "XML"},
    {"LogGroup": "has spaces"},
    {"LogGroup": "x" * 513},
    {"LogFormat": "JSON", "ApplicationLogLevel": "VERBOSE"},
    {"LogFormat": "JSON", "SystemLogLevel": "ERROR"},  # system logs go no lower than WARN
    {"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"},  # log levels need the JSON format
    {"SystemLogLevel": "WARN"},  # a new function is Text unless told otherwise
])
def test_values_aws_refuses_are_refused_on_create(aws, make_function, logging_config):
    with pytest.raises(ClientError) as excinfo:
        make_function("refused", LoggingConfig=logging_config)
    assert error_code(excinfo) == "InvalidParameterValueException"
    assert aws.client("lambda").list_functions()["Functions"] == []


def test_an_invalid_update_is_refused_and_changes_nothing(aws, make_function):
    make_function("steady", LoggingConfig={"LogGroup": "/shared/pipeline"})
    lambda_ = aws.client("lambda", config=UNVALIDATED)
    settled(lambda_, "steady")
    with pytest.raises(ClientError) as excinfo:
        lambda_.update_function_configuration(FunctionName="steady", LoggingConfig={"ApplicationLogLevel": "DEBUG"})
    assert error_code(excinfo) == "InvalidParameterValueException"
    assert settled(lambda_, "steady")["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/shared/pipeline"}
