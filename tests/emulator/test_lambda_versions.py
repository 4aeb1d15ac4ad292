"""Version numbers are never reused (tools/emulator_patches/lambda_versions.py).

Source: Lambda developer guide, "Introduction to AWS Lambda Versioning" (incremental numbers, "never reused, even if
your function gets deleted or re-created"), and "Lambda function versions" (each version has a unique ARN).
"""

WAIT = {"Delay": 1}


def publish_at(lambda_, name: str, memory_size: int) -> str:
    lambda_.update_function_configuration(FunctionName=name, MemorySize=memory_size)
    lambda_.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=WAIT)
    return lambda_.publish_version(FunctionName=name)["Version"]


def versions(lambda_, name: str) -> list:
    return [(version["Version"], version["MemorySize"])
            for version in lambda_.list_versions_by_function(FunctionName=name)["Versions"]]


def test_a_deleted_versions_number_is_not_given_again(aws, make_function):
    make_function("numbered", active=True)
    lambda_ = aws.client("lambda")
    assert [publish_at(lambda_, "numbered", size) for size in (256, 512, 1024)] == ["1", "2", "3"]
    lambda_.delete_function(FunctionName="numbered", Qualifier="3")
    assert publish_at(lambda_, "numbered", 2048) == "4"
    # Deleting a version that is not the last leaves every other one, under its own number.
    lambda_.delete_function(FunctionName="numbered", Qualifier="1")
    assert publish_at(lambda_, "numbered", 128) == "5"
    assert versions(lambda_, "numbered") == [("$LATEST", 128), ("2", 512), ("4", 2048), ("5", 128)]
    lambda_.delete_function(FunctionName="numbered", Qualifier="5")
    assert versions(lambda_, "numbered") == [("$LATEST", 128), ("2", 512), ("4", 2048)]
    assert lambda_.get_function(FunctionName="numbered", Qualifier="2")["Configuration"]["MemorySize"] == 512


def test_publishing_an_unchanged_function_answers_the_last_version(aws, make_function):
    make_function("unchanged", active=True)
    lambda_ = aws.client("lambda")
    first = publish_at(lambda_, "unchanged", 256)
    assert lambda_.publish_version(FunctionName="unchanged")["Version"] == first
    assert versions(lambda_, "unchanged") == [("$LATEST", 256), (first, 256)]
