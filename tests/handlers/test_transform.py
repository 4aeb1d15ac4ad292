"""transform enriches records with their normalised currency, amount in cents and processing time."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.handlers.emf import metric_values, printed


def test_records_are_enriched(transform, capsys):
    before = datetime.now(UTC)
    result = transform.handler({"records": [
        {"id": "r-1", "amount": 19.99, "currency": "eur", "note": "kept"},
        {"id": "r-2", "amount": 7},
    ]}, None)
    after = datetime.now(UTC)

    first, second = result["records"]
    processed_at = first["processed_at"]
    assert first == {
        "id": "r-1", "amount": 19.99, "currency": "EUR", "note": "kept",
        "amount_cents": 1999, "processed_at": processed_at,
    }
    assert second == {"id": "r-2", "amount": 7, "currency": "USD", "amount_cents": 700, "processed_at": processed_at}
    moment = datetime.fromisoformat(processed_at)
    assert moment.utcoffset() == timedelta(0) and processed_at.endswith("Z")
    assert before <= moment <= after
    logs, (metrics,) = printed(capsys)
    assert logs == [{"level": "INFO", "message": "enriched records", "count": 2}]
    assert metric_values(metrics) == {"RecordsProcessed": 2, "RecordsFailed": 0}


def test_the_default_currency_comes_from_the_environment(transform, monkeypatch):
    monkeypatch.setenv("DEFAULT_CURRENCY", "gbp")

    (record,) = transform.handler({"records": [{"id": "r-1", "amount": 1}]}, None)["records"]

    assert record["currency"] == "GBP"


def test_the_input_records_are_left_untouched(transform):
    original = {"id": "r-1", "amount": 1.5, "currency": "usd"}

    transform.handler({"records": [original]}, None)

    assert original == {"id": "r-1", "amount": 1.5, "currency": "usd"}


@pytest.mark.parametrize(("amount", "cents"), [
    (19.99, 1999),
    (0.1 + 0.2, 30),  # 0.30000000000000004
    (1.1 + 2.2, 330),  # 3.3000000000000003
    (0.07, 7),  # 0.07 * 100 == 7.000000000000001
    (1.005, 101),  # half a cent rounds up; round(1.005 * 100) gives 100
    (4.35, 435),  # 4.35 * 100 == 434.99999999999994
    (0, 0),
    (12, 1200),
    (10**20, 10**22),
])
def test_cents_are_exact(transform, amount, cents):
    assert transform.to_cents(amount) == cents


def test_processing_times_are_utc_iso_8601_of_fixed_width(transform):
    paris = timezone(timedelta(hours=2))

    assert transform.timestamp(datetime(2024, 5, 1, 14, 30, tzinfo=paris)) == "2024-05-01T12:30:00.000000Z"
    assert transform.timestamp(datetime(2024, 5, 1, 12, 30, 0, 5, tzinfo=UTC)) == "2024-05-01T12:30:00.000005Z"


@pytest.mark.parametrize(("event", "failed", "error"), [
    ({"records": [{"id": "r-1", "amount": 1}, {"id": "r-2"}]}, 2, "RecordError"),
    ({"records": [{"id": "r-1", "amount": 1, "currency": 840}]}, 1, "RecordError"),
    ({"records": {"id": "r-1", "amount": 1}}, 0, "RecordError"),
    ({}, 0, "KeyError"),
], ids=["record-without-amount", "numeric-currency", "records-not-a-list", "no-records"])
def test_an_unexpected_failure_is_logged_counted_and_raised(transform, capsys, event, failed, error):
    with pytest.raises(Exception) as raised:
        transform.handler(event, None)

    assert type(raised.value).__name__ == error
    (log,), (metrics,) = printed(capsys)
    assert log["level"] == "ERROR" and log["message"] == "enriching records failed"
    assert log["error"].startswith(error) and log["records"] == failed
    assert metric_values(metrics) == {"RecordsProcessed": 0, "RecordsFailed": failed}
