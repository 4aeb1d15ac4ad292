"""batch-processor writes enriched records to the data table with BatchWriteItem (checked through Stubber)."""

import pytest
from botocore.exceptions import ClientError

from tests.handlers.emf import metric_values, printed
from tests.handlers.table import TABLE, expect_write

PROCESSED_AT = "2024-05-01T12:30:00.000000Z"


def enriched(number: int, **fields) -> dict:
    amount = number + 0.99
    return {
        "id": f"r-{number}", "amount": amount, "currency": "USD", "amount_cents": round(amount * 100),
        "processed_at": PROCESSED_AT, **fields,
    }


def put(record: dict) -> dict:
    """The PutRequest the record must become: written out by hand, not by the code under test."""
    return {"PutRequest": {"Item": {
        "id": {"S": record["id"]},
        "timestamp": {"S": PROCESSED_AT},
        "amount": {"N": repr(record["amount"])},
        "currency": {"S": "USD"},
        "amount_cents": {"N": str(record["amount_cents"])},
        "processed_at": {"S": PROCESSED_AT},
    }}}


def test_every_record_is_written_with_the_key_schema_and_attribute_types(batch_processor, table, capsys):
    records = [enriched(1), enriched(2)]
    expect_write(table, [put(records[0]), put(records[1])])

    assert batch_processor.handler({"records": records}, None) == {"records": 2, "batches": 1}

    logs, (metrics,) = printed(capsys)
    assert logs == [{"level": "INFO", "message": "wrote records", "records": 2, "batches": 1}]
    assert metric_values(metrics) == {"RecordsProcessed": 2, "RecordsFailed": 0}


def test_sixty_records_take_three_calls_of_at_most_25(batch_processor, table):
    records = [enriched(number) for number in range(60)]
    for start in (0, 25, 50):
        expect_write(table, [put(record) for record in records[start:start + 25]])

    assert batch_processor.handler({"records": records}, None) == {"records": 60, "batches": 3}


def test_batch_size_comes_from_the_environment_within_dynamodbs_limit(batch_processor, table, monkeypatch):
    records = [enriched(number) for number in range(3)]
    monkeypatch.setenv("BATCH_SIZE", "2")
    expect_write(table, [put(records[0]), put(records[1])])
    expect_write(table, [put(records[2])])

    assert batch_processor.handler({"records": records}, None)["batches"] == 2

    monkeypatch.setenv("BATCH_SIZE", "26")
    with pytest.raises(ValueError, match="between 1 and 25"):
        batch_processor.handler({"records": records}, None)


def test_no_records_make_no_call(batch_processor, table, capsys):
    assert batch_processor.handler({"records": []}, None) == {"records": 0, "batches": 0}

    _, (metrics,) = printed(capsys)
    assert metric_values(metrics) == {"RecordsProcessed": 0, "RecordsFailed": 0}


def test_every_json_type_is_stored_exactly(batch_processor, dynamodb):
    client, stubber = dynamodb
    record = enriched(1, amount=0.1 + 0.2, quantity=3, big=1e16, flag=True, gone=None, note="",
                      tags=["a", 2], meta={"rate": 19.99})
    stubber.add_response("batch_write_item", {}, {"RequestItems": {TABLE: [{"PutRequest": {"Item": {
        "id": {"S": "r-1"},
        "timestamp": {"S": PROCESSED_AT},
        "amount": {"N": "0.30000000000000004"},
        "currency": {"S": "USD"},
        "amount_cents": {"N": "199"},
        "processed_at": {"S": PROCESSED_AT},
        "quantity": {"N": "3"},
        "big": {"N": "1E+16"},
        "flag": {"BOOL": True},
        "gone": {"NULL": True},
        "note": {"S": ""},
        "tags": {"L": [{"S": "a"}, {"N": "2"}]},
        "meta": {"M": {"rate": {"N": "19.99"}}},
    }}}]}})

    batch_processor.write_records(client, TABLE, [record], batch_size=25, sleep=None)  # no retry, so no sleep


def test_unprocessed_items_are_retried_with_growing_waits(batch_processor, dynamodb):
    client, stubber = dynamodb
    records = [enriched(number) for number in range(3)]
    expect_write(stubber, [put(record) for record in records], unprocessed=[put(records[1]), put(records[2])])
    expect_write(stubber, [put(records[1]), put(records[2])], unprocessed=[put(records[2])])
    expect_write(stubber, [put(records[2])])
    waits = []

    batch_processor.write_records(client, TABLE, records, batch_size=25, sleep=waits.append)

    assert waits == [0.05, 0.1]


def test_items_still_unprocessed_after_the_retries_fail_loudly(batch_processor, dynamodb):
    client, stubber = dynamodb
    record = enriched(1)
    for _ in range(batch_processor.MAX_ATTEMPTS):
        expect_write(stubber, [put(record)], unprocessed=[put(record)])
    waits = []

    with pytest.raises(batch_processor.UnwrittenItemsError, match="1 items still unprocessed after 6 attempts"):
        batch_processor.write_records(client, TABLE, [record], batch_size=25, sleep=waits.append)

    assert waits == [0.05, 0.1, 0.2, 0.4, 0.8]


def test_a_table_error_is_logged_counted_and_raised(batch_processor, table, capsys):
    records = [enriched(1), enriched(2)]
    table.add_client_error(
        "batch_write_item", service_error_code="ResourceNotFoundException", service_message="table not found",
        expected_params={"RequestItems": {TABLE: [put(record) for record in records]}},
    )

    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        batch_processor.handler({"records": records}, None)

    (log,), (metrics,) = printed(capsys)
    assert log["level"] == "ERROR" and log["message"] == "writing records failed"
    assert "table not found" in log["error"] and log["records"] == 2
    assert metric_values(metrics) == {"RecordsProcessed": 0, "RecordsFailed": 2}


@pytest.mark.parametrize(("event", "error"), [
    ({"records": [{"id": "r-1", "amount": 1, "currency": "USD"}]}, "has no 'processed_at'"),
    ({"records": [enriched(1, id="")]}, "must not be empty"),
    ({"records": [enriched(1, when=object())]}, "object has no DynamoDB type"),
], ids=["not-enriched", "empty-id", "not-json"])
def test_records_that_cannot_be_stored_fail_before_any_write(batch_processor, table, capsys, event, error):
    with pytest.raises((ValueError, TypeError), match=error):
        batch_processor.handler(event, None)

    (log,), (metrics,) = printed(capsys)
    assert log["level"] == "ERROR"
    assert metric_values(metrics) == {"RecordsProcessed": 0, "RecordsFailed": 1}


def test_without_a_table_name_the_handler_fails_loudly(batch_processor, monkeypatch, capsys):
    monkeypatch.setattr(batch_processor, "_client", object())  # never reached

    with pytest.raises(KeyError, match="TABLE_NAME"):
        batch_processor.handler({"records": [enriched(1)]}, None)

    (log,), (metrics,) = printed(capsys)
    assert log["level"] == "ERROR" and "TABLE_NAME" in log["error"]
    assert metric_values(metrics)["RecordsFailed"] == 1


def test_the_client_is_created_on_first_use_only(batch_processor, monkeypatch):
    created = []
    monkeypatch.setattr(batch_processor, "_client", None)
    monkeypatch.setattr(batch_processor.boto3, "client", lambda service: created.append(service) or service)

    assert batch_processor._dynamodb() == "dynamodb"
    assert batch_processor._dynamodb() == "dynamodb"
    assert created == ["dynamodb"]
