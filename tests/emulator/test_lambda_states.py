"""Lambda's function states and update state machine, as AWS runs them (tools/emulator_patches/lambda_states.py).

Sources: Lambda developer guide, "Lambda function states" and "Configuring provisioned concurrency"; Lambda API
reference, ListFunctions ("returns a subset of the FunctionConfiguration fields"), UpdateFunctionConfiguration
(RevisionId, ResourceConflictException, PreconditionFailedException), FunctionConfiguration (Environment.Error) and
PutFunctionConcurrency (InvalidParameterValueException).
"""

import pytest
from botocore.exceptions import ClientError, WaiterError

from tools.emulator_patches import lambda_states

WAIT = {"Delay": 1}


@pytest.fixture(autouse=True)
def default_timing():
    yield
    lambda_states.configure()


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def configuration(lambda_, name: str) -> dict:
    return lambda_.get_function(FunctionName=name)["Configuration"]


def test_list_functions_answers_without_state_or_update_status(aws, make_function):
    make_function("listed", active=True)
    lambda_ = aws.client("lambda")
    (listed,) = lambda_.list_functions()["Functions"]
    assert not {"State", "LastUpdateStatus", "StateReason", "StateReasonCode"} & set(listed)
    read = configuration(lambda_, "listed")
    assert (read["State"], read["LastUpdateStatus"]) == ("Active", "Successful")


def test_a_new_function_is_pending_and_cannot_be_updated_until_active(aws, make_function):
    created = make_function("fresh")
    assert created["State"] == "Pending"
    lambda_ = aws.client("lambda")
    with pytest.raises(ClientError) as excinfo:
        lambda_.update_function_configuration(FunctionName="fresh", MemorySize=1024)
    assert error_code(excinfo) == "ResourceConflictException"
    assert "Pending" in str(excinfo.value)
    with pytest.raises(ClientError) as excinfo:
        lambda_.publish_version(FunctionName="fresh")
    assert error_code(excinfo) == "ResourceConflictException"
    assert configuration(lambda_, "fresh")["State"] == "Pending"  # the next read still shows it
    assert configuration(lambda_, "fresh")["State"] == "Active"


def test_an_update_is_in_progress_for_the_next_two_reads_and_refuses_a_second_update(aws, make_function):
    make_function("busy", active=True)
    lambda_ = aws.client("lambda")
    answer = lambda_.update_function_configuration(FunctionName="busy", MemorySize=1024)
    assert answer["LastUpdateStatus"] == "InProgress"
    for second_update in (
        lambda: lambda_.update_function_configuration(FunctionName="busy", Timeout=30),
        lambda: lambda_.update_function_code(FunctionName="busy", ZipFile=b"PK\x05\x06" + b"\x00" * 18),
        lambda: lambda_.publish_version(FunctionName="busy"),
    ):
        with pytest.raises(ClientError) as excinfo:
            second_update()
        assert error_code(excinfo) == "ResourceConflictException"
        assert "An update is in progress" in str(excinfo.value)
    assert configuration(lambda_, "busy")["LastUpdateStatus"] == "InProgress"
    assert lambda_.get_function_configuration(FunctionName="busy")["LastUpdateStatus"] == "InProgress"
    assert configuration(lambda_, "busy")["LastUpdateStatus"] == "Successful"
    assert lambda_.update_function_configuration(FunctionName="busy", Timeout=30)["LastUpdateStatus"] == "InProgress"
    lambda_.get_waiter("function_updated_v2").wait(FunctionName="busy", WaiterConfig=WAIT)
    assert (configuration(lambda_, "busy")["MemorySize"], configuration(lambda_, "busy")["Timeout"]) == (1024, 30)
    seen = lambda_states.history("busy")
    assert seen[seen.index("updated"):] == [
        "updated", *["refused ResourceConflictException"] * 3, "read InProgress", "read InProgress", "read Successful",
        "updated", "read InProgress", "read InProgress", "read Successful", "read Successful", "read Successful"]


def test_an_update_can_last_a_number_of_seconds_instead(aws, make_function):
    make_function("slow", active=True)
    lambda_states.configure(seconds=3600)
    lambda_ = aws.client("lambda")
    lambda_.update_function_configuration(FunctionName="slow", MemorySize=1024)
    assert [configuration(lambda_, "slow")["LastUpdateStatus"] for _ in range(5)] == ["InProgress"] * 5


def test_an_accepted_update_can_end_failed_with_its_reason(aws, make_function):
    make_function("doomed", active=True)
    lambda_ = aws.client("lambda")
    lambda_states.fail_next_update("doomed", reason="The subnets have no free IP addresses.",
                                   code="SubnetOutOfIPAddresses")
    assert lambda_.update_function_configuration(FunctionName="doomed", MemorySize=1024)["LastUpdateStatus"] == \
        "InProgress"
    with pytest.raises(WaiterError) as excinfo:
        lambda_.get_waiter("function_updated_v2").wait(FunctionName="doomed", WaiterConfig=WAIT)
    assert "terminal failure state" in str(excinfo.value)
    read = configuration(lambda_, "doomed")
    assert (read["LastUpdateStatus"], read["LastUpdateStatusReasonCode"], read["LastUpdateStatusReason"]) == (
        "Failed", "SubnetOutOfIPAddresses", "The subnets have no free IP addresses.")
    assert read["MemorySize"] == 1024
    # Only that update fails: the function can be updated again, and the failure's reason goes with it.
    lambda_.update_function_configuration(FunctionName="doomed", Timeout=30)
    lambda_.get_waiter("function_updated_v2").wait(FunctionName="doomed", WaiterConfig=WAIT)
    read = configuration(lambda_, "doomed")
    assert (read["LastUpdateStatus"], read["Timeout"]) == ("Successful", 30)
    assert not {"LastUpdateStatusReason", "LastUpdateStatusReasonCode"} & set(read)


def test_revision_id_changes_with_each_update_and_a_stale_one_is_refused(aws, make_function):
    make_function("revised", active=True)
    lambda_ = aws.client("lambda")
    first = configuration(lambda_, "revised")["RevisionId"]
    assert lambda_.list_functions()["Functions"][0]["RevisionId"] == first
    lambda_.update_function_configuration(FunctionName="revised", MemorySize=1024, RevisionId=first)
    lambda_.get_waiter("function_updated_v2").wait(FunctionName="revised", WaiterConfig=WAIT)
    second = configuration(lambda_, "revised")["RevisionId"]
    assert second != first
    with pytest.raises(ClientError) as excinfo:
        lambda_.update_function_configuration(FunctionName="revised", MemorySize=512, RevisionId=first)
    assert error_code(excinfo) == "PreconditionFailedException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert configuration(lambda_, "revised")["MemorySize"] == 1024


def test_another_clients_update_can_land_just_before_the_next_one(aws, make_function):
    make_function("contended", active=True)
    lambda_ = aws.client("lambda")
    revision = configuration(lambda_, "contended")["RevisionId"]
    lambda_states.update_before_next("contended", {"MemorySize": 2048})
    with pytest.raises(ClientError) as excinfo:
        lambda_.update_function_configuration(FunctionName="contended", MemorySize=1024, RevisionId=revision)
    assert error_code(excinfo) == "PreconditionFailedException"
    assert configuration(lambda_, "contended")["MemorySize"] == 2048
    assert lambda_states.history("contended")[-3:] == [
        "updated by another client", "refused PreconditionFailedException", "read Successful"]


def test_another_clients_update_can_begin_just_before_the_next_one(aws, make_function):
    make_function("raced", active=True)
    lambda_ = aws.client("lambda")
    revision = configuration(lambda_, "raced")["RevisionId"]
    lambda_states.conflict_before_next("raced", {"Description": "deployed by another team"}, refusals=2)

    def update() -> str:
        with pytest.raises(ClientError) as excinfo:
            lambda_.update_function_configuration(FunctionName="raced", MemorySize=1024, RevisionId=revision)
        return error_code(excinfo)

    assert [update(), update()] == ["ResourceConflictException"] * 2
    # Done after the requests it refused, with a revision of its own: the same request now names a stale one.
    assert update() == "PreconditionFailedException"
    read = configuration(lambda_, "raced")
    assert (read["LastUpdateStatus"], read["Description"], read["MemorySize"]) == (
        "Successful", "deployed by another team", 128)
    assert lambda_states.history("raced")[-5:] == [
        "updated by another client", *["refused ResourceConflictException"] * 2, "refused PreconditionFailedException",
        "read Successful"]


def test_another_clients_update_can_be_in_progress(aws, make_function):
    make_function("deploying", active=True)
    lambda_ = aws.client("lambda")
    lambda_states.begin_update("deploying", {"Description": "deployed by another team"})
    read = configuration(lambda_, "deploying")
    assert (read["LastUpdateStatus"], read["Description"]) == ("InProgress", "deployed by another team")


@pytest.mark.parametrize("state", ["Inactive", "Failed"])
def test_a_function_can_be_inactive_or_failed(aws, make_function, state):
    make_function("idle", active=True)
    lambda_states.set_state("idle", state, reason="reason given by Lambda")
    read = configuration(aws.client("lambda"), "idle")
    assert (read["State"], read["StateReason"]) == (state, "reason given by Lambda")


def test_an_environment_lambda_cannot_decrypt_is_an_error_without_variables(aws, make_function):
    make_function("sealed", active=True, Environment={"Variables": {"STAGE": "dev"}})
    lambda_ = aws.client("lambda")
    lambda_states.break_environment("sealed")
    for seen in (configuration(lambda_, "sealed"), lambda_.list_functions()["Functions"][0]):
        assert "Variables" not in seen["Environment"]
        assert seen["Environment"]["Error"]["ErrorCode"] == "KMSAccessDeniedException"


def test_a_reservation_below_the_provisioned_concurrency_is_refused(aws, make_function):
    """Lambda developer guide, "Configuring provisioned concurrency": provisioned concurrency counts towards a
    function's reserved concurrency, and "you can't allocate more provisioned concurrency than reserved concurrency
    for a function". So PutFunctionConcurrency below what the function's aliases and versions hold provisioned is
    refused with InvalidParameterValueException (the PutFunctionConcurrency API reference's error for a parameter
    Lambda does not take), and a reservation equal to it is accepted. (The emulator's patch: lambda_concurrency.py,
    reservation_covers_provisioned.)"""
    make_function("provisioned", active=True)
    lambda_ = aws.client("lambda")
    version = lambda_.publish_version(FunctionName="provisioned")["Version"]
    lambda_.create_alias(FunctionName="provisioned", Name="live", FunctionVersion=version)
    lambda_.put_provisioned_concurrency_config(FunctionName="provisioned", Qualifier="live",
                                               ProvisionedConcurrentExecutions=20)
    with pytest.raises(ClientError) as excinfo:
        lambda_.put_function_concurrency(FunctionName="provisioned", ReservedConcurrentExecutions=19)
    assert error_code(excinfo) == "InvalidParameterValueException"
    assert lambda_.put_function_concurrency(FunctionName="provisioned",
                                            ReservedConcurrentExecutions=20)["ReservedConcurrentExecutions"] == 20
