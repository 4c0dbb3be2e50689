"""The weekly summary email: last week's sales against the week before, to the staff who
chose it. One message per person and week, whatever retries happen."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics.period import ReportPeriod
from patron.analytics.sales import reports
from patron.auth.dependencies import role_scopes
from patron.config import Settings
from patron.mail.service import queue_email
from patron.models import Role, StaffUser

TEMPLATE = "weekly_summary"
TOP_PRODUCTS = 5

_CLAIM = text(
    "INSERT INTO weekly_summary_sent (user_id, week_start) VALUES (:user_id, :week_start)"
    " ON CONFLICT DO NOTHING RETURNING user_id"
)
_NOTE_MESSAGE = text(
    "UPDATE weekly_summary_sent SET message_id = :message_id"
    " WHERE user_id = :user_id AND week_start = :week_start"
)


def last_week(today: date) -> ReportPeriod:
    """Monday to Sunday of the week before ``today``'s: the 7 days up to yesterday when sent
    on a Monday, and still that week for a run that comes late."""
    monday = today - timedelta(days=today.weekday())
    return ReportPeriod(monday - timedelta(days=7), monday - timedelta(days=1), "day")


async def recipients(db: AsyncSession) -> list[StaffUser]:
    """Active people who chose the summary and may still read reports."""
    rows = await db.execute(
        select(StaffUser, Role)
        .join(Role, Role.name == StaffUser.role)
        .where(StaffUser.weekly_summary, StaffUser.is_active, StaffUser.kind == "person")
        .order_by(StaffUser.id)
    )
    return [user for user, role in rows if "reports:read" in role_scopes(role)]


def _money(amount: Any, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def _change(change: reports.Change) -> str:
    if change.percent is None:
        return "new" if change.current else "—"
    arrow = {"up": "▲", "down": "▼", "flat": "="}[change.direction]
    return f"{arrow} {abs(change.percent)}%"


@dataclass(frozen=True)
class Line:
    label: str
    value: str
    change: str
    previous: str


async def summary_context(
    db: AsyncSession, settings: Settings, period: ReportPeriod
) -> dict[str, Any]:
    currency = settings.currency
    sales = await reports.sales_report(db, period, currency=currency)
    top = await reports.products_report(
        db, period, principal=None, currency=currency, limit=TOP_PRODUCTS
    )
    now, before, changes = sales.totals, sales.previous_totals, sales.changes
    lines = [
        Line(
            "Revenue",
            _money(now.revenue, currency),
            _change(changes["revenue"]),
            _money(before.revenue, currency),
        ),
        Line("Orders", str(now.orders), _change(changes["orders"]), str(before.orders)),
        Line(
            "Average order",
            _money(now.average_order_value, currency),
            _change(changes["average_order_value"]),
            _money(before.average_order_value, currency),
        ),
        Line(
            "Refunds",
            _money(now.refunds, currency),
            _change(changes["refunds"]),
            _money(before.refunds, currency),
        ),
    ]
    query = "&".join(f"{key}={value}" for key, value in period.query().items())
    return {
        "start": period.start,
        "end": period.end,
        "lines": lines,
        "top": [(row.title, row.units, _money(row.revenue, currency)) for row in top.top],
        "link": f"{settings.base_url}/reports?{query}",
        "account_link": f"{settings.base_url}/account",
    }


async def send_to(
    db: AsyncSession, settings: Settings, user: StaffUser, *, period: ReportPeriod
) -> bool:
    """Queue this person's summary unless they already have this week's; True if queued."""
    claimed = await db.scalar(_CLAIM, {"user_id": user.id, "week_start": period.start})
    if claimed is None:
        return False
    context = {**await summary_context(db, settings, period), "name": user.name}
    message = await queue_email(
        db, to=user.email, template=TEMPLATE, context=context, user_id=user.id
    )
    await db.execute(
        _NOTE_MESSAGE,
        {"message_id": message.id, "user_id": user.id, "week_start": period.start},
    )
    return True


async def user_ids(db: AsyncSession) -> list[uuid.UUID]:
    return [user.id for user in await recipients(db)]
