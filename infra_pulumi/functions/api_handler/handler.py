"""api-handler: validates records posted to the API and accepts the well-formed ones.

The event is an API Gateway proxy event whose JSON body holds one record or a list of them. A request is
accepted or rejected as a whole, so a client never has to work out which of its records went through:
202 with the batch id and the accepted records (which the transform stage takes as they are), or 400
naming the problem.
"""

import base64
import binascii
import json
import os
import uuid

from lambdaopt_shared import RecordError, emit_metrics, log_event, validate_record


def _parse_body(event: dict) -> object:
    """The JSON document the request carries; RecordError if it is too large or not JSON."""
    body = event.get("body") or ""
    try:
        # API Gateway base64-encodes bodies it does not treat as text.
        raw = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode()
    except binascii.Error as error:
        raise RecordError("request body is not valid base64") from error
    limit = int(os.environ.get("MAX_RECORD_BYTES", "65536"))
    if len(raw) > limit:
        raise RecordError(f"request body is larger than {limit} bytes")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except ValueError as error:  # JSONDecodeError, or UnicodeDecodeError for bytes that are not UTF-8
        raise RecordError(f"request body is not valid JSON: {error}") from error


def _reject_constant(name: str):
    # Python's json reads NaN and Infinity, which are not JSON; refusing them keeps them out of every field.
    raise ValueError(f"{name} is not a JSON value")


def _valid_records(document: object) -> list[dict]:
    """The document's records, if every one is valid and ids are unique; else RecordError naming the first fault."""
    records = document if isinstance(document, list) else [document]
    if not records:
        raise RecordError("request holds no records")
    seen = set()
    for index, record in enumerate(records):
        try:
            validate_record(record)
        except RecordError as error:
            raise RecordError(f"record {index}: {error}") from error
        # The data table keys records by id and processing time, and one batch gets one processing time.
        if record["id"] in seen:
            raise RecordError(f"record {index}: id {record['id']!r} appears more than once")
        seen.add(record["id"])
    return records


def _response(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def handler(event, context):
    records = []  # the records an unexpected failure loses, once they are known
    try:
        records = _valid_records(_parse_body(event))
        batch_id = str(uuid.uuid4())
        response = _response(202, {"batch_id": batch_id, "records": records, "count": len(records)})
    except RecordError as error:
        # The client's mistake, not the function's: answer 400 and let the invocation succeed.
        log_event("WARNING", "rejected request", reason=str(error))
        emit_metrics({"RecordsProcessed": 0, "RecordsFailed": 0, "RequestsRejected": 1})
        return _response(400, {"error": str(error)})
    except Exception as error:
        # Re-raised so Lambda counts the failure (and API Gateway answers 502).
        log_event("ERROR", "handling the request failed", error=repr(error), records=len(records))
        emit_metrics({"RecordsProcessed": 0, "RecordsFailed": len(records), "RequestsRejected": 0})
        raise
    log_event("INFO", "accepted records", batch_id=batch_id, count=len(records))
    emit_metrics({"RecordsProcessed": len(records), "RecordsFailed": 0, "RequestsRejected": 0})
    return response
