"""How the rollups' append-only tables (queued keys, pending changes) are drained."""

from __future__ import annotations


def take_oldest(table: str, columns: str) -> str:
    """SQL deleting up to ``:limit`` of ``table``'s oldest committed rows (by ``id``) and
    returning their ``columns``. Rows another transaction is taking are skipped (``FOR UPDATE
    SKIP LOCKED``), so concurrent runs take each row once; a run that rolls back leaves its
    rows pending. ``table`` and ``columns`` are constants of the caller, never input."""
    return f"""
        DELETE FROM {table} WHERE id IN (
            SELECT id FROM {table} ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED)
        RETURNING {columns}
    """  # noqa: S608 (constant fragments)
