"""nightly-cleanup: picks the batches older than the retention period for removal."""

import os
from datetime import UTC, datetime, timedelta

from lambdaopt_shared import log_event


def expired(batches: list, now: datetime, retention_days: int) -> list:
    """Ids of the batches created before now - retention_days."""
    cutoff = now - timedelta(days=retention_days)
    return [batch["id"] for batch in batches if datetime.fromisoformat(batch["created_at"]) < cutoff]


def handler(event, context):
    retention_days = int(os.environ.get("BATCH_RETENTION_DAYS", "30"))
    to_remove = expired(event.get("batches", []), datetime.now(UTC), retention_days)
    log_event("INFO", "selected expired batches", count=len(to_remove))
    return {"expired": to_remove}
