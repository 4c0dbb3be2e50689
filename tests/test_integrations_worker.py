"""Over real commits: a delivery acknowledged by the web process is processed by a worker
that starts later — nothing is lost between the receipt and its processing."""

from __future__ import annotations

from pathlib import Path

import httpx2
from sqlalchemy import func, select

from patron.app import create_app
from patron.models import Order, WebhookReceipt
from patron.worker.app import run_worker, set_runtime
from tests.conftest import IsolatedDatabase, make_settings
from tests.test_integrations_helpers import connect_shop, deliver, order_payload


async def test_a_delivery_acknowledged_before_a_crash_is_processed_when_a_worker_comes_back(
    isolated_database: IsolatedDatabase, tmp_path: Path
) -> None:
    database = isolated_database.database
    settings = make_settings(isolated_database.url, tmp_path)
    async with database.transaction() as db:
        connection = await connect_shop(db, settings)
    app = create_app(settings, database=database)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await deliver(http, connection, "orders/create", order_payload())
            again = await deliver(
                http, connection, "orders/paid", order_payload(minutes=5, financial_status="paid")
            )
    assert (response.status_code, again.status_code) == (200, 200)
    # the web process is gone; the receipts and their jobs were committed with the answer
    async with database.transaction() as db:
        assert await db.scalar(select(func.count()).select_from(Order)) == 0
    set_runtime(settings, database)
    await run_worker(database, wait=False, concurrency=1)
    async with database.transaction() as db:
        statuses = list(await db.scalars(select(WebhookReceipt.status)))
        order = await db.scalar(select(Order))
    assert statuses == ["processed", "processed"]
    assert order is not None
    assert order.financial_status == "paid"
