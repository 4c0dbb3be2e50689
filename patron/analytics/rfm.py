"""RFM: recency, frequency and monetary scores from 1 to 5, and the groups they make.

Scores are quintiles over the live customers with at least one order: R from whole days
since the last order (the most recent get 5), F from the number of orders, M from the total
spent net of refunds. Each measure has four *cut points*, its 20th, 40th, 60th and 80th
percentiles (``percentile_disc``: values that occur). A score counts the cut points a value
passes::

    F = 1 + (number of cut points strictly below the orders count)      (M the same way)
    R = 5 - (number of cut points strictly below the days since the last order)

So a value equal to a cut point belongs to the quintile below it (in value order), and equal
values always get equal scores. Heavy ties make uneven quintiles: when most customers have
one order, they all get F 1 and the next score used is the one whose cut point two orders
pass. The cut points are kept (``rfm_cut_points``), so one customer whose orders change is
rescored against them at once; everyone is rescored and the cut points renewed nightly.

Groups come from R and F alone (:data:`GROUPS`); M is shown but does not move a customer
between groups.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.principal import Principal
from patron.customers.repository import visible_customers
from patron.kit.time import utcnow
from patron.models import Customer, CustomerMetrics, RfmCutPoints
from patron.models.customers import RFM_GROUPS

SCORES = range(1, 6)


@dataclass(frozen=True)
class Group:
    name: str
    label: str
    recency: tuple[int, int]  # lowest and highest R score, both included
    frequency: tuple[int, int]
    meaning: str

    def holds(self, recency: int, frequency: int) -> bool:
        return (
            self.recency[0] <= recency <= self.recency[1]
            and self.frequency[0] <= frequency <= self.frequency[1]
        )

    @property
    def ranges(self) -> str:
        """``R 4–5, F 2–3`` as people read it."""

        def span(low: int, high: int) -> str:
            return str(low) if low == high else f"{low}–{high}"

        return f"R {span(*self.recency)}, F {span(*self.frequency)}"


GROUPS: tuple[Group, ...] = (
    Group("champions", "Champions", (5, 5), (4, 5), "Bought very recently and often"),
    Group("loyal", "Loyal", (3, 4), (4, 5), "Buy often, and not long ago"),
    Group(
        "potential_loyalists",
        "Potential loyalists",
        (4, 5),
        (2, 3),
        "Recent, with a few orders: could become loyal",
    ),
    Group("new_customers", "New customers", (5, 5), (1, 1), "First order very recently"),
    Group("promising", "Promising", (4, 4), (1, 1), "One recent order"),
    Group("need_attention", "Need attention", (3, 3), (3, 3), "Average on both: slipping"),
    Group("about_to_sleep", "About to sleep", (3, 3), (1, 2), "Few orders, fading"),
    Group("at_risk", "At risk", (1, 2), (3, 4), "Bought often, but long ago"),
    Group("cant_lose", "Can't lose them", (1, 2), (5, 5), "Were the best customers; gone quiet"),
    Group("hibernating", "Hibernating", (2, 2), (1, 2), "Few orders, long ago"),
    Group("lost", "Lost", (1, 1), (1, 2), "Few orders, longest ago"),
)
GROUPS_BY_NAME = {group.name: group for group in GROUPS}
assert tuple(GROUPS_BY_NAME) == RFM_GROUPS, "patron.models.customers.RFM_GROUPS is out of date"


def group_of(recency: int, frequency: int) -> Group:
    """The one group a cell of the grid belongs to."""
    [group] = [group for group in GROUPS if group.holds(recency, frequency)]
    return group


# -- SQL (constant text built from the table above; every value is a bound parameter) -------

# the group of cell (R, F) is element (R - 1) * 5 + F
_CELLS = "ARRAY[" + ", ".join(f"'{group_of(r, f).name}'" for r in SCORES for f in SCORES) + "]"
_NOW = "CAST(:now AS timestamptz)"
_DAYS = f"floor(extract(epoch FROM ({_NOW} - m.last_order_at)) / 86400)::int"
_QUALIFIES = "m.orders_count > 0 AND m.last_order_at IS NOT NULL AND c.merged_into_id IS NULL"
_LATEST = "SELECT * FROM rfm_cut_points ORDER BY computed_at DESC, id DESC LIMIT 1"


def _passed(value: str, cuts: str) -> str:
    return " + ".join(f"({value} > {cuts}[{i}])::int" for i in range(1, 5))


def _score(value: str, cuts: str, *, lower_is_better: bool = False) -> str:
    points = f"5 - ({_passed(value, cuts)})" if lower_is_better else f"1 + {_passed(value, cuts)}"
    return f"CASE WHEN {_QUALIFIES} THEN CAST({points} AS smallint) END"


_R = _score(_DAYS, "k.recency_days", lower_is_better=True)
_F = _score("m.orders_count", "k.orders_count")
_M = _score("m.total_spent", "k.monetary")
_GROUP = f"({_CELLS})[({_R} - 1) * 5 + {_F}]"


def _rescore(where: str) -> str:
    # The scores are computed from the target row itself (not from a subquery), so a row
    # that an order change updates while this runs is scored from its new figures.
    return f"""
        UPDATE customer_metrics m SET
            recency_score = {_R}, frequency_score = {_F}, monetary_score = {_M},
            rfm_group = {_GROUP}, rfm_scored_at = {_NOW}
        FROM customer c, ({_LATEST}) k
        WHERE c.id = m.customer_id AND {where}
          AND (m.recency_score, m.frequency_score, m.monetary_score, m.rfm_group)
              IS DISTINCT FROM ({_R}, {_F}, {_M}, {_GROUP})
    """  # noqa: S608 (constant fragments, no input)


_PERCENTILES = "percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]::float8[]) WITHIN GROUP"
LOCK = text("SELECT pg_advisory_xact_lock(hashtext('patron.rfm.score'))")
COMPUTE_CUT_POINTS = text(
    f"""
    INSERT INTO rfm_cut_points (computed_at, customers, recency_days, orders_count, monetary)
    SELECT {_NOW}, count(*),
           {_PERCENTILES} (ORDER BY {_DAYS}),
           {_PERCENTILES} (ORDER BY m.orders_count),
           {_PERCENTILES} (ORDER BY m.total_spent)
    FROM customer_metrics m JOIN customer c ON c.id = m.customer_id
    WHERE {_QUALIFIES}
    RETURNING id
    """  # noqa: S608 (constant fragments, no input)
)
# everyone who has ordered, and those whose scores must go (no orders left, merged away)
SCORE_EVERYONE = text(_rescore("(m.orders_count > 0 OR m.recency_score IS NOT NULL)"))
_SCORE_SOME = text(_rescore("m.customer_id = ANY(:ids)"))


@dataclass(frozen=True)
class Run:
    cut_points: RfmCutPoints
    changed: int


async def score_everyone(db: AsyncSession, *, now: datetime | None = None) -> Run:
    """Renew the cut points and rescore every customer, in two set-based statements."""
    now = now or utcnow()
    await db.execute(LOCK)
    cut_id = await db.scalar(COMPUTE_CUT_POINTS, {"now": now})
    result = await db.execute(SCORE_EVERYONE, {"now": now})
    # fresh statistics after rewriting many rows, or the grid's plan can go badly wrong
    await db.execute(text("ANALYZE customer_metrics"))
    cut_points = await db.get_one(RfmCutPoints, cut_id)
    return Run(cut_points, int(getattr(result, "rowcount", 0) or 0))


async def rescore(
    db: AsyncSession, customer_ids: Collection[uuid.UUID], *, now: datetime | None = None
) -> None:
    """Score these customers against the cut points in force (nothing before the first run)."""
    if customer_ids:
        await db.execute(_SCORE_SOME, {"ids": list(customer_ids), "now": now or utcnow()})


async def latest_cut_points(db: AsyncSession) -> RfmCutPoints | None:
    statement = select(RfmCutPoints).order_by(
        RfmCutPoints.computed_at.desc(), RfmCutPoints.id.desc()
    )
    return await db.scalar(statement.limit(1))


_UPSERT_LAST_SEEN = text(
    """
    INSERT INTO customer_metrics AS m (customer_id, last_seen_at)
    SELECT seen.customer_id, seen.at
    FROM unnest(CAST(:ids AS uuid[]), CAST(:times AS timestamptz[])) AS seen(customer_id, at)
    ON CONFLICT (customer_id) DO UPDATE
        SET last_seen_at = greatest(m.last_seen_at, EXCLUDED.last_seen_at)
        WHERE m.last_seen_at IS NULL OR m.last_seen_at < EXCLUDED.last_seen_at
    """
)


async def touch_last_seen(db: AsyncSession, seen: dict[uuid.UUID, datetime]) -> None:
    """Move each customer's ``last_seen_at`` forward to the time given (never back)."""
    if not seen:
        return
    ordered = sorted(seen.items())  # one lock order for concurrent batches
    await db.execute(
        _UPSERT_LAST_SEEN,
        {"ids": [customer for customer, _ in ordered], "times": [at for _, at in ordered]},
    )


# -- the grid --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    customers: int = 0
    spent: Decimal = Decimal(0)

    def share_of(self, total: int) -> float:
        return round(self.customers / total, 4) if total else 0.0

    @property
    def average(self) -> Decimal:
        if not self.customers:
            return Decimal("0.00")
        return (self.spent / self.customers).quantize(Decimal("0.01"))

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.customers + other.customers, self.spent + other.spent)


@dataclass(frozen=True)
class Grid:
    cut_points: RfmCutPoints | None
    cells: dict[tuple[int, int], Tally] = field(default_factory=dict)

    @property
    def scored(self) -> bool:
        return self.cut_points is not None

    @property
    def total(self) -> int:
        return sum(cell.customers for cell in self.cells.values())

    def cell(self, recency: int, frequency: int) -> Tally:
        return self.cells.get((recency, frequency), Tally())

    def groups(self) -> list[tuple[Group, Tally]]:
        tallies = {group.name: Tally() for group in GROUPS}
        for (recency, frequency), tally in self.cells.items():
            name = group_of(recency, frequency).name
            tallies[name] = tallies[name] + tally
        return [(group, tallies[group.name]) for group in GROUPS]


async def grid(db: AsyncSession, principal: Principal) -> Grid:
    """Customers per R x F cell among those the principal may see, with their spending."""
    cut_points = await latest_cut_points(db)
    recency, frequency = CustomerMetrics.recency_score, CustomerMetrics.frequency_score
    columns = (recency, frequency, func.count(), func.sum(CustomerMetrics.total_spent))
    if principal.record_scope == "all":
        # only live customers hold scores (a merge deletes the merged customer's metrics), so
        # whoever sees everyone is counted without joining the customer table (4x faster)
        statement = select(*columns)
    else:
        statement = (
            visible_customers(principal)
            .with_only_columns(*columns)
            .select_from(Customer)
            .join(CustomerMetrics, CustomerMetrics.customer_id == Customer.id)
        )
    statement = statement.where(recency.is_not(None), frequency.is_not(None)).group_by(
        recency, frequency
    )
    rows = (await db.execute(statement)).all()
    cells = {
        (int(r or 0), int(f or 0)): Tally(int(count), Decimal(spent or 0))
        for r, f, count, spent in rows
    }
    return Grid(cut_points, cells)
