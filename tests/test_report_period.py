"""The period every report reads: defaults, previous period, buckets, links, CSV, errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from patron.analytics.period import (
    DEFAULT_DAYS,
    MAX_DAYS,
    InvalidPeriod,
    ReportPeriod,
    csv_download,
    period_of,
    report_period,
)
from patron.errors import install_error_handlers
from patron.web.errors import render_error_page

TODAY = date(2026, 11, 23)  # a Monday


def test_without_dates_a_report_covers_the_last_30_days_up_to_today() -> None:
    period = period_of(today=TODAY)
    assert (period.start, period.end, period.grain, period.channel) == (
        date(2026, 10, 25),
        TODAY,
        "day",
        None,
    )
    assert period.days == DEFAULT_DAYS


def test_a_period_given_only_its_end_reaches_back_30_days() -> None:
    period = period_of(end="2026-03-31", today=TODAY)
    assert (period.start, period.end) == (date(2026, 3, 2), date(2026, 3, 31))


def test_values_are_trimmed_and_the_grain_is_case_insensitive() -> None:
    period = period_of(start=" 2026-01-01 ", end="2026-01-31", grain=" Week ", channel="  ")
    assert (period.start, period.grain, period.channel) == (date(2026, 1, 1), "week", None)
    assert period_of(channel=" Web shop ", today=TODAY).channel == "Web shop"


def test_both_days_are_included_and_the_instants_are_utc() -> None:
    period = ReportPeriod(date(2026, 2, 1), date(2026, 2, 28))
    assert period.days == 28
    assert period.since == datetime(2026, 2, 1, tzinfo=UTC)
    assert period.until == datetime(2026, 3, 1, tzinfo=UTC)


def test_the_previous_period_has_the_same_length_and_ends_the_day_before() -> None:
    period = ReportPeriod(date(2026, 3, 1), date(2026, 3, 31), "week", "web")
    previous = period.previous()
    assert (previous.start, previous.end) == (date(2026, 1, 29), date(2026, 2, 28))
    assert (previous.grain, previous.channel) == ("week", "web")
    assert ReportPeriod(TODAY, TODAY).previous().start == date(2026, 11, 22)


def test_buckets_cover_the_period_and_start_on_monday_or_the_first() -> None:
    days = ReportPeriod(date(2026, 1, 30), date(2026, 2, 2), "day").buckets()
    assert days == [date(2026, 1, 30), date(2026, 1, 31), date(2026, 2, 1), date(2026, 2, 2)]
    weeks = ReportPeriod(date(2026, 1, 1), date(2026, 1, 20), "week").buckets()
    assert weeks == [date(2025, 12, 29), date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19)]
    months = ReportPeriod(date(2025, 12, 15), date(2026, 2, 1), "month").buckets()
    assert months == [date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)]
    assert ReportPeriod(date(2026, 1, 1), date(2026, 1, 20), "week").bucket_of(
        date(2026, 1, 11)
    ) == date(2026, 1, 5)


def test_the_query_asks_for_the_same_period_again() -> None:
    period = ReportPeriod(date(2026, 1, 1), date(2026, 1, 31), "month", "Web shop")
    assert period.query() == {
        "from": "2026-01-01",
        "to": "2026-01-31",
        "grain": "month",
        "channel": "Web shop",
    }
    assert "channel" not in ReportPeriod(date(2026, 1, 1), date(2026, 1, 31)).query()


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"start": "2026-02-30"}, "from", "'2026-02-30' is not a date; write from as YYYY-MM-DD."),
        ({"end": "31/01/2026"}, "to", "'31/01/2026' is not a date; write to as YYYY-MM-DD."),
        (
            {"start": "2026-02-01", "end": "2026-01-01"},
            "from",
            "The period starts (2026-02-01) after it ends (2026-01-01).",
        ),
        (
            {"start": "2000-01-01", "end": "2026-01-01"},
            "to",
            f"A report covers at most {MAX_DAYS} days; this period has 9498.",
        ),
        ({"grain": "quarter"}, "grain", "'quarter' is not a grain; use one of day, week, month."),
    ],
)
def test_it_refuses_a_bad_period_with_invalid_period(
    values: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(InvalidPeriod) as refused:
        period_of(today=TODAY, **values)
    assert refused.value.code == "invalid_period"
    assert refused.value.status == 422
    assert refused.value.message == message
    assert refused.value.details[0]["field"] == field


def test_the_longest_period_allowed_is_accepted() -> None:
    first = TODAY - timedelta(days=MAX_DAYS - 1)
    period = period_of(start=first.isoformat(), end=TODAY.isoformat(), today=TODAY)
    assert period.days == MAX_DAYS
    with pytest.raises(InvalidPeriod):
        period_of(start=(first - timedelta(days=1)).isoformat(), today=TODAY)


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, render_error_page)

    @app.get("/api/period")
    def show(period: ReportPeriod = Depends(report_period)) -> dict[str, object]:
        return {"query": period.query(), "days": period.days}

    @app.get("/api/download")
    def download() -> object:
        return csv_download("figures.csv", ["name", "revenue"], [["=SUM(A1)", "12.50"]])

    return app


def test_the_dependency_reads_the_query_string_and_answers_errors_as_json() -> None:
    client = TestClient(_app())
    answer = client.get("/api/period", params={"from": "2026-01-01", "to": "2026-01-07"})
    assert answer.json() == {
        "query": {"from": "2026-01-01", "to": "2026-01-07", "grain": "day"},
        "days": 7,
    }
    refused = client.get("/api/period", params={"grain": "hour"})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_period"
    assert refused.json()["error"]["details"][0]["field"] == "grain"


def test_a_csv_download_is_an_attachment_with_formula_safe_cells() -> None:
    response = TestClient(_app()).get("/api/download")
    assert response.headers["content-disposition"] == 'attachment; filename="figures.csv"'
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.lstrip("\ufeff").splitlines()
    assert lines == ["name,revenue", "'=SUM(A1),12.50"]
