"""What the order and cart pages share: reading list filters from a query string, finding the
customer a filter names, status labels and badge styles."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any, get_args
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams

from patron.auth.principal import Principal
from patron.customers import listing as customer_listing
from patron.customers.listing import CustomerQuery
from patron.customers.repository import get_for as customer_for
from patron.customers.views import common as customer_pages  # noqa: F401  (money, phone filters)
from patron.errors import CRMError
from patron.kit.contact import normalise_email, parse_amount
from patron.models import Customer
from patron.models.orders import CART_STATUSES, FINANCIAL_STATUSES, FULFILLMENT_STATUSES
from patron.orders import repository
from patron.orders.repository import OrderFilters, OrderSort
from patron.orders.service.common import STATUS_LABELS
from patron.web.templating import templates

PAGE_SIZE = 50
CUSTOMER_CHOICES = 6
SORTS: dict[str, str] = {
    "-placed_at": "Newest first",
    "placed_at": "Oldest first",
    "-total": "Largest total",
    "total": "Smallest total",
}
DEFAULT_SORT: OrderSort = "-placed_at"
BADGES = {
    # payments and the order's financial status
    "pending": "text-bg-light border",
    "authorized": "text-bg-info",
    "partially_paid": "text-bg-warning",
    "paid": "text-bg-success",
    "partially_refunded": "text-bg-warning",
    "refunded": "text-bg-secondary",
    "voided": "text-bg-dark",
    "succeeded": "text-bg-success",
    "failed": "text-bg-danger",
    # fulfilment and shipments
    "unfulfilled": "text-bg-light border",
    "partial": "text-bg-info",
    "fulfilled": "text-bg-success",
    "in_transit": "text-bg-info",
    "out_for_delivery": "text-bg-primary",
    "delivered": "text-bg-success",
    "returned": "text-bg-secondary",
    # returns
    "requested": "text-bg-warning",
    "approved": "text-bg-info",
    "rejected": "text-bg-secondary",
    "received": "text-bg-primary",
    # carts
    "open": "text-bg-info",
    "abandoned": "text-bg-warning",
    "recovered": "text-bg-success",
}
LABELS = {**STATUS_LABELS, "open": "open", "abandoned": "abandoned"}


def status_label(value: str) -> str:
    text = LABELS.get(value, value.replace("_", " "))
    return text[:1].upper() + text[1:]


def order_number(number: str) -> str:
    """``#1001``; store numbers that carry their own ``#`` keep just the one."""
    return number if number.startswith("#") else f"#{number}"


def http_url(value: str | None) -> str:
    """The address if it is http(s), else nothing: rows copied in by an import or a sync may
    not have passed the services' URL check, and a ``javascript:`` link must never render."""
    text = (value or "").strip()
    return text if text.lower().startswith(("http://", "https://")) else ""


templates.env.globals.update(order_badges=BADGES)
templates.env.filters.setdefault("status_label", status_label)
templates.env.filters.setdefault("http_url", http_url)
templates.env.filters.setdefault("order_number", order_number)


@dataclass
class ListQuery:
    """A list's filters as the page reads them: what to query, what to show in the form, and
    what was ignored (a mistyped value is explained, never an error page)."""

    filters: OrderFilters
    sort: OrderSort = DEFAULT_SORT
    statuses: tuple[str, ...] = ()  # carts
    customer: Customer | None = None
    customer_text: str = ""
    customer_choices: list[Customer] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def query_string(self, *, drop: str = "", **extra: str | None) -> str:
        """The canonical query string (the API's parameter names, so exports take it as is),
        less the filter named by ``drop``."""
        values: dict[str, Any] = {}
        for name, value in vars(self.filters).items():
            if value in (None, (), "") or name == drop:
                continue
            if isinstance(value, tuple):
                values[name] = list(value)
            elif isinstance(value, bool):
                values[name] = "true" if value else "false"
            else:
                values[name] = str(value)
        if self.statuses:
            values["status"] = list(self.statuses)
        if self.sort != DEFAULT_SORT:
            values["sort"] = self.sort
        values.update({key: value for key, value in extra.items() if value})
        return urlencode(values, doseq=True)

    @property
    def active_count(self) -> int:
        """How many filters (not the number search) are in use, for the filter button."""
        used = [k for k, v in vars(self.filters).items() if v not in (None, (), "") and k != "q"]
        return len(used) + (1 if self.statuses else 0)


def _text(params: QueryParams, name: str, limit: int = 100) -> str:
    return params.get(name, "").strip()[:limit]


def _date(params: QueryParams, name: str, label: str, problems: list[str]) -> date | None:
    value = _text(params, name, 20)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"{label}: {value!r} is not a date (YYYY-MM-DD)")
        return None


def _amount(params: QueryParams, name: str, label: str, problems: list[str]) -> Decimal | None:
    value = _text(params, name, 30)
    if not value:
        return None
    try:
        return parse_amount(value, field=name)
    except CRMError:
        problems.append(f"{label}: {value!r} is not an amount")
        return None


def _uuid(params: QueryParams, name: str, label: str, problems: list[str]) -> uuid.UUID | None:
    value = _text(params, name, 40)
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        problems.append(f"{label}: {value!r} is not an id")
        return None


def _choices(params: QueryParams, name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    chosen = [v.strip() for v in params.getlist(name) if v.strip()]
    return tuple(v for v in allowed if v in chosen)


async def _matching_customers(db: AsyncSession, principal: Principal, text: str) -> list[Customer]:
    """An exact email first; otherwise the customer search (names, emails, phones, typos)."""
    if "@" in text:
        with contextlib.suppress(CRMError):
            exact = await repository.visible_customer_by_email(db, principal, normalise_email(text))
            if exact is not None:
                return [exact]
    rows, _ = await customer_listing.list_customers(
        db, principal, CustomerQuery(q=text), limit=CUSTOMER_CHOICES
    )
    return [customer for customer, _ in rows]


async def _customer(
    db: AsyncSession, principal: Principal, params: QueryParams, query: ListQuery
) -> uuid.UUID | None:
    """The customer a filter names: an id, or a search (name, email, phone) with one match.
    Several matches are offered as choices; nothing is filtered until one is picked."""
    chosen: uuid.UUID | None = None
    text = _text(params, "customer", 200)
    if text:
        query.customer_text = text
        try:
            chosen = uuid.UUID(text)
        except ValueError:
            matches = await _matching_customers(db, principal, text)
            if len(matches) == 1:
                chosen = matches[0].id
            elif matches:
                query.customer_choices = matches
            else:
                query.problems.append(f"Customer: nobody you can see matches {text!r}")
    else:
        chosen = _uuid(params, "customer_id", "Customer", query.problems)
    if chosen is None:
        return None
    try:
        query.customer = await customer_for(db, principal, chosen)
    except CRMError:
        query.problems.append("Customer: no such customer")
        return None
    return query.customer.id


async def parse_order_query(
    db: AsyncSession, principal: Principal, params: QueryParams
) -> ListQuery:
    query = ListQuery(filters=OrderFilters())
    problems = query.problems
    placed_from = _date(params, "placed_from", "Placed from", problems)
    placed_to = _date(params, "placed_to", "Placed to", problems)
    if placed_from and placed_to and placed_from > placed_to:
        problems.append("Placed: the first day is after the last; the last day was dropped")
        placed_to = None
    total_min = _amount(params, "total_min", "Total from", problems)
    total_max = _amount(params, "total_max", "Total to", problems)
    cancelled = {"true": True, "false": False}.get(_text(params, "cancelled", 5))
    sort = _text(params, "sort", 20)
    query.sort = sort if sort in get_args(OrderSort) else DEFAULT_SORT  # type: ignore[assignment]
    query.filters = OrderFilters(
        placed_from=placed_from,
        placed_to=placed_to,
        financial_status=_choices(params, "financial_status", FINANCIAL_STATUSES),
        fulfillment_status=_choices(params, "fulfillment_status", FULFILLMENT_STATUSES),
        customer_id=await _customer(db, principal, params, query),
        product_id=_uuid(params, "product_id", "Product", problems),
        sku=_text(params, "sku") or None,
        total_min=total_min,
        total_max=total_max,
        channel_id=_uuid(params, "channel_id", "Channel", problems),
        discount_code=_text(params, "discount_code").upper() or None,
        tag=_text(params, "tag") or None,
        cancelled=cancelled,
        q=_text(params, "q") or None,
    )
    return query


async def parse_cart_query(
    db: AsyncSession, principal: Principal, params: QueryParams
) -> ListQuery:
    query = ListQuery(filters=OrderFilters())
    query.statuses = _choices(params, "status", CART_STATUSES)
    query.filters = replace(
        query.filters,
        customer_id=await _customer(db, principal, params, query),
        channel_id=_uuid(params, "channel_id", "Channel", query.problems),
    )
    return query


def list_url(path: str, query_string: str) -> str:
    return f"{path}?{query_string}" if query_string else path
