"""staff owned trigger: find the customers whose owner changed by grouping, not by a join

Migration 0027's statement trigger on ``customer`` found the customers whose owner an UPDATE
changed by joining the statement's old and new rows (two transition tables, which have no
statistics). PostgreSQL planned that join as a nested loop over the tuple stores: every
updated customer rescanned all the others, so an UPDATE of 20,000 customers (a bulk action,
an import batch, the lifecycle sweep) took 52 s instead of 1 s, and one of every customer
never finished. Here both sides are one list grouped by customer id (a hash or sort, linear),
and the appended changes are the moved customers' facts, negated under the owner before and
added under the owner after. The result is the same rows as before.

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-24 03:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _owner(rows: str) -> str:
    """The owner whose figures a customer's orders count in: a live (not merged) one's."""
    return f"CASE WHEN {rows}.merged_into_id IS NULL THEN {rows}.owner_id END"


def _owner_text(rows: str) -> str:
    """:func:`_owner` as text (text has max(); uuid has not)."""
    return f"CAST({_owner(rows)} AS text)"


# one row per updated customer with its owner before and after, kept where they differ
_MOVED_BY_UPDATE = f"""
    SELECT id, CAST(was AS uuid) AS was, CAST(now AS uuid) AS now FROM (
        SELECT id, max(owner) FILTER (WHERE before) AS was,
               max(owner) FILTER (WHERE NOT before) AS now
        FROM (
            SELECT id, {_owner_text("old_rows")} AS owner, true AS before FROM old_rows
            UNION ALL
            SELECT id, {_owner_text("new_rows")}, false FROM new_rows
        ) sides
        GROUP BY id
    ) owners
    WHERE was IS DISTINCT FROM now
"""  # noqa: S608 (constant fragments)
_MOVED_BY_DELETE = (
    f"SELECT id, CAST({_owner_text('old_rows')} AS uuid) AS was, NULL::uuid AS now FROM old_rows"  # noqa: S608
)


def _changes(moved: str) -> str:
    """The moved customers' facts per channel and day: taken from the owner before, given to
    the owner after (a bulk change between few owners is few rows)."""
    return f"""
        WITH moved AS MATERIALIZED ({moved}),
        facts AS (
            SELECT m.was AS owner_id, f.channel_key, f.day, -count(*) AS orders, -sum(f.net) AS net
            FROM moved m JOIN customer_order_fact f ON f.customer_id = m.id
            WHERE m.was IS NOT NULL GROUP BY 1, 2, 3
            UNION ALL
            SELECT m.now, f.channel_key, f.day, count(*), sum(f.net)
            FROM moved m JOIN customer_order_fact f ON f.customer_id = m.id
            WHERE m.now IS NOT NULL GROUP BY 1, 2, 3
        )
        INSERT INTO staff_owned_change (owner_id, channel_key, day, orders, net)
        SELECT owner_id, channel_key, day, sum(orders), sum(net) FROM facts
        GROUP BY 1, 2, 3 HAVING sum(orders) <> 0 OR sum(net) <> 0
        ORDER BY 1, 2, 3;
    """  # noqa: S608 (constant fragments)


GROUPED = f"""
CREATE OR REPLACE FUNCTION patron_staff_owned_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        {_changes(_MOVED_BY_DELETE)}
    ELSE
        {_changes(_MOVED_BY_UPDATE)}
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute(GROUPED)


def downgrade() -> None:
    # 0027's version: the owner before and after from a join of the old and new rows
    joined = (
        f"SELECT o.id, {_owner('o')} AS was, {_owner('n')} AS now FROM old_rows o"  # noqa: S608
        f" JOIN new_rows n ON n.id = o.id WHERE {_owner('o')} IS DISTINCT FROM {_owner('n')}"
    )
    op.execute(GROUPED.replace(_MOVED_BY_UPDATE, joined))
