"""Engines and sessions: one write engine, an optional read-replica engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from patron.config import Settings
from patron.db.embedded import EmbeddedServer


def normalise_url(url: str) -> str:
    """Accept libpq-style URLs and point SQLAlchemy at psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in {"postgres", "postgresql", "postgresql+psycopg2"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername != "postgresql+psycopg":
        raise ValueError(f"Patron needs a PostgreSQL URL, got {parsed.drivername!r}")
    return parsed.render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same URL in the form psql, psycopg and Procrastinate take."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def resolve_database_url(settings: Settings) -> str:
    """The database Patron uses: the configured URL, or the embedded server (started here)."""
    if settings.database_url:
        return normalise_url(settings.database_url)
    return EmbeddedServer(settings.data_dir).ensure_running().url


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"application_name": "patron"},
    )


class Database:
    """The engines a process uses and the sessions made from them."""

    def __init__(self, write_url: str, *, read_url: str = "", pool_size: int = 10) -> None:
        self.url = write_url
        self.engine = make_engine(write_url, pool_size=pool_size)
        self.read_engine = (
            make_engine(normalise_url(read_url), pool_size=pool_size) if read_url else self.engine
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(
            resolve_database_url(settings),
            read_url=settings.database_read_url,
            pool_size=settings.database_pool_size,
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits when the block ends normally, rolls back on error."""
        async with self.sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
