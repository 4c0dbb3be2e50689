"""Stripe payments onto Patron's orders, or onto a customer's timeline when no order fits.

A payment is keyed on its PaymentIntent id (its charge id for charges made without one), so
``charge.succeeded``, ``payment_intent.succeeded`` and ``checkout.session.completed`` for the
same payment record it once. Its status only moves forward, and refunds follow the charge's
cumulative ``amount_refunded``: an older event, or a replay, finds nothing left to do, and a
refund that arrives before its charge first records the payment it carries.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from patron.customers import repository as customers_repository
from patron.integrations.context import Context, OrderNotYetKnown, Outcome
from patron.integrations.stripe import customers, repository
from patron.integrations.stripe.money import from_minor
from patron.integrations.stripe.payloads import Event
from patron.models import Customer, Order, Payment
from patron.orders import repository as orders_repository
from patron.orders import service as orders
from patron.orders.service.common import cents, money
from patron.timeline.service import add_entry

GATEWAY = repository.GATEWAY
# a payment's status only moves forward along these ranks
RANK = {"pending": 0, "authorized": 1, "succeeded": 2}


@dataclass(frozen=True)
class Attempt:
    """One Stripe payment as an event describes it."""

    key: str  # pi_... (ch_... without a PaymentIntent, cs_... for a session without one)
    charge_id: str
    status: str  # pending, authorized, succeeded or failed
    minor: int
    currency: str
    at: datetime
    stripe_customer: str | None
    email: str | None
    name: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    client_reference: str = ""
    failure: str = ""
    refunded_minor: int = 0
    refund_reason: str = ""

    @property
    def amount(self) -> Decimal:
        return from_minor(self.minor, self.currency)

    @property
    def shown(self) -> str:
        return money(self.amount, self.currency)


@dataclass(frozen=True)
class Match:
    order: Order | None
    customer: Customer | None
    how: str


async def record(ctx: Context, attempt: Attempt, event: Event) -> Outcome:
    # one event of a payment at a time: charge and payment_intent events race otherwise
    await ctx.is_stale("payment", attempt.key, None)
    if attempt.status == "failed":
        return await _failed(ctx, attempt, event)
    live = [p for p in await repository.payments(ctx.db, attempt.key) if p.status != "failed"]
    if live:
        order = await _order_of(ctx, live[0])
        await _advance(ctx, order, live[0], attempt.status)
        refunded = await _refund(ctx, order, attempt, event)
        return Outcome(
            "processed",
            f"Stripe payment {attempt.key} on order {order.number} up to date{refunded}.",
        )
    match = await _match(ctx, attempt)
    if match.order is not None and await _payable(ctx, match.order, attempt):
        await orders.record_payment(
            ctx.db,
            match.order,
            actor=ctx.actor,
            gateway=GATEWAY,
            amount=attempt.amount,
            currency=attempt.currency,
            status=attempt.status,
            reference=attempt.charge_id or attempt.key,
            external_id=attempt.key,
            processed_at=attempt.at,
        )
        refunded = await _refund(ctx, match.order, attempt, event)
        return Outcome(
            "processed",
            f"Payment of {attempt.shown} ({attempt.status}) recorded on order "
            f"{match.order.number}, matched by {match.how}{refunded}.",
        )
    return await _on_timeline(ctx, match, attempt, key=attempt.key)


async def _order_of(ctx: Context, payment: Payment) -> Order:
    order = await ctx.db.get(Order, payment.order_id)
    assert order is not None  # a payment belongs to its order (foreign key)
    return order


async def _advance(ctx: Context, order: Order, payment: Payment, status: str) -> None:
    if RANK.get(status, -1) > RANK.get(payment.status, 99):
        await orders.change_payment_status(ctx.db, order, payment, actor=ctx.actor, status=status)


async def _payable(ctx: Context, order: Order, attempt: Attempt) -> bool:
    """False when the order cannot take the payment (cancelled, another currency, or paid
    already, for example by the store's own record of the same payment)."""
    if order.cancelled_at is not None or order.currency != attempt.currency:
        return False
    if attempt.status != "succeeded":
        return True
    paid = (await orders_repository.payment_totals(ctx.db, order.id)).paid
    return paid + cents(attempt.amount) <= order.total


async def _refund(ctx: Context, order: Order, attempt: Attempt, event: Event) -> str:
    done = 0
    for external_id in await repository.refunded_so_far(ctx.db, order.id, attempt.key):
        done = max(done, _cumulative(external_id))
    if attempt.refunded_minor <= done:
        return ""
    amount = from_minor(attempt.refunded_minor - done, attempt.currency)
    await orders.record_refund(
        ctx.db,
        ctx.settings,
        order,
        actor=ctx.actor,
        amount=amount,
        currency=attempt.currency,
        reason=attempt.refund_reason or "refunded in Stripe",
        external_id=f"{attempt.key}:refunded:{attempt.refunded_minor}",
        processed_at=event.at,
    )
    return f"; {money(amount, attempt.currency)} refunded"


def _cumulative(external_id: str) -> int:
    tail = external_id.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


async def _failed(ctx: Context, attempt: Attempt, event: Event) -> Outcome:
    """A failed attempt is kept as a failed payment; it never undoes a success."""
    existing = await repository.payments(ctx.db, attempt.key)
    if any(p.status == "succeeded" for p in existing):
        return Outcome("ignored", f"Stripe payment {attempt.key} has succeeded since.")
    for payment in existing:
        if payment.status == "pending":
            owner = await _order_of(ctx, payment)
            await orders.change_payment_status(
                ctx.db, owner, payment, actor=ctx.actor, status="failed"
            )
            return Outcome("processed", f"Payment {attempt.key} on order {owner.number} failed.")
    key = f"{attempt.key}:failed:{attempt.charge_id or event.id}"
    if await repository.payments(ctx.db, key):
        return Outcome("processed", f"The failed attempt {key} was recorded already.")
    match = await _match(ctx, attempt)
    order = match.order
    if order is not None and order.cancelled_at is None and order.currency == attempt.currency:
        await orders.record_payment(
            ctx.db,
            order,
            actor=ctx.actor,
            gateway=GATEWAY,
            amount=attempt.amount,
            currency=attempt.currency,
            status="failed",
            reference=attempt.charge_id or attempt.key,
            external_id=key,
            processed_at=attempt.at,
        )
        return Outcome(
            "processed",
            f"Failed payment of {attempt.shown} recorded on order {order.number}"
            + (f": {attempt.failure}" if attempt.failure else "."),
        )
    return await _on_timeline(ctx, match, attempt, key=key)


# -- matching -------------------------------------------------------------------------------


def _named(attempt: Attempt) -> str:
    meta = attempt.metadata
    names = ("order_id", "order_number", "order_external_id")
    parts = [f"{name}={meta[name]}" for name in names if meta.get(name, "").strip()]
    if _uuid(attempt.client_reference) is not None:
        parts.append(f"client_reference_id={attempt.client_reference}")
    return ", ".join(parts)


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value.strip())
    except (ValueError, AttributeError):
        return None


async def _named_order(ctx: Context, attempt: Attempt) -> Order | None:
    """The order the metadata names: ``order_id`` (a Patron order id; another value is taken
    as the store's id), ``order_external_id`` or ``order_number``, first unambiguous match."""
    meta = attempt.metadata
    for value in (meta.get("order_id", ""), attempt.client_reference):
        key = _uuid(value)
        order = await ctx.db.get(Order, key) if key is not None else None
        if order is not None:
            return order
    raw_id = meta.get("order_id", "")
    external = meta.get("order_external_id") or (raw_id if _uuid(raw_id) is None else "")
    if external.strip():
        found = await repository.orders_by_external_id(
            ctx.db, external.strip(), prefer_channel=ctx.channel.id
        )
        if len(found) == 1:
            return found[0]
    number = meta.get("order_number", "").strip().lstrip("#")
    if number:
        found = await repository.orders_by_number(ctx.db, [number, f"#{number}"])
        if len(found) == 1:
            return found[0]
    return None


async def _match(ctx: Context, attempt: Attempt) -> Match:
    """Metadata first, then the Stripe customer id, then the email (a customer is made for
    an email Patron does not know); a customer's payment goes on their one open, unpaid
    order of the same amount and currency, if there is exactly one."""
    named = _named(attempt)
    if named:
        order = await _named_order(ctx, attempt)
        if order is None:
            raise OrderNotYetKnown(
                f"The order named in the Stripe metadata ({named}) is not in Patron (yet); "
                "re-process this delivery once it is."
            )
        customer_id = await customers_repository.resolve_id(ctx.db, order.customer_id)
        customer = await ctx.db.get(Customer, customer_id)
        if customer is not None:
            await customers.link(ctx, customer, attempt.stripe_customer)
        return Match(order, customer, "metadata")
    how = "Stripe customer id"
    customer = await customers.find(ctx, attempt.stripe_customer, None)
    if customer is None and attempt.email:
        how = "email"
        # two payments of a new email at once must not make two customers
        await ctx.is_stale("email", attempt.email.lower(), None)
        customer = await customers.find(ctx, None, attempt.email)
    if customer is None:
        if not attempt.email:
            return Match(None, None, "")
        made = await customers.create(
            ctx, stripe_id=attempt.stripe_customer, email=attempt.email, name=attempt.name
        )
        return Match(None, made, "email (a new customer)")
    await customers.link(ctx, customer, attempt.stripe_customer)
    candidates = await repository.unpaid_orders(
        ctx.db, customer.id, total=cents(attempt.amount), currency=attempt.currency
    )
    if len(candidates) == 1:
        return Match(candidates[0], customer, f"{how}, amount and currency")
    return Match(None, customer, how)


# -- payments kept on the timeline only -----------------------------------------------------


async def _on_timeline(ctx: Context, match: Match, attempt: Attempt, *, key: str) -> Outcome:
    customer = match.customer
    if customer is None:
        return Outcome(
            "ignored",
            f"Stripe payment {attempt.key} matches no order and no customer "
            "(no order metadata, known Stripe customer or email).",
        )
    why = f"order {match.order.number} cannot take it" if match.order else "no single open order"
    entries = await repository.timeline_entries(ctx.db, customer.id, kind="payment", key=key)
    seen = {str(entry.data.get("status")) for entry in entries}
    rank = RANK.get(attempt.status, -1)
    if attempt.status not in seen and not any(RANK.get(s, -1) >= rank >= 0 for s in seen):
        await add_entry(
            ctx.db,
            customer_id=customer.id,
            order_id=match.order.id if match.order else None,
            kind="payment",
            summary=(
                f"Stripe payment of {attempt.shown} {attempt.status}, not linked to an order "
                f"({why})" + (f": {attempt.failure}" if attempt.failure else "")
            ),
            actor=ctx.actor,
            data={
                "stripe_payment": key,
                "status": attempt.status,
                "amount": str(attempt.amount),
                "currency": attempt.currency,
                "gateway": GATEWAY,
                "charge": attempt.charge_id,
                "matched_by": match.how,
            },
            occurred_at=attempt.at,
        )
    refunded = await _refund_on_timeline(ctx, customer, attempt, key=key)
    return Outcome(
        "processed",
        f"Stripe payment {attempt.key} of {attempt.shown} kept on customer {customer.id}'s "
        f"timeline only, matched by {match.how} ({why}){refunded}.",
    )


async def _refund_on_timeline(
    ctx: Context, customer: Customer, attempt: Attempt, *, key: str
) -> str:
    entries = await repository.timeline_entries(ctx.db, customer.id, kind="refund", key=key)
    done = max((int(e.data.get("refunded_minor", 0)) for e in entries), default=0)
    if attempt.refunded_minor <= done:
        return ""
    amount = from_minor(attempt.refunded_minor - done, attempt.currency)
    await add_entry(
        ctx.db,
        customer_id=customer.id,
        kind="refund",
        summary=f"Refunded {money(amount, attempt.currency)} in Stripe (payment {attempt.key}, "
        "not linked to an order)",
        actor=ctx.actor,
        data={
            "stripe_payment": key,
            "refunded_minor": attempt.refunded_minor,
            "amount": str(amount),
            "currency": attempt.currency,
        },
    )
    return f"; {money(amount, attempt.currency)} refunded"
