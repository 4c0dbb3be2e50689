"""A statement timeout for the queries of one block: heavy read-only work (segment counts,
reports) gives up instead of holding a connection and a CPU for minutes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from patron.errors import CRMError

QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cancelled by its timeout


@contextlib.asynccontextmanager
async def statement_timeout(
    db: AsyncSession, milliseconds: int, timed_out: Callable[[], CRMError]
) -> AsyncIterator[None]:
    """Runs the block in a savepoint whose statements PostgreSQL cancels after
    ``milliseconds`` (``set_config(..., true)``: local to the transaction, and put back as it
    was when the block ends); a cancelled statement raises ``timed_out()`` instead."""
    try:
        async with db.begin_nested():
            previous = await db.scalar(select(func.current_setting("statement_timeout")))
            await db.execute(
                select(func.set_config("statement_timeout", str(max(1, milliseconds)), True))
            )
            yield
            await db.execute(select(func.set_config("statement_timeout", previous, True)))
    except OperationalError as error:
        if getattr(error.orig, "sqlstate", None) == QUERY_CANCELED:
            raise timed_out() from None
        raise
