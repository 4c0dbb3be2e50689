"""The compiled SQL selects exactly the customers a plain Python reading of the tree selects.

Random customers (profile, custom fields, tags, addresses, consents, metrics, orders with
lines, tracking events) and random trees are drawn together; the trees go through their
canonical text and back before they are compiled. The evaluator below is written from the
language's documented meaning (docs/segments.md), not from the compiler.
"""

from __future__ import annotations

import operator
import uuid
from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, Phase, event, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.principal import Principal
from patron.config import get_settings
from patron.kit.ids import new_id
from patron.models import (
    Category,
    Consent,
    Customer,
    CustomerAddress,
    CustomerMetrics,
    CustomFieldDefinition,
    Order,
    OrderLine,
    Product,
    TrackingEvent,
    product_category,
)
from patron.models.events import RECENT_EVENTS
from patron.segments import compiler, repository
from patron.segments.ast import (
    ITEM_KINDS,
    TIMES_OPS,
    Ago,
    AllOf,
    AnyOf,
    Bought,
    Compare,
    ConsentIs,
    Did,
    HasTag,
    IsSet,
    ItemKind,
    Node,
    Not,
    Period,
    PropertyFilter,
    TimesOp,
    Within,
)
from patron.segments.language import compile_text
from patron.segments.parser import parse
from patron.segments.text import to_text
from tests.conftest import MakeUser, principal_for

SUFFIX = uuid.uuid4().hex[:6]
NOW = datetime.now(UTC).replace(microsecond=0)
PRODUCTS = [(f"boot-{SUFFIX}", "Boot Classic"), (f"cap-{SUFFIX}", "Wool Cap")]
CATEGORIES = [("Shoes", f"shoes-{SUFFIX}"), ("Hats", f"hats-{SUFFIX}")]  # product i in i
SKUS = [f"BOOT-{SUFFIX}", f"CAP-{SUFFIX}", "OTHER"]
CUSTOM = {
    "sg_size": ("select", ["S", "M", "L"]),
    "sg_score": ("number", []),
    "sg_vip": ("boolean", []),
    "sg_since": ("date", []),
    "sg_colors": ("multiselect", ["red", "blue"]),
    "sg_nick": ("text", []),
}
TEXT_FIELDS = ["first_name", "last_name", "email", "company", "country", "city", "locale"]
TEXT_FIELDS += ["source", "custom.sg_nick"]
NUMBER_FIELDS = ["orders_count", "total_spent", "average_order_value", "refunded_total"]
NUMBER_FIELDS += ["items", "returns_count", "custom.sg_score"]
SCORE_FIELDS = ["recency_score", "frequency_score", "monetary_score"]  # not set: no scores
NUMBER_FIELDS += SCORE_FIELDS
DATETIME_FIELDS = ["created", "first_order", "last_order", "last_seen"]
DATE_FIELDS = ["birthday", "custom.sg_since"]
METRIC_COLUMNS = {
    "orders_count": "orders_count",
    "total_spent": "total_spent",
    "average_order_value": "average_order_value",
    "refunded_total": "refunded_total",
    "items": "items_bought",
    "returns_count": "returns_count",
}
ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days, hours=1)


# -- random data ------------------------------------------------------------------------------

money = st.integers(0, 40_000).map(lambda cents: Decimal(cents) / 100)
some_days = st.integers(0, 400)


@dataclass
class Line:
    product: int | None
    sku: str
    total: Decimal


@dataclass
class Purchase:
    days_ago: int
    cancelled: bool
    lines: list[Line]


@dataclass
class Event:
    name: str
    days_ago: int
    properties: dict[str, Any]
    hours: int = 1  # before ``days_ago`` days: 0 is a window's first instant

    @property
    def at(self) -> datetime:
        return NOW - timedelta(days=self.days_ago, hours=self.hours)


@dataclass
class Person:
    first_name: str
    last_name: str
    email_domain: str | None
    company: str | None
    country: str | None
    locale: str | None
    source: str
    lifecycle: str
    birthday: date | None
    created_days_ago: int
    tags: list[str]
    custom: dict[str, Any]
    cities: list[str]
    metrics: dict[str, Any] | None
    consents: dict[str, str]
    orders: list[Purchase]
    events: list[Event]
    id: uuid.UUID = field(default_factory=new_id)

    @property
    def email(self) -> str | None:
        return None if self.email_domain is None else f"p{self.id.hex[-8:]}@{self.email_domain}"


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


customs = st.fixed_dictionaries(
    {},
    optional={
        "sg_size": st.sampled_from(["S", "M", "L"]),
        "sg_score": st.sampled_from([-3, 0, 2, 5]) | st.just(2.5),
        "sg_vip": st.booleans(),
        "sg_since": st.sampled_from([date(2025, 1, 1), date(2026, 6, 1)]).map(date.isoformat),
        "sg_colors": st.lists(st.sampled_from(["red", "blue"]), unique=True),
        "sg_nick": st.sampled_from(["", "Al", "100%_off"]),
    },
)
metrics = st.fixed_dictionaries(
    {
        "orders_count": st.integers(0, 4),
        "total_spent": money,
        "average_order_value": money,
        "refunded_total": money,
        "items_bought": st.integers(0, 6),
        "returns_count": st.integers(0, 2),
        "first_order_at": _maybe(some_days.map(ago)),
        "last_order_at": _maybe(some_days.map(ago)),
        "last_seen_at": _maybe(some_days.map(ago)),
        **{score: _maybe(st.integers(1, 5)) for score in SCORE_FIELDS},
        "rfm_group": _maybe(st.sampled_from(["champions", "at_risk", "lost"])),
    }
)
properties = st.fixed_dictionaries(
    {},
    optional={
        "category": st.sampled_from(["shoes", "Shoes", "hats"]),
        "price": st.sampled_from([5, 12, 40]) | st.just("12"),
        "gift": st.booleans(),
    },
)
people = st.builds(
    Person,
    first_name=st.sampled_from(["Ann", "ann", "Bob", ""]),
    last_name=st.sampled_from(["Smith", "O'Neil", ""]),
    email_domain=_maybe(st.sampled_from(["gmail.com", "shop.test"])),
    company=_maybe(st.sampled_from(["", "Acme", "ACME Ltd"])),
    country=_maybe(st.sampled_from(["DE", "FR"])),
    locale=_maybe(st.sampled_from(["de-DE", "en"])),
    source=st.sampled_from(["", "shopify", "import"]),
    lifecycle=st.sampled_from(["lead", "customer", "vip"]),
    birthday=_maybe(st.sampled_from([date(1990, 5, 1), date(2001, 12, 24)])),
    created_days_ago=some_days,
    tags=st.lists(st.sampled_from(["vip", "VIP", "wholesale"]), unique=True, max_size=2),
    custom=customs,
    cities=st.lists(st.sampled_from(["Berlin", "berlin", "Paris", ""]), max_size=2),
    metrics=_maybe(metrics),
    consents=st.dictionaries(
        st.sampled_from(["email", "sms"]),
        st.sampled_from(["subscribed", "unsubscribed", "never_asked"]),
    ),
    orders=st.lists(
        st.builds(
            Purchase,
            st.integers(0, 200),
            st.booleans(),
            st.lists(
                st.builds(Line, _maybe(st.sampled_from([0, 1])), st.sampled_from(SKUS), money),
                min_size=1,
                max_size=2,
            ),
        ),
        max_size=3,
    ),
    events=st.lists(
        st.builds(
            Event,
            st.sampled_from(["viewed_product", "added_to_cart"]),
            st.integers(0, 30),
            properties,
            st.sampled_from([1, 0, -1, 12, 23]),  # around a window's first day and instant
        ),
        max_size=4,
    ),
)

# -- random trees over the fields of that data -----------------------------------------------

words = st.sampled_from(["ann", "Smith", "GMAIL", "de", "berlin", "acme", "%", "_", "", "Al"])
amounts = st.sampled_from([Decimal(n) for n in ("-1", "0", "1", "2", "100", "250.5")])
days_back = st.integers(0, 400).map(lambda n: (NOW - timedelta(days=n)).date())
periods = st.builds(
    Period, st.integers(0, 14), st.sampled_from(["days", "weeks", "months", "years"])
)
times: st.SearchStrategy[tuple[TimesOp, int]] = st.tuples(
    st.sampled_from(TIMES_OPS), st.integers(0, 3)
)
targets = {
    "product": [PRODUCTS[0][0], PRODUCTS[1][1].upper(), "nothing"],
    "variant": [SKUS[0].lower(), SKUS[1]],
    "category": ["shoes", CATEGORIES[1][1], "Hats"],
}
filters = st.sampled_from(
    [
        PropertyFilter("category", "=", "shoes"),
        PropertyFilter("category", "!=", "SHOES"),
        PropertyFilter("price", ">", Decimal(10)),
        PropertyFilter("price", "=", "12"),
        PropertyFilter("gift", "=", True),
        PropertyFilter("gift", "!=", False),
    ]
)


@st.composite
def purchases(draw: st.DrawFn) -> Bought:
    kind: ItemKind = draw(st.sampled_from(ITEM_KINDS))
    target = None if kind == "anything" else draw(st.sampled_from(targets[kind]))
    op, count = draw(times)
    amount = draw(_maybe(st.sampled_from([Decimal(0), Decimal(50), Decimal("150.5")])))
    return Bought(kind, target, op, count, draw(_maybe(periods)), amount)


@st.composite
def event_conditions(draw: st.DrawFn) -> Did:
    op, count = draw(times)
    where = tuple(draw(st.lists(filters, max_size=2, unique=True)))
    event = draw(st.sampled_from(["viewed_product", "added_to_cart"]))
    return Did(event, op, count, draw(_maybe(periods)), where)


ordering_ops = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])
conditions = st.one_of(
    st.builds(
        Compare,
        st.sampled_from(TEXT_FIELDS),
        st.sampled_from(["=", "!=", "contains", "starts_with"]),
        words,
    ),
    st.builds(
        Compare,
        st.just("lifecycle"),
        st.sampled_from(["=", "!="]),
        st.sampled_from(["vip", "LEAD", "churned"]),
    ),
    st.builds(
        Compare,
        st.just("rfm_group"),
        st.sampled_from(["=", "!="]),
        st.sampled_from(["champions", "AT_RISK", "new_customers"]),
    ),
    st.builds(Compare, st.sampled_from(SCORE_FIELDS), ordering_ops, st.integers(1, 5).map(Decimal)),
    st.builds(
        Compare,
        st.just("custom.sg_size"),
        st.sampled_from(["=", "!="]),
        st.sampled_from(["s", "L"]),
    ),
    st.builds(Compare, st.sampled_from(NUMBER_FIELDS), ordering_ops, amounts),
    st.builds(Compare, st.sampled_from(DATETIME_FIELDS + DATE_FIELDS), ordering_ops, days_back),
    st.builds(Compare, st.just("birthday"), ordering_ops, st.just(date(1990, 5, 1))),
    st.builds(Compare, st.just("custom.sg_vip"), st.sampled_from(["=", "!="]), st.booleans()),
    st.builds(
        Compare, st.just("custom.sg_colors"), st.just("contains"), st.sampled_from(["red", "blue"])
    ),
    st.builds(
        IsSet,
        st.sampled_from(
            TEXT_FIELDS
            + NUMBER_FIELDS
            + DATETIME_FIELDS
            + DATE_FIELDS
            + ["custom.sg_colors", "custom.sg_vip", "rfm_group"]
        ),
        st.booleans(),
    ),
    st.builds(Within, st.sampled_from(DATETIME_FIELDS + DATE_FIELDS), periods),
    st.builds(Ago, st.sampled_from(DATETIME_FIELDS + DATE_FIELDS), periods),
    st.builds(HasTag, st.sampled_from(["vip", "wholesale", "gold"])),
    st.builds(
        ConsentIs,
        st.sampled_from(["email", "sms"]),
        st.sampled_from(["=", "!="]),
        st.sampled_from(["subscribed", "unsubscribed", "never_asked", "pending"]),
    ),
    purchases(),
    event_conditions(),
)


def _groups(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    items = st.lists(children, min_size=2, max_size=3).map(tuple)
    return st.one_of(items.map(AllOf), items.map(AnyOf), children.map(Not))


trees = st.recursive(conditions, _groups, max_leaves=5)
# an "or" over a purchase or an event condition at the top: previews run its branches apart
either_over_sets = st.tuples(st.one_of(purchases(), event_conditions()), trees).map(
    lambda pair: AnyOf(pair)
)

# -- the reference reading -------------------------------------------------------------------


def _cutoff(period: Period) -> datetime:
    if period.unit in ("days", "weeks"):
        return NOW - timedelta(days=period.amount * (7 if period.unit == "weeks" else 1))
    year, month = NOW.year, NOW.month - period.amount * (12 if period.unit == "years" else 1)
    while month < 1:
        year, month = year - 1, month + 12
    return NOW.replace(year=year, month=month, day=min(NOW.day, monthrange(year, month)[1]))


def _text(value: str | None, op: str, wanted: str) -> bool:
    if op == "!=":
        return value is None or value.lower() != wanted.lower()
    if value is None:
        return False
    if op == "contains":
        return wanted.lower() in value.lower()
    if op == "starts_with":
        return value.lower().startswith(wanted.lower())
    return value.lower() == wanted.lower()


def _ordered(value: Any, op: str, wanted: Any) -> bool:
    if op == "!=":
        return value is None or value != wanted
    return value is not None and ORDERING[op](value, wanted)


def _on_days(value: datetime | None, op: str, day: date) -> bool:
    start = datetime.combine(day, time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    if value is None:
        return op == "!="
    inside = start <= value < end
    return {
        "=": inside,
        "!=": not inside,
        "<": value < start,
        "<=": value < end,
        ">": value >= end,
        ">=": value >= start,
    }[op]


def _field(person: Person, name: str) -> Any:
    if name.startswith("custom."):
        return person.custom.get(name.removeprefix("custom."))
    if name in METRIC_COLUMNS:
        return Decimal((person.metrics or {}).get(METRIC_COLUMNS[name], 0))
    if name in SCORE_FIELDS or name == "rfm_group":
        value = (person.metrics or {}).get(name)
        return Decimal(value) if isinstance(value, int) else value
    if name in ("first_order", "last_order", "last_seen"):
        return (person.metrics or {}).get(f"{name}_at")
    if name == "created":
        return ago(person.created_days_ago)
    if name == "lifecycle":
        return person.lifecycle
    return getattr(person, name)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    return Decimal(str(value))


def _compare(person: Person, node: Compare) -> bool:
    if node.field == "city":
        assert isinstance(node.value, str)
        if node.op == "!=":
            return not any(_text(city, "=", node.value) for city in person.cities)
        return any(_text(city, node.op, node.value) for city in person.cities)
    value = _field(person, node.field)
    if node.field in ("lifecycle", "custom.sg_size", "rfm_group"):
        assert isinstance(node.value, str)
        return _ordered(
            value, node.op, node.value.upper() if "size" in node.field else node.value.lower()
        )
    if node.field in TEXT_FIELDS:
        return _text(value, node.op, str(node.value))
    if node.field in NUMBER_FIELDS:
        return _ordered(_number(value), node.op, node.value)
    if node.field in DATETIME_FIELDS:
        assert isinstance(node.value, date)
        return _on_days(value, node.op, node.value)
    if node.field in DATE_FIELDS:
        day = date.fromisoformat(value) if isinstance(value, str) else value
        return _ordered(day, node.op, node.value)
    if node.field == "custom.sg_vip":
        same = isinstance(value, bool) and value == node.value
        return same if node.op == "=" else not same
    assert node.field == "custom.sg_colors"
    return isinstance(value, list) and node.value in value


def _is_set(person: Person, node: IsSet) -> bool:
    if node.field == "city":
        present = any(city != "" for city in person.cities)
    else:
        present = _field(person, node.field) not in (None, "", [])
    return present != node.negated


def _relative(person: Person, node: Within | Ago) -> bool:
    value = _field(person, node.field)
    if value is None:
        return False
    cutoff: Any = _cutoff(node.period)
    if node.field in DATE_FIELDS:
        value = date.fromisoformat(value) if isinstance(value, str) else value
        cutoff = cutoff.date()
    return bool(value >= cutoff if isinstance(node, Within) else value < cutoff)


def _line_matches(line: Line, node: Bought) -> bool:
    target = (node.target or "").lower()
    if node.kind == "anything":
        return True
    if node.kind == "variant":
        return line.sku.lower() == target
    if line.product is None:
        return False
    if node.kind == "product":
        handle, title = PRODUCTS[line.product]
        return target in (handle.lower(), title.lower())
    name, slug = CATEGORIES[line.product]
    return target in (name.lower(), slug)


def _bought(person: Person, node: Bought) -> bool:
    orders, amount = 0, Decimal(0)
    for order in person.orders:
        if order.cancelled or (node.within and ago(order.days_ago) < _cutoff(node.within)):
            continue
        lines = [line for line in order.lines if _line_matches(line, node)]
        orders += bool(lines)
        amount += sum((line.total for line in lines), Decimal(0))
    return ORDERING[node.times_op](orders, node.times) and (
        node.amount_over is None or amount > node.amount_over
    )


def _property(event: Event, item: PropertyFilter) -> bool:
    value = event.properties.get(item.name)
    if isinstance(item.value, bool):
        same = isinstance(value, bool) and value == item.value
        return same if item.op == "=" else not same
    if isinstance(item.value, Decimal):
        return _ordered(_number(value), item.op, item.value)
    shown = (
        None
        if value is None
        else ("true" if value is True else "false" if value is False else str(value))
    )
    return _text(shown, item.op, str(item.value))


def _did(person: Person, node: Did) -> bool:
    count = sum(
        1
        for event in person.events
        if event.name == node.event
        and not (node.within and event.at < _cutoff(node.within))
        and all(_property(event, item) for item in node.where)
    )
    return ORDERING[node.times_op](count, node.times)


def evaluate(person: Person, node: Node) -> bool:
    if isinstance(node, AllOf):
        return all(evaluate(person, item) for item in node.items)
    if isinstance(node, AnyOf):
        return any(evaluate(person, item) for item in node.items)
    if isinstance(node, Not):
        return not evaluate(person, node.item)
    if isinstance(node, Compare):
        return _compare(person, node)
    if isinstance(node, IsSet):
        return _is_set(person, node)
    if isinstance(node, Within | Ago):
        return _relative(person, node)
    if isinstance(node, HasTag):
        return node.tag in person.tags
    if isinstance(node, ConsentIs):
        status = person.consents.get(node.channel, "never_asked")
        return (status == node.status) == (node.op == "=")
    if isinstance(node, Bought):
        return _bought(person, node)
    assert isinstance(node, Did)
    return _did(person, node)


# -- storing the data ------------------------------------------------------------------------


async def _store_shop(db: AsyncSession) -> list[uuid.UUID]:
    products = [Product(id=new_id(), handle=handle, title=title) for handle, title in PRODUCTS]
    categories = [Category(id=new_id(), name=name, slug=slug) for name, slug in CATEGORIES]
    definitions = [
        CustomFieldDefinition(
            entity="customer", key=key, label=key, field_type=kind, options=options
        )
        for key, (kind, options) in CUSTOM.items()
    ]
    db.add_all([*products, *categories, *definitions])
    await db.flush()
    await db.execute(
        insert(product_category),
        [
            {"product_id": p.id, "category_id": c.id}
            for p, c in zip(products, categories, strict=True)
        ],
    )
    return [product.id for product in products]


async def _store(db: AsyncSession, crowd: list[Person], product_ids: list[uuid.UUID]) -> None:
    rows: list[Any] = []
    figures: list[CustomerMetrics] = []
    for person in crowd:
        rows.append(
            Customer(
                id=person.id,
                first_name=person.first_name,
                last_name=person.last_name,
                email=person.email,
                company=person.company,
                country=person.country,
                locale=person.locale,
                source=person.source,
                lifecycle_stage=person.lifecycle,
                birthday=person.birthday,
                created_at=ago(person.created_days_ago),
                tags=person.tags,
                custom_fields=person.custom,
            )
        )
    db.add_all(rows)
    await db.flush()
    rows = []
    for person in crowd:
        rows += [
            CustomerAddress(customer_id=person.id, line1="1 Road", city=city, country="DE")
            for city in person.cities
        ]
        rows += [
            Consent(customer_id=person.id, channel=channel, status=status)
            for channel, status in person.consents.items()
        ]
        if person.metrics is not None:  # over the zeros row every customer gets
            figures.append(CustomerMetrics(customer_id=person.id, **person.metrics))
        for purchase in person.orders:
            order = Order(
                id=new_id(),
                number=uuid.uuid4().hex,
                customer_id=person.id,
                currency="EUR",
                placed_at=ago(purchase.days_ago),
                cancelled_at=NOW if purchase.cancelled else None,
                total=sum((line.total for line in purchase.lines), Decimal(0)),
            )
            rows.append(order)
            rows += [
                OrderLine(
                    order_id=order.id,
                    product_id=None if line.product is None else product_ids[line.product],
                    title="Thing",
                    sku=line.sku,
                    unit_price=line.total,
                    quantity=1,
                    total=line.total,
                )
                for line in purchase.lines
            ]
        rows += [
            TrackingEvent(
                occurred_at=event.at,
                customer_id=person.id,
                name=event.name,
                properties=event.properties,
                source="test",
            )
            for event in person.events
        ]
    db.add_all(rows)
    await db.flush()
    for figure in figures:
        await db.merge(figure)
    await db.flush()


@pytest.fixture
async def admin(db: AsyncSession, make_user: MakeUser) -> Principal:
    """One admin for all the examples of a test (hashing a password is slow)."""
    return await principal_for(db, (await make_user("admin")).user)


@examples(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # a failure reports at once
)
@given(
    crowd=st.lists(people, min_size=1, max_size=6),
    tree=st.one_of(either_over_sets, trees),
    # how many latest events the compiler may read: counts beyond it take the daily rows
    # (the table keeps RECENT_EVENTS; fewer sends the small counts drawn down both paths)
    kept=st.sampled_from([1, 2, RECENT_EVENTS]),
)
async def test_the_sql_selects_exactly_the_customers_the_reference_reading_selects(
    crowd: list[Person], tree: Node, kept: int, db: AsyncSession, admin: Principal
) -> None:
    savepoint = await db.begin_nested()
    try:
        await _store(db, crowd, await _store_shop(db))
        text = to_text(tree)
        assert parse(text) == tree
        with patch.object(compiler, "RECENT_EVENTS", kept):
            compiled = compile_text(text, await repository.load_catalog(db), now=NOW)
        ids = {person.id for person in crowd}
        query = repository.member_ids(admin, compiled.where).where(Customer.id.in_(ids))
        found = set((await db.scalars(query)).all())
        expected = {person.id for person in crowd if evaluate(person, tree)}
        event("none" if not expected else "all" if expected == ids else "some")
        event(f"{len(compiled.alternatives)} alternative(s)")
        assert found == expected, text
        # the preview's path: the members of the alternatives together
        together: set[uuid.UUID] = set()
        for part in repository.member_queries(admin, compiled.alternatives):
            together |= set((await db.scalars(part.where(Customer.id.in_(ids)))).all())
        assert together == expected, text
    finally:
        await savepoint.rollback()


async def test_a_customer_without_metrics_counts_as_zero_orders_and_no_dates(
    db: AsyncSession, make_user: MakeUser
) -> None:
    principal = await principal_for(db, (await make_user("admin")).user)
    customer = Customer(first_name="New")
    db.add(customer)
    await db.flush()
    catalog = await repository.load_catalog(db)

    async def selects(text: str) -> bool:
        query = repository.member_ids(principal, compile_text(text, catalog).where)
        return customer.id in set((await db.scalars(query.where(Customer.id == customer.id))).all())

    assert await selects("orders_count = 0 and total_spent <= 0")
    assert await selects("last_order is not set and not last_order within 90 days")
    assert not await selects("orders_count > 0")
    assert await selects("email consent = never_asked and not bought anything")
    assert (await db.scalar(select(Customer.id).where(Customer.id == customer.id))) is not None


async def test_event_counts_beyond_the_latest_events_kept_stay_exact(
    db: AsyncSession, admin: Principal
) -> None:
    """Thirteen views, the newest ten within 30 days (the tenth at the window's first
    instant): counts up to ten read the latest ten kept events, beyond them the daily rows,
    and both agree on either side of the border and of the window's first instant."""
    customer = Customer(first_name="Busy")
    db.add(customer)
    await db.flush()
    hours = [h * 24 for h in range(9)] + [30 * 24, 30 * 24 + 1, 40 * 24, 50 * 24]
    db.add_all(
        TrackingEvent(occurred_at=NOW - timedelta(hours=h), customer_id=customer.id,
                      name="viewed_product", source="test")
        for h in hours
    )  # fmt: skip
    await db.flush()
    catalog = await repository.load_catalog(db)

    async def selects(text: str, kept: int = RECENT_EVENTS) -> bool:
        with patch.object(compiler, "RECENT_EVENTS", kept):
            where = compile_text(text, catalog, now=NOW).where
        query = repository.member_ids(admin, where).where(Customer.id == customer.id)
        return (await db.scalar(query)) is not None

    within = 'did "viewed_product" {} {} times within 30 days'
    for kept in (RECENT_EVENTS, 1):  # the latest events, then the daily rows alone
        assert await selects(within.format("at least", 10), kept)
        assert not await selects(within.format("at least", 11), kept)
        assert await selects(within.format("at most", 10), kept)
        assert not await selects(within.format("at most", 9), kept)
    ever = 'did "viewed_product" {} {} times'
    assert await selects(ever.format("at least", 10))  # the tenth latest is kept
    assert await selects(ever.format("at least", 13))  # beyond: from the daily rows
    assert not await selects(ever.format("at least", 14))
    assert await selects(ever.format("at most", 13))
    assert not await selects(ever.format("at most", 10))  # needs the eleventh: daily rows
    assert not await selects(ever.format("at most", 9))


async def test_an_or_over_events_previews_from_its_branches_with_the_same_count_and_page(
    db: AsyncSession, admin: Principal
) -> None:
    """A top-level ``or`` that reads events runs as one statement per branch: the count is
    of the members of either branch once each, the page the first of them in id order, as
    the whole expression in one statement gives."""
    tag = f"alt-{SUFFIX}"
    people = [
        Customer(first_name=f"P{n}", tags=[tag], country=("US", "DE")[n % 2]) for n in range(24)
    ]
    db.add_all(people)
    await db.flush()
    viewers = [person for n, person in enumerate(people) if n % 3 == 0]  # some US, some DE
    db.add_all(
        TrackingEvent(occurred_at=NOW - timedelta(hours=hour), customer_id=person.id,
                      name="viewed_product", source="test")
        for person in viewers for hour in (1, 2)
    )  # fmt: skip
    await db.flush()
    text = (
        f'(has tag "{tag}" and country = "US") or '
        f'(has tag "{tag}" and did "viewed_product" at least 2 times within 7 days)'
    )
    compiled = compile_text(text, await repository.load_catalog(db), now=NOW)
    assert len(compiled.alternatives) == 2
    expected = sorted(p.id for p in people if p.country == "US" or p in viewers)
    assert len(expected) == 16  # 12 in the US, and the 4 viewers in Germany
    for limit in (5, 20):
        apart = await repository.preview(
            db, repository.member_queries(admin, compiled.alternatives), limit=limit
        )
        whole = await repository.preview(
            db, [repository.member_ids(admin, compiled.where)], limit=limit
        )
        assert apart.count == whole.count == len(expected)
        assert [m.id for m in apart.members] == [m.id for m in whole.members] == expected[:limit]
    profile_only = compile_text(f'has tag "{tag}" or country = "US"', compiled.catalog, now=NOW)
    assert len(profile_only.alternatives) == 1  # one scan of the customers answers it


async def test_a_preview_runs_with_jit_off_and_the_segment_work_mem(
    db: AsyncSession, admin: Principal
) -> None:
    where = compile_text('did "viewed_product" at least 2 times', await repository.load_catalog(db))
    await repository.preview(db, [repository.member_ids(admin, where.where)])
    setting = func.current_setting
    assert await db.scalar(select(setting("jit"))) == "off"
    assert await db.scalar(select(setting("work_mem"))) == f"{get_settings().segment_work_mem_mb}MB"
