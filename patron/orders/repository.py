"""Order, cart and channel queries. Orders and carts are visible when their customer is."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.principal import Principal
from patron.auth.scoping import visible_to
from patron.customers.repository import resolve_id, visible_customers
from patron.errors import NotFound
from patron.kit.pagination import PageParams, paginate
from patron.kit.text import LIKE_ESCAPE, contains_pattern
from patron.models import (
    Cart,
    Channel,
    Customer,
    Order,
    OrderLine,
    OrderReturn,
    Payment,
    Refund,
    ReturnLine,
    Shipment,
    ShipmentEvent,
)
from patron.models.orders import ORDER_NUMBER_SEQUENCE, RETURN_NUMBER_SEQUENCE

OrderSort = Literal["-placed_at", "placed_at", "-total", "total"]
EXPORT_BATCH = 1000


@dataclass(frozen=True)
class OrderFilters:
    placed_from: date | None = None
    placed_to: date | None = None
    financial_status: Sequence[str] = ()
    fulfillment_status: Sequence[str] = ()
    customer_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None
    sku: str | None = None
    total_min: Decimal | None = None
    total_max: Decimal | None = None
    channel_id: uuid.UUID | None = None
    discount_code: str | None = None
    tag: str | None = None
    cancelled: bool | None = None
    q: str | None = None


def _scoped(principal: Principal, customer_column: Any) -> ColumnElement[bool] | None:
    """Rows whose customer the principal may see (nothing to add for record scope *all*)."""
    if principal.record_scope == "all":
        return None
    visible = select(Customer.id).where(visible_to(principal, owner=Customer.owner_id))
    return customer_column.in_(visible.scalar_subquery())  # type: ignore[no-any-return]


def visible_orders(principal: Principal) -> Select[Order]:
    query = select(Order)
    scope = _scoped(principal, Order.customer_id)
    return query if scope is None else query.where(scope)


async def get_order_for(
    db: AsyncSession, principal: Principal, order_id: uuid.UUID, *, for_update: bool = False
) -> Order:
    """The order if the principal may see its customer, else 404."""
    query = visible_orders(principal).where(Order.id == order_id)
    if for_update:
        query = query.with_for_update(of=Order)
    order = await db.scalar(query)
    if order is None:
        raise NotFound("No such order.", code="order_not_found")
    return order


async def lock_order(db: AsyncSession, order: Order) -> Order:
    """Serialise money and stock changes on one order (two refunds cannot both pass); the
    order's attributes are reloaded by the same statement that takes the lock."""
    locked = await db.scalar(
        select(Order)
        .where(Order.id == order.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if locked is None:
        raise NotFound("No such order.", code="order_not_found")
    return locked


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


async def filtered_orders(
    db: AsyncSession, principal: Principal, filters: OrderFilters
) -> Select[Order]:
    query = visible_orders(principal)
    if filters.placed_from:
        query = query.where(Order.placed_at >= _day_start(filters.placed_from))
    if filters.placed_to:
        query = query.where(Order.placed_at < _day_start(filters.placed_to + timedelta(days=1)))
    if filters.financial_status:
        query = query.where(Order.financial_status.in_(list(filters.financial_status)))
    if filters.fulfillment_status:
        query = query.where(Order.fulfillment_status.in_(list(filters.fulfillment_status)))
    if filters.customer_id:
        query = query.where(Order.customer_id == await resolve_id(db, filters.customer_id))
    if filters.product_id:
        query = query.where(
            exists().where(
                OrderLine.order_id == Order.id, OrderLine.product_id == filters.product_id
            )
        )
    if filters.sku:
        query = query.where(
            exists().where(OrderLine.order_id == Order.id, OrderLine.sku == filters.sku.strip())
        )
    if filters.total_min is not None:
        query = query.where(Order.total >= filters.total_min)
    if filters.total_max is not None:
        query = query.where(Order.total <= filters.total_max)
    if filters.channel_id:
        query = query.where(Order.channel_id == filters.channel_id)
    if filters.discount_code:
        query = query.where(Order.discount_codes.contains([filters.discount_code.strip().upper()]))
    if filters.tag:
        query = query.where(Order.tags.contains([filters.tag.strip()]))
    if filters.cancelled is not None:
        query = query.where(
            Order.cancelled_at.is_not(None) if filters.cancelled else Order.cancelled_at.is_(None)
        )
    if filters.q:
        term = filters.q.strip().lstrip("#")
        query = query.where(
            or_(
                Order.number.ilike(contains_pattern(term), escape=LIKE_ESCAPE),
                Order.external_id == term,
            )
        )
    return query


def _order_key(sort: OrderSort) -> tuple[list[Any], bool]:
    column = Order.total if sort.endswith("total") else Order.placed_at
    return [column, Order.id], sort.startswith("-")


async def list_orders(
    db: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    filters: OrderFilters,
    sort: OrderSort = "-placed_at",
) -> tuple[list[Order], str | None]:
    order, descending = _order_key(sort)
    query = await filtered_orders(db, principal, filters)
    return await paginate(db, query, order=order, params=params, descending=descending)


async def each_order(
    db: AsyncSession, principal: Principal, *, filters: OrderFilters, sort: OrderSort
) -> AsyncIterator[tuple[Order, Customer]]:
    """Every matching order with its customer, fetched in keyset batches (for exports)."""
    params = PageParams(limit=EXPORT_BATCH)
    while True:
        orders, cursor = await list_orders(db, principal, params, filters=filters, sort=sort)
        customers = {
            c.id: c
            for c in await db.scalars(
                select(Customer).where(Customer.id.in_({o.customer_id for o in orders}))
            )
        }
        for order in orders:
            yield order, customers[order.customer_id]
        if cursor is None:
            return
        params = PageParams(limit=EXPORT_BATCH, cursor=cursor)


async def customers_by_ids(
    db: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Customer]:
    """The customers of orders or carts already read through a scoped query."""
    if not ids:
        return {}
    rows = await db.scalars(select(Customer).where(Customer.id.in_(list(ids))))
    return {customer.id: customer for customer in rows}


def _in_channel(channel_id: uuid.UUID | None) -> ColumnElement[bool]:
    return Order.channel_id.is_(None) if channel_id is None else Order.channel_id == channel_id


async def number_taken(db: AsyncSession, channel_id: uuid.UUID | None, number: str) -> bool:
    return bool(
        await db.scalar(select(exists().where(_in_channel(channel_id), Order.number == number)))
    )


@dataclass(frozen=True)
class Clashes:
    same_external_id: Order | None
    number_taken: bool | None  # None: the number was not asked about


async def clashes(
    db: AsyncSession, channel_id: uuid.UUID | None, *, external_id: str, number: str | None
) -> Clashes:
    """The channel's order with this external ID, and whether ``number`` is taken, in one
    query (a new order from a store checks both)."""
    same = Order.external_id == external_id
    query = select(Order).where(
        _in_channel(channel_id), same if number is None else or_(same, Order.number == number)
    )
    found = list(await db.scalars(query))
    return Clashes(
        same_external_id=next((o for o in found if o.external_id == external_id), None),
        number_taken=None if number is None else any(o.number == number for o in found),
    )


async def order_by_external_id(
    db: AsyncSession, channel_id: uuid.UUID | None, external_id: str
) -> Order | None:
    return await db.scalar(
        select(Order).where(_in_channel(channel_id), Order.external_id == external_id)
    )


async def next_order_number(db: AsyncSession) -> int:
    return int(await db.scalar(select(ORDER_NUMBER_SEQUENCE.next_value())) or 0)


async def next_return_number(db: AsyncSession) -> int:
    return int(await db.scalar(select(RETURN_NUMBER_SEQUENCE.next_value())) or 0)


# -- an order's parts ----------------------------------------------------------------------


async def lines_of(db: AsyncSession, order_id: uuid.UUID) -> list[OrderLine]:
    rows = await db.scalars(
        select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.position)
    )
    return list(rows)


async def payments_of(db: AsyncSession, order_id: uuid.UUID) -> list[Payment]:
    rows = await db.scalars(
        select(Payment)
        .where(Payment.order_id == order_id)
        .order_by(Payment.processed_at, Payment.id)
    )
    return list(rows)


async def payment(db: AsyncSession, order_id: uuid.UUID, payment_id: uuid.UUID) -> Payment | None:
    return await db.scalar(
        select(Payment).where(Payment.id == payment_id, Payment.order_id == order_id)
    )


async def refunds_of(db: AsyncSession, order_id: uuid.UUID) -> list[Refund]:
    rows = await db.scalars(
        select(Refund).where(Refund.order_id == order_id).order_by(Refund.processed_at, Refund.id)
    )
    return list(rows)


async def shipments_of(db: AsyncSession, order_id: uuid.UUID) -> list[Shipment]:
    rows = await db.scalars(
        select(Shipment)
        .where(Shipment.order_id == order_id)
        .order_by(Shipment.created_at, Shipment.id)
    )
    return list(rows)


async def shipment(
    db: AsyncSession, order_id: uuid.UUID, shipment_id: uuid.UUID
) -> Shipment | None:
    return await db.scalar(
        select(Shipment).where(Shipment.id == shipment_id, Shipment.order_id == order_id)
    )


async def events_of(
    db: AsyncSession, shipment_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[ShipmentEvent]]:
    found: dict[uuid.UUID, list[ShipmentEvent]] = defaultdict(list)
    if shipment_ids:
        rows = await db.scalars(
            select(ShipmentEvent)
            .where(ShipmentEvent.shipment_id.in_(list(shipment_ids)))
            .order_by(ShipmentEvent.occurred_at, ShipmentEvent.id)
        )
        for event in rows:
            found[event.shipment_id].append(event)
    return found


async def returns_of(db: AsyncSession, order_id: uuid.UUID) -> list[OrderReturn]:
    rows = await db.scalars(
        select(OrderReturn)
        .where(OrderReturn.order_id == order_id)
        .order_by(OrderReturn.created_at, OrderReturn.id)
    )
    return list(rows)


async def order_return(
    db: AsyncSession, order_id: uuid.UUID, return_id: uuid.UUID
) -> OrderReturn | None:
    return await db.scalar(
        select(OrderReturn).where(OrderReturn.id == return_id, OrderReturn.order_id == order_id)
    )


async def return_lines_of(
    db: AsyncSession, return_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[ReturnLine]]:
    found: dict[uuid.UUID, list[ReturnLine]] = defaultdict(list)
    if return_ids:
        rows = await db.scalars(
            select(ReturnLine)
            .where(ReturnLine.return_id.in_(list(return_ids)))
            .order_by(ReturnLine.id)
        )
        for line in rows:
            found[line.return_id].append(line)
    return found


async def returned_quantities(db: AsyncSession, order_id: uuid.UUID) -> dict[uuid.UUID, int]:
    """Units per order line on returns that were not rejected."""
    rows = await db.execute(
        select(ReturnLine.order_line_id, func.sum(ReturnLine.quantity))
        .join(OrderReturn, OrderReturn.id == ReturnLine.return_id)
        .where(OrderReturn.order_id == order_id, OrderReturn.status != "rejected")
        .group_by(ReturnLine.order_line_id)
    )
    return {line_id: int(quantity) for line_id, quantity in rows}


CAPTURING_KINDS = ("sale", "capture")
VOID_STATUSES = ("voided", "failed")


@dataclass(frozen=True)
class PaymentTotals:
    paid: Decimal
    authorized: Decimal
    count: int
    voided: int

    def plus(self, *, kind: str, status: str, amount: Decimal) -> PaymentTotals:
        """The totals once one more payment is recorded (as :func:`payment_totals` counts)."""
        captured = status == "succeeded" and kind in CAPTURING_KINDS
        authorized = status == "authorized" or (status == "succeeded" and kind == "authorization")
        return PaymentTotals(
            paid=self.paid + (amount if captured else 0),
            authorized=self.authorized + (amount if authorized else 0),
            count=self.count + 1,
            voided=self.voided + (status in VOID_STATUSES),
        )


NO_PAYMENTS = PaymentTotals(Decimal("0"), Decimal("0"), 0, 0)


async def payment_totals(db: AsyncSession, order_id: uuid.UUID) -> PaymentTotals:
    captured = (Payment.status == "succeeded") & Payment.kind.in_(CAPTURING_KINDS)
    authorized = (Payment.status == "authorized") | (
        (Payment.status == "succeeded") & (Payment.kind == "authorization")
    )
    row = (
        await db.execute(
            select(
                func.coalesce(func.sum(Payment.amount).filter(captured), 0),
                func.coalesce(func.sum(Payment.amount).filter(authorized), 0),
                func.count(),
                func.count().filter(Payment.status.in_(VOID_STATUSES)),
            ).where(Payment.order_id == order_id)
        )
    ).one()
    return PaymentTotals(Decimal(row[0]), Decimal(row[1]), int(row[2]), int(row[3]))


# -- carts ---------------------------------------------------------------------------------


def visible_carts(principal: Principal) -> Select[Cart]:
    """Carts of visible customers; carts known only by an email need record scope *all*."""
    if principal.record_scope == "all":
        return select(Cart)
    visible = select(Customer.id).where(visible_to(principal, owner=Customer.owner_id))
    return select(Cart).where(Cart.customer_id.in_(visible.scalar_subquery()))


async def cart_is_visible(db: AsyncSession, principal: Principal, cart_id: uuid.UUID) -> bool:
    query = visible_carts(principal).where(Cart.id == cart_id)
    return bool(await db.scalar(select(query.exists())))


async def cart_by_external_id(
    db: AsyncSession, channel_id: uuid.UUID, external_id: str
) -> Cart | None:
    return await db.scalar(
        select(Cart)
        .where(Cart.channel_id == channel_id, Cart.external_id == external_id)
        .with_for_update()
    )


async def list_carts(
    db: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    status: Sequence[str] = (),
    customer_id: uuid.UUID | None = None,
    channel_id: uuid.UUID | None = None,
) -> tuple[list[Cart], str | None]:
    query = visible_carts(principal)
    if status:
        query = query.where(Cart.status.in_(list(status)))
    if customer_id:
        query = query.where(Cart.customer_id == await resolve_id(db, customer_id))
    if channel_id:
        query = query.where(Cart.channel_id == channel_id)
    return await paginate(db, query, order=[Cart.last_activity_at, Cart.id], params=params)


async def visible_customer_by_email(
    db: AsyncSession, principal: Principal, email: str
) -> Customer | None:
    return await db.scalar(visible_customers(principal).where(Customer.email == email).limit(1))


async def mark_recovered(db: AsyncSession, *, order: Order, email: str | None) -> list[uuid.UUID]:
    """Open or abandoned carts of the order's customer (or email) active before the order."""
    owner = Cart.customer_id == order.customer_id
    if email:
        owner = or_(owner, Cart.email == email)
    result = await db.execute(
        update(Cart)
        .where(
            owner,
            Cart.status.in_(("open", "abandoned")),
            Cart.last_activity_at <= order.placed_at,
        )
        .values(status="recovered", recovered_order_id=order.id, updated_at=func.now())
        .returning(Cart.id)
        .execution_options(synchronize_session="fetch")
    )
    return list(result.scalars())


async def mark_abandoned(db: AsyncSession, *, idle_since: datetime) -> int:
    result = await db.execute(
        update(Cart)
        .where(Cart.status == "open", Cart.last_activity_at < idle_since)
        .values(status="abandoned", abandoned_at=func.now(), updated_at=func.now())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- channels ------------------------------------------------------------------------------


async def list_channels(db: AsyncSession) -> list[Channel]:
    return list(await db.scalars(select(Channel).order_by(Channel.name)))


async def channel_by_name(db: AsyncSession, name: str) -> Channel | None:
    return await db.scalar(select(Channel).where(Channel.name == name))


async def channel_has_orders(db: AsyncSession, channel_id: uuid.UUID) -> bool:
    return bool(await db.scalar(select(exists().where(Order.channel_id == channel_id))))
