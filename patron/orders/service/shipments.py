"""Shipments and their tracking events; the order's fulfilment status follows from them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import Actor
from patron.config import Settings
from patron.errors import Conflict
from patron.kit.time import utcnow
from patron.kit.urls import check_http_url
from patron.mail.service import queue_email
from patron.models import Customer, Order, Shipment, ShipmentEvent
from patron.orders import repository
from patron.orders.service.common import (
    STATUS_LABELS,
    aware,
    check_quantity,
    invalid,
    line_of,
    lines_by_id,
    refresh_fulfillment_status,
    refuse_if_cancelled,
    shipped_quantities,
)
from patron.orders.service.orders import tracking_url
from patron.timeline.service import add_entry

ON_THE_WAY = ("in_transit", "out_for_delivery", "delivered")
EDITABLE = ("carrier", "tracking_number", "tracking_url", "notify_customer")


def _tracking_link(value: str) -> str:
    value = value.strip()
    return check_http_url(value, field="tracking_url", max_length=500) if value else ""


def _describe(shipment: Shipment) -> str:
    parts = [shipment.carrier, shipment.tracking_number]
    return " ".join(part for part in parts if part) or "no tracking number"


async def _notify(
    db: AsyncSession,
    settings: Settings,
    order: Order,
    shipment: Shipment,
    *,
    message: str = "",
    location: str = "",
) -> None:
    """Tell the customer, when the shipment asks for it and the customer has an email."""
    if not shipment.notify_customer:
        return
    customer = await db.get(Customer, order.customer_id)
    if customer is None or not customer.email:
        return
    await queue_email(
        db,
        to=customer.email,
        template="shipment_update",
        context={
            "name": customer.first_name or customer.name,
            "order_number": order.number,
            "status": STATUS_LABELS[shipment.status],
            "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number,
            "carrier_url": shipment.tracking_url,
            "tracking_page": tracking_url(settings, order),
            "message": message,
            "location": location,
        },
    )


def _stamp(shipment: Shipment, status: str, moment: datetime) -> None:
    shipment.status = status
    if status in ON_THE_WAY and shipment.shipped_at is None:
        shipment.shipped_at = moment
    if status == "delivered":
        shipment.delivered_at = moment


async def create_shipment(
    db: AsyncSession,
    settings: Settings,
    order: Order,
    *,
    actor: Actor,
    carrier: str = "",
    tracking_number: str = "",
    tracking_url: str = "",
    status: str = "pending",
    lines: Sequence[tuple[uuid.UUID, int]] = (),
    notify_customer: bool = False,
    message: str = "",
    external_id: str | None = None,
) -> Shipment:
    """Ship ``(order_line_id, quantity)`` pairs, or everything not yet shipped."""
    await repository.lock_order(db, order)
    refuse_if_cancelled(order)
    link = _tracking_link(tracking_url)
    order_lines = lines_by_id(await repository.lines_of(db, order.id))
    shipped = shipped_quantities(await repository.shipments_of(db, order.id))
    remaining = {lid: line.quantity - shipped.get(lid, 0) for lid, line in order_lines.items()}
    wanted: dict[uuid.UUID, int] = {}
    for index, (line_id, quantity) in enumerate(lines):
        line_of(order_lines, line_id, field=f"lines.{index}.order_line_id")
        check_quantity(quantity, field=f"lines.{index}.quantity")
        wanted[line_id] = wanted.get(line_id, 0) + quantity
        if wanted[line_id] > remaining[line_id]:
            raise invalid(
                f"lines.{index}.quantity",
                f"Only {remaining[line_id]} units of this line are left to ship.",
                "shipment_exceeds_ordered",
            )
    if not lines:
        wanted = {lid: left for lid, left in remaining.items() if left > 0}
        if not wanted:
            raise Conflict("Everything on this order has been shipped.", code="nothing_to_ship")
    now = utcnow()
    shipment = Shipment(
        order_id=order.id,
        carrier=carrier.strip(),
        tracking_number=tracking_number.strip(),
        tracking_url=link,
        status=status,
        lines=[{"order_line_id": str(lid), "quantity": qty} for lid, qty in wanted.items()],
        notify_customer=notify_customer,
        external_id=external_id,
    )
    _stamp(shipment, status, now)
    db.add(shipment)
    await db.flush()
    db.add(
        ShipmentEvent(
            shipment_id=shipment.id,
            status=status,
            message=message or "Shipment created",
            occurred_at=now,
        )
    )
    await add_entry(
        db,
        customer_id=order.customer_id,
        order_id=order.id,
        kind="shipment",
        summary=f"Shipment for order {order.number} ({_describe(shipment)}): "
        f"{STATUS_LABELS[status]}",
        actor=actor,
        data={
            "shipment_id": str(shipment.id),
            "status": status,
            "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number,
            "units": sum(wanted.values()),
        },
    )
    await audit.record(
        db,
        action="order.shipment_created",
        actor=actor,
        object_type="order",
        object_id=order.id,
        details={"shipment_id": str(shipment.id), "status": status, "lines": shipment.lines},
    )
    await refresh_fulfillment_status(db, order, actor=actor)
    await _notify(db, settings, order, shipment, message=message)
    await db.flush()
    return shipment


async def add_shipment_event(
    db: AsyncSession,
    settings: Settings,
    order: Order,
    shipment: Shipment,
    *,
    actor: Actor,
    status: str,
    message: str = "",
    location: str = "",
    occurred_at: datetime | None = None,
) -> ShipmentEvent:
    """A carrier's scan or a status change; a new status reaches the timeline (and the
    customer, when the shipment notifies)."""
    moment = aware(occurred_at) or utcnow()
    event = ShipmentEvent(
        shipment_id=shipment.id,
        status=status,
        message=message.strip(),
        location=location.strip(),
        occurred_at=moment,
    )
    db.add(event)
    previous = shipment.status
    if status != previous:
        _stamp(shipment, status, moment)
        await db.flush()
        await add_entry(
            db,
            customer_id=order.customer_id,
            order_id=order.id,
            kind="shipment",
            summary=f"Shipment for order {order.number} ({_describe(shipment)}): "
            f"{STATUS_LABELS[previous]} → {STATUS_LABELS[status]}",
            actor=actor,
            data={
                "shipment_id": str(shipment.id),
                "from": previous,
                "to": status,
                "message": event.message,
                "location": event.location,
            },
            occurred_at=moment,
        )
        await _notify(db, settings, order, shipment, message=event.message, location=event.location)
    await db.flush()
    await db.refresh(shipment, ["updated_at"])
    return event


async def update_shipment(
    db: AsyncSession, shipment: Shipment, *, actor: Actor, changes: Mapping[str, Any]
) -> Shipment:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise invalid(sorted(unknown)[0], "This field cannot be changed.", "unknown_field")
    before = {key: getattr(shipment, key) for key in EDITABLE}
    for key, value in changes.items():
        if value is None:
            raise invalid(key, f"{key} cannot be null.", "null_not_allowed")
        if key == "tracking_url":
            value = _tracking_link(value)
        elif isinstance(value, str):
            value = value.strip()
        setattr(shipment, key, value)
    await db.flush()
    await db.refresh(shipment, ["updated_at"])
    await audit.record_change(
        db,
        action="order.shipment_updated",
        actor=actor,
        object_type="order",
        object_id=shipment.order_id,
        before=before,
        after={key: getattr(shipment, key) for key in EDITABLE},
    )
    return shipment
