"""Every query of the sales and product reports: sales figures from the daily rollup;
products from the product rollup, or from the order lines of the period (for a reader who
sees only some customers, and for the pairs of a period with few orders)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics.product_rollups import split_by_months
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

# the orders of the period (and channel, and customers when given), uncancelled, as "o"
_ORDERS_OF_PERIOD = """
    o.placed_at >= :since AND o.placed_at < :until AND o.cancelled_at IS NULL
    AND (CAST(:channel AS uuid) IS NULL OR o.channel_id = CAST(:channel AS uuid))
    AND (CAST(:customers AS uuid[]) IS NULL OR o.customer_id = ANY(CAST(:customers AS uuid[])))
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


def _rolled_rows(table: str, column: str, part: str) -> str:
    """The product rollup's rows of one part of the period (``product_rollups.MonthSplit``)
    and of the channel."""
    return f"""
        SELECT item_key, product_id, title, units, revenue, orders_count, returned_units
        FROM {table}
        WHERE {column} >= :{part}_first AND {column} <= :{part}_last
          AND (CAST(:channel AS uuid) IS NULL OR channel_id = CAST(:channel AS uuid))
    """  # noqa: S608 (constant names, no input)


# the product rollup's rows of the period (and channel), one per product, as "s": its whole
# months from the monthly rows, the days before and after them from the daily rows
_ROLLED = f"""
    SELECT min(CAST(s.product_id AS text)) AS product_id, min(s.title) AS title,
           sum(s.units) AS units, sum(s.revenue) AS revenue, sum(s.orders_count) AS orders,
           sum(s.returned_units) AS returned
    FROM (
        {_rolled_rows("product_sales_daily", "day", "head")}
        UNION ALL {_rolled_rows("product_sales_monthly", "month", "months")}
        UNION ALL {_rolled_rows("product_sales_daily", "day", "tail")}
    ) s
    GROUP BY s.item_key
"""  # noqa: S608
# the product's current title, else the line's (as the queries over the lines)
_TITLE = "coalesce(p.title, s.title)"

# both tables from one pass over the rollup's rows of the period: "top" by revenue (or units)
# and "returns" by return rate, ordered as the queries over the lines order them
_TABLES_ROLLED = text(
    f"""
    WITH s AS MATERIALIZED (
        SELECT s.*, {_TITLE} AS shown
        FROM ({_ROLLED}) s LEFT JOIN product p ON p.id = CAST(s.product_id AS uuid)
    ),
    top AS (
        SELECT 'top' AS tab, row_number() OVER (
            ORDER BY CASE WHEN :sort = 'units' THEN units END DESC NULLS LAST,
                     revenue DESC, units DESC, shown) AS n, *
        FROM s
    ),
    back AS (
        SELECT 'returns' AS tab, row_number() OVER (
            ORDER BY CAST(returned AS numeric) / units DESC, returned DESC, shown) AS n, *
        FROM s WHERE returned > 0
    )
    SELECT tab, product_id, shown, units, round(revenue, 2), orders, returned
    FROM (SELECT * FROM top WHERE n <= :limit UNION ALL SELECT * FROM back WHERE n <= :limit) t
    ORDER BY tab, n
    """  # noqa: S608
)

# the precomputed pairs of every channel (NULL) or one channel
_PAIRS_KEPT = text(
    """
    SELECT CAST(pp.first_id AS text), first.title, CAST(pp.second_id AS text), second.title,
           pp.orders_count
    FROM (
        SELECT first_id, second_id, orders_count FROM product_pair
        WHERE channel_id IS NOT DISTINCT FROM CAST(:channel AS uuid)
        ORDER BY orders_count DESC, first_id, second_id
        LIMIT :limit
    ) pp
    JOIN product first ON first.id = pp.first_id
    JOIN product second ON second.id = pp.second_id
    ORDER BY pp.orders_count DESC, first.title, second.title
    """
)
_PAIRS_WINDOW = text(
    "SELECT min(window_start), max(window_end), max(computed_at) FROM product_pair"
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


@dataclass(frozen=True)
class PairsWindow:
    """The days the precomputed pairs cover, and when they were computed."""

    first: date
    last: date
    computed_at: datetime


@dataclass(frozen=True)
class Window:
    """What the product queries count: a period, a channel, and (for a reader who sees only
    some customers) those customers' orders."""

    since: datetime
    until: datetime
    channel_id: uuid.UUID | None = None
    customers: list[uuid.UUID] | None = None

    @property
    def days(self) -> dict[str, object]:
        """The rollup's days and months of the period (its bounds are UTC midnights)."""
        split = split_by_months(self.since.date(), (self.until - timedelta(days=1)).date())
        return {**split.parameters(), "channel": self.channel_id}

    @property
    def lines(self) -> dict[str, object]:
        return {
            "since": self.since,
            "until": self.until,
            "channel": self.channel_id,
            "customers": self.customers,
        }


async def product_tables(
    db: AsyncSession, window: Window, *, sort: str, limit: int, rolled: bool
) -> tuple[list[TopProduct], list[ProductReturns]]:
    """The best sellers and the highest return rates, from the rollup (``rolled``, one
    statement) or from the order lines."""
    if rolled:
        rows = (
            await db.execute(_TABLES_ROLLED, {**window.days, "sort": sort, "limit": limit})
        ).all()
        return (
            [TopProduct(*row[1:6]) for row in rows if row[0] == "top"],
            [ProductReturns(row[1], row[2], row[3], row[6]) for row in rows if row[0] == "returns"],
        )
    top = await db.execute(_TOP, {**window.lines, "sort": sort, "limit": limit})
    back = await db.execute(_RETURNS, {**window.lines, "limit": limit})
    return (
        [TopProduct(*row) for row in top],
        [ProductReturns(row[0], row[1], int(row[2]), int(row[3])) for row in back],
    )


async def product_pairs(
    db: AsyncSession, window: Window, *, limit: int, max_products: int
) -> list[ProductPair]:
    """The pairs of the period, from its order lines."""
    rows = await db.execute(_PAIRS, {**window.lines, "limit": limit, "max_products": max_products})
    return [ProductPair(*row) for row in rows]


async def kept_pairs(
    db: AsyncSession, *, channel_id: uuid.UUID | None, limit: int
) -> list[ProductPair]:
    """The precomputed pairs of every channel, or of one."""
    rows = await db.execute(_PAIRS_KEPT, {"channel": channel_id, "limit": limit})
    return [ProductPair(*row) for row in rows]


async def pairs_window(db: AsyncSession) -> PairsWindow | None:
    """The precomputed pairs' days and time, or None before the first computation."""
    first, last, computed_at = (await db.execute(_PAIRS_WINDOW)).one()
    if first is None:
        return None
    return PairsWindow(first, last, computed_at)


async def orders_in(db: AsyncSession, window: Window) -> int:
    """How many orders the sales rollup counts in the period's days (and channel)."""
    query = select(func.coalesce(func.sum(SalesDaily.orders_count), 0)).where(
        SalesDaily.day >= window.since.date(), SalesDaily.day < window.until.date()
    )
    if window.channel_id is not None:
        query = query.where(SalesDaily.channel_id == window.channel_id)
    return int(await db.scalar(query) or 0)
