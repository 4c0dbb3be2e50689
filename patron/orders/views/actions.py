"""The order page's forms: payments, refunds, shipments and tracking, returns, cancelling,
the note and tags.

Each form calls the same service as the API inside a savepoint. A refused action (a refund
larger than paid, a return of more than was bought, a transition that is not allowed) shows
the page again with the message beside the form and what was typed, and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from patron.auth.principal import Principal
from patron.config import Settings
from patron.customers.views.common import money
from patron.db.deps import DbSession
from patron.errors import CRMError, InvalidInput, NotFound
from patron.kit.contact import parse_amount
from patron.models import Order, OrderReturn, Shipment
from patron.models.orders import SHIPMENT_STATUSES
from patron.orders import repository, service
from patron.orders.api.common import SettingsDep
from patron.orders.auth import OrderWrite
from patron.orders.views.detail import order_page, order_url
from patron.web.templating import redirect

router = APIRouter()
Work = Callable[[], Awaitable[str]]
QUANTITY_PREFIX = "qty_"
MAX_QUANTITY = 1_000_000
PAYMENT_FORM_STATUSES = ("succeeded", "pending", "authorized")
MAX_NOTE = 10_000
MAX_TAGS = 50
MAX_TAG_LENGTH = 100


def _invalid(field: str, message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, details=[{"field": field, "message": message}])


def _text(form: FormData, name: str, limit: int = 200) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _checked(form: FormData, name: str) -> bool:
    return _text(form, name, 10) in ("on", "true", "1", "yes")


def _amount(form: FormData, name: str) -> Decimal | None:
    value = _text(form, name, 30)
    return parse_amount(value, field=name) if value else None


def _required_amount(form: FormData, name: str) -> Decimal:
    amount = _amount(form, name)
    if amount is None:
        raise _invalid(name, "Give an amount.", "invalid_amount")
    return amount


def _quantities(form: FormData) -> list[tuple[uuid.UUID, int]]:
    """``qty_<order line id>`` fields with more than nothing in them."""
    chosen: list[tuple[uuid.UUID, int]] = []
    for key in form:
        if not key.startswith(QUANTITY_PREFIX):
            continue
        raw = _text(form, key, 12)
        if not raw:
            continue
        try:
            line_id = uuid.UUID(key[len(QUANTITY_PREFIX) :])
            quantity = int(raw)
        except ValueError:
            raise _invalid(key, f"{raw!r} is not a number of units.", "invalid_quantity") from None
        if quantity < 0 or quantity > MAX_QUANTITY:
            raise _invalid(key, "The quantity cannot be negative.", "invalid_quantity")
        if quantity:
            chosen.append((line_id, quantity))
    return chosen


def _typed(form: FormData) -> dict[str, Any]:
    return {key: value for key, value in form.items() if key != "csrf_token"}


async def _attempt(
    request: Request,
    db: DbSession,
    settings: Settings,
    principal: Principal,
    order: Order,
    *,
    form_name: str,
    form: FormData,
    work: Work,
    anchor: str,
) -> Response:
    try:
        async with db.begin_nested():
            message = await work()
    except CRMError as error:
        if error.status not in (409, 422):
            raise
        return await order_page(
            request,
            db,
            settings,
            principal,
            order,
            status_code=error.status,
            failed=form_name,
            error=error.message,
            error_code=error.code,
            typed=_typed(form),
        )
    return redirect(request, order_url(order, anchor), flash=message)


async def _shipment(db: DbSession, order: Order, shipment_id: uuid.UUID) -> Shipment:
    found = await repository.shipment(db, order.id, shipment_id)
    if found is None:
        raise NotFound("No such shipment.", code="shipment_not_found")
    return found


async def _return(db: DbSession, order: Order, return_id: uuid.UUID) -> OrderReturn:
    found = await repository.order_return(db, order.id, return_id)
    if found is None:
        raise NotFound("No such return.", code="return_not_found")
    return found


def _shipment_status(form: FormData) -> str:
    status = _text(form, "status", 20) or "pending"
    if status not in SHIPMENT_STATUSES:
        raise _invalid("status", "Choose a shipment status.", "invalid_status")
    return status


@router.post("/orders/{order_id}/payments")
async def record_payment(
    request: Request,
    order_id: uuid.UUID,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    order = await repository.get_order_for(db, principal, order_id)
    form = await request.form()

    async def work() -> str:
        status = _text(form, "status", 12) or "succeeded"
        if status not in PAYMENT_FORM_STATUSES:
            raise _invalid("status", "Choose a payment status.", "invalid_status")
        payment = await service.record_payment(
            db,
            order,
            actor=principal.actor,
            gateway=_text(form, "gateway", 60),
            amount=_required_amount(form, "amount"),
            currency=_text(form, "currency", 3) or None,
            status=status,
            kind="authorization" if status == "authorized" else "sale",
            reference=_text(form, "reference"),
        )
        return f"Payment of {money(payment.amount, order.currency)} recorded."

    return await _attempt(
        request,
        db,
        settings,
        principal,
        order,
        form_name="payment",
        form=form,
        work=work,
        anchor="money",
    )


@router.post("/orders/{order_id}/payments/{payment_id}/status")
async def change_payment(
    request: Request,
    order_id: uuid.UUID,
    payment_id: uuid.UUID,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    order = await repository.get_order_for(db, principal, order_id)
    payment = await repository.payment(db, order.id, payment_id)
    if payment is None:
        raise NotFound("No such payment.", code="payment_not_found")
    form = await request.form()

    async def work() -> str:
        status = _text(form, "status", 12)
        await service.change_payment_status(
            db, order, payment, actor=principal.actor, status=status
        )
        return f"Payment marked {status}."

    return await _attempt(
        request,
        db,
        settings,
        principal,
        order,
        form_name=f"payment-{payment.id}",
        form=form,
        work=work,
        anchor="money",
    )


@router.post("/orders/{order_id}/refunds")
async def record_refund(
    request: Request,
    order_id: uuid.UUID,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    order = await repository.get_order_for(db, principal, order_id)
    form = await request.form()

    async def work() -> str:
        restock = _checked(form, "restock")
        lines = _quantities(form) if restock else []
        if restock and not lines:
            raise _invalid("restock", "Say how many units go back in stock.", "nothing_to_restock")
        refund = await service.record_refund(
            db,
            settings,
            order,
            actor=principal.actor,
            amount=_required_amount(form, "amount"),
            currency=_text(form, "currency", 3) or None,
            reason=_text(form, "reason"),
            note=_text(form, "note", 5000),
            restock_items=restock,
            lines=lines,
        )
        return f"Refund of {money(refund.amount, order.currency)} recorded."

    return await _attempt(
        request,
        db,
        settings,
        principal,
        order,
        form_name="refund",
        form=form,
        work=work,
        anchor="money",
    )


@router.post("/orders/{order_id}/shipments")
async def create_shipment(
    request: Request,
    order_id: uuid.UUID,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    order = await repository.get_order_for(db, principal, order_id)
    form = await request.form()

    async def work() -> str:
        lines = _quantities(form)
        if not lines:
            raise _invalid("lines", "Choose at least one unit to ship.", "nothing_to_ship")
        await service.create_shipment(
            db,
            settings,
            order,
            actor=principal.actor,
            carrier=_text(form, "carrier", 100),
            tracking_number=_text(form, "tracking_number", 100),
            tracking_url=_text(form, "tracking_url", 500),
            status=_shipment_status(form),
            lines=lines,
            notify_customer=_checked(form, "notify_customer"),
            message=_text(form, "message", 500),
        )
        return "Shipment added."

    return await _attempt(
        request,
        db,
        settings,
        principal,
        order,
        form_name="shipment",
        form=form,
        work=work,
        anchor="shipments",
    )


@router.post("/orders/{order_id}/shipments/{shipment_id}")
async def update_tracking(
    request: Request,
    order_id: uuid.UUID,
    shipment_id: uuid.UUID,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    order = await repository.get_order_for(db, principal, order_id)
    shipment = await _shipment(db, order, shipment_id)
    form = await request.form()

    async def work() -> str:
        await service.update_shipment(
            db,
            shipment,
            actor=principal.actor,
            changes={
                "carrier": _text(form, "carrier", 100),
                "tracking_number": _text(form, "tracking_number", 100),
                "tracking_url": _text(form, "tracking_url", 500),
                "notify_customer": _checked(form, "notify_customer"),
            },
        )
        return "Tracking saved."

    return await _attempt(
        request,
        db,
        settings,
        principal,
        order,
        form_name=f"tracking-{shipment.id}",
        form=form,
        work=work,
        anchor=f"shipment-{shipment.id}",
    )


@router.post("/orders/{order_id}/shipments/{shipment_id}/events")
async def add_shipment_event(
    request: Request,
    order_id: uuid.UUID,
    shipment_id: uuid.UUID,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    order = await repository.get_order_for(db, principal, order_id)
    shipment = await _shipment(db, order, shipment_id)
    form = await request.form()

    async def work() -> str:
        event = await service.add_shipment_event(
            db,
            settings,
            order,
            shipment,
            actor=principal.actor,
            status=_shipment_status(form),
            message=_text(form, "message", 500),
            location=_text(form, "location"),
        )
        return f"Shipment status: {event.status.replace('_', ' ')}."

    return await _attempt(
        request,
        db,
        settings,
        principal,
        order,
        form_name=f"event-{shipment.id}",
        form=form,
        work=work,
        anchor=f"shipment-{shipment.id}",
    )


@router.post("/orders/{order_id}/returns")
async def create_return(
    request: Request,
    order_id: uuid.UUID,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    order = await repository.get_order_for(db, principal, order_id)
    form = await request.form()

    async def work() -> str:
        lines = [
            service.ReturnLineRequest(order_line_id=line_id, quantity=quantity)
            for line_id, quantity in _quantities(form)
        ]
        if not lines:
            raise _invalid("lines", "Choose at least one unit to return.", "invalid_return")
        order_return = await service.create_return(
            db,
            settings,
            order,
            actor=principal.actor,
            lines=lines,
            reason=_text(form, "reason"),
            note=_text(form, "note", 5000),
            restock_items=_checked(form, "restock"),
            refund_amount=_amount(form, "refund_amount"),
        )
        return f"Return {order_return.number} opened."

    return await _attempt(
        request,
        db,
        settings,
        principal,
        order,
        form_name="return",
        form=form,
        work=work,
        anchor="returns",
    )


@router.post("/orders/{order_id}/returns/{return_id}/status")
async def transition_return(
    request: Request,
    order_id: uuid.UUID,
    return_id: uuid.UUID,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    order = await repository.get_order_for(db, principal, order_id)
    order_return = await _return(db, order, return_id)
    form = await request.form()

    async def work() -> str:
        status = _text(form, "status", 12)
        await service.transition_return(
            db,
            settings,
            order,
            order_return,
            actor=principal.actor,
            status=status,
            refund_amount=_amount(form, "refund_amount") if status == "refunded" else None,
        )
        return f"Return {order_return.number}: {status}."

    return await _attempt(
        request,
        db,
        settings,
        principal,
        order,
        form_name=f"return-{order_return.id}",
        form=form,
        work=work,
        anchor=f"return-{order_return.id}",
    )


@router.post("/orders/{order_id}/details")
async def edit_note_and_tags(
    request: Request,
    order_id: uuid.UUID,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    order = await repository.get_order_for(db, principal, order_id)
    form = await request.form()

    async def work() -> str:
        note = form.get("note")
        if isinstance(note, str) and len(note) > MAX_NOTE:
            raise _invalid("note", f"Keep the note under {MAX_NOTE:,} characters.", "too_long")
        tags = [tag.strip() for tag in _text(form, "tags", 5_000).split(",") if tag.strip()]
        if len(tags) > MAX_TAGS or any(len(tag) > MAX_TAG_LENGTH for tag in tags):
            raise _invalid(
                "tags",
                f"Give at most {MAX_TAGS} tags of up to {MAX_TAG_LENGTH} characters each.",
                "invalid_tags",
            )
        changes = {"note": (note if isinstance(note, str) else "").strip(), "tags": tags}
        await service.update_order(db, order, actor=principal.actor, changes=changes)
        return "Note and tags saved."

    return await _attempt(
        request,
        db,
        settings,
        principal,
        order,
        form_name="details",
        form=form,
        work=work,
        anchor="notes-title",
    )


@router.post("/orders/{order_id}/cancel")
async def cancel_order(
    request: Request,
    order_id: uuid.UUID,
    principal: OrderWrite,
    db: DbSession,
    settings: SettingsDep,
) -> Response:
    order = await repository.get_order_for(db, principal, order_id)
    form = await request.form()

    async def work() -> str:
        await service.cancel_order(
            db,
            settings,
            order,
            actor=principal.actor,
            reason=_text(form, "reason"),
            restock_items=_checked(form, "restock"),
        )
        return f"Order {order.number} cancelled."

    return await _attempt(
        request,
        db,
        settings,
        principal,
        order,
        form_name="cancel",
        form=form,
        work=work,
        anchor="",
    )
