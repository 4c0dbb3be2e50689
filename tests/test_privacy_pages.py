"""The panel's privacy actions: exporting from the customer page, erasing after typing the
email, and the privacy requests page with its downloads."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.app import create_app
from patron.audit.service import SYSTEM
from patron.config import Settings
from patron.customers import service as customers
from patron.customers.schemas import CustomerCreate
from patron.models import Customer, PrivacyRequest
from patron.privacy import service
from patron.users import service as users
from tests.conftest import (
    PASSWORD,
    IsolatedDatabase,
    MakeUser,
    Persona,
    form_token,
    make_settings,
    principal_for,
    sign_in,
)

EMAIL = "augusta.byronova@example.com"


@pytest.fixture
async def admin(client: httpx2.AsyncClient, make_user: MakeUser) -> Persona:
    person = await make_user("admin")
    await sign_in(client, person)
    return person


async def augusta(db: AsyncSession, settings: Settings, owner: Persona) -> Customer:
    principal = await principal_for(db, owner.user)
    data = CustomerCreate(first_name="Augusta", last_name="Byronova", email=EMAIL)
    return await customers.create_customer(db, settings, principal=principal, data=data)


async def only_request(db: AsyncSession, kind: str) -> PrivacyRequest:
    (request,) = (await db.scalars(select(PrivacyRequest).where(PrivacyRequest.kind == kind))).all()
    return request


async def test_the_customer_page_offers_export_and_erasure_to_who_may_use_them(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, admin: Persona
) -> None:
    customer = await augusta(db, settings, admin)
    page = await client.get(f"/customers/{customer.id}")
    assert "Export personal data" in page.text
    assert f'href="/customers/{customer.id}/erase"' in page.text


async def test_support_sees_no_privacy_buttons_and_cannot_reach_the_pages(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    support = await make_user("support")
    customer = await augusta(db, settings, support)
    await sign_in(client, support)
    page = await client.get(f"/customers/{customer.id}")
    assert page.status_code == 200
    assert "data-privacy-actions" not in page.text
    assert (await client.get(f"/customers/{customer.id}/erase")).status_code == 403
    assert (await client.get("/admin/privacy")).status_code == 403


async def test_an_export_asked_in_the_panel_is_downloaded_from_the_privacy_page(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, admin: Persona
) -> None:
    customer = await augusta(db, settings, admin)
    token = await form_token(client, f"/customers/{customer.id}")
    asked = await client.post(
        f"/customers/{customer.id}/privacy-export", data={"csrf_token": token}
    )
    assert asked.status_code == 303
    assert asked.headers["location"].startswith("/admin/privacy#request-")
    request = await only_request(db, "export")
    listing = await client.get("/admin/privacy")
    assert f'data-request="{request.id}"' in listing.text
    assert "Download" not in listing.text  # not ready yet
    others = await client.get("/admin/privacy", params={"status": "failed"})
    assert f'data-request="{request.id}"' not in others.text

    await service.run(db, settings, request_id=request.id)
    listing = await client.get("/admin/privacy")
    link = f"/admin/privacy/{request.id}/download"
    assert link in listing.text
    download = await client.get(link)
    assert download.status_code == 200
    assert json.loads(download.content)["customer"]["email"] == EMAIL


async def test_a_wrong_confirmation_erases_nothing_and_says_why(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, admin: Persona
) -> None:
    customer = await augusta(db, settings, admin)
    form = await client.get(f"/customers/{customer.id}/erase")
    assert form.status_code == 200
    assert EMAIL in form.text
    token = await form_token(client, f"/customers/{customer.id}/erase")
    for typed in ("", "augusta@example.com", "ERASE"):
        refused = await client.post(
            f"/customers/{customer.id}/erase", data={"csrf_token": token, "confirmation": typed}
        )
        assert refused.status_code == 422
        assert 'data-error-code="confirmation_mismatch"' in refused.text
    assert (await db.scalars(select(PrivacyRequest))).all() == []
    await db.refresh(customer)
    assert customer.email == EMAIL


async def test_typing_the_email_erases_the_customer(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, admin: Persona
) -> None:
    customer = await augusta(db, settings, admin)
    token = await form_token(client, f"/customers/{customer.id}/erase")
    erased = await client.post(
        f"/customers/{customer.id}/erase",
        data={"csrf_token": token, "confirmation": f"  {EMAIL.upper()} "},
    )
    assert erased.status_code == 303
    request = await only_request(db, "erasure")
    assert request.source == "staff"
    await service.run(db, settings, request_id=request.id)

    gone = await client.get(f"/customers/{customer.id}")
    assert gone.status_code == 404
    listing = await client.get("/admin/privacy")
    assert "Erased customer" in listing.text
    assert EMAIL not in listing.text
    assert "Byronova" not in listing.text


async def test_a_failed_request_can_be_run_again(
    client: httpx2.AsyncClient, db: AsyncSession, settings: Settings, admin: Persona
) -> None:
    customer = await augusta(db, settings, admin)
    failed = PrivacyRequest(
        kind="export", customer_id=customer.id, source="staff", status="failed", error="boom"
    )
    db.add(failed)
    await db.flush()
    token = await form_token(client, "/admin/privacy")
    again = await client.post(f"/admin/privacy/{failed.id}/retry", data={"csrf_token": token})
    assert again.status_code == 303
    await db.refresh(failed)
    assert (failed.status, failed.error) == ("queued", "")
    assert await service.run(db, settings, request_id=failed.id) == "done"
    refused = await client.post(f"/admin/privacy/{failed.id}/retry", data={"csrf_token": token})
    assert refused.status_code == 303
    missing = await client.post(f"/admin/privacy/{uuid.uuid4()}/retry", data={"csrf_token": token})
    assert missing.status_code == 404


async def test_an_erased_customer_page_is_a_404_page_over_a_real_session(
    isolated_database: IsolatedDatabase, tmp_path: Path
) -> None:
    database = isolated_database.database
    settings = make_settings(isolated_database.url, tmp_path)
    async with database.transaction() as db:
        user = await users.create_user(
            db,
            settings,
            actor=SYSTEM,
            email="support@shop.test",
            name="Support Person",
            role="support",
            team_id=None,
            kind="person",
            password=PASSWORD,
            send_invite=False,
        )
        customer = await augusta(db, settings, Persona(user, PASSWORD))
        erasure = await service.request_erasure(
            db, customer=customer, actor=SYSTEM, source="api", confirmed=True
        )
        await service.run(db, settings, request_id=erasure.id)
    app = create_app(settings, database=database)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await sign_in(http, Persona(user, PASSWORD))
            erased = await http.get(f"/customers/{customer.id}")
            missing = await http.get(f"/customers/{uuid.uuid4()}")
    assert erased.status_code == 404
    assert "personal data was erased" in erased.text
    assert "Support Person" in erased.text or "support@shop.test" in erased.text
    assert missing.status_code == 404
