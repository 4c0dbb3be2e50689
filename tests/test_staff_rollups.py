"""The staff report's rollups: the daily timeline counts stay equal to the timeline through
every kind of write, and the report reads the same figures from the rollups and the order
facts as from the timeline and the orders, for every reader's scope, period and channel,
after random changes of entries, orders and owners."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import customer_rollups, rollups, staff_rollups
from patron.analytics.customers_report import staff_report
from patron.analytics.period import ReportPeriod
from patron.audit.service import SYSTEM
from patron.config import Settings
from patron.customers import bulk, merge, metrics
from patron.customers import service as customers
from patron.customers.schemas import BulkAction
from patron.db.engine import Database
from patron.demo_shop.seed import seed_shop
from patron.kit.ids import new_id
from patron.models import Customer, Order, StaffUser, TimelineEntry
from patron.models.reports import ALL_CHANNELS
from patron.users import service as users
from tests.conftest import (
    PASSWORD,
    IsolatedDatabase,
    MakeUser,
    Persona,
    principal_for,
)
from tests.test_customer_rollups import (
    DAY_ZERO,
    PEOPLE,
    QUEUED_JOBS,
    apply,
    change_strategy,
)
from tests.test_reports_customers import Shop, at
from tests.test_reports_sales import rolled_up

# the timeline recounted, minus the rollup (and the other way round): both empty when exact
MISSING = text(
    """
    SELECT actor_id, kind, (occurred_at AT TIME ZONE 'UTC')::date, count(*)
    FROM timeline_entry WHERE actor_type IN ('user', 'api_key') AND actor_id IS NOT NULL
    GROUP BY 1, 2, 3
    EXCEPT ALL
    SELECT actor_id, kind, day, n FROM staff_activity_daily
    """
)
EXTRA = text(
    """
    SELECT actor_id, kind, day, n FROM staff_activity_daily
    EXCEPT ALL
    SELECT actor_id, kind, (occurred_at AT TIME ZONE 'UTC')::date, count(*)
    FROM timeline_entry WHERE actor_type IN ('user', 'api_key') AND actor_id IS NOT NULL
    GROUP BY 1, 2, 3
    """
)
KINDS = ["note", "call", "meeting", "email_logged", "order_placed"]

# the owned orders recomputed from the order facts and the owners now
_OWNED_RECOMPUTED = """
    SELECT c.owner_id, f.channel_key, f.day, count(*), sum(f.net)
    FROM customer_order_fact f JOIN customer c ON c.id = f.customer_id
    WHERE c.owner_id IS NOT NULL AND c.merged_into_id IS NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
# the sums with the changes the job has not added yet: equal to the recomputation at any time
_OWNED_PENDING = """
    SELECT owner_id, channel_key, day, sum(orders), sum(net) FROM (
        SELECT owner_id, channel_key, day, orders, net FROM staff_owned_daily
        UNION ALL SELECT owner_id, channel_key, day, orders, net FROM staff_owned_change) x
    GROUP BY 1, 2, 3 HAVING sum(orders) <> 0 OR sum(net) <> 0 ORDER BY 1, 2, 3
"""
_OWNED_STORED = (
    "SELECT owner_id, channel_key, day, orders, net FROM staff_owned_daily ORDER BY 1, 2, 3"
)


async def assert_owned_exact(db: AsyncSession, *, folded: bool = True) -> None:
    """The owned-order sums equal a recomputation: with the pending changes, or (``folded``,
    once the job has added them all) by themselves, without rows left at zero."""
    await db.flush()
    recomputed = (await db.execute(text(_OWNED_RECOMPUTED))).all()
    assert (await db.execute(text(_OWNED_PENDING))).all() == recomputed
    if folded:
        assert await db.scalar(text("SELECT count(*) FROM staff_owned_change")) == 0
        assert (await db.execute(text(_OWNED_STORED))).all() == recomputed


ACTORS = ["user", "api_key", "system"]


async def assert_exact(db: AsyncSession) -> None:
    await db.flush()
    assert (await db.execute(MISSING)).all() == []
    assert (await db.execute(EXTRA)).all() == []


def entry(customer: Customer, actor: Persona, kind: str, day: int, actor_type: str = "user") -> Any:
    return TimelineEntry(
        customer_id=customer.id,
        kind=kind,
        occurred_at=at((DAY_ZERO + timedelta(days=day)).isoformat(), "23:30"),
        actor_type=actor_type,
        actor_id=actor.user.id,
        actor_label=actor.email,
        summary=kind,
    )


async def test_the_daily_counts_follow_every_timeline_write(
    db: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    rep, other = await make_user("sales"), await make_user("sales")
    shop = Shop(db, settings)
    ann, bob = await shop.customer("Ann"), await shop.customer("Bob")
    first = entry(ann, rep, "note", 1)
    db.add_all([first, entry(ann, rep, "note", 1), entry(bob, rep, "call", 2, "api_key")])
    db.add(entry(bob, rep, "order_placed", 3, "system"))  # not a staff member's work
    await assert_exact(db)
    rows = await db.execute(text("SELECT kind, day, n FROM staff_activity_daily ORDER BY 1"))
    assert rows.all() == [("call", date(2024, 1, 3), 1), ("note", date(2024, 1, 2), 2)]

    first.occurred_at = at("2024-01-05")  # re-timed
    await assert_exact(db)
    first.kind, first.actor_id = "meeting", other.user.id  # another kind, another person
    await assert_exact(db)
    await db.execute(
        update(TimelineEntry).where(TimelineEntry.customer_id == ann.id).values(pinned=True)
    )  # a change the counts do not see
    await assert_exact(db)
    await db.execute(  # a batch moved to another customer (a merge)
        update(TimelineEntry).where(TimelineEntry.customer_id == bob.id).values(customer_id=ann.id)
    )
    await assert_exact(db)
    await db.delete(first)
    await assert_exact(db)
    await db.execute(delete(Customer).where(Customer.id == ann.id))  # the cascade
    await assert_exact(db)
    assert (await db.execute(text("SELECT count(*) FROM staff_activity_daily"))).scalar() == 0


# -- the report from the rollups equals the report from the raw rows ---------------------------

# days within about two months, so that periods' edges often fall next to orders and entries
DAYS = st.integers(0, 60)
entry_strategy = st.tuples(
    st.integers(0, PEOPLE - 1),  # about whom
    st.integers(0, 3),  # by whom
    st.sampled_from(KINDS),
    st.sampled_from(ACTORS),
    DAYS,
)
order_strategy = st.tuples(
    st.integers(0, PEOPLE - 1),  # whose
    DAYS,
    st.sampled_from(["web", "pos"]),
    st.sampled_from(["10.00", "25.50", "99.99"]),
)
staff_change_strategy = st.one_of(
    change_strategy,
    st.tuples(st.just("entry"), entry_strategy),
    st.tuples(st.just("retime"), st.integers(0, 99), DAYS),
    st.tuples(st.just("unlog"), st.integers(0, 99)),
    st.tuples(st.just("owner"), st.integers(0, PEOPLE - 1), st.integers(-1, 3)),
    st.tuples(st.just("merged"), st.integers(0, PEOPLE - 1)),
    st.tuples(  # the customer list's bulk "set owner": one statement
        st.just("owners"), st.sets(st.integers(0, PEOPLE - 1), min_size=1), st.integers(-1, 3)
    ),
)


@pytest.fixture(name="staff")
async def staff_fixture(db: AsyncSession, make_user: MakeUser) -> list[Persona]:
    """A manager and a rep of one team, a rep outside it, an administrator."""
    team = await users.create_team(db, actor=SYSTEM, name=f"Team {new_id().hex[:6]}")
    return [
        await make_user("manager", team_id=team.id),
        await make_user("sales", team_id=team.id),
        await make_user("sales"),
        await make_user("admin"),
    ]


async def change_staff_work(
    shop: Shop,
    staff: list[Persona],
    orders: list[Order],
    entries: list[TimelineEntry],
    change: tuple[Any, ...],
) -> None:
    db, kind = shop.db, change[0]
    customers = list(shop.customers.values())
    if kind == "entry":
        whom, who, what, actor_type, day = change[1]
        entries.append(entry(customers[whom], staff[who], what, day, actor_type))
        db.add(entries[-1])
    elif kind == "owner":
        customer = customers[change[1]]
        customer.owner_id = staff[change[2]].user.id if change[2] >= 0 else None
    elif kind == "owners":
        owner = staff[change[2]].user.id if change[2] >= 0 else None
        action = BulkAction(
            action="set_owner", ids=[customers[n].id for n in change[1]], owner_id=owner
        )
        admin = await principal_for(db, staff[3].user)
        await db.flush()
        await bulk.apply(
            db, shop.settings, principal=admin, action=action.model_copy(update={"confirm": True})
        )
        for customer in customers:
            await db.refresh(customer)
    elif kind == "merged":
        customer = customers[change[1]]
        customer.merged_into_id = next(c.id for c in customers if c is not customer)
    elif kind in ("retime", "unlog"):
        if not entries:
            return
        chosen = entries[change[1] % len(entries)]
        if kind == "retime":
            chosen.occurred_at = at((DAY_ZERO + timedelta(days=change[2])).isoformat())
        else:
            entries.remove(chosen)
            await db.delete(chosen)
    else:
        await apply(shop, orders, change)
    await db.flush()


@examples(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    first_orders=st.lists(order_strategy, min_size=2, max_size=12),
    first_entries=st.lists(entry_strategy, min_size=2, max_size=12),
    changes=st.lists(staff_change_strategy, max_size=12),
    start=DAYS,
    days=st.integers(1, 40),
    channel=st.sampled_from([None, "web"]),
)
@example(  # an order and an entry on each side of both edges of the period (days 10 to 20)
    first_orders=[(p, d, "web", "10.00") for p, d in [(0, 9), (1, 10), (2, 20), (3, 21)]],
    first_entries=[(0, w, "note", "user", d) for w, d in [(0, 9), (1, 10), (2, 20), (3, 21)]],
    changes=[],
    start=10,
    days=11,
    channel=None,
)
async def test_the_staff_report_from_rollups_equals_the_raw_report_after_random_changes(
    first_orders: list[tuple[int, int, str, str]],
    first_entries: list[tuple[int, int, str, str, int]],
    changes: list[tuple[Any, ...]],
    start: int,
    days: int,
    channel: str | None,
    db: AsyncSession,
    settings: Settings,
    staff: list[Persona],
) -> None:
    savepoint = await db.begin_nested()
    try:
        shop = Shop(db, settings)
        await shop.channel("web")
        await shop.channel("pos")
        for number in range(PEOPLE):
            await shop.customer(f"P{number}", owner=staff[number % len(staff)])
        orders: list[Order] = []
        entries: list[TimelineEntry] = []
        written: list[tuple[Any, ...]] = [("add", order) for order in first_orders]
        written += [("entry", made) for made in first_entries]
        for change in written + changes:
            await change_staff_work(shop, staff, orders, entries, change)
        await assert_exact(db)
        await assert_owned_exact(db, folded=False)
        await rolled_up(db)  # the job adds up what is pending
        await assert_owned_exact(db)

        first = DAY_ZERO + timedelta(days=start)
        period = ReportPeriod(
            first,
            first + timedelta(days=days - 1),
            "day",
            shop.channels["web"].name if channel else None,
        )
        for persona in staff:
            reader = await principal_for(db, persona.user)
            rolled = await staff_report(db, reader, period, currency="USD")
            raw = await staff_report(db, reader, period, currency="USD", rollups=False)
            assert rolled == raw
    finally:
        await savepoint.rollback()


async def test_record_scoped_readers_see_only_their_own_or_their_teams_rows_from_the_rollups(
    db: AsyncSession, settings: Settings, staff: list[Persona]
) -> None:
    manager, rep, outsider, admin = staff
    shop = Shop(db, settings)
    for persona, name in [(rep, "Mine"), (outsider, "Theirs"), (manager, "Bosses")]:
        await shop.customer(name, owner=persona)
        await shop.order(name, "2025-03-03", "10.00")
        db.add(entry(shop.customers[name], persona, "note", 427))  # 2025-03-03
    await shop.refresh()
    period = ReportPeriod(date(2025, 3, 1), date(2025, 3, 31))

    async def rows(persona: Persona) -> dict[str, dict[str, Any]]:
        report = await staff_report(
            db, await principal_for(db, persona.user), period, currency="USD"
        )
        return {row.email: row.figures for row in report.rows}

    mine = await rows(rep)
    assert list(mine) == [rep.email]  # never the outsider's or the manager's figures
    assert (mine[rep.email]["notes"], mine[rep.email]["orders"]) == (1, 1)
    team = await rows(manager)
    assert set(team) == {manager.email, rep.email}
    assert outsider.email not in team
    assert set(await rows(admin)) >= {manager.email, rep.email, outsider.email}


# -- the owned orders follow every way a customer's owner changes ------------------------------


async def owned_orders(db: AsyncSession, persona: Persona) -> tuple[int, Any]:
    """A person's orders and revenue of owned customers in March 2025, from the rollup."""
    await rolled_up(db)
    await assert_owned_exact(db)
    found = (
        await db.execute(
            text(
                "SELECT coalesce(sum(orders), 0), coalesce(sum(net), 0) FROM staff_owned_daily"
                " WHERE owner_id = :owner AND channel_key = :all"
            ),
            {"owner": persona.user.id, "all": ALL_CHANNELS},
        )
    ).one()
    return int(found[0]), found[1]


async def _no_job_queued(db: AsyncSession) -> None:
    """As at the start of a transaction: no rollup job waiting, none queued by this one."""
    await db.execute(text("DELETE FROM procrastinate_jobs"))
    db.info.pop("queued_once:reports.rollup_queued", None)


async def test_the_owned_orders_move_with_every_change_of_owner(
    db: AsyncSession, settings: Settings, staff: list[Persona], make_user: MakeUser
) -> None:
    _, rep, outsider, admin = staff
    leaver = await make_user("sales")
    shop = Shop(db, settings)
    ann = await shop.customer("Ann", owner=rep)
    bob = await shop.customer("Bob", owner=rep)
    await shop.order("Ann", "2025-03-03", "10.00")
    await shop.order("Bob", "2025-03-04", "20.00")
    await shop.refresh()
    assert await owned_orders(db, rep) == (2, Decimal("30.00"))

    # a single edit moves all of Ann's orders, and only hers, and queues the job that adds
    # the move up (no waiting for its periodic run)
    reader = await principal_for(db, admin.user)
    await _no_job_queued(db)
    await customers.update_customer(
        db, settings, actor=reader.actor, customer=ann, changes={"owner_id": outsider.user.id}
    )
    assert await db.scalar(QUEUED_JOBS) == 1
    assert await owned_orders(db, rep) == (1, Decimal("20.00"))
    assert await owned_orders(db, outsider) == (1, Decimal("10.00"))

    # the list's bulk "set owner" as well (there and back)
    for owner, moved in ((outsider, (2, Decimal("30.00"))), (rep, (1, Decimal("10.00")))):
        await _no_job_queued(db)
        action = BulkAction(action="set_owner", ids=[bob.id], owner_id=owner.user.id, confirm=True)
        assert (await bulk.apply(db, settings, principal=reader, action=action)).changed == 1
        assert await db.scalar(QUEUED_JOBS) == 1
        assert await owned_orders(db, outsider) == moved

    # a merge: Bob's order moves to Ann (and to her owner), Bob counts for nobody
    await merge.merge(db, settings, principal=reader, survivor=ann, merged=bob)
    assert await owned_orders(db, rep) == (0, 0)
    assert await owned_orders(db, outsider) == (2, Decimal("30.00"))

    # a staff member removed: their customers have no owner, the figures go with them
    cat = await shop.customer("Cat", owner=leaver)
    await shop.order("Cat", "2025-03-05", "5.00")
    await shop.refresh()
    assert await owned_orders(db, leaver) == (1, Decimal("5.00"))
    await db.execute(delete(StaffUser).where(StaffUser.id == leaver.user.id))
    assert await owned_orders(db, leaver) == (0, 0)

    # a customer deleted (with SQL: their orders go by the cascade)
    cat.owner_id = rep.user.id
    await assert_owned_exact(db, folded=False)
    await db.execute(delete(Customer).where(Customer.id == ann.id))
    assert await owned_orders(db, outsider) == (0, 0)


async def test_a_rebuild_recomputes_the_owned_orders_and_the_timeline_counts(
    db: AsyncSession, settings: Settings, staff: list[Persona]
) -> None:
    rep = staff[1]
    shop = Shop(db, settings)
    await shop.customer("Ann", owner=rep)
    await shop.order("Ann", "2025-03-03", "10.00")
    db.add(entry(shop.customers["Ann"], rep, "note", 427))
    await shop.refresh()
    await db.execute(text("UPDATE staff_owned_daily SET orders = orders + 5"))
    await db.execute(text("DELETE FROM staff_activity_daily"))
    await shop.order("Ann", "2025-03-04", "1.00")  # a change the job has not added up yet
    await metrics.refresh(db, settings, [shop.customers["Ann"].id])

    await customer_rollups.rebuild(db)
    assert await staff_rollups.rebuild_activity(db) == 1
    await assert_owned_exact(db)  # the pending change is counted by the rebuild, and dropped
    await assert_exact(db)
    assert await owned_orders(db, rep) == (2, Decimal("11.00"))


# -- an owner change racing an order change or the job: nothing lost, nothing counted twice ----


async def _owned_ones(database: Database, settings: Settings) -> tuple[uuid.UUID, ...]:
    """Two sales reps and Ann, the first one's customer, with one order, all added up."""
    async with database.transaction() as db:
        reps = [
            await users.create_user(
                db,
                settings,
                actor=SYSTEM,
                email=f"rep{number}@shop.test",
                name=f"Rep {number}",
                role="sales",
                password=PASSWORD,
                send_invite=False,
            )
            for number in range(2)
        ]
        shop = Shop(db, settings)
        ann = await shop.customer("Ann")
        ann.owner_id = reps[0].id
        await shop.order("Ann", "2025-03-03", "10.00")
        await metrics.refresh(db, settings, [ann.id])
    await rollups.refresh_queued()
    return reps[0].id, reps[1].id, ann.id


async def _order(database: Database, settings: Settings, ann: uuid.UUID, done: Any) -> None:
    """Another order of Ann's, committed once ``done`` is set."""
    async with database.transaction() as db:
        shop = Shop(db, settings)
        shop.customers["Ann"] = await db.get_one(Customer, ann)
        await shop.order("Ann", "2025-03-04", "5.00")
        await metrics.refresh(db, settings, [ann])
        await done.wait()


async def _new_owner(database: Database, ann: uuid.UUID, owner: uuid.UUID, done: Any) -> None:
    async with database.transaction() as db:
        await db.execute(update(Customer).where(Customer.id == ann).values(owner_id=owner))
        await done.wait()


async def test_an_owner_change_racing_an_order_change_or_the_job_loses_and_doubles_nothing(
    isolated_database: IsolatedDatabase, job_settings: Settings
) -> None:
    settings = job_settings
    database = isolated_database.database
    first, second, ann = await _owned_ones(database, settings)

    async def settled() -> None:
        await rollups.refresh_queued()
        assert await rollups.refresh_queued() == 0  # everything taken once
        async with database.transaction() as db:
            await assert_owned_exact(db)

    # the order change first: the owner change waits for it, then moves its order too
    go, go_owner = asyncio.Event(), asyncio.Event()
    go_owner.set()  # commits as soon as its update is done
    ordering = asyncio.create_task(_order(database, settings, ann, go))
    await asyncio.sleep(0.3)
    moving = asyncio.create_task(_new_owner(database, ann, second, go_owner))
    await asyncio.sleep(0.3)
    assert not moving.done()  # waits for the order change's lock on Ann
    go.set()
    await asyncio.gather(ordering, moving)
    await settled()

    # the owner change first: the order change waits, then counts under the new owner
    go, go_order = asyncio.Event(), asyncio.Event()
    moving = asyncio.create_task(_new_owner(database, ann, first, go))
    await asyncio.sleep(0.3)
    ordering = asyncio.create_task(_order(database, settings, ann, go_order))
    go_order.set()
    await asyncio.sleep(0.3)
    assert not ordering.done()
    # the job meanwhile adds up what is committed, without waiting for either
    assert await asyncio.wait_for(rollups.refresh_queued(), timeout=5) == 0
    go.set()
    await asyncio.gather(moving, ordering)
    await settled()
    async with database.transaction() as db:
        orders = await db.scalar(
            text("SELECT sum(orders) FROM staff_owned_daily WHERE channel_key = :all"),
            {"all": ALL_CHANNELS},
        )
        owners = await db.scalar(text("SELECT array_agg(DISTINCT owner_id) FROM staff_owned_daily"))
    assert (orders, owners) == (3, [first])


async def test_the_demo_shop_comes_with_its_owned_orders_filled(
    db: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    for role in ("sales", "manager"):  # demo staff, who own about half of the customers
        (await make_user(role)).user.is_demo = True
    await db.flush()
    summary = await seed_shop(db, settings, customers=40, seed=5)
    assert summary.created
    await assert_owned_exact(db)  # bulk-loaded: filled by the loader, nothing pending
    assert await db.scalar(text("SELECT count(*) FROM staff_owned_daily"))
