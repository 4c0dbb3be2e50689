"""The customer pages of the panel: list, filters, saved views, bulk actions, the 360, forms."""

from __future__ import annotations

import csv
import io
import re
import uuid
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.customers import service
from patron.customers.schemas import CustomerCreate
from patron.kit.time import utcnow
from patron.models import AuditEvent, Customer, CustomerMetrics, SavedView, TimelineEntry
from tests.conftest import (
    MakeKey,
    MakeUser,
    Persona,
    bearer,
    form_token,
    principal_for,
    sign_in,
)

HTMX = {"HX-Request": "true"}


@pytest.fixture
async def admin(client: httpx2.AsyncClient, make_user: MakeUser) -> Persona:
    person = await make_user("admin", name="Ada Admin")
    await sign_in(client, person)
    return person


async def add_customer(
    db: AsyncSession, settings: Settings, owner: Persona, **fields: Any
) -> Customer:
    principal = await principal_for(db, owner.user)
    data = CustomerCreate.model_validate(fields)
    return await service.create_customer(db, settings, principal=principal, data=data)


async def set_figures(db: AsyncSession, customer: Customer, **values: Any) -> None:
    metrics = await db.get(CustomerMetrics, customer.id)
    assert metrics is not None
    for key, value in values.items():
        setattr(metrics, key, value)
    await db.flush()


def listed(html: str) -> list[str]:
    return re.findall(r'data-customer="([0-9a-f-]+)"', html)


async def token(client: httpx2.AsyncClient) -> str:
    return await form_token(client, "/customers")


# -- the list ------------------------------------------------------------------------------


async def test_the_list_shows_figures_and_applies_filters_from_the_query_string(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    big = await add_customer(
        db,
        settings,
        admin,
        first_name="Bertha",
        last_name="Big",
        email="bertha@example.com",
        tags=["vip"],
        addresses=[{"line1": "Hauptstr. 1", "city": "Berlin", "country": "DE"}],
    )
    small = await add_customer(db, settings, admin, first_name="Sam", email="sam@example.com")
    await set_figures(db, big, total_spent=Decimal("1234.50"), orders_count=7)

    everyone = await client.get("/customers")
    assert everyone.status_code == 200
    assert set(listed(everyone.text)) == {str(big.id), str(small.id)}
    assert 'data-total="2"' in everyone.text
    assert "$1,234.50" in everyone.text

    for query in (
        "tag=VIP",
        "country=de",
        "spent_min=100",
        "orders_min=2",
        "lifecycle=lead&tag=vip",
    ):
        page = await client.get(f"/customers?{query}")
        assert listed(page.text) == [str(big.id)], query
        assert 'data-total="1"' in page.text
    by_sort = await client.get("/customers?sort=total_spent")
    assert listed(by_sort.text) == [str(small.id), str(big.id)]
    unowned = await client.get("/customers?owner=none")
    assert len(listed(unowned.text)) == 2
    owned = await client.get(f"/customers?owner={admin.user.id}")
    assert listed(owned.text) == []


async def test_a_filter_that_is_not_valid_is_ignored_with_a_warning(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    await add_customer(db, settings, admin, first_name="Ivy")
    page = await client.get("/customers?spent_min=lots&consent=fax:yes&sort=sideways")
    assert page.status_code == 200
    assert page.text.count("Ignored a filter") == 3
    assert len(listed(page.text)) == 1


async def test_search_is_typo_tolerant_and_finds_emails_and_phones(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    john = await add_customer(
        db,
        settings,
        admin,
        first_name="John",
        last_name="Smith",
        email="jsmith@example.org",
        phone="+14155550123",
    )
    await add_customer(db, settings, admin, first_name="Maria", last_name="Garcia")
    for q in ("jonh smiht", "jsmith@", "555 0123"):
        page = await client.get("/customers", params={"q": q})
        assert listed(page.text) == [str(john.id)], q
    nothing = await client.get("/customers", params={"q": "zebra"})
    assert "No customers match" in nothing.text


async def test_pages_link_to_the_next_and_first_page_keeping_the_filter(
    client: httpx2.AsyncClient,
    admin: Persona,
    db: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("patron.customers.views.listing.PAGE_SIZE", 2)
    for i in range(5):
        await add_customer(db, settings, admin, first_name=f"Page{i}", tags=["paged"])
    await add_customer(db, settings, admin, first_name="Elsewhere")
    seen: list[str] = []
    url = "/customers?tag=paged&sort=name"
    for _ in range(5):
        page = await client.get(url)
        seen += listed(page.text)
        found = re.search(r'href="([^"]+)" rel="next"', page.text)
        if not found:
            break
        url = found.group(1).replace("&amp;", "&")
        assert "tag=paged" in url
        assert "cursor=" in url
        assert ">First page<" in (await client.get(url)).text
    assert len(seen) == 5 == len(set(seen))
    broken = await client.get("/customers?cursor=garbage")
    assert broken.status_code == 303


async def test_an_empty_shop_offers_to_create_the_first_customer(
    client: httpx2.AsyncClient, admin: Persona
) -> None:
    page = await client.get("/customers")
    assert "No customers yet" in page.text
    assert 'href="/customers/new"' in page.text


async def test_the_list_needs_the_customers_read_permission(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    sales = await make_user("sales")
    await sign_in(client, sales)
    assert (await client.get("/customers")).status_code == 200
    home = await client.get("/")
    assert 'href="/customers"' in home.text


# -- saved views -----------------------------------------------------------------------------


async def test_saved_views_are_kept_per_person_and_deleted_only_by_their_owner(
    client: httpx2.AsyncClient,
    admin: Persona,
    db: AsyncSession,
    make_user: MakeUser,
    make_key: MakeKey,
) -> None:
    saved = await client.post(
        "/customers/views",
        data={
            "csrf_token": await token(client),
            "name": "  VIPs  in Germany ",
            "query": "tag=vip&country=DE&cursor=abc",
        },
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/customers?tag=vip&country=DE"
    page = await client.get("/customers")
    assert 'data-view="VIPs in Germany"' in page.text
    again = await client.post(
        "/customers/views",
        data={"csrf_token": await token(client), "name": "vips in germany", "query": ""},
    )
    assert again.status_code == 303
    assert "already have a view" in (await client.get(again.headers["location"])).text
    bad = await client.post(
        "/customers/views",
        data={"csrf_token": await token(client), "name": "Broken", "query": "spent_min=lots"},
    )
    assert "not valid" in (await client.get(bad.headers["location"])).text

    view = await db.scalar(select(SavedView).where(SavedView.user_id == admin.user.id))
    assert view is not None
    other = await make_user("marketing")
    other_key = bearer(await make_key(other))
    assert (await client.get("/api/v1/saved-views", headers=other_key)).json() == []
    stolen = await client.delete(f"/api/v1/saved-views/{view.id}", headers=other_key)
    assert stolen.status_code == 404
    created = await client.post(
        "/api/v1/saved-views",
        json={"name": "Spenders", "query": "spent_min=500"},
        headers=other_key,
    )
    assert created.status_code == 201, created.text
    assert [
        v["name"] for v in (await client.get("/api/v1/saved-views", headers=other_key)).json()
    ] == ["Spenders"]

    deleted = await client.post(
        f"/customers/views/{view.id}/delete", data={"csrf_token": await token(client)}
    )
    assert deleted.status_code == 303
    assert 'data-view="VIPs in Germany"' not in (await client.get("/customers")).text


# -- bulk actions ----------------------------------------------------------------------------


async def test_a_bulk_tag_is_counted_and_confirmed_before_anything_changes(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    for name in ("Ann", "Ben"):
        await add_customer(db, settings, admin, first_name=name, tags=["fair"])
    await add_customer(db, settings, admin, first_name="Cid")
    form = {
        "csrf_token": await token(client),
        "action": "tag",
        "tag": "Spring Sale",
        "scope": "all",
        "filter": "tag=fair",
        "owner": "none",
        "lifecycle_stage": "auto",
    }
    preview = await client.post("/customers/bulk", data=form)
    assert preview.status_code == 200
    assert 'data-matched="2"' in preview.text
    assert "This will tag <strong>2 customers</strong>" in preview.text
    assert "Every customer matching <strong>Tags: fair</strong>" in preview.text
    tagged = select(Customer.id).where(Customer.tags.contains(["spring sale"]))
    assert (await db.scalars(tagged)).all() == []

    done = await client.post("/customers/bulk/apply", data=form)
    assert done.status_code == 303
    assert done.headers["location"] == "/customers?tag=fair"
    assert len((await db.scalars(tagged)).all()) == 2
    assert "Done: 2 customers changed" in (await client.get(done.headers["location"])).text
    actions = await db.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("customer.bulk%"))
    )
    assert list(actions) == ["customer.bulk_tag"]


async def test_a_bulk_action_on_ticked_customers_touches_only_those(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    ann = await add_customer(db, settings, admin, first_name="Ann")
    ben = await add_customer(db, settings, admin, first_name="Ben")
    owner = await add_customer(db, settings, admin, first_name="Unused")
    form = {
        "csrf_token": await token(client),
        "action": "set_lifecycle",
        "lifecycle_stage": "vip",
        "scope": "selected",
        "ids": [str(ann.id), str(ben.id)],
    }
    preview = await client.post("/customers/bulk", data=form)
    assert 'data-matched="2"' in preview.text
    assert "VIP" in preview.text
    await client.post("/customers/bulk/apply", data=form)
    for customer, stage in ((ann, "vip"), (ben, "vip"), (owner, "lead")):
        await db.refresh(customer)
        assert customer.lifecycle_stage == stage

    nothing = await client.post("/customers/bulk", data={**form, "ids": []}, follow_redirects=True)
    assert "Tick the customers first" in nothing.text
    no_tag = await client.post(
        "/customers/bulk",
        data={"csrf_token": form["csrf_token"], "action": "tag", "scope": "all"},
        follow_redirects=True,
    )
    assert "Give the tag" in no_tag.text


async def test_a_marketer_can_export_but_not_change_in_bulk(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession, settings: Settings
) -> None:
    marketer = await make_user("marketing")
    await add_customer(db, settings, marketer, first_name="Ann", tags=["x"])
    await sign_in(client, marketer)
    csrf = await token(client)
    page = await client.get("/customers")
    assert 'id="bulk"' not in page.text
    export = await client.post(
        "/customers/bulk",
        data={"csrf_token": csrf, "action": "export", "scope": "all", "filter": "tag=x"},
    )
    assert 'data-matched="1"' in export.text
    assert "/customers/export.csv?tag=x" in export.text
    refused = await client.post(
        "/customers/bulk/apply",
        data={"csrf_token": csrf, "action": "tag", "tag": "y", "scope": "all"},
    )
    assert refused.status_code == 403


# -- export ------------------------------------------------------------------------------------


async def test_exports_take_the_filters_defuse_formulas_and_are_audited(
    client: httpx2.AsyncClient,
    admin: Persona,
    db: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
    make_key: MakeKey,
) -> None:
    await add_customer(db, settings, admin, first_name='=HYPERLINK("http://evil")', tags=["export"])
    await add_customer(db, settings, admin, first_name="Left out")
    key = bearer(await make_key(admin))
    response = await client.get("/api/v1/customers/export.csv?tag=export", headers=key)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["id", "first_name", "last_name"]
    assert len(rows) == 2
    assert rows[1][1] == '\'=HYPERLINK("http://evil")'
    event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "customer.exported"))
    assert event is not None
    assert event.details["count"] == 1
    assert event.details["filter"] == {"tag": ["export"]}

    xlsx = await client.get("/customers/export.xlsx?tag=export")
    assert xlsx.status_code == 200
    assert xlsx.content[:2] == b"PK"
    sales = bearer(await make_key(await make_user("sales")))
    assert (await client.get("/api/v1/customers/export.csv", headers=sales)).status_code == 403


# -- the customer 360 ------------------------------------------------------------------------


async def test_the_customer_page_shows_the_key_figures_and_tabs_and_is_audited(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    customer = await add_customer(
        db,
        settings,
        admin,
        first_name="Clara",
        last_name="Kunde",
        company="Kunde GmbH",
        email="clara@example.de",
        tags=["wholesale"],
        owner_id=str(admin.user.id),
        consents=[{"channel": "email", "status": "subscribed", "source": "checkout"}],
    )
    await set_figures(
        db,
        customer,
        total_spent=Decimal("2500.00"),
        orders_count=4,
        average_order_value=Decimal("625.00"),
        last_order_at=utcnow(),
        items_bought=9,
        returns_count=1,
    )
    page = await client.get(f"/customers/{customer.id}")
    assert page.status_code == 200
    text = page.text
    for expected in (
        'data-figure="total_spent">$2,500.00',
        'data-figure="orders">4',
        'data-figure="aov">$625.00',
        'data-figure="items">9',
        'data-figure="returns">1',
        'data-consent="email:subscribed"',
        'data-consent="sms:never_asked"',
        'data-tag="wholesale"',
        "Owner: Ada Admin",
        "Kunde GmbH",
    ):
        assert expected in text, expected
    for tab in ("timeline", "orders", "carts", "addresses", "details"):
        assert f'data-tab="{tab}"' in text
        assert (await client.get(f"/customers/{customer.id}?tab={tab}")).status_code == 200
    reads = await db.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "customer.read", AuditEvent.object_id == str(customer.id)
        )
    )
    assert {event.details["purpose"] for event in reads} == {"panel"}


async def test_a_sales_rep_gets_404_for_a_customer_they_do_not_own(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession, settings: Settings
) -> None:
    rep = await make_user("sales")
    colleague = await make_user("sales")
    theirs = await add_customer(db, settings, colleague, first_name="Not Yours")
    mine = await add_customer(db, settings, rep, first_name="Mine")
    await sign_in(client, rep)
    assert (await client.get(f"/customers/{mine.id}")).status_code == 200
    assert (await client.get(f"/customers/{theirs.id}")).status_code == 404
    csrf = await token(client)
    note = await client.post(
        f"/customers/{theirs.id}/notes", data={"csrf_token": csrf, "body": "hello"}
    )
    assert note.status_code == 404
    assert listed((await client.get("/customers")).text) == [str(mine.id)]


async def test_a_merged_customers_page_redirects_to_the_survivor(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    survivor = await add_customer(db, settings, admin, first_name="Survivor")
    merged = await add_customer(db, settings, admin, first_name="Merged")
    merged.merged_into_id = survivor.id
    merged.merged_at = utcnow()
    await db.flush()
    response = await client.get(f"/customers/{merged.id}?tab=details")
    assert response.status_code == 303
    assert response.headers["location"] == f"/customers/{survivor.id}?tab=details"
    assert (await client.get(f"/customers/{uuid.uuid4()}")).status_code == 404


# -- forms -------------------------------------------------------------------------------------


def field_error(html: str, field: str) -> str:
    found = re.search(rf'data-field-error="{re.escape(field)}">([^<]*)<', html)
    return found.group(1) if found else ""


async def test_the_new_customer_form_explains_bad_values_and_keeps_what_was_typed(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession
) -> None:
    csrf = await token(client)
    base = {"csrf_token": csrf, "first_name": "Nora", "last_name": "Nowak"}
    bad_email = await client.post("/customers/new", data={**base, "email": "nora@@example"})
    assert bad_email.status_code == 422
    assert "not a valid email address" in field_error(bad_email.text, "email")
    assert 'value="nora@@example"' in bad_email.text
    assert 'value="Nowak"' in bad_email.text

    bad_phone = await client.post("/customers/new", data={**base, "phone": "12"})
    assert bad_phone.status_code == 422
    assert "not a valid phone number" in field_error(bad_phone.text, "phone")

    bad_country = await client.post(
        "/customers/new",
        data={**base, "address_line1": "1 Road", "address_city": "Oz", "address_country": "Narnia"},
    )
    assert bad_country.status_code == 422
    assert field_error(bad_country.text, "address_country")
    assert 'value="Narnia"' in bad_country.text

    no_email_consent = await client.post("/customers/new", data={**base, "consent_email": "on"})
    assert no_email_consent.status_code == 422
    assert "no email address" in no_email_consent.text

    empty = await client.post("/customers/new", data={"csrf_token": csrf})
    assert empty.status_code == 422
    assert "at least a name" in field_error(empty.text, "email")
    assert await db.scalar(select(Customer.id).where(Customer.first_name == "Nora")) is None


async def test_a_customer_created_in_the_panel_opens_on_its_page(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession
) -> None:
    created = await client.post(
        "/customers/new",
        data={
            "csrf_token": await token(client),
            "first_name": "Olga",
            "last_name": "Orlova",
            "email": "Olga@Example.com",
            "phone": "030 1234567",
            "tags": "vip, Newsletter",
            "address_line1": "Hauptstr. 1",
            "address_city": "Berlin",
            "address_country": "Germany",
            "consent_email": "on",
        },
    )
    assert created.status_code == 303, created.text
    customer = await db.scalar(select(Customer).where(Customer.first_name == "Olga"))
    assert customer is not None
    assert created.headers["location"] == f"/customers/{customer.id}"
    assert customer.phone == "+49301234567"
    assert customer.tags == ["vip", "newsletter"]
    assert customer.source == "panel"
    page = await client.get(created.headers["location"])
    assert "Olga Orlova created." in page.text
    assert 'data-consent="email:subscribed"' in page.text


async def test_a_group_of_fields_is_edited_in_place(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    customer = await add_customer(
        db, settings, admin, first_name="Edith", email="edith@example.com"
    )
    url = f"/customers/{customer.id}/fields"
    form = await client.get(url, params={"group": "contact", "edit": "true"}, headers=HTMX)
    assert form.status_code == 200
    assert "<html" not in form.text
    assert 'name="email"' in form.text
    assert 'value="edith@example.com"' in form.text
    csrf = await token(client)

    wrong = await client.post(
        url,
        data={"csrf_token": csrf, "group": "contact", "email": "not-an-email", "phone": ""},
        headers=HTMX,
    )
    assert wrong.status_code == 422
    assert "not a valid email address" in field_error(wrong.text, "email")
    assert 'value="not-an-email"' in wrong.text

    right = await client.post(
        url,
        data={"csrf_token": csrf, "group": "contact", "email": "edith@new.example", "phone": ""},
        headers=HTMX,
    )
    assert right.status_code == 200
    assert "data-saved" in right.text
    assert "edith@new.example" in right.text
    await db.refresh(customer)
    assert customer.email == "edith@new.example"

    segmentation = await client.post(
        url,
        data={
            "csrf_token": csrf,
            "group": "segmentation",
            "tags": "gold, Gold, b2b",
            "lifecycle_stage": "vip",
            "owner_id": "",
        },
    )
    assert segmentation.status_code == 303
    await db.refresh(customer)
    assert customer.tags == ["gold", "b2b"]
    assert (customer.lifecycle_stage, customer.lifecycle_locked) == ("vip", True)
    summaries = await db.scalars(
        select(TimelineEntry.summary).where(TimelineEntry.customer_id == customer.id)
    )
    assert any("Profile updated" in s for s in summaries)

    full_page = await client.post(
        url, data={"csrf_token": csrf, "group": "profile", "birthday": "2999-01-01"}
    )
    assert full_page.status_code == 422
    assert "past date" in full_page.text
    assert 'class="card mb-3 field-group is-editing"' in full_page.text


async def test_a_quick_note_is_added_and_an_empty_one_is_refused(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    customer = await add_customer(db, settings, admin, first_name="Nina")
    csrf = await token(client)
    added = await client.post(
        f"/customers/{customer.id}/notes",
        data={"csrf_token": csrf, "body": "Prefers **express** <script>x</script>", "pinned": "on"},
        headers=HTMX,
    )
    assert added.status_code == 200
    assert "<strong>express</strong>" in added.text
    assert "<script>" not in added.text
    assert "data-pinned" in added.text
    assert "is-invalid" not in added.text
    empty = await client.post(
        f"/customers/{customer.id}/notes", data={"csrf_token": csrf, "body": "  "}, headers=HTMX
    )
    assert empty.status_code == 422
    assert field_error(empty.text, "body")

    call = await client.post(
        f"/customers/{customer.id}/activities",
        data={
            "csrf_token": csrf,
            "kind": "call",
            "summary": "Asked about returns",
            "duration_minutes": "5",
        },
    )
    assert call.status_code == 303
    timeline = await client.get(f"/customers/{customer.id}?tab=timeline&group=activities")
    assert "Asked about returns" in timeline.text
    assert "Prefers" not in timeline.text
    future = await client.post(
        f"/customers/{customer.id}/activities",
        data={"csrf_token": csrf, "kind": "meeting", "occurred_at": "2999-01-01T10:00"},
    )
    assert future.status_code == 422


async def test_notes_need_the_interactions_write_permission(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession, settings: Settings
) -> None:
    marketer = await make_user("marketing")
    customer = await add_customer(db, settings, marketer, first_name="Quiet")
    await sign_in(client, marketer)
    page = await client.get(f"/customers/{customer.id}")
    assert page.status_code == 200
    assert "data-quick-note" not in page.text
    refused = await client.post(
        f"/customers/{customer.id}/notes", data={"csrf_token": await token(client), "body": "hi"}
    )
    assert refused.status_code == 403


async def test_addresses_are_added_corrected_made_default_and_deleted(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    customer = await add_customer(
        db,
        settings,
        admin,
        first_name="Ada",
        addresses=[{"line1": "1 First St", "city": "Leeds", "country": "GB"}],
    )
    csrf = await token(client)
    base = f"/customers/{customer.id}/addresses"
    bad = await client.post(
        base,
        data={"csrf_token": csrf, "line1": "2 Rue", "city": "Paris", "country": "Frankreichia"},
    )
    assert bad.status_code == 422
    assert field_error(bad.text, "country")
    assert 'value="Frankreichia"' in bad.text
    good = await client.post(
        base, data={"csrf_token": csrf, "line1": "2 Rue", "city": "Paris", "country": "France"}
    )
    assert good.status_code == 303
    page = await client.get(f"/customers/{customer.id}?tab=addresses")
    ids = re.findall(r'data-address="([0-9a-f-]+)"', page.text)
    assert len(ids) == 2
    paris = ids[1]
    made_default = await client.post(
        f"{base}/{paris}/default", data={"csrf_token": csrf, "kind": "shipping"}
    )
    assert made_default.status_code == 303
    await db.refresh(customer)
    assert customer.country == "FR"
    empty_city = await client.post(
        f"{base}/{paris}", data={"csrf_token": csrf, "line1": "2 Rue", "city": "", "country": "FR"}
    )
    assert empty_city.status_code == 422
    deleted = await client.post(f"{base}/{paris}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303
    await db.refresh(customer)
    assert customer.country == "GB"


async def test_consent_and_other_contacts_are_changed_from_the_details_tab(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    customer = await add_customer(db, settings, admin, first_name="Cora", email="cora@example.com")
    csrf = await token(client)
    consent = await client.post(
        f"/customers/{customer.id}/consents",
        data={"csrf_token": csrf, "channel": "email", "status": "subscribed"},
    )
    assert consent.status_code == 303
    no_phone = await client.post(
        f"/customers/{customer.id}/consents",
        data={"csrf_token": csrf, "channel": "sms", "status": "subscribed"},
        follow_redirects=True,
    )
    assert "no phone number" in no_phone.text
    added = await client.post(
        f"/customers/{customer.id}/contacts",
        data={"csrf_token": csrf, "kind": "phone", "value": "+44 20 7946 0958", "label": "work"},
        follow_redirects=True,
    )
    assert "Phone added." in added.text
    assert 'data-consent="email:subscribed"' in added.text
    assert "+44 20 7946 0958" in added.text
    assert "subscribed</strong>" in added.text.lower() or "Subscribed</strong>" in added.text


async def test_files_are_attached_and_notes_pinned_unpinned_and_deleted(
    client: httpx2.AsyncClient, admin: Persona, db: AsyncSession, settings: Settings
) -> None:
    customer = await add_customer(db, settings, admin, first_name="Fiona")
    csrf = await token(client)
    attached = await client.post(
        f"/customers/{customer.id}/attachments",
        data={"csrf_token": csrf},
        files={"file": ("call notes.txt", b"Wants the blue one.", "text/plain")},
        follow_redirects=True,
    )
    assert "call notes.txt attached." in attached.text
    assert re.search(
        rf'href="/api/v1/customers/{customer.id}/attachments/[0-9a-f-]+"', attached.text
    )
    refused = await client.post(
        f"/customers/{customer.id}/attachments",
        data={"csrf_token": csrf},
        files={"file": ("tool.exe", b"MZ\x00\x00binary", "application/octet-stream")},
        follow_redirects=True,
    )
    assert "Attach images" in refused.text

    await client.post(f"/customers/{customer.id}/notes", data={"csrf_token": csrf, "body": "Hi"})
    note = await db.scalar(
        select(TimelineEntry).where(
            TimelineEntry.customer_id == customer.id, TimelineEntry.body == "Hi"
        )
    )
    assert note is not None
    base = f"/customers/{customer.id}/timeline/{note.id}"
    await client.post(f"{base}/pin", data={"csrf_token": csrf, "pinned": "true"})
    assert "data-pinned" in (await client.get(f"/customers/{customer.id}")).text
    await client.post(f"{base}/pin", data={"csrf_token": csrf, "pinned": "false"})
    assert "data-pinned" not in (await client.get(f"/customers/{customer.id}")).text
    profile_entry = await db.scalar(
        select(TimelineEntry).where(
            TimelineEntry.customer_id == customer.id, TimelineEntry.kind == "profile"
        )
    )
    assert profile_entry is not None
    history = await client.post(
        f"/customers/{customer.id}/timeline/{profile_entry.id}/delete",
        data={"csrf_token": csrf},
        follow_redirects=True,
    )
    assert "the rest is history" in history.text
    deleted = await client.post(f"{base}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303
    assert await db.get(TimelineEntry, note.id) is None


async def test_a_note_is_corrected_in_place_by_its_author_only(
    client: httpx2.AsyncClient,
    admin: Persona,
    make_user: MakeUser,
    db: AsyncSession,
    settings: Settings,
) -> None:
    customer = await add_customer(db, settings, admin, first_name="Edda")
    csrf = await token(client)
    await client.post(
        f"/customers/{customer.id}/notes", data={"csrf_token": csrf, "body": "Size M"}
    )
    note = await db.scalar(
        select(TimelineEntry).where(
            TimelineEntry.customer_id == customer.id, TimelineEntry.kind == "note"
        )
    )
    assert note is not None
    page = await client.get(f"/customers/{customer.id}?tab=timeline")
    assert f'action="/customers/{customer.id}/timeline/{note.id}/edit"' in page.text
    assert "data-edited" not in page.text

    edit = f"/customers/{customer.id}/timeline/{note.id}/edit"
    saved = await client.post(
        edit, data={"csrf_token": csrf, "body": "Size **L**, not M"}, follow_redirects=True
    )
    assert "Saved." in saved.text
    assert "<strong>L</strong>" in saved.text
    assert "data-edited" in saved.text
    await db.refresh(note)
    assert note.body == "Size **L**, not M"

    emptied = await client.post(
        edit, data={"csrf_token": csrf, "body": "   "}, follow_redirects=True
    )
    assert "<strong>L</strong>" in emptied.text, "an empty edit must keep the note"
    await db.refresh(note)
    assert note.body == "Size **L**, not M"

    colleague = await make_user("support")
    client.cookies.clear()
    await sign_in(client, colleague)
    other = await client.get(f"/customers/{customer.id}?tab=timeline")
    assert f"/timeline/{note.id}/edit" not in other.text
    refused = await client.post(
        edit,
        data={"csrf_token": await form_token(client), "body": "Hijacked"},
        follow_redirects=True,
    )
    assert "Only the author" in refused.text
    await db.refresh(note)
    assert note.body == "Size **L**, not M"
