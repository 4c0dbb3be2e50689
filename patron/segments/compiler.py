"""Tree to SQL: one WHERE clause over ``customer`` (outer-joined to ``customer_metrics``).

Every literal becomes a bound parameter through SQLAlchemy; nothing is spliced into SQL
text. Every condition is two-valued (never NULL), so ``not`` means what a reader expects:
``not country = "DE"`` keeps the customers without a country.
"""

from __future__ import annotations

import calendar
import difflib
import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB

from patron.models import (
    Category,
    Consent,
    Customer,
    CustomerAddress,
    CustomerEventDay,
    CustomerEventRecent,
    CustomerMetrics,
    OrderLine,
    Product,
    SegmentMember,
    StaffUser,
    TrackingEvent,
    product_category,
)
from patron.models.customers import CONSENT_CHANNELS, CONSENT_STATUSES
from patron.models.events import RECENT_EVENTS
from patron.segments.ast import (
    Ago,
    AllOf,
    AnyOf,
    Bought,
    Compare,
    ConsentIs,
    Did,
    HasTag,
    InSegment,
    IsSet,
    Node,
    Not,
    Period,
    PropertyFilter,
    TimesOp,
    Within,
)
from patron.segments.errors import TypeMismatch, UnknownField, UnknownSegment
from patron.segments.fields import Catalog, FieldSpec

Clause = ColumnElement[bool]
ORDERING: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "text": ("=", "!=", "contains", "starts_with"),
    "choice": ("=", "!="),
    "number": ("=", "!=", "<", "<=", ">", ">="),
    "datetime": ("=", "!=", "<", "<=", ">", ">="),
    "date": ("=", "!=", "<", "<=", ">", ">="),
    "boolean": ("=", "!="),
    "multiselect": ("contains",),
}
VALUE_KIND = {
    "text": str,
    "choice": str,
    "number": Decimal,
    "datetime": date,
    "date": date,
    "boolean": bool,
    "multiselect": str,
}
WORDS = {"starts_with": "starts with"}
PURPOSE = "marketing"


@dataclass(frozen=True)
class Context:
    catalog: Catalog
    now: datetime
    under_or: bool = False  # inside an "or": PostgreSQL may test a condition more than once


def shift(moment: datetime, period: Period) -> datetime:
    """``moment`` minus ``period``; months and years keep the day, clamped to the month's end."""
    if period.unit in ("days", "weeks"):
        days = period.amount * (7 if period.unit == "weeks" else 1)
        return moment - timedelta(days=days)
    months = period.amount * (12 if period.unit == "years" else 1)
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _where(pos: tuple[int, int] | None) -> dict[str, Any]:
    return {"line": pos[0], "column": pos[1]} if pos else {}


def _prefix(pos: tuple[int, int] | None) -> str:
    return f"Line {pos[0]}, column {pos[1]}: " if pos else ""


def _compare(column: Any, op: str, value: Any) -> Clause:
    """``column op value`` that is false (not NULL) when the column is NULL, except ``!=``."""
    if op == "!=":
        return column.is_distinct_from(value)  # type: ignore[no-any-return]
    if op == "contains":
        return and_(column.is_not(None), column.contains(value, autoescape=True))
    if op == "starts_with":
        return and_(column.is_not(None), column.startswith(value, autoescape=True))
    return and_(column.is_not(None), ORDERING[op](column, value))


def _custom(key: str) -> Any:
    return Customer.custom_fields[key]


def _column(spec: FieldSpec) -> Any:
    """The SQL expression of a single-valued field (``city`` is handled on its own)."""
    simple: dict[str, Any] = {
        "first_name": Customer.first_name,
        "last_name": Customer.last_name,
        "email": Customer.email,
        "phone": Customer.phone,
        "company": Customer.company,
        "country": Customer.country,
        "locale": Customer.locale,
        "source": Customer.source,
        "lifecycle": Customer.lifecycle_stage,
        "created": Customer.created_at,
        "birthday": Customer.birthday,
        "first_order": CustomerMetrics.first_order_at,
        "last_order": CustomerMetrics.last_order_at,
        "last_seen": CustomerMetrics.last_seen_at,
        "recency_score": CustomerMetrics.recency_score,
        "frequency_score": CustomerMetrics.frequency_score,
        "monetary_score": CustomerMetrics.monetary_score,
        "rfm_group": CustomerMetrics.rfm_group,
    }
    if spec.name in simple:
        return simple[spec.name]
    metrics = {
        "orders_count": CustomerMetrics.orders_count,
        "total_spent": CustomerMetrics.total_spent,
        "average_order_value": CustomerMetrics.average_order_value,
        "refunded_total": CustomerMetrics.refunded_total,
        "items": CustomerMetrics.items_bought,
        "returns_count": CustomerMetrics.returns_count,
    }
    if spec.name in metrics:  # a customer without a metrics row has zeros
        return func.coalesce(metrics[spec.name], 0)
    if spec.name == "owner":
        owner = select(StaffUser.email).where(StaffUser.id == Customer.owner_id)
        return owner.scalar_subquery()
    key = spec.name.removeprefix("custom.")
    if spec.kind == "number":
        is_number = func.jsonb_typeof(_custom(key)) == "number"
        return case((is_number, cast(_custom(key).astext, Numeric)), else_=None)
    if spec.kind == "date":
        return _custom(key).astext.collate("C")
    return _custom(key).astext


def _check_op(spec: FieldSpec, node: Compare) -> None:
    allowed = OPS_BY_KIND[spec.kind]
    if node.op not in allowed:
        shown = ", ".join(WORDS.get(op, op) for op in allowed)
        raise TypeMismatch(
            f"{_prefix(node.pos)}{spec.name} ({spec.kind}) compares with {shown}, "
            f"not {WORDS.get(node.op, node.op)}.",
            expected=[WORDS.get(op, op) for op in allowed],
            **_where(node.pos),
        )
    wanted = VALUE_KIND[spec.kind]
    if not isinstance(node.value, wanted) or (wanted is not bool and isinstance(node.value, bool)):
        names = {str: "a quoted text", Decimal: "a number", date: "a date", bool: "true or false"}
        raise TypeMismatch(
            f"{_prefix(node.pos)}{spec.name} needs {names[wanted]}.",
            expected=[names[wanted]],
            **_where(node.pos),
        )


def _text_compare(column: Any, op: str, value: str) -> Clause:
    return _compare(func.lower(column), op, value.lower())


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    if day == date.max:  # the day after the last one is the end of time
        return start, datetime.max.replace(tzinfo=UTC)
    return start, start + timedelta(days=1)


def _datetime_compare(column: Any, op: str, day: date) -> Clause:
    """Dates against timestamps, by whole UTC days: ``before D`` ends where D begins."""
    start, end = _day_bounds(day)
    if op == "=":
        return and_(column.is_not(None), column >= start, column < end)
    if op == "!=":
        return or_(column.is_(None), column < start, column >= end)
    bound = {"<": ("<", start), "<=": ("<", end), ">": (">=", end), ">=": (">=", start)}[op]
    return _compare(column, bound[0], bound[1])


def _compare_node(node: Compare, ctx: Context) -> Clause:
    spec = ctx.catalog.lookup(node.field, node.pos)
    _check_op(spec, node)
    value = node.value
    if spec.kind == "choice":
        assert isinstance(value, str)
        options = {option.lower(): option for option in spec.options}
        if value.lower() not in options:
            raise TypeMismatch(
                f"{_prefix(node.pos)}{spec.name} is one of {', '.join(spec.options)}.",
                expected=list(spec.options),
                **_where(node.pos),
            )
        return _compare(_column(spec), node.op, options[value.lower()])
    if spec.name == "city":
        assert isinstance(value, str)
        if node.op == "!=":
            return not_(_city(_text_compare(CustomerAddress.city, "=", value)))
        return _city(_text_compare(CustomerAddress.city, node.op, value))
    if spec.kind == "text":
        assert isinstance(value, str)
        if spec.name == "country" and node.op in ("=", "!="):
            # stored upper case (a check constraint): the column itself, so the planner
            # reads its statistics (30 % "DE") instead of guessing for lower(country)
            return _compare(Customer.country, node.op, value.upper())
        return _text_compare(_column(spec), node.op, value)
    if spec.kind == "datetime":
        assert isinstance(value, date)
        return _datetime_compare(_column(spec), node.op, value)
    if spec.kind == "date" and spec.name.startswith("custom."):
        assert isinstance(value, date)
        return _compare(_column(spec), node.op, value.isoformat())
    key = spec.name.removeprefix("custom.")
    if spec.kind == "boolean":
        is_true = _custom(key) == cast(literal("true"), JSONB)
        matches = is_true if value else _custom(key) == cast(literal("false"), JSONB)
        clause = func.coalesce(matches, false())
        return clause if node.op == "=" else not_(clause)
    if spec.kind == "multiselect":
        return func.coalesce(_custom(key).contains([value]), false())
    return _compare(_column(spec), node.op, value)


def _city(condition: Clause) -> Clause:
    return exists().where(CustomerAddress.customer_id == Customer.id, condition).correlate(Customer)


def _is_set(node: IsSet, ctx: Context) -> Clause:
    spec = ctx.catalog.lookup(node.field, node.pos)
    if spec.name == "city":
        clause = _city(CustomerAddress.city != "")
    elif spec.name.startswith("custom."):
        value = _custom(spec.name.removeprefix("custom."))
        empty = [cast(literal(raw), JSONB) for raw in ('""', "[]", "null")]
        clause = func.coalesce(and_(value.is_not(None), value.not_in(empty)), false())
    elif spec.kind == "text":
        column = _column(spec)
        clause = and_(column.is_not(None), column != "")
    else:
        clause = _column(spec).is_not(None)
    return not_(clause) if node.negated else clause


def _relative(node: Within | Ago, ctx: Context) -> Clause:
    spec = ctx.catalog.lookup(node.field, node.pos)
    word = "within" if isinstance(node, Within) else "more than ... ago"
    if spec.kind not in ("datetime", "date"):
        raise TypeMismatch(
            f"{_prefix(node.pos)}'{word}' needs a date field; {spec.name} is {spec.kind}.",
            **_where(node.pos),
        )
    cutoff: Any = shift(ctx.now, node.period)
    if spec.kind == "date":
        cutoff = cutoff.date()
        if spec.name.startswith("custom."):
            cutoff = cutoff.isoformat()
    return _compare(_column(spec), ">=" if isinstance(node, Within) else "<", cutoff)


def _consent(node: ConsentIs) -> Clause:
    if node.channel not in CONSENT_CHANNELS:
        raise UnknownField(
            f"{_prefix(node.pos)}consent is kept for {', '.join(CONSENT_CHANNELS)}, "
            f"not '{node.channel}'.",
            expected=list(CONSENT_CHANNELS),
            **_where(node.pos),
        )
    if node.status not in CONSENT_STATUSES:
        raise TypeMismatch(
            f"{_prefix(node.pos)}consent is one of {', '.join(CONSENT_STATUSES)}.",
            expected=list(CONSENT_STATUSES),
            **_where(node.pos),
        )
    rows = (
        exists()
        .where(
            Consent.customer_id == Customer.id,
            Consent.channel == node.channel,
            Consent.purpose == PURPOSE,
        )
        .correlate(Customer)
    )
    clause: Clause = rows.where(Consent.status == node.status)
    if node.status == "never_asked":  # no row at all also means never asked
        clause = or_(clause, ~rows)
    return clause if node.op == "=" else not_(clause)


def _counted(
    customer_id: Any, count: Any, op: TimesOp, times: int, extra: list[Any], base: Any
) -> Clause:
    """Customers whose group of rows (``base``) satisfies ``count op times`` and ``extra``.

    A customer with no rows at all has a count of 0 and a sum of 0; when that satisfies
    the condition, the customers are found as "not among those who fail it".
    """
    if op == ">=" and times == 1 and not extra:
        # at least once: any row will do, so a semi-join with nothing to count or sort
        # (grouping every row of the window first was the slow part at scale)
        return Customer.id.in_(base)
    having = and_(ORDERING[op](count, times), *[e[0] for e in extra])
    empty_matches = (times <= 0 if op == ">=" else True) and all(e[1] for e in extra)
    grouped = base.group_by(customer_id)
    # the groups once per statement (a materialized CTE): under an OR, PostgreSQL evaluates
    # the condition on more than one plan node and would build the groups for each
    found = grouped.having(not_(having) if empty_matches else having).cte()
    ids = select(*found.prefix_with("MATERIALIZED").c)  # one column: the customer ids
    return Customer.id.not_in(ids) if empty_matches else Customer.id.in_(ids)


def _bought(node: Bought, ctx: Context) -> Clause:
    # the lines carry their order's customer, time and cancellation (kept by triggers), so
    # no join to the orders: ``ix_order_line_bought`` answers product-and-window alone
    lines = select(OrderLine.customer_id).where(
        OrderLine.customer_id.is_not(None), OrderLine.cancelled_at.is_(None)
    )
    target = (node.target or "").lower()
    if node.kind == "variant":
        lines = lines.where(func.lower(OrderLine.sku) == target)
    elif node.kind == "product":
        products = select(Product.id).where(
            or_(func.lower(Product.handle) == target, func.lower(Product.title) == target)
        )
        lines = lines.where(OrderLine.product_id.in_(products))
    elif node.kind == "category":
        in_category = (
            select(product_category.c.product_id)
            .join(Category, Category.id == product_category.c.category_id)
            .where(or_(func.lower(Category.name) == target, Category.slug == target))
        )
        lines = lines.where(OrderLine.product_id.in_(in_category))
    if node.within is not None:
        lines = lines.where(OrderLine.placed_at >= shift(ctx.now, node.within))
    extra = []
    if node.amount_over is not None:
        spent = func.sum(OrderLine.total) > node.amount_over
        extra.append((spent, Decimal(0) > node.amount_over))
    count = func.count(OrderLine.order_id.distinct())
    return _counted(OrderLine.customer_id, count, node.times_op, node.times, extra, lines)


def _property(item: PropertyFilter) -> Clause:
    value = TrackingEvent.properties[item.name]
    if isinstance(item.value, bool):
        matches = func.coalesce(
            value == cast(literal("true" if item.value else "false"), JSONB), false()
        )
        if item.op not in ("=", "!="):
            raise TypeMismatch(
                f"{_prefix(item.pos)}true/false compares with = or !=.", **_where(item.pos)
            )
        return matches if item.op == "=" else not_(matches)
    if isinstance(item.value, Decimal):
        is_number = func.jsonb_typeof(value) == "number"
        number = case((is_number, cast(value.astext, Numeric)), else_=None)
        return _compare(number, item.op, item.value)
    if isinstance(item.value, str) and item.op in ("=", "!="):
        return _text_compare(value.astext, item.op, item.value)
    raise TypeMismatch(
        f"{_prefix(item.pos)}event properties compare as text (= or !=), numbers or true/false.",
        **_where(item.pos),
    )


def _did(node: Did, ctx: Context) -> Clause:
    if not node.where:
        recently = _did_recently(node, ctx)
        return _did_by_day(node, ctx) if recently is None else recently
    events = select(TrackingEvent.customer_id).where(
        TrackingEvent.customer_id.is_not(None), TrackingEvent.name == node.event
    )
    if node.within is not None:
        events = events.where(TrackingEvent.occurred_at >= shift(ctx.now, node.within))
    for item in node.where:
        events = events.where(_property(item))
    count = func.count()
    return _counted(TrackingEvent.customer_id, count, node.times_op, node.times, [], events)


def _did_recently(node: Did, ctx: Context) -> Clause | None:
    """``did`` without property filters from each customer's latest events
    (``customer_event_recent``): at least N times since ``start`` means the N-th latest event
    is at ``start`` or later; at most N times, that the (N+1)-th is not. One row per customer,
    exact to the instant; None when N is beyond the events kept."""
    nth = node.times if node.times_op == ">=" else node.times + 1
    if nth <= 0:  # at least 0 times: everybody
        return true()
    if nth > RECENT_EVENTS:
        return None
    latest = CustomerEventRecent.recent[nth]
    reached = latest.is_not(None) if node.within is None else latest >= shift(ctx.now, node.within)
    rows = [CustomerEventRecent.name == node.event, reached]
    if ctx.under_or:
        # under an OR, PostgreSQL tests the condition on the customer scan and again on the
        # join with the metrics, and built the set for each (two scans of the name's rows,
        # 0.3-1.6 s each at a million customers): the customers once, as a materialized CTE
        reaching = (
            select(CustomerEventRecent.customer_id).where(*rows).cte().prefix_with("MATERIALIZED")
        )
        found = exists().where(reaching.c.customer_id == Customer.id).correlate(Customer)
    else:
        # EXISTS, not IN: an anti- or semi-join (a NOT IN cannot be one), whose scan of the
        # name's rows may run in parallel (a CTE's may not: 0.4 s against 0.8 s for the
        # event-count benchmark at a million customers)
        found = (
            exists()
            .where(CustomerEventRecent.customer_id == Customer.id, *rows)
            .correlate(Customer)
        )
    return found if node.times_op == ">=" else not_(found)


def _did_by_day(node: Did, ctx: Context) -> Clause:
    """``did`` without property filters, from the daily counts: the whole days after the
    window's first day, plus that first day's own events from its first instant on."""
    days = select(
        CustomerEventDay.customer_id.label("customer_id"), CustomerEventDay.n.label("n")
    ).where(CustomerEventDay.name == node.event)
    if node.within is None:
        rows: Any = days
    else:
        start = shift(ctx.now, node.within)
        first_day = start.astimezone(UTC).date()
        next_day = _day_bounds(first_day)[1]
        edge: Any = select(
            TrackingEvent.customer_id.label("customer_id"), literal_column("1").label("n")
        ).where(
            TrackingEvent.customer_id.is_not(None),
            TrackingEvent.name == node.event,
            TrackingEvent.occurred_at >= start,
            TrackingEvent.occurred_at < next_day,
        )
        rows = union_all(days.where(CustomerEventDay.day > first_day), edge)
    counts = rows.subquery("event_days")
    base = select(counts.c.customer_id)
    count = func.sum(counts.c.n)
    return _counted(counts.c.customer_id, count, node.times_op, node.times, [], base)


def condition(node: Node, ctx: Context) -> Clause:
    """The WHERE clause selecting the customers ``node`` describes."""
    if isinstance(node, AllOf):
        return and_(*(condition(item, ctx) for item in node.items))
    if isinstance(node, AnyOf):
        either = replace(ctx, under_or=True)
        return or_(*(condition(item, either) for item in node.items))
    if isinstance(node, Not):
        return not_(condition(node.item, ctx))
    if isinstance(node, Compare):
        return _compare_node(node, ctx)
    if isinstance(node, IsSet):
        return _is_set(node, ctx)
    if isinstance(node, Within | Ago):
        return _relative(node, ctx)
    if isinstance(node, HasTag):
        return Customer.tags.contains([node.tag])
    if isinstance(node, ConsentIs):
        return _consent(node)
    if isinstance(node, Bought):
        return _bought(node, ctx)
    if isinstance(node, Did):
        return _did(node, ctx)
    assert isinstance(node, InSegment)
    return _in_segment(node, ctx)


def _reads_sets(node: Node) -> bool:
    """Whether a condition reads other tables' rows per customer: orders, events, segments."""
    if isinstance(node, AllOf | AnyOf):
        return any(_reads_sets(item) for item in node.items)
    if isinstance(node, Not):
        return _reads_sets(node.item)
    return isinstance(node, Bought | Did | InSegment)


def branches(node: Node) -> tuple[Node, ...]:
    """Parts whose members, together, are ``node``'s: the branches of a top-level ``or``
    when one of them reads orders, events or segments, else ``node`` alone.

    Previews run each branch as its own statement, with its own plan: a set under an ``or``
    can be neither a semi-join nor walked in id order, so PostgreSQL built every branch's
    set, tested the ``or`` on every customer, and did it all again for the first page (the
    nested benchmark segment: 1.7 s at a million customers). Apart, a branch's set
    drives its own join, and its first page stops after a page of members.
    """
    if isinstance(node, AnyOf) and any(_reads_sets(item) for item in node.items):
        return node.items
    return (node,)


def _in_segment(node: InSegment, ctx: Context) -> Clause:
    """Members of a saved segment as last refreshed (static lists: as they stand)."""
    segment_id = ctx.catalog.segments.get(node.name.lower())
    if segment_id is None:
        close = difflib.get_close_matches(node.name.lower(), list(ctx.catalog.segments), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise UnknownSegment(
            f"{_prefix(node.pos)}there is no saved segment '{node.name}'.{hint}",
            suggestion=close[0] if close else None,
            **_where(node.pos),
        )
    members = select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment_id)
    return Customer.id.in_(members)
