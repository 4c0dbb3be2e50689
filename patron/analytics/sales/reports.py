"""The sales and product reports, built from the repository's figures for a period."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import product_rollups
from patron.analytics.customers_repository import visible_customer_ids
from patron.analytics.period import InvalidPeriod, ReportPeriod, ReportTimeout
from patron.analytics.product_rollups import MAX_BASKET_PRODUCTS
from patron.analytics.sales import repository
from patron.analytics.sales.repository import (
    PairsWindow,
    ProductPair,
    ProductReturns,
    TopProduct,
    Window,
)
from patron.auth.principal import Principal
from patron.db.timeouts import statement_timeout
from patron.models import Channel

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
NO_CHANNEL = "No channel"
TOP_LIMIT = 10
MAX_LIMIT = 100
# a period with at most this many orders gets the pairs of its own orders, counted live;
# a larger one the precomputed pairs of the last year (product_rollups.PAIR_DAYS)
LIVE_PAIR_ORDERS = 20_000


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
    # None: the pairs are the period's own; else the precomputed window they come from
    pairs_window: PairsWindow | None = None
    pairs_precomputed: bool = False

    @property
    def empty(self) -> bool:
        return not self.top


def return_rate(row: ProductReturns) -> Decimal:
    """Returned units per unit sold, as a percentage."""
    return (Decimal(row.returned) / Decimal(row.sold) * 100).quantize(Decimal("0.1"))


async def customers_of(db: AsyncSession, principal: Principal | None) -> list[uuid.UUID] | None:
    """The customers whose orders the reader's reports count, or None for everyone's (also
    for no reader: a job's summary)."""
    visible = None if principal is None else visible_customer_ids(principal)
    return None if visible is None else list(await db.scalars(visible))


async def products_report(
    db: AsyncSession,
    period: ReportPeriod,
    *,
    principal: Principal | None,
    currency: str,
    sort: str = "revenue",
    limit: int = TOP_LIMIT,
    timeout_seconds: float | None = None,
    live_pair_orders: int | None = None,
) -> ProductsReport:
    """The products report; with ``timeout_seconds``, its queries give up after that long
    (``report_timeout``).

    A reader who sees every customer gets the top sellers and return rates from the product
    rollup, and the pairs of the period's orders when it has at most ``live_pair_orders``
    (``LIVE_PAIR_ORDERS``),
    else the precomputed ones (``pairs_window`` says which days, as of when). A reader who
    sees only some customers gets all three from those customers' order lines, and so does
    everyone while the product rollup waits for its first fill (an upgraded database).
    """
    channel = await channel_of(db, period)
    customers = await customers_of(db, principal)
    window = Window(period.since, period.until, channel.id if channel else None, customers)
    rolled = customers is None and await product_rollups.filled(db)
    limited: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
    if timeout_seconds is not None:
        seconds = timeout_seconds
        limited = statement_timeout(db, round(seconds * 1000), lambda: ReportTimeout(seconds))
    async with limited:
        top, returns = await repository.product_tables(
            db, window, sort=sort, limit=limit, rolled=rolled
        )
        most = LIVE_PAIR_ORDERS if live_pair_orders is None else live_pair_orders
        if rolled and await repository.orders_in(db, window) > most:
            pairs = await repository.kept_pairs(db, channel_id=window.channel_id, limit=limit)
            kept = await repository.pairs_window(db)
            return ProductsReport(period, channel, currency, top, returns, pairs, kept, True)
        pairs = await repository.product_pairs(
            db, window, limit=limit, max_products=MAX_BASKET_PRODUCTS
        )
    return ProductsReport(period, channel, currency, top, returns, pairs)
