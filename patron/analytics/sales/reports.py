"""The sales and product reports, built from the repository's figures for a period."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics.period import InvalidPeriod, ReportPeriod, ReportTimeout
from patron.analytics.sales import repository
from patron.analytics.sales.repository import ProductPair, ProductReturns, TopProduct
from patron.db.timeouts import statement_timeout
from patron.models import Channel

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
NO_CHANNEL = "No channel"
TOP_LIMIT = 10
MAX_LIMIT = 100
# orders with more distinct products than this are left out of the pairs (a wholesale order
# of 200 products would add 19,900 pairs and say little about what goes together)
MAX_BASKET_PRODUCTS = 30


@dataclass
class Figures:
    """Sales figures of a day, a bucket, a channel or a whole period (shop currency)."""

    orders: int = 0
    gross_sales: Decimal = ZERO
    discounts: Decimal = ZERO
    shipping: Decimal = ZERO
    tax: Decimal = ZERO
    revenue: Decimal = ZERO
    refunds: Decimal = ZERO
    net_revenue: Decimal = ZERO
    units: int = 0
    returns: int = 0
    returned_units: int = 0

    @property
    def average_order_value(self) -> Decimal:
        if not self.orders:
            return ZERO.quantize(CENT)
        return (self.revenue / self.orders).quantize(CENT)

    def add(self, values: dict[str, Any]) -> None:
        self.orders += int(values["orders_count"])
        self.gross_sales += values["gross_sales"]
        self.discounts += values["discounts"]
        self.shipping += values["shipping"]
        self.tax += values["tax"]
        self.revenue += values["gross_revenue"]
        self.refunds += values["refunds"]
        self.net_revenue += values["net_revenue"]
        self.units += int(values["units"])
        self.returns += int(values["returns_count"])
        self.returned_units += int(values["returned_units"])

    def as_dict(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**values, "average_order_value": self.average_order_value}


COMPARED = (
    "revenue",
    "net_revenue",
    "orders",
    "average_order_value",
    "units",
    "refunds",
    "returns",
)


@dataclass(frozen=True)
class Change:
    current: Decimal
    previous: Decimal
    absolute: Decimal
    percent: Decimal | None  # None when the previous period had nothing to compare with

    @property
    def direction(self) -> str:
        return "up" if self.absolute > 0 else "down" if self.absolute < 0 else "flat"


def change(current: Decimal | int, previous: Decimal | int) -> Change:
    now, before = Decimal(current), Decimal(previous)
    percent = None if before == 0 else ((now - before) / before * 100).quantize(Decimal("0.1"))
    return Change(now, before, now - before, percent)


def compare(current: Figures, previous: Figures) -> dict[str, Change]:
    now, before = current.as_dict(), previous.as_dict()
    return {name: change(now[name], before[name]) for name in COMPARED}


@dataclass
class ChannelFigures:
    channel_id: uuid.UUID | None
    name: str
    figures: Figures


@dataclass
class SalesReport:
    period: ReportPeriod
    channel: Channel | None
    currency: str
    totals: Figures
    previous_totals: Figures
    changes: dict[str, Change]
    buckets: list[tuple[date, Figures]]
    channels: list[ChannelFigures] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.totals.orders == 0 and self.totals.refunds == 0 and self.totals.returns == 0


async def channel_of(db: AsyncSession, period: ReportPeriod) -> Channel | None:
    """The channel the period names, or None for every channel; an unknown one is an error."""
    if period.channel is None:
        return None
    found = await repository.channel_matching(db, period.channel)
    if found is None:
        raise InvalidPeriod(
            f"There is no sales channel '{period.channel}'.",
            details=[{"field": "channel", "value": period.channel}],
        )
    return found


async def totals(db: AsyncSession, period: ReportPeriod, channel: Channel | None) -> Figures:
    figures = Figures()
    for row in await repository.daily_figures(
        db, first=period.start, last=period.end, channel_id=channel.id if channel else None
    ):
        figures.add(row.figures)
    return figures


async def sales_report(db: AsyncSession, period: ReportPeriod, *, currency: str) -> SalesReport:
    channel = await channel_of(db, period)
    channel_id = channel.id if channel else None
    rows = await repository.daily_figures(
        db, first=period.start, last=period.end, channel_id=channel_id
    )
    buckets = {start: Figures() for start in period.buckets()}
    by_channel: dict[uuid.UUID | None, Figures] = {}
    current = Figures()
    for row in rows:
        buckets[period.bucket_of(row.day)].add(row.figures)
        by_channel.setdefault(row.channel_id, Figures()).add(row.figures)
        current.add(row.figures)
    previous = await totals(db, period.previous(), channel)
    names = {c.id: c.name for c in await repository.channels(db)}
    channels = sorted(
        (
            ChannelFigures(key, names.get(key, NO_CHANNEL) if key else NO_CHANNEL, figures)
            for key, figures in by_channel.items()
        ),
        key=lambda c: (-c.figures.revenue, c.name.lower()),
    )
    return SalesReport(
        period=period,
        channel=channel,
        currency=currency,
        totals=current,
        previous_totals=previous,
        changes=compare(current, previous),
        buckets=list(buckets.items()),
        channels=channels,
    )


@dataclass
class ProductsReport:
    period: ReportPeriod
    channel: Channel | None
    currency: str
    top: list[TopProduct]
    returns: list[ProductReturns]
    pairs: list[ProductPair]

    @property
    def empty(self) -> bool:
        return not self.top


def return_rate(row: ProductReturns) -> Decimal:
    """Returned units per unit sold, as a percentage."""
    return (Decimal(row.returned) / Decimal(row.sold) * 100).quantize(Decimal("0.1"))


async def products_report(
    db: AsyncSession,
    period: ReportPeriod,
    *,
    currency: str,
    sort: str = "revenue",
    limit: int = TOP_LIMIT,
    timeout_seconds: float | None = None,
) -> ProductsReport:
    """The products report; with ``timeout_seconds``, its queries give up after that long
    (``report_timeout``)."""
    channel = await channel_of(db, period)
    window: dict[str, Any] = {
        "since": period.since,
        "until": period.until,
        "channel_id": channel.id if channel else None,
        "limit": limit,
    }
    limited: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
    if timeout_seconds is not None:
        seconds = timeout_seconds
        limited = statement_timeout(db, round(seconds * 1000), lambda: ReportTimeout(seconds))
    async with limited:
        top = await repository.top_products(db, sort=sort, **window)
        returns = await repository.product_returns(db, **window)
        pairs = await repository.product_pairs(db, max_products=MAX_BASKET_PRODUCTS, **window)
    return ProductsReport(period, channel, currency, top, returns, pairs)
