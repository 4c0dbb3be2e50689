"""The period, grain and channel every report is asked for, and its CSV download.

Every report (API and panel) reads ``from``, ``to`` (ISO dates, both included), ``grain``
(day, week or month) and ``channel`` from the query string through :func:`report_period`.
Without dates a report covers the last 30 days up to today (UTC). The previous period is the
same number of days just before, for comparisons.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal, get_args

from fastapi import Query
from fastapi.responses import StreamingResponse

from patron.errors import CRMError
from patron.kit.export import CSV_MEDIA_TYPE, csv_rows_stream
from patron.kit.time import utcnow

Grain = Literal["day", "week", "month"]
GRAINS: tuple[str, ...] = get_args(Grain)
DEFAULT_DAYS = 30
MAX_DAYS = 3660  # ten years
# dates a report can be asked for; beyond them the previous period or the day after the end
# would not exist
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


class InvalidPeriod(CRMError):
    status = 422
    code = "invalid_period"


class ReportTimeout(CRMError):
    """A report's queries took longer than ``PATRON_REPORT_TIMEOUT_SECONDS``."""

    status = 503
    code = "report_timeout"

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"The report took longer than {seconds:g} s to compute; choose a shorter period "
            "or try again later.",
            headers={"Retry-After": "30"},
        )


@dataclass(frozen=True)
class ReportPeriod:
    """Days ``start`` to ``end`` (both included, UTC), bucketed by ``grain``."""

    start: date
    end: date
    grain: Grain = "day"
    channel: str | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def since(self) -> datetime:
        """The first instant of the period."""
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)

    def previous(self) -> ReportPeriod:
        """The period of the same length that ends the day before this one starts."""
        end = self.start - timedelta(days=1)
        return replace(self, start=end - timedelta(days=self.days - 1), end=end)

    def bucket_of(self, day: date) -> date:
        """The first day of the bucket ``day`` falls in (weeks start on Monday)."""
        if self.grain == "week":
            return day - timedelta(days=day.weekday())
        if self.grain == "month":
            return day.replace(day=1)
        return day

    def buckets(self) -> list[date]:
        """Every bucket of the period, in order, so that empty ones show as zero."""
        seen: list[date] = []
        day = self.start
        while day <= self.end:
            bucket = self.bucket_of(day)
            if not seen or seen[-1] != bucket:
                seen.append(bucket)
            day += timedelta(days=1)
        return seen

    def query(self) -> dict[str, str]:
        """The query-string parameters that ask for this period again (links, downloads)."""
        params = {"from": self.start.isoformat(), "to": self.end.isoformat(), "grain": self.grain}
        if self.channel:
            params["channel"] = self.channel
        return params


def _day(value: str | None, name: str) -> date | None:
    if value is None or value.strip() == "":
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidPeriod(
            f"'{value}' is not a date; write {name} as YYYY-MM-DD.",
            details=[{"field": name, "value": value}],
        ) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidPeriod(
            f"Reports cover {FIRST_DAY} to {LAST_DAY}; {name} is {day}.",
            details=[{"field": name, "value": value}],
        )
    return day


def period_of(
    *,
    start: str | None = None,
    end: str | None = None,
    grain: str | None = None,
    channel: str | None = None,
    today: date | None = None,
) -> ReportPeriod:
    """Read a period from query-string values, with clear errors for each mistake."""
    today = today or utcnow().date()
    first, last = _day(start, "from"), _day(end, "to")
    last = last or today
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidPeriod(
            f"The period starts ({first}) after it ends ({last}).",
            details=[{"field": "from", "value": first.isoformat()}],
        )
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidPeriod(
            f"A report covers at most {MAX_DAYS} days; this period has {(last - first).days + 1}.",
            details=[{"field": "to", "value": last.isoformat()}],
        )
    grain = (grain or "day").strip().lower()
    if grain not in GRAINS:
        raise InvalidPeriod(
            f"'{grain}' is not a grain; use one of {', '.join(GRAINS)}.",
            details=[{"field": "grain", "value": grain}],
        )
    chosen = (channel or "").strip() or None
    return ReportPeriod(first, last, grain, chosen)  # type: ignore[arg-type]


def report_period(
    start: Annotated[str | None, Query(alias="from", description="First day, YYYY-MM-DD")] = None,
    end: Annotated[str | None, Query(alias="to", description="Last day, YYYY-MM-DD")] = None,
    grain: Annotated[str | None, Query(description="day, week or month")] = None,
    channel: Annotated[str | None, Query(description="Only this sales channel")] = None,
) -> ReportPeriod:
    """The FastAPI dependency every report route takes."""
    return period_of(start=start, end=end, grain=grain, channel=channel)


def csv_download(
    filename: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]] | AsyncIterable[Sequence[Any]],
) -> StreamingResponse:
    """A report table as a CSV file the browser downloads (formula-safe cells)."""
    return StreamingResponse(
        csv_rows_stream(headers, rows),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
