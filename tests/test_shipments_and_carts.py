"""Shipments (with tracking events and customer emails), carts and channels."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.kit.time import utcnow
from patron.models import Cart, Channel, Customer, MailMessage
from patron.orders import service
from tests.conftest import (
    IsolatedDatabase,
    MakeKey,
    MakeUser,
    audit_actions,
    bearer,
    make_settings,
)
from tests.shop import make_catalog, make_customer, order_body, place, timeline_kinds

Json = dict[str, Any]


async def _admin(make_user: MakeUser, make_key: MakeKey) -> dict[str, str]:
    return bearer(await make_key(await make_user("admin")))


async def _ship(
    client: httpx2.AsyncClient, headers: dict[str, str], order: Json, **body: Any
) -> httpx2.Response:
    return await client.post(f"/api/v1/orders/{order['id']}/shipments", headers=headers, json=body)


async def _mails_to(db: AsyncSession, address: str) -> list[MailMessage]:
    rows = await db.scalars(
        select(MailMessage)
        .where(MailMessage.to_address == address)
        .order_by(MailMessage.created_at, MailMessage.id)
    )
    return list(rows)


# -- shipments -----------------------------------------------------------------------------------


async def test_it_refuses_to_ship_more_than_was_ordered_or_a_bad_tracking_url(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    customer, shop = await make_customer(db), await make_catalog(db, settings)
    order = await place(client, headers, order_body(customer, shop))
    shirts = order["lines"][0]["id"]
    over = await _ship(client, headers, order, lines=[{"order_line_id": shirts, "quantity": 3}])
    assert over.status_code == 422
    assert over.json()["error"]["code"] == "shipment_exceeds_ordered"
    negative = await _ship(
        client, headers, order, lines=[{"order_line_id": shirts, "quantity": -1}]
    )
    assert negative.json()["error"]["code"] == "invalid_quantity"
    for url in ("javascript:alert(1)", "ups.com/track"):
        bad = await _ship(client, headers, order, tracking_url=url)
        assert bad.json()["error"]["code"] == "invalid_url", url
    unknown_status = await _ship(client, headers, order, status="lost_in_space")
    assert unknown_status.json()["error"]["code"] == "validation_error"


async def test_the_fulfilment_status_follows_shipped_quantities(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    customer, shop = await make_customer(db), await make_catalog(db, settings)
    order = await place(client, headers, order_body(customer, shop))
    shirts = order["lines"][0]["id"]
    first = await _ship(
        client,
        headers,
        order,
        carrier="UPS",
        tracking_number="1Z999",
        tracking_url="https://ups.example/track?n=1Z999",
        lines=[{"order_line_id": shirts, "quantity": 1}],
    )
    assert first.status_code == 201, first.text
    assert first.json()["events"][0]["status"] == "pending"
    detail = (await client.get(f"/api/v1/orders/{order['id']}", headers=headers)).json()
    assert detail["fulfillment_status"] == "partial"

    rest = await _ship(client, headers, order, carrier="DHL", status="in_transit")
    assert rest.status_code == 201
    assert rest.json()["shipped_at"] is not None
    assert {line["quantity"] for line in rest.json()["lines"]} == {1}
    detail = (await client.get(f"/api/v1/orders/{order['id']}", headers=headers)).json()
    assert detail["fulfillment_status"] == "fulfilled"
    assert len(detail["shipments"]) == 2
    nothing = await _ship(client, headers, order)
    assert nothing.status_code == 409
    assert nothing.json()["error"]["code"] == "nothing_to_ship"

    shipment = first.json()
    moved = await client.post(
        f"/api/v1/orders/{order['id']}/shipments/{shipment['id']}/events",
        headers=headers,
        json={"status": "delivered", "location": "Leeds", "message": "Left with neighbour"},
    )
    assert moved.status_code == 201
    assert moved.json()["status"] == "delivered"
    assert moved.json()["delivered_at"] is not None
    assert [e["status"] for e in moved.json()["events"]] == ["pending", "delivered"]
    patched = await client.patch(
        f"/api/v1/orders/{order['id']}/shipments/{shipment['id']}",
        headers=headers,
        json={"tracking_number": "1Z1000"},
    )
    assert patched.json()["tracking_number"] == "1Z1000"
    kinds = await timeline_kinds(db, order["id"])
    assert kinds.count("shipment") == 3
    assert kinds.count("order_status") == 2
    assert "order.shipment_created" in await audit_actions(db, order["id"])


async def test_the_customer_is_emailed_about_a_shipment_only_when_it_notifies(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    shop = await make_catalog(db, settings)
    customer = await make_customer(db, email="ship-me@example.com")
    silent = await place(client, headers, order_body(customer, shop))
    await _ship(client, headers, silent, status="in_transit")
    assert await _mails_to(db, "ship-me@example.com") == []

    told = await place(client, headers, order_body(customer, shop))
    shipment = (
        await _ship(
            client,
            headers,
            told,
            status="in_transit",
            carrier="DHL",
            tracking_number="JD42",
            notify_customer=True,
        )
    ).json()
    url = f"/api/v1/orders/{told['id']}/shipments/{shipment['id']}/events"
    await client.post(url, headers=headers, json={"status": "in_transit", "location": "Hub"})
    await client.post(url, headers=headers, json={"status": "delivered"})
    mails = await _mails_to(db, "ship-me@example.com")
    assert [m.kind for m in mails] == ["shipment_update", "shipment_update"]
    assert mails[0].subject == f"Your order {told['number']} is in transit"
    assert mails[1].subject == f"Your order {told['number']} is delivered"
    assert told["tracking_url"] in mails[1].body_text
    assert "JD42" in mails[1].body_html

    no_email = await make_customer(db, email="")
    no_email.email = None
    await db.flush()
    quiet = await place(client, headers, order_body(no_email, shop))
    assert (await _ship(client, headers, quiet, notify_customer=True)).status_code == 201


# -- carts -------------------------------------------------------------------------------------


async def test_carts_are_upserted_abandoned_and_recovered_by_an_order(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    shop = await make_catalog(db, settings)
    channel = Channel(name="Shopify", kind="shopify")
    db.add(channel)
    customer = await make_customer(db, email="cart@example.com")
    url = f"/api/v1/carts/by-external-id/{channel.id}/chk-1"
    nobody = await client.put(url, headers=headers, json={"items": []})
    assert nobody.status_code == 422
    assert nobody.json()["error"]["code"] == "cart_needs_customer_or_email"
    bad_link = await client.put(
        url, headers=headers, json={"email": "cart@example.com", "checkout_url": "javascript:x"}
    )
    assert bad_link.json()["error"]["code"] == "invalid_url"
    earlier = utcnow() - timedelta(hours=3)
    created = await client.put(
        url,
        headers=headers,
        json={
            "email": "Cart@Example.com",
            "items": [
                {
                    "sku": shop.shirt.sku,
                    "title": "Linen Shirt",
                    "quantity": 2,
                    "unit_price": "40.00",
                }
            ],
            "checkout_url": "https://shop.example/checkout/chk-1",
            "last_activity_at": earlier.isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    cart = created.json()
    assert cart["customer_id"] == str(customer.id)
    assert cart["value"] == "80.00"
    assert cart["status"] == "open"
    refreshed = await db.get(Customer, customer.id, populate_existing=True)
    assert refreshed is not None
    assert refreshed.lifecycle_stage == "prospect"
    updated = await client.put(
        url,
        headers=headers,
        json={
            "email": "cart@example.com",
            "value": "75.00",
            "last_activity_at": earlier.isoformat(),
        },
    )
    assert updated.status_code == 200
    assert updated.json()["id"] == cart["id"]
    assert updated.json()["value"] == "75.00"

    assert await service.mark_abandoned_carts(db, settings) == 1
    abandoned = await client.get("/api/v1/carts", headers=headers, params={"status": "abandoned"})
    assert [c["id"] for c in abandoned.json()["items"]] == [cart["id"]]

    order = await place(client, headers, order_body(customer, shop))
    recovered = await client.get("/api/v1/carts", headers=headers, params={"status": "recovered"})
    assert [(c["id"], c["recovered_order_id"]) for c in recovered.json()["items"]] == [
        (cart["id"], order["id"])
    ]


async def test_a_fresh_cart_is_not_abandoned_and_a_sales_rep_sees_only_their_customers_carts(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    rep = await make_user("sales")
    rep_headers = bearer(await make_key(rep))
    channel = Channel(name="Woo", kind="woocommerce")
    db.add(channel)
    mine = await make_customer(db, owner_id=rep.user.id)
    theirs = await make_customer(db)
    for customer, external in ((mine, "a"), (theirs, "b")):
        response = await client.put(
            f"/api/v1/carts/by-external-id/{channel.id}/{external}",
            headers=headers,
            json={"customer_id": str(customer.id), "value": "10.00"},
        )
        assert response.status_code == 201
    assert await service.mark_abandoned_carts(db, settings) == 0
    assert await service.mark_abandoned_carts(db, settings, now=utcnow() + timedelta(hours=2)) == 2
    listed = await client.get("/api/v1/carts", headers=rep_headers)
    assert [c["customer_id"] for c in listed.json()["items"]] == [str(mine.id)]
    hidden = await client.put(
        f"/api/v1/carts/by-external-id/{channel.id}/c",
        headers=rep_headers,
        json={"customer_id": str(theirs.id)},
    )
    assert hidden.status_code == 403
    # a manager outside the customer's team cannot overwrite the customer's cart either
    manager = bearer(await make_key(await make_user("manager")))
    overwrite = await client.put(
        f"/api/v1/carts/by-external-id/{channel.id}/b",
        headers=manager,
        json={"email": "someone@example.com"},
    )
    assert overwrite.status_code == 404
    assert overwrite.json()["error"]["code"] == "cart_not_found"
    carts = await db.scalars(select(Cart.status).where(Cart.channel_id == channel.id))
    assert set(carts) == {"abandoned"}


# -- channels ----------------------------------------------------------------------------------


async def test_channels_are_created_renamed_and_deleted_only_when_unused(
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
    settings: Settings,
) -> None:
    headers = await _admin(make_user, make_key)
    created = await client.post(
        "/api/v1/channels", headers=headers, json={"name": "Flagship store", "kind": "pos"}
    )
    assert created.status_code == 201
    channel = created.json()
    duplicate = await client.post(
        "/api/v1/channels", headers=headers, json={"name": "FLAGSHIP STORE", "kind": "pos"}
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "channel_exists"
    wrong_kind = await client.post(
        "/api/v1/channels", headers=headers, json={"name": "X", "kind": "carrier pigeon"}
    )
    assert wrong_kind.status_code == 422
    renamed = await client.patch(
        f"/api/v1/channels/{channel['id']}", headers=headers, json={"name": "Flagship"}
    )
    assert renamed.json()["name"] == "Flagship"
    customer, shop = await make_customer(db), await make_catalog(db, settings)
    await place(client, headers, order_body(customer, shop, channel_id=channel["id"]))
    in_use = await client.delete(f"/api/v1/channels/{channel['id']}", headers=headers)
    assert in_use.status_code == 409
    assert in_use.json()["error"]["code"] == "channel_in_use"
    spare = (
        await client.post(
            "/api/v1/channels", headers=headers, json={"name": "Spare", "kind": "manual"}
        )
    ).json()
    assert (
        await client.delete(f"/api/v1/channels/{spare['id']}", headers=headers)
    ).status_code == 204
    names = [c["name"] for c in (await client.get("/api/v1/channels", headers=headers)).json()]
    assert "Flagship" in names
    assert "Spare" not in names
    support = bearer(await make_key(await make_user("support")))
    assert (await client.get("/api/v1/channels", headers=support)).status_code == 200
    refused = await client.post(
        "/api/v1/channels", headers=support, json={"name": "Mine", "kind": "pos"}
    )
    assert refused.status_code == 403


async def test_the_periodic_job_abandons_idle_carts(
    isolated_database: IsolatedDatabase, tmp_path: Path
) -> None:
    from patron.orders.tasks import abandon_idle_carts
    from patron.worker.app import job_app, set_runtime

    assert "orders.abandon_carts" in job_app.tasks
    settings = make_settings(isolated_database.url, tmp_path, cart_abandoned_after_minutes=30)
    set_runtime(settings, isolated_database.database)
    async with isolated_database.database.transaction() as db:
        db.add_all(
            [
                Cart(
                    email="idle@example.com",
                    currency="USD",
                    last_activity_at=utcnow() - timedelta(minutes=31),
                ),
                Cart(
                    email="busy@example.com",
                    currency="USD",
                    last_activity_at=utcnow() - timedelta(minutes=5),
                ),
            ]
        )
    assert await abandon_idle_carts(timestamp=0) == 1
    assert await abandon_idle_carts(timestamp=0) == 0
    async with isolated_database.database.transaction() as db:
        rows = await db.execute(select(Cart.email, Cart.status))
        statuses = {row.email: row.status for row in rows}
    assert statuses == {"idle@example.com": "abandoned", "busy@example.com": "open"}
