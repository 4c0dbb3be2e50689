"""Background jobs and system email, with a real worker and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import func, select, text

from patron.audit.service import SYSTEM
from patron.config import Settings
from patron.mail import service as mail
from patron.mail.tasks import MAX_ATTEMPTS, send_mail
from patron.models import JobFailure, MailMessage
from patron.worker.app import job_app, run_worker, set_runtime
from patron.worker.enqueue import enqueue
from patron.worker.service import failed_jobs, retry_job
from tests.conftest import Inbox, IsolatedDatabase, free_port, make_settings


async def _queue_reset_mail(target: IsolatedDatabase) -> MailMessage:
    async with target.database.transaction() as db:
        return await mail.queue_email(
            db,
            to="rep@shop.test",
            template="password_reset",
            context={"name": "Rita", "url": "http://testserver/password/reset/abc", "hours": 2},
        )


async def _jobs(target: IsolatedDatabase, status: str | None = None) -> int:
    async with target.database.transaction() as db:
        query = "SELECT count(*) FROM procrastinate_jobs"
        if status:
            query += " WHERE status = :status"
        return int(await db.scalar(text(query), {"status": status}) or 0)


async def test_a_rolled_back_change_enqueues_nothing(isolated_database: IsolatedDatabase) -> None:
    async def change_then_fail() -> None:
        async with isolated_database.database.transaction() as db:
            await mail.queue_email(
                db,
                to="x@shop.test",
                template="password_reset",
                context={"name": "X", "url": "http://x/y", "hours": 2},
            )
            raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError, match="changed my mind"):
        await change_then_fail()
    assert await _jobs(isolated_database) == 0
    async with isolated_database.database.transaction() as db:
        assert await db.scalar(select(func.count()).select_from(MailMessage)) == 0


async def test_the_worker_sends_queued_mail_through_smtp_once(
    isolated_database: IsolatedDatabase, smtp_server: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = smtp_server
    settings = make_settings(
        isolated_database.url,
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        mail_from="Shop CRM <crm@shop.test>",
    )
    set_runtime(settings, isolated_database.database)
    message = await _queue_reset_mail(isolated_database)
    assert await _jobs(isolated_database, "todo") == 1

    await run_worker(isolated_database.database, wait=False, concurrency=1)

    [received] = inbox.messages
    assert received["To"] == "rep@shop.test"
    assert received["From"] == "Shop CRM <crm@shop.test>"
    assert received["Subject"] == "Reset your Patron password"
    assert str(message.id) in received["Message-ID"]
    parts = {part.get_content_type(): part.get_payload(decode=True) for part in received.walk()}
    assert b"http://testserver/password/reset/abc" in parts["text/plain"]
    assert b'style="' in parts["text/html"]  # CSS inlined for mail clients
    async with isolated_database.database.transaction() as db:
        stored = await db.get(MailMessage, message.id)
        assert stored is not None
        assert stored.status == "sent"
        assert stored.sent_at is not None
    # a retry of the same job finds the message sent and sends nothing
    await send_mail(message_id=str(message.id))
    assert len(inbox.messages) == 1


async def test_without_smtp_mail_is_kept_for_the_dev_mailbox(
    isolated_database: IsolatedDatabase, tmp_path: Path
) -> None:
    set_runtime(make_settings(isolated_database.url, tmp_path), isolated_database.database)
    message = await _queue_reset_mail(isolated_database)
    await run_worker(isolated_database.database, wait=False, concurrency=1)
    async with isolated_database.database.transaction() as db:
        stored = await db.get(MailMessage, message.id)
        assert stored is not None
        assert stored.status == "captured"


async def test_an_unreachable_smtp_server_is_retried_then_marked_failed(
    isolated_database: IsolatedDatabase, tmp_path: Path
) -> None:
    settings = make_settings(
        isolated_database.url, tmp_path, smtp_host="127.0.0.1", smtp_port=free_port()
    )
    set_runtime(settings, isolated_database.database)
    message = await _queue_reset_mail(isolated_database)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with pytest.raises(Exception, match=r"(?i)connect"):
            await send_mail(message_id=str(message.id))
        async with isolated_database.database.transaction() as db:
            stored = await db.get(MailMessage, message.id)
            assert stored is not None
            assert stored.attempts == attempt
            assert stored.error
            assert stored.status == ("failed" if attempt == MAX_ATTEMPTS else "queued")


@job_app.task(name="tests.always_fails", queue="tests")
async def always_fails(order_id: int) -> None:
    raise ValueError(f"order {order_id} cannot be synced: store said 503")


async def test_a_failed_job_shows_its_error_and_can_be_retried(
    isolated_database: IsolatedDatabase, tmp_path: Path
) -> None:
    set_runtime(make_settings(isolated_database.url, tmp_path), isolated_database.database)
    async with isolated_database.database.transaction() as db:
        job_id = await enqueue(db, always_fails, order_id=42)
    await run_worker(isolated_database.database, wait=False, concurrency=1)

    async with isolated_database.database.transaction() as db:
        [failed] = await failed_jobs(db)
        assert failed.id == job_id
        assert failed.task_name == "tests.always_fails"
        assert failed.error == "ValueError: order 42 cannot be synced: store said 503"
        assert "Traceback" in failed.traceback
        await retry_job(db, job_id, actor=SYSTEM)
    assert await _jobs(isolated_database, "todo") == 1
    await run_worker(isolated_database.database, wait=False, concurrency=1)
    async with isolated_database.database.transaction() as db:
        failures = await db.scalar(
            select(func.count()).select_from(JobFailure).where(JobFailure.job_id == job_id)
        )
        assert failures == 2


async def test_the_in_process_worker_of_the_app_runs_jobs(
    isolated_database: IsolatedDatabase, tmp_path: Path
) -> None:
    from patron.app import create_app

    settings = make_settings(isolated_database.url, tmp_path)
    app = create_app(settings, database=isolated_database.database, run_worker_in_process=True)
    async with app.router.lifespan_context(app):
        message = await _queue_reset_mail(isolated_database)
        for _ in range(100):
            async with isolated_database.database.transaction() as db:
                stored = await db.get(MailMessage, message.id)
                assert stored is not None
                if stored.status == "captured":
                    break
            await asyncio.sleep(0.1)
        assert stored is not None
        assert stored.status == "captured"


async def test_the_admin_jobs_page_lists_failures_with_a_retry_button(
    isolated_database: IsolatedDatabase, tmp_path: Path
) -> None:
    from patron.app import create_app
    from patron.users import service as users
    from tests.conftest import PASSWORD, Persona, csrf_from, sign_in

    settings = make_settings(isolated_database.url, tmp_path)
    set_runtime(settings, isolated_database.database)
    async with isolated_database.database.transaction() as db:
        admin = await users.create_user(
            db,
            settings,
            actor=SYSTEM,
            email="ops@shop.test",
            name="Ops",
            role="admin",
            password=PASSWORD,
        )
        job_id = await enqueue(db, always_fails, order_id=7)
    await run_worker(isolated_database.database, wait=False, concurrency=1)

    app = create_app(settings, database=isolated_database.database)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await sign_in(http, Persona(admin, PASSWORD))
            page = await http.get("/admin/jobs")
            assert f'data-job="{job_id}"' in page.text
            assert "order 7 cannot be synced" in page.text
            retried = await http.post(
                f"/admin/jobs/{job_id}/retry", data={"csrf_token": csrf_from(page.text)}
            )
            assert retried.status_code == 303
            again = await http.post(
                f"/admin/jobs/{job_id}/retry", data={"csrf_token": csrf_from(page.text)}
            )
            assert (
                "Only failed jobs can be retried"
                in (await http.get(again.headers["location"])).text
            )
    assert await _jobs(isolated_database, "todo") == 1


def test_settings_refuse_production_with_a_default_secret_or_demo_data(tmp_path: Path) -> None:
    from patron.config import ConfigurationError

    for overrides in (
        {},
        {"secret_key": "short"},
        {"secret_key": "x" * 40, "demo_password": "demo"},
        {"secret_key": "x" * 40, "demo_data": True},
    ):
        settings = Settings(_env_file=None, environment="production", **overrides)
        with pytest.raises(ConfigurationError, match="Refusing to start in production"):
            settings.check_production_safety()
    fine = Settings(_env_file=None, environment="production", secret_key="x" * 40)
    fine.check_production_safety()
    assert not fine.seeds_demo_data
