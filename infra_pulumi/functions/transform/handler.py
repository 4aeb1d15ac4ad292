"""transform: enriches accepted records with derived fields."""

import os
from datetime import UTC, datetime

from lambdaopt_shared import log_event, validate_record


def enrich(record: dict, now: datetime) -> dict:
    """Return a copy of the record with its normalised currency, cents and processing time."""
    enriched = dict(validate_record(record))
    enriched["currency"] = (record.get("currency") or os.environ.get("DEFAULT_CURRENCY", "USD")).upper()
    enriched["amount_cents"] = round(record["amount"] * 100)
    enriched["processed_at"] = now.isoformat()
    return enriched


def handler(event, context):
    now = datetime.now(UTC)
    records = [enrich(record, now) for record in event.get("records", [])]
    log_event("INFO", "enriched records", count=len(records))
    return {"records": records}
