"""The customer list: search, filters, sorts and keyset pagination.

One :class:`CustomerQuery` serves the API, the panel, exports, saved views and bulk actions,
so "the customers I see" means the same thing everywhere.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import DateTime, Text

from patron.auth.principal import Principal
from patron.customers.repository import visible_customers
from patron.errors import InvalidInput, PermissionDenied
from patron.kit.text import LIKE_ESCAPE, contains_pattern
from patron.models import (
    Consent,
    Customer,
    CustomerEmail,
    CustomerMetrics,
    CustomerPhone,
    Segment,
    SegmentMember,
)
from patron.models.customers import RFM_GROUPS

SortKey = Literal[
    "-created_at",
    "created_at",
    "name",
    "-name",
    "-total_spent",
    "total_spent",
    "-orders_count",
    "orders_count",
    "-last_order_at",
    "last_order_at",
]
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
# "never ordered" in the last-order sort: a constant, so that the expression matches the index
# ix_customer_metrics_last_order_sort (a bound parameter would not, in a generic plan)
_NEVER_SQL = literal_column(
    "'1970-01-01 00:00:00+00'::timestamp with time zone", type_=DateTime(timezone=True)
)
# a search first reads this many customers in the list's order (after the other filters) and
# keeps the matches; a term too rare to fill a page there is looked up in the trigram indexes
SEARCH_WINDOW = 2000
# ... unless the first window's matches say a wider one (at most this many rows) would fill it
SEARCH_WINDOW_MAX = 25_000
CONSENT_FILTER = re.compile(r"^(email|sms):(subscribed|unsubscribed|pending|never_asked)$")
CUSTOM_FILTER = re.compile(r"^([a-z][a-z0-9_]{0,39})[:=](.{1,200})$")
# names within this word similarity match a search: "jonh smiht" finds John Smith
WORD_SIMILARITY = "0.35"
_SIMILARITY = text("SELECT set_config('pg_trgm.word_similarity_threshold', :limit, true)")


class CustomerQuery(BaseModel):
    """Filters of the customer list (query parameters of the API and the panel)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    q: str | None = Field(default=None, max_length=200, description="Name, email or phone")
    tag: list[str] = Field(default_factory=list, max_length=20, description="Has every tag")
    lifecycle: list[str] = Field(default_factory=list, max_length=7)
    country: list[str] = Field(default_factory=list, max_length=50)
    owner_id: uuid.UUID | None = None
    unowned: bool = False
    spent_min: Decimal | None = Field(default=None, ge=0, le=Decimal("1e12"))
    spent_max: Decimal | None = Field(default=None, ge=0, le=Decimal("1e12"))
    orders_min: int | None = Field(default=None, ge=0, le=1_000_000)
    orders_max: int | None = Field(default=None, ge=0, le=1_000_000)
    first_order_from: date | None = None
    first_order_to: date | None = None
    last_order_from: date | None = None
    last_order_to: date | None = None
    created_from: date | None = None
    created_to: date | None = None
    consent: list[str] = Field(
        default_factory=list, max_length=4, description="`email:subscribed`, `sms:unsubscribed`…"
    )
    custom: list[str] = Field(
        default_factory=list, max_length=10, description="Custom field filters, `key:value`"
    )
    recency_score: int | None = Field(default=None, ge=1, le=5, description="RFM recency 1–5")
    frequency_score: int | None = Field(default=None, ge=1, le=5, description="RFM frequency")
    monetary_score: int | None = Field(default=None, ge=1, le=5, description="RFM monetary")
    rfm_group: list[str] = Field(
        default_factory=list, max_length=11, description="In any of these RFM groups"
    )
    segment: uuid.UUID | None = Field(
        default=None,
        description="Members of this saved segment (a dynamic one as of its last refresh)",
    )
    sort: SortKey = "-created_at"

    @field_validator("rfm_group")
    @classmethod
    def _known_groups(cls, groups: list[str]) -> list[str]:
        unknown = [group for group in groups if group not in RFM_GROUPS]
        if unknown:
            raise ValueError(f"not an RFM group: {', '.join(unknown)}")
        return groups

    def active_filters(self) -> dict[str, Any]:
        """The filters in use, as query-string values (for links, exports and saved views)."""
        return {
            key: value
            for key, value in self.model_dump(mode="json", exclude={"sort"}).items()
            if value not in (None, [], "", False)
        }


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        message, code="invalid_filter", details=[{"field": field, "message": message}]
    )


def _day_start(value: date) -> datetime:
    return datetime.combine(value, time.min, tzinfo=UTC)


def _day_end(value: date) -> datetime:
    return _day_start(value) + timedelta(days=1)


def _email_text() -> ColumnElement[str]:
    # the expression of the trigram index ix_customer_email_trgm
    return func.lower(cast(Customer.email, Text))


@dataclass(frozen=True)
class _Searched:
    """The columns a search reads: the customer table's, or the same carried out of a CTE."""

    id: Any
    search_name: Any
    email_text: Any
    phone: Any

    @classmethod
    def customer(cls) -> _Searched:
        return cls(Customer.id, Customer.search_name, _email_text(), Customer.phone)

    @staticmethod
    def labelled() -> list[Any]:
        """The customer's columns, labelled for a CTE that :meth:`of` reads back."""
        return [
            Customer.search_name.label("search_name"),
            _email_text().label("email_text"),
            Customer.phone.label("phone"),
        ]

    @classmethod
    def of(cls, cte: Any) -> _Searched:
        return cls(cte.c.id, cte.c.search_name, cte.c.email_text, cte.c.phone)


@dataclass(frozen=True)
class _Match:
    """What a search term matches: the customer's own columns, and optionally the rows of a
    table of further emails or phones (``owner`` is its customer_id column)."""

    searched: _Searched
    own: ColumnElement[bool]
    owner: Any = None
    other: ColumnElement[bool] | None = None

    def ids(self) -> CompoundSelect[Any] | Select[Any]:
        """The matching customers' ids, from the trigram indexes."""
        own = select(self.searched.id).where(self.own)
        if self.other is None:
            return own
        return union(own, select(self.owner).where(self.other))

    def row(self) -> ColumnElement[bool]:
        """Whether the customer at hand matches, tested row by row."""
        if self.other is None:
            return self.own
        return or_(self.own, exists().where(self.owner == self.searched.id, self.other))


def _match(term: str, searched: _Searched) -> _Match:
    pattern = contains_pattern(term)
    digits = re.sub(r"\D", "", term)
    if "@" in term:
        return _Match(
            searched,
            searched.email_text.like(pattern.lower(), escape=LIKE_ESCAPE),
            CustomerEmail.customer_id,
            CustomerEmail.email.ilike(pattern, escape=LIKE_ESCAPE),
        )
    if len(digits) >= 4 and len(digits) >= len(term.replace(" ", "")) - 3:
        digit_pattern = f"%{digits}%"
        return _Match(
            searched,
            searched.phone.like(digit_pattern),
            CustomerPhone.customer_id,
            CustomerPhone.phone.like(digit_pattern),
        )
    lowered = " ".join(term.lower().split())
    return _Match(
        searched,
        or_(
            searched.search_name.like(contains_pattern(lowered), escape=LIKE_ESCAPE),
            searched.search_name.op("%>")(lowered),
            searched.email_text.like(contains_pattern(lowered), escape=LIKE_ESCAPE),
        ),
    )


def _search(term: str) -> ColumnElement[bool]:
    """Customers matching a search, found through the trigram indexes first.

    The matches are a materialised CTE: otherwise the planner, overestimating how many
    customers match, walks the list's sort index and tests every customer against the
    pattern, which reads the whole table for a rare name. A common term makes this CTE large,
    which is why :func:`list_customers` tries :func:`_windowed_search` first.
    """
    matches = (
        _match(term, _Searched.customer()).ids().cte("search_matches").prefix_with("MATERIALIZED")
    )
    return Customer.id.in_(select(matches.c[0]))


def _consent_clause(value: str) -> ColumnElement[bool]:
    match = CONSENT_FILTER.match(value)
    if not match:
        raise _invalid("consent", f"{value!r}: use channel:status, e.g. email:subscribed")
    channel, status = match.groups()
    given = exists().where(
        Consent.customer_id == Customer.id,
        Consent.channel == channel,
        Consent.purpose == "marketing",
        Consent.status == status,
    )
    if status != "never_asked":
        return given
    asked = exists().where(
        Consent.customer_id == Customer.id,
        Consent.channel == channel,
        Consent.purpose == "marketing",
    )
    return or_(given, ~asked)


def _custom_clause(value: str) -> ColumnElement[bool]:
    match = CUSTOM_FILTER.match(value)
    if not match:
        raise _invalid("custom", f"{value!r}: use key:value, e.g. shoe_size:42")
    key, wanted = match.groups()
    as_text = {key: wanted}
    candidates: list[ColumnElement[bool]] = [
        Customer.custom_fields.contains(as_text),
        Customer.custom_fields.contains({key: [wanted]}),
    ]
    if wanted.lower() in ("true", "false"):
        candidates.append(Customer.custom_fields.contains({key: wanted.lower() == "true"}))
    try:
        number = Decimal(wanted)
    except ArithmeticError:
        number = None
    if number is not None and number.is_finite():
        candidates.append(Customer.custom_fields[key].as_float() == float(number))
    return or_(*candidates)


def filter_clauses(query: CustomerQuery) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if query.q:
        clauses.append(_search(query.q))
    if query.tag:
        clauses.append(Customer.tags.contains([t.lower() for t in query.tag]))
    if query.lifecycle:
        clauses.append(Customer.lifecycle_stage.in_(query.lifecycle))
    if query.country:
        clauses.append(Customer.country.in_([c.upper() for c in query.country]))
    if query.owner_id is not None:
        clauses.append(Customer.owner_id == query.owner_id)
    if query.unowned:
        clauses.append(Customer.owner_id.is_(None))
    if query.created_from:
        clauses.append(Customer.created_at >= _day_start(query.created_from))
    if query.created_to:
        clauses.append(Customer.created_at < _day_end(query.created_to))
    clauses.extend(_metric_clauses(query))
    clauses.extend(_rfm_clauses(query))
    clauses.extend(_consent_clause(value) for value in query.consent)
    clauses.extend(_custom_clause(value) for value in query.custom)
    if query.segment is not None:
        clauses.append(_segment_clause(query.segment))
    return clauses


def _rfm_clauses(query: CustomerQuery) -> list[ColumnElement[bool]]:
    scores = (
        (CustomerMetrics.recency_score, query.recency_score),
        (CustomerMetrics.frequency_score, query.frequency_score),
        (CustomerMetrics.monetary_score, query.monetary_score),
    )
    clauses = [column == wanted for column, wanted in scores if wanted is not None]
    if query.rfm_group:
        clauses.append(CustomerMetrics.rfm_group.in_(query.rfm_group))
    return clauses


def _segment_clause(segment_id: uuid.UUID) -> ColumnElement[bool]:
    members = select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment_id)
    return Customer.id.in_(members)


async def check_segment(db: AsyncSession, principal: Principal, query: CustomerQuery) -> None:
    """Refuses a segment filter naming no saved segment, or used without ``segments:read``."""
    if query.segment is None:
        return
    if not principal.has("segments:read"):
        raise PermissionDenied(
            "Filtering by segment needs the segments:read permission.",
            code="segment_filter_forbidden",
        )
    if await db.scalar(select(Segment.id).where(Segment.id == query.segment)) is None:
        message = "There is no such segment; it may have been deleted."
        raise InvalidInput(
            message, code="unknown_segment", details=[{"field": "segment", "message": message}]
        )


def _metric_clauses(query: CustomerQuery) -> list[ColumnElement[bool]]:
    # every customer has a metrics row (zeros until they order), so the columns are compared
    # as they are, which lets the planner use the metrics indexes
    clauses: list[ColumnElement[bool]] = []
    ranges: list[tuple[Any, Any, Any]] = [
        (CustomerMetrics.total_spent, query.spent_min, query.spent_max),
        (CustomerMetrics.orders_count, query.orders_min, query.orders_max),
    ]
    for column, low, high in ranges:
        if low:
            clauses.append(column >= low)
        if high is not None:
            clauses.append(column <= high)
    for column, start, end in (
        (CustomerMetrics.first_order_at, query.first_order_from, query.first_order_to),
        (CustomerMetrics.last_order_at, query.last_order_from, query.last_order_to),
    ):
        if start:
            clauses.append(column >= _day_start(start))
        if end:
            clauses.append(column < _day_end(end))
    if (
        query.spent_min is not None
        and query.spent_max is not None
        and query.spent_min > query.spent_max
    ):
        clauses.append(false())
    return clauses


@dataclass(frozen=True)
class Sort:
    expression: ColumnElement[Any]
    descending: bool
    kind: type
    # the customer id breaking ties, from the table whose index serves the sort
    tiebreak: ColumnElement[Any]

    def after(self, cursor: str) -> ColumnElement[bool]:
        """The rows after a cursor's in this order (keyset pagination)."""
        value, last_id = _decode(cursor, self.kind)
        key = tuple_(self.expression, self.tiebreak)
        bound = tuple_(literal(value), literal(last_id))
        return key < bound if self.descending else key > bound

    def order(self, expression: Any = None, tiebreak: Any = None) -> list[Any]:
        """ORDER BY terms: the sort's own, or the same direction on other columns."""
        columns = [self.expression if expression is None else expression]
        columns.append(self.tiebreak if tiebreak is None else tiebreak)
        return [c.desc() if self.descending else c.asc() for c in columns]


def _sort(key: SortKey) -> Sort:
    descending = key.startswith("-")
    name = key.lstrip("-")
    metric = CustomerMetrics.customer_id
    expressions: dict[str, tuple[Any, type, Any]] = {
        "created_at": (Customer.__table__.c.created_at, datetime, Customer.id),
        "name": (Customer.__table__.c.search_name, str, Customer.id),
        "total_spent": (CustomerMetrics.__table__.c.total_spent, Decimal, metric),
        "orders_count": (CustomerMetrics.__table__.c.orders_count, int, metric),
        "last_order_at": (
            func.coalesce(CustomerMetrics.last_order_at, _NEVER_SQL),
            datetime,
            metric,
        ),
    }
    expression, kind, tiebreak = expressions[name]
    return Sort(expression, descending, kind, tiebreak)


def _encode(value: Any, customer_id: uuid.UUID) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    raw = json.dumps([text, str(customer_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, kind: type) -> tuple[Any, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        text, identifier = json.loads(raw)
        value: Any = datetime.fromisoformat(text) if kind is datetime else kind(text)
        return value, uuid.UUID(identifier)
    except (ValueError, TypeError, ArithmeticError):
        raise InvalidInput(
            "The cursor is not valid; start again from the first page.",
            code="invalid_cursor",
            details=[{"field": "cursor", "message": "not a cursor from this list"}],
        ) from None


def base_query(principal: Principal, query: CustomerQuery) -> Select[Any]:
    return (
        visible_customers(principal)
        .add_columns(CustomerMetrics)
        .join(CustomerMetrics, CustomerMetrics.customer_id == Customer.id)
        .where(*filter_clauses(query))
    )


async def _prepare(db: AsyncSession, principal: Principal, query: CustomerQuery) -> None:
    await check_segment(db, principal, query)
    if query.q:
        await db.execute(_SIMILARITY, {"limit": WORD_SIMILARITY})


async def list_customers(
    db: AsyncSession,
    principal: Principal,
    query: CustomerQuery,
    *,
    limit: int,
    cursor: str | None = None,
) -> tuple[list[tuple[Customer, CustomerMetrics | None]], str | None]:
    await _prepare(db, principal, query)
    sort = _sort(query.sort)
    after = sort.after(cursor) if cursor else None
    rows: list[Any] = []
    if query.q:
        size = SEARCH_WINDOW
        while size:
            windowed = _windowed_search(principal, query, query.q, sort, after, limit, size)
            rows = list((await db.execute(windowed)).all())
            size = _wider_window(size, len(rows), limit)
    if len(rows) <= limit:  # no search, or a term too rare to fill a page in the window
        statement = base_query(principal, query).add_columns(sort.expression.label("sort_value"))
        if after is not None:
            statement = statement.where(after)
        statement = statement.order_by(*sort.order()).limit(limit + 1)
        rows = list((await db.execute(statement)).all())
    page = [(row[0], row[1]) for row in rows[:limit]]
    if len(rows) <= limit:
        return page, None
    last = rows[limit - 1]
    return page, _encode(last.sort_value, last[0].id)


def _wider_window(size: int, found: int, limit: int) -> int:
    """The window to try next after ``found`` matches among ``size`` rows did not fill a page
    (0: none, look the term up in the trigram indexes). A term matching a few in a thousand
    customers ("smith") fills a page in a wider window long before the trigram path has
    collected and sorted every one of its matches; a rarer one goes straight there. The
    window widens once."""
    if found > limit or found == 0 or size != SEARCH_WINDOW:
        return 0
    wanted = size * (limit + 1) * 3 // (found * 2)  # rows for a page at this rate, plus half
    return wanted if wanted <= SEARCH_WINDOW_MAX else 0


def _windowed_search(
    principal: Principal,
    query: CustomerQuery,
    term: str,
    sort: Sort,
    after: ColumnElement[bool] | None,
    limit: int,
    size: int,
) -> Select[Any]:
    """The page of a search among the first ``size`` customers in the list's order.

    Those customers are the prefix of the list without the search, so if more than a page of
    them match, the matches are exactly the search's page: a common term ("gmail", a frequent
    first name) is answered by reading a few rows in index order instead of a trigram bitmap
    of a large part of the table. The term is tested on the name, email and phone carried out
    of the window, so the planner cannot swap the test for that bitmap.
    """
    window = base_query(principal, query.model_copy(update={"q": None})).with_only_columns(
        Customer.id.label("id"), sort.expression.label("sort_value"), *_Searched.labelled()
    )
    if after is not None:
        window = window.where(after)
    first = (
        window.order_by(*sort.order()).limit(size).cte("search_window").prefix_with("MATERIALIZED")
    )
    return (
        select(Customer, CustomerMetrics, first.c.sort_value)
        .select_from(first)
        .join(Customer, Customer.id == first.c.id)
        .join(CustomerMetrics, CustomerMetrics.customer_id == first.c.id)
        .where(_match(term, _Searched.of(first)).row())
        .order_by(*sort.order(first.c.sort_value, first.c.id))
        .limit(limit + 1)
    )


async def count_customers(db: AsyncSession, principal: Principal, query: CustomerQuery) -> int:
    await _prepare(db, principal, query)
    statement = select(func.count()).select_from(
        base_query(principal, query).with_only_columns(Customer.id).subquery()
    )
    return int(await db.scalar(statement) or 0)


def matching_ids(principal: Principal, query: CustomerQuery) -> Select[tuple[uuid.UUID]]:
    """The ids of every match, as a subquery for set-based bulk actions."""
    return base_query(principal, query).with_only_columns(Customer.id)


async def stream_customers(
    db: AsyncSession, principal: Principal, query: CustomerQuery, *, batch: int = 2000
) -> AsyncIterator[list[tuple[Customer, CustomerMetrics | None]]]:
    """Every match in pages, for exports; memory stays bounded by ``batch``."""
    cursor: str | None = None
    while True:
        rows, cursor = await list_customers(db, principal, query, limit=batch, cursor=cursor)
        if rows:
            yield rows
        if cursor is None:
            return
        db.expunge_all()
