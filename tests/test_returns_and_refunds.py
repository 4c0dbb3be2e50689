"""Payments, refunds and returns: money never goes back beyond what came in."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx2
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.models import Refund, TimelineEntry
from tests.conftest import MakeKey, MakeUser, audit_actions, bearer
from tests.shop import (
    make_catalog,
    make_customer,
    metrics_of,
    order_body,
    pay,
    place,
    stock,
    timeline_kinds,
)

Json = dict[str, Any]


async def _setup(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
    **overrides: Any,
) -> tuple[dict[str, str], Json, Any, Any]:
    headers = bearer(await make_key(await make_user("support")))
    customer, shop = await make_customer(db), await make_catalog(db, settings)
    order = await place(client, headers, order_body(customer, shop, **overrides))
    return headers, order, customer, shop


async def _refund(
    client: httpx2.AsyncClient, headers: dict[str, str], order: Json, **body: Any
) -> httpx2.Response:
    return await client.post(f"/api/v1/orders/{order['id']}/refunds", headers=headers, json=body)


async def _order(client: httpx2.AsyncClient, headers: dict[str, str], order: Json) -> Json:
    response = await client.get(f"/api/v1/orders/{order['id']}", headers=headers)
    result: Json = response.json()
    return result


# -- payments ----------------------------------------------------------------------------------


async def test_it_refuses_payments_in_another_currency_or_not_positive(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers, order, _, _ = await _setup(client, make_user, make_key, db, settings)
    url = f"/api/v1/orders/{order['id']}/payments"
    for body, code in (
        ({"gateway": "stripe", "amount": "10.00", "currency": "EUR"}, "currency_mismatch"),
        ({"gateway": "stripe", "amount": "0"}, "invalid_amount"),
        ({"gateway": "stripe", "amount": "-5.00"}, "invalid_amount"),
        ({"gateway": "stripe", "amount": "97.51"}, "payment_exceeds_balance"),
        ({"gateway": " ", "amount": "1"}, "validation_error"),
    ):
        response = await client.post(url, headers=headers, json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == code, body
    assert (await _order(client, headers, order))["payments"] == []


async def test_the_financial_status_follows_payments_and_refunds(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers, order, customer, _ = await _setup(client, make_user, make_key, db, settings)
    authorised = await client.post(
        f"/api/v1/orders/{order['id']}/payments",
        headers=headers,
        json={
            "gateway": "stripe",
            "amount": "97.50",
            "kind": "authorization",
            "status": "authorized",
            "reference": "pi_1",
        },
    )
    assert authorised.status_code == 201
    assert (await _order(client, headers, order))["financial_status"] == "authorized"
    voided = await client.patch(
        f"/api/v1/orders/{order['id']}/payments/{authorised.json()['id']}",
        headers=headers,
        json={"status": "voided"},
    )
    assert voided.json()["status"] == "voided"
    backwards = await client.patch(
        f"/api/v1/orders/{order['id']}/payments/{authorised.json()['id']}",
        headers=headers,
        json={"status": "succeeded"},
    )
    assert backwards.status_code == 409
    assert backwards.json()["error"]["code"] == "invalid_transition"
    assert (await _order(client, headers, order))["financial_status"] == "voided"

    assert (await pay(client, headers, order, "50.00")).status_code == 201
    assert (await _order(client, headers, order))["financial_status"] == "partially_paid"
    assert (await pay(client, headers, order, "47.50")).status_code == 201
    assert (await _order(client, headers, order))["financial_status"] == "paid"
    assert (await _refund(client, headers, order, amount="20.00")).status_code == 201
    assert (await _order(client, headers, order))["financial_status"] == "partially_refunded"
    assert (await _refund(client, headers, order, amount="77.50")).status_code == 201
    final = await _order(client, headers, order)
    assert final["financial_status"] == "refunded"
    assert final["refunded_total"] == "97.50"

    changes = await db.scalars(
        select(TimelineEntry.data)
        .where(TimelineEntry.kind == "order_status", TimelineEntry.customer_id == customer.id)
        .order_by(TimelineEntry.created_at, TimelineEntry.id)
    )
    assert [(c["field"], c["from"], c["to"]) for c in changes] == [
        ("financial_status", "pending", "authorized"),
        ("financial_status", "authorized", "voided"),
        ("financial_status", "voided", "partially_paid"),
        ("financial_status", "partially_paid", "paid"),
        ("financial_status", "paid", "partially_refunded"),
        ("financial_status", "partially_refunded", "refunded"),
    ]


# -- refunds -----------------------------------------------------------------------------------


async def test_it_refuses_a_refund_larger_than_paid(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers, order, _, _ = await _setup(client, make_user, make_key, db, settings)
    unpaid = await _refund(client, headers, order, amount="1.00")
    assert unpaid.status_code == 422
    assert unpaid.json()["error"]["code"] == "refund_exceeds_paid"
    await pay(client, headers, order, "30.00")
    assert (await _refund(client, headers, order, amount="20.00")).status_code == 201
    over = await _refund(client, headers, order, amount="10.01")
    assert over.json()["error"]["code"] == "refund_exceeds_paid"
    assert "10.00 USD" in over.json()["error"]["message"]
    other_currency = await _refund(client, headers, order, amount="5.00", currency="GBP")
    assert other_currency.json()["error"]["code"] == "currency_mismatch"
    negative = await _refund(client, headers, order, amount="-5.00")
    assert negative.json()["error"]["code"] == "invalid_amount"
    refunds = await db.scalar(select(func.count()).select_from(Refund))
    assert refunds == 1


async def test_a_refund_with_restock_puts_units_back_and_moves_the_figures(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers, order, customer, shop = await _setup(client, make_user, make_key, db, settings)
    await pay(client, headers, order, "97.50")
    shirt_line = order["lines"][0]
    too_many = await _refund(
        client,
        headers,
        order,
        amount="40.00",
        restock=True,
        lines=[{"order_line_id": shirt_line["id"], "quantity": 3}],
    )
    assert too_many.json()["error"]["code"] == "refund_exceeds_purchased"
    refunded = await _refund(
        client,
        headers,
        order,
        amount="40.00",
        reason="Too small",
        restock=True,
        lines=[{"order_line_id": shirt_line["id"], "quantity": 1}],
    )
    assert refunded.status_code == 201, refunded.text
    assert refunded.json()["restock"] is True
    assert await stock(db, shop.shirt) == 9  # 10 − 2 sold + 1 back
    figures = await metrics_of(db, customer)
    assert figures.total_spent == Decimal("57.50")
    assert figures.refunded_total == Decimal("40.00")
    assert figures.orders_count == 1
    assert "refund" in await timeline_kinds(db, order["id"])
    assert "order.refunded" in await audit_actions(db, order["id"])


# -- returns -----------------------------------------------------------------------------------


async def _return(
    client: httpx2.AsyncClient,
    headers: dict[str, str],
    order: Json,
    lines: list[Json],
    **extra: Any,
) -> httpx2.Response:
    return await client.post(
        f"/api/v1/orders/{order['id']}/returns", headers=headers, json={"lines": lines, **extra}
    )


async def _move(
    client: httpx2.AsyncClient,
    headers: dict[str, str],
    order: Json,
    rma: Json,
    status: str,
    **extra: Any,
) -> httpx2.Response:
    return await client.post(
        f"/api/v1/orders/{order['id']}/returns/{rma['id']}/status",
        headers=headers,
        json={"status": status, **extra},
    )


async def test_it_refuses_to_return_more_than_was_bought(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers, order, _, _ = await _setup(client, make_user, make_key, db, settings)
    shirts = order["lines"][0]["id"]
    too_many = await _return(client, headers, order, [{"order_line_id": shirts, "quantity": 3}])
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "return_exceeds_purchased"
    split = await _return(
        client,
        headers,
        order,
        [{"order_line_id": shirts, "quantity": 1}, {"order_line_id": shirts, "quantity": 2}],
    )
    assert split.json()["error"]["code"] == "return_exceeds_purchased"
    zero = await _return(client, headers, order, [{"order_line_id": shirts, "quantity": 0}])
    assert zero.json()["error"]["code"] == "invalid_quantity"
    foreign = await _return(
        client,
        headers,
        order,
        [{"order_line_id": "00000000-0000-0000-0000-000000000000", "quantity": 1}],
    )
    assert foreign.json()["error"]["code"] == "unknown_order_line"

    first = await _return(client, headers, order, [{"order_line_id": shirts, "quantity": 2}])
    assert first.status_code == 201
    again = await _return(client, headers, order, [{"order_line_id": shirts, "quantity": 1}])
    assert again.json()["error"]["code"] == "return_exceeds_purchased"
    # a rejected return frees its units
    assert (await _move(client, headers, order, first.json(), "rejected")).status_code == 200
    assert (
        await _return(client, headers, order, [{"order_line_id": shirts, "quantity": 1}])
    ).status_code == 201


async def test_it_refuses_illegal_return_transitions(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers, order, _, _ = await _setup(client, make_user, make_key, db, settings)
    lines = [{"order_line_id": order["lines"][1]["id"], "quantity": 1}]
    rma = (await _return(client, headers, order, lines)).json()
    for status in ("received", "refunded"):
        refused = await _move(client, headers, order, rma, status)
        assert refused.status_code == 409, status
        assert refused.json()["error"]["code"] == "invalid_transition"
    assert (await _move(client, headers, order, rma, "rejected")).status_code == 200
    for status in ("approved", "received", "refunded", "rejected"):
        refused = await _move(client, headers, order, rma, status)
        assert refused.status_code == 409, status
    unknown = await _move(client, headers, order, rma, "requested")
    assert unknown.json()["error"]["code"] == "validation_error"


async def test_a_return_is_approved_received_and_refunded_with_restock(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers, order, customer, shop = await _setup(client, make_user, make_key, db, settings)
    await pay(client, headers, order, "97.50")
    mug_line = order["lines"][1]
    created = await _return(
        client,
        headers,
        order,
        [{"order_line_id": mug_line["id"], "quantity": 1, "reason": "Chipped"}],
        reason="Damaged in transit",
    )
    assert created.status_code == 201, created.text
    rma = created.json()
    assert rma["number"].startswith("RMA-")
    assert len(rma["number"]) == len("RMA-000123")
    assert rma["status"] == "requested"
    assert rma["lines"][0]["reason"] == "Chipped"
    assert (await metrics_of(db, customer)).returns_count == 1

    for status in ("approved", "received"):
        moved = await _move(client, headers, order, rma, status)
        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == status
    refunded = await _move(client, headers, order, rma, "refunded")
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["refund_amount"] == "12.50"
    assert refunded.json()["resolved_at"] is not None
    assert await stock(db, shop.mug) == 3  # 3 − 1 sold + 1 back

    detail = await _order(client, headers, order)
    assert detail["refunded_total"] == "12.50"
    assert detail["refunds"][0]["return_id"] == rma["id"]
    assert detail["returns"][0]["status"] == "refunded"
    assert detail["financial_status"] == "partially_refunded"
    figures = await metrics_of(db, customer)
    assert figures.total_spent == Decimal("85.00")
    assert figures.returns_count == 1
    kinds = await timeline_kinds(db, order["id"])
    assert kinds.count("return") == 4
    assert "refund" in kinds


async def test_a_return_refund_cannot_exceed_what_was_paid(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers, order, customer, shop = await _setup(client, make_user, make_key, db, settings)
    await pay(client, headers, order, "10.00")
    rma = (
        await _return(
            client,
            headers,
            order,
            [{"order_line_id": order["lines"][0]["id"], "quantity": 2}],
            restock=False,
        )
    ).json()
    await _move(client, headers, order, rma, "approved")
    await _move(client, headers, order, rma, "received")
    over = await _move(client, headers, order, rma, "refunded", refund_amount="80.00")
    assert over.status_code == 422
    assert over.json()["error"]["code"] == "refund_exceeds_paid"
    # the value of the returned units is capped at what was paid
    capped = await _move(client, headers, order, rma, "refunded")
    assert capped.status_code == 200
    assert capped.json()["refund_amount"] == "10.00"
    assert await stock(db, shop.shirt) == 8  # sold, and not put back
    assert (await metrics_of(db, customer)).total_spent == Decimal("87.50")


async def test_a_rejected_return_does_not_count(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers, order, customer, _ = await _setup(client, make_user, make_key, db, settings)
    rma = (
        await _return(
            client, headers, order, [{"order_line_id": order["lines"][1]["id"], "quantity": 1}]
        )
    ).json()
    assert (await metrics_of(db, customer)).returns_count == 1
    await _move(client, headers, order, rma, "approved")
    await _move(client, headers, order, rma, "rejected")
    assert (await metrics_of(db, customer)).returns_count == 0
    listed = await client.get(f"/api/v1/orders/{order['id']}/returns", headers=headers)
    assert [r["status"] for r in listed.json()] == ["rejected"]
