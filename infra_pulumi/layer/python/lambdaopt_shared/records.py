"""The record format that flows through the pipeline: api-handler → transform → batch-processor."""

import math

REQUIRED_FIELDS = {"id": str, "amount": (int, float)}
# DynamoDB's limit for a partition key, which the id becomes in the data table.
MAX_ID_BYTES = 2048


class RecordError(ValueError):
    """A record that does not follow the pipeline's format."""


def validate_record(record: object) -> dict:
    """Return the record if it is well formed, else raise RecordError naming the problem.

    `currency` is optional (transform supplies the default); when given it is a three-letter ISO 4217 code.
    """
    if not isinstance(record, dict):
        raise RecordError(f"a record must be an object, got {type(record).__name__}")
    for field, kind in REQUIRED_FIELDS.items():
        if field not in record:
            raise RecordError(f"record is missing '{field}'")
        if not isinstance(record[field], kind) or isinstance(record[field], bool):
            raise RecordError(f"record field '{field}' has the wrong type")
    if not record["id"]:
        raise RecordError("record 'id' must not be empty")
    if len(record["id"].encode()) > MAX_ID_BYTES:
        raise RecordError(f"record 'id' must not exceed {MAX_ID_BYTES} bytes")
    # JSON numbers too large for a float (1e400) parse as infinity.
    if isinstance(record["amount"], float) and not math.isfinite(record["amount"]):
        raise RecordError("record 'amount' must be a finite number")
    if record["amount"] < 0:
        raise RecordError("record 'amount' must not be negative")
    if "currency" in record and not _is_currency_code(record["currency"]):
        raise RecordError("record 'currency' must be a three-letter currency code")
    return record


def _is_currency_code(value: object) -> bool:
    return isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha()


def records_in(event: dict) -> list:
    """The records an event from the previous pipeline stage carries."""
    records = event["records"]
    if not isinstance(records, list):
        raise RecordError(f"'records' must be a list, got {type(records).__name__}")
    return records
