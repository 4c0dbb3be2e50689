"""Dynamic segments follow changes within moments: a change marks its customer in its own
transaction, and one job moves the marked customers into or out of every dynamic segment."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import SYSTEM
from patron.customers import metrics
from patron.customers import service as customers
from patron.kit.time import utcnow
from patron.models import (
    Customer,
    CustomerMetrics,
    Segment,
    SegmentChangedCustomer,
    SegmentMembershipChange,
    SegmentSize,
)
from patron.segments import repository
from patron.segments import service as segments
from patron.segments.changes import mark_customers_changed
from patron.worker.app import job_app, run_worker
from tests.conftest import IsolatedDatabase, bearer, make_settings
from tests.shop import (
    Catalog,
    CommittedShop,
    committed_shop,
    make_catalog,
    make_customer,
    order_body,
)

SEGMENTS = "/api/v1/segments"


@pytest.fixture
async def shop(isolated_database: IsolatedDatabase, tmp_path: Path) -> AsyncIterator[CommittedShop]:
    settings = make_settings(isolated_database.url, tmp_path)
    async with committed_shop(isolated_database.database, settings, CommittedShop) as made:
        yield made


async def _work(shop: CommittedShop) -> None:
    """Run the waiting segment jobs (not the periodic ones a worker's start may queue)."""
    await run_worker(shop.database, wait=False, concurrency=1, queues=["segments"])


async def _waiting_jobs(shop: CommittedShop) -> int:
    async with shop.database.transaction() as db:
        count = await db.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs"
                " WHERE task_name = 'segments.refresh_changed' AND status = 'todo'"
            )
        )
        return int(count or 0)


async def _marked(shop: CommittedShop) -> set[uuid.UUID]:
    async with shop.database.transaction() as db:
        return set(await db.scalars(select(SegmentChangedCustomer.customer_id)))


async def _changes(shop: CommittedShop, segment_id: str) -> list[tuple[uuid.UUID, str]]:
    async with shop.database.transaction() as db:
        rows = await db.execute(
            select(SegmentMembershipChange.customer_id, SegmentMembershipChange.change)
            .where(SegmentMembershipChange.segment_id == uuid.UUID(segment_id))
            .order_by(SegmentMembershipChange.id)
        )
        return [(row.customer_id, row.change) for row in rows]


async def _sizes(shop: CommittedShop, segment_id: str) -> list[tuple[int, int, int]]:
    async with shop.database.transaction() as db:
        rows = await db.execute(
            select(SegmentSize.size, SegmentSize.entered, SegmentSize.exited)
            .where(SegmentSize.segment_id == uuid.UUID(segment_id))
            .order_by(SegmentSize.recorded_at, SegmentSize.id)
        )
        return [(row.size, row.entered, row.exited) for row in rows]


async def _segment(shop: CommittedShop, expression: str) -> dict[str, Any]:
    response = await shop.http.post(
        SEGMENTS,
        headers=bearer(shop.key),
        json={"name": f"s-{uuid.uuid4().hex[:8]}", "expression": expression},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _customers_and_catalog(
    shop: CommittedShop, *names: str
) -> tuple[list[Customer], Catalog]:
    async with shop.database.transaction() as db:
        people = [await make_customer(db, first_name=name) for name in names]
        catalog = await make_catalog(db, shop.settings)
    return people, catalog


async def _order(shop: CommittedShop, customer: Customer, catalog: Catalog) -> dict[str, Any]:
    response = await shop.http.post(
        "/api/v1/orders", headers=bearer(shop.key), json=order_body(customer, catalog)
    )
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


async def test_an_order_moves_a_customer_in_once_the_job_runs_and_a_refund_moves_them_out(
    shop: CommittedShop,
) -> None:
    [ann], catalog = await _customers_and_catalog(shop, "Ann")
    segment = await _segment(shop, "total_spent > 90")
    assert segment["member_count"] == 0

    order = await _order(shop, ann, catalog)  # 97.50
    assert await _marked(shop) == {ann.id}
    assert await _waiting_jobs(shop) == 1
    assert await _changes(shop, segment["id"]) == []  # until the job runs

    await _work(shop)
    assert await _changes(shop, segment["id"]) == [(ann.id, "entered")]
    assert await _marked(shop) == set()
    listed = await shop.http.get(f"{SEGMENTS}/{segment['id']}", headers=bearer(shop.key))
    assert listed.json()["member_count"] == 1
    assert (await _sizes(shop, segment["id"]))[-1] == (1, 1, 0)

    paid = await shop.http.post(
        f"/api/v1/orders/{order['id']}/payments",
        headers=bearer(shop.key),
        json={"gateway": "stripe", "amount": "97.50"},
    )
    assert paid.status_code == 201, paid.text
    refund = await shop.http.post(
        f"/api/v1/orders/{order['id']}/refunds",
        headers=bearer(shop.key),
        json={"amount": "20.00", "reason": "damaged"},
    )
    assert refund.status_code == 201, refund.text
    await _work(shop)
    assert await _changes(shop, segment["id"]) == [(ann.id, "entered"), (ann.id, "exited")]
    assert (await _sizes(shop, segment["id"]))[-1] == (0, 0, 1)


async def test_a_cancelled_order_moves_them_out_and_a_change_moving_nobody_adds_no_size_row(
    shop: CommittedShop,
) -> None:
    [bob], catalog = await _customers_and_catalog(shop, "Bob")
    segment = await _segment(shop, "orders_count >= 1")
    order = await _order(shop, bob, catalog)
    await _work(shop)
    assert await _changes(shop, segment["id"]) == [(bob.id, "entered")]
    sizes = await _sizes(shop, segment["id"])

    noted = await shop.http.patch(
        f"/api/v1/orders/{order['id']}", headers=bearer(shop.key), json={"note": "gift wrap"}
    )
    assert noted.status_code == 200, noted.text
    assert await _marked(shop) == {bob.id}
    await _work(shop)
    assert await _sizes(shop, segment["id"]) == sizes  # nobody moved, no new size row

    cancelled = await shop.http.post(
        f"/api/v1/orders/{order['id']}/cancel", headers=bearer(shop.key), json={"reason": "oops"}
    )
    assert cancelled.status_code == 200, cancelled.text
    await _work(shop)
    assert await _changes(shop, segment["id"]) == [(bob.id, "entered"), (bob.id, "exited")]


async def test_profile_changes_and_tracked_events_move_customers_too(shop: CommittedShop) -> None:
    [cem], _ = await _customers_and_catalog(shop, "Cem")
    tagged = await _segment(shop, 'has tag "vip"')
    browsing = await _segment(shop, 'did "viewed_product" at least 2 times')
    changed = await shop.http.patch(
        f"/api/v1/customers/{cem.id}", headers=bearer(shop.key), json={"tags": ["vip"]}
    )
    assert changed.status_code == 200, changed.text
    for _ in range(2):
        tracked = await shop.http.post(
            "/api/v1/events",
            headers=bearer(shop.key),
            json={"name": "viewed_product", "customer_id": str(cem.id)},
        )
        assert tracked.status_code in (200, 201, 202), tracked.text
    await _work(shop)
    assert await _changes(shop, tagged["id"]) == [(cem.id, "entered")]
    assert await _changes(shop, browsing["id"]) == [(cem.id, "entered")]


async def test_a_merge_moves_the_survivor_in_and_the_merged_customer_out(
    shop: CommittedShop,
) -> None:
    [gus, hal], catalog = await _customers_and_catalog(shop, "Gus", "Hal")
    segment = await _segment(shop, "orders_count >= 1")
    await _order(shop, gus, catalog)
    await _work(shop)
    merged = await shop.http.post(
        f"/api/v1/customers/{hal.id}/merge",
        headers=bearer(shop.key),
        json={"merge_id": str(gus.id)},
    )
    assert merged.status_code == 200, merged.text
    assert await _marked(shop) == {gus.id, hal.id}
    await _work(shop)
    first, *then = await _changes(shop, segment["id"])
    assert first == (gus.id, "entered")
    assert set(then) == {(gus.id, "exited"), (hal.id, "entered")}


async def test_the_nightly_lifecycle_sweep_moves_customers_whose_last_order_aged(
    shop: CommittedShop,
) -> None:
    [ida], _ = await _customers_and_catalog(shop, "Ida")
    segment = await _segment(shop, 'lifecycle = "churned"')
    async with shop.database.transaction() as db:
        long_ago = utcnow() - timedelta(days=3 * 365)
        await db.merge(CustomerMetrics(customer_id=ida.id, orders_count=1, last_order_at=long_ago))
        await db.flush()
        assert await metrics.sweep_lifecycle(db, shop.settings) == 1
    assert await _marked(shop) == {ida.id}
    await _work(shop)
    assert await _changes(shop, segment["id"]) == [(ida.id, "entered")]


async def test_a_rolled_back_change_marks_nothing_and_queues_nothing(shop: CommittedShop) -> None:
    [dee], _ = await _customers_and_catalog(shop, "Dee")

    class ChangedMyMind(Exception):
        pass

    async def tag_then_fail() -> None:
        async with shop.database.transaction() as db:
            customer = await db.get(Customer, dee.id)
            assert customer is not None
            await customers.update_customer(
                db, shop.settings, actor=SYSTEM, customer=customer, changes={"tags": ["x"]}
            )
            assert await db.scalar(select(func.count()).select_from(SegmentChangedCustomer)) == 1
            raise ChangedMyMind

    with pytest.raises(ChangedMyMind):
        await tag_then_fail()
    assert await _marked(shop) == set()
    assert await _waiting_jobs(shop) == 0


async def test_a_mark_undone_by_its_savepoint_does_not_keep_a_later_one_from_queueing_the_job(
    shop: CommittedShop,
) -> None:
    [eve, fay], _ = await _customers_and_catalog(shop, "Eve", "Fay")
    async with shop.database.transaction() as db:
        savepoint = await db.begin_nested()
        await mark_customers_changed(db, [eve.id])
        await savepoint.rollback()
        await mark_customers_changed(db, [fay.id])
    assert await _marked(shop) == {fay.id}
    assert await _waiting_jobs(shop) == 1


async def _many_customers(db: AsyncSession, count: int) -> list[Customer]:
    ids = [
        await db.scalar(
            insert(Customer)
            .values(first_name=f"Bulk{number}", last_name="Shopper")
            .returning(Customer.id)
        )
        for number in range(count)
    ]
    found = await db.scalars(select(Customer).where(Customer.id.in_(ids)))
    return list(found)


async def test_a_thousand_changes_in_one_transaction_queue_a_single_job(
    shop: CommittedShop,
) -> None:
    segment = await _segment(shop, 'has tag "wave-5"')
    async with shop.database.transaction() as db:
        people = await _many_customers(db, 200)
    async with shop.database.transaction() as db:
        for wave in range(1, 6):
            for person in people:
                customer = await db.get(Customer, person.id)
                assert customer is not None
                await customers.update_customer(
                    db,
                    shop.settings,
                    actor=SYSTEM,
                    customer=customer,
                    changes={"tags": [f"wave-{wave}"]},
                )
    assert await _waiting_jobs(shop) == 1
    assert await _marked(shop) == {person.id for person in people}
    async with shop.database.transaction() as db:
        customer = await db.get(Customer, people[0].id)
        assert customer is not None
        await customers.update_customer(
            db, shop.settings, actor=SYSTEM, customer=customer, changes={"tags": []}
        )
    assert await _waiting_jobs(shop) == 1  # one job waits, whatever the transactions

    await _work(shop)
    entered = {c for c, change in await _changes(shop, segment["id"]) if change == "entered"}
    assert entered == {person.id for person in people[1:]}
    assert await _marked(shop) == set()
    async with shop.database.transaction() as db:
        stored = await db.get(Segment, uuid.UUID(segment["id"]))
        assert stored is not None
        assert stored.member_count == 199


def test_the_refresh_of_changed_customers_also_runs_every_minute_as_a_safety_net() -> None:
    periodic = {task.task.name: task for task in job_app.periodic_registry.periodic_tasks.values()}
    assert periodic["segments.refresh_changed"].cron == "* * * * *"
    assert periodic["segments.refresh"].cron == "*/15 * * * *"  # the full refresh stays


async def test_a_chain_of_segments_moves_in_the_same_refresh_of_changed_customers(
    shop: CommittedShop,
) -> None:
    [dee], _ = await _customers_and_catalog(shop, "Dee")
    tag = f"t{uuid.uuid4().hex[:6]}"
    first, second, third = [await _segment(shop, 'has tag "nobody"') for _ in range(3)]
    # the first names the second, which names the third: the reverse of the order they were
    # saved in, so refreshing in the order of their ids would leave the chain behind
    async with shop.database.transaction() as db:
        for segment, expression in (
            (third, f'has tag "{tag}"'),
            (second, f'in segment "{third["name"]}"'),
            (first, f'in segment "{second["name"]}"'),
        ):
            row = await repository.get_segment(db, uuid.UUID(segment["id"]), for_update=True)
            await segments.update_segment(
                db,
                actor=SYSTEM,
                segment=row,
                name=row.name,
                description="",
                expression=expression,
            )
    changed = await shop.http.patch(
        f"/api/v1/customers/{dee.id}", headers=bearer(shop.key), json={"tags": [tag]}
    )
    assert changed.status_code == 200, changed.text

    await _work(shop)
    for segment in (third, second, first):
        assert await _changes(shop, segment["id"]) == [(dee.id, "entered")], segment["name"]

    untagged = await shop.http.patch(
        f"/api/v1/customers/{dee.id}", headers=bearer(shop.key), json={"tags": []}
    )
    assert untagged.status_code == 200, untagged.text
    await _work(shop)
    for segment in (third, second, first):
        assert (await _changes(shop, segment["id"]))[-1] == (dee.id, "exited"), segment["name"]
