"""lambda_rightsize and lambda_usage_info against the emulator, with each function's context: an SQS consumer keeps
a memory whose timeout fits its queue's visibility timeout, an API-fronted function is never sized past API
Gateway's integration timeout, and a leaking function is sized for its trend."""

from datetime import timedelta

from tests.collection.usage_histories import PROFILES, with_usage, worst_seconds
from tools import simulator
from tools.usage_model import FunctionConfig, default_end, simulate

AUTO = {"memory_size": "auto", "timeout": "auto"}



def only(result) -> dict:
    (entry,) = result["functions"]
    return entry


def test_an_sqs_consumer_keeps_a_memory_whose_timeout_fits_its_queue(aws, make_function, run_module):
    usage = with_usage(aws, make_function, "consumer-dev", "cpu-bound", timeout=20)
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="jobs-dev", Attributes={"VisibilityTimeout": "20"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("lambda").create_event_source_mapping(EventSourceArn=queue_arn, FunctionName="consumer-dev",
                                                     BatchSize=10)

    unguarded = only(run_module("lambda_rightsize", {"functions": ["consumer-dev"], "context_guards": False,
                                                     **AUTO}, check=True))
    entry = only(run_module("lambda_rightsize", {"functions": ["consumer-dev"], **AUTO}))
    max_duration = max(invocation.duration_ms for invocation in usage.invocations)
    assert worst_seconds(max_duration, 3008, unguarded["after"]["memory_size"]) > 20  # the guard has work to do
    assert entry["status"] == "changed"
    assert unguarded["after"]["memory_size"] < entry["after"]["memory_size"] < 3008
    assert worst_seconds(max_duration, 3008, entry["after"]["memory_size"]) <= 20
    assert entry["after"]["timeout"] <= 20
    (memory,) = [change for change in entry["changes"] if change["field"] == "memory_size"]
    assert memory["context"] == "sqs" and "visibility timeout of queue jobs-dev" in memory["reason"]
    (source,) = entry["context"]["triggers"]["event_sources"]
    assert (source["type"], source["visibility_timeout"], source["batch_size"]) == ("sqs", 20, 10)
    assert any("AWS recommends" in note for note in entry["context"]["notes"])
    configuration = aws.client("lambda").get_function_configuration(FunctionName="consumer-dev")
    assert configuration["MemorySize"] == entry["after"]["memory_size"]


def test_an_api_fronted_function_is_never_sized_past_the_integration_timeout(aws, make_function, run_module):
    usage = with_usage(aws, make_function, "handler-dev", "cpu-bound")
    aws.client("lambda").add_permission(
        FunctionName="handler-dev", StatementId="api", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com", SourceArn="arn:aws:execute-api:us-east-1:123456789012:a1b2c3/*/*/*")
    info = only(run_module("lambda_usage_info", {"functions": ["handler-dev"]}))
    assert info["triggers"]["invokers"] == ["apigateway.amazonaws.com"]

    for integration_timeout in (29, 10):
        entry = only(run_module("lambda_rightsize", {"functions": ["handler-dev"], "usage": [info],
                                                     "api_integration_timeout": integration_timeout, **AUTO},
                                check=True))
        max_duration = max(invocation.duration_ms for invocation in usage.invocations)
        assert worst_seconds(max_duration, 3008, entry["after"]["memory_size"]) <= integration_timeout
    decided = entry["changes"] + entry["refused"]
    assert any(decision.get("context") == "api_gateway" for decision in decided)


def test_a_leaking_function_is_sized_for_its_trend(aws, make_function, run_module):
    usage = with_usage(aws, make_function, "leaky-dev", "leaking")
    info = only(run_module("lambda_usage_info", {"functions": ["leaky-dev"], "logs_insights": "never"}))
    days = info["daily_max_memory_used_mb"]
    assert len(days) >= 13 and days[-1][1] > days[0][1] + 100

    unguarded = only(run_module("lambda_rightsize", {"functions": ["leaky-dev"], "usage": [info],
                                                     "context_guards": False, "memory_size": "auto"}, check=True))
    entry = only(run_module("lambda_rightsize", {"functions": ["leaky-dev"], "usage": [info],
                                                 "memory_size": "auto", "trend_horizon_days": 14}, check=True))

    def two_weeks_on(memory: int):
        """The window and the 14 days after it, at `memory`."""
        return simulate("leaky-dev", PROFILES["leaking"], FunctionConfig(memory, 300),
                        end=default_end() + timedelta(days=14), days=28, traffic_scale=0.25)

    assert not two_weeks_on(entry["after"]["memory_size"]).out_of_memory, "sized for the trend, it lasts the horizon"
    assert two_weeks_on(unguarded["after"]["memory_size"]).out_of_memory, "sized to the window alone, it runs out"
    (memory,) = entry["changes"]
    assert memory["context"] == "trend" and "MB/day" in memory["reason"]
    assert max(invocation.max_memory_used_mb for invocation in usage.invocations) < entry["after"]["memory_size"]


def test_a_stream_consumer_falling_behind_keeps_its_memory(aws, make_function, run_module):
    with_usage(aws, make_function, "reader-dev", "steady-light")
    with_usage(aws, make_function, "keeping-up-dev", "steady-light")
    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName="clicks-dev", ShardCount=1)
    stream_arn = kinesis.describe_stream(StreamName="clicks-dev")["StreamDescription"]["StreamARN"]
    for name in ("reader-dev", "keeping-up-dev"):
        aws.client("lambda").create_event_source_mapping(EventSourceArn=stream_arn, FunctionName=name, BatchSize=100,
                                                         StartingPosition="LATEST")
    simulator.write_iterator_age(aws, "reader-dev", [200.0 * 2 ** day for day in range(14)], default_end())
    simulator.write_iterator_age(aws, "keeping-up-dev", [300.0 - day for day in range(14)], default_end())

    entries = {entry["function_name"]: entry for entry in run_module(
        "lambda_rightsize", {"functions": ["reader-dev", "keeping-up-dev"], "memory_size": "auto"},
        check=True)["functions"]}
    behind, keeping_up = entries["reader-dev"], entries["keeping-up-dev"]
    assert behind["after"]["memory_size"] == 3008
    (refusal,) = behind["refused"]
    assert refusal["context"] == "stream" and "IteratorAge rose" in refusal["reason"]
    (source,) = behind["context"]["triggers"]["event_sources"]
    assert source["type"] == "kinesis" and source["iterator_age_ms"][-1] > source["iterator_age_ms"][0]
    assert keeping_up["after"]["memory_size"] < 3008 and keeping_up["refused"] == []
