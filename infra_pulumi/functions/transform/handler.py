"""transform: enriches the records api-handler accepted with derived fields.

Each record gains its currency normalised to upper case (DEFAULT_CURRENCY when it has none), its amount
in whole cents and the UTC time it was processed, which batch-processor uses as the table's range key.
"""

import os
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from lambdaopt_shared import emit_metrics, log_event, records_in, validate_record


def to_cents(amount: int | float) -> int:
    """The amount in whole cents, rounding half a cent up.

    Computed in decimal from str(amount), a float's shortest form (19.99, not 19.989999...), so 19.99
    gives 1999 and 0.1 + 0.2 gives 30, as a person would expect.
    """
    return int(Decimal(str(amount)).scaleb(2).to_integral_value(rounding=ROUND_HALF_UP))


def timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with a fixed width, so the strings sort in time order as the table's range key."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def enrich(record: dict, processed_at: str, default_currency: str) -> dict:
    """A copy of the record with its normalised currency, amount in cents and processing time."""
    validate_record(record)
    return {
        **record,
        "currency": record.get("currency", default_currency).upper(),
        "amount_cents": to_cents(record["amount"]),
        "processed_at": processed_at,
    }


def handler(event, context):
    records = []  # the records an unexpected failure loses, once they are known
    try:
        records = records_in(event)
        processed_at = timestamp(datetime.now(UTC))
        default_currency = os.environ.get("DEFAULT_CURRENCY", "USD")
        enriched = [enrich(record, processed_at, default_currency) for record in records]
    except Exception as error:
        # Re-raised so Lambda counts the failure and an asynchronous event can reach a dead-letter queue.
        log_event("ERROR", "enriching records failed", error=repr(error), records=len(records))
        emit_metrics({"RecordsProcessed": 0, "RecordsFailed": len(records)})
        raise
    log_event("INFO", "enriched records", count=len(enriched))
    emit_metrics({"RecordsProcessed": len(enriched), "RecordsFailed": 0})
    return {"records": enriched}
