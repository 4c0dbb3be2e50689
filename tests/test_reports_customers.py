"""The customer, cohort and staff reports through the API, on hand-built customers and orders."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics.customers_report import average, cohorts_report, customers_report, share
from patron.analytics.period import ReportPeriod
from patron.audit.service import SYSTEM
from patron.auth.principal import Principal
from patron.config import Settings
from patron.customers import metrics
from patron.models import Channel, Customer, Order, TimelineEntry
from patron.users import service as users_service
from tests.conftest import MakeKey, MakeUser, Persona, bearer, principal_for
from tests.test_reports_sales import rolled_up, rollup_examples


def at(day: str, clock: str = "12:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}:00+00:00")


@dataclass
class Shop:
    db: AsyncSession
    settings: Settings
    channels: dict[str, Channel] = field(default_factory=dict)
    customers: dict[str, Customer] = field(default_factory=dict)

    async def channel(self, name: str) -> Channel:
        if name not in self.channels:
            channel = Channel(name=f"{name}-{uuid.uuid4().hex[:6]}", kind="online_store")
            self.db.add(channel)
            await self.db.flush()
            self.channels[name] = channel
        return self.channels[name]

    async def customer(
        self, name: str, *, created: str = "2024-01-01", owner: Persona | None = None
    ) -> Customer:
        customer = Customer(
            first_name=name,
            last_name="Shopper",
            email=f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com",
            created_at=at(created),
            owner_id=owner.user.id if owner else None,
        )
        self.db.add(customer)
        await self.db.flush()
        self.customers[name] = customer
        return customer

    async def order(
        self,
        name: str,
        day: str,
        total: str = "100.00",
        *,
        channel: str = "web",
        refunded: str = "0",
        rate: str = "1",
        cancelled: bool = False,
        clock: str = "12:00",
    ) -> Order:
        placed = at(day, clock)
        order = Order(
            number=uuid.uuid4().hex[:12],
            customer_id=self.customers[name].id,
            channel_id=(await self.channel(channel)).id,
            placed_at=placed,
            currency="USD",
            exchange_rate=Decimal(rate),
            subtotal=Decimal(total),
            total=Decimal(total),
            refunded_total=Decimal(refunded),
            cancelled_at=placed + timedelta(hours=1) if cancelled else None,
        )
        self.db.add(order)
        await self.db.flush()
        return order

    async def refresh(self, stages: dict[str, str] | None = None) -> None:
        """Recompute the customers' metrics as every order change does, then do the rollup
        job's work once they commit; pin stages by hand."""
        await metrics.refresh(self.db, self.settings, [c.id for c in self.customers.values()])
        await rolled_up(self.db)
        for name, customer in self.customers.items():
            await self.db.refresh(customer)
            if stages is not None:
                customer.lifecycle_stage = stages.get(name, "customer")
                customer.lifecycle_locked = True
        await self.db.flush()


@pytest.fixture(name="shop")
def shop_fixture(db: AsyncSession, settings: Settings) -> Shop:
    return Shop(db, settings)


@pytest.fixture
async def analyst(make_user: MakeUser, make_key: MakeKey) -> dict[str, str]:
    return bearer(await make_key(await make_user("analyst")))


async def march_shop(shop: Shop) -> None:
    """Alice came back in March, Bob and Cara are new (Bob twice), Fay bought at the till,
    Dan's only March order was cancelled, Eve bought in February."""
    for name, created in [
        ("Alice", "2025-01-05"),
        ("Bob", "2025-03-02"),
        ("Cara", "2025-03-10"),
        ("Dan", "2025-03-12"),
        ("Eve", "2025-02-01"),
        ("Fay", "2025-03-15"),
    ]:
        await shop.customer(name, created=created)
    await shop.order("Alice", "2025-01-10", "100.00")
    await shop.order("Alice", "2025-03-05", "50.00")
    await shop.order("Bob", "2025-03-03", "80.00")
    await shop.order("Bob", "2025-03-20", "40.00")
    await shop.order("Cara", "2025-03-10", "200.00", refunded="50.00")
    await shop.order("Dan", "2025-03-12", "999.00", cancelled=True)
    await shop.order("Dan", "2025-04-02", "70.00")
    await shop.order("Eve", "2025-02-15", "30.00")
    await shop.order("Fay", "2025-03-15", "60.00", channel="pos")
    await shop.refresh(stages={"Alice": "churned"})


async def get_json(
    client: httpx2.AsyncClient, path: str, headers: dict[str, str], **params: str
) -> dict[str, Any]:
    response = await client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def figures(report: dict[str, Any], name: str) -> tuple[Any, Any, Any]:
    figure = report["headline"][name]
    return figure["value"], figure["previous"], figure["change"]


# -- customers --------------------------------------------------------------------------------


async def test_it_splits_the_customers_who_ordered_into_new_and_returning_per_week(
    client: httpx2.AsyncClient, shop: Shop, analyst: dict[str, str]
) -> None:
    await march_shop(shop)
    report = await get_json(
        client,
        "/api/v1/reports/customers",
        analyst,
        **{"from": "2025-03-01", "to": "2025-03-31", "grain": "week"},
    )
    assert [
        (b["bucket"], b["new_customers"], b["returning_customers"], b["orders"], b["signups"])
        for b in report["buckets"]
    ] == [
        ("2025-02-24", 0, 0, 0, 1),
        ("2025-03-03", 1, 1, 2, 0),
        ("2025-03-10", 2, 0, 2, 3),
        ("2025-03-17", 0, 1, 1, 0),
        ("2025-03-24", 0, 0, 0, 0),
        ("2025-03-31", 0, 0, 0, 0),
    ]
    assert report["period"] == {
        "from": "2025-03-01",
        "to": "2025-03-31",
        "grain": "week",
        "channel": None,
    }
    assert report["previous_period"]["from"] == "2025-01-29"
    assert report["previous_period"]["to"] == "2025-02-28"


async def test_its_headline_compares_each_figure_with_the_previous_period(
    client: httpx2.AsyncClient, shop: Shop, analyst: dict[str, str]
) -> None:
    await march_shop(shop)
    report = await get_json(
        client,
        "/api/v1/reports/customers",
        analyst,
        **{"from": "2025-03-01", "to": "2025-03-31", "grain": "month"},
    )
    assert figures(report, "customers_ordered") == (4, 1, "3.0000")
    assert figures(report, "new_customers") == (3, 1, "2.0000")
    assert figures(report, "returning_customers") == (1, 0, None)
    assert figures(report, "orders") == (5, 1, "4.0000")
    # Alice ordered before, Bob twice in March; Cara and Fay once
    assert figures(report, "repeat_purchase_rate") == ("0.5000", "0.0000", None)
    # by the end of March: 150 + 120 + (200 - 50) + 30 + 60 over five customers; by the end of
    # February: Alice's 100 and Eve's 30
    assert figures(report, "lifetime_value") == ("102.00", "65.00", "0.5692")
    assert figures(report, "signups") == (4, 1, "3.0000")
    # Alice is churned; Dan counts as a customer for his April order
    assert figures(report, "churned_share") == ("0.1667", None, None)
    assert (report["churned_customers"], report["customers_ever_ordered"]) == (1, 6)
    assert report["lifetime_value_by_cohort"] == [
        {"cohort": "2025-03-01", "customers": 3, "net_spent": "330.00", "lifetime_value": "110.00"}
    ]
    assert report["currency"] == "USD"


async def test_a_channel_filter_counts_only_that_channels_orders(
    client: httpx2.AsyncClient, shop: Shop, analyst: dict[str, str]
) -> None:
    await march_shop(shop)
    web = shop.channels["web"]
    for channel in (web.name, str(web.id)):
        report = await get_json(
            client,
            "/api/v1/reports/customers",
            analyst,
            **{"from": "2025-03-01", "to": "2025-03-31", "grain": "month", "channel": channel},
        )
        assert figures(report, "customers_ordered")[0] == 3
        assert figures(report, "new_customers")[0] == 2
        assert figures(report, "orders")[0] == 4
        assert figures(report, "repeat_purchase_rate")[0] == "0.6667"
        assert figures(report, "lifetime_value")[0] == "112.50"
        assert figures(report, "churned_share")[0] == "0.2000"
        # signing up is not an order: no channel
        assert figures(report, "signups")[0] == 4


async def test_cancelled_orders_never_count(
    client: httpx2.AsyncClient, shop: Shop, analyst: dict[str, str]
) -> None:
    await shop.customer("Gil")
    await shop.order("Gil", "2025-05-02", "500.00", cancelled=True)
    await shop.refresh()
    report = await get_json(
        client, "/api/v1/reports/customers", analyst, **{"from": "2025-05-01", "to": "2025-05-31"}
    )
    assert figures(report, "customers_ordered")[0] == 0
    assert figures(report, "orders")[0] == 0
    assert figures(report, "lifetime_value")[0] == "0.00"
    assert report["customers_ever_ordered"] == 0


async def test_an_empty_period_has_every_bucket_at_zero(
    client: httpx2.AsyncClient, analyst: dict[str, str]
) -> None:
    report = await get_json(
        client,
        "/api/v1/reports/customers",
        analyst,
        **{"from": "2019-01-01", "to": "2019-03-31", "grain": "month"},
    )
    assert [b["bucket"] for b in report["buckets"]] == ["2019-01-01", "2019-02-01", "2019-03-01"]
    assert all(b["new_customers"] == b["returning_customers"] == 0 for b in report["buckets"])
    assert figures(report, "repeat_purchase_rate") == ("0.0000", "0.0000", None)
    assert report["lifetime_value_by_cohort"] == []


async def test_the_customers_csv_has_one_row_per_bucket(
    client: httpx2.AsyncClient, shop: Shop, analyst: dict[str, str]
) -> None:
    await march_shop(shop)
    response = await client.get(
        "/api/v1/reports/customers.csv",
        headers=analyst,
        params={"from": "2025-03-01", "to": "2025-03-31", "grain": "month"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert (
        'filename="customers-2025-03-01-2025-03-31.csv"' in response.headers["content-disposition"]
    )
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows == [
        [
            "bucket",
            "new_customers",
            "returning_customers",
            "orders",
            "signups",
            "cohort_customers",
            "cohort_net_spent",
            "cohort_lifetime_value",
        ],
        ["2025-03-01", "3", "1", "5", "4", "3", "330.00", "110.00"],
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2025-13-01"}, "from"),
        ({"from": "0001-01-01", "to": "0001-01-02"}, "from"),
        ({"to": "9999-12-31"}, "to"),
        ({"from": "2025-03-10", "to": "2025-03-01"}, "from"),
        ({"grain": "hour"}, "grain"),
        ({"channel": "no-such-channel"}, "channel"),
        ({"channel": "0190a0b0-0000-7000-8000-000000000000"}, "channel"),
    ],
)
@pytest.mark.parametrize("report", ["customers", "cohorts", "staff", "customers.csv"])
async def test_it_refuses_a_bad_filter_with_invalid_period(
    client: httpx2.AsyncClient,
    analyst: dict[str, str],
    params: dict[str, str],
    field: str,
    report: str,
) -> None:
    response = await client.get(f"/api/v1/reports/{report}", headers=analyst, params=params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_period"
    assert error["details"][0]["field"] == field


async def test_it_refuses_callers_without_reports_read(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    rep = bearer(await make_key(await make_user("sales")))
    for report in ("customers", "cohorts", "staff", "staff.csv"):
        response = await client.get(f"/api/v1/reports/{report}", headers=rep)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "missing_scope"
    assert (await client.get("/api/v1/reports/customers")).status_code == 401


async def reporting_rep(db: AsyncSession, make_user: MakeUser) -> Persona:
    """A rep whose role reads reports but sees only their own customers."""
    await users_service.create_role(
        db,
        actor=SYSTEM,
        name="reporting-rep",
        label="Reporting rep",
        scopes=["customers:read", "reports:read"],
        record_scope="own",
    )
    return await make_user("reporting-rep")


async def test_a_rep_with_own_scope_sees_figures_of_their_own_customers_only(
    client: httpx2.AsyncClient, db: AsyncSession, shop: Shop, make_user: MakeUser, make_key: MakeKey
) -> None:
    rep = await reporting_rep(db, make_user)
    await shop.customer("Mine", owner=rep)
    await shop.customer("Theirs")
    await shop.order("Mine", "2025-03-03", "10.00")
    await shop.order("Theirs", "2025-03-04", "990.00")
    await shop.refresh()
    report = await get_json(
        client,
        "/api/v1/reports/customers",
        bearer(await make_key(rep)),
        **{"from": "2025-03-01", "to": "2025-03-31", "grain": "month"},
    )
    assert figures(report, "customers_ordered")[0] == 1
    assert figures(report, "lifetime_value")[0] == "10.00"
    staff = await get_json(
        client, "/api/v1/reports/staff", bearer(await make_key(rep)), **{"from": "2025-03-01"}
    )
    assert [row["email"] for row in staff["rows"]] == [rep.email]


# -- cohorts ----------------------------------------------------------------------------------


async def cohort_shop(shop: Shop) -> None:
    for name in ("A", "B", "C", "D", "E", "F"):
        await shop.customer(name)
    for name, day, clock in [
        ("A", "2025-01-05", "12:00"),
        ("A", "2025-02-10", "12:00"),
        ("A", "2025-02-20", "12:00"),
        ("A", "2025-04-01", "12:00"),
        ("B", "2025-01-31", "23:30"),
        ("B", "2025-02-01", "00:10"),
        ("C", "2025-01-15", "12:00"),
        ("D", "2025-02-14", "12:00"),
        ("D", "2025-06-01", "12:00"),
        ("E", "2024-12-20", "12:00"),
        ("E", "2025-01-10", "12:00"),
        ("F", "2025-03-03", "12:00"),
        ("F", "2025-04-04", "12:00"),
    ]:
        await shop.order(name, day, clock=clock)
    await shop.order("F", "2025-05-05", cancelled=True)
    await shop.refresh()


async def test_the_cohort_matrix_shows_the_share_who_came_back_in_each_month_that_ended(
    shop: Shop, db: AsyncSession, make_user: MakeUser
) -> None:
    await cohort_shop(shop)
    admin = await principal_for(db, (await make_user("admin")).user)
    report = await cohorts_report(
        db, admin, ReportPeriod(date(2025, 1, 1), date(2025, 3, 31)), today=date(2025, 6, 15)
    )
    assert [(r.cohort, r.customers, [str(s) for s in r.retention]) for r in report.cohorts] == [
        (date(2025, 1, 1), 3, ["0.6667", "0.0000", "0.3333", "0.0000"]),
        (date(2025, 2, 1), 1, ["0.0000", "0.0000", "0.0000"]),
        (date(2025, 3, 1), 1, ["1.0000", "0.0000"]),
    ]
    assert report.cohorts[0].returned == [2, 0, 1, 0]
    assert report.months == 4


async def test_the_cohorts_api_and_csv_give_the_matrix(
    client: httpx2.AsyncClient, shop: Shop, analyst: dict[str, str]
) -> None:
    await cohort_shop(shop)
    params = {"from": "2025-01-01", "to": "2025-02-28"}
    report = await get_json(client, "/api/v1/reports/cohorts", analyst, **params)
    # every month has ended by now: twelve months each
    assert [len(row["retention"]) for row in report["cohorts"]] == [12, 12]
    assert report["cohorts"][0]["retention"][:3] == ["0.6667", "0.0000", "0.3333"]
    response = await client.get("/api/v1/reports/cohorts.csv", headers=analyst, params=params)
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows[0] == ["cohort", "customers", *(f"month_{k}" for k in range(1, 13))]
    assert rows[1][:5] == ["2025-01-01", "3", "0.6667", "0.0000", "0.3333"]
    assert rows[2][:3] == ["2025-02-01", "1", "0.0000"]


async def test_an_empty_cohort_period_has_no_rows(
    client: httpx2.AsyncClient, analyst: dict[str, str]
) -> None:
    report = await get_json(
        client, "/api/v1/reports/cohorts", analyst, **{"from": "2019-01-01", "to": "2019-06-30"}
    )
    assert report["cohorts"] == []
    response = await client.get(
        "/api/v1/reports/cohorts.csv", headers=analyst, params={"from": "2019-01-01"}
    )
    assert response.text.lstrip("\ufeff").splitlines() == ["cohort,customers,month_1"]


MONTHS = [date(2024 + m // 12, m % 12 + 1, 1) for m in range(24)]
orders_strategy = st.lists(
    st.tuples(
        st.integers(0, 23),  # month
        st.integers(1, 28),  # day
        st.booleans(),  # cancelled
        st.sampled_from(["web", "pos"]),
    ),
    min_size=1,
    max_size=5,
)


def reference_matrix(
    people: list[list[tuple[int, int, bool, str]]], channel: str | None, first: int, last: int
) -> list[tuple[date, int, list[int]]]:
    """The matrix the plain way: each person's first month, then the months they came back."""
    cohorts: dict[int, list[set[int]]] = {}
    for orders in people:
        months = sorted(
            m for m, _, cancelled, ch in orders if not cancelled and channel in (None, ch)
        )
        if not months or not first <= months[0] <= last:
            continue
        start = months[0]
        cohort = cohorts.setdefault(start, [])
        cohort.append({m - start for m in months if 0 < m - start <= 12})
    today_month = 27  # April 2026
    rows = []
    for start in sorted(cohorts):
        members = cohorts[start]
        elapsed = min(12, today_month - start - 1)
        rows.append(
            (
                MONTHS[start],
                len(members),
                [sum(1 for back in members if k in back) for k in range(1, elapsed + 1)],
            )
        )
    return rows


@rollup_examples(40)
@given(
    people=st.lists(orders_strategy, min_size=1, max_size=6),
    channel=st.sampled_from([None, "web"]),
    bounds=st.tuples(st.integers(0, 23), st.integers(0, 23)).map(sorted),
)
async def test_the_cohort_matrix_equals_a_plain_python_reading_of_the_orders(
    people: list[list[tuple[int, int, bool, str]]],
    channel: str | None,
    bounds: list[int],
    db: AsyncSession,
    settings: Settings,
    admin_principal: Principal,
) -> None:
    savepoint = await db.begin_nested()
    try:
        shop = Shop(db, settings)
        for number, orders in enumerate(people):
            await shop.customer(f"P{number}")
            for month, day, cancelled, ch in orders:
                placed = MONTHS[month].replace(day=day).isoformat()
                await shop.order(f"P{number}", placed, cancelled=cancelled, channel=ch)
        await shop.channel("web")
        await shop.refresh()
        first, last = bounds
        period = ReportPeriod(
            MONTHS[first],
            MONTHS[last].replace(day=28),
            channel=shop.channels["web"].name if channel else None,
        )
        report = await cohorts_report(db, admin_principal, period, today=date(2026, 4, 15))
        found = [(row.cohort, row.customers, row.returned) for row in report.cohorts]
        assert found == reference_matrix(people, channel, first, last)
    finally:
        await savepoint.rollback()


DAY_ZERO = date(2024, 1, 1)
customer_orders = st.lists(
    st.tuples(
        st.integers(0, 400),  # day
        st.booleans(),  # cancelled
        st.sampled_from(["web", "pos"]),
        st.sampled_from(["10.00", "25.50", "99.99"]),
        st.sampled_from(["0", "5.00"]),  # refunded
    ),
    min_size=0,
    max_size=4,
)


@rollup_examples(40)
@given(
    people=st.lists(customer_orders, min_size=1, max_size=6),
    channel=st.sampled_from([None, "web"]),
    start=st.integers(0, 400),
    days=st.integers(1, 120),
)
async def test_the_headline_equals_a_plain_python_reading_of_the_orders(
    people: list[list[tuple[int, bool, str, str, str]]],
    channel: str | None,
    start: int,
    days: int,
    db: AsyncSession,
    settings: Settings,
    admin_principal: Principal,
) -> None:
    savepoint = await db.begin_nested()
    try:
        shop = Shop(db, settings)
        await shop.channel("web")
        for number, orders in enumerate(people):
            await shop.customer(f"P{number}")
            for day, cancelled, ch, total, refunded in orders:
                placed = (DAY_ZERO + timedelta(days=day)).isoformat()
                await shop.order(
                    f"P{number}", placed, total, cancelled=cancelled, channel=ch, refunded=refunded
                )
        await shop.refresh()
        first_day = DAY_ZERO + timedelta(days=start)
        period = ReportPeriod(
            first_day,
            first_day + timedelta(days=days - 1),
            "month",
            shop.channels["web"].name if channel else None,
        )
        report = await customers_report(db, admin_principal, period, currency="USD")

        since, until = start, start + days
        counted = [
            [
                (d, Decimal(t) - Decimal(r))
                for d, c, ch, t, r in orders
                if not c and channel in (None, ch)
            ]
            for orders in people
        ]
        ordered = [o for o in counted if any(since <= d < until for d, _ in o)]
        new = [o for o in ordered if min(d for d, _ in o) >= since]
        repeat = [o for o in ordered if sum(1 for d, _ in o if d < until) >= 2]
        known = [o for o in counted if o and min(d for d, _ in o) < until]
        spent = sum((n for o in known for d, n in o if d < until), Decimal(0))
        headline = report.headline
        assert headline.customers_ordered.value == len(ordered)
        assert headline.new_customers.value == len(new)
        assert headline.returning_customers.value == len(ordered) - len(new)
        assert headline.repeat_purchase_rate.value == share(len(repeat), len(ordered))
        assert headline.lifetime_value.value == average(spent, len(known))
        assert report.customers_ever_ordered == sum(1 for o in counted if o)
    finally:
        await savepoint.rollback()


@pytest.fixture
async def admin_principal(db: AsyncSession, make_user: MakeUser) -> Principal:
    return await principal_for(db, (await make_user("admin")).user)


# -- staff ------------------------------------------------------------------------------------


async def test_the_staff_report_counts_each_persons_notes_calls_customers_and_their_orders(
    client: httpx2.AsyncClient, db: AsyncSession, shop: Shop, make_user: MakeUser, make_key: MakeKey
) -> None:
    manager = await make_user("admin", name="Mona Manager")
    rep = await make_user("sales", name="Rita Rep")
    await make_user("support", name="Sam Support")
    await shop.customer("Owned1", owner=rep)
    await shop.customer("Owned2", owner=rep)
    await shop.customer("Mona's", owner=manager)
    await shop.order("Owned1", "2025-03-03", "100.00")
    await shop.order("Owned1", "2025-03-04", "50.00", refunded="10.00")
    await shop.order("Owned2", "2025-03-05", "30.00", cancelled=True)
    await shop.order("Owned2", "2025-02-05", "30.00")  # before the period
    await shop.order("Mona's", "2025-03-06", "20.00", rate="2")
    await shop.refresh()
    for actor, kind, day in [
        (rep, "note", "2025-03-02"),
        (rep, "note", "2025-03-09"),
        (rep, "call", "2025-03-10"),
        (rep, "meeting", "2025-03-11"),
        (rep, "note", "2025-04-01"),  # after the period
        (manager, "call", "2025-03-12"),
    ]:
        db.add(
            TimelineEntry(
                customer_id=shop.customers["Owned1"].id,
                kind=kind,
                occurred_at=at(day),
                actor_type="user",
                actor_id=actor.user.id,
                actor_label=actor.email,
                summary=kind,
            )
        )
    await db.flush()
    report = await get_json(
        client,
        "/api/v1/reports/staff",
        bearer(await make_key(manager)),
        **{"from": "2025-03-01", "to": "2025-03-31"},
    )
    rows = {row["name"]: row["figures"] for row in report["rows"]}
    assert rows["Rita Rep"] == {
        "notes": 2,
        "calls": 1,
        "meetings": 1,
        "emails_logged": 0,
        "customers_owned": 2,
        "orders": 2,
        "revenue": "140.00",
    }
    assert rows["Mona Manager"] == {
        "notes": 0,
        "calls": 1,
        "meetings": 0,
        "emails_logged": 0,
        "customers_owned": 1,
        "orders": 1,
        "revenue": "40.00",
    }
    assert rows["Sam Support"]["notes"] == 0
    assert [m["key"] for m in report["measures"]][:2] == ["notes", "calls"]

    response = await client.get(
        "/api/v1/reports/staff.csv",
        headers=bearer(await make_key(manager)),
        params={"from": "2025-03-01", "to": "2025-03-31"},
    )
    table = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    rita = next(row for row in table if row["name"] == "Rita Rep")
    assert (rita["email"], rita["notes"], rita["revenue"]) == (rep.email, "2", "140.00")


async def test_people_who_left_appear_only_when_they_did_something(
    client: httpx2.AsyncClient, db: AsyncSession, make_user: MakeUser, analyst: dict[str, str]
) -> None:
    gone = await make_user("sales", name="Gone Person")
    gone.user.is_active = False
    await db.flush()
    report = await get_json(client, "/api/v1/reports/staff", analyst, **{"from": "2025-03-01"})
    assert "Gone Person" not in {row["name"] for row in report["rows"]}
