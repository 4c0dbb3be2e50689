"""RFM scores: quintiles by cut points, the groups, and keeping them fresh (orders, events)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import rfm
from patron.analytics.rfm_tasks import score_rfm
from patron.config import Settings
from patron.customers import metrics
from patron.models import Customer, CustomerMetrics
from patron.segments import repository as segments
from patron.segments.language import compile_text
from patron.worker.app import job_app, set_runtime
from tests.conftest import (
    IsolatedDatabase,
    MakeKey,
    MakeUser,
    bearer,
    make_settings,
    principal_for,
)
from tests.shop import make_catalog, make_customer, metrics_of, order_body, place

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DOCS = Path(__file__).resolve().parents[1] / "docs"

# days since the last order, orders, spent -> R, F, M and group (cut points 2/4/6/8 days,
# 2/4/6/8 orders, 20/40/60/80 spent: values 1..10 each once)
SHOP = [
    ((1, 10, 100), (5, 5, 5, "champions")),
    ((2, 1, 10), (5, 1, 1, "new_customers")),
    ((3, 2, 20), (4, 1, 1, "promising")),
    ((4, 9, 90), (4, 5, 5, "loyal")),
    ((5, 5, 50), (3, 3, 3, "need_attention")),
    ((6, 3, 30), (3, 2, 2, "about_to_sleep")),
    ((7, 7, 70), (2, 4, 4, "at_risk")),
    ((8, 4, 40), (2, 2, 2, "hibernating")),
    ((9, 8, 80), (1, 4, 4, "at_risk")),
    ((10, 6, 60), (1, 3, 3, "at_risk")),
]


async def customer_with(
    db: AsyncSession,
    *,
    days: int,
    orders: int,
    spent: int | str,
    merged_into: Customer | None = None,
) -> Customer:
    customer = await make_customer(db)
    if merged_into is not None:
        customer.email = None
        customer.merged_into_id = merged_into.id
    await db.merge(
        CustomerMetrics(
            customer_id=customer.id,
            orders_count=orders,
            total_spent=Decimal(spent),
            last_order_at=NOW - timedelta(days=days, hours=1) if orders else None,
            first_order_at=NOW - timedelta(days=days + 30) if orders else None,
        )
    )
    await db.flush()
    return customer


async def scores(db: AsyncSession, customer: Customer) -> tuple[object, ...]:
    row = await metrics_of(db, customer)
    return row.recency_score, row.frequency_score, row.monetary_score, row.rfm_group


async def build_shop(db: AsyncSession) -> list[Customer]:
    return [
        await customer_with(db, days=days, orders=orders, spent=spent)
        for (days, orders, spent), _ in SHOP
    ]


async def test_scores_are_the_quintiles_of_a_hand_built_shop(db: AsyncSession) -> None:
    people = await build_shop(db)
    nobody = await customer_with(db, days=0, orders=0, spent=0)

    run = await rfm.score_everyone(db, now=NOW)

    assert run.cut_points.customers == 10
    assert run.cut_points.recency_days == [2, 4, 6, 8]
    assert run.cut_points.orders_count == [2, 4, 6, 8]
    assert run.cut_points.monetary == [Decimal(20), Decimal(40), Decimal(60), Decimal(80)]
    assert [await scores(db, person) for person in people] == [want for _, want in SHOP]
    assert await scores(db, nobody) == (None, None, None, None)
    assert (await metrics_of(db, people[0])).rfm_scored_at == NOW


async def test_equal_values_always_get_equal_scores(db: AsyncSession) -> None:
    orders = [1, 1, 1, 1, 2, 3]
    people = [await customer_with(db, days=5, orders=n, spent=50) for n in orders]

    run = await rfm.score_everyone(db, now=NOW)

    # 1 is the 20th, 40th and 60th percentile, 2 the 80th: one order passes no cut point
    assert run.cut_points.orders_count == [1, 1, 1, 2]
    assert [(await scores(db, p))[1] for p in people] == [1, 1, 1, 1, 4, 5]
    # everyone ordered on the same day and spent the same: one score for all
    assert {(await scores(db, p))[0] for p in people} == {5}
    assert {(await scores(db, p))[2] for p in people} == {1}


async def test_merged_away_customers_neither_shape_nor_keep_scores(db: AsyncSession) -> None:
    people = await build_shop(db)
    whale = await customer_with(db, days=0, orders=500, spent=99_999, merged_into=people[0])

    run = await rfm.score_everyone(db, now=NOW)

    assert run.cut_points.customers == 10
    assert run.cut_points.orders_count == [2, 4, 6, 8]
    assert await scores(db, whale) == (None, None, None, None)


async def test_a_customer_whose_orders_are_all_gone_loses_the_scores(db: AsyncSession) -> None:
    people = await build_shop(db)
    await rfm.score_everyone(db, now=NOW)
    row = await metrics_of(db, people[3])
    row.orders_count, row.total_spent, row.last_order_at = 0, Decimal(0), None
    await db.flush()

    run = await rfm.score_everyone(db, now=NOW + timedelta(hours=1))

    assert await scores(db, people[3]) == (None, None, None, None)
    assert run.changed >= 1


async def test_a_second_run_rewrites_only_the_scores_that_changed(db: AsyncSession) -> None:
    await build_shop(db)
    first = await rfm.score_everyone(db, now=NOW)
    again = await rfm.score_everyone(db, now=NOW + timedelta(minutes=5))

    assert first.changed == 10
    assert again.changed == 0
    assert (await rfm.latest_cut_points(db)) == again.cut_points


async def test_without_customers_with_orders_the_cut_points_are_empty(db: AsyncSession) -> None:
    nobody = await customer_with(db, days=0, orders=0, spent=0)

    run = await rfm.score_everyone(db, now=NOW)

    assert run.cut_points.customers == 0
    assert run.cut_points.recency_days is None
    assert await scores(db, nobody) == (None, None, None, None)


def test_every_cell_of_the_grid_belongs_to_exactly_one_group() -> None:
    for recency in rfm.SCORES:
        for frequency in rfm.SCORES:
            holders = [g for g in rfm.GROUPS if g.holds(recency, frequency)]
            assert len(holders) == 1, (recency, frequency, holders)


def test_the_documented_group_table_is_the_one_in_force() -> None:
    text = (DOCS / "reports.md").read_text()
    section = text[text.index("## RFM") :]
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| (\d(?:–\d)?) \| (\d(?:–\d)?) \|", section, re.M)

    def span(value: str) -> tuple[int, int]:
        low, _, high = value.partition("–")
        return int(low), int(high or low)

    documented = {name: (span(r), span(f)) for name, r, f in rows}
    assert documented == {g.name: (g.recency, g.frequency) for g in rfm.GROUPS}


# -- kept fresh ------------------------------------------------------------------------------


@pytest.fixture
async def clerk(make_user: MakeUser, make_key: MakeKey) -> dict[str, str]:
    return bearer(await make_key(await make_user("admin")))


async def test_placing_an_order_scores_that_customer_in_the_same_transaction(
    db: AsyncSession, settings: Settings, client: httpx2.AsyncClient, clerk: dict[str, str]
) -> None:
    await build_shop(db)
    await rfm.score_everyone(db, now=datetime.now(UTC))
    shop = await make_catalog(db, settings)
    newcomer = await make_customer(db)

    order = await place(client, clerk, order_body(newcomer, shop))  # 97.50

    # no day since the order: R 5; one order: F 1; 97.50 passes every cut point: M 5
    assert await scores(db, newcomer) == (5, 1, 5, "new_customers")
    response = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=clerk, json={})
    assert response.status_code == 200, response.text
    assert await scores(db, newcomer) == (None, None, None, None)


async def test_the_rescoring_rolls_back_with_the_order_change(
    db: AsyncSession, settings: Settings
) -> None:
    people = await build_shop(db)
    await rfm.score_everyone(db, now=NOW)
    newcomer = await customer_with(db, days=0, orders=0, spent=0)
    change = await db.begin_nested()
    row = await metrics_of(db, newcomer)
    row.orders_count, row.total_spent, row.last_order_at = 3, Decimal(75), NOW
    await db.flush()
    await rfm.rescore(db, [newcomer.id], now=NOW)
    assert await scores(db, newcomer) == (5, 2, 4, "potential_loyalists")
    await change.rollback()

    assert await scores(db, newcomer) == (None, None, None, None)
    assert await scores(db, people[0]) == (5, 5, 5, "champions")


async def test_before_the_first_run_an_order_change_leaves_no_scores(
    db: AsyncSession, settings: Settings
) -> None:
    customer = await customer_with(db, days=1, orders=2, spent=30)

    await metrics.refresh(db, settings, [customer.id])

    assert await rfm.latest_cut_points(db) is None
    assert await scores(db, customer) == (None, None, None, None)


async def test_tracking_events_move_last_seen_forward_only(
    db: AsyncSession, client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    storefront = bearer(await make_key(await make_user("marketing"), ["events:write"]))
    customer = await make_customer(db)
    seen = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    events = [
        {"email": customer.email, "name": "viewed_product", "timestamp": (seen - gap).isoformat()}
        for gap in (timedelta(hours=1), timedelta(0), timedelta(hours=3))
    ]

    response = await client.post(
        "/api/v1/events/batch", headers=storefront, json={"events": events}
    )
    assert response.json()["created"] == 3
    assert (await metrics_of(db, customer)).last_seen_at == seen

    older = {"email": customer.email, "name": "searched", "timestamp": events[2]["timestamp"]}
    assert (await client.post("/api/v1/events", headers=storefront, json=older)).status_code == 201
    assert (await metrics_of(db, customer)).last_seen_at == seen


async def test_an_order_counts_as_being_seen(
    db: AsyncSession, settings: Settings, client: httpx2.AsyncClient, clerk: dict[str, str]
) -> None:
    shop = await make_catalog(db, settings)
    customer = await make_customer(db)

    order = await place(client, clerk, order_body(customer, shop))

    last_seen = (await metrics_of(db, customer)).last_seen_at
    assert last_seen is not None
    assert last_seen == datetime.fromisoformat(order["placed_at"])


# -- the segment language --------------------------------------------------------------------


async def test_segments_select_by_scores_group_and_last_seen(
    db: AsyncSession, make_user: MakeUser
) -> None:
    people = await build_shop(db)
    nobody = await customer_with(db, days=0, orders=0, spent=0)
    await rfm.score_everyone(db, now=NOW)
    (await metrics_of(db, people[1])).last_seen_at = NOW - timedelta(days=3)
    await db.flush()
    principal = await principal_for(db, (await make_user("admin")).user)
    catalog = await segments.load_catalog(db)
    ids = {p.id for p in [*people, nobody]}

    async def members(text: str) -> set[uuid.UUID]:
        query = segments.member_ids(principal, compile_text(text, catalog, now=NOW).where)
        return set((await db.scalars(query.where(Customer.id.in_(ids)))).all())

    assert await members("recency_score = 5 and frequency_score >= 4") == {people[0].id}
    assert await members('rfm_group = "AT_RISK"') == {people[6].id, people[8].id, people[9].id}
    assert await members("monetary_score <= 1") == {people[1].id, people[2].id}
    assert await members("recency_score is not set") == {nobody.id}
    assert nobody.id in await members('rfm_group != "champions"')
    assert await members("last_seen within 7 days") == {people[1].id}


async def test_a_misspelt_group_is_refused_with_the_choices(db: AsyncSession) -> None:
    catalog = await segments.load_catalog(db)
    with pytest.raises(Exception, match="rfm_group is one of champions") as caught:
        compile_text('rfm_group = "champs"', catalog)
    assert getattr(caught.value, "code", None) == "type_mismatch"


async def test_the_customers_api_shows_the_scores_in_the_metrics(
    db: AsyncSession, client: httpx2.AsyncClient, clerk: dict[str, str]
) -> None:
    people = await build_shop(db)
    await rfm.score_everyone(db, now=NOW)

    body = (await client.get(f"/api/v1/customers/{people[3].id}", headers=clerk)).json()

    assert body["metrics"]["recency_score"] == 4
    assert body["metrics"]["frequency_score"] == 5
    assert body["metrics"]["monetary_score"] == 5
    assert body["metrics"]["rfm_group"] == "loyal"
    assert body["metrics"]["rfm_scored_at"] is not None


async def test_the_customer_list_filters_by_scores_and_group(
    db: AsyncSession, client: httpx2.AsyncClient, clerk: dict[str, str]
) -> None:
    people = await build_shop(db)
    await rfm.score_everyone(db, now=NOW)

    async def listed(query: str) -> set[str]:
        response = await client.get(f"/api/v1/customers?limit=100&{query}", headers=clerk)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert await listed("recency_score=1&frequency_score=4") == {str(people[8].id)}
    assert await listed("rfm_group=at_risk&rfm_group=loyal") == {
        str(people[i].id) for i in (3, 6, 8, 9)
    }
    refused = await client.get("/api/v1/customers?recency_score=6", headers=clerk)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "validation_error"
    unknown = await client.get("/api/v1/customers?rfm_group=whales", headers=clerk)
    assert unknown.status_code == 422


async def test_the_nightly_job_scores_everyone_and_commits(
    isolated_database: IsolatedDatabase, tmp_path: Path
) -> None:
    periodic = {task.task.name: task for task in job_app.periodic_registry.periodic_tasks.values()}
    assert periodic["analytics.rfm_score"].cron == "37 3 * * *"
    set_runtime(make_settings(isolated_database.url, tmp_path), isolated_database.database)
    async with isolated_database.database.transaction() as db:
        shop = await build_shop(db)
        people = [shop[0].id, shop[9].id]

    assert await score_rfm(timestamp=0) == {"customers_with_orders": 10, "scores_changed": 10}

    async with isolated_database.database.transaction() as db:
        groups = await db.scalars(
            select(CustomerMetrics.rfm_group)
            .where(CustomerMetrics.customer_id.in_(people))
            .order_by(CustomerMetrics.total_spent.desc())
        )
        assert list(groups) == ["champions", "at_risk"]
