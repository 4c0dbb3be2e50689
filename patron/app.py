"""The web application: ``create_app()`` wires settings, database, routes and middleware."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from patron import __version__
from patron.auth.ratelimit import PostgresCounters, RateLimiter, RedisCounters
from patron.config import Settings, get_settings
from patron.db.engine import Database
from patron.errors import install_error_handlers
from patron.kit.crypto import SecretBox
from patron.logs import configure_logging
from patron.web.csrf import verify_csrf
from patron.web.errors import render_error_page
from patron.web.idempotency import IdempotencyMiddleware
from patron.web.middleware import (
    BodyLimitMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from patron.web.templating import STATIC_DIR
from patron.worker.app import run_worker, set_runtime

log = structlog.get_logger(__name__)

API_DESCRIPTION = """
Patron's REST API. Authenticate with an API key (`Authorization: Bearer ptk_...`), created
in the panel under *My API keys* or with `patron apikey create`. Errors always look like
`{"error": {"code": "...", "message": "...", "details": [...]}}`. Lists use keyset pagination:
pass `next_cursor` back as `cursor`.
"""


def api_routers() -> list[APIRouter]:
    from patron.analytics.customers_api import router as customer_reports_api
    from patron.analytics.rfm_api import router as rfm_api
    from patron.analytics.sales.api import router as sales_reports_api
    from patron.audit.api import router as audit_api
    from patron.auth.api import router as keys_api
    from patron.catalog.api import router as catalog_api
    from patron.customers.api import router as customers_api
    from patron.customers.export_api import router as customers_export_api
    from patron.customers.fields_api import router as fields_api
    from patron.customers.merge_api import router as merge_api
    from patron.customers.saved_views_api import router as saved_views_api
    from patron.events.api import router as events_api
    from patron.events.orders_api import router as order_upsert_api
    from patron.imports.api import router as imports_api
    from patron.integrations.api import router as integrations_api
    from patron.orders.api import routers as order_apis
    from patron.privacy.api import router as privacy_api
    from patron.segments.api import router as segments_api
    from patron.segments.saved_api import router as saved_segments_api
    from patron.timeline.api import router as timeline_api
    from patron.users.api import router as users_api
    from patron.webhooks.api import router as webhooks_api
    from patron.worker.api import router as jobs_api

    return [
        users_api,
        keys_api,
        audit_api,
        jobs_api,
        customers_export_api,  # before /customers/{customer_id}
        customers_api,
        merge_api,
        fields_api,
        saved_views_api,
        timeline_api,
        catalog_api,
        order_upsert_api,  # before /orders/{order_id}
        *order_apis,
        events_api,
        imports_api,
        integrations_api,
        webhooks_api,
        segments_api,
        saved_segments_api,
        customer_reports_api,
        rfm_api,
        sales_reports_api,
        privacy_api,
    ]


def panel_routers() -> list[APIRouter]:
    from patron.account.views import router as account_views
    from patron.analytics.customers_views import router as customer_reports_views
    from patron.analytics.rfm_views import router as rfm_views
    from patron.analytics.sales.views import router as sales_reports_views
    from patron.audit.views import router as audit_views
    from patron.auth.views import router as auth_views
    from patron.catalog.views import router as catalog_views
    from patron.customers.fields_views import router as fields_views
    from patron.customers.merge_views import router as merge_views
    from patron.customers.views import router as customers_views
    from patron.imports.views import router as imports_views
    from patron.integrations.views import router as integrations_views
    from patron.mail.views import router as mail_views
    from patron.orders.tracking import router as tracking_views
    from patron.orders.views import router as order_views
    from patron.privacy.views import router as privacy_views
    from patron.segments.views import router as segments_views
    from patron.users.views import router as users_views
    from patron.web.views import router as web_views
    from patron.webhooks.views import router as webhooks_views
    from patron.worker.views import router as jobs_views

    return [
        web_views,
        auth_views,
        account_views,
        users_views,
        audit_views,
        jobs_views,
        mail_views,
        tracking_views,
        order_views,
        catalog_views,
        merge_views,  # before /customers/{customer_id}
        customers_views,
        fields_views,
        segments_views,
        imports_views,
        integrations_views,
        webhooks_views,
        customer_reports_views,
        rfm_views,
        sales_reports_views,
        privacy_views,
    ]


def ops_routers() -> list[APIRouter]:
    from patron.integrations.webhooks import router as inbound_webhooks
    from patron.ops.views import router as ops_router

    # inbound webhooks: no session or CSRF (a signature instead), outside /api/v1
    return [ops_router, inbound_webhooks]


def upload_limits(settings: Settings) -> list[tuple[str, int]]:
    """Routes that take file uploads, each with its own body limit."""
    return [
        (r"^(/api/v1)?/customers/[^/]+/attachments$", settings.attachment_max_bytes),
        # the multipart envelope around the file needs a little room
        (r"^(/api/v1/imports|/imports/new)$", settings.import_max_bytes + 64 * 1024),
    ]


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    run_worker_in_process: bool = False,
) -> FastAPI:
    settings = settings or get_settings()
    settings.check_production_safety()
    configure_logging(json=settings.json_logs, level=settings.log_level)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = database or Database.from_settings(settings)
        app.state.database = db
        app.state.limiter = RateLimiter(
            RedisCounters(settings.redis_url) if settings.redis_url else PostgresCounters(db.engine)
        )
        set_runtime(settings, db)
        worker: asyncio.Task[None] | None = None
        if run_worker_in_process:
            worker = asyncio.create_task(run_worker(db, name="patron-serve"))
        log.info("patron_started", version=__version__, environment=settings.environment)
        try:
            yield
        finally:
            if worker is not None:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await worker
            await app.state.limiter.store.close()
            if database is None:
                await db.dispose()

    app = FastAPI(
        title="Patron API",
        version=__version__,
        description=API_DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.box = SecretBox(settings)
    if database is not None:
        app.state.database = database

    install_error_handlers(app, render_error_page)
    # first: a store's webhook deliveries are the busiest requests, and routes match in order
    for router in ops_routers() + api_routers():
        app.include_router(router)
    # every panel route checks the CSRF token of unsafe requests
    panel = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
    for router in panel_routers():
        panel.include_router(router)
    app.include_router(panel)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon(request: Request) -> Response:
        return RedirectResponse("/static/favicon.svg", status_code=301)

    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, uploads=upload_limits(settings)
    )
    app.add_middleware(
        SecurityHeadersMiddleware, hsts=settings.https, image_hosts=settings.image_hosts
    )
    app.add_middleware(RequestContextMiddleware)
    return app
