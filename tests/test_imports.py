"""CSV/XLSX imports: presets, the dry run's row errors, insert-or-update, resume after a
crash, hostile files, XLSX, permissions."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx2
import pytest
from openpyxl import Workbook
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import SYSTEM
from patron.config import Settings
from patron.customers import bulk
from patron.customers.schemas import BulkAction
from patron.imports import customers as customers_import
from patron.imports import fields, runner, values
from patron.imports.rows import CustomerRecord
from patron.kit.contact import normalise_email
from patron.kit.ids import new_id
from patron.models import (
    Consent,
    ConsentEvent,
    Customer,
    CustomerAddress,
    CustomerEmail,
    CustomerExternalId,
    CustomFieldDefinition,
    ImportJob,
    Product,
    ProductVariant,
    SegmentChangedCustomer,
    StaffUser,
)
from patron.segments.changes import mark_selected_customers_changed
from patron.users import service as users
from tests.conftest import (
    PASSWORD,
    IsolatedDatabase,
    MakeKey,
    MakeUser,
    audit_actions,
    bearer,
    principal_for,
)

SHOPIFY = [
    "Customer ID", "First Name", "Last Name", "Email", "Accepts Email Marketing",
    "Default Address Company", "Default Address Address1", "Default Address Address2",
    "Default Address City", "Default Address Province Code", "Default Address Country Code",
    "Default Address Zip", "Default Address Phone", "Phone", "Accepts SMS Marketing",
    "Total Spent", "Total Orders", "Note", "Tax Exempt", "Tags",
]  # fmt: skip
HUBSPOT = [
    "Record ID", "First Name", "Last Name", "Email", "Phone Number", "Company Name", "City",
    "State/Region", "Country/Region", "Postal Code", "Street Address",
    "Marketing contact status", "Lifecycle Stage", "Create Date",
]  # fmt: skip
MAILCHIMP = [
    "Email Address", "First Name", "Last Name", "Address", "Phone Number", "Birthday",
    "MEMBER_RATING", "OPTIN_TIME", "OPTIN_IP", "CONFIRM_TIME", "CONFIRM_IP", "LATITUDE",
    "LONGITUDE", "GMTOFF", "DSTOFF", "TIMEZONE", "CC", "REGION", "LAST_CHANGED", "LEID",
    "EUID", "NOTES", "TAGS",
]  # fmt: skip


def make_csv(rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


Unit = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def units(db: AsyncSession) -> Unit:
    """Each batch in a savepoint of the test's transaction (rolled back after the test)."""

    @asynccontextmanager
    async def unit() -> AsyncIterator[AsyncSession]:
        async with db.begin_nested():
            yield db

    return unit


@pytest.fixture
async def admin_key(make_user: MakeUser, make_key: MakeKey) -> str:
    return await make_key(await make_user("admin"))


async def upload(
    client: httpx2.AsyncClient,
    key: str,
    content: bytes,
    *,
    filename: str = "customers.csv",
    entity: str = "customers",
) -> httpx2.Response:
    return await client.post(
        "/api/v1/imports",
        headers=bearer(key),
        files={"file": (filename, content, "text/csv")},
        data={"entity": entity},
    )


async def uploaded(
    client: httpx2.AsyncClient, key: str, content: bytes, **kw: Any
) -> dict[str, Any]:
    response = await upload(client, key, content, **kw)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _step(
    client: httpx2.AsyncClient,
    key: str,
    job_id: str,
    action: str,
    work: Callable[[], Awaitable[Any]],
) -> dict[str, Any]:
    """Ask for the job's next step through the API, do its work as the worker would, and
    return the job as the API then shows it."""
    response = await client.post(f"/api/v1/imports/{job_id}/{action}", headers=bearer(key))
    assert response.status_code == 202, response.text
    await work()
    body: dict[str, Any] = (
        await client.get(f"/api/v1/imports/{job_id}", headers=bearer(key))
    ).json()
    return body


async def dry_run(
    client: httpx2.AsyncClient, key: str, db: AsyncSession, settings: Settings, job_id: str
) -> dict[str, Any]:
    job = uuid.UUID(job_id)
    return await _step(
        client,
        key,
        job_id,
        "dry-run",
        lambda: runner.dry_run(units(db), settings, job, batch_size=3),
    )


async def run_import(
    client: httpx2.AsyncClient,
    key: str,
    db: AsyncSession,
    settings: Settings,
    job_id: str,
    **options: Any,
) -> dict[str, Any]:
    job, chosen = uuid.UUID(job_id), {"batch_size": 3, **options}
    return await _step(
        client, key, job_id, "start", lambda: runner.run_import(units(db), settings, job, **chosen)
    )


async def full_import(
    client: httpx2.AsyncClient,
    key: str,
    db: AsyncSession,
    settings: Settings,
    content: bytes,
    **kw: Any,
) -> dict[str, Any]:
    job = await uploaded(client, key, content, **kw)
    checked = await dry_run(client, key, db, settings, job["id"])
    assert checked["status"] == "validated", checked
    return await run_import(client, key, db, settings, job["id"])


# -- presets and mapping ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "preset", "expected"),
    [
        (SHOPIFY, "shopify", {"Email": "email", "Default Address Country Code": "country",
                              "Accepts Email Marketing": "email_consent", "Tags": "tags",
                              "Customer ID": "external_id", "Phone": "phone"}),
        (HUBSPOT, "hubspot", {"Email": "email", "Country/Region": "country",
                              "Marketing contact status": "email_consent",
                              "Lifecycle Stage": "lifecycle_stage", "Record ID": "external_id"}),
        (MAILCHIMP, "mailchimp", {"Email Address": "email", "TAGS": "tags", "CC": "country",
                                  "OPTIN_TIME": "email_consent_at", "LEID": "external_id"}),
        (["email", "first_name", "last_name", "country", "email_consent", "custom.shoe_size"],
         "patron", {"email": "email", "first_name": "first_name", "country": "country"}),
    ],
)  # fmt: skip
def test_each_preset_is_recognised_and_maps_its_headers(
    headers: list[str], preset: str, expected: dict[str, str]
) -> None:
    assert fields.guess_preset("customers", headers) == preset
    mapping = fields.auto_mapping("customers", headers, preset)
    for header, field in expected.items():
        assert mapping[header] == field
    assert "Total Spent" not in mapping
    assert len(set(mapping.values())) == len(mapping), "a field is mapped twice"


def test_the_fast_email_check_agrees_with_the_validator() -> None:
    samples = [
        "Ada.Lovelace@Example.COM", "o'brien+tag@mail.co.uk", "a@b.io", "x@shop.test",
        "x@localhost", "bad@@example.com", ".dot@example.com", "dot.@example.com",
        "a..b@example.com", "user@-bad.com", "user@bad-.com", "user@123.456",
        "jöhn@exämple.com", "user@xn--bcher-kva.ch", "a" * 65 + "@example.com",
        "user@example", "user@exa_mple.com", " spaced@example.com ",
    ]  # fmt: skip
    for sample in samples:
        try:
            expected: str | None = normalise_email(sample)
        except Exception:
            expected = None
        try:
            got: str | None = values.email(sample)
        except values.CellError:
            got = None
        assert got == expected, sample


def test_dates_are_read_in_common_formats_and_ambiguity_is_reported() -> None:
    assert str(values.parse_date("1990-05-31")) == "1990-05-31"
    assert str(values.parse_date("31/05/1990")) == "1990-05-31"
    assert str(values.parse_date("05/31/1990")) == "1990-05-31"
    assert str(values.parse_date("31.05.1990")) == "1990-05-31"
    assert str(values.parse_date("May 31, 1990")) == "1990-05-31"
    assert str(values.parse_date("04/05/1990", "dmy")) == "1990-05-04"
    with pytest.raises(values.CellError) as ambiguous:
        values.parse_date("04/05/1990")
    assert ambiguous.value.code == "ambiguous_date"
    with pytest.raises(values.CellError) as impossible:
        values.parse_date("1990-02-30")
    assert impossible.value.code == "invalid_date"


# -- dry run -----------------------------------------------------------------------------------


async def test_the_dry_run_reports_each_bad_row_with_its_number_and_column(
    client: httpx2.AsyncClient, admin_key: str, db: AsyncSession, settings: Settings
) -> None:
    content = make_csv(
        [
            ["email", "first_name", "country", "birthday", "phone"],
            ["ada@example.com", "Ada", "GB", "1990-05-31", "+44 20 7946 0958"],
            ["not-an-email", "Bob", "DE", "", ""],
            ["cy@example.com", "Cy", "Atlantis", "", ""],
            ["di@example.com", "Di", "FR", "31/31/1990", ""],
            ["ADA@example.com", "Ada again", "GB", "", ""],
            ["ed@example.com", "Ed", "US", "", "12"],
            ["", "", "", "", ""],
            ["fay@example.com", "Fay", "", "", ""],
        ]
    )
    job = await uploaded(client, admin_key, content)
    assert job["preset"] == "patron"
    result = await dry_run(client, admin_key, db, settings, job["id"])
    assert result["status"] == "validated"
    assert result["total_rows"] == 8
    assert (result["would_insert"], result["would_update"]) == (2, 0)
    problems = {(e["row"], e["column"], e["code"]) for e in result["errors_sample"]}
    assert problems == {
        (3, "email", "invalid_email"),
        (4, "country", "invalid_country"),
        (5, "birthday", "invalid_date"),
        (6, "email", "duplicate_in_file"),
        (7, "phone", "invalid_phone"),
    }
    report = await client.get(f"/api/v1/imports/{job['id']}/errors.csv", headers=bearer(admin_key))
    assert report.status_code == 200
    lines = list(csv.reader(io.StringIO(report.text)))
    assert lines[0] == ["row", "column", "value", "code", "message"]
    assert lines[1][:3] == ["3", "email", "not-an-email"]


async def test_the_dry_run_counts_updates_of_existing_customers(
    client: httpx2.AsyncClient, admin_key: str, db: AsyncSession, settings: Settings
) -> None:
    db.add(Customer(email="known@example.com", first_name="Known"))
    await db.flush()
    content = make_csv([["Email"], ["KNOWN@example.com"], ["new@example.com"]])
    job = await uploaded(client, admin_key, content)
    result = await dry_run(client, admin_key, db, settings, job["id"])
    assert (result["would_insert"], result["would_update"]) == (1, 1)


async def test_a_dry_run_needs_the_matching_column_mapped(
    client: httpx2.AsyncClient, admin_key: str
) -> None:
    job = await uploaded(client, admin_key, make_csv([["Mail", "Name"], ["a@example.com", "A"]]))
    assert "Mail" not in job["mapping"]
    refused = await client.post(f"/api/v1/imports/{job['id']}/dry-run", headers=bearer(admin_key))
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "mapping_incomplete"
    mapped = await client.patch(
        f"/api/v1/imports/{job['id']}",
        headers=bearer(admin_key),
        json={"mapping": {"Mail": "email", "Name": "full_name"}},
    )
    assert mapped.status_code == 200, mapped.text
    assert mapped.json()["mapping"] == {"Mail": "email", "Name": "full_name"}
    wrong = await client.patch(
        f"/api/v1/imports/{job['id']}",
        headers=bearer(admin_key),
        json={"mapping": {"Mail": "password"}},
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "invalid_mapping"


# -- import --------------------------------------------------------------------------------


async def test_an_import_inserts_then_a_second_file_updates_by_email(
    client: httpx2.AsyncClient, admin_key: str, db: AsyncSession, settings: Settings
) -> None:
    first = make_csv(
        [
            ["email", "first_name", "last_name", "tags", "email_consent", "address_line1",
             "city", "postal_code", "country", "phone"],
            ["ada@example.com", "Ada", "Lovelace", "vip, london", "yes", "12 St James's Sq",
             "London", "SW1Y 4JH", "GB", "020 7946 0958"],
            ["bob@example.com", "Bob", "", "", "no", "", "", "", "", ""],
        ]
    )  # fmt: skip
    done = await full_import(client, admin_key, db, settings, first)
    assert done["status"] == "completed", done
    assert (done["inserted"], done["updated"], done["error_count"]) == (2, 0, 0)
    ada = await db.scalar(select(Customer).where(Customer.email == "ada@example.com"))
    assert ada is not None
    assert (ada.first_name, ada.last_name, ada.tags, ada.phone) == (
        "Ada", "Lovelace", ["vip", "london"], "+442079460958",
    )  # fmt: skip
    address = await db.scalar(select(CustomerAddress).where(CustomerAddress.customer_id == ada.id))
    assert address is not None
    assert address.is_default_billing
    assert address.city == "London"
    consent = await db.scalar(select(Consent).where(Consent.customer_id == ada.id))
    assert consent is not None
    assert consent.status == "subscribed"

    second = make_csv(
        [["email", "first_name", "last_name", "tags", "email_consent"],
         ["ADA@example.com", "Augusta Ada", "", "newsletter", "unsubscribed"],
         ["cy@example.com", "Cy", "", "", ""]]
    )  # fmt: skip
    again = await full_import(client, admin_key, db, settings, second)
    assert (again["inserted"], again["updated"]) == (1, 1)
    await db.refresh(ada)
    assert (ada.first_name, ada.last_name) == ("Augusta Ada", "Lovelace"), "empty cells keep data"
    assert ada.tags == ["vip", "london", "newsletter"]
    history = list(
        await db.scalars(
            select(ConsentEvent.status)
            .where(ConsentEvent.customer_id == ada.id)
            .order_by(ConsentEvent.occurred_at)
        )
    )
    assert history == ["subscribed", "unsubscribed"]
    assert await db.scalar(select(func.count()).select_from(Customer)) == 3
    entries = await db.scalar(
        text("SELECT count(*) FROM timeline_entry WHERE customer_id = :id AND kind = 'import'"),
        {"id": ada.id},
    )
    assert entries == 1, "an updated customer gets one timeline entry per import"
    assert "import.completed" in await audit_actions(db, again["id"])


async def test_an_import_by_external_id_updates_the_customer_even_if_the_email_changed(
    client: httpx2.AsyncClient, admin_key: str, db: AsyncSession, settings: Settings
) -> None:
    headers = ["Customer ID", "First Name", "Last Name", "Email", "Accepts Email Marketing",
               "Default Address Country Code", "Total Spent", "Tags"]  # fmt: skip
    first = make_csv([headers, ["701", "Ada", "L", "ada@example.com", "yes", "GB", "10.00", ""]])
    job = await uploaded(client, admin_key, first)
    assert job["preset"] == "shopify"
    patched = await client.patch(
        f"/api/v1/imports/{job['id']}", headers=bearer(admin_key), json={"match_on": "external_id"}
    )
    assert patched.status_code == 200, patched.text
    await dry_run(client, admin_key, db, settings, job["id"])
    done = await run_import(client, admin_key, db, settings, job["id"])
    assert done["inserted"] == 1, done

    second = make_csv([headers, ["701", "Ada", "King", "ada.king@example.com", "no", "GB", "", ""]])
    job2 = await uploaded(client, admin_key, second)
    await client.patch(
        f"/api/v1/imports/{job2['id']}", headers=bearer(admin_key), json={"match_on": "external_id"}
    )
    checked = await dry_run(client, admin_key, db, settings, job2["id"])
    assert (checked["would_insert"], checked["would_update"]) == (0, 1)
    again = await run_import(client, admin_key, db, settings, job2["id"])
    assert (again["inserted"], again["updated"]) == (0, 1)
    customers = list(await db.scalars(select(Customer)))
    assert [(c.email, c.last_name) for c in customers] == [("ada.king@example.com", "King")]
    link = await db.scalar(select(CustomerExternalId))
    assert link is not None
    assert link.external_id == "701"


async def test_a_known_address_is_not_added_twice_and_a_new_one_is_not_the_default(
    client: httpx2.AsyncClient, admin_key: str, db: AsyncSession, settings: Settings
) -> None:
    header = ["email", "address_line1", "city", "postal_code", "country"]
    first = make_csv([header, ["ada@example.com", "12 High St", "London", "N1 1AA", "GB"]])
    assert (await full_import(client, admin_key, db, settings, first))["inserted"] == 1
    second = make_csv(
        [header,
         ["ada@example.com", "12 HIGH ST", "London", "N1 1AA", "GB"],
         ["bob@example.com", "1 Low Rd", "Leeds", "LS1 1AA", "GB"]]
    )  # fmt: skip
    assert (await full_import(client, admin_key, db, settings, second))["updated"] == 1
    third = make_csv([header, ["ada@example.com", "3 New Rd", "Bath", "BA1 1AA", "GB"]])
    assert (await full_import(client, admin_key, db, settings, third))["updated"] == 1
    rows = (
        await db.execute(
            select(
                Customer.email,
                CustomerAddress.line1,
                CustomerAddress.is_default_billing,
                CustomerAddress.is_default_shipping,
            )
            .join(Customer, Customer.id == CustomerAddress.customer_id)
            .order_by(Customer.email, CustomerAddress.created_at, CustomerAddress.line1)
        )
    ).all()
    assert [tuple(row) for row in rows] == [
        ("ada@example.com", "12 High St", True, True),
        ("ada@example.com", "3 New Rd", False, False),
        ("bob@example.com", "1 Low Rd", True, True),
    ]


async def test_an_email_a_customer_has_as_another_address_updates_that_customer(
    client: httpx2.AsyncClient, admin_key: str, db: AsyncSession, settings: Settings
) -> None:
    ada = Customer(email="ada@example.com", first_name="Ada", last_name="L")
    db.add(ada)
    await db.flush()
    db.add(CustomerEmail(customer_id=ada.id, email="ada.work@example.com", label="work"))
    await db.flush()
    content = make_csv(
        [["email", "last_name", "tags", "email_consent"],
         ["ADA.WORK@example.com", "Lovelace", "vip", "yes"],
         ["bob@example.com", "Bob", "", ""]]
    )  # fmt: skip
    job = await uploaded(client, admin_key, content)
    checked = await dry_run(client, admin_key, db, settings, job["id"])
    assert (checked["would_insert"], checked["would_update"]) == (1, 1)
    done = await run_import(client, admin_key, db, settings, job["id"])
    assert (done["inserted"], done["updated"], done["error_count"]) == (1, 1, 0), done
    await db.refresh(ada)
    assert (ada.email, ada.last_name, ada.tags) == ("ada@example.com", "Lovelace", ["vip"])
    assert await db.scalar(select(func.count()).select_from(Customer)) == 2
    consent = await db.scalar(select(Consent.status).where(Consent.customer_id == ada.id))
    assert consent == "subscribed"


async def test_tabs_backslashes_quotes_and_braces_are_stored_as_written(
    client: httpx2.AsyncClient, admin_key: str, db: AsyncSession, settings: Settings
) -> None:
    db.add(CustomFieldDefinition(entity="customer", key="motto", label="Motto", field_type="text"))
    await db.flush()
    odd = 'a\\tb\tc "q" {x,y} \\N'
    content = make_csv(
        [["email", "first_name", "last_name", "company", "tags", "motto", "address_line1",
          "city", "country"],
         ["odd@example.com", odd, "Line\nbreak", "NULL", 'x\\y; "z"; {w}; NULL', odd,
          "1 Back\\slash Rd", "C:\\Temp", "GB"]]
    )  # fmt: skip
    job = await uploaded(client, admin_key, content)
    assert job["mapping"]["motto"] == "custom.motto"
    await dry_run(client, admin_key, db, settings, job["id"])
    done = await run_import(client, admin_key, db, settings, job["id"])
    assert (done["inserted"], done["error_count"]) == (1, 0), done
    odd_one = await db.scalar(select(Customer).where(Customer.email == "odd@example.com"))
    assert odd_one is not None
    assert (odd_one.first_name, odd_one.last_name, odd_one.company) == (odd, "Line\nbreak", "NULL")
    assert odd_one.tags == ["x\\y", '"z"', "{w}", "NULL"]
    assert odd_one.custom_fields == {"motto": odd}
    address = await db.scalar(
        select(CustomerAddress).where(CustomerAddress.customer_id == odd_one.id)
    )
    assert address is not None
    assert (address.line1, address.city) == ("1 Back\\slash Rd", "C:\\Temp")


async def test_a_crashed_import_resumes_without_duplicating_rows(
    client: httpx2.AsyncClient, admin_key: str, db: AsyncSession, settings: Settings
) -> None:
    rows = [["email", "first_name"]] + [[f"p{i}@example.com", f"P{i}"] for i in range(10)]
    rows.insert(5, ["broken", "X"])
    job = await uploaded(client, admin_key, make_csv(rows))
    await dry_run(client, admin_key, db, settings, job["id"])
    await client.post(f"/api/v1/imports/{job['id']}/start", headers=bearer(admin_key))
    await runner.run_import(
        units(db), settings, uuid.UUID(job["id"]), batch_size=3, stop_after_batches=2
    )
    halfway = await db.get(ImportJob, uuid.UUID(job["id"]))
    assert halfway is not None
    await db.refresh(halfway)
    assert (halfway.status, halfway.processed_rows, halfway.inserted) == ("importing", 6, 5)
    assert await db.scalar(select(func.count()).select_from(Customer)) == 5

    # the worker died: the job stays "importing"; the same job function picks it up again
    await runner.run_import(units(db), settings, uuid.UUID(job["id"]), batch_size=3)
    await db.refresh(halfway)
    assert (halfway.status, halfway.processed_rows) == ("completed", 11)
    assert (halfway.inserted, halfway.updated, halfway.error_count) == (10, 0, 1)
    assert await db.scalar(select(func.count()).select_from(Customer)) == 10
    report = await client.get(f"/api/v1/imports/{job['id']}/errors.csv", headers=bearer(admin_key))
    assert [line[0] for line in csv.reader(io.StringIO(report.text))] == ["row", "6"]


async def test_a_batch_that_dies_after_its_stage_copy_is_imported_again_once(
    client: httpx2.AsyncClient,
    admin_key: str,
    db: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [["email", "first_name", "email_consent"]]
    rows += [[f"p{i}@example.com", f"P{i}", "yes"] for i in range(7)]
    job = await uploaded(client, admin_key, make_csv(rows))
    await dry_run(client, admin_key, db, settings, job["id"])
    await client.post(f"/api/v1/imports/{job['id']}/start", headers=bearer(admin_key))
    marked = mark_selected_customers_changed
    calls = 0

    async def dies_in_the_second_batch(session: AsyncSession, selected: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # staged, customers and consents written, not committed
            raise runner.Stop
        await marked(session, selected)

    monkeypatch.setattr(
        "patron.imports.customers.mark_selected_customers_changed", dies_in_the_second_batch
    )
    await runner.run_import(units(db), settings, uuid.UUID(job["id"]), batch_size=3)
    halfway = await db.get(ImportJob, uuid.UUID(job["id"]))
    assert halfway is not None
    await db.refresh(halfway)
    assert (halfway.status, halfway.processed_rows, halfway.inserted) == ("importing", 3, 3)
    assert await db.scalar(select(func.count()).select_from(Customer)) == 3

    await runner.run_import(units(db), settings, uuid.UUID(job["id"]), batch_size=3)
    await db.refresh(halfway)
    assert (halfway.status, halfway.inserted, halfway.updated, halfway.error_count) == (
        "completed", 7, 0, 0,
    )  # fmt: skip
    for model in (Customer, Consent, ConsentEvent, SegmentChangedCustomer):
        assert await db.scalar(select(func.count()).select_from(model)) == 7, model
    assert await db.scalar(text("SELECT count(*) FROM timeline_entry")) == 0


async def test_one_batch_may_update_a_customer_twice_and_insert_beside_it(
    client: httpx2.AsyncClient, admin_key: str, db: AsyncSession, settings: Settings
) -> None:
    ada = Customer(email="ada@example.com", first_name="Ada", last_name="L")
    db.add(ada)
    await db.flush()
    db.add(CustomerEmail(customer_id=ada.id, email="ada.work@example.com", label="work"))
    await db.flush()
    content = make_csv(
        [["email", "last_name", "tags", "email_consent", "address_line1", "city", "country"],
         ["ada@example.com", "", "vip", "yes", "1 Home Rd", "Bath", "GB"],
         ["new@example.com", "New", "", "", "", "", ""],
         ["Ada.Work@example.com", "Lovelace", "work", "no", "2 Office St", "Leeds", "GB"],
         ["NEW@example.com", "Again", "", "", "", "", ""]]
    )  # fmt: skip
    job = await uploaded(client, admin_key, content)
    await dry_run(client, admin_key, db, settings, job["id"])
    response = await client.post(f"/api/v1/imports/{job['id']}/start", headers=bearer(admin_key))
    assert response.status_code == 202, response.text
    await runner.run_import(units(db), settings, uuid.UUID(job["id"]), batch_size=10)
    done = await db.get(ImportJob, uuid.UUID(job["id"]))
    assert done is not None
    await db.refresh(done)
    assert (done.status, done.inserted, done.updated, done.error_count) == (
        "completed", 1, 2, 1,
    )  # fmt: skip
    assert done.errors_sample[0]["code"] == "duplicate_in_file"
    assert done.errors_sample[0]["row"] == 5
    await db.refresh(ada)
    assert (ada.email, ada.last_name, sorted(ada.tags)) == ("ada@example.com", "Lovelace", [
        "vip", "work",
    ])  # fmt: skip
    new = await db.scalar(select(Customer).where(Customer.email == "new@example.com"))
    assert new is not None
    assert new.last_name == "New"
    assert await db.scalar(select(func.count()).select_from(Customer)) == 2
    # one address, one consent, one timeline entry and one segment mark for Ada
    addresses = await db.scalars(
        select(CustomerAddress.line1).where(CustomerAddress.customer_id == ada.id)
    )
    assert len(list(addresses)) == 1
    assert (
        await db.scalar(
            select(func.count()).select_from(Consent).where(Consent.customer_id == ada.id)
        )
        == 1
    )
    entries = await db.scalar(
        text("SELECT count(*) FROM timeline_entry WHERE customer_id = :id AND kind = 'import'"),
        {"id": ada.id},
    )
    assert entries == 1
    marked = set(await db.scalars(select(SegmentChangedCustomer.customer_id)))
    assert marked == {ada.id, new.id}
    waiting = await db.scalar(
        text(
            "SELECT count(*) FROM procrastinate_jobs"
            " WHERE task_name = 'segments.refresh_changed' AND status = 'todo'"
        )
    )
    assert waiting == 1


async def test_a_stalled_import_can_be_started_again(
    client: httpx2.AsyncClient, admin_key: str, db: AsyncSession, settings: Settings
) -> None:
    job = await uploaded(client, admin_key, make_csv([["email"], ["a@example.com"]]))
    await dry_run(client, admin_key, db, settings, job["id"])
    await client.post(f"/api/v1/imports/{job['id']}/start", headers=bearer(admin_key))
    busy = await client.post(f"/api/v1/imports/{job['id']}/start", headers=bearer(admin_key))
    assert busy.status_code == 409
    await db.execute(
        text("UPDATE import_job SET status = 'importing', updated_at = now() - interval '1 hour'"
             " WHERE id = :id"),
        {"id": job["id"]},
    )  # fmt: skip
    again = await client.post(f"/api/v1/imports/{job['id']}/start", headers=bearer(admin_key))
    assert again.status_code == 202


# -- hostile and odd files -------------------------------------------------------------------


async def test_a_cp1252_file_with_accents_imports_correctly(
    client: httpx2.AsyncClient, admin_key: str, db: AsyncSession, settings: Settings
) -> None:
    content = make_csv(
        [["email", "first_name", "last_name"], ["zoe@example.com", "Zoë", "Müller-Lüdenscheidt"]],
        delimiter=";",
        encoding="cp1252",
    )
    job = await uploaded(client, admin_key, content)
    assert (job["encoding"], job["delimiter"]) == ("cp1252", ";")
    done = await full_import(client, admin_key, db, settings, content)
    assert done["inserted"] == 1
    zoe = await db.scalar(select(Customer).where(Customer.email == "zoe@example.com"))
    assert zoe is not None
    assert (zoe.first_name, zoe.last_name) == ("Zoë", "Müller-Lüdenscheidt")


async def test_utf16_and_bom_files_are_read(client: httpx2.AsyncClient, admin_key: str) -> None:
    rows = [["Email", "First Name"], ["jo@example.com", "Jō"]]
    sixteen = await uploaded(client, admin_key, make_csv(rows, delimiter="\t", encoding="utf-16"))
    assert (sixteen["encoding"], sixteen["delimiter"]) == ("utf-16", "\t")
    assert sixteen["headers"] == ["Email", "First Name"]
    bom = await uploaded(client, admin_key, make_csv(rows, encoding="utf-8-sig"))
    assert bom["headers"][0] == "Email"


@pytest.mark.parametrize(
    "content",
    [
        bytes(range(256)) * 40,
        b"email,name\n\x00\x01\x02\x03binary\x00\x00\n",
        b"\x89PNG\r\n\x1a\n" + bytes(range(7, 250)) * 20,
    ],
)
async def test_binary_garbage_is_refused_as_unreadable(
    client: httpx2.AsyncClient, admin_key: str, content: bytes
) -> None:
    response = await upload(client, admin_key, content)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unreadable_file"


async def test_an_empty_file_and_a_zip_that_is_not_a_workbook_are_refused(
    client: httpx2.AsyncClient, admin_key: str
) -> None:
    empty = await upload(client, admin_key, b"")
    assert empty.json()["error"]["code"] == "empty_file"
    archive = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("hello.txt", "hi")
    response = await upload(client, admin_key, archive.getvalue(), filename="x.xlsx")
    assert response.json()["error"]["code"] == "unsupported_format"


async def test_formula_cells_are_imported_as_text_and_neutralised_in_the_report(
    client: httpx2.AsyncClient, admin_key: str, db: AsyncSession, settings: Settings
) -> None:
    content = make_csv(
        [
            ["email", "first_name", "country"],
            ["eve@example.com", '=HYPERLINK("http://evil.test","x")', "GB"],
            ["mal@example.com", "Mal", "=1+2"],
            ["@SUM(A1)", "Sam", "GB"],
        ]
    )
    job = await uploaded(client, admin_key, content)
    await dry_run(client, admin_key, db, settings, job["id"])
    report = await client.get(f"/api/v1/imports/{job['id']}/errors.csv", headers=bearer(admin_key))
    values_in_report = [line[2] for line in csv.reader(io.StringIO(report.text))][1:]
    assert values_in_report == ["'=1+2", "'@SUM(A1)"]
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in report.text.splitlines())
    done = await run_import(client, admin_key, db, settings, job["id"])
    assert done["inserted"] == 1
    eve = await db.scalar(select(Customer).where(Customer.email == "eve@example.com"))
    assert eve is not None
    assert eve.first_name == '=HYPERLINK("http://evil.test","x")'


async def test_a_huge_cell_is_a_row_error_not_a_crash(
    client: httpx2.AsyncClient, admin_key: str, db: AsyncSession, settings: Settings
) -> None:
    content = make_csv(
        [
            ["email", "first_name"],
            ["big@example.com", "x" * 100_000],
            ["ok@example.com", "Ok"],
            ["long@example.com", "y" * 10, *(["z" * 60_000] * 20)],
            ["fine@example.com", "Fine"],
        ]
    )
    job = await uploaded(client, admin_key, content)
    result = await dry_run(client, admin_key, db, settings, job["id"])
    assert result["would_insert"] == 2
    assert [(e["row"], e["code"]) for e in result["errors_sample"]] == [
        (2, "unreadable_row"), (4, "unreadable_row"),
    ]  # fmt: skip
    assert "longer than" in result["errors_sample"][0]["message"]


async def test_a_file_over_the_size_limit_is_refused_with_413(
    client: httpx2.AsyncClient, admin_key: str, settings: Settings
) -> None:
    settings.import_max_bytes = 2048
    response = await upload(client, admin_key, b"email\n" + b"a@example.com\n" * 400)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"


async def test_an_xlsx_file_imports(
    client: httpx2.AsyncClient, admin_key: str, db: AsyncSession, settings: Settings
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Email Address", "First Name", "Last Name", "Phone Number", "OPTIN_TIME"])
    sheet.append(["mia@example.com", "Mia", "Wong", 4930123456, "2024-03-01 10:00:00"])
    sheet.append(["noah@example.com", "Noah", None, None, None])
    data = io.BytesIO()
    book.save(data)
    job = await uploaded(client, admin_key, data.getvalue(), filename="audience.xlsx")
    assert (job["file_format"], job["preset"]) == ("xlsx", "mailchimp")
    await client.patch(
        f"/api/v1/imports/{job['id']}",
        headers=bearer(admin_key),
        json={"options": {"default_country": "DE"}},
    )
    await dry_run(client, admin_key, db, settings, job["id"])
    done = await run_import(client, admin_key, db, settings, job["id"])
    assert (done["inserted"], done["error_count"]) == (2, 0), done
    mia = await db.scalar(select(Customer).where(Customer.email == "mia@example.com"))
    assert mia is not None
    assert mia.phone == "+4930123456"
    consent = await db.scalar(select(Consent).where(Consent.customer_id == mia.id))
    assert consent is not None
    assert consent.status == "subscribed", "Mailchimp: subscribed"
    assert consent.changed_at.year == 2024


# -- products and orders ---------------------------------------------------------------------


async def test_a_shopify_product_export_imports_products_with_variants(
    client: httpx2.AsyncClient, admin_key: str, db: AsyncSession, settings: Settings
) -> None:
    content = make_csv(
        [
            ["Handle", "Title", "Body (HTML)", "Vendor", "Type", "Tags", "Option1 Name",
             "Option1 Value", "Variant SKU", "Variant Price", "Variant Compare At Price",
             "Variant Inventory Qty", "Image Src", "Status"],
            ["tee", "Tee", "<p>Soft</p>", "Acme", "Shirts", "cotton", "Size", "S", "TEE-S",
             "19.00", "25.00", "4", "https://cdn.example.com/tee.jpg", "active"],
            ["tee", "", "", "", "", "", "", "M", "TEE-M", "19.00", "", "7", "", ""],
            ["mug", "Mug", "", "Acme", "", "", "Title", "Default Title", "MUG", "9.5", "", "1",
             "", "draft"],
        ]
    )  # fmt: skip
    done = await full_import(client, admin_key, db, settings, content, entity="products")
    assert (done["status"], done["error_count"]) == ("completed", 0), done
    tee = await db.scalar(select(Product).where(Product.handle == "tee"))
    assert tee is not None
    assert tee.title == "Tee"
    assert tee.images == ["https://cdn.example.com/tee.jpg"]
    skus = set(await db.scalars(select(ProductVariant.sku)))
    assert skus == {"TEE-S", "TEE-M", "MUG"}


async def test_orders_import_groups_lines_by_number_and_creates_customers(
    client: httpx2.AsyncClient, admin_key: str, db: AsyncSession, settings: Settings
) -> None:
    content = make_csv(
        [
            ["number", "email", "customer_name", "placed_at", "currency", "financial_status",
             "line_sku", "line_title", "line_quantity", "line_unit_price", "total"],
            ["1001", "ann@example.com", "Ann Lee", "2024-01-05T10:00:00Z", "EUR", "paid",
             "A1", "Alpha", "2", "10.00", "25.00"],
            ["1001", "ann@example.com", "", "", "", "", "B1", "Beta", "1", "5.00", ""],
            ["1002", "ann@example.com", "", "2024-02-01", "EUR", "paid", "", "Gamma", "1",
             "7.00", ""],
        ]
    )  # fmt: skip
    job = await uploaded(client, admin_key, content, entity="orders")
    await dry_run(client, admin_key, db, settings, job["id"])
    done = await run_import(client, admin_key, db, settings, job["id"])
    assert (done["status"], done["inserted"], done["error_count"]) == ("completed", 2, 0), done
    rows = (
        await db.execute(text("SELECT number, total, items_count FROM shop_order ORDER BY number"))
    ).all()
    assert [(r[0], str(r[1]), r[2]) for r in rows] == [("1001", "25.00", 3), ("1002", "7.00", 1)]
    spent = await db.scalar(text("SELECT orders_count FROM customer_metrics"))
    assert spent == 2


# -- permissions and mappings ----------------------------------------------------------------


@pytest.mark.parametrize("role", ["marketing", "analyst"])
async def test_roles_without_customers_write_cannot_import(
    role: str, client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    key = await make_key(await make_user(role))
    response = await upload(client, key, make_csv([["email"], ["a@example.com"]]))
    assert response.status_code == 403
    assert (await client.get("/api/v1/imports", headers=bearer(key))).status_code == 403


async def test_a_sales_rep_may_import_customers_but_not_products(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    key = await make_key(await make_user("sales"))
    content = make_csv([["email"], ["a@example.com"]])
    assert (await upload(client, key, content)).status_code == 201
    refused = await upload(client, key, content, entity="products")
    assert refused.status_code == 403


async def test_saved_mappings_can_be_created_applied_renamed_and_deleted(
    client: httpx2.AsyncClient, admin_key: str
) -> None:
    created = await client.post(
        "/api/v1/import-mappings",
        headers=bearer(admin_key),
        json={"entity": "customers", "name": "Old CRM", "mapping": {"Mail": "email"}},
    )
    assert created.status_code == 201, created.text
    mapping_id = created.json()["id"]
    clash = await client.post(
        "/api/v1/import-mappings",
        headers=bearer(admin_key),
        json={"entity": "customers", "name": "Old CRM", "mapping": {}},
    )
    assert clash.status_code == 409
    job = await uploaded(client, admin_key, make_csv([["Mail"], ["a@example.com"]]))
    applied = await client.patch(
        f"/api/v1/imports/{job['id']}", headers=bearer(admin_key), json={"mapping_id": mapping_id}
    )
    assert applied.json()["mapping"] == {"Mail": "email"}
    renamed = await client.patch(
        f"/api/v1/import-mappings/{mapping_id}", headers=bearer(admin_key), json={"name": "CRM"}
    )
    assert renamed.json()["name"] == "CRM"
    listed = await client.get("/api/v1/import-mappings", headers=bearer(admin_key))
    assert [m["name"] for m in listed.json()] == ["CRM"]
    gone = await client.delete(f"/api/v1/import-mappings/{mapping_id}", headers=bearer(admin_key))
    assert gone.status_code == 204


async def test_a_running_import_can_be_cancelled_and_stops_after_its_batch(
    client: httpx2.AsyncClient, admin_key: str, db: AsyncSession, settings: Settings
) -> None:
    rows = [["email"]] + [[f"c{i}@example.com"] for i in range(9)]
    job = await uploaded(client, admin_key, make_csv(rows))
    await dry_run(client, admin_key, db, settings, job["id"])
    await client.post(f"/api/v1/imports/{job['id']}/start", headers=bearer(admin_key))
    await runner.run_import(
        units(db), settings, uuid.UUID(job["id"]), batch_size=3, stop_after_batches=1
    )
    cancelled = await client.post(f"/api/v1/imports/{job['id']}/cancel", headers=bearer(admin_key))
    assert cancelled.json()["status"] == "cancelled"
    await runner.run_import(units(db), settings, uuid.UUID(job["id"]), batch_size=3)
    assert await db.scalar(select(func.count()).select_from(Customer)) == 3


# -- panel -----------------------------------------------------------------------------------


async def test_the_panel_uploads_maps_checks_and_imports_a_file(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession, settings: Settings
) -> None:
    from tests.conftest import form_token, sign_in

    person = await make_user("admin")
    await sign_in(client, person)
    token = await form_token(client, "/imports/new")
    content = make_csv([["Mail", "Name"], ["ivy@example.com", "Ivy Ng"], ["bad", "X"]])
    uploaded_page = await client.post(
        "/imports/new",
        data={"csrf_token": token, "entity": "customers"},
        files={"file": ("people.csv", content, "text/csv")},
    )
    assert uploaded_page.status_code == 303, uploaded_page.text
    location = uploaded_page.headers["location"]
    page = await client.get(location)
    assert 'name="col-0"' in page.text
    mapped = await client.post(
        f"{location}/mapping",
        data={"csrf_token": token, "col-0": "email", "col-1": "full_name", "preset": "patron",
              "match_on": "email", "date_order": "auto", "then": "dry-run"},
    )  # fmt: skip
    assert mapped.status_code == 303, mapped.text
    job_id = uuid.UUID(location.rsplit("/", 1)[-1])
    assert "hx-trigger" in (await client.get(f"{location}/progress")).text
    await runner.dry_run(units(db), settings, job_id)
    checked = await client.get(location)
    assert "data-would-insert" in checked.text
    assert "not a valid email" in checked.text
    started = await client.post(f"{location}/start", data={"csrf_token": token})
    assert started.status_code == 303
    await runner.run_import(units(db), settings, job_id)
    done = await client.get(location)
    assert "data-import-done" in done.text
    ivy = await db.scalar(select(Customer).where(Customer.email == "ivy@example.com"))
    assert ivy is not None
    assert (ivy.first_name, ivy.last_name) == ("Ivy", "Ng")
    history = await client.get("/imports")
    assert "people.csv" in history.text
    report = await client.get(f"{location}/errors.csv")
    assert report.status_code == 200
    assert "invalid_email" in report.text


# -- an import meeting a bulk action on the same customers queues, never deadlocks -----------


async def test_an_import_and_a_bulk_action_on_the_same_customers_queue_instead_of_deadlocking(
    isolated_database: IsolatedDatabase, job_settings: Settings
) -> None:
    settings = job_settings
    database = isolated_database.database
    async with database.transaction() as db:
        admin = await users.create_user(
            db, settings, actor=SYSTEM, email="boss@shop.test", name="Boss", role="admin",
            password=PASSWORD, send_invite=False,
        )  # fmt: skip
        first, second = sorted(
            [
                Customer(id=new_id(), email=f"{name}@example.com", first_name=name)
                for name in ("ann", "bob")
            ],
            key=lambda customer: customer.id,
        )
        db.add_all([first, second])
    target = customers_import.Target(
        match_on="email", channel_id=uuid.uuid4(), mapped={"email", "first_name"},
        source="import: race.csv", actor_type="system", actor_id=None, actor_label="import",
        import_id=uuid.uuid4(), filename="race.csv", consents=(),
    )  # fmt: skip
    # the file names the customer with the larger id first
    records = [
        CustomerRecord(row=1, email=second.email, first_name="Robert"),
        CustomerRecord(row=2, email=first.email, first_name="Annie"),
    ]
    release = asyncio.Event()

    async def holding_the_first() -> None:  # an order change of the first customer, say
        async with database.transaction() as db:
            await db.execute(select(Customer.id).where(Customer.id == first.id).with_for_update())
            await release.wait()

    async def tagging_both() -> int:  # locks the first, then the second (id order)
        async with database.transaction() as db:
            principal = await principal_for(db, await db.get_one(StaffUser, admin.id))
            action = BulkAction(action="tag", ids=[first.id, second.id], tag="vip", confirm=True)
            return (await bulk.apply(db, settings, principal=principal, action=action)).changed

    async def importing() -> customers_import.WriteResult:
        async with database.transaction() as db:
            return await customers_import.write(db, target, records)

    holder = asyncio.create_task(holding_the_first())
    await asyncio.sleep(0.2)
    tagging = asyncio.create_task(tagging_both())  # queued first for the first customer
    await asyncio.sleep(0.3)
    loading = asyncio.create_task(importing())
    await asyncio.sleep(0.3)
    assert not tagging.done()
    assert not loading.done()
    release.set()
    await holder
    # without the import's id-ordered lock, it held the second customer while waiting for
    # the first, which the bulk action got next: one of the two died as a deadlock
    assert await asyncio.wait_for(tagging, timeout=10) == 2
    assert await asyncio.wait_for(loading, timeout=10) == customers_import.WriteResult(0, 2)
    async with database.transaction() as db:
        rows = (
            await db.execute(select(Customer.first_name, Customer.tags).order_by(Customer.id))
        ).all()
    assert [tuple(row) for row in rows] == [("Annie", ["vip"]), ("Robert", ["vip"])]
