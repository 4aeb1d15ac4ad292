"""api-handler accepts well-formed records with 202 and rejects malformed requests with 400."""

import base64
import json
import uuid

import pytest

from tests.handlers.emf import metric_values, printed

RECORD = {"id": "r-1", "amount": 19.99, "currency": "eur"}


def post(body: str) -> dict:
    """The API Gateway proxy event of a POST with this body."""
    return {"httpMethod": "POST", "path": "/records", "body": body, "isBase64Encoded": False}


def test_one_record_is_accepted(api_handler, capsys):
    response = api_handler.handler(post(json.dumps(RECORD)), None)

    assert response["statusCode"] == 202
    assert response["headers"]["Content-Type"] == "application/json"
    body = json.loads(response["body"])
    assert uuid.UUID(body["batch_id"])
    assert body["records"] == [RECORD]
    assert body["count"] == 1
    logs, (metrics,) = printed(capsys)
    assert logs == [{"level": "INFO", "message": "accepted records", "batch_id": body["batch_id"], "count": 1}]
    assert metric_values(metrics) == {"RecordsProcessed": 1, "RecordsFailed": 0, "RequestsRejected": 0}


def test_a_list_of_records_is_accepted_with_a_fresh_batch_id(api_handler, capsys):
    records = [RECORD, {"id": "r-2", "amount": 5}, {"id": "r-3", "amount": 0, "note": {"tags": ["x"]}}]

    first = json.loads(api_handler.handler(post(json.dumps(records)), None)["body"])
    second = json.loads(api_handler.handler(post(json.dumps(records)), None)["body"])

    assert first["records"] == records and first["count"] == 3
    assert first["batch_id"] != second["batch_id"]
    _, metrics = printed(capsys)
    assert [metric_values(document)["RecordsProcessed"] for document in metrics] == [3, 3]


def test_a_base64_encoded_body_is_decoded(api_handler, capsys):
    event = {"body": base64.b64encode(json.dumps(RECORD).encode()).decode(), "isBase64Encoded": True}

    response = api_handler.handler(event, None)

    assert response["statusCode"] == 202
    assert json.loads(response["body"])["records"] == [RECORD]


def test_the_size_limit_comes_from_the_environment(api_handler, monkeypatch, capsys):
    body = json.dumps(RECORD)
    monkeypatch.setenv("MAX_RECORD_BYTES", str(len(body)))
    assert api_handler.handler(post(body), None)["statusCode"] == 202

    monkeypatch.setenv("MAX_RECORD_BYTES", str(len(body) - 1))
    response = api_handler.handler(post(body), None)
    assert response["statusCode"] == 400
    assert json.loads(response["body"]) == {"error": f"request body is larger than {len(body) - 1} bytes"}


@pytest.mark.parametrize(("event", "error"), [
    (post("{not json"), "request body is not valid JSON"),
    (post(""), "request body is not valid JSON"),
    ({"httpMethod": "POST"}, "request body is not valid JSON"),
    (post('{"id": "r-1", "amount": NaN}'), "request body is not valid JSON: NaN is not a JSON value"),
    ({"body": "not base64!", "isBase64Encoded": True}, "request body is not valid base64"),
    # Latin-1, not UTF-8
    ({"body": base64.b64encode('{"id": "\xe9"}'.encode("latin-1")).decode(), "isBase64Encoded": True},
     "request body is not valid JSON"),
    (post(json.dumps({"id": "r-1", "amount": 1, "pad": "x" * 65536})), "request body is larger than 65536 bytes"),
    (post("[]"), "request holds no records"),
    (post("42"), "record 0: a record must be an object, got int"),
    (post(json.dumps([RECORD, "r-2"])), "record 1: a record must be an object, got str"),
    (post(json.dumps({"amount": 1})), "record 0: record is missing 'id'"),
    (post(json.dumps({"id": "r-1"})), "record 0: record is missing 'amount'"),
    (post(json.dumps({"id": 7, "amount": 1})), "record 0: record field 'id' has the wrong type"),
    (post(json.dumps({"id": "r-1", "amount": "1.00"})), "record 0: record field 'amount' has the wrong type"),
    (post(json.dumps({"id": "r-1", "amount": True})), "record 0: record field 'amount' has the wrong type"),
    (post(json.dumps({"id": "", "amount": 1})), "record 0: record 'id' must not be empty"),
    (post(json.dumps({"id": "x" * 2049, "amount": 1})), "record 0: record 'id' must not exceed 2048 bytes"),
    (post(json.dumps({"id": "r-1", "amount": -0.01})), "record 0: record 'amount' must not be negative"),
    (post('{"id": "r-1", "amount": 1e400}'), "record 0: record 'amount' must be a finite number"),
    (post(json.dumps({"id": "r-1", "amount": 1, "currency": "euro"})),
     "record 0: record 'currency' must be a three-letter currency code"),
    (post(json.dumps({"id": "r-1", "amount": 1, "currency": None})),
     "record 0: record 'currency' must be a three-letter currency code"),
    (post(json.dumps([RECORD, {"id": "r-2", "amount": 1}, RECORD])), "record 2: id 'r-1' appears more than once"),
], ids=[
    "bad-json", "empty-body", "no-body", "nan", "bad-base64", "not-utf8", "too-large", "empty-list",
    "not-an-object", "one-bad-in-a-list", "no-id", "no-amount", "id-not-a-string", "amount-a-string",
    "amount-a-bool", "empty-id", "id-too-long", "negative-amount", "infinite-amount", "currency-not-a-code",
    "currency-null", "duplicate-id",
])
def test_malformed_requests_answer_400_without_failing(api_handler, capsys, event, error):
    response = api_handler.handler(event, None)

    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"].startswith(error)
    (log,), (metrics,) = printed(capsys)
    assert log["level"] == "WARNING" and log["reason"].startswith(error)
    assert metric_values(metrics) == {"RecordsProcessed": 0, "RecordsFailed": 0, "RequestsRejected": 1}


def test_an_unexpected_failure_is_logged_counted_and_raised(api_handler, monkeypatch, capsys):
    def broken():
        raise RuntimeError("no entropy")

    monkeypatch.setattr(api_handler.uuid, "uuid4", broken)

    with pytest.raises(RuntimeError, match="no entropy"):
        api_handler.handler(post(json.dumps([RECORD, {"id": "r-2", "amount": 1}])), None)

    (log,), (metrics,) = printed(capsys)
    assert log["level"] == "ERROR" and "no entropy" in log["error"] and log["records"] == 2
    assert metric_values(metrics) == {"RecordsProcessed": 0, "RecordsFailed": 2, "RequestsRejected": 0}


def test_an_event_that_is_not_a_proxy_event_fails_loudly(api_handler, capsys):
    with pytest.raises(AttributeError):
        api_handler.handler(None, None)

    (log,), (metrics,) = printed(capsys)
    assert log["level"] == "ERROR" and "AttributeError" in log["error"]
    assert metric_values(metrics)["RecordsFailed"] == 0
