"""The customer, cohort and staff report pages of the panel."""

from __future__ import annotations

import json
import re

import httpx2
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from patron.models import TimelineEntry
from tests.conftest import MakeUser, sign_in
from tests.test_reports_customers import (  # noqa: F401  (shop_fixture: the shop fixture)
    Shop,
    at,
    cohort_shop,
    march_shop,
    shop_fixture,
)

MARCH = "from=2025-03-01&to=2025-03-31&grain=week"


@pytest.fixture
async def analyst_client(client: httpx2.AsyncClient, make_user: MakeUser) -> httpx2.AsyncClient:
    await sign_in(client, await make_user("analyst"))
    return client


def chart(html: str, name: str) -> dict[str, object]:
    found = re.search(rf'<script type="application/json" id="{name}">(.*?)</script>', html, re.S)
    assert found, f"no data for {name}"
    data: dict[str, object] = json.loads(found.group(1))
    return data


def figure(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">.*?data-value>(.*?)</p>', html, re.S)
    assert found, name
    return found.group(1).strip()


async def test_the_customers_page_shows_headline_cards_charts_and_downloads(
    analyst_client: httpx2.AsyncClient, shop: Shop
) -> None:
    await march_shop(shop)
    response = await analyst_client.get(f"/reports/customers?{MARCH}")
    assert response.status_code == 200
    html = response.text
    assert figure(html, "new_customers") == "3"
    assert figure(html, "repeat_purchase_rate") == "50.0 %"
    assert figure(html, "lifetime_value") == "$102.00"
    assert "+56.9 %" in html  # lifetime value against February's
    assert "+50.0 pts" in html  # a rate moves in percentage points
    assert chart(html, "chart-customers") == {
        "labels": ["24 Feb", "03 Mar", "10 Mar", "17 Mar", "24 Mar", "31 Mar"],
        "datasets": [
            {"label": "New", "data": [0, 1, 2, 0, 0, 0]},
            {"label": "Returning", "data": [0, 1, 0, 1, 0, 0]},
        ],
    }
    assert chart(html, "chart-clv")["datasets"] == [
        {"label": "Lifetime value (USD)", "data": [120.0, 105.0]}  # Bob; Cara and Fay
    ]
    assert (
        'href="/api/v1/reports/customers.csv?from=2025-03-01&amp;to=2025-03-31&amp;grain=week"'
        in html
    )
    assert "<script>" not in html


async def test_the_customers_csv_link_downloads_with_the_panel_session(
    analyst_client: httpx2.AsyncClient, shop: Shop
) -> None:
    await march_shop(shop)
    response = await analyst_client.get(f"/api/v1/reports/customers.csv?{MARCH}")
    assert response.status_code == 200
    assert response.text.lstrip("\ufeff").startswith("bucket,new_customers,")


async def test_an_empty_period_says_so_instead_of_drawing_charts(
    analyst_client: httpx2.AsyncClient,
) -> None:
    for path, message in [
        ("/reports/customers", "No orders in this period"),
        ("/reports/cohorts", "No first orders in this period"),
    ]:
        response = await analyst_client.get(f"{path}?from=2019-01-01&to=2019-01-31")
        assert response.status_code == 200
        assert message in response.text
        assert "data-report-chart" not in response.text


@pytest.mark.parametrize("path", ["/reports/customers", "/reports/cohorts", "/reports/staff"])
async def test_a_bad_filter_is_explained_on_the_page(
    analyst_client: httpx2.AsyncClient, path: str
) -> None:
    response = await analyst_client.get(f"{path}?from=2025-03-10&to=2025-03-01")
    assert response.status_code == 422
    assert 'data-error-code="invalid_period"' in response.text
    assert "The period starts (2025-03-10) after it ends (2025-03-01)." in response.text
    # the form keeps what was typed, to correct it
    assert 'name="from" value="2025-03-10"' in response.text
    response = await analyst_client.get(f"{path}?grain=fortnight")
    assert response.status_code == 422
    assert "&#39;fortnight&#39; is not a grain" in response.text


async def test_the_cohort_page_shows_a_heat_mapped_matrix_with_a_sticky_first_column(
    analyst_client: httpx2.AsyncClient, shop: Shop
) -> None:
    await cohort_shop(shop)
    response = await analyst_client.get("/reports/cohorts?from=2025-01-01&to=2025-03-31")
    assert response.status_code == 200
    html = response.text
    january = re.search(r'<tr data-cohort="2025-01-01">(.*?)</tr>', html, re.S)
    assert january
    cells = re.findall(r'class="text-center cohort-cell (heat-\d+)"[^>]*>([^<]*)</td>', january[1])
    assert cells[:4] == [
        ("heat-7", "67 %"),
        ("heat-0", "0 %"),
        ("heat-3", "33 %"),
        ("heat-0", "0 %"),
    ]
    assert 'th scope="row" class="cohort-name">Jan 2025</th>' in html
    assert "/api/v1/reports/cohorts.csv?from=2025-01-01&amp;to=2025-03-31" in html
    assert 'id="period-grain"' not in html  # cohorts are by month whatever the grain


async def test_the_staff_table_sorts_by_any_column(
    client: httpx2.AsyncClient, db: AsyncSession, shop: Shop, make_user: MakeUser
) -> None:
    admin = await make_user("admin", name="Ann Admin")
    busy = await make_user("sales", name="Zed Busy")
    await shop.customer("Owned", owner=busy)
    for _ in range(3):
        db.add(
            TimelineEntry(
                customer_id=shop.customers["Owned"].id,
                kind="note",
                occurred_at=at("2025-03-05"),
                actor_type="user",
                actor_id=busy.user.id,
                summary="note",
            )
        )
    await db.flush()
    await sign_in(client, admin)
    by_name = (await client.get("/reports/staff?from=2025-03-01&to=2025-03-31")).text
    by_notes = (await client.get("/reports/staff?from=2025-03-01&to=2025-03-31&sort=notes")).text
    names = re.compile(r'<tr data-staff="([^"]+)">')
    assert names.findall(by_name).index(admin.email) < names.findall(by_name).index(busy.email)
    assert names.findall(by_notes)[0] == busy.email
    assert 'aria-sort="descending"><a class="sort-link" href="?from=2025-03-01' in by_notes
    assert "sort=-notes" in by_notes  # clicking again turns the order round
    assert f'href="/customers?owner={busy.user.id}"' in by_notes


async def test_the_report_pages_are_refused_without_reports_read(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    await sign_in(client, await make_user("support"))
    for path in ("/reports/customers", "/reports/cohorts", "/reports/staff"):
        assert (await client.get(path)).status_code == 403
