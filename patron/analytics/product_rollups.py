"""Product rollups for the products report: sales per product and day, and the products most
often bought together.

``product_sales_daily`` has one row per UTC day, channel, order currency and product (lines
without a product are keyed by their title): the lines of the uncancelled orders placed that
day, their units, orders and revenue (shop currency, unrounded), and how many of those units
came back (returns not rejected). Returns count on the day their *order* was placed, so a
period's return rate is "units sold in the period that came back", as the report always said.
The rows of a (day, channel, currency) key are recomputed from the order lines by
:func:`recompute`, which ``rollups.recompute`` calls under its locks for every key an order
change touches (an order's placed day is always among them, so a return refreshes it too).

``product_pair`` holds the most frequent pairs of products in the same order over the last
:data:`PAIR_DAYS` days, for every channel and per channel, recomputed by the nightly job and by
``patron reports rebuild`` (:func:`refresh_pairs`): a long window of baskets is too much work
for a page view. The report answers a period with few orders live and exactly, and a larger
one from this table, saying which window it shows and when it was computed.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics.rollups import _DAY_END, _DAY_START, _FIRST_DAY, _SAME_KEY, _UTC_DAY, Key

# the product, or the title of a custom item: what the report groups lines by
ITEM_KEY = "coalesce(CAST(l.product_id AS text), 'title:' || l.title)"
# the pairs table keeps this many pairs per channel: the most the report shows
PAIRS_KEPT = 100
PAIR_DAYS = 365
# orders with more distinct products than this are left out of the pairs (a wholesale order
# of 200 products would add 19,900 pairs and say little about what goes together)
MAX_BASKET_PRODUCTS = 30

# a line's returned units, as "back.units" (for a few orders: the line's return lines)
_RETURNED_OF_LINE = """
    CROSS JOIN LATERAL (
        SELECT coalesce(sum(rl.quantity), 0) AS units
        FROM return_line rl JOIN order_return rt ON rt.id = rl.return_id
        WHERE rl.order_line_id = l.id AND rt.status <> 'rejected'
    ) back
"""
# the same for every order at once (one pass over the returns)
_RETURNED_OF_ALL = """
    LEFT JOIN (
        SELECT rl.order_line_id, sum(rl.quantity) AS units
        FROM return_line rl JOIN order_return rt ON rt.id = rl.return_id
        WHERE rt.status <> 'rejected'
        GROUP BY rl.order_line_id
    ) back ON back.order_line_id = l.id
"""


def _insert(orders: str, returned: str) -> TextClause:
    """Insert (or replace) the rows of the orders ``orders`` selects as "o" with a ``day``."""
    return text(
        f"""
        INSERT INTO product_sales_daily AS s (
            day, channel_id, currency, item_key, product_id, title, orders_count, units,
            revenue, returned_units)
        SELECT o.day, o.channel_id, o.currency, {ITEM_KEY}, l.product_id, min(l.title),
               count(DISTINCT o.id), sum(l.quantity), sum(l.total * o.exchange_rate),
               coalesce(sum(back.units), 0)
        FROM ({orders}) o
        JOIN order_line l ON l.order_id = o.id
        {returned}
        GROUP BY o.day, o.channel_id, o.currency, {ITEM_KEY}, l.product_id
        ON CONFLICT (day, channel_id, currency, item_key) DO UPDATE SET
            product_id = EXCLUDED.product_id,
            title = EXCLUDED.title,
            orders_count = EXCLUDED.orders_count,
            units = EXCLUDED.units,
            revenue = EXCLUDED.revenue,
            returned_units = EXCLUDED.returned_units
        """  # noqa: S608 (constant fragments, no input)
    )


_GIVEN_KEYS = (
    "SELECT * FROM unnest(CAST(:days AS date[]), CAST(:channels AS uuid[]),"
    " CAST(:currencies AS text[])) AS k(day, channel_id, currency)"
)
_DELETE_KEYS = text(
    f"""
    DELETE FROM product_sales_daily s USING ({_GIVEN_KEYS}) k
    WHERE s.day = k.day AND s.channel_id IS NOT DISTINCT FROM k.channel_id
      AND s.currency = k.currency
    """  # noqa: S608
)
_INSERT_KEYS = _insert(
    f"""
    SELECT o.*, k.day FROM ({_GIVEN_KEYS}) k
    JOIN shop_order o ON o.placed_at >= {_DAY_START} AND o.placed_at < {_DAY_END}
     AND {_SAME_KEY}
    WHERE o.cancelled_at IS NULL
    """,  # noqa: S608
    _RETURNED_OF_LINE,
)

FILL_RANGE = _insert(
    f"""
    SELECT o.*, {_UTC_DAY.format("o.placed_at")} AS day FROM shop_order o
    WHERE o.placed_at >= CAST(:first AS timestamp) AT TIME ZONE 'UTC'
      AND o.placed_at < CAST(CAST(:last AS date) + 1 AS timestamp) AT TIME ZONE 'UTC'
      AND o.cancelled_at IS NULL
    """,  # noqa: S608
    _RETURNED_OF_ALL,
)
"""Every row between ``:first`` and ``:last`` in one statement, without locks or removing
rows: for bulk loads that nothing else writes to meanwhile (the demo shop, the benchmark)."""


async def fill(db: AsyncSession, *, first: date, last: date) -> None:
    """Fill an empty rollup from ``first`` to ``last`` in one statement (``FILL_RANGE``):
    far faster than key by key, but without locks, so a change to an older day made while it
    runs can be missed until a rebuild (the nightly job rebuilds the recent days after it)."""
    await db.execute(FILL_RANGE, {"first": first, "last": last})


async def recompute(db: AsyncSession, keys: Collection[Key]) -> None:
    """Recompute the rows of these (day, channel, currency) keys from the order lines; the
    caller holds the keys' locks (``rollups.recompute``)."""
    if not keys:
        return
    given = {
        "days": [key[0] for key in keys],
        "channels": [key[1] for key in keys],
        "currencies": [key[2] for key in keys],
    }
    await db.execute(_DELETE_KEYS, given)
    await db.execute(_INSERT_KEYS, given)


_UNFILLED_SINCE = text(
    _FIRST_DAY + " WHERE NOT EXISTS (SELECT 1 FROM product_sales_daily)"  # noqa: S608
)


async def unfilled_since(db: AsyncSession) -> date | None:
    """The first order's day when the rollup is empty but orders exist (a database upgraded
    with orders in it), else None."""
    found = await db.scalar(_UNFILLED_SINCE)
    return found if isinstance(found, date) else None


# -- products bought together ---------------------------------------------------------------

# the pairs of the orders "o" that _ORDERS selects; "every" is 1 on the every-channel rows
_PAIR_COUNTS = """
    WITH bought AS (
        SELECT DISTINCT l.order_id, o.channel_id, l.product_id
        FROM order_line l JOIN shop_order o ON o.id = l.order_id
        WHERE o.placed_at >= :since AND o.placed_at < :until AND o.cancelled_at IS NULL
          AND l.product_id IS NOT NULL
    ),
    baskets AS (
        SELECT order_id FROM bought GROUP BY order_id
        HAVING count(*) BETWEEN 2 AND :max_products
    ),
    counted AS (
        SELECT a.channel_id, a.product_id AS first_id, b.product_id AS second_id,
               count(*) AS orders, GROUPING(a.channel_id) AS every
        FROM baskets
        JOIN bought a ON a.order_id = baskets.order_id
        JOIN bought b ON b.order_id = baskets.order_id AND a.product_id < b.product_id
        GROUP BY GROUPING SETS ((a.channel_id, a.product_id, b.product_id),
                                (a.product_id, b.product_id))
    ),
    ranked AS (
        SELECT *, row_number() OVER (
            PARTITION BY every, channel_id ORDER BY orders DESC, first_id, second_id) AS rank
        FROM counted
        WHERE every = 1 OR channel_id IS NOT NULL
    )
"""
# replaces every row (the rows it removes are the ones before the statement)
INSERT_PAIRS = text(
    f"""
    {_PAIR_COUNTS},
    gone AS (DELETE FROM product_pair)
    INSERT INTO product_pair (channel_id, first_id, second_id, orders_count, window_start,
                              window_end, computed_at)
    SELECT CASE WHEN every = 0 THEN channel_id END, first_id, second_id, orders,
           :first, :last, now()
    FROM ranked WHERE rank <= :keep
    """  # noqa: S608
)


def pair_window(today: date) -> tuple[date, date]:
    """The first and last day of the pairs' window that ends ``today``."""
    return today - timedelta(days=PAIR_DAYS - 1), today


def _start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def pair_parameters(today: date) -> dict[str, Any]:
    """``INSERT_PAIRS``'s parameters for the window ending ``today``."""
    first, last = pair_window(today)
    return {
        "since": _start(first),
        "until": _start(last + timedelta(days=1)),
        "first": first,
        "last": last,
        "keep": PAIRS_KEPT,
        "max_products": MAX_BASKET_PRODUCTS,
    }


async def refresh_pairs(db: AsyncSession, *, today: date) -> int:
    """Recompute the pairs of the window ending ``today``; returns how many rows."""
    result = await db.execute(INSERT_PAIRS, pair_parameters(today))
    return int(getattr(result, "rowcount", 0) or 0)
