"""Shopify orders, refunds and fulfilments onto Patron's orders (through the order services).

Every order topic carries the whole order, so each delivery brings the order to the state it
describes: the order is created once (by its Shopify ID in the connection's channel), then
payments, refunds, shipments and the cancellation are added only when Patron does not have
them yet. A delivery older than the version applied (``source_updated_at``) changes nothing,
so duplicates, replays and late deliveries are harmless.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from patron.errors import InvalidInput
from patron.integrations.context import Context, OrderNotYetKnown, Outcome
from patron.integrations.shopify import customers, payloads
from patron.kit.contact import CENT
from patron.models import Order, OrderLine, Shipment
from patron.orders import repository as orders_repository
from patron.orders import service as orders
from patron.orders.service.orders import normalise_address

CAPTURED = frozenset({"paid", "partially_refunded", "refunded"})
SHIPMENT_STATUS = {
    "confirmed": "pending",
    "label_printed": "pending",
    "label_purchased": "pending",
    "in_transit": "in_transit",
    "attempted_delivery": "in_transit",
    "ready_for_pickup": "out_for_delivery",
    "out_for_delivery": "out_for_delivery",
    "delivered": "delivered",
    "failure": "failed",
}
SHIPMENT_RANK = {"pending": 0, "in_transit": 1, "out_for_delivery": 2, "delivered": 3}
LIVE_FULFILMENTS = frozenset({"success", "open", "pending", ""})


def _address(address: payloads.Address | None, field: str) -> dict[str, Any] | None:
    checked = customers.address_in(address)
    if checked is None:
        return None
    try:
        return normalise_address(checked.model_dump(), field=field)
    except InvalidInput:
        return None


def _line_discount(line: payloads.LineItem) -> Decimal:
    allocated = sum((a.amount for a in line.discount_allocations), Decimal("0"))
    return min(max(allocated, line.total_discount), line.price * line.quantity)


def _number(data: payloads.Order) -> str:
    if data.name.strip():
        return data.name.strip()[:40]
    return str(data.order_number or data.id)


def _refunded_units(data: payloads.Order, *, with_money: bool) -> dict[int, int]:
    units: dict[int, int] = {}
    for refund in data.refunds:
        if (refund.amount > 0) == with_money:
            for item in refund.refund_line_items:
                units[item.line_item_id] = units.get(item.line_item_id, 0) + item.quantity
    return units


def _quantities(data: payloads.Order) -> list[int]:
    """How many units of each Shopify line the order holds now. Units refunded with money stay
    on the order (Patron records the refund's money against it); units taken off by an order
    edit go: ``current_quantity`` says so (API 2024-01+), older versions list them as refund
    lines that moved no money."""
    kept = _refunded_units(data, with_money=True)
    removed = _refunded_units(data, with_money=False)
    quantities = []
    for line in data.line_items:
        if line.current_quantity is not None:
            quantity = line.current_quantity + kept.get(line.id, 0)
        else:
            quantity = line.quantity - removed.get(line.id, 0)
        quantities.append(min(max(quantity, 0), line.quantity))
    return quantities


def _line_requests(data: payloads.Order) -> list[orders.LineRequest]:
    """The order's lines as they stand; a line's position is its index among Shopify's line
    items, which keep their place (a removed one stays, with no units)."""
    requests = []
    for position, (line, quantity) in enumerate(
        zip(data.line_items, _quantities(data), strict=True)
    ):
        if quantity == 0:
            continue
        requests.append(
            orders.LineRequest(
                quantity=quantity,
                title=(line.title or "Item")[:255],
                variant_title=line.variant_title[:255],
                sku=line.sku[:100],
                unit_price=line.price,
                discount_total=(_line_discount(line) * quantity / line.quantity).quantize(CENT),
                position=position,
            )
        )
    return requests


def _charges(data: payloads.Order, lines: list[orders.LineRequest]) -> orders.Charges:
    """Shipping, tax and the order-level discount as the payload states them now: the
    ``current_`` amounts of API 2024-01 and later follow order edits, but refunds lower them
    too, and Patron records a refund's money against the order instead; so once a refund has
    moved money (and with older API versions) tax and discount stay as first placed."""
    current = not any(refund.amount > 0 for refund in data.refunds)
    if current and data.current_total_discounts is not None:
        line_discounts = sum((line.discount_total for line in lines), Decimal("0"))
        order_discount = data.current_total_discounts - line_discounts
    else:
        line_discounts = sum((_line_discount(line) for line in data.line_items), Decimal("0"))
        order_discount = data.total_discounts - line_discounts
    tax = (
        data.current_total_tax if current and data.current_total_tax is not None else data.total_tax
    )
    return orders.Charges(
        shipping_total=sum(
            (s.price for s in data.shipping_lines if not s.is_removed), Decimal("0")
        ),
        tax_total=Decimal("0") if data.taxes_included else tax,
        order_discount=max(order_discount, Decimal("0")),
    )


async def _place(ctx: Context, data: payloads.Order) -> Order:
    customer = await customers.for_order(ctx, data)
    lines = _line_requests(data)
    charges = _charges(data, lines)
    codes = [code.code for code in data.discount_codes if code.code]
    return await orders.place_order(
        ctx.db,
        ctx.settings,
        actor=ctx.actor,
        customer=customer,
        channel=ctx.channel,
        number=_number(data),
        external_id=str(data.id),
        placed_at=data.created_at,
        currency=data.currency.upper(),
        lines=lines,
        discounts=[(code, Decimal("0")) for code in codes]
        + ([("", charges.order_discount)] if charges.order_discount > 0 else []),
        shipping_total=charges.shipping_total,
        tax_total=charges.tax_total,
        billing_address=_address(data.billing_address, "billing_address"),
        shipping_address=_address(data.shipping_address, "shipping_address"),
        note=data.note,
        tags=payloads.tag_list(data.tags),
        source_updated_at=data.updated_at,
    )


async def _sync_details(ctx: Context, order: Order, data: payloads.Order) -> None:
    changes: dict[str, Any] = {}
    if data.note != order.note:
        changes["note"] = data.note
    tags = payloads.tag_list(data.tags)
    if tags != list(order.tags):
        changes["tags"] = tags
    if changes:
        await orders.update_order(ctx.db, order, actor=ctx.actor, changes=changes)


def _captured(order: Order, data: payloads.Order) -> Decimal:
    if data.financial_status in CAPTURED:
        return order.total
    if data.financial_status == "partially_paid" and data.total_outstanding is not None:
        return min(max(data.total_price - data.total_outstanding, Decimal("0")), order.total)
    return Decimal("0")


async def _sync_payments(ctx: Context, order: Order, data: payloads.Order, *, new: bool) -> None:
    """Record what the store captured or authorised; a ``new`` order (placed by this
    delivery, without payments) has none to look up."""
    gateway = (data.payment_gateway_names or [ctx.connection.provider])[0][:60] or "shopify"
    captured = _captured(order, data)
    totals = (
        orders_repository.NO_PAYMENTS
        if new
        else await orders_repository.payment_totals(ctx.db, order.id)
    )
    if captured > totals.paid:
        for payment in [] if new else await orders_repository.payments_of(ctx.db, order.id):
            if payment.status == "authorized" and payment.amount <= captured - totals.paid:
                await orders.change_payment_status(
                    ctx.db, order, payment, actor=ctx.actor, status="succeeded"
                )
                totals = await orders_repository.payment_totals(ctx.db, order.id)
        if captured > totals.paid:
            await orders.record_payment(
                ctx.db,
                order,
                actor=ctx.actor,
                gateway=gateway,
                amount=captured - totals.paid,
                external_id=f"shopify:{data.id}:paid:{captured}",
                processed_at=data.updated_at,
            )
    elif data.financial_status == "authorized" and totals.count == 0 and order.total > 0:
        await orders.record_payment(
            ctx.db,
            order,
            actor=ctx.actor,
            gateway=gateway,
            amount=order.total,
            status="authorized",
            external_id=f"shopify:{data.id}:authorized",
            processed_at=data.updated_at,
        )


async def _apply_refund(ctx: Context, order: Order, refund: payloads.Refund) -> bool:
    if refund.amount <= 0:
        return False
    known = {r.external_id for r in await orders_repository.refunds_of(ctx.db, order.id)}
    if str(refund.id) in known:
        return False
    await orders.record_refund(
        ctx.db,
        ctx.settings,
        order,
        actor=ctx.actor,
        amount=refund.amount,
        reason=refund.note[:200],
        external_id=str(refund.id),
        processed_at=refund.created_at,
    )
    return True


def _match_lines(
    lines: list[OrderLine],
    data_lines: list[payloads.LineItem],
    wanted: list[payloads.FulfillmentLine],
) -> list[tuple[Any, int]]:
    """Shopify line items → Patron's order lines: by their position in the order when the
    order came with the delivery, else by SKU or title."""
    by_position = {line.position: line for line in lines}
    positions = {item.id: index for index, item in enumerate(data_lines)}
    matched = []
    for item in wanted:
        line = by_position.get(positions.get(item.id, -1)) or next(
            (
                line
                for line in lines
                if (item.sku and line.sku == item.sku) or (item.title and line.title == item.title)
            ),
            None,
        )
        if line is not None:
            matched.append((line.id, min(item.quantity, line.quantity)))
    return matched


async def _sync_fulfilment(
    ctx: Context,
    order: Order,
    fulfilment: payloads.Fulfillment,
    data_lines: list[payloads.LineItem] | None,
) -> bool:
    status = SHIPMENT_STATUS.get(fulfilment.shipment_status, "in_transit")
    shipment = await _shipment(ctx, order, str(fulfilment.id))
    if shipment is None:
        if fulfilment.status not in LIVE_FULFILMENTS or order.cancelled_at is not None:
            return False
        lines = await orders_repository.lines_of(ctx.db, order.id)
        chosen = _match_lines(lines, data_lines or [], fulfilment.line_items)
        if fulfilment.line_items and not chosen:
            return False
        await orders.create_shipment(
            ctx.db,
            ctx.settings,
            order,
            actor=ctx.actor,
            carrier=fulfilment.tracking_company[:100],
            tracking_number=fulfilment.tracking_number[:100],
            tracking_url=fulfilment.tracking_url[:500],
            status=status,
            lines=chosen,
            external_id=str(fulfilment.id),
        )
        return True
    if SHIPMENT_RANK.get(status, 9) > SHIPMENT_RANK.get(shipment.status, 9) or (
        status == "failed" and shipment.status != "failed"
    ):
        await orders.add_shipment_event(
            ctx.db,
            ctx.settings,
            order,
            shipment,
            actor=ctx.actor,
            status=status,
            occurred_at=fulfilment.updated_at,
        )
        return True
    return False


async def _shipment(ctx: Context, order: Order, external_id: str) -> Shipment | None:
    for shipment in await orders_repository.shipments_of(ctx.db, order.id):
        if shipment.external_id == external_id:
            return shipment
    return None


async def sync_order(ctx: Context, data: payloads.Order) -> Outcome:
    await ctx.is_stale("order", str(data.id), None)  # one delivery per order at a time
    order = await orders_repository.order_by_external_id(ctx.db, ctx.channel.id, str(data.id))
    if order is not None and order.source_updated_at and order.source_updated_at >= data.updated_at:
        return Outcome("processed", f"Order {order.number}: already at this version or newer.")
    created = order is None
    if order is None:
        order = await _place(ctx, data)
    else:
        await _sync_details(ctx, order, data)
        if order.cancelled_at is None:
            lines = _line_requests(data)
            await orders.edit_lines(
                ctx.db,
                ctx.settings,
                order,
                actor=ctx.actor,
                lines=lines,
                channel=ctx.channel,
                occurred_at=data.updated_at,
                charges=_charges(data, lines),
            )
    if order.cancelled_at is None:
        await _sync_payments(ctx, order, data, new=created)
    for refund in data.refunds:
        await _apply_refund(ctx, order, refund)
    for fulfilment in data.fulfillments:
        await _sync_fulfilment(ctx, order, fulfilment, data.line_items)
    if data.cancelled_at is not None and order.cancelled_at is None:
        await orders.cancel_order(
            ctx.db, ctx.settings, order, actor=ctx.actor, reason=data.cancel_reason
        )
    order.source_updated_at = data.updated_at
    await ctx.db.flush()
    return Outcome("processed", f"Order {order.number} {'created' if created else 'updated'}.")


async def _order_of(ctx: Context, order_id: int | None) -> Order:
    order = (
        await orders_repository.order_by_external_id(ctx.db, ctx.channel.id, str(order_id))
        if order_id is not None
        else None
    )
    if order is None:
        raise OrderNotYetKnown(
            f"Order {order_id} has not arrived from the store yet; re-process this delivery "
            "once it has (the order's own deliveries also carry it)."
        )
    return order


async def refund_created(ctx: Context, data: payloads.Refund) -> Outcome:
    await ctx.is_stale("order", str(data.order_id), None)
    order = await _order_of(ctx, data.order_id)
    if await _apply_refund(ctx, order, data):
        return Outcome("processed", f"Refund {data.id} recorded on order {order.number}.")
    return Outcome("processed", f"Refund {data.id}: nothing to record (known, or no money).")


async def fulfilment_changed(ctx: Context, data: payloads.Fulfillment) -> Outcome:
    await ctx.is_stale("order", str(data.order_id), None)
    order = await _order_of(ctx, data.order_id)
    if await ctx.is_stale("fulfillment", str(data.id), data.updated_at):
        return Outcome("processed", f"Fulfilment {data.id}: already at this version or newer.")
    changed = await _sync_fulfilment(ctx, order, data, None)
    await ctx.applied("fulfillment", str(data.id), data.updated_at)
    verb = "recorded" if changed else "unchanged"
    return Outcome("processed", f"Fulfilment {data.id} on order {order.number} {verb}.")
