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

``product_sales_monthly`` holds the same figures per UTC month: the sum of the month's daily
rows, recomputed from them (under a lock of its own per month, channel and currency) in the
same transaction whenever one of its days is. A report reads a period's whole months from it
and only the days before the first and after the last whole month from the daily rows
(:func:`split_by_months`), so a year costs about 12 monthly rows per product instead of 365.

A database upgraded with orders from before these tables has them empty until its first
fill: migration 0025 leaves a ``rollup_state`` row with ``filled_at`` NULL, :func:`fill`
sets it, and until then the report reads the order lines (:func:`filled`).

``product_pair`` holds the most frequent pairs of products in the same order over the last
:data:`PAIR_DAYS` days, for every channel and per channel, recomputed by the nightly job and by
``patron reports rebuild`` (:func:`refresh_pairs`): a long window of baskets is too much work
for a page view. The report answers a period with few orders live and exactly, and a larger
one from this table, saying which window it shows and when it was computed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics.day_keys import (
    GIVEN_KEYS,
    LOCK,
    ORDERS_OF_KEY,
    UTC_DAY,
    Key,
    advisory_lock_id,
    given,
    in_days,
)

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


# what an insert replaces in a row already there (daily and monthly alike)
_REPLACED = """
    product_id = EXCLUDED.product_id, title = EXCLUDED.title,
    orders_count = EXCLUDED.orders_count, units = EXCLUDED.units,
    revenue = EXCLUDED.revenue, returned_units = EXCLUDED.returned_units
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
        ON CONFLICT (day, channel_id, currency, item_key) DO UPDATE SET {_REPLACED}
        """  # noqa: S608 (constant fragments, no input)
    )


_DELETE_KEYS = text(
    f"""
    DELETE FROM product_sales_daily s USING ({GIVEN_KEYS}) k
    WHERE s.day = k.day AND s.channel_id IS NOT DISTINCT FROM k.channel_id
      AND s.currency = k.currency
    """  # noqa: S608
)
_INSERT_KEYS = _insert(
    f"SELECT o.*, k.day FROM ({GIVEN_KEYS}) k JOIN shop_order o ON {ORDERS_OF_KEY}",  # noqa: S608
    _RETURNED_OF_LINE,
)

FILL_RANGE = _insert(
    f"""
    SELECT o.*, {UTC_DAY.format("o.placed_at")} AS day FROM shop_order o
    WHERE {in_days("o.placed_at")} AND o.cancelled_at IS NULL
    """,  # noqa: S608
    _RETURNED_OF_ALL,
)
"""Every row between ``:first`` and ``:last`` in one statement, without locks or removing
rows: for bulk loads that nothing else writes to meanwhile (the demo shop, the benchmark).
``FILL_MONTHS`` follows it."""

# the first day of a date's UTC month (dates are UTC days already)
MONTH_OF = "CAST(date_trunc('month', CAST({} AS timestamp)) AS date)"


def _replace_months(months: str) -> TextClause:
    """Make the monthly rows of the (month, channel_id, currency) keys that ``months``
    selects the sums of their daily rows, in one statement: remove the rows of items no
    longer sold in the month, insert the new ones, and update the others whose sums changed
    (one order change alters a few of a month's rows: the rest are not written again)."""
    return text(
        f"""
        WITH mk AS MATERIALIZED ({months}),
        sums AS MATERIALIZED (
            SELECT mk.month, s.channel_id, s.currency, s.item_key, s.product_id,
                   min(s.title) AS title, sum(s.orders_count) AS orders_count,
                   sum(s.units) AS units, sum(s.revenue) AS revenue,
                   sum(s.returned_units) AS returned_units
            FROM mk JOIN product_sales_daily s
              ON s.day >= mk.month AND s.day < CAST(mk.month + interval '1 month' AS date)
             AND s.channel_id IS NOT DISTINCT FROM mk.channel_id AND s.currency = mk.currency
            GROUP BY mk.month, s.channel_id, s.currency, s.item_key, s.product_id
        ),
        gone AS (
            DELETE FROM product_sales_monthly m USING mk
            WHERE m.month = mk.month AND m.channel_id IS NOT DISTINCT FROM mk.channel_id
              AND m.currency = mk.currency
              AND NOT EXISTS (
                  SELECT 1 FROM sums
                  WHERE sums.month = m.month AND sums.currency = m.currency
                    AND sums.channel_id IS NOT DISTINCT FROM m.channel_id
                    AND sums.item_key = m.item_key)
        )
        INSERT INTO product_sales_monthly AS m (
            month, channel_id, currency, item_key, product_id, title, orders_count, units,
            revenue, returned_units)
        SELECT * FROM sums
        ON CONFLICT (month, channel_id, currency, item_key) DO UPDATE SET {_REPLACED}
        WHERE (m.product_id, m.title, m.orders_count, m.units, m.revenue, m.returned_units)
              IS DISTINCT FROM (EXCLUDED.product_id, EXCLUDED.title, EXCLUDED.orders_count,
                                EXCLUDED.units, EXCLUDED.revenue, EXCLUDED.returned_units)
        """  # noqa: S608 (constant fragments, no input)
    )


# the distinct months of the given keys
_MONTHS_OF_KEYS = f"""
    SELECT DISTINCT {MONTH_OF.format("k.day")} AS month, k.channel_id, k.currency
    FROM ({GIVEN_KEYS}) k
"""  # noqa: S608
_REPLACE_MONTHS = _replace_months(_MONTHS_OF_KEYS)

FILL_MONTHS = _replace_months(
    f"""
    SELECT DISTINCT {MONTH_OF.format("day")} AS month, channel_id, currency
    FROM product_sales_daily WHERE day >= :first AND day <= :last
    """  # noqa: S608
)
"""The monthly rows of every month with a daily row between ``:first`` and ``:last``, from
all of the month's daily rows (also the days outside the range), without locks: after
``FILL_RANGE``, for bulk loads."""

# the state row of a rollup that an upgrade left to fill (migration 0025)
STATE = "product_sales"
_MARK_FILLED = text("UPDATE rollup_state SET filled_at = now() WHERE name = :name")
_FILLED = text(
    "SELECT NOT EXISTS (SELECT 1 FROM rollup_state WHERE name = :name AND filled_at IS NULL)"
)
_FIRST_DAY = text(
    f"""
    SELECT {UTC_DAY.format("min(placed_at)")} FROM shop_order
    WHERE EXISTS (SELECT 1 FROM rollup_state WHERE name = :name AND filled_at IS NULL)
    """  # noqa: S608
)


async def fill(db: AsyncSession, *, first: date, last: date) -> None:
    """Fill the daily and monthly rows from ``first`` to ``last`` in two statements
    (``FILL_RANGE``, ``FILL_MONTHS``) and record the rollup as filled: far faster than key
    by key, but without locks, so a change to an older day made while it runs can be missed
    until a rebuild (the nightly job rebuilds the recent days after it)."""
    span = {"first": first, "last": last}
    await db.execute(FILL_RANGE, span)
    await db.execute(FILL_MONTHS, span)
    await mark_filled(db)


async def mark_filled(db: AsyncSession) -> None:
    """Record that the rollup now covers every order (a fill or a full rebuild)."""
    await db.execute(_MARK_FILLED, {"name": STATE})


async def filled(db: AsyncSession) -> bool:
    """False while a database upgraded with orders waits for the rollup's first fill: the
    report then reads the order lines."""
    return bool(await db.scalar(_FILLED, {"name": STATE}))


async def unfilled_since(db: AsyncSession) -> date | None:
    """The first order's day while the rollup waits for its first fill (a database upgraded
    with orders in it), else None."""
    found = await db.scalar(_FIRST_DAY, {"name": STATE})
    return found if isinstance(found, date) else None


def month_lock_id(month: date, channel_id: Any, currency: str) -> int:
    return advisory_lock_id(f"product_sales_monthly|{month}|{channel_id or ''}|{currency}")


async def recompute(db: AsyncSession, keys: Collection[Key]) -> None:
    """Recompute the rows of these (day, channel, currency) keys from the order lines, then
    the monthly rows of their months from the daily ones; the caller holds the day keys'
    locks (``rollups.recompute``), this takes the months' (after them, in a fixed order:
    two transactions recomputing different days of a month take turns on it)."""
    if not keys:
        return
    parameters = given(list(keys))
    await db.execute(_DELETE_KEYS, parameters)
    await db.execute(_INSERT_KEYS, parameters)
    months = sorted({month_lock_id(day.replace(day=1), channel, cur) for day, channel, cur in keys})
    await db.execute(LOCK, {"locks": months})
    await db.execute(_REPLACE_MONTHS, parameters)


@dataclass(frozen=True)
class MonthSplit:
    """A period's days cut into the days before its first whole month (``head``), its whole
    months (``months``: first days from ``months[0]`` to ``months[1]``) and the days after
    them (``tail``); each as (first, last), empty when first > last."""

    head: tuple[date, date]
    months: tuple[date, date]
    tail: tuple[date, date]

    def parameters(self) -> dict[str, date]:
        return {
            "head_first": self.head[0],
            "head_last": self.head[1],
            "months_first": self.months[0],
            "months_last": self.months[1],
            "tail_first": self.tail[0],
            "tail_last": self.tail[1],
        }


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def split_by_months(first: date, last: date) -> MonthSplit:
    """The days ``first`` to ``last`` as a head of days, whole months and a tail of days."""
    months_first = first if first.day == 1 else _next_month(first)
    after = last + timedelta(days=1)
    months_end = after.replace(day=1)  # the first day after the last whole month
    if months_first >= months_end:  # no whole month: every day from the daily rows
        return MonthSplit((first, last), (after, last), (after, last))
    return MonthSplit(
        (first, months_first - timedelta(days=1)),
        (months_first, months_end - timedelta(days=1)),
        (months_end, last),
    )


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
