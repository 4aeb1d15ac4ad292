"""The three stages chained as in the pipeline: what one returns is what the next one takes."""

import json

import pytest

from tests.handlers.emf import metric_values, printed
from tests.handlers.table import expect_write


@pytest.fixture
def running_as(monkeypatch):
    """The environment fleet.yaml gives the functions, with each function's name as Lambda sets it."""
    monkeypatch.setenv("METRICS_NAMESPACE", "lambdaopt/pipeline-test")
    monkeypatch.setenv("DEFAULT_CURRENCY", "USD")

    def as_function(name: str):
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", f"{name}-dev")
    return as_function


def test_posted_records_reach_the_table_enriched(api_handler, transform, batch_processor, table, running_as, capsys):
    body = json.dumps([{"id": "r-1", "amount": 19.99, "currency": "eur"}, {"id": "r-2", "amount": 0.5}])

    running_as("api-handler")
    accepted = json.loads(api_handler.handler({"body": body}, None)["body"])
    running_as("transform")
    enriched = transform.handler(accepted, None)
    processed_at = enriched["records"][0]["processed_at"]
    expect_write(table, [
        {"PutRequest": {"Item": {
            "id": {"S": "r-1"}, "timestamp": {"S": processed_at}, "amount": {"N": "19.99"},
            "currency": {"S": "EUR"}, "amount_cents": {"N": "1999"}, "processed_at": {"S": processed_at},
        }}},
        {"PutRequest": {"Item": {
            "id": {"S": "r-2"}, "timestamp": {"S": processed_at}, "amount": {"N": "0.5"},
            "currency": {"S": "USD"}, "amount_cents": {"N": "50"}, "processed_at": {"S": processed_at},
        }}},
    ])
    running_as("batch-processor")
    assert batch_processor.handler(enriched, None) == {"records": 2, "batches": 1}

    _, metrics = printed(capsys)
    assert [(document["FunctionName"], metric_values(document)["RecordsProcessed"]) for document in metrics] == [
        ("api-handler-dev", 2), ("transform-dev", 2), ("batch-processor-dev", 2),
    ]
    assert {document["_aws"]["CloudWatchMetrics"][0]["Namespace"] for document in metrics} == {
        "lambdaopt/pipeline-test"}
