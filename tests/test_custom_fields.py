"""Admins define custom fields; records carry validated values; deleting cleans up."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.conftest import MakeKey, MakeUser, bearer, form_token, sign_in

Headers = dict[str, str]


@pytest.fixture
async def admin(make_user: MakeUser, make_key: MakeKey) -> Headers:
    return bearer(await make_key(await make_user("admin")))


async def define(client: httpx2.AsyncClient, headers: Headers, **body: Any) -> httpx2.Response:
    return await client.post("/api/v1/custom-fields", json=body, headers=headers)


async def test_an_admin_defines_fields_and_duplicates_or_empty_selects_are_refused(
    client: httpx2.AsyncClient, admin: Headers
) -> None:
    size = await define(
        client,
        admin,
        entity="customer",
        key="size",
        label="Size",
        field_type="select",
        options=["S", "M", " M ", "L"],
    )
    assert size.status_code == 201, size.text
    assert size.json()["options"] == ["S", "M", "L"]
    again = await define(
        client, admin, entity="customer", key="size", label="Size", field_type="text"
    )
    assert again.json()["error"]["code"] == "duplicate_field"
    empty = await define(
        client, admin, entity="order", key="gift", label="Gift", field_type="select"
    )
    assert empty.json()["error"]["code"] == "options_required"
    bad_key = await define(
        client, admin, entity="order", key="Gift Wrap", label="Gift", field_type="text"
    )
    assert bad_key.status_code == 422
    listed = await client.get("/api/v1/custom-fields?entity=customer", headers=admin)
    assert [f["key"] for f in listed.json()] == ["size"]


async def test_deleting_a_field_removes_its_values_everywhere(
    client: httpx2.AsyncClient, admin: Headers
) -> None:
    field = (
        await define(client, admin, entity="customer", key="vat", label="VAT", field_type="text")
    ).json()
    customer = await client.post(
        "/api/v1/customers",
        json={"first_name": "Vera", "custom_fields": {"vat": "DE123"}},
        headers=admin,
    )
    assert customer.json()["custom_fields"] == {"vat": "DE123"}
    assert (
        await client.delete(f"/api/v1/custom-fields/{field['id']}", headers=admin)
    ).status_code == 204
    reloaded = await client.get(f"/api/v1/customers/{customer.json()['id']}", headers=admin)
    assert reloaded.json()["custom_fields"] == {}


async def test_the_admin_page_adds_and_deletes_fields_with_clear_errors(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    await sign_in(client, await make_user("admin"))
    token = await form_token(client, "/admin/custom-fields")
    added = await client.post(
        "/admin/custom-fields",
        data={
            "csrf_token": token,
            "entity": "product",
            "label": "Material",
            "key": "material",
            "field_type": "text",
        },
    )
    assert added.status_code == 303
    page = await client.get("/admin/custom-fields?entity=product")
    assert 'data-field="material"' in page.text
    refused = await client.post(
        "/admin/custom-fields",
        data={
            "csrf_token": token,
            "entity": "product",
            "label": "Material",
            "key": "material",
            "field_type": "text",
        },
    )
    assert refused.status_code == 409
    assert 'data-error-code="duplicate_field"' in refused.text
    assert 'value="Material"' in refused.text
