"""The RFM report: the API grid and CSV, the panel page, its click-through, who may see it."""

from __future__ import annotations

import csv
import io

import httpx2
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import rfm
from patron.models import AuditEvent
from tests.conftest import MakeKey, MakeUser, bearer, form_token, sign_in
from tests.test_rfm import NOW, build_shop, customer_with


async def test_the_api_counts_customers_per_cell_and_group(
    db: AsyncSession, client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    await build_shop(db)
    await customer_with(db, days=0, orders=0, spent=0)  # no orders: not in the grid
    await rfm.score_everyone(db, now=NOW)
    analyst = bearer(await make_key(await make_user("admin"), ["reports:read"]))

    response = await client.get("/api/v1/reports/rfm", headers=analyst)

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["scored"] is True
    assert report["customers"] == 10
    assert report["cut_points"]["orders_count"] == [2, 4, 6, 8]
    assert report["cut_points"]["monetary"] == ["20.00", "40.00", "60.00", "80.00"]
    cells = {(c["recency_score"], c["frequency_score"]): c for c in report["cells"]}
    assert len(cells) == 25
    assert [c["recency_score"] for c in report["cells"][:5]] == [5] * 5
    assert cells[5, 5] == {
        "recency_score": 5,
        "frequency_score": 5,
        "group": "champions",
        "customers": 1,
        "share": 0.1,
        "average_monetary": "100.00",
    }
    assert cells[1, 1]["customers"] == 0
    assert cells[1, 1]["average_monetary"] == "0.00"
    groups = {g["group"]: g for g in report["groups"]}
    assert list(groups) == [g.name for g in rfm.GROUPS]
    at_risk = groups["at_risk"]
    assert (at_risk["customers"], at_risk["share"], at_risk["average_monetary"]) == (
        3,
        0.3,
        "70.00",
    )
    assert at_risk["recency_scores"] == [1, 2]
    assert at_risk["frequency_scores"] == [3, 4]
    assert groups["lost"]["customers"] == 0
    assert sum(g["customers"] for g in report["groups"]) == 10


async def test_before_the_first_run_the_report_says_it_is_not_scored(
    db: AsyncSession, client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    await build_shop(db)
    analyst = bearer(await make_key(await make_user("marketing")))

    report = (await client.get("/api/v1/reports/rfm", headers=analyst)).json()

    assert report["scored"] is False
    assert report["cut_points"] is None
    assert report["customers"] == 0
    assert {c["customers"] for c in report["cells"]} == {0}


async def test_the_grid_counts_only_the_customers_the_caller_may_see(
    db: AsyncSession, client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    people = await build_shop(db)
    manager = await make_user("manager")
    for person in people[:3]:
        person.owner_id = manager.user.id
    await db.flush()
    await rfm.score_everyone(db, now=NOW)

    report = (
        await client.get("/api/v1/reports/rfm", headers=bearer(await make_key(manager)))
    ).json()

    assert report["customers"] == 3
    assert {g["group"]: g["customers"] for g in report["groups"] if g["customers"]} == {
        "champions": 1,
        "new_customers": 1,
        "promising": 1,
    }


async def test_the_csv_has_a_row_per_cell_or_per_group(
    db: AsyncSession, client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    await build_shop(db)
    await rfm.score_everyone(db, now=NOW)
    analyst = bearer(await make_key(await make_user("marketing")))

    response = await client.get("/api/v1/reports/rfm.csv", headers=analyst)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="rfm-cells.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert len(rows) == 25
    assert rows[0] == {
        "recency_score": "5",
        "frequency_score": "1",
        "group": "new_customers",
        "customers": "1",
        "share": "0.1000",
        "average_monetary": "10.00",
    }
    groups = await client.get("/api/v1/reports/rfm.csv?table=groups", headers=analyst)
    by_group = {
        row["group"]: row for row in csv.DictReader(io.StringIO(groups.text.lstrip("\ufeff")))
    }
    assert by_group["at_risk"]["customers"] == "3"
    assert by_group["at_risk"]["scores"] == "R 1–2, F 3–4"
    wrong = await client.get("/api/v1/reports/rfm.csv?table=people", headers=analyst)
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "validation_error"


async def test_people_without_reports_read_are_refused(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    sales = await make_user("sales")
    key = bearer(await make_key(sales))
    for path in ("/api/v1/reports/rfm", "/api/v1/reports/rfm.csv"):
        response = await client.get(path, headers=key)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "missing_scope"
    await sign_in(client, sales)
    assert (await client.get("/reports/rfm")).status_code == 403


async def test_the_page_shows_the_grid_with_links_to_the_customers_of_each_cell(
    db: AsyncSession, client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    people = await build_shop(db)
    await rfm.score_everyone(db, now=NOW)
    await sign_in(client, await make_user("marketing"))

    page = await client.get("/reports/rfm")

    assert page.status_code == 200
    html = page.text
    assert 'data-cell="14"' in html
    assert 'href="/customers?recency_score=1&amp;frequency_score=4"' in html
    assert 'href="/customers?rfm_group=cant_lose">Can&#39;t lose them</a>' in html
    assert "Score again now" not in html  # marketing is not an administrator
    assert "up to 2 days" in html
    assert "over 8 orders" in html

    listed = await client.get("/customers?recency_score=1&frequency_score=4")
    assert listed.status_code == 200
    assert f"/customers/{people[8].id}" in listed.text
    assert all(f'/customers/{p.id}"' not in listed.text for p in people if p != people[8])
    assert "Recency score 1" in listed.text
    assert "Frequency score 4" in listed.text

    grouped = await client.get("/customers?rfm_group=at_risk")
    assert {p.id for p in people if f"/customers/{p.id}" in grouped.text} == {
        people[6].id,
        people[8].id,
        people[9].id,
    }


async def test_a_bad_score_in_the_list_address_is_explained_not_fatal(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    await sign_in(client, await make_user("marketing"))

    page = await client.get("/customers?recency_score=9&rfm_group=whales")

    assert page.status_code == 200
    assert "Ignored a filter" in page.text


async def test_before_the_first_run_an_administrator_can_score_now(
    db: AsyncSession, client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    await sign_in(client, await make_user("admin"))

    page = await client.get("/reports/rfm")
    assert "No RFM scores yet" in page.text
    assert "data-score-now" in page.text

    response = await client.post(
        "/reports/rfm/score", data={"csrf_token": await form_token(client, "/reports/rfm")}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/reports/rfm"
    again = await client.post(
        "/reports/rfm/score", data={"csrf_token": await form_token(client, "/reports/rfm")}
    )
    assert again.status_code == 303
    jobs = await db.scalar(
        text(
            "SELECT count(*) FROM procrastinate_jobs"
            " WHERE task_name = 'analytics.rfm_score' AND status = 'todo'"
        )
    )
    assert jobs == 1  # a run already waiting is not queued twice
    actions = await db.scalars(
        select(AuditEvent.action).where(AuditEvent.action == "rfm.score_requested")
    )
    assert len(list(actions)) == 2


async def test_score_now_is_for_administrators(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    await sign_in(client, await make_user("marketing"))
    page = await client.get("/reports/rfm")
    assert "No RFM scores yet" in page.text
    assert "data-score-now" not in page.text
    token = await form_token(client)
    assert (await client.post("/reports/rfm/score", data={"csrf_token": token})).status_code == 403


async def test_score_now_needs_the_form_token(
    db: AsyncSession, client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    await sign_in(client, await make_user("admin"))

    assert (await client.post("/reports/rfm/score", data={})).status_code == 403
    assert (
        await db.scalar(
            text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'analytics.rfm_score'")
        )
        == 0
    )


async def test_the_customer_page_shows_the_group_and_scores(
    db: AsyncSession, client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    people = await build_shop(db)
    nobody = await customer_with(db, days=0, orders=0, spent=0)
    await rfm.score_everyone(db, now=NOW)
    await sign_in(client, await make_user("marketing"))

    scored = (await client.get(f"/customers/{people[3].id}")).text
    assert 'data-rfm-group="loyal"' in scored
    assert "Buy often, and not long ago" in scored
    assert '<span class="fw-semibold">4</span> of 5' in scored

    unscored = (await client.get(f"/customers/{nobody.id}")).text
    assert "Scores come with the first order." in unscored
    assert "data-rfm-group" not in unscored


async def test_a_merged_customer_leaves_the_grid(
    db: AsyncSession, client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    people = await build_shop(db)
    await rfm.score_everyone(db, now=NOW)
    admin = bearer(await make_key(await make_user("admin")))

    merged = await client.post(
        f"/api/v1/customers/{people[0].id}/merge",
        headers=admin,
        json={"merge_id": str(people[1].id)},
    )

    assert merged.status_code == 200, merged.text
    report = (await client.get("/api/v1/reports/rfm", headers=admin)).json()
    # the merged customer's figures go; the survivor's made-up ones are recomputed from its
    # real orders (none) and rescored: neither is counted any more
    assert report["customers"] == 8
    assert {g["group"]: g["customers"] for g in report["groups"]}["new_customers"] == 0


async def test_the_customer_export_carries_the_scores_and_group(
    db: AsyncSession, client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    people = await build_shop(db)
    await rfm.score_everyone(db, now=NOW)
    admin = bearer(await make_key(await make_user("admin")))

    response = await client.get("/api/v1/customers/export.csv?rfm_group=loyal", headers=admin)

    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert [row["id"] for row in rows] == [str(people[3].id)]
    scores = [rows[0][f"{name}_score"] for name in ("recency", "frequency", "monetary")]
    assert (scores, rows[0]["rfm_group"]) == (["4", "5", "5"], "loyal")
