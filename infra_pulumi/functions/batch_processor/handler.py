"""batch-processor: groups enriched records into fixed-size batches for the data store."""

import os

from lambdaopt_shared import log_event, validate_record


def batches(records: list, size: int) -> list:
    """Split records into consecutive batches of at most `size` records."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    return [records[start:start + size] for start in range(0, len(records), size)]


def handler(event, context):
    records = [validate_record(record) for record in event.get("records", [])]
    grouped = batches(records, int(os.environ.get("BATCH_SIZE", "25")))
    log_event("INFO", "batched records", records=len(records), batches=len(grouped))
    return {"batches": len(grouped), "records": len(records)}
