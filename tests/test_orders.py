"""Orders over the API: placing, validation, record scope, lists, exports, metrics, tracking."""

from __future__ import annotations

import csv
import io
import uuid
from decimal import Decimal
from typing import Any

import httpx2
from openpyxl import load_workbook
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import SYSTEM
from patron.config import Settings
from patron.models import Channel, CustomFieldDefinition
from patron.orders import repository, service
from patron.orders.service.common import derive_financial_status
from tests.conftest import MakeKey, MakeUser, audit_actions, bearer
from tests.shop import (
    Catalog,
    make_catalog,
    make_customer,
    metrics_of,
    order_body,
    pay,
    place,
    stock,
    timeline_kinds,
)


async def _admin(make_user: MakeUser, make_key: MakeKey) -> dict[str, str]:
    return bearer(await make_key(await make_user("admin")))


async def _refused(
    client: httpx2.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> tuple[int, str]:
    response = await client.post("/api/v1/orders", headers=headers, json=body)
    return response.status_code, response.json()["error"]["code"]


# -- what an order must not be ---------------------------------------------------------------


async def test_it_refuses_zero_or_negative_quantities(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    customer, shop = await make_customer(db), await make_catalog(db, settings)
    for quantity in (0, -2):
        body = order_body(
            customer, shop, lines=[{"variant_id": str(shop.shirt.id), "quantity": quantity}]
        )
        assert await _refused(client, headers, body) == (422, "invalid_quantity")


async def test_it_refuses_unknown_variants_and_products(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    customer, shop = await make_customer(db), await make_catalog(db, settings)
    unknown = str(uuid.uuid4())
    assert await _refused(
        client, headers, order_body(customer, shop, lines=[{"variant_id": unknown, "quantity": 1}])
    ) == (422, "unknown_variant")
    assert await _refused(
        client, headers, order_body(customer, shop, lines=[{"product_id": unknown, "quantity": 1}])
    ) == (422, "unknown_product")
    assert await _refused(
        client,
        headers,
        order_body(
            customer,
            shop,
            lines=[
                {
                    "variant_id": str(shop.shirt.id),
                    "product_id": str(shop.mug.product_id),
                    "quantity": 1,
                }
            ],
        ),
    ) == (422, "variant_product_mismatch")
    free_line = order_body(customer, shop, lines=[{"title": "Gift wrap", "quantity": 1}])
    assert await _refused(client, headers, free_line) == (422, "invalid_line")


async def test_it_refuses_a_total_that_disagrees_with_the_lines(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    customer, shop = await make_customer(db), await make_catalog(db, settings)
    response = await client.post(
        "/api/v1/orders", headers=headers, json=order_body(customer, shop, total="90.00")
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "total_mismatch"
    assert "97.50" in response.json()["error"]["message"]
    too_much_discount = order_body(customer, shop, discounts=[{"code": "ALL", "amount": "500"}])
    assert await _refused(client, headers, too_much_discount) == (422, "discount_exceeds_subtotal")


async def test_it_refuses_a_foreign_currency_without_an_exchange_rate(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    customer, shop = await make_customer(db), await make_catalog(db, settings)
    lines = [{"title": "Shirt", "unit_price": "30.00", "quantity": 1}]
    assert await _refused(
        client, headers, order_body(customer, shop, currency="EUR", lines=lines)
    ) == (422, "exchange_rate_required")
    assert await _refused(
        client, headers, order_body(customer, shop, currency="XXY", lines=lines)
    ) == (422, "invalid_currency")
    # a variant priced in another currency gives no price to copy
    assert await _refused(
        client,
        headers,
        order_body(
            customer,
            shop,
            currency="EUR",
            exchange_rate="1.1",
            lines=[{"variant_id": str(shop.shirt.id), "quantity": 1}],
        ),
    ) == (422, "invalid_line")
    order = await place(
        client,
        headers,
        order_body(
            customer, shop, currency="eur", exchange_rate="1.10", lines=lines, shipping_total="0"
        ),
    )
    assert order["currency"] == "EUR"
    assert order["exchange_rate"] == "1.10000000"
    assert (await metrics_of(db, customer)).total_spent == Decimal("33.00")


async def test_it_refuses_an_address_in_an_unknown_country(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    customer, shop = await make_customer(db), await make_catalog(db, settings)
    address = {"line1": "1 Main St", "city": "Springfield", "country": "Atlantis"}
    assert await _refused(
        client, headers, order_body(customer, shop, shipping_address=address)
    ) == (422, "invalid_country")
    address["country"] = "germany"
    address["phone"] = "030 1234567"
    order = await place(client, headers, order_body(customer, shop, billing_address=address))
    assert order["billing_address"]["country"] == "DE"
    assert order["billing_address"]["phone"] == "+49301234567"


async def test_a_sale_takes_stock_unless_the_store_keeps_the_count(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    customer, shop = await make_customer(db), await make_catalog(db, settings)
    shopify, till = Channel(name="Shopify", kind="shopify"), Channel(name="Till", kind="pos")
    db.add_all([shopify, till])
    await db.flush()
    await place(client, headers, order_body(customer, shop, channel_id=str(shopify.id)))
    assert (await stock(db, shop.shirt), await stock(db, shop.mug)) == (10, 3)
    await place(client, headers, order_body(customer, shop, channel_id=str(till.id)))
    assert (await stock(db, shop.shirt), await stock(db, shop.mug)) == (8, 2)
    many = order_body(customer, shop)
    many["lines"] = [{"variant_id": str(shop.mug.id), "quantity": 5}]
    await place(client, headers, many)
    assert await stock(db, shop.mug) == -3, "an oversold item is recorded, not refused"


async def test_it_refuses_a_duplicate_order_number_in_the_same_channel(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    customer, shop = await make_customer(db), await make_catalog(db, settings)
    web, pos = Channel(name="Web", kind="shopify"), Channel(name="Till", kind="pos")
    db.add_all([web, pos])
    await db.flush()
    await place(
        client,
        headers,
        order_body(customer, shop, number="#1001", channel_id=str(web.id), external_id="gid-1"),
    )
    assert await _refused(
        client, headers, order_body(customer, shop, number="#1001", channel_id=str(web.id))
    ) == (409, "duplicate_order_number")
    assert await _refused(
        client, headers, order_body(customer, shop, external_id="gid-1", channel_id=str(web.id))
    ) == (409, "duplicate_external_id")
    # a store's order brings both: each clash is still told apart, the external ID first
    assert await _refused(
        client,
        headers,
        order_body(customer, shop, number="#1001", external_id="gid-2", channel_id=str(web.id)),
    ) == (409, "duplicate_order_number")
    assert await _refused(
        client,
        headers,
        order_body(customer, shop, number="#1001", external_id="gid-1", channel_id=str(web.id)),
    ) == (409, "duplicate_external_id")
    other_channel = await place(
        client, headers, order_body(customer, shop, number="#1001", channel_id=str(pos.id))
    )
    assert other_channel["number"] == "#1001"
    assert await _refused(
        client, headers, order_body(customer, shop, channel_id=str(uuid.uuid4()))
    ) == (422, "unknown_channel")


async def test_order_custom_fields_are_validated(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    customer, shop = await make_customer(db), await make_catalog(db, settings)
    db.add(CustomFieldDefinition(entity="order", key="gift", label="Gift", field_type="boolean"))
    await db.flush()
    assert await _refused(
        client, headers, order_body(customer, shop, custom_fields={"gift": "perhaps"})
    ) == (422, "invalid_custom_field")
    order = await place(client, headers, order_body(customer, shop, custom_fields={"gift": "yes"}))
    assert order["custom_fields"] == {"gift": True}


# -- record scope --------------------------------------------------------------------------------


async def test_a_sales_rep_sees_only_orders_of_their_own_customers(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    admin = await _admin(make_user, make_key)
    rep = await make_user("sales")
    rep_headers = bearer(await make_key(rep))
    shop = await make_catalog(db, settings)
    mine = await make_customer(db, owner_id=rep.user.id)
    theirs = await make_customer(db)
    my_order = await place(client, admin, order_body(mine, shop))
    their_order = await place(client, admin, order_body(theirs, shop))

    hidden = await client.get(f"/api/v1/orders/{their_order['id']}", headers=rep_headers)
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "order_not_found"
    seen = await client.get(f"/api/v1/orders/{my_order['id']}", headers=rep_headers)
    assert seen.status_code == 200
    listed = await client.get("/api/v1/orders", headers=rep_headers)
    assert [o["id"] for o in listed.json()["items"]] == [my_order["id"]]
    # a manager (team scope, no team) and the rep cannot place orders for hidden customers
    manager = bearer(await make_key(await make_user("manager")))
    refused = await client.post("/api/v1/orders", headers=manager, json=order_body(theirs, shop))
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "customer_not_found"
    assert (await client.get("/api/v1/orders", headers=admin)).json()["items"][0]["id"] in {
        my_order["id"],
        their_order["id"],
    }


# -- placing, changing, cancelling ------------------------------------------------------------


async def test_placing_an_order_computes_totals_and_keeps_the_customer_figures(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    customer, shop = await make_customer(db), await make_catalog(db, settings)
    order = await place(
        client,
        headers,
        order_body(
            customer,
            shop,
            lines=[
                {"variant_id": str(shop.shirt.id), "quantity": 2, "discount_total": "5.00"},
                {"variant_id": str(shop.mug.id), "quantity": 1},
            ],
            discounts=[{"code": "welcome10", "amount": "10.00"}],
            tax_total="7.25",
            total="89.75",
            tags=["vip", "vip", "gift"],
            placed_at="2026-01-15T10:00:00Z",
        ),
    )
    assert order["subtotal"] == "92.50"
    assert order["discount_total"] == "15.00"
    assert order["total"] == "89.75"
    assert order["discount_codes"] == ["WELCOME10"]
    assert order["tags"] == ["vip", "gift"]
    assert order["items_count"] == 3
    assert order["financial_status"] == "pending"
    assert order["number"].isdigit()
    line = order["lines"][0]
    assert (line["title"], line["variant_title"], line["sku"]) == (
        "Linen Shirt",
        "M",
        shop.shirt.sku,
    )
    assert (line["unit_price"], line["total"]) == ("40.00", "75.00")
    assert order["tracking_url"].startswith("http://testserver/track/")

    second = await place(
        client, headers, order_body(customer, shop, placed_at="2026-03-01T09:00:00Z")
    )
    assert int(second["number"]) > int(order["number"])
    figures = await metrics_of(db, customer)
    assert figures.orders_count == 2
    assert figures.total_spent == Decimal("187.25")
    assert figures.average_order_value == Decimal("93.63")
    assert figures.items_bought == 6
    assert figures.first_order_at is not None
    assert figures.first_order_at.month == 1
    assert figures.last_order_at is not None
    assert figures.last_order_at.month == 3
    assert await timeline_kinds(db, order["id"]) == ["order_placed"]
    assert "order.created" in await audit_actions(db, order["id"])


async def test_an_order_paid_at_once_is_paid(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    customer, shop = await make_customer(db), await make_catalog(db, settings)
    order = await place(
        client,
        headers,
        order_body(customer, shop, payments=[{"gateway": "stripe", "amount": "97.50"}]),
    )
    assert order["financial_status"] == "paid"
    assert await timeline_kinds(db, order["id"]) == ["order_placed", "payment", "order_status"]


async def test_the_payment_status_follows_every_kind_and_state_of_payment(
    db: AsyncSession, settings: Settings
) -> None:
    customer = await make_customer(db)
    order = await service.place_order(
        db,
        settings,
        actor=SYSTEM,
        customer=customer,
        lines=[service.LineRequest(quantity=1, title="Lamp", unit_price=Decimal("100.00"))],
    )
    assert order.financial_status == "pending"
    steps = [
        ("authorization", "failed", "10.00", "voided"),
        ("authorization", "authorized", "100.00", "authorized"),
        ("authorization", "succeeded", "5.00", "authorized"),
        ("capture", "succeeded", "30.00", "partially_paid"),
        ("sale", "pending", "20.00", "partially_paid"),
        ("sale", "succeeded", "70.00", "paid"),
    ]
    for kind, status, amount, expected in steps:
        await service.record_payment(
            db,
            order,
            actor=SYSTEM,
            gateway="stripe",
            kind=kind,
            status=status,
            amount=Decimal(amount),
        )
        # the status worked out as the payment is recorded is the one its stored payments give
        totals = await repository.payment_totals(db, order.id)
        assert (order.financial_status, derive_financial_status(order, totals)) == (
            expected,
            expected,
        )


async def test_an_order_is_changed_and_cancelled(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    customer, shop = await make_customer(db), await make_catalog(db, settings)
    order = await place(client, headers, order_body(customer, shop))
    kept = await place(client, headers, order_body(customer, shop))
    assert await stock(db, shop.shirt) == 6, "each order takes its two shirts off the shelf"
    changed = await client.patch(
        f"/api/v1/orders/{order['id']}",
        headers=headers,
        json={
            "note": "Leave at the door",
            "tags": ["fragile"],
            "shipping_address": {"line1": "2 High St", "city": "Leeds", "country": "uk"},
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["shipping_address"]["country"] == "GB"
    assert changed.json()["note"] == "Leave at the door"
    bad = await client.patch(f"/api/v1/orders/{order['id']}", headers=headers, json={"number": "1"})
    assert bad.json()["error"]["code"] == "validation_error"

    cancelled = await client.post(
        f"/api/v1/orders/{order['id']}/cancel",
        headers=headers,
        json={"reason": "Customer changed their mind", "restock": True},
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["cancelled_at"] is not None
    assert await stock(db, shop.shirt) == 8
    again = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=headers, json={})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "order_already_cancelled"
    paying = await pay(client, headers, cancelled.json(), "10.00")
    assert paying.json()["error"]["code"] == "order_cancelled"

    figures = await metrics_of(db, customer)
    assert (figures.orders_count, figures.total_spent) == (1, Decimal(kept["total"]))
    assert await timeline_kinds(db, order["id"]) == ["order_placed", "order_cancelled"]
    assert {"order.updated", "order.cancelled"} <= set(await audit_actions(db, order["id"]))


# -- lists and exports -------------------------------------------------------------------------


async def _three_orders(
    client: httpx2.AsyncClient, headers: dict[str, str], db: AsyncSession, shop: Catalog
) -> tuple[list[dict[str, Any]], Channel]:
    channel = Channel(name="Marketplace", kind="marketplace")
    db.add(channel)
    await db.flush()
    alice = await make_customer(db, first_name='=HYPERLINK("http://evil")')
    bob = await make_customer(db, first_name="Bob")
    small = await place(
        client,
        headers,
        order_body(
            alice,
            shop,
            lines=[{"variant_id": str(shop.mug.id), "quantity": 1}],
            placed_at="2026-02-01T12:00:00Z",
            shipping_total="0",
        ),
    )
    large = await place(
        client,
        headers,
        order_body(
            alice,
            shop,
            placed_at="2026-02-10T12:00:00Z",
            discounts=[{"code": "SPRING", "amount": "1"}],
            channel_id=str(channel.id),
        ),
    )
    medium = await place(
        client,
        headers,
        order_body(
            bob,
            shop,
            lines=[{"variant_id": str(shop.shirt.id), "quantity": 1}],
            placed_at="2026-03-05T12:00:00Z",
            tags=["wholesale"],
        ),
    )
    await pay(client, headers, medium, medium["total"])
    return [small, large, medium], channel


async def test_the_order_list_filters_sorts_and_pages(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    shop = await make_catalog(db, settings)
    (small, large, medium), channel = await _three_orders(client, headers, db, shop)

    async def numbers(**params: Any) -> list[str]:
        response = await client.get("/api/v1/orders", headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [o["number"] for o in response.json()["items"]]

    assert await numbers() == [medium["number"], large["number"], small["number"]]
    assert await numbers(sort="total") == [small["number"], medium["number"], large["number"]]
    assert await numbers(placed_from="2026-02-01", placed_to="2026-02-10") == [
        large["number"],
        small["number"],
    ]
    assert await numbers(financial_status=["paid", "partially_paid"]) == [medium["number"]]
    assert await numbers(fulfillment_status="fulfilled") == []
    assert await numbers(customer_id=small["customer_id"]) == [large["number"], small["number"]]
    assert await numbers(product_id=str(shop.mug.product_id)) == [large["number"], small["number"]]
    assert await numbers(sku=shop.shirt.sku) == [medium["number"], large["number"]]
    assert await numbers(total_min="40", total_max="50") == [medium["number"]]
    assert await numbers(channel_id=str(channel.id)) == [large["number"]]
    assert await numbers(discount_code="spring") == [large["number"]]
    assert await numbers(tag="wholesale") == [medium["number"]]
    assert await numbers(q=small["number"]) == [small["number"]]
    assert await numbers(cancelled="true") == []

    first = await client.get(
        "/api/v1/orders", headers=headers, params={"sort": "-total", "limit": 2}
    )
    assert [o["number"] for o in first.json()["items"]] == [large["number"], medium["number"]]
    rest = await numbers(sort="-total", limit=2, cursor=first.json()["next_cursor"])
    assert rest == [small["number"]]
    wrong = await client.get(
        "/api/v1/orders",
        headers=headers,
        params={"placed_from": "2026-03-01", "placed_to": "2026-02-01"},
    )
    assert wrong.json()["error"]["code"] == "invalid_date_range"
    bad_status = await client.get(
        "/api/v1/orders", headers=headers, params={"financial_status": "rich"}
    )
    assert bad_status.status_code == 422


async def test_orders_export_to_csv_without_formula_injection(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    shop = await make_catalog(db, settings)
    (small, large, _), _channel = await _three_orders(client, headers, db, shop)
    response = await client.get(
        "/api/v1/orders/export.csv", headers=headers, params={"customer_id": small["customer_id"]}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["number", "placed_at", "customer_id"]
    assert [row[0] for row in rows[1:]] == [large["number"], small["number"]]
    name = rows[1][4]
    assert name.startswith("'=HYPERLINK")
    assert rows[1][12] == large["total"]
    assert "order.exported" in await audit_actions(db)

    xlsx = await client.get("/api/v1/orders/export.xlsx", headers=headers)
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "number"
    assert len(values) == 4
    assert any(str(cell).startswith("'=HYPERLINK") for row in values for cell in row if cell)


async def test_a_support_agent_cannot_export_orders(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    headers = bearer(await make_key(await make_user("support")))
    assert (await client.get("/api/v1/orders", headers=headers)).status_code == 200
    refused = await client.get("/api/v1/orders/export.csv", headers=headers)
    assert refused.status_code == 403


# -- tracking ------------------------------------------------------------------------------------


async def test_the_tracking_link_shows_the_order_and_a_tampered_one_is_not_found(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    customer, shop = await make_customer(db), await make_catalog(db, settings)
    order = await place(client, headers, order_body(customer, shop))
    await client.post(
        f"/api/v1/orders/{order['id']}/shipments",
        headers=headers,
        json={
            "carrier": "DHL",
            "tracking_number": "JD0001",
            "status": "in_transit",
            "message": "Left the warehouse",
        },
    )
    link = order["tracking_url"].removeprefix("http://testserver")
    page = await client.get(link)
    assert page.status_code == 200
    assert f"Order {order['number']}" in page.text
    assert "JD0001" in page.text
    assert "Left the warehouse" in page.text
    assert customer.email
    assert customer.email not in page.text
    assert "<script>" not in page.text
    assert "style=" not in page.text
    assert page.headers["x-robots-tag"].startswith("noindex")

    token = link.removeprefix("/track/")
    forged = service.tracking_token(
        settings.model_copy(update={"secret_key": SecretStr("other")}), uuid.UUID(order["id"])
    )
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), forged, "nonsense"):
        missing = await client.get(f"/track/{bad}")
        assert missing.status_code == 404
        assert "can't find this order" in missing.text
    unknown = service.tracking_token(settings, uuid.uuid4())
    assert (await client.get(f"/track/{unknown}")).status_code == 404
