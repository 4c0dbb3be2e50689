"""The rows segment conditions read instead of the raw ones stay exact through every kind
of write: events added (single and batch), an anonymous visitor's events joining a customer,
events moved to another customer, events deleted one by one and with their customer; order
lines written, their order cancelled, re-timed, moved to another customer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from patron.db.migrate import downgrade, upgrade
from patron.events import repository as events
from patron.kit.ids import new_id
from patron.models import Customer, Order, OrderLine, TrackingEvent
from patron.models.events import RECENT_EVENTS
from patron.segments.rollups import rebuild_events
from tests.conftest import IsolatedDatabase

NOW = datetime.now(UTC).replace(microsecond=0)

DAY_COUNTS = text(
    """
    SELECT name, (occurred_at AT TIME ZONE 'UTC')::date AS day, customer_id, count(*) AS n
    FROM tracking_event WHERE customer_id = ANY(:ids) GROUP BY 1, 2, 3
    EXCEPT ALL
    SELECT name, day, customer_id, n FROM customer_event_day WHERE customer_id = ANY(:ids)
    """
)
ROLLUP_EXTRA = text(
    """
    SELECT name, day, customer_id, n FROM customer_event_day WHERE customer_id = ANY(:ids)
    EXCEPT ALL
    SELECT name, (occurred_at AT TIME ZONE 'UTC')::date, customer_id, count(*)
    FROM tracking_event WHERE customer_id = ANY(:ids) GROUP BY 1, 2, 3
    """
)
# each customer's latest events of each name, as kept and as the events say (both ways)
LATEST = """
    SELECT name, customer_id, (array_agg(occurred_at ORDER BY occurred_at DESC))[1:10]
    FROM tracking_event WHERE customer_id = ANY(:ids) GROUP BY 1, 2
"""
KEPT = "SELECT name, customer_id, recent FROM customer_event_recent WHERE customer_id = ANY(:ids)"
RECENT_MISSING = text(f"{LATEST} EXCEPT ALL {KEPT}")
RECENT_EXTRA = text(f"{KEPT} EXCEPT ALL {LATEST}")
LINES_OFF = text(
    """
    SELECT l.id FROM order_line l JOIN shop_order o ON o.id = l.order_id
    WHERE o.customer_id = ANY(:ids) AND (l.customer_id, l.placed_at, l.cancelled_at)
          IS DISTINCT FROM (o.customer_id, o.placed_at, o.cancelled_at)
    """
)


async def _customers(db: AsyncSession, count: int) -> list[uuid.UUID]:
    ids = [new_id() for _ in range(count)]
    db.add_all(Customer(id=i, first_name="R", email=f"r{i.hex[-10:]}@example.com") for i in ids)
    await db.flush()
    return ids


async def _rollup_exact(db: AsyncSession, ids: list[uuid.UUID]) -> int:
    await db.flush()
    assert (await db.execute(DAY_COUNTS, {"ids": ids})).all() == []
    assert (await db.execute(ROLLUP_EXTRA, {"ids": ids})).all() == []
    assert (await db.execute(RECENT_MISSING, {"ids": ids})).all() == []
    assert (await db.execute(RECENT_EXTRA, {"ids": ids})).all() == []
    return int(
        await db.scalar(
            text("SELECT coalesce(sum(n), 0) FROM customer_event_day WHERE customer_id = ANY(:i)"),
            {"i": ids},
        )
        or 0
    )


def _event(
    customer: uuid.UUID | None, hours: int, name: str = "viewed_product"
) -> dict[str, object]:
    return {
        "id": new_id(),
        "occurred_at": NOW - timedelta(hours=hours),
        "customer_id": customer,
        "anonymous_id": None if customer else "anon-rollup",
        "name": name,
        "properties": {},
        "source": "test",
    }


async def test_event_day_counts_follow_every_write(db: AsyncSession) -> None:
    first, second = await _customers(db, 2)
    ids = [first, second]
    # a batch over several days and names, with anonymous events beside
    batch = [_event(first, h) for h in (0, 1, 30, 30, 80)] + [_event(second, 2, "searched")]
    batch += [_event(None, 5), _event(None, 50)]
    await events.add_events(db, batch)
    assert await _rollup_exact(db, ids) == 6
    await events.add_events(db, [_event(first, 0)])  # a single event on a day already counted
    assert await _rollup_exact(db, ids) == 7
    # more than the latest events kept: older ones arrive after newer, in two batches
    await events.add_events(db, [_event(first, 100 + h, "searched") for h in range(8)])
    await events.add_events(db, [_event(first, 90 + h * 20, "searched") for h in range(6)])
    assert await _rollup_exact(db, ids) == 21
    kept = await db.scalar(
        text("SELECT recent FROM customer_event_recent WHERE customer_id = :c AND name = :n"),
        {"c": first, "n": "searched"},
    )
    assert len(kept) == RECENT_EVENTS
    assert kept[0] == NOW - timedelta(hours=90)
    # the latest one deleted: the next older one comes back into the kept ones
    await db.execute(
        delete(TrackingEvent).where(
            TrackingEvent.customer_id == first,
            TrackingEvent.occurred_at == NOW - timedelta(hours=90),
        )
    )
    assert await _rollup_exact(db, ids) == 20

    # the anonymous visitor identified: their events join the customer
    await events.join_anonymous_events(db, anonymous_id="anon-rollup", customer_id=second)
    assert await _rollup_exact(db, ids) == 22

    # events moved to another customer (as a merge would move them)
    await db.execute(
        update(TrackingEvent).where(TrackingEvent.customer_id == first).values(customer_id=second)
    )
    assert await _rollup_exact(db, ids) == 22
    rows = await db.execute(
        text("SELECT count(*) FROM customer_event_day WHERE customer_id = :c"), {"c": first}
    )
    assert rows.scalar() == 0  # days reaching zero are gone, not kept at 0
    gone = text("SELECT count(*) FROM customer_event_recent WHERE customer_id = :c")
    assert (await db.execute(gone, {"c": first})).scalar() == 0

    # events deleted (erasure), then a customer deleted with its events (cascade)
    await db.execute(
        delete(TrackingEvent).where(
            TrackingEvent.customer_id == second, TrackingEvent.name == "searched"
        )
    )
    assert await _rollup_exact(db, ids) == 8
    # a rebuild puts damaged rollups right
    await db.execute(
        text("UPDATE customer_event_day SET n = n + 1 WHERE customer_id = :c"), {"c": second}
    )
    await db.execute(
        text("DELETE FROM customer_event_recent WHERE customer_id = :c"), {"c": second}
    )
    rebuilt = await rebuild_events(db)
    assert await _rollup_exact(db, ids) == 8
    counted = (
        await db.execute(
            text(
                "SELECT (SELECT count(*) FROM customer_event_day),"
                " (SELECT count(*) FROM customer_event_recent)"
            )
        )
    ).one()
    assert rebuilt == tuple(counted)  # what it reports is what it wrote
    await db.execute(delete(Customer).where(Customer.id == second))
    assert await _rollup_exact(db, ids) == 0


async def test_order_facts_on_lines_follow_the_order(db: AsyncSession) -> None:
    first, second = await _customers(db, 2)
    ids = [first, second]
    order = Order(
        id=new_id(), number=uuid.uuid4().hex, customer_id=first, currency="EUR",
        placed_at=NOW - timedelta(days=3), total=Decimal(10),
    )  # fmt: skip
    db.add(order)
    await db.flush()
    db.add_all(
        OrderLine(order_id=order.id, title="T", unit_price=Decimal(5), quantity=1,
                  total=Decimal(5), position=p)
        for p in range(2)
    )  # fmt: skip
    await db.flush()
    assert (await db.execute(LINES_OFF, {"ids": ids})).all() == []
    copied = await db.execute(
        select(OrderLine.customer_id, OrderLine.placed_at).where(OrderLine.order_id == order.id)
    )
    assert set(copied.all()) == {(first, NOW - timedelta(days=3))}
    for change in (
        {"cancelled_at": NOW},
        {"cancelled_at": None, "placed_at": NOW - timedelta(days=400)},
        {"customer_id": second},
    ):
        await db.execute(update(Order).where(Order.id == order.id).values(**change))
        assert (await db.execute(LINES_OFF, {"ids": ids})).all() == []
    # a line moved to another order takes that order's facts
    other = Order(
        id=new_id(), number=uuid.uuid4().hex, customer_id=first, currency="EUR",
        placed_at=NOW, cancelled_at=NOW, total=Decimal(5),
    )  # fmt: skip
    db.add(other)
    await db.flush()
    await db.execute(
        update(OrderLine).where(OrderLine.order_id == order.id, OrderLine.position == 0)
        .values(order_id=other.id)
    )  # fmt: skip
    assert (await db.execute(LINES_OFF, {"ids": ids})).all() == []


async def test_the_latest_events_move_to_name_partitions_and_back_with_every_row_kept(
    isolated_database: IsolatedDatabase,
) -> None:
    """Migration 0030 copies the kept latest events into a table partitioned by name (and
    its downgrade back into one heap); the triggers go on keeping them either way."""
    async with isolated_database.database.transaction() as db:
        ids = await _customers(db, 3)
        names = ("viewed_product", "searched", "added_to_cart")
        await events.add_events(
            db, [_event(c, h, name) for c in ids for name in names for h in range(12)]
        )
        before = (await db.execute(text(f"{KEPT} ORDER BY 1, 2"), {"ids": ids})).all()
    assert len(before) == 9
    await isolated_database.database.dispose()

    kind = text("SELECT relkind FROM pg_class WHERE relname = 'customer_event_recent'")
    for migrate, revision, layout in ((downgrade, "0029", "r"), (upgrade, "head", "p")):
        migrate(isolated_database.url, revision)  # one heap, then partitioned
        async with isolated_database.database.transaction() as db:
            assert await db.scalar(kind) == layout
            assert (await db.execute(text(f"{KEPT} ORDER BY 1, 2"), {"ids": ids})).all() == before
            await events.add_events(db, [_event(ids[0], 0, "searched")])  # still kept
            assert await _rollup_exact(db, ids) == 9 * 12 + 1
            await db.rollback()
        await isolated_database.database.dispose()
    async with isolated_database.database.transaction() as db:
        placed = text(
            "SELECT name, count(DISTINCT tableoid) FROM customer_event_recent GROUP BY name"
        )
        assert dict((await db.execute(placed)).all()) == dict.fromkeys(names, 1)
