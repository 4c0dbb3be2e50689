"""Stripe event types → payments, refunds and customers; other types are recorded and
ignored. The handler receives the whole event (``id``, ``type``, ``created``, ``data``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from patron.integrations.context import Context, Outcome
from patron.integrations.shopify.customers import clean_email
from patron.integrations.stripe import customers, payloads
from patron.integrations.stripe.payments import Attempt, record

Handler = Callable[[Context, payloads.Event], Awaitable[Outcome]]


def _charge_status(charge: payloads.Charge) -> str:
    if charge.status in ("failed", "pending"):
        return charge.status
    return "succeeded" if charge.captured else "authorized"


async def _charge(ctx: Context, event: payloads.Event) -> Outcome:
    """charge.succeeded and charge.refunded: the charge carries its payment and the
    cumulative amount refunded, so either one, in any order, ends in the same state."""
    charge = payloads.Charge.model_validate(event.object)
    captured = charge.amount_captured if charge.captured and charge.amount_captured else 0
    reasons = [r.reason for r in charge.refunds.data if r.reason] if charge.refunds else []
    attempt = Attempt(
        key=charge.payment_intent or charge.id,
        charge_id=charge.id,
        status=_charge_status(charge),
        minor=captured or charge.amount,
        currency=charge.currency.upper(),
        at=payloads.moment(charge.created),
        stripe_customer=charge.customer,
        email=clean_email(charge.billing_details.email or charge.receipt_email),
        name=charge.billing_details.name,
        metadata=charge.metadata,
        failure=charge.failure_message,
        refunded_minor=charge.amount_refunded,
        refund_reason=reasons[0].replace("_", " ") if reasons else "",
    )
    if attempt.minor == 0:
        return Outcome("ignored", f"Charge {charge.id} is for no amount.")
    return await record(ctx, attempt, event)


async def _payment_intent(ctx: Context, event: payloads.Event) -> Outcome:
    intent = payloads.PaymentIntent.model_validate(event.object)
    failed = event.type == "payment_intent.payment_failed"
    error = intent.last_payment_error
    attempt = Attempt(
        key=intent.id,
        charge_id=intent.latest_charge or "",
        status="failed" if failed else "succeeded",
        minor=intent.amount if failed else (intent.amount_received or intent.amount),
        currency=intent.currency.upper(),
        at=payloads.moment(intent.created),
        stripe_customer=intent.customer,
        email=clean_email(intent.receipt_email),
        name="",
        metadata=intent.metadata,
        failure=(error.message if error else "")[:300],
    )
    if attempt.minor == 0:
        return Outcome("ignored", f"PaymentIntent {intent.id} is for no amount.")
    return await record(ctx, attempt, event)


SESSION_STATUS = {"paid": "succeeded", "unpaid": "pending"}


async def _checkout_session(ctx: Context, event: payloads.Event) -> Outcome:
    session = payloads.CheckoutSession.model_validate(event.object)
    status = SESSION_STATUS.get(session.payment_status)
    if status is None or not session.amount_total or session.currency is None:
        return Outcome("ignored", f"Checkout session {session.id} took no payment.")
    details = session.customer_details or payloads.CustomerDetails()
    attempt = Attempt(
        key=session.payment_intent or session.id,
        charge_id="",
        status=status,
        minor=session.amount_total,
        currency=session.currency.upper(),
        at=payloads.moment(session.created),
        stripe_customer=session.customer,
        email=clean_email(details.email or session.customer_email),
        name=details.name,
        metadata=session.metadata,
        client_reference=session.client_reference_id,
    )
    return await record(ctx, attempt, event)


async def _customer(ctx: Context, event: payloads.Event) -> Outcome:
    return await customers.upsert(ctx, event)


HANDLERS: dict[str, Handler] = {
    "charge.succeeded": _charge,
    "charge.refunded": _charge,
    "payment_intent.succeeded": _payment_intent,
    "payment_intent.payment_failed": _payment_intent,
    "checkout.session.completed": _checkout_session,
    "customer.created": _customer,
    "customer.updated": _customer,
}


async def handle(ctx: Context, topic: str, body: dict[str, Any]) -> Outcome:
    event = payloads.Event.model_validate(body)
    handler = HANDLERS.get(event.type)
    if handler is None:
        return Outcome("ignored", f"Event type {event.type or '(none)'} is not used by Patron.")
    return await handler(ctx, event)
