"""The record format that flows through the pipeline: api-handler → transform → batch-processor."""

REQUIRED_FIELDS = {"id": str, "amount": (int, float), "currency": str}


class RecordError(ValueError):
    """A record that does not follow the pipeline's format."""


def validate_record(record: object) -> dict:
    """Return the record if it is well formed, else raise RecordError naming the problem."""
    if not isinstance(record, dict):
        raise RecordError(f"a record must be an object, got {type(record).__name__}")
    for field, kind in REQUIRED_FIELDS.items():
        if field not in record:
            raise RecordError(f"record is missing '{field}'")
        if not isinstance(record[field], kind) or isinstance(record[field], bool):
            raise RecordError(f"record field '{field}' has the wrong type")
    if not record["id"]:
        raise RecordError("record 'id' must not be empty")
    if record["amount"] < 0:
        raise RecordError("record 'amount' must not be negative")
    return record
