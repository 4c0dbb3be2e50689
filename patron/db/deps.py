"""Request-scoped database sessions: the request owns the transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from patron.db.engine import Database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Commit when the route returns, roll back when it raises (before the response is sent)."""
    database: Database = request.app.state.database
    async with database.sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            # the error page still shows the signed-in person: detach the loaded rows so the
            # rollback cannot expire them (reading an expired row here would be a 500)
            session.expunge_all()
            await session.rollback()
            raise


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session on the read replica (or the primary when none is configured)."""
    database: Database = request.app.state.database
    async with database.read_sessions() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadSession = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
