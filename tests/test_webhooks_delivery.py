"""Outbound webhooks end to end: real commits, a real worker, a real HTTP receiver on
127.0.0.1 (allowed explicitly with PATRON_WEBHOOKS_ALLOW_PRIVATE), signatures checked by
code written here independently of Patron's."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from patron.customers import service as customers
from patron.customers.schemas import CustomerCreate
from patron.models import (
    MailMessage,
    OutboundAttempt,
    OutboundDelivery,
    StaffNotification,
    WebhookSubscription,
)
from patron.webhooks.tasks import deliver_webhook, purge_delivery_log
from patron.worker.app import set_runtime
from tests.conftest import (
    IsolatedDatabase,
    bearer,
    make_settings,
    principal_for,
)
from tests.live import http_server
from tests.shop import CommittedShop, committed_shop


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local HTTP server that records every request and answers as told."""

    statuses: list[int] = field(default_factory=list)  # answers in turn; then 200
    delay: float = 0.0
    reply: bytes | None = None  # the body of every answer; by default "answered <status>"
    requests: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def answer(self) -> int:
        return self.statuses.pop(0) if self.statuses else 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            if state.delay:
                time.sleep(state.delay)
            status = state.answer()
            reply = state.reply if state.reply is not None else f"answered {status}".encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    with http_server(Handler) as port:
        state.port = port
        yield state


def verify(secret: str, received: Received) -> bool:
    """The check an integrator writes, from docs/webhooks.md."""
    timestamp = received.headers["patron-webhook-timestamp"]
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + received.body, hashlib.sha256
    ).hexdigest()
    signatures = [
        part.strip().removeprefix("v1=")
        for part in received.headers["patron-webhook-signature"].split(",")
    ]
    fresh = abs(time.time() - int(timestamp)) < 300
    return fresh and any(hmac.compare_digest(expected, s) for s in signatures)


class Shop(CommittedShop):
    """A shop with real commits that subscribes a receiver and reads what was delivered."""

    async def subscribe(self, url: str, *event_types: str) -> tuple[str, str]:
        response = await self.http.post(
            "/api/v1/webhooks",
            json={"url": url, "event_types": list(event_types), "name": "Warehouse"},
            headers=bearer(self.key),
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return body["id"], body["secret"]

    async def deliveries(self) -> list[OutboundDelivery]:
        async with self.database.transaction() as db:
            rows = await db.scalars(select(OutboundDelivery).order_by(OutboundDelivery.created_at))
            return list(rows)

    async def attempts(self, delivery_id: uuid.UUID) -> list[OutboundAttempt]:
        async with self.database.transaction() as db:
            rows = await db.scalars(
                select(OutboundAttempt)
                .where(OutboundAttempt.delivery_id == delivery_id)
                .order_by(OutboundAttempt.number)
            )
            return list(rows)

    async def subscription(self, subscription_id: str) -> WebhookSubscription:
        async with self.database.transaction() as db:
            found = await db.get(WebhookSubscription, uuid.UUID(subscription_id))
            assert found is not None
            return found

    async def let_time_pass(self) -> None:
        """Make every scheduled retry due now, as if its backoff had elapsed."""
        async with self.database.transaction() as db:
            await db.execute(
                text("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE status = 'todo'")
            )


def open_shop(
    target: IsolatedDatabase, tmp_path: Path, **overrides: Any
) -> contextlib.AbstractAsyncContextManager[Shop]:
    """A shop whose webhooks may call the receiver on 127.0.0.1."""
    settings = make_settings(target.url, tmp_path, webhooks_allow_private=True, **overrides)
    return committed_shop(target.database, settings, Shop)


@pytest.fixture
async def shop(isolated_database: IsolatedDatabase, tmp_path: Path) -> AsyncIterator[Shop]:
    async with open_shop(isolated_database, tmp_path, webhooks_disable_after_failures=3) as made:
        yield made


async def test_a_customer_created_through_the_api_is_delivered_once_and_signed(
    shop: Shop, receiver: Receiver
) -> None:
    _, secret = await shop.subscribe(receiver.url, "customer.created", "order.created")
    response = await shop.http.post(
        "/api/v1/customers",
        json={"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
        headers=bearer(shop.key),
    )
    assert response.status_code == 201, response.text
    customer_id = response.json()["id"]

    await shop.work()
    await shop.work()  # nothing left to send

    [received] = receiver.requests
    assert received.path == "/hooks"
    assert verify(secret, received)
    assert not verify("whsec_someone-else", received)
    body = json.loads(received.body)
    assert body["type"] == "customer.created"
    assert received.headers["patron-webhook-id"] == body["id"]
    assert received.headers["patron-webhook-event"] == "customer.created"
    assert received.headers["content-type"] == "application/json"
    assert body["data"]["id"] == customer_id
    assert body["data"]["email"] == "ada@example.com"
    assert body["data"]["first_name"] == "Ada"
    assert body["data"]["lifecycle_stage"]
    assert "phone" not in body["data"]  # personal data kept to what integrators need
    [delivery] = await shop.deliveries()
    assert delivery.status == "delivered"
    assert delivery.attempts == 1
    [attempt] = await shop.attempts(delivery.id)
    assert attempt.status_code == 200
    assert attempt.response_excerpt == "answered 200"
    assert attempt.latency_ms >= 0

    # a retry of the job that already delivered sends nothing
    await deliver_webhook(delivery_id=str(delivery.id), attempt=1)
    assert len(receiver.requests) == 1


async def test_only_subscribed_event_types_are_sent(shop: Shop, receiver: Receiver) -> None:
    await shop.subscribe(receiver.url, "order.created")
    response = await shop.http.post(
        "/api/v1/customers", json={"email": "bo@example.com"}, headers=bearer(shop.key)
    )
    assert response.status_code == 201
    await shop.work()
    assert receiver.requests == []
    assert await shop.deliveries() == []


async def test_a_rolled_back_change_sends_nothing_and_a_committed_one_queues_its_job(
    shop: Shop, receiver: Receiver
) -> None:
    await shop.subscribe(receiver.url, "customer.created")

    class ChangedMyMind(Exception):
        pass

    async def create_then_fail() -> None:
        async with shop.database.transaction() as db:
            principal = await principal_for(db, shop.owner)
            await customers.create_customer(
                db,
                shop.settings,
                principal=principal,
                data=CustomerCreate(email="gone@example.com"),
            )
            assert await db.scalar(select(func.count()).select_from(OutboundDelivery)) == 1
            raise ChangedMyMind

    with pytest.raises(ChangedMyMind):
        await create_then_fail()
    async with shop.database.transaction() as db:
        assert await db.scalar(select(func.count()).select_from(OutboundDelivery)) == 0
        jobs = await db.scalar(text("SELECT count(*) FROM procrastinate_jobs"))
        assert jobs == 0
        await customers.create_customer(
            db,
            shop.settings,
            principal=await principal_for(db, shop.owner),
            data=CustomerCreate(email="kept@example.com"),
        )
    async with shop.database.transaction() as db:
        jobs = await db.scalar(
            text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'webhooks.deliver'")
        )
        assert jobs == 1
    await shop.work()
    [received] = receiver.requests
    assert json.loads(received.body)["data"]["email"] == "kept@example.com"


async def test_a_failing_receiver_is_retried_with_backoff_and_every_attempt_is_logged(
    shop: Shop, receiver: Receiver
) -> None:
    subscription_id, secret = await shop.subscribe(receiver.url, "customer.created")
    receiver.statuses = [500]
    sent = await shop.http.post(
        f"/api/v1/webhooks/{subscription_id}/test", headers=bearer(shop.key)
    )
    assert sent.status_code == 202, sent.text
    await shop.work()

    [delivery] = await shop.deliveries()
    assert delivery.status == "pending"
    assert delivery.attempts == 1
    assert delivery.last_status_code == 500
    assert delivery.next_attempt_at is not None
    wait = (delivery.next_attempt_at - delivery.updated_at).total_seconds()
    assert 50 < wait < 70  # the first backoff is a minute
    [first] = await shop.attempts(delivery.id)
    assert (first.number, first.status_code, first.succeeded) == (1, 500, False)
    assert first.response_excerpt == "answered 500"
    assert "500" in first.error
    assert (await shop.subscription(subscription_id)).consecutive_failures == 1

    await shop.work()  # the retry is not due yet
    assert len(receiver.requests) == 1

    await shop.let_time_pass()
    await shop.work()
    assert len(receiver.requests) == 2
    first_request, retry = receiver.requests
    assert retry.headers["patron-webhook-attempt"] == "2"
    assert retry.headers["patron-webhook-id"] == first_request.headers["patron-webhook-id"]
    assert verify(secret, retry)
    [delivery] = await shop.deliveries()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("delivered", 2, None)
    assert (await shop.subscription(subscription_id)).consecutive_failures == 0

    log = await shop.http.get(
        f"/api/v1/webhooks/{subscription_id}/deliveries", headers=bearer(shop.key)
    )
    [logged] = log.json()["items"]
    assert [a["status_code"] for a in logged["log"]] == [200, 500]


async def test_a_delivery_can_be_sent_again_by_hand(shop: Shop, receiver: Receiver) -> None:
    subscription_id, _ = await shop.subscribe(receiver.url, "customer.created")
    await shop.http.post(f"/api/v1/webhooks/{subscription_id}/test", headers=bearer(shop.key))
    await shop.work()
    [delivery] = await shop.deliveries()
    assert delivery.status == "delivered"

    again = await shop.http.post(
        f"/api/v1/webhooks/{subscription_id}/deliveries/{delivery.id}/redeliver",
        headers=bearer(shop.key),
    )
    assert again.status_code == 202, again.text
    await shop.work()

    assert len(receiver.requests) == 2
    assert receiver.requests[1].body == receiver.requests[0].body
    assert receiver.requests[1].headers["patron-webhook-attempt"] == "2"
    attempts = await shop.attempts(delivery.id)
    assert [(a.number, a.manual, a.succeeded) for a in attempts] == [
        (1, False, True),
        (2, True, True),
    ]


async def test_a_subscription_that_keeps_failing_is_disabled_and_its_owner_told(
    shop: Shop, receiver: Receiver
) -> None:
    subscription_id, _ = await shop.subscribe(receiver.url, "customer.created")
    receiver.statuses = [503] * 10
    for _ in range(3):  # the limit is 3 failures in a row here
        await shop.http.post(f"/api/v1/webhooks/{subscription_id}/test", headers=bearer(shop.key))
    await shop.work()

    assert len(receiver.requests) == 3
    subscription = await shop.subscription(subscription_id)
    assert not subscription.active
    assert "3 deliveries in a row failed" in subscription.disabled_reason
    assert "503" in subscription.disabled_reason
    async with shop.database.transaction() as db:
        [note] = await db.scalars(
            select(StaffNotification).where(StaffNotification.user_id == shop.owner.id)
        )
        assert note.kind == "webhook_disabled"
        assert note.link == f"/admin/webhooks/{subscription_id}"
        [mail] = await db.scalars(select(MailMessage).where(MailMessage.kind == "webhook_disabled"))
        assert mail.to_address == "ops@shop.test"
        assert receiver.url in mail.subject
        assert f"http://testserver/admin/webhooks/{subscription_id}" in mail.body_text
        assert "503" in mail.body_text

    # the retries still scheduled find the subscription disabled and send nothing
    await shop.let_time_pass()
    await shop.work()
    assert len(receiver.requests) == 3
    assert {d.status for d in await shop.deliveries()} == {"cancelled"}

    # enabling starts the count again, and new events flow
    enabled = await shop.http.post(
        f"/api/v1/webhooks/{subscription_id}/enable", headers=bearer(shop.key)
    )
    assert enabled.json()["active"] is True
    assert enabled.json()["consecutive_failures"] == 0
    receiver.statuses = []
    await shop.http.post(
        "/api/v1/customers", json={"email": "back@example.com"}, headers=bearer(shop.key)
    )
    await shop.work()
    assert json.loads(receiver.requests[-1].body)["type"] == "customer.created"


async def test_a_slow_receiver_times_out_and_is_retried(
    isolated_database: IsolatedDatabase, tmp_path: Path, receiver: Receiver
) -> None:
    async with open_shop(isolated_database, tmp_path, webhooks_timeout_seconds=0.3) as shop:
        subscription_id, _ = await shop.subscribe(receiver.url, "customer.created")
        receiver.delay = 1.0
        await shop.http.post(f"/api/v1/webhooks/{subscription_id}/test", headers=bearer(shop.key))
        await shop.work()
        [delivery] = await shop.deliveries()
        assert delivery.status == "pending"
        [attempt] = await shop.attempts(delivery.id)
        assert attempt.status_code is None
        assert "Timeout" in attempt.error


async def test_without_the_allowance_a_loopback_receiver_is_never_called(
    isolated_database: IsolatedDatabase, tmp_path: Path, receiver: Receiver
) -> None:
    async with open_shop(isolated_database, tmp_path) as shop:
        subscription_id, _ = await shop.subscribe(receiver.url, "customer.created")
        # the same installation, now without the allowance (as in production)
        guarded = make_settings(isolated_database.url, tmp_path)
        assert guarded.webhooks_allow_private is False
        set_runtime(guarded, isolated_database.database)
        await shop.http.post(f"/api/v1/webhooks/{subscription_id}/test", headers=bearer(shop.key))
        await shop.work()
        assert receiver.requests == []
        [delivery] = await shop.deliveries()
        [attempt] = await shop.attempts(delivery.id)
        assert attempt.status_code is None
        assert "private or reserved address" in attempt.error
        assert delivery.status == "pending"  # retried later, in case the DNS answer changes


async def test_finished_deliveries_are_forgotten_after_the_keep_period(
    shop: Shop, receiver: Receiver
) -> None:
    subscription_id, _ = await shop.subscribe(receiver.url, "customer.created")
    receiver.statuses = [200, 500]
    for _ in range(2):
        await shop.http.post(f"/api/v1/webhooks/{subscription_id}/test", headers=bearer(shop.key))
    await shop.work()
    delivered, pending = sorted(await shop.deliveries(), key=lambda d: d.status)
    assert (delivered.status, pending.status) == ("delivered", "pending")
    async with shop.database.transaction() as db:
        await db.execute(
            text("UPDATE outbound_delivery SET updated_at = now() - interval '31 days'")
        )
    assert await purge_delivery_log(timestamp=0) == 1
    [left] = await shop.deliveries()
    assert left.id == pending.id  # still being retried
    assert await shop.attempts(delivered.id) == []


async def test_after_a_rotation_with_a_grace_period_both_secrets_sign(
    shop: Shop, receiver: Receiver
) -> None:
    subscription_id, old = await shop.subscribe(receiver.url, "customer.created")
    rotate = f"/api/v1/webhooks/{subscription_id}/rotate-secret"
    rotated = await shop.http.post(rotate, json={"keep_old_hours": 24}, headers=bearer(shop.key))
    new = rotated.json()["secret"]
    await shop.http.post(f"/api/v1/webhooks/{subscription_id}/test", headers=bearer(shop.key))
    await shop.work()
    [during] = receiver.requests
    assert during.headers["patron-webhook-signature"].count("v1=") == 2
    assert verify(new, during)
    assert verify(old, during)  # receivers not yet switched keep working

    refused = await shop.http.post(rotate, json={"keep_old_hours": 100}, headers=bearer(shop.key))
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_grace_period"
    newest = (await shop.http.post(rotate, headers=bearer(shop.key))).json()["secret"]
    await shop.http.post(f"/api/v1/webhooks/{subscription_id}/test", headers=bearer(shop.key))
    await shop.work()
    after = receiver.requests[-1]
    assert after.headers["patron-webhook-signature"].count("v1=") == 1
    assert verify(newest, after)
    assert not verify(new, after)


async def test_a_binary_answer_is_logged_without_breaking_the_log(
    shop: Shop, receiver: Receiver
) -> None:
    subscription_id, _ = await shop.subscribe(receiver.url, "customer.created")
    receiver.reply = b"\x00\xff binary \x00 answer" + b"!" * 5000
    await shop.http.post(f"/api/v1/webhooks/{subscription_id}/test", headers=bearer(shop.key))
    await shop.work()
    [delivery] = await shop.deliveries()
    assert delivery.status == "delivered"
    [attempt] = await shop.attempts(delivery.id)
    assert "\x00" not in attempt.response_excerpt
    assert attempt.response_excerpt.startswith("\ufffd binary  answer!")
    assert len(attempt.response_excerpt) == 1000
