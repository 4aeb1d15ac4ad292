"""api-handler: validates records posted to the API and accepts the well-formed ones."""

import json
import os
import uuid

from lambdaopt_shared import RecordError, log_event, validate_record


def _parse_body(event: dict) -> list:
    body = event.get("body") or "[]"
    if len(body.encode()) > int(os.environ.get("MAX_RECORD_BYTES", "65536")):
        raise RecordError("request body is too large")
    parsed = json.loads(body)
    return parsed if isinstance(parsed, list) else [parsed]


def handler(event, context):
    try:
        records = _parse_body(event)
        accepted = [validate_record(record) for record in records]
    except (RecordError, json.JSONDecodeError) as error:
        log_event("WARNING", "rejected request", reason=str(error))
        return {"statusCode": 400, "body": json.dumps({"error": str(error)})}
    batch_id = str(uuid.uuid4())
    log_event("INFO", "accepted records", batch_id=batch_id, count=len(accepted))
    return {"statusCode": 202, "body": json.dumps({"batch_id": batch_id, "accepted": len(accepted)})}
