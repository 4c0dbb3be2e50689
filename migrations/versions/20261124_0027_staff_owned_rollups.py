"""staff owned rollups: the orders and revenue of owned customers per owner, channel and day

``staff_owned_daily`` adds up the order facts of the customers who have an owner, by the owner
they have now: the staff report reads it instead of the period's facts. Changes reach it
through the append-only ``staff_owned_change``, added up by the ``reports.rollup_queued`` job
(``patron/analytics/staff_rollups.py``): order changes append their facts' difference under
the customer's owner; a statement trigger on ``customer`` appends, for every customer whose
owner changed in the statement (or that was merged into another, or deleted), its facts
negated under the old owner and under the new one. A merged customer counts for no owner.
Also ``ix_customer_order_fact_order``: an order change found the facts of its customer's
orders by scanning every fact. Filled here from the facts.

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-24 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from patron.analytics.staff_rollups import FILL_OWNED

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# the owner whose figures a customer's orders count in: a live (not merged) customer's owner
def _owner(row: str) -> str:
    return f"CASE WHEN {row}.merged_into_id IS NULL THEN {row}.owner_id END"


_CHANGED = f"JOIN new_rows n ON n.id = o.id WHERE {_owner('o')} IS DISTINCT FROM {_owner('n')}"
# the customers whose owner the statement changed (or that it merged away), with the owner
# before and after; and the deleted customers (no owner after)
_MOVED = f"SELECT o.id, {_owner('o')} AS was, {_owner('n')} AS now FROM old_rows o {_CHANGED}"  # noqa: S608
_DELETED = f"SELECT id, {_owner('old_rows')} AS was, NULL::uuid AS now FROM old_rows"  # noqa: S608


def _append(moved: str) -> str:
    """The moved customers' facts, added up per (was, now, channel, day) first (a bulk change
    of many customers between few owners is few groups), then -1 under ``was`` and +1 under
    ``now``."""
    return f"""
        INSERT INTO staff_owned_change (owner_id, channel_key, day, orders, net)
        SELECT s.owner_id, g.channel_key, g.day, sum(s.sign * g.n), sum(s.sign * g.net)
        FROM (
            SELECT m.was, m.now, f.channel_key, f.day, count(*) AS n, sum(f.net) AS net
            FROM ({moved}) m JOIN customer_order_fact f ON f.customer_id = m.id
            GROUP BY 1, 2, 3, 4
        ) g
        CROSS JOIN LATERAL (VALUES (g.was, -1), (g.now, 1)) s(owner_id, sign)
        WHERE s.owner_id IS NOT NULL
        GROUP BY 1, 2, 3 HAVING sum(s.sign * g.n) <> 0 OR sum(s.sign * g.net) <> 0
        ORDER BY 1, 2, 3;
    """  # noqa: S608 (constant fragments)


OWNER_FUNCTION = f"""
CREATE FUNCTION patron_staff_owned_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        {_append(_DELETED)}
    ELSIF EXISTS (SELECT FROM old_rows o {_CHANGED}) THEN
        {_append(_MOVED)}
    END IF;
    RETURN NULL;
END $$
"""
OWNER_TRIGGERS = {
    "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "REFERENCING OLD TABLE AS old_rows",
}


def upgrade() -> None:
    op.create_table(
        "staff_owned_daily",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("channel_key", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("net", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint(
            "owner_id",
            "channel_key",
            "day",
            name=op.f("pk_staff_owned_daily"),
            postgresql_include=["orders", "net"],
        ),
    )
    op.create_table(
        "staff_owned_change",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("channel_key", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("net", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_owned_change")),
    )
    # an order change rewrites the facts of its customers' orders (also those that were
    # another customer's): by index, not by scanning every fact
    op.create_index("ix_customer_order_fact_order", "customer_order_fact", ["order_id"])
    # owners and order changes wait while the sums are filled (none is missed or counted twice)
    op.execute("LOCK TABLE customer, customer_order_fact IN SHARE MODE")
    op.execute(FILL_OWNED)
    op.execute(OWNER_FUNCTION)
    for event, referencing in OWNER_TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER staff_owned_{event.lower()} AFTER {event} ON customer {referencing}"
            " FOR EACH STATEMENT EXECUTE FUNCTION patron_staff_owned_change()"
        )


def downgrade() -> None:
    for event in OWNER_TRIGGERS:
        op.execute(f"DROP TRIGGER staff_owned_{event.lower()} ON customer")
    op.execute("DROP FUNCTION patron_staff_owned_change()")
    op.drop_table("staff_owned_change")
    op.drop_table("staff_owned_daily")
    op.drop_index("ix_customer_order_fact_order", table_name="customer_order_fact")
