"""The catalog API: categories, products, variants, images, custom fields, low stock."""

from __future__ import annotations

from typing import Any

import httpx2
from sqlalchemy.ext.asyncio import AsyncSession

from patron.models import Channel, CustomFieldDefinition
from tests.conftest import MakeKey, MakeUser, audit_actions, bearer


async def _admin(make_user: MakeUser, make_key: MakeKey) -> dict[str, str]:
    return bearer(await make_key(await make_user("admin")))


def _product(**overrides: Any) -> dict[str, Any]:
    return {
        "title": "Linen Shirt",
        "vendor": "Acme",
        "variants": [
            {"title": "S", "sku": "LS-S", "price": "49.90", "inventory_quantity": 3},
            {"title": "M", "sku": "LS-M", "price": "49.90", "inventory_quantity": 20},
        ],
        **overrides,
    }


async def test_it_refuses_a_negative_price_and_a_duplicate_sku(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    headers = await _admin(make_user, make_key)
    negative = await client.post(
        "/api/v1/products",
        headers=headers,
        json=_product(variants=[{"sku": "X-1", "price": "-1.00"}]),
    )
    assert negative.status_code == 422
    assert negative.json()["error"]["code"] == "validation_error"

    assert (
        await client.post("/api/v1/products", headers=headers, json=_product())
    ).status_code == 201
    duplicate = await client.post(
        "/api/v1/products",
        headers=headers,
        json=_product(title="Other", variants=[{"sku": "LS-M", "price": "5"}]),
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "duplicate_sku"
    # the failed request left nothing behind
    listed = await client.get("/api/v1/products", headers=headers, params={"q": "Other"})
    assert listed.json()["items"] == []


async def test_it_refuses_image_addresses_that_are_not_http(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    headers = await _admin(make_user, make_key)
    for bad in ("javascript:alert(1)", "/relative.png", "ftp://files.example/a.png", "http://"):
        response = await client.post(
            "/api/v1/products", headers=headers, json=_product(images=[bad], variants=[])
        )
        assert response.status_code == 422, bad
        assert response.json()["error"]["code"] == "invalid_url", bad
    good = await client.post(
        "/api/v1/products",
        headers=headers,
        json=_product(images=["https://cdn.example/shirt.jpg"], variants=[]),
    )
    assert good.status_code == 201
    assert good.json()["images"] == ["https://cdn.example/shirt.jpg"]


async def test_it_refuses_an_unknown_currency_and_category(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    headers = await _admin(make_user, make_key)
    currency = await client.post(
        "/api/v1/products",
        headers=headers,
        json=_product(variants=[{"sku": "Q", "price": "1", "currency": "ZZZ"}]),
    )
    assert currency.json()["error"]["code"] == "invalid_currency"
    category = await client.post(
        "/api/v1/products",
        headers=headers,
        json=_product(category_ids=["00000000-0000-0000-0000-000000000001"]),
    )
    assert category.status_code == 422
    assert category.json()["error"]["code"] == "unknown_category"


async def test_product_custom_fields_are_checked_against_their_definitions(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey, db: AsyncSession
) -> None:
    headers = await _admin(make_user, make_key)
    db.add_all(
        [
            CustomFieldDefinition(
                entity="product",
                key="material",
                label="Material",
                field_type="select",
                options=["linen", "cotton"],
                required=True,
            ),
            CustomFieldDefinition(
                entity="product", key="weight", label="Weight", field_type="number"
            ),
        ]
    )
    await db.flush()
    for fields in (
        {},
        {"material": "silk"},
        {"material": "linen", "weight": "heavy"},
        {"material": "linen", "colour": "red"},
    ):
        response = await client.post(
            "/api/v1/products", headers=headers, json=_product(custom_fields=fields, variants=[])
        )
        assert response.status_code == 422, fields
        assert response.json()["error"]["code"] == "invalid_custom_field", fields
    created = await client.post(
        "/api/v1/products",
        headers=headers,
        json=_product(custom_fields={"material": "linen", "weight": "0.25"}, variants=[]),
    )
    assert created.status_code == 201
    assert created.json()["custom_fields"] == {"material": "linen", "weight": 0.25}


async def test_categories_nest_without_cycles(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    headers = await _admin(make_user, make_key)
    clothing = (
        await client.post("/api/v1/categories", headers=headers, json={"name": "Clothing"})
    ).json()
    assert clothing["slug"] == "clothing"
    shirts = (
        await client.post(
            "/api/v1/categories",
            headers=headers,
            json={"name": "Shirts & Tops", "parent_id": clothing["id"]},
        )
    ).json()
    assert shirts["slug"] == "shirts-tops"
    cycle = await client.patch(
        f"/api/v1/categories/{clothing['id']}", headers=headers, json={"parent_id": shirts["id"]}
    )
    assert cycle.status_code == 422
    assert cycle.json()["error"]["code"] == "category_cycle"
    taken = await client.post(
        "/api/v1/categories", headers=headers, json={"name": "Again", "slug": "clothing"}
    )
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "duplicate_slug"
    children = await client.get(
        "/api/v1/categories", headers=headers, params={"parent_id": clothing["id"]}
    )
    assert [c["id"] for c in children.json()["items"]] == [shirts["id"]]

    product = await client.post(
        "/api/v1/products", headers=headers, json=_product(category_ids=[shirts["id"]])
    )
    listed = await client.get(
        "/api/v1/products", headers=headers, params={"category_id": shirts["id"]}
    )
    assert [p["id"] for p in listed.json()["items"]] == [product.json()["id"]]


async def test_products_are_found_by_title_or_sku_and_filtered(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    headers = await _admin(make_user, make_key)
    shirt = (await client.post("/api/v1/products", headers=headers, json=_product())).json()
    mug = (
        await client.post(
            "/api/v1/products",
            headers=headers,
            json={
                "title": "Stoneware Mug",
                "vendor": "Clayworks",
                "status": "draft",
                "variants": [{"sku": "MUG-100", "price": "12"}],
            },
        )
    ).json()

    async def ids(**params: Any) -> list[str]:
        response = await client.get("/api/v1/products", headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    assert await ids(q="linen") == [shirt["id"]]
    assert await ids(q="mug-1") == [mug["id"]]
    assert await ids(q="100%_") == []
    assert await ids(status="draft") == [mug["id"]]
    assert await ids(vendor="clayworks") == [mug["id"]]
    assert await ids(limit=1) == [mug["id"]]
    first = (await client.get("/api/v1/products", headers=headers, params={"limit": 1})).json()
    second = await ids(limit=1, cursor=first["next_cursor"])
    assert second == [shirt["id"]]


async def test_a_product_is_created_changed_archived_and_deleted(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey, db: AsyncSession
) -> None:
    headers = await _admin(make_user, make_key)
    channel = Channel(name="Web shop", kind="shopify")
    db.add(channel)
    await db.flush()
    created = await client.post(
        "/api/v1/products",
        headers=headers,
        json=_product(external_ids=[{"channel_id": str(channel.id), "external_id": "gid-1"}]),
    )
    assert created.status_code == 201, created.text
    product = created.json()
    assert product["handle"] == "linen-shirt"
    assert product["variants"][0]["price"] == "49.90"
    assert product["variants"][0]["currency"] == "USD"
    assert product["external_ids"] == [{"channel_id": str(channel.id), "external_id": "gid-1"}]

    same_external = await client.post(
        "/api/v1/products",
        headers=headers,
        json=_product(
            variants=[], external_ids=[{"channel_id": str(channel.id), "external_id": "gid-1"}]
        ),
    )
    assert same_external.status_code == 409
    assert same_external.json()["error"]["code"] == "duplicate_external_id"
    second = await client.post("/api/v1/products", headers=headers, json=_product(variants=[]))
    assert second.json()["handle"] == "linen-shirt-2"

    changed = await client.patch(
        f"/api/v1/products/{product['id']}",
        headers=headers,
        json={"title": "Linen Shirt II", "tags": ["summer", "summer", "linen"]},
    )
    assert changed.json()["title"] == "Linen Shirt II"
    assert changed.json()["tags"] == ["summer", "linen"]
    null_title = await client.patch(
        f"/api/v1/products/{product['id']}", headers=headers, json={"title": None}
    )
    assert null_title.status_code == 422

    variant = product["variants"][0]
    patched = await client.patch(
        f"/api/v1/products/{product['id']}/variants/{variant['id']}",
        headers=headers,
        json={"price": "39.00", "compare_at_price": "49.90", "inventory_quantity": 0},
    )
    assert patched.json()["compare_at_price"] == "49.90"
    steal = await client.patch(
        f"/api/v1/products/{product['id']}/variants/{variant['id']}",
        headers=headers,
        json={"sku": "LS-M"},
    )
    assert steal.status_code == 409
    added = await client.post(
        f"/api/v1/products/{product['id']}/variants",
        headers=headers,
        json={"title": "L", "sku": "LS-L", "price": "49.90", "currency": "eur"},
    )
    assert added.status_code == 201
    assert added.json()["currency"] == "EUR"
    variants = await client.get(f"/api/v1/products/{product['id']}/variants", headers=headers)
    assert len(variants.json()) == 3

    archived = await client.delete(f"/api/v1/products/{product['id']}", headers=headers)
    assert archived.status_code == 204
    got = await client.get(f"/api/v1/products/{product['id']}", headers=headers)
    assert got.json()["status"] == "archived"
    gone = await client.delete(
        f"/api/v1/products/{product['id']}", headers=headers, params={"permanent": "true"}
    )
    assert gone.status_code == 204
    missing = await client.get(f"/api/v1/products/{product['id']}", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "product_not_found"
    actions = await audit_actions(db, product["id"])
    assert actions[0] == "product.created"
    assert {"product.updated", "product.variant_updated", "product.archived"} <= set(actions)
    assert actions[-1] == "product.deleted"


async def test_the_low_stock_list_shows_active_variants_at_or_below_the_threshold(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    headers = await _admin(make_user, make_key)
    await client.post("/api/v1/products", headers=headers, json=_product())
    await client.post(
        "/api/v1/products",
        headers=headers,
        json={
            "title": "Old stock",
            "status": "archived",
            "variants": [{"sku": "OLD", "price": "1", "inventory_quantity": 0}],
        },
    )
    low = await client.get("/api/v1/products/low-stock", headers=headers)
    assert low.status_code == 200
    assert [(v["sku"], v["product_title"]) for v in low.json()["items"]] == [
        ("LS-S", "Linen Shirt")
    ]


async def test_a_support_agent_reads_the_catalog_but_cannot_change_it(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    headers = bearer(await make_key(await make_user("support")))
    assert (await client.get("/api/v1/products", headers=headers)).status_code == 200
    refused = await client.post("/api/v1/products", headers=headers, json=_product())
    assert refused.status_code == 403
