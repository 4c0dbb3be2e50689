"""Stripe webhooks through the receipt pipeline: the Stripe-Signature scheme (signed with
``openssl``, not with Patron's code), payments linked to orders and customers, recorded once
whichever events arrive, in whatever order, and refunds, failures and odd currencies."""

from __future__ import annotations

import base64
import json
import random
import time
import uuid
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import SYSTEM
from patron.config import Settings
from patron.customers import service as customers_service
from patron.customers.schemas import CustomerCreate
from patron.errors import InvalidInput
from patron.integrations import service
from patron.integrations.shopify.customers import _system_principal
from patron.integrations.stripe import money, signature
from patron.kit.crypto import SecretBox
from patron.models import (
    Customer,
    CustomerExternalId,
    Order,
    Payment,
    Refund,
    StoreConnection,
    TimelineEntry,
    WebhookReceipt,
)
from patron.orders import service as order_service
from tests.test_integrations_helpers import openssl_signature, work

SECRET = "whsec_0123456789abcdefghijklmnopqrstuv"
ACCOUNT = "acct_1PatronTest0001"
CREATED = 1_762_000_000  # 2025-11-01


def openssl_hex(secret: str, message: bytes) -> str:
    """hex(HMAC-SHA256(message)) computed by OpenSSL, independently of Patron."""
    return base64.b64decode(openssl_signature(secret, message)).hex()


def stripe_header(body: bytes, *secrets: str, at: int | None = None) -> str:
    timestamp = int(time.time()) if at is None else at
    signed = f"{timestamp}.".encode() + body
    return ",".join([f"t={timestamp}", *(f"v1={openssl_hex(s, signed)}" for s in secrets)])


async def _connect(db: AsyncSession, settings: Settings) -> StoreConnection:
    return await service.connect(
        db,
        SecretBox(settings),
        actor=SYSTEM,
        provider="stripe",
        name="Stripe",
        shop_domain=f" {ACCOUNT} ",
        webhook_secret=SECRET,
    )


def event(kind: str, obj: dict[str, Any], *, created: int = CREATED) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "livemode": False,
        "type": kind,
        "data": {"object": obj},
    }


def charge(
    *,
    amount: int = 4000,
    currency: str = "usd",
    refunded: int = 0,
    pi: str | None = "pi_3PatronA",
    ch: str = "ch_3PatronA",
    customer: str | None = None,
    email: str | None = "ada@example.com",
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "id": ch,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": refunded,
        "refunded": refunded == amount,
        "captured": True,
        "paid": True,
        "status": "succeeded",
        "currency": currency,
        "created": CREATED,
        "customer": customer,
        "payment_intent": pi,
        "receipt_email": None,
        "billing_details": {"email": email, "name": "Ada Lovelace", "phone": None},
        "metadata": metadata or {},
        "refunds": {
            "object": "list",
            "data": [{"id": "re_1", "amount": refunded, "reason": "requested_by_customer"}]
            if refunded
            else [],
        },
    }


def intent(
    *,
    amount: int = 4000,
    currency: str = "usd",
    pi: str = "pi_3PatronA",
    metadata: dict[str, str] | None = None,
    error: str | None = None,
    customer: str | None = None,
) -> dict[str, Any]:
    return {
        "id": pi,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": 0 if error else amount,
        "currency": currency,
        "created": CREATED,
        "status": "requires_payment_method" if error else "succeeded",
        "customer": customer,
        "latest_charge": "ch_3PatronFailed" if error else "ch_3PatronA",
        "receipt_email": "ada@example.com",
        "metadata": metadata or {},
        "last_payment_error": {"code": "card_declined", "message": error} if error else None,
    }


async def _send(
    client: httpx2.AsyncClient,
    connection: StoreConnection,
    payload: dict[str, Any] | bytes,
    *,
    secrets: tuple[str, ...] = (SECRET,),
    at: int | None = None,
) -> httpx2.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return await client.post(
        f"/webhooks/stripe/{connection.id}",
        content=body,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": stripe_header(body, *secrets, at=at),
        },
    )


async def _customer(
    db: AsyncSession, settings: Settings, email: str = "ada@example.com"
) -> Customer:
    return await customers_service.create_customer(
        db,
        settings,
        principal=_system_principal(),
        data=CustomerCreate(first_name="Ada", last_name="Lovelace", email=email),
        actor=SYSTEM,
    )


async def _order(
    db: AsyncSession,
    settings: Settings,
    customer: Customer,
    *,
    total: str = "40.00",
    currency: str = "USD",
    number: str | None = None,
) -> Order:
    return await order_service.place_order(
        db,
        settings,
        actor=SYSTEM,
        customer=customer,
        lines=[order_service.LineRequest(quantity=1, title="Mug", unit_price=Decimal(total))],
        currency=currency,
        exchange_rate=None if currency == settings.currency else Decimal("0.0067"),
        number=number,
    )


async def _shop_with_order(
    db: AsyncSession, settings: Settings, **options: Any
) -> tuple[StoreConnection, Order]:
    connection = await _connect(db, settings)
    order = await _order(db, settings, await _customer(db, settings), **options)
    return connection, order


async def _payments(db: AsyncSession, order: Order) -> list[Payment]:
    return list(await db.scalars(select(Payment).where(Payment.order_id == order.id)))


async def _count(db: AsyncSession, model: type[Any]) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


# -- signatures ------------------------------------------------------------------------------


def test_the_signature_matches_a_vector_computed_by_openssl() -> None:
    body = b'{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","type":"charge.succeeded"}'
    # printf '1700000000.<body>' | openssl dgst -sha256 -hmac whsec_test_secret
    vector = "e93bb1494d1b8b535a29001640f4709f16886f5a3eef1dfd42e8e27a4ccf8325"
    assert signature.expected(b"whsec_test_secret", 1_700_000_000, body) == vector
    header = f"t=1700000000,v0=00ff,v1=deadbeef,v1={vector}"
    verdict = signature.verify(
        body, header, [b"whsec_test_secret"], now=1_700_000_100, tolerance=300
    )
    assert verdict.ok
    v0_only = f"t=1700000000,v0={vector}"
    assert (
        signature.verify(
            body, v0_only, [b"whsec_test_secret"], now=1_700_000_000, tolerance=300
        ).code
        == "invalid_signature"
    )
    late = signature.verify(body, header, [b"whsec_test_secret"], now=1_700_000_301, tolerance=300)
    assert late.code == "signature_expired"


def test_amounts_follow_the_currency_exponent() -> None:
    assert money.from_minor(1999, "usd") == Decimal("19.99")
    assert money.from_minor(5000, "JPY") == Decimal("5000")
    assert money.from_minor(5000, "krw") == Decimal("5000")
    assert money.from_minor(1234, "KWD") == Decimal("1.234")
    assert money.from_minor(1000, "bhd") == Decimal("1.000")
    assert money.to_minor(Decimal("19.99"), "USD") == 1999


async def test_a_signed_event_is_stored_once_under_its_event_id(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await _connect(db, settings)
    assert connection.shop_domain == ACCOUNT
    payload = event("charge.succeeded", charge())
    first = await _send(client, connection, payload)
    again = await _send(client, connection, payload)
    assert (first.status_code, first.json()["status"]) == (200, "accepted")
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    [receipt] = await db.scalars(select(WebhookReceipt))
    assert (receipt.provider, receipt.topic, receipt.delivery_id) == (
        "stripe",
        "charge.succeeded",
        payload["id"],
    )


async def test_wrong_missing_and_expired_signatures_are_refused_and_nothing_is_stored(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await _connect(db, settings)
    body = json.dumps(event("charge.succeeded", charge())).encode()
    url = f"/webhooks/stripe/{connection.id}"
    now = int(time.time())
    cases = {
        "wrong secret": stripe_header(body, "whsec_another_secret_value"),
        "missing": "",
        "unreadable": "t=abc,v1=zz",
        "v0 only": stripe_header(body, SECRET).replace("v1=", "v0="),
        "no timestamp": stripe_header(body, SECRET).split(",", 1)[1],
        "too old": stripe_header(body, SECRET, at=now - 301),
        "from the future": stripe_header(body, SECRET, at=now + 400),
        "another body": stripe_header(body + b" ", SECRET),
    }
    codes = {}
    for name, header in cases.items():
        response = await client.post(url, content=body, headers={"Stripe-Signature": header})
        assert response.status_code == 401, name
        codes[name] = response.json()["error"]["code"]
    assert codes["too old"] == codes["from the future"] == "signature_expired"
    assert {codes[n] for n in cases if "too old" != n != "from the future"} == {"invalid_signature"}
    assert await _count(db, WebhookReceipt) == 0
    settings.stripe_signature_tolerance = 600
    assert (await _send(client, connection, body, at=now - 500)).status_code == 200
    unknown = await client.post(f"/webhooks/stripe/{uuid.uuid4()}", content=body)
    malformed_id = await client.post("/webhooks/stripe/not-a-uuid", content=body)
    assert (unknown.status_code, malformed_id.status_code) == (404, 404)


async def test_both_secrets_verify_during_a_rotation(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await _connect(db, settings)
    new_secret = "whsec_rotated_9876543210zyxwvu"
    await service.update_connection(
        db,
        SecretBox(settings),
        connection,
        actor=SYSTEM,
        changes={"webhook_secret": new_secret},
    )
    old = await _send(client, connection, event("customer.created", {"id": "cus_A"}))
    new = await _send(
        client, connection, event("customer.created", {"id": "cus_B"}), secrets=(new_secret,)
    )
    # Stripe signs with every active secret while an endpoint secret is being rolled
    both = await _send(
        client,
        connection,
        event("customer.created", {"id": "cus_C"}),
        secrets=("whsec_expired_secret_000000", new_secret),
    )
    assert [r.status_code for r in (old, new, both)] == [200, 200, 200]
    await service.update_connection(
        db,
        SecretBox(settings),
        connection,
        actor=SYSTEM,
        changes={"webhook_secret": "whsec_third_secret_00000"},
    )
    oldest = await _send(client, connection, event("customer.created", {"id": "cus_D"}))
    assert oldest.status_code == 401


def test_the_connection_takes_a_stripe_account_id() -> None:
    with pytest.raises(InvalidInput) as refused:
        service.normalise_domain("stripe", "my-shop.example.com")
    assert refused.value.code == "invalid_stripe_account"
    assert service.normalise_domain("stripe", " acct_1Abc234567 ") == "acct_1Abc234567"


# -- payments ------------------------------------------------------------------------------


async def test_a_charge_and_its_payment_intent_record_the_payment_once(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection, order = await _shop_with_order(db, settings)
    meta = {"order_id": str(order.id)}
    await _send(client, connection, event("charge.succeeded", charge(metadata=meta)))
    await _send(client, connection, event("payment_intent.succeeded", intent(metadata=meta)))
    await _send(
        client,
        connection,
        event(
            "checkout.session.completed",
            {
                "id": "cs_test_1",
                "amount_total": 4000,
                "currency": "usd",
                "created": CREATED,
                "payment_status": "paid",
                "payment_intent": "pi_3PatronA",
                "metadata": meta,
            },
        ),
    )
    receipts = await work(db, settings)
    assert [r.status for r in receipts] == ["processed"] * 3, [r.error for r in receipts]
    [payment] = await _payments(db, order)
    assert (payment.amount, payment.currency, payment.status) == (
        Decimal("40.00"),
        "USD",
        "succeeded",
    )
    assert (payment.gateway, payment.external_id, payment.reference) == (
        "stripe",
        "pi_3PatronA",
        "ch_3PatronA",
    )
    await db.refresh(order)
    assert order.financial_status == "paid"
    for receipt in receipts:  # processing a delivery again changes nothing either
        await service.reprocess(db, connection, receipt, actor=SYSTEM)
    await work(db, settings)
    assert len(await _payments(db, order)) == 1
    entries = await db.scalar(
        select(func.count())
        .select_from(TimelineEntry)
        .where(TimelineEntry.order_id == order.id, TimelineEntry.kind == "payment")
    )
    assert entries == 1


async def test_refunds_partial_then_full_end_right_even_before_the_charge(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection, order = await _shop_with_order(db, settings, number="1042")
    meta = {"order_number": "1042"}
    # the partial refund arrives first, then the charge, then the full refund, then an old replay
    await _send(
        client,
        connection,
        event("charge.refunded", charge(refunded=1500, metadata=meta), created=CREATED + 60),
    )
    await _send(client, connection, event("charge.succeeded", charge(metadata=meta)))
    await _send(
        client,
        connection,
        event("charge.refunded", charge(refunded=4000, metadata=meta), created=CREATED + 120),
    )
    await _send(
        client,
        connection,
        event("charge.refunded", charge(refunded=1500, metadata=meta), created=CREATED + 60),
    )
    receipts = await work(db, settings)
    assert [r.status for r in receipts] == ["processed"] * 4, [r.error for r in receipts]
    assert len(await _payments(db, order)) == 1
    refunds = list(await db.scalars(select(Refund).where(Refund.order_id == order.id)))
    assert sorted(r.amount for r in refunds) == [Decimal("15.00"), Decimal("25.00")]
    assert refunds[0].reason == "requested by customer"
    await db.refresh(order)
    assert (order.refunded_total, order.financial_status) == (Decimal("40.00"), "refunded")


async def test_a_failed_payment_is_recorded_as_failed_and_a_later_success_pays(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection, order = await _shop_with_order(db, settings)
    meta = {"order_id": str(order.id)}
    await _send(
        client,
        connection,
        event(
            "payment_intent.payment_failed", intent(metadata=meta, error="Your card was declined.")
        ),
    )
    await _send(
        client,
        connection,
        event("payment_intent.succeeded", intent(metadata=meta), created=CREATED + 60),
    )
    receipts = await work(db, settings)
    assert [r.status for r in receipts] == ["processed"] * 2, [r.error for r in receipts]
    assert "declined" in receipts[0].outcome
    payments = sorted(await _payments(db, order), key=lambda p: p.status)
    assert [(p.status, p.external_id) for p in payments] == [
        ("failed", "pi_3PatronA:failed:ch_3PatronFailed"),
        ("succeeded", "pi_3PatronA"),
    ]
    await db.refresh(order)
    assert order.financial_status == "paid"


async def test_a_payment_is_linked_by_the_stripe_customer_id_to_the_one_open_order(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await _connect(db, settings)
    stripe_customer = {
        "id": "cus_PatronAda",
        "object": "customer",
        "email": "ada.l@example.com",
        "name": "Ada Lovelace",
        "phone": "+442071234567",
        "created": CREATED,
    }
    await _send(client, connection, event("customer.created", stripe_customer))
    await _send(
        client,
        connection,
        event("customer.updated", {**stripe_customer, "name": "Ada King"}, created=CREATED + 60),
    )
    # an older update delivered late changes nothing
    await _send(
        client,
        connection,
        event("customer.updated", {**stripe_customer, "name": "Ada Byron"}, created=CREATED + 30),
    )
    receipts = await work(db, settings)
    assert [r.status for r in receipts] == ["processed"] * 3, [r.error for r in receipts]
    [customer] = await db.scalars(select(Customer))
    await db.refresh(customer)
    assert (customer.first_name, customer.last_name, customer.email) == (
        "Ada",
        "King",
        "ada.l@example.com",
    )
    order = await _order(db, settings, customer, total="25.50")
    await _order(db, settings, customer, total="99.00")
    await _send(
        client,
        connection,
        event("charge.succeeded", charge(amount=2550, customer="cus_PatronAda", email=None)),
    )
    [receipt] = await work(db, settings)
    assert receipt.status == "processed", receipt.error
    assert "Stripe customer id" in receipt.outcome
    [payment] = await _payments(db, order)
    assert payment.amount == Decimal("25.50")


async def test_a_payment_matched_by_email_without_a_single_open_order_stays_on_the_timeline(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await _connect(db, settings)
    customer = await _customer(db, settings, email="grace@example.com")
    first = await _order(db, settings, customer, total="30.00")
    second = await _order(db, settings, customer, total="30.00")
    paid = charge(amount=3000, email="Grace@Example.com", customer="cus_Grace")
    await _send(client, connection, event("charge.succeeded", paid))
    await _send(
        client,
        connection,
        event("payment_intent.succeeded", intent(amount=3000, customer="cus_Grace")),
    )
    await _send(client, connection, event("charge.refunded", {**paid, "amount_refunded": 1000}))
    receipts = await work(db, settings)
    assert [r.status for r in receipts] == ["processed"] * 3, [r.error for r in receipts]
    assert "timeline only" in receipts[0].outcome
    assert await _payments(db, first) == await _payments(db, second) == []
    entries = list(
        await db.scalars(
            select(TimelineEntry)
            .where(
                TimelineEntry.customer_id == customer.id,
                TimelineEntry.kind.in_(["payment", "refund"]),
            )
            .order_by(TimelineEntry.kind)
        )
    )
    assert [(e.kind, e.data.get("amount")) for e in entries] == [
        ("payment", "30.00"),
        ("refund", "10.00"),
    ]
    assert "not linked to an order" in entries[0].summary
    # the Stripe customer id is now known: the next payment finds the customer by it
    link = await db.scalar(
        select(CustomerExternalId).where(CustomerExternalId.external_id == "cus_Grace")
    )
    assert link is not None
    assert link.customer_id == customer.id


async def test_an_unknown_email_makes_a_customer_and_a_zero_decimal_amount_stays_whole(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await _connect(db, settings)
    await _send(
        client,
        connection,
        event("charge.succeeded", charge(amount=5000, currency="jpy", email="hiro@example.jp")),
    )
    [receipt] = await work(db, settings)
    assert receipt.status == "processed", receipt.error
    customer = await db.scalar(select(Customer).where(Customer.email == "hiro@example.jp"))
    assert customer is not None
    order = await _order(db, settings, customer, total="5000", currency="JPY")
    await _send(
        client,
        connection,
        event(
            "charge.succeeded",
            charge(
                amount=5000, currency="jpy", pi="pi_3Yen", ch="ch_3Yen", email="hiro@example.jp"
            ),
        ),
    )
    [receipt] = await work(db, settings)
    assert receipt.status == "processed", receipt.error
    [payment] = await _payments(db, order)
    assert (payment.amount, payment.currency) == (Decimal("5000"), "JPY")


async def test_a_payment_without_any_link_is_ignored_and_unknown_types_are_recorded(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await _connect(db, settings)
    await _send(client, connection, event("charge.succeeded", charge(email=None)))
    await _send(client, connection, event("invoice.paid", {"id": "in_1"}))
    receipts = await work(db, settings)
    assert [r.status for r in receipts] == ["ignored", "ignored"]
    assert await _count(db, Payment) == 0


async def test_malformed_events_fail_visibly_and_are_reprocessed_after_a_fix(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await _connect(db, settings)
    broken = charge()
    del broken["amount"]
    responses = [
        await _send(client, connection, b'{"id": "evt_broken", '),
        await _send(client, connection, event("charge.succeeded", broken)),
        await _send(
            client, connection, event("charge.succeeded", charge(metadata={"order_number": "2001"}))
        ),
        await _send(client, connection, event("charge.succeeded", charge(amount=10**15))),
        await _send(client, connection, b"[1, 2]"),
    ]
    assert [r.status_code for r in responses] == [200] * 5
    receipts = await work(db, settings)
    assert [(r.status, r.error_code) for r in receipts] == [
        ("failed", "malformed_json"),
        ("failed", "invalid_payload"),
        ("failed", "order_not_found"),
        ("failed", "invalid_payload"),
        ("failed", "invalid_payload"),
    ]
    assert "amount" in receipts[1].error
    assert "amount" in receipts[3].error
    customer = await _customer(db, settings)
    order = await _order(db, settings, customer, number="2001")
    await service.reprocess(db, connection, receipts[2], actor=SYSTEM)
    [again] = await work(db, settings)
    assert again.status == "processed", again.error
    [payment] = await _payments(db, order)
    assert payment.amount == Decimal("40.00")


async def test_any_order_of_duplicated_payment_events_ends_in_the_same_state(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    connection = await _connect(db, settings)
    customer = await _customer(db, settings)
    shuffler = random.Random(20261123)
    for run in range(5):
        order = await _order(db, settings, customer)
        pi, ch = f"pi_3Run{run}", f"ch_3Run{run}"
        meta = {"order_id": str(order.id)}
        events = [
            event("charge.succeeded", charge(metadata=meta, pi=pi, ch=ch)),
            event("payment_intent.succeeded", intent(metadata=meta, pi=pi)),
            event("charge.refunded", charge(refunded=1000, metadata=meta, pi=pi, ch=ch)),
            event("charge.refunded", charge(refunded=2500, metadata=meta, pi=pi, ch=ch)),
        ]
        # Stripe's retries (same event id) and the same state sent again under a new event id
        events += [shuffler.choice(events), {**shuffler.choice(events), "id": f"evt_again{run}"}]
        shuffler.shuffle(events)
        for payload in events:
            assert (await _send(client, connection, payload)).status_code == 200
        receipts = await work(db, settings)
        assert {r.status for r in receipts} == {"processed"}, [r.error for r in receipts]
        [payment] = await _payments(db, order)
        await db.refresh(order)
        assert (payment.status, order.refunded_total, order.financial_status) == (
            "succeeded",
            Decimal("25.00"),
            "partially_refunded",
        ), [e["type"] for e in events]
