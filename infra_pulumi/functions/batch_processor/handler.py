"""batch-processor: writes the enriched records to the data table (env TABLE_NAME) in batches.

Items are keyed by the record's `id` (hash key) and its `processed_at` time (range key `timestamp`), so
writing the same records again, as a retried invocation does, overwrites them instead of duplicating them.
"""

import os
import time
from decimal import Decimal

import boto3
from lambdaopt_shared import RecordError, emit_metrics, log_event, records_in, validate_record

# BatchWriteItem takes at most 25 put requests.
MAX_BATCH_SIZE = 25
# Unprocessed items mean the table is throttling us: retry them a few times, waiting twice as long each
# time (0.05 s, 0.1 s, ... 0.8 s) so the table can catch up, then fail rather than lose them quietly.
MAX_ATTEMPTS = 6
FIRST_BACKOFF_SECONDS = 0.05


class UnwrittenItemsError(RuntimeError):
    """DynamoDB still left items unprocessed after every retry."""


_client = None  # created on first use, so importing the module needs no AWS credentials or region


def _dynamodb():
    global _client
    if _client is None:
        _client = boto3.client("dynamodb")
    return _client


def batches(items: list, size: int) -> list[list]:
    """Split items into consecutive batches of at most `size` items."""
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH_SIZE}, got {size}")
    return [items[start:start + size] for start in range(0, len(items), size)]


def attribute(value) -> dict:
    """A JSON value in DynamoDB's typed form."""
    if isinstance(value, bool):  # before numbers: a bool is an int in Python
        return {"BOOL": value}
    if isinstance(value, int | float):
        # str() gives a float's shortest exact form (19.99, never 19.989999...); Decimal then spells
        # exponents as boto3 does (1E+16).
        return {"N": str(Decimal(str(value)))}
    if isinstance(value, str):
        return {"S": value}
    if value is None:
        return {"NULL": True}
    if isinstance(value, list):
        return {"L": [attribute(element) for element in value]}
    if isinstance(value, dict):
        return {"M": {name: attribute(element) for name, element in value.items()}}
    raise TypeError(f"{type(value).__name__} has no DynamoDB type")


def to_item(record: dict) -> dict:
    """The enriched record as a table item, keyed by its id and processing time."""
    validate_record(record)
    if not isinstance(record.get("processed_at"), str):
        raise RecordError(f"record {record['id']!r} has no 'processed_at'; was it enriched by transform?")
    return {name: attribute(value) for name, value in {**record, "timestamp": record["processed_at"]}.items()}


def write_batch(client, table_name: str, items: list[dict], *, sleep) -> None:
    """Put up to 25 items with one BatchWriteItem, retrying the items DynamoDB leaves unprocessed."""
    pending = [{"PutRequest": {"Item": item}} for item in items]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        response = client.batch_write_item(RequestItems={table_name: pending})
        pending = response.get("UnprocessedItems", {}).get(table_name, [])
        if not pending:
            return
        if attempt < MAX_ATTEMPTS:
            sleep(FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1))
    raise UnwrittenItemsError(f"{len(pending)} items still unprocessed after {MAX_ATTEMPTS} attempts")


def write_records(client, table_name: str, records: list[dict], *, batch_size: int, sleep) -> int:
    """Write every record to the table; returns how many BatchWriteItem batches that took."""
    grouped = batches([to_item(record) for record in records], batch_size)
    for items in grouped:
        write_batch(client, table_name, items, sleep=sleep)
    return len(grouped)


def handler(event, context):
    records = []  # the records an unexpected failure loses, once they are known
    try:
        records = records_in(event)
        written_batches = write_records(
            _dynamodb(),
            os.environ["TABLE_NAME"],
            records,
            batch_size=int(os.environ.get("BATCH_SIZE", str(MAX_BATCH_SIZE))),
            sleep=time.sleep,
        )
    except Exception as error:
        # Re-raised so Lambda counts the failure and an asynchronous event can reach a dead-letter queue.
        # All its records count as failed: a retry of the event writes every one of them again.
        log_event("ERROR", "writing records failed", error=repr(error), records=len(records))
        emit_metrics({"RecordsProcessed": 0, "RecordsFailed": len(records)})
        raise
    log_event("INFO", "wrote records", records=len(records), batches=written_batches)
    emit_metrics({"RecordsProcessed": len(records), "RecordsFailed": 0})
    return {"records": len(records), "batches": written_batches}
