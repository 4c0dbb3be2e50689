"""Helpers later domains build on: record scoping, audit of reads, rate-limit stores,
audit partitions, logs, error pages."""

from __future__ import annotations

import json
import os
import uuid
from datetime import timedelta

import httpx2
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.auth.ratelimit import Limit, PostgresCounters, RateLimiter, RedisCounters
from patron.auth.scoping import visible_to
from patron.config import Settings
from patron.db.engine import Database
from patron.errors import RateLimited
from patron.models import ApiKey, AuditEvent
from tests.conftest import IsolatedDatabase, MakeKey, MakeUser, principal_for, sign_in


async def test_record_scope_limits_rows_to_own_team_or_all(
    db: AsyncSession, make_user: MakeUser, make_key: MakeKey
) -> None:
    from patron.audit.service import SYSTEM
    from patron.users import service as users

    team = await users.create_team(db, actor=SYSTEM, name=f"Team {uuid.uuid4().hex[:6]}")
    rep = await make_user("sales", team_id=team.id)
    teammate = await make_user("sales", team_id=team.id)
    outsider = await make_user("sales")
    manager = await make_user("manager", team_id=team.id)
    analyst = await make_user("analyst")
    for owner in (rep, teammate, outsider):
        await make_key(owner, ["users:read"])

    async def visible_owners(person: object) -> set[uuid.UUID]:
        principal = await principal_for(db, person.user)  # type: ignore[attr-defined]
        rows = await db.scalars(
            select(ApiKey.user_id).where(
                visible_to(principal, owner=ApiKey.user_id),
                ApiKey.user_id.in_([rep.user.id, teammate.user.id, outsider.user.id]),
            )
        )
        return set(rows)

    assert await visible_owners(rep) == {rep.user.id}
    assert await visible_owners(manager) == {rep.user.id, teammate.user.id}
    assert await visible_owners(analyst) == {rep.user.id, teammate.user.id, outsider.user.id}


async def test_reads_and_changes_of_personal_data_are_audited_without_secrets(
    db: AsyncSession, make_user: MakeUser
) -> None:
    support = await make_user("support")
    principal = await principal_for(db, support.user)
    customer_id = uuid.uuid4()
    read = await audit.record_read(
        db,
        actor=principal.actor,
        object_type="customer",
        object_id=customer_id,
        fields=("email", "phone"),
    )
    assert read.action == "customer.read"
    assert read.details == {"purpose": "view", "fields": ["email", "phone"]}
    change = await audit.record_change(
        db,
        action="customer.updated",
        actor=principal.actor,
        object_type="customer",
        object_id=customer_id,
        before={"email": "a@x.test", "password": "old"},
        after={"email": "b@x.test", "password": "new"},
    )
    assert change is not None
    assert change.details["changes"] == {
        "email": {"from": "a@x.test", "to": "b@x.test"},
        "password": "[redacted]",
    }
    unchanged = await audit.record_change(
        db,
        action="customer.updated",
        actor=principal.actor,
        object_type="customer",
        object_id=customer_id,
        before={"email": "b@x.test"},
        after={"email": "b@x.test"},
    )
    assert unchanged is None


async def test_erasure_may_redact_audit_rows_but_nothing_else_may(
    db: AsyncSession, make_user: MakeUser
) -> None:
    from sqlalchemy.exc import DBAPIError

    person = await make_user("sales")
    savepoint = await db.begin_nested()
    with pytest.raises(DBAPIError, match="append-only"):
        await db.execute(
            text("UPDATE audit_event SET actor_label = 'x' WHERE object_id = :id"),
            {"id": str(person.user.id)},
        )
    await savepoint.rollback()
    await db.execute(text("SET LOCAL patron.audit_redaction = 'on'"))
    await db.execute(
        text("UPDATE audit_event SET actor_label = '[erased]' WHERE object_id = :id"),
        {"id": str(person.user.id)},
    )
    labels = set(
        await db.scalars(
            select(AuditEvent.actor_label).where(AuditEvent.object_id == str(person.user.id))
        )
    )
    assert labels == {"[erased]"}


async def _exhaust(limiter: RateLimiter, subject: str) -> RateLimited:
    limit = Limit("test", hits=3, window_seconds=60)
    for _ in range(3):
        await limiter.check(limit, subject)
    with pytest.raises(RateLimited) as refused:
        await limiter.check(limit, subject)
    await limiter.check(Limit("test", hits=3, window_seconds=60), subject + "-other")
    return refused.value


async def test_postgres_counters_limit_across_processes(
    isolated_database: IsolatedDatabase,
) -> None:
    first = RateLimiter(PostgresCounters(isolated_database.database.engine))
    second_process = Database(isolated_database.url, pool_size=1)
    try:
        second = RateLimiter(PostgresCounters(second_process.engine))
        limit = Limit("shared", hits=2, window_seconds=60)
        await first.check(limit, "198.51.100.1")
        await second.check(limit, "198.51.100.1")
        with pytest.raises(RateLimited):
            await first.check(limit, "198.51.100.1")
        refused = await _exhaust(first, f"ip-{uuid.uuid4().hex}")
        assert 1 <= refused.retry_after <= 60
        assert refused.headers == {"Retry-After": str(refused.retry_after)}
    finally:
        await second_process.dispose()


async def test_redis_counters_limit_the_same_way() -> None:
    url = os.environ.get("PATRON_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    store = RedisCounters(url)
    try:
        await store._redis.ping()
    except Exception:  # the suite documents Redis as optional on developer machines
        await store.close()
        pytest.skip(f"no Redis at {url}")
    try:
        refused = await _exhaust(RateLimiter(store), f"ip-{uuid.uuid4().hex}")
        assert 1 <= refused.retry_after <= 60
    finally:
        await store.close()


@pytest.mark.usefixtures("job_settings")
async def test_the_audit_partition_job_creates_months_ahead(
    isolated_database: IsolatedDatabase,
) -> None:
    from patron.ops.tasks import ensure_audit_partitions, purge_expired

    async with isolated_database.database.transaction() as db:
        await db.execute(
            text(
                "DROP TABLE audit_event_"
                + (
                    await db.scalar(text("SELECT to_char(now() + interval '3 months', 'YYYY_MM')"))
                    or ""
                )
            )
        )
    assert await ensure_audit_partitions(timestamp=0) == 1
    assert await ensure_audit_partitions(timestamp=0) == 0
    await purge_expired(timestamp=0)


async def test_old_sessions_and_links_are_purged(
    isolated_database: IsolatedDatabase, job_settings: Settings
) -> None:
    from patron.audit.service import SYSTEM
    from patron.kit.time import utcnow
    from patron.models import StaffSession
    from patron.ops.tasks import purge_expired
    from patron.users import service as users

    settings = job_settings
    long_ago = utcnow() - timedelta(days=60)
    async with isolated_database.database.transaction() as db:
        user = await users.create_user(
            db,
            settings,
            actor=SYSTEM,
            email="old@shop.test",
            name="Old",
            role="sales",
            send_invite=False,
        )
        for expires in (long_ago, utcnow() + timedelta(days=1)):
            db.add(
                StaffSession(
                    user_id=user.id, token_hash=os.urandom(32), state="active", expires_at=expires
                )
            )
    await purge_expired(timestamp=0)
    async with isolated_database.database.transaction() as db:
        left = list(await db.scalars(select(StaffSession.expires_at)))
    assert len(left) == 1
    assert left[0] > utcnow()


def test_production_logs_are_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    import structlog

    from patron.logs import configure_logging

    configure_logging(json=True)
    structlog.get_logger("test").info("order_synced", order_id=7)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "order_synced"
    assert record["order_id"] == 7
    assert record["level"] == "info"
    configure_logging(json=False)


async def test_unknown_pages_get_a_friendly_page_and_missing_permission_a_403_page(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    sales = await make_user("sales")
    await sign_in(client, sales)
    missing = await client.get("/no/such/page")
    assert missing.status_code == 404
    assert "Page not found" in missing.text
    assert missing.headers["content-type"].startswith("text/html")
    forbidden = await client.get("/admin/users")
    assert forbidden.status_code == 403
    assert "You can&#39;t do that" in forbidden.text
    assert "settings:admin" in forbidden.text
    assert "Administration" not in (await client.get("/")).text  # no admin menu for a rep


async def test_audit_event_rows_carry_the_request_context(
    client: httpx2.AsyncClient, make_user: MakeUser, db: AsyncSession
) -> None:
    sales = await make_user("sales")
    await sign_in(client, sales)
    event = await db.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "auth.sign_in.succeeded", AuditEvent.actor_id == sales.user.id
        )
    )
    assert event is not None
    assert event.ip == "203.0.113.7"
    assert event.request_id
    assert len(event.request_id) == 32


def test_a_page_lights_up_the_navigation_entry_it_belongs_to() -> None:
    from patron.web.templating import current_page

    assert current_page("/") == "/"
    assert current_page("/customers") == "/customers"
    assert current_page("/customers/019ec6c2-e039-7285-8a8b-ecfae2be47d6") == "/customers"
    assert current_page("/customers/duplicates") == "/customers/duplicates"
    assert current_page("/orders/123/returns") == "/orders"
    assert current_page("/admin/users/42") == "/admin/users"
    assert current_page("/customersx") is None
    assert current_page("/account") is None
