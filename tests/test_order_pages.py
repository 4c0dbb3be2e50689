"""The order, cart and product pages of the panel: lists with filters, the order page and its
actions (happy and refused), record scope, carts, the catalog."""

from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.kit.time import utcnow
from patron.models import (
    Cart,
    Channel,
    Order,
    OrderReturn,
    ProductExternalId,
    Refund,
    Shipment,
    ShipmentEvent,
)
from patron.orders.api import orders as orders_api
from tests.conftest import (
    MakeKey,
    MakeUser,
    Persona,
    audit_actions,
    bearer,
    form_token,
    sign_in,
)
from tests.shop import Catalog, make_catalog, make_customer, order_body, pay, place, stock


@dataclass
class Shop:
    admin: Persona
    api: dict[str, str]
    catalog: Catalog
    channel: Channel
    ada: dict[str, Any]  # 2 shirts + 1 mug + 5.00 shipping − 10.00 SUMMER = 87.50, paid, web
    bob: dict[str, Any]  # 1 mug + 5.00 shipping = 17.50, unpaid, placed 40 days ago
    ada_email: str


@pytest.fixture
async def shop(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> Shop:
    admin = await make_user("admin", name="Ada Admin")
    api = bearer(await make_key(admin))
    catalog = await make_catalog(db, settings)
    channel = Channel(name=f"Web {uuid.uuid4().hex[:6]}", kind="online_store")
    db.add(channel)
    await db.flush()
    ada = await make_customer(db, email=f"ada-{uuid.uuid4().hex[:6]}@example.com")
    bob = await make_customer(db, first_name="Bob")
    ada_order = await place(
        client,
        api,
        order_body(
            ada,
            catalog,
            channel_id=str(channel.id),
            discounts=[{"code": "summer", "amount": "10.00"}],
            tags=["gift"],
            note="Leave at the door",
            shipping_address={"line1": "1 Main St", "city": "Leeds", "country": "GB"},
        ),
    )
    assert (await pay(client, api, ada_order, "87.50")).status_code == 201
    bob_order = await place(
        client,
        api,
        order_body(
            bob,
            catalog,
            lines=[{"variant_id": str(catalog.mug.id), "quantity": 1}],
            placed_at=(utcnow() - timedelta(days=40)).isoformat(),
        ),
    )
    await sign_in(client, admin)
    return Shop(admin, api, catalog, channel, ada_order, bob_order, str(ada.email))


def listed(html: str, attribute: str = "data-order") -> list[str]:
    return re.findall(rf'{attribute}="([0-9a-f-]+)"', html)


async def page(client: httpx2.AsyncClient, url: str) -> str:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return response.text


async def post(
    client: httpx2.AsyncClient, url: str, data: dict[str, Any], source: str = "/orders"
) -> httpx2.Response:
    token = await form_token(client, source)
    return await client.post(url, data={"csrf_token": token, **data})


def error_code(html: str) -> str:
    found = re.search(r'data-error-code="([a-z_]+)"', html)
    assert found, "the page shows no error"
    return found.group(1)


# -- the order list ------------------------------------------------------------------------


async def test_the_order_list_shows_every_order_and_each_filter_narrows_it(
    client: httpx2.AsyncClient, shop: Shop
) -> None:
    ada, bob = shop.ada["id"], shop.bob["id"]
    html = await page(client, "/orders")
    assert listed(html) == [ada, bob]  # newest first
    assert f"#{shop.ada['number']}" in html
    assert "Paid" in html
    today = utcnow().date()
    cases = {
        f"placed_from={today - timedelta(days=1)}": [ada],
        f"placed_to={today - timedelta(days=30)}": [bob],
        "financial_status=paid": [ada],
        "financial_status=pending&financial_status=paid": [ada, bob],
        "fulfillment_status=fulfilled": [],
        f"customer={shop.ada_email}": [ada],
        f"customer_id={shop.bob['customer_id']}": [bob],
        f"sku={shop.catalog.shirt.sku}": [ada],
        "total_min=50": [ada],
        "total_max=20": [bob],
        f"channel_id={shop.channel.id}": [ada],
        "discount_code=summer": [ada],
        "tag=gift": [ada],
        f"q={shop.bob['number']}": [bob],
        "sort=total": [bob, ada],
    }
    for query, expected in cases.items():
        assert listed(await page(client, f"/orders?{query}")) == expected, query
    empty = await page(client, "/orders?discount_code=NOPE")
    assert "No orders match" in empty
    assert "Clear the filters" in empty


async def test_a_mistyped_filter_is_explained_and_ignored_not_an_error(
    client: httpx2.AsyncClient, shop: Shop
) -> None:
    html = await page(
        client, "/orders?total_min=lots&placed_from=yesterday&customer_id=nope&cursor="
    )
    assert html.count("Ignored a filter") == 3
    assert len(listed(html)) == 2
    stale = await client.get("/orders?cursor=not-a-cursor")
    assert stale.status_code == 303
    assert stale.headers["location"] == "/orders"


async def test_a_customer_search_with_several_matches_offers_them(
    client: httpx2.AsyncClient, shop: Shop
) -> None:
    html = await page(client, "/orders?customer=Shopper")
    assert "Several customers match" in html
    assert f"customer_id={shop.ada['customer_id']}" in html
    assert len(listed(html)) == 2  # nothing filtered until one is picked
    nobody = await page(client, "/orders?customer=Zebedee")
    assert "nobody you can see matches" in nobody


async def test_the_export_buttons_download_the_filtered_orders(
    client: httpx2.AsyncClient, shop: Shop
) -> None:
    html = await page(client, "/orders?financial_status=paid")
    link = re.search(r'href="(/api/v1/orders/export\.csv[^"]*)"', html)
    assert link is not None
    response = await client.get(link.group(1).replace("&amp;", "&"))
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row["number"] for row in rows] == [shop.ada["number"]]
    assert 'data-export="xlsx"' in html


async def test_a_workbook_too_large_comes_back_to_the_list_as_a_message(
    client: httpx2.AsyncClient, shop: Shop, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    html = await page(client, "/orders?financial_status=paid")
    link = re.search(r'href="(/orders/export\.xlsx[^"]*)"', html)
    assert link is not None
    url = link.group(1).replace("&amp;", "&")
    workbook = await client.get(url)
    assert workbook.status_code == 200
    assert workbook.content.startswith(b"PK")  # a zip: the XLSX container
    exports_before = (await audit_actions(db)).count("order.exported")
    assert exports_before >= 1, "a download is audit-logged"

    monkeypatch.setattr(orders_api, "XLSX_MAX_ROWS", 0)
    refused = await client.get(url, follow_redirects=True)
    assert refused.status_code == 200
    assert "narrow the filters or export CSV" in refused.text
    assert str(refused.url).endswith("/orders?financial_status=paid")
    assert (await audit_actions(db)).count("order.exported") == exports_before


async def test_people_without_the_export_scope_see_no_export_buttons(
    client: httpx2.AsyncClient, shop: Shop, make_user: MakeUser
) -> None:
    client.cookies.clear()
    await sign_in(client, await make_user("support"))
    html = await page(client, "/orders")
    assert "data-export" not in html
    assert len(listed(html)) == 2


# -- the order page ------------------------------------------------------------------------


async def test_the_order_page_shows_lines_money_addresses_history_and_tracking_link(
    client: httpx2.AsyncClient, shop: Shop
) -> None:
    html = await page(client, f"/orders/{shop.ada['id']}")
    assert "Linen Shirt" in html
    assert "Stoneware Mug" in html
    assert shop.catalog.shirt.sku in html
    assert 'data-status="financial:paid"' in html
    assert "SUMMER" in html
    assert "Leave at the door" in html
    assert "Leeds" in html
    assert f'href="/customers/{shop.ada["customer_id"]}"' in html
    assert "data-payment=" in html
    assert "via stripe" in html
    assert 'value="http://testserver/track/' in html
    assert 'data-copy="#tracking-link"' in html
    assert "data-entry=" in html  # the order's history from the timeline
    assert 'action="/orders/' in html  # the action forms


async def test_a_missing_order_is_a_404_page(client: httpx2.AsyncClient, shop: Shop) -> None:
    response = await client.get(f"/orders/{uuid.uuid4()}")
    assert response.status_code == 404


async def test_recording_a_payment_and_a_refund_with_restock(
    client: httpx2.AsyncClient, shop: Shop, db: AsyncSession
) -> None:
    bob = shop.bob
    paid = await post(
        client, f"/orders/{bob['id']}/payments", {"amount": "17.50", "gateway": "cash"}
    )
    assert paid.status_code == 303
    assert paid.headers["location"].endswith("#money")
    html = await page(client, f"/orders/{bob['id']}")
    assert "Payment of $17.50 recorded." in html
    assert 'data-status="financial:paid"' in html

    before = await stock(db, shop.catalog.mug)
    mug_line = bob["lines"][0]["id"]
    refunded = await post(
        client,
        f"/orders/{bob['id']}/refunds",
        {"amount": "12.50", "reason": "Broken", "restock": "on", f"qty_{mug_line}": "1"},
    )
    assert refunded.status_code == 303
    assert await stock(db, shop.catalog.mug) == before + 1
    order = await db.get(Order, uuid.UUID(bob["id"]), populate_existing=True)
    assert order is not None
    assert order.refunded_total == Decimal("12.50")
    html = await page(client, f"/orders/{bob['id']}")
    assert "data-refund=" in html
    assert "Broken" in html
    assert 'data-status="financial:partially_refunded"' in html


async def test_a_pending_payment_is_captured_and_a_captured_one_cannot_be_voided(
    client: httpx2.AsyncClient, shop: Shop
) -> None:
    bob = shop.bob
    pending = await post(
        client,
        f"/orders/{bob['id']}/payments",
        {"amount": "17.50", "gateway": "bank", "status": "pending", "reference": "INV-7"},
    )
    assert pending.status_code == 303
    html = await page(client, f"/orders/{bob['id']}")
    assert 'data-status="payment:pending"' in html
    payment_id = re.findall(r'data-payment="([0-9a-f-]+)"', html)[0]
    url = f"/orders/{bob['id']}/payments/{payment_id}/status"
    assert (await post(client, url, {"status": "succeeded"})).status_code == 303
    html = await page(client, f"/orders/{bob['id']}")
    assert 'data-status="financial:paid"' in html
    voided = await post(client, url, {"status": "voided"})
    assert voided.status_code == 409
    assert error_code(voided.text) == "invalid_transition"


async def test_it_refuses_a_refund_larger_than_paid_and_keeps_what_was_typed(
    client: httpx2.AsyncClient, shop: Shop, db: AsyncSession
) -> None:
    response = await post(
        client,
        f"/orders/{shop.ada['id']}/refunds",
        {"amount": "500.00", "reason": "Too generous"},
    )
    assert response.status_code == 422
    assert error_code(response.text) == "refund_exceeds_paid"
    assert "At most $87.50 can be refunded" in response.text or "87.50 USD" in response.text
    assert 'value="500.00"' in response.text
    assert 'value="Too generous"' in response.text
    assert re.search(r'id="form-refund" open', response.text)
    refunds = await db.scalars(select(Refund).where(Refund.order_id == uuid.UUID(shop.ada["id"])))
    assert list(refunds) == []


async def test_it_refuses_a_payment_in_another_currency_or_beyond_the_total(
    client: httpx2.AsyncClient, shop: Shop
) -> None:
    url = f"/orders/{shop.bob['id']}/payments"
    euros = await post(client, url, {"amount": "5.00", "currency": "EUR", "gateway": "cash"})
    assert euros.status_code == 422
    assert error_code(euros.text) == "currency_mismatch"
    assert 'value="EUR"' in euros.text
    too_much = await post(client, url, {"amount": "99.00", "gateway": "cash"})
    assert error_code(too_much.text) == "payment_exceeds_balance"
    nonsense = await post(client, url, {"amount": "ten", "gateway": "cash"})
    assert nonsense.status_code == 422
    assert error_code(nonsense.text) == "invalid_amount"


async def test_a_shipment_with_tracking_then_a_status_change_and_new_tracking(
    client: httpx2.AsyncClient, shop: Shop, db: AsyncSession
) -> None:
    ada = shop.ada
    lines = {f"qty_{line['id']}": str(line["quantity"]) for line in ada["lines"]}
    created = await post(
        client,
        f"/orders/{ada['id']}/shipments",
        {
            "carrier": "DHL",
            "tracking_number": "JD0001",
            "tracking_url": "https://dhl.example/track/JD0001",
            "status": "in_transit",
            "notify_customer": "on",
            **lines,
        },
    )
    assert created.status_code == 303
    shipment = await db.scalar(select(Shipment).where(Shipment.order_id == uuid.UUID(ada["id"])))
    assert shipment is not None
    assert shipment.notify_customer
    assert shipment.status == "in_transit"
    html = await page(client, f"/orders/{ada['id']}")
    assert "JD0001" in html
    assert 'href="https://dhl.example/track/JD0001"' in html
    assert 'data-status="fulfillment:fulfilled"' in html
    assert "Add a shipment" not in html  # nothing left to ship

    moved = await post(
        client,
        f"/orders/{ada['id']}/shipments/{shipment.id}/events",
        {"status": "delivered", "message": "Left with neighbour", "location": "Leeds"},
    )
    assert moved.status_code == 303
    events = await db.scalars(
        select(ShipmentEvent.status).where(ShipmentEvent.shipment_id == shipment.id)
    )
    assert list(events) == ["in_transit", "delivered"]

    retracked = await post(
        client,
        f"/orders/{ada['id']}/shipments/{shipment.id}",
        {"carrier": "UPS", "tracking_number": "1Z999", "tracking_url": "javascript:alert(1)"},
    )
    assert retracked.status_code == 422
    assert error_code(retracked.text) == "invalid_url"
    assert 'value="1Z999"' in retracked.text
    fixed = await post(
        client,
        f"/orders/{ada['id']}/shipments/{shipment.id}",
        {"carrier": "UPS", "tracking_number": "1Z999", "tracking_url": ""},
    )
    assert fixed.status_code == 303
    await db.refresh(shipment)
    assert (shipment.carrier, shipment.tracking_number) == ("UPS", "1Z999")


async def test_it_refuses_a_shipment_of_nothing_or_of_more_than_was_ordered(
    client: httpx2.AsyncClient, shop: Shop
) -> None:
    url = f"/orders/{shop.bob['id']}/shipments"
    line = shop.bob["lines"][0]["id"]
    nothing = await post(client, url, {"carrier": "DHL", f"qty_{line}": "0"})
    assert nothing.status_code == 422
    assert error_code(nothing.text) == "nothing_to_ship"
    too_many = await post(client, url, {"carrier": "DHL", f"qty_{line}": "5"})
    assert error_code(too_many.text) == "shipment_exceeds_ordered"
    assert 'value="DHL"' in too_many.text


async def test_a_return_goes_from_requested_to_refunded(
    client: httpx2.AsyncClient, shop: Shop, db: AsyncSession
) -> None:
    ada = shop.ada
    shirt_line = ada["lines"][0]["id"]
    opened = await post(
        client,
        f"/orders/{ada['id']}/returns",
        {f"qty_{shirt_line}": "1", "reason": "Too small", "restock": "on"},
    )
    assert opened.status_code == 303
    rma = await db.scalar(select(OrderReturn).where(OrderReturn.order_id == uuid.UUID(ada["id"])))
    assert rma is not None
    assert rma.status == "requested"
    html = await page(client, f"/orders/{ada['id']}")
    assert rma.number in html
    assert 'data-transition="approved"' in html

    url = f"/orders/{ada['id']}/returns/{rma.id}/status"
    for status in ("approved", "received"):
        assert (await post(client, url, {"status": status})).status_code == 303
    before = await stock(db, shop.catalog.shirt)
    refunded = await post(client, url, {"status": "refunded", "refund_amount": "30.00"})
    assert refunded.status_code == 303
    await db.refresh(rma)
    assert rma.status == "refunded"
    assert rma.refund_amount == Decimal("30.00")
    assert await stock(db, shop.catalog.shirt) == before + 1
    html = await page(client, f"/orders/{ada['id']}")
    assert 'data-status="return:refunded"' in html
    assert "data-refund=" in html


async def test_it_refuses_returning_more_than_was_bought_and_illegal_transitions(
    client: httpx2.AsyncClient, shop: Shop, db: AsyncSession
) -> None:
    ada = shop.ada
    shirt_line = ada["lines"][0]["id"]
    too_many = await post(
        client, f"/orders/{ada['id']}/returns", {f"qty_{shirt_line}": "3", "reason": "All"}
    )
    assert too_many.status_code == 422
    assert error_code(too_many.text) == "return_exceeds_purchased"
    assert re.search(rf'name="qty_{shirt_line}" value="3"', too_many.text)
    none = await post(client, f"/orders/{ada['id']}/returns", {"reason": "Nothing"})
    assert error_code(none.text) == "invalid_return"

    await post(client, f"/orders/{ada['id']}/returns", {f"qty_{shirt_line}": "1"})
    rma = await db.scalar(select(OrderReturn).where(OrderReturn.order_id == uuid.UUID(ada["id"])))
    assert rma is not None
    skipped = await post(
        client, f"/orders/{ada['id']}/returns/{rma.id}/status", {"status": "refunded"}
    )
    assert skipped.status_code == 409
    assert error_code(skipped.text) == "invalid_transition"
    assert (await db.scalar(select(OrderReturn.status).where(OrderReturn.id == rma.id))) == (
        "requested"
    )
    too_big = await post(
        client, f"/orders/{ada['id']}/returns/{uuid.uuid4()}/status", {"status": "approved"}
    )
    assert too_big.status_code == 404


async def test_cancelling_an_order_and_cancelling_it_again(
    client: httpx2.AsyncClient, shop: Shop, db: AsyncSession
) -> None:
    url = f"/orders/{shop.bob['id']}/cancel"
    cancelled = await post(client, url, {"reason": "Customer asked", "restock": "on"})
    assert cancelled.status_code == 303
    html = await page(client, f"/orders/{shop.bob['id']}")
    assert 'data-status="cancelled"' in html
    assert "Customer asked" in html
    assert "Cancel order…" not in html
    assert "Record a payment" not in html
    again = await post(client, url, {"reason": "Twice"})
    assert again.status_code == 409
    assert error_code(again.text) == "order_already_cancelled"


async def test_the_note_and_tags_are_edited_and_bad_tags_change_nothing(
    client: httpx2.AsyncClient, shop: Shop, db: AsyncSession
) -> None:
    order_url = f"/orders/{shop.bob['id']}"
    assert "No note yet." in await page(client, order_url)
    saved = await post(
        client, f"{order_url}/details", {"note": "Gift: wrap it", "tags": "gift, priority, gift"}
    )
    assert saved.status_code == 303
    html = await page(client, order_url)
    assert "Gift: wrap it" in html
    assert re.findall(r'data-tag="([^"]+)"', html) == ["gift", "priority"]
    assert "order.updated" in await audit_actions(db, uuid.UUID(shop.bob["id"]))

    too_long = await post(client, f"{order_url}/details", {"note": "x", "tags": "y" * 101})
    assert too_long.status_code == 422
    assert error_code(too_long.text) == "invalid_tags"
    assert 'id="form-details" open' in too_long.text
    assert "Gift: wrap it" in await page(client, order_url)

    cleared = await post(client, f"{order_url}/details", {"note": "", "tags": ""})
    assert cleared.status_code == 303
    html = await page(client, order_url)
    assert "data-order-note" not in html
    assert "data-tag=" not in html


async def test_a_sales_rep_sees_only_their_customers_orders(
    client: httpx2.AsyncClient, shop: Shop, make_user: MakeUser, db: AsyncSession
) -> None:
    rep = await make_user("sales")
    mine = await db.get(Order, uuid.UUID(shop.bob["id"]))
    assert mine is not None
    from patron.models import Customer

    customer = await db.get(Customer, mine.customer_id)
    assert customer is not None
    customer.owner_id = rep.user.id
    await db.flush()
    client.cookies.clear()
    await sign_in(client, rep)
    assert listed(await page(client, "/orders")) == [shop.bob["id"]]
    assert (await client.get(f"/orders/{shop.ada['id']}")).status_code == 404
    html = await page(client, f"/orders/{shop.bob['id']}")
    assert "Record a payment" not in html
    assert "Create a return" not in html
    refused = await post(client, f"/orders/{shop.bob['id']}/cancel", {"reason": "x"})
    assert refused.status_code == 403
    product = await page(client, f"/products/{shop.catalog.mug.product_id}")
    assert "Correct price or stock" not in product  # no catalog:write
    others = await page(client, f"/orders?customer_id={shop.ada['customer_id']}")
    assert listed(others) == [shop.bob["id"]]  # the unknown customer is ignored, not leaked
    assert "Ignored a filter" in others


# -- carts ---------------------------------------------------------------------------------


async def test_the_cart_list_filters_by_status_and_links_the_recovering_order(
    client: httpx2.AsyncClient, shop: Shop, db: AsyncSession
) -> None:
    assert "No carts yet" in await page(client, "/carts")
    now = utcnow()
    recovered = Cart(
        customer_id=uuid.UUID(shop.ada["customer_id"]),
        currency="USD",
        value=Decimal("40.00"),
        items=[{"title": "Linen Shirt", "quantity": 1}],
        status="recovered",
        last_activity_at=now - timedelta(days=1),
        recovered_order_id=uuid.UUID(shop.ada["id"]),
    )
    abandoned = Cart(
        email="walker@example.com",
        currency="USD",
        value=Decimal("12.50"),
        items=[{"title": "Stoneware Mug", "quantity": 1}],
        status="abandoned",
        last_activity_at=now - timedelta(hours=3),
        checkout_url="https://shop.example/checkout/1",
    )
    db.add_all([recovered, abandoned])
    await db.flush()
    html = await page(client, "/carts")
    assert listed(html, "data-cart") == [str(abandoned.id), str(recovered.id)]
    assert "walker@example.com" in html
    assert "$12.50" in html
    assert f'href="/orders/{shop.ada["id"]}" data-recovered-order' in html
    assert listed(await page(client, "/carts?status=abandoned"), "data-cart") == [str(abandoned.id)]
    by_customer = await page(client, f"/carts?customer={shop.ada_email}")
    assert listed(by_customer, "data-cart") == [str(recovered.id)]
    none = await page(client, "/carts?status=open")
    assert "No carts match" in none


# -- the catalog ---------------------------------------------------------------------------


async def test_the_product_list_searches_filters_and_shows_an_empty_state(
    client: httpx2.AsyncClient, shop: Shop
) -> None:
    html = await page(client, "/products")
    assert "Linen Shirt" in html
    assert "Stoneware Mug" in html
    by_sku = await page(client, f"/products?q={shop.catalog.mug.sku}")
    assert "Stoneware Mug" in by_sku
    assert "Linen Shirt" not in by_sku
    assert "No products match" in await page(client, "/products?q=zzz-nothing")
    assert "No products match" in await page(client, "/products?status=archived")


async def test_low_stock_lists_variants_at_or_below_the_threshold(
    client: httpx2.AsyncClient, shop: Shop
) -> None:
    html = await page(client, "/products/low-stock")
    assert shop.catalog.mug.sku in html  # 3 left (one sold: 2)
    assert shop.catalog.shirt.sku not in html


async def test_the_product_page_shows_variants_ids_and_images_as_links(
    client: httpx2.AsyncClient, shop: Shop, db: AsyncSession
) -> None:
    from patron.models import Product

    product = await db.get(Product, shop.catalog.shirt.product_id)
    assert product is not None
    product.images = ["https://cdn.example/shirt.jpg", "javascript:alert(1)"]
    db.add(
        ProductExternalId(
            channel_id=shop.channel.id, kind="product", external_id="gid-42", product_id=product.id
        )
    )
    await db.flush()
    html = await page(client, f"/products/{product.id}")
    assert shop.catalog.shirt.sku in html
    assert "$40.00" in html
    assert 'href="https://cdn.example/shirt.jpg"' in html
    assert "<img" not in html
    assert 'href="javascript:' not in html
    assert "gid-42" in html
    assert shop.channel.name in html
    assert f"/orders?product_id={product.id}" in html
    assert (await client.get(f"/products/{uuid.uuid4()}")).status_code == 404


async def test_a_variant_price_and_stock_are_corrected_and_bad_values_refused(
    client: httpx2.AsyncClient, shop: Shop, db: AsyncSession
) -> None:
    variant = shop.catalog.mug
    url = f"/products/{variant.product_id}/variants/{variant.id}"
    token_page = f"/products/{variant.product_id}"
    saved = await post(
        client,
        url,
        {"price": "14.00", "compare_at_price": "16.00", "inventory_quantity": "20"},
        token_page,
    )
    assert saved.status_code == 303
    assert await stock(db, variant) == 20
    refused = await post(client, url, {"price": "-1", "inventory_quantity": "20"}, token_page)
    assert refused.status_code == 422
    assert error_code(refused.text) == "negative_amount"
    assert 'value="-1"' in refused.text
    words = await post(client, url, {"price": "14", "inventory_quantity": "many"}, token_page)
    assert error_code(words.text) == "invalid_quantity"
