"""The reports pages of the panel: the sales dashboard and the products report, with data,
empty, with a bad filter, and refused to people without reports:read."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import httpx2
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from tests.conftest import MakeUser, sign_in
from tests.test_reports_sales import TODAY, build_shop, week


async def _analyst(client: httpx2.AsyncClient, make_user: MakeUser) -> None:
    await sign_in(client, await make_user("analyst"))


def _kpi(html: str, key: str) -> tuple[str, str]:
    found = re.search(
        rf'data-kpi="{key}".*?data-value>([^<]*)<.*?data-change="(\w+)"', html, re.DOTALL
    )
    assert found, key
    return found.group(1).strip(), found.group(2)


async def test_the_dashboard_shows_key_figures_with_their_change_charts_and_channels(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession, settings: Settings
) -> None:
    await build_shop(db, settings)
    await _analyst(client, make_user)
    page = await client.get("/reports", params=week())
    assert page.status_code == 200
    html = page.text
    assert _kpi(html, "revenue") == ("137.50", "up")
    assert _kpi(html, "orders") == ("3", "up")
    assert _kpi(html, "average_order_value") == ("45.83", "up")
    assert _kpi(html, "refunds") == ("12.50", "up")
    assert "243.8%" in html
    [revenue_chart] = re.findall(r'data-chart="bar" data-chart-data="([^"]*)"', html)
    chart = json.loads(unescape(revenue_chart))
    assert chart["labels"][0] == str(TODAY - timedelta(days=6))
    assert chart["datasets"][0]["data"][4] == "107.50"
    channels = html.split('data-table="channels"')[1].split("</table>")[0]
    assert channels.index("Web shop") < channels.index("Market stall")
    query = f"from={TODAY - timedelta(days=6)}&amp;to={TODAY}&amp;grain=day"
    assert f'href="/api/v1/reports/sales.csv?{query}"' in html
    assert f'href="/api/v1/reports/sales.csv?table=channels&amp;{query}"' in html
    for page_link in ("/reports/products", "/reports/customers", "/reports/staff", "/reports/rfm"):
        assert f'href="{page_link}?{query}"' in html
    assert re.search(r'nav-link active" href="/reports"\s+aria-current="page"', html)


async def test_the_csv_link_of_the_dashboard_downloads_with_the_panel_session(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession, settings: Settings
) -> None:
    await build_shop(db, settings)
    await _analyst(client, make_user)
    response = await client.get("/api/v1/reports/sales.csv", params={**week(), "table": "channels"})
    assert response.status_code == 200
    assert "Web shop" in response.text


async def test_an_empty_period_shows_zeros_and_says_there_were_no_sales(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    await _analyst(client, make_user)
    html = (await client.get("/reports", params={"from": "2020-01-01", "to": "2020-01-31"})).text
    assert "No sales in this period" in html
    assert _kpi(html, "revenue") == ("0.00", "flat")
    assert "data-chart=" not in html
    products = (
        await client.get("/reports/products", params={"from": "2020-01-01", "to": "2020-01-31"})
    ).text
    assert "Nothing sold in this period" in products


async def test_a_bad_date_is_shown_on_the_form_instead_of_a_report(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    await _analyst(client, make_user)
    for path in ("/reports", "/reports/products"):
        page = await client.get(path, params={"from": "2026-02-30", "to": "2026-03-01"})
        assert page.status_code == 422
        assert 'data-error="invalid_period"' in page.text
        assert "write from as YYYY-MM-DD" in page.text
        assert 'id="filter-from" name="from" value="2026-02-30"' in page.text.replace(
            'class="form-control is-invalid" type="date" ', ""
        )
        assert "data-kpi" not in page.text
    backwards = await client.get("/reports", params={"from": "2026-03-01", "to": "2026-02-01"})
    assert "starts (2026-03-01) after it ends (2026-02-01)" in backwards.text
    unknown = await client.get("/reports", params={"channel": "Atlantis"})
    assert unknown.status_code == 422
    assert "There is no sales channel" in unknown.text


async def test_the_products_page_lists_top_sellers_returns_and_pairs(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession, settings: Settings
) -> None:
    shop = await build_shop(db, settings)
    await _analyst(client, make_user)
    html = (await client.get("/reports/products", params={**week(), "channel": "Web shop"})).text
    top = html.split('data-table="top"')[1].split("</table>")[0]
    assert top.index("Linen Shirt") < top.index("Gift card")
    assert f'href="/products/{shop.catalog.shirt.product_id}"' in top
    assert "100.0%" in html.split('data-table="returns"')[1]
    assert "Linen Shirt <span" in html.split('data-table="pairs"')[1]
    assert "/api/v1/reports/products.csv?table=pairs&amp;" in html
    assert f'<option value="{shop.web.id}" selected>' in html


async def test_people_without_reports_read_see_neither_the_pages_nor_the_menu_entry(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    await sign_in(client, await make_user("support"))
    assert (await client.get("/reports")).status_code == 403
    assert (await client.get("/reports/products")).status_code == 403
    assert 'href="/reports"' not in (await client.get("/")).text


async def test_the_form_shows_the_period_a_report_covers_when_none_was_asked_for(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    await _analyst(client, make_user)
    html = (await client.get("/reports")).text
    first = TODAY - timedelta(days=29)
    assert f'id="filter-from" name="from" value="{first}"' in html
    assert f'id="filter-to" name="to" value="{TODAY}"' in html
