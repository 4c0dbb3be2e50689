"""Test harness: real PostgreSQL, one migrated template per run, each test in a rolled-back
transaction (or, when it needs commits, in a database of its own).

The server is the embedded PostgreSQL by default; with ``PATRON_TEST_DATABASE=url`` the suite
runs against ``PATRON_TEST_DATABASE_URL`` instead (CI uses the PostgreSQL 15 at 5432).
"""

from __future__ import annotations

import contextlib
import email
import os
import re
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import psycopg
import pyotp
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from patron.app import create_app
from patron.audit.service import SYSTEM
from patron.auth import apikeys, repository
from patron.auth.dependencies import role_scopes
from patron.auth.principal import Principal
from patron.auth.ratelimit import RateLimiter
from patron.config import Settings
from patron.db.deps import get_read_session, get_session
from patron.db.embedded import EmbeddedServer
from patron.db.engine import Database, normalise_url
from patron.db.migrate import upgrade
from patron.kit.crypto import SecretBox
from patron.kit.time import utcnow
from patron.models import StaffUser
from patron.users import service as users_service
from patron.worker.app import set_runtime

if TYPE_CHECKING:
    from playwright.sync_api import Browser

PASSWORD = "correct horse battery staple"
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
CLIENT_IP = "203.0.113.7"


# -- servers and databases ---------------------------------------------------------------


class Databases:
    """Creates and drops throwaway databases on the test server."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def _execute(self, sql: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(sql.encode())

    def create(self, *, template: str | None = None, prefix: str = "patron_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        suffix = f' TEMPLATE "{template}"' if template else ""
        self._execute(f'CREATE DATABASE "{name}"{suffix}')
        self.created.append(name)
        return name

    def drop(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def url(self, name: str) -> str:
        """The SQLAlchemy URL of a database on this server."""
        return normalise_url(make_url(self.admin_url).set(database=name).render_as_string(False))


@pytest.fixture(scope="session")
def databases() -> Iterator[Databases]:
    if os.environ.get("PATRON_TEST_DATABASE") == "url":
        admin_url = os.environ.get(
            "PATRON_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        )
        server = None
    else:
        server = EmbeddedServer(Path(tempfile.gettempdir()) / f"patron-tests-{os.getuid()}")
        admin_url = server.ensure_running().libpq_url_for("postgres")
    registry = Databases(admin_url)
    yield registry
    for name in list(registry.created):
        registry.drop(name)
    if server is not None:
        server.stop()


@pytest.fixture(scope="session")
async def template_db(databases: Databases) -> str:
    """A database migrated to head with the built-in roles: every test database copies it."""
    name = databases.create(prefix="patron_template")
    url = databases.url(name)
    upgrade(url)
    database = Database(url, pool_size=1)
    async with database.transaction() as session:
        await users_service.ensure_builtin_roles(session)
    await database.dispose()
    return name


def make_settings(url: str, tmp: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "secret_key": TEST_SECRET,
        "database_url": url,
        "data_dir": tmp,
        "public_url": "http://testserver",
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="session")
async def database(databases: Databases, template_db: str) -> AsyncIterator[Database]:
    """The database that rolled-back tests share."""
    name = databases.create(template=template_db)
    db = Database(databases.url(name), pool_size=4)
    yield db
    await db.dispose()


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return make_settings(database.url, tmp_path)


@pytest.fixture
async def db(database: Database) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test."""
    async with database.engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


@dataclass
class IsolatedDatabase:
    name: str
    url: str
    database: Database


@pytest.fixture
async def isolated_database(
    databases: Databases, template_db: str
) -> AsyncIterator[IsolatedDatabase]:
    """A fresh database of its own, for tests that need real commits (workers, live servers)."""
    name = databases.create(template=template_db)
    url = databases.url(name)
    db = Database(url, pool_size=4)
    yield IsolatedDatabase(name, url, db)
    await db.dispose()
    databases.drop(name)


@pytest.fixture
def job_settings(isolated_database: IsolatedDatabase, tmp_path: Path) -> Settings:
    """Settings of the isolated database, installed as the job runtime: jobs called directly
    (and the services they call) run on that database."""
    settings = make_settings(isolated_database.url, tmp_path)
    set_runtime(settings, isolated_database.database)
    return settings


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    """An SMTP server's handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1: its inbox and its port."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium for a module of browser tests (see tests/chromium.py)."""
    from tests.chromium import launch_chromium

    with launch_chromium() as chromium:
        yield chromium


# -- the application ----------------------------------------------------------------------


class TransactionCounters:
    """Rate-limit counters kept inside the test's transaction, so they roll back with it."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def hit(self, key: str, window_start: int, window_seconds: int) -> int:
        from patron.auth.ratelimit import _UPSERT

        result = await self.session.execute(_UPSERT, {"key": key, "window_start": window_start})
        return int(result.scalar_one())

    async def close(self) -> None:
        return None


@pytest.fixture
async def app(settings: Settings, database: Database, db: AsyncSession) -> AsyncIterator[FastAPI]:
    application = create_app(settings, database=database)

    async def test_session() -> AsyncIterator[AsyncSession]:
        # each request gets a savepoint: its failure undoes its own work, never the test's
        request_work = await db.begin_nested()
        try:
            yield db
            await request_work.commit()
        except BaseException:
            await request_work.rollback()
            raise

    application.dependency_overrides[get_session] = test_session
    application.dependency_overrides[get_read_session] = test_session
    async with application.router.lifespan_context(application):
        application.state.limiter = RateLimiter(TransactionCounters(db))
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=app, client=(CLIENT_IP, 4321))
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


# -- personas -------------------------------------------------------------------------------


@dataclass
class Persona:
    user: StaffUser
    password: str
    totp_secret: str | None = None

    @property
    def email(self) -> str:
        return self.user.email

    def totp_code(self, offset_steps: int = 0) -> str:
        assert self.totp_secret is not None
        totp = pyotp.TOTP(self.totp_secret)
        return totp.at(utcnow().timestamp() + offset_steps * totp.interval)


MakeUser = Callable[..., Awaitable[Persona]]


@pytest.fixture
def make_user(db: AsyncSession, settings: Settings) -> MakeUser:
    async def make(
        role: str = "admin",
        *,
        email: str | None = None,
        name: str = "",
        totp: bool = False,
        kind: str = "person",
        team_id: uuid.UUID | None = None,
        password: str | None = PASSWORD,
    ) -> Persona:
        email = email or f"{role}-{uuid.uuid4().hex[:8]}@shop.test"
        user = await users_service.create_user(
            db,
            settings,
            actor=SYSTEM,
            email=email,
            name=name or f"{role.title()} Person",
            role=role,
            team_id=team_id,
            kind=kind,
            password=password if kind == "person" else None,
            send_invite=False,
        )
        secret = None
        if totp:
            secret = pyotp.random_base32()
            user.totp_secret = SecretBox(settings).encrypt(secret)
            user.totp_enabled_at = utcnow()
            await db.flush()
        return Persona(user, password or "", secret)

    return make


async def principal_for(db: AsyncSession, user: StaffUser) -> Principal:
    role = await repository.role_by_name(db, user.role)
    assert role is not None
    return Principal(user, role, role_scopes(role))


MakeKey = Callable[..., Awaitable[str]]


@pytest.fixture
def make_key(db: AsyncSession) -> MakeKey:
    """An API key for a persona, holding the given scopes (by default all of its role's)."""

    async def make(persona: Persona, scopes: list[str] | None = None, **options: Any) -> str:
        principal = await principal_for(db, persona.user)
        created = await apikeys.create_key(
            db, principal, name="test key", scopes=scopes or sorted(principal.scopes), **options
        )
        return created.secret

    return make


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def csrf_from(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def sign_in(client: httpx2.AsyncClient, persona: Persona) -> httpx2.Response:
    """Sign in through the panel like a person would; returns the final redirect."""
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "email": persona.email,
            "password": persona.password,
            "csrf_token": csrf_from(page.text),
        },
    )
    if response.headers.get("location", "").startswith("/login/2fa"):
        challenge = await client.get(response.headers["location"])
        response = await client.post(
            "/login/2fa",
            data={"code": persona.totp_code(), "csrf_token": csrf_from(challenge.text)},
        )
    assert response.status_code == 303, response.text
    return response


async def form_token(client: httpx2.AsyncClient, path: str = "/account") -> str:
    """The CSRF token of the signed-in session, as its pages carry it."""
    return csrf_from((await client.get(path)).text)


async def audit_actions(db: AsyncSession, object_id: object | None = None) -> list[str]:
    query = "SELECT action FROM audit_event"
    params: dict[str, Any] = {}
    if object_id is not None:
        query += " WHERE object_id = :object_id"
        params["object_id"] = str(object_id)
    rows = await db.execute(text(query + " ORDER BY occurred_at, id"), params)
    return list(rows.scalars())


@dataclass
class CommittedAdmin:
    http: httpx2.AsyncClient
    key: str
    user: StaffUser


@contextlib.asynccontextmanager
async def committed_admin(
    database: Database, settings: Settings, *, email: str = "ops@shop.test"
) -> AsyncIterator[CommittedAdmin]:
    """An administrator and their API key committed in ``database``, with a client of an app
    serving it (for tests with real commits: workers, live servers)."""
    async with database.transaction() as db:
        admin = await users_service.create_user(
            db,
            settings,
            actor=SYSTEM,
            email=email,
            name="Ops",
            role="admin",
            password=PASSWORD,
        )
        principal = await principal_for(db, admin)
        created = await apikeys.create_key(
            db, principal, name="integration", scopes=sorted(principal.scopes)
        )
    app = create_app(settings, database=database)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield CommittedAdmin(http, created.secret, admin)
