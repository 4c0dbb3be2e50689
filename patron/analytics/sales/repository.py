"""Every query of the sales and product reports: sales figures from the daily rollup,
products from the order lines of the period."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.models import Channel, SalesDaily

FIGURE_COLUMNS = (
    "orders_count",
    "gross_sales",
    "discounts",
    "shipping",
    "tax",
    "gross_revenue",
    "refunds",
    "net_revenue",
    "units",
    "returns_count",
    "returned_units",
)


@dataclass(frozen=True)
class DayRow:
    day: date
    channel_id: uuid.UUID | None
    figures: dict[str, Decimal | int]


async def channels(db: AsyncSession) -> list[Channel]:
    return list(await db.scalars(select(Channel).order_by(Channel.name)))


async def channel_matching(db: AsyncSession, value: str) -> Channel | None:
    """A channel by its id or its name (case-insensitive)."""
    try:
        by_id = uuid.UUID(value)
    except ValueError:
        by_id = None
    query = select(Channel).where(
        or_(Channel.id == by_id, Channel.name == value) if by_id else Channel.name == value
    )
    return await db.scalar(query)


async def daily_figures(
    db: AsyncSession, *, first: date, last: date, channel_id: uuid.UUID | None = None
) -> list[DayRow]:
    """The rollup's figures per day and channel (currencies added up), oldest first."""
    sums = [func.sum(getattr(SalesDaily, name)).label(name) for name in FIGURE_COLUMNS]
    query = (
        select(SalesDaily.day, SalesDaily.channel_id, *sums)
        .where(SalesDaily.day >= first, SalesDaily.day <= last)
        .group_by(SalesDaily.day, SalesDaily.channel_id)
        .order_by(SalesDaily.day)
    )
    if channel_id is not None:
        query = query.where(SalesDaily.channel_id == channel_id)
    rows = await db.execute(query)
    return [
        DayRow(row.day, row.channel_id, {name: getattr(row, name) for name in FIGURE_COLUMNS})
        for row in rows
    ]


# -- products ------------------------------------------------------------------------------

# the orders of the period (and channel), uncancelled, as "o"
_ORDERS_OF_PERIOD = """
    o.placed_at >= :since AND o.placed_at < :until AND o.cancelled_at IS NULL
    AND (CAST(:channel AS uuid) IS NULL OR o.channel_id = CAST(:channel AS uuid))
"""
# lines without a product (a custom item) are grouped by their title
_PRODUCT_KEY = "coalesce(CAST(l.product_id AS text), 'title:' || l.title)"

_TOP = text(
    f"""
    SELECT min(CAST(l.product_id AS text)) AS product_id,
           coalesce(min(p.title), min(l.title)) AS title,
           sum(l.quantity) AS units,
           round(sum(l.total * o.exchange_rate), 2) AS revenue,
           count(DISTINCT o.id) AS orders
    FROM order_line l
    JOIN shop_order o ON o.id = l.order_id
    LEFT JOIN product p ON p.id = l.product_id
    WHERE {_ORDERS_OF_PERIOD}
    GROUP BY {_PRODUCT_KEY}
    ORDER BY CASE WHEN :sort = 'units' THEN sum(l.quantity) END DESC NULLS LAST,
             sum(l.total * o.exchange_rate) DESC, sum(l.quantity) DESC, 2
    LIMIT :limit
    """  # noqa: S608 (constant fragments, no input)
)

_RETURNS = text(
    f"""
    SELECT min(CAST(l.product_id AS text)) AS product_id,
           coalesce(min(p.title), min(l.title)) AS title,
           sum(l.quantity) AS sold,
           sum(back.units) AS returned
    FROM order_line l
    JOIN shop_order o ON o.id = l.order_id
    LEFT JOIN product p ON p.id = l.product_id
    CROSS JOIN LATERAL (
        SELECT coalesce(sum(rl.quantity), 0) AS units
        FROM return_line rl JOIN order_return rt ON rt.id = rl.return_id
        WHERE rl.order_line_id = l.id AND rt.status <> 'rejected'
    ) back
    WHERE {_ORDERS_OF_PERIOD}
    GROUP BY {_PRODUCT_KEY}
    HAVING sum(back.units) > 0
    ORDER BY sum(back.units) / sum(l.quantity) DESC, sum(back.units) DESC, 2
    LIMIT :limit
    """  # noqa: S608
)

_PAIRS = text(
    f"""
    WITH bought AS (
        SELECT DISTINCT l.order_id, l.product_id
        FROM order_line l JOIN shop_order o ON o.id = l.order_id
        WHERE {_ORDERS_OF_PERIOD} AND l.product_id IS NOT NULL
    ),
    baskets AS (
        SELECT order_id FROM bought GROUP BY order_id
        HAVING count(*) BETWEEN 2 AND :max_products
    ),
    pairs AS (
        SELECT a.product_id AS first_id, b.product_id AS second_id, count(*) AS orders
        FROM baskets
        JOIN bought a ON a.order_id = baskets.order_id
        JOIN bought b ON b.order_id = baskets.order_id AND a.product_id < b.product_id
        GROUP BY a.product_id, b.product_id
        ORDER BY count(*) DESC, a.product_id, b.product_id
        LIMIT :limit
    )
    SELECT CAST(pairs.first_id AS text), first.title, CAST(pairs.second_id AS text), second.title,
           pairs.orders
    FROM pairs
    JOIN product first ON first.id = pairs.first_id
    JOIN product second ON second.id = pairs.second_id
    ORDER BY pairs.orders DESC, first.title, second.title
    """  # noqa: S608
)


@dataclass(frozen=True)
class TopProduct:
    product_id: str | None
    title: str
    units: int
    revenue: Decimal
    orders: int


@dataclass(frozen=True)
class ProductReturns:
    product_id: str | None
    title: str
    sold: int
    returned: int


@dataclass(frozen=True)
class ProductPair:
    first_id: str
    first_title: str
    second_id: str
    second_title: str
    orders: int


def _window(since: datetime, until: datetime, channel_id: uuid.UUID | None) -> dict[str, object]:
    return {"since": since, "until": until, "channel": channel_id}


async def top_products(
    db: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    channel_id: uuid.UUID | None,
    sort: str,
    limit: int,
) -> list[TopProduct]:
    rows = await db.execute(
        _TOP, {**_window(since, until, channel_id), "sort": sort, "limit": limit}
    )
    return [TopProduct(*row) for row in rows]


async def product_returns(
    db: AsyncSession, *, since: datetime, until: datetime, channel_id: uuid.UUID | None, limit: int
) -> list[ProductReturns]:
    rows = await db.execute(_RETURNS, {**_window(since, until, channel_id), "limit": limit})
    return [ProductReturns(*row) for row in rows]


async def product_pairs(
    db: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    channel_id: uuid.UUID | None,
    limit: int,
    max_products: int,
) -> list[ProductPair]:
    rows = await db.execute(
        _PAIRS,
        {**_window(since, until, channel_id), "limit": limit, "max_products": max_products},
    )
    return [ProductPair(*row) for row in rows]
