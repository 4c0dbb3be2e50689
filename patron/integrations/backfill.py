"""Backfill and reconciliation: reading a store's customers, products and orders through its
API and applying each record with the webhook handlers (same idempotency, same ordering:
an older ``updated_at`` never overwrites a newer one).

A run reads customers, then products, then orders (so orders find their customer and
variants), one page at a time. Each page is fetched outside any transaction, then applied
and the cursor of the next page saved in one transaction, under a lock on the run row: a
run whose worker dies resumes at the page it had reached, and a second worker that fetched
the same page finds the cursor moved and stops, so nothing is applied twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import Actor
from patron.config import Settings
from patron.db.engine import Database
from patron.errors import Conflict, CRMError, InvalidInput
from patron.integrations import processing, repository
from patron.integrations.context import Context
from patron.integrations.shopify import payloads as shopify_payloads
from patron.integrations.shopify.admin_api import ShopifyClient
from patron.integrations.storeapi import CheckResult, Page, StoreAPIError, StoreClient, check
from patron.integrations.woocommerce import payloads as woo_payloads
from patron.integrations.woocommerce.rest_api import WooCommerceClient
from patron.kit.crypto import SecretBox
from patron.kit.time import utcnow
from patron.models import Channel, StoreBackfill, StoreConnection
from patron.orders import repository as orders_repository
from patron.worker.enqueue import enqueue

log = structlog.get_logger(__name__)
RESOURCES = ("customers", "products", "orders")
PROVIDERS = ("shopify", "woocommerce")
DEFAULT_DAYS = 90
KEPT_FAILURES = 20
STALLED_AFTER = timedelta(minutes=10)
GIVE_UP_AFTER = timedelta(hours=6)
COUNTS = ("created", "updated", "unchanged", "failed")

Identify = Callable[[dict[str, Any]], tuple[str, datetime | None]]


@dataclass(frozen=True)
class Resource:
    topic: str  # the webhook topic whose handler takes one record
    kind: str  # its version stamp's kind (see Context.is_stale)
    identify: Identify  # external id and updated_at, validated as the handler will


def _shopify(model: Any) -> Identify:
    def identify(record: dict[str, Any]) -> tuple[str, datetime | None]:
        data = model.model_validate(record)
        return str(data.id), data.updated_at

    return identify


def _woocommerce(model: Any) -> Identify:
    def identify(record: dict[str, Any]) -> tuple[str, datetime | None]:
        data = model.model_validate(record).neutral()
        return str(data.id), data.updated_at

    return identify


TABLES: dict[str, dict[str, Resource]] = {
    "shopify": {
        "customers": Resource("customers/update", "customer", _shopify(shopify_payloads.Customer)),
        "products": Resource("products/update", "product", _shopify(shopify_payloads.Product)),
        "orders": Resource("orders/updated", "order", _shopify(shopify_payloads.Order)),
    },
    "woocommerce": {
        "customers": Resource("customer.updated", "customer", _woocommerce(woo_payloads.Customer)),
        "products": Resource("product.updated", "product", _woocommerce(woo_payloads.Product)),
        "orders": Resource("order.updated", "order", _woocommerce(woo_payloads.Order)),
    },
}


def client_for(settings: Settings, box: SecretBox, connection: StoreConnection) -> StoreClient:
    if connection.provider not in PROVIDERS:
        raise Conflict(
            "Only Shopify and WooCommerce stores can be read through their API.",
            code="backfill_not_supported",
        )
    if connection.access_token is None:
        raise StoreAPIError(
            "The connection has no API token: add one (Shopify: the Admin API access token; "
            "WooCommerce: key:secret) before reading the store.",
            code="store_credentials_missing",
            status=409,
        )
    token = box.decrypt(connection.access_token)
    if connection.provider == "shopify":
        return ShopifyClient(settings, shop_domain=connection.shop_domain, token=token)
    return WooCommerceClient(settings, site=connection.shop_domain, token=token)


async def test_credentials(
    settings: Settings, box: SecretBox, connection: StoreConnection
) -> CheckResult:
    try:
        client = client_for(settings, box, connection)
    except CRMError as error:
        return CheckResult(False, error.code, error.message)
    return await check(client)


# -- starting runs ---------------------------------------------------------------------------


def since_day(day: date | None) -> datetime:
    """The start (UTC) of the day a backfill reads from; 90 days ago by default."""
    if day is None:
        return utcnow() - timedelta(days=DEFAULT_DAYS)
    return datetime.combine(day, time(0), tzinfo=UTC)


def _fresh_progress() -> dict[str, Any]:
    return {
        name: {"cursor": None, "done": False, "pages": 0, **dict.fromkeys(COUNTS, 0)}
        for name in RESOURCES
    }


async def request_run(
    db: AsyncSession,
    *,
    connection: StoreConnection,
    actor: Actor,
    since: datetime,
    kind: str = "backfill",
) -> StoreBackfill:
    """Queue a run; one at a time per connection (a second is 409 backfill_in_progress)."""
    if connection.provider not in PROVIDERS:
        raise Conflict(
            "Only Shopify and WooCommerce stores can be read through their API.",
            code="backfill_not_supported",
        )
    if connection.status != "active":
        raise Conflict(
            f"The connection is {connection.status}; resume it before reading the store.",
            code="connection_not_active",
        )
    if connection.access_token is None:
        raise Conflict(
            "The connection has no API token; add one before running a backfill.",
            code="store_credentials_missing",
        )
    if since > utcnow():
        message = "The date must not be in the future."
        raise InvalidInput(
            message, code="invalid_since", details=[{"field": "since", "message": message}]
        )
    if await repository.backfill_in_progress(db, connection.id) is not None:
        raise _in_progress()
    run = StoreBackfill(
        connection_id=connection.id,
        kind=kind,
        since=since,
        status="queued",
        progress=_fresh_progress(),
        requested_by=actor.label[:200],
    )
    try:
        async with db.begin_nested():
            db.add(run)
            await db.flush()
    except IntegrityError:
        raise _in_progress() from None
    await enqueue_run(db, run)
    await audit.record(
        db,
        action=f"integration.{kind}_requested",
        actor=actor,
        object_type="store_connection",
        object_id=connection.id,
        details={"backfill_id": str(run.id), "since": since.isoformat()},
    )
    return run


def _in_progress() -> Conflict:
    return Conflict(
        "A backfill of this store is already queued or running; wait for it to finish.",
        code="backfill_in_progress",
    )


async def enqueue_run(db: AsyncSession, run: StoreBackfill) -> None:
    from patron.integrations.tasks import run_backfill

    await enqueue(
        db,
        run_backfill,
        queueing_lock=f"store_backfill:{run.connection_id}",
        backfill_id=str(run.id),
    )


async def schedule_reconciliations(
    db: AsyncSession, settings: Settings, *, now: datetime | None = None
) -> int:
    """Queue a reconciliation for every active connection with API credentials: what changed
    since its last successful run (or its connection) started, minus an overlap."""
    overlap = timedelta(minutes=settings.store_reconcile_overlap_minutes)
    count = 0
    for connection in await repository.reconcilable_connections(db, PROVIDERS):
        start = await repository.last_successful_start(db, connection.id)
        since = (start or connection.created_at) - overlap
        try:
            async with db.begin_nested():
                await request_run(
                    db,
                    connection=connection,
                    actor=Actor("system", None, "Reconciliation"),
                    since=min(since, now or utcnow()),
                    kind="reconciliation",
                )
        except CRMError as error:
            log.info("reconciliation_skipped", connection_id=str(connection.id), code=error.code)
            continue
        count += 1
    return count


async def requeue_stalled(db: AsyncSession, *, now: datetime | None = None) -> int:
    """Enqueue again the runs whose worker stopped (their row has not moved for a while);
    each resumes at its saved cursor. A run that has not moved for hours despite that (its
    job keeps failing) is marked failed, so that it neither loops for ever nor blocks the
    next backfill."""
    moment = now or utcnow()
    runs = await repository.stalled_backfills(db, before=moment - STALLED_AFTER, limit=100)
    for run in runs:
        if run.updated_at < moment - GIVE_UP_AFTER:
            hours = GIVE_UP_AFTER // timedelta(hours=1)
            _fail(
                run,
                CRMError(
                    f"The run made no progress for {hours} hours (see the failed jobs); "
                    "run a backfill again: what was applied stays.",
                    code="backfill_stalled",
                ),
            )
        else:
            await enqueue_run(db, run)
    await db.flush()
    return len(runs)


# -- running ---------------------------------------------------------------------------------


def _next_step(progress: dict[str, Any]) -> tuple[str, str | None] | None:
    for name in RESOURCES:
        state = progress.get(name) or {}
        if not state.get("done"):
            return name, state.get("cursor")
    return None


async def execute(
    settings: Settings, database: Database, box: SecretBox, backfill_id: uuid.UUID
) -> str | None:
    """Process a run to its end, page by page; returns its final status (None when there was
    nothing to do, or another worker has taken the run over)."""
    async with database.transaction() as db:
        run = await repository.backfill(db, backfill_id, lock=True)
        if run is None or run.status not in repository.IN_PROGRESS:
            return None
        connection = await db.get(StoreConnection, run.connection_id)
        if connection is None:
            return None
        if run.status == "queued":
            run.status, run.started_at = "running", utcnow()
            if not run.progress:
                run.progress = _fresh_progress()
        try:
            client = client_for(settings, box, connection)
        except CRMError as error:
            _fail(run, error)
            return run.status
        since, progress = run.since, dict(run.progress)
    while (step := _next_step(progress)) is not None:
        resource, cursor = step
        try:
            page: Page | CRMError = await client.page(resource, since=since, cursor=cursor)
        except CRMError as error:
            page = error
        async with database.transaction() as db:
            run = await repository.backfill(db, backfill_id, lock=True)
            if run is None or run.status != "running" or _next_step(run.progress) != step:
                return None
            if isinstance(page, CRMError):
                _fail(run, page)
                return run.status
            await _apply_page(db, settings, run, resource, page)
            progress = dict(run.progress)
    async with database.transaction() as db:
        run = await repository.backfill(db, backfill_id, lock=True)
        if run is None or run.status != "running":
            return None
        run.status, run.finished_at = "done", utcnow()
        log.info("store_backfill_done", backfill_id=str(run.id), created=run.created)
        return run.status


def _fail(run: StoreBackfill, error: CRMError) -> None:
    run.status, run.finished_at = "failed", utcnow()
    run.error_code, run.error = error.code[:60], error.message[: processing.MAX_ERROR]


async def _apply_page(
    db: AsyncSession, settings: Settings, run: StoreBackfill, resource: str, page: Page
) -> None:
    connection = await db.get(StoreConnection, run.connection_id)
    channel = await db.get(Channel, connection.channel_id) if connection else None
    if connection is None or channel is None:
        return
    table = TABLES[connection.provider]
    spec = table[resource]
    handle = processing.PROVIDERS[connection.provider]
    actor = Actor("system", None, f"{connection.name} ({run.kind})")
    ctx = Context(db, settings, connection, channel, actor)
    state = dict(run.progress[resource])
    failures = list(run.failures)
    for record in page.records:
        change = await _apply_record(ctx, handle, spec, record)
        if isinstance(change, processing.Failure):
            state["failed"] += 1
            if len(failures) < KEPT_FAILURES:
                failures.append(
                    {
                        "resource": resource,
                        "id": str(record.get("id")),
                        "code": change.code,
                        "message": change.message[:500],
                    }
                )
        else:
            state[change] += 1
    state["pages"] += 1
    state["cursor"], state["done"] = page.next_cursor, page.next_cursor is None
    run.progress = {**run.progress, resource: state}
    run.failures = failures
    for name in COUNTS:
        setattr(run, name, sum(int(s.get(name, 0)) for s in run.progress.values()))
    await db.flush()


async def _apply_record(
    ctx: Context, handle: processing.Handle, spec: Resource, record: dict[str, Any]
) -> str | processing.Failure:
    """created, updated or unchanged (judged by the version already applied), or a Failure."""
    try:
        external_id, stamp = spec.identify(record)
    except ValidationError as error:
        return processing.Failure("invalid_payload", processing.validation_message(error))
    change = await _change(ctx, spec.kind, external_id, stamp)
    result = await processing.apply(
        ctx, handle, spec.topic, record, label=f"{spec.kind} {external_id}"
    )
    return result if isinstance(result, processing.Failure) else change


async def _change(ctx: Context, kind: str, external_id: str, stamp: datetime | None) -> str:
    await repository.lock_record(ctx.db, ctx.connection.id, kind, external_id)
    if kind == "order":
        order = await orders_repository.order_by_external_id(ctx.db, ctx.channel.id, external_id)
        known, applied = order is not None, order.source_updated_at if order else None
    else:
        applied = await repository.record_version(
            ctx.db, connection_id=ctx.connection.id, kind=kind, external_id=external_id
        )
        known = applied is not None
    if not known:
        return "created"
    if stamp is not None and applied is not None and applied >= stamp:
        return "unchanged"
    return "updated"
