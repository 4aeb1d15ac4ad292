"""Logs Insights' statistics by day (`bin(1d)`): the days combine into the window's figures, and give the daily max
memory used that the trend guard fits, as the log events do - against rows shaped as GetQueryResults returns them."""

from datetime import UTC, datetime

import boto3
import pytest
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import metrics as lambda_metrics
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import report_lines
from botocore.stub import ANY, Stubber

START = datetime(2026, 11, 16, 23, 0, tzinfo=UTC)
END = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
GROUP = "/aws/lambda/leaky-dev"


def day_row(day: str, lines: int, used_mb: float, p99_mb: float, avg_ms: float, max_ms: float, p99_ms: float,
            cold: int = 0, avg_init: float | None = None, group: str = GROUP, owner: str = "") -> list:
    """One row of INSIGHTS_QUERY's answer: one source's REPORT lines of one day, memory in bytes."""
    fields = {"@log": f"123456789012:{group}", "owner": owner, "bin(1d)": f"{day} 00:00:00.000",
              "report_lines": lines, "max_memory": used_mb * 1e6, "p99_memory": p99_mb * 1e6,
              "avg_duration": avg_ms, "max_duration": max_ms, "p99_duration": p99_ms, "p999_duration": max_ms,
              "avg_billed": avg_ms + 1, "cold_starts": cold, "avg_init": avg_init, "max_init": avg_init,
              "memory_size": 3008e6}
    return [{"field": key, "value": str(value)} for key, value in fields.items() if value is not None]


def test_the_days_combine_into_the_windows_figures_and_give_the_daily_maxima():
    rows = [day_row("2026-11-16", 10, 150, 148, 100.0, 180, 170, cold=2, avg_init=200.0),  # the partial first day
            day_row("2026-11-17", 30, 162, 160, 120.0, 210, 200, cold=1, avg_init=260.0),
            day_row("2026-11-18", 60, 175, 171, 110.0, 190, 185)]
    stats = report_lines.stats_from_insights(rows, START)[GROUP]
    assert stats.report_lines == 100 and stats.cold_starts == 3
    assert stats.max_memory_used_mb == 175 and stats.max_duration_ms == 210 and stats.memory_size_mb == 3008
    assert stats.avg_duration_ms == pytest.approx((10 * 100 + 30 * 120 + 60 * 110) / 100, abs=0.01)
    assert stats.avg_init_duration_ms == pytest.approx((2 * 200 + 260) / 3, abs=0.01)
    # A percentile is the largest of the days' (never below the window's own).
    assert stats.p99_memory_used_mb == 171 and stats.p99_duration_ms == 200
    # Days from the window's start: the first, partial day counts as day 0.
    assert stats.daily_max_memory_mb == ((0.0, 150), (0.042, 162), (1.042, 175))


def test_rows_without_a_day_give_no_daily_series():
    row = [cell for cell in day_row("2026-11-17", 30, 162, 160, 120.0, 210, 200) if cell["field"] != "bin(1d)"]
    stats = report_lines.stats_from_insights([row], START)[GROUP]
    assert stats.report_lines == 30 and stats.daily_max_memory_mb == ()


def test_an_answer_that_fills_every_row_insights_returns_is_not_trusted():
    rows = [day_row("2026-11-17", 1, 100, 100, 1.0, 1, 1, group=f"/aws/lambda/f{index}")
            for index in range(report_lines.INSIGHTS_MAX_ROWS)]
    with pytest.raises(ValueError, match="some may be missing"):
        report_lines.stats_from_insights(rows, START)


def test_a_shared_groups_days_are_per_function():
    rows = [day_row("2026-11-17", 5, 300, 300, 10.0, 10, 10, group="/shared/pipeline", owner="a-dev"),
            day_row("2026-11-18", 5, 320, 320, 10.0, 10, 10, group="/shared/pipeline", owner="a-dev"),
            day_row("2026-11-17", 5, 90, 90, 10.0, 10, 10, group="/shared/pipeline", owner="b-dev")]
    stats = report_lines.stats_from_insights(rows, START)
    assert stats["/shared/pipeline[a-dev]"].daily_max_memory_mb == ((0.042, 300), (1.042, 320))
    assert stats["/shared/pipeline[b-dev]"].daily_max_memory_mb == ((0.042, 90),)


def test_fetch_report_stats_reads_the_daily_series_through_insights():
    client = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        stubber.add_response("start_query", {"queryId": "q-1"}, {
            "logGroupNames": [GROUP], "startTime": ANY, "endTime": ANY, "queryString": report_lines.INSIGHTS_QUERY})
        stubber.add_response("get_query_results", {"status": "Complete", "results": [
            day_row(f"2026-11-{17 + day}", 20, 150 + 12 * day, 150, 100.0, 150, 140) for day in range(5)]},
            {"queryId": "q-1"})
        stats = lambda_metrics.fetch_report_stats(client, [GROUP], START, END, insights="always", poll_seconds=0)
        stubber.assert_no_pending_responses()
    read = stats[GROUP]
    assert read.source == lambda_metrics.INSIGHTS_SOURCE and read.report_lines == 100
    assert [used for _, used in read.daily_max_memory_mb] == [150, 162, 174, 186, 198]
