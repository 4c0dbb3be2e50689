"""staff rollups: daily timeline counts per staff actor, indexes for owned orders and signups

``staff_activity_daily`` holds, per staff actor (``actor_type`` user or api_key), entry kind
and UTC day, how many timeline entries they wrote: the staff report's notes, calls, meetings
and logged emails. Statement triggers with transition tables on ``timeline_entry`` keep it
current in the writing transaction (insert, update, delete, and the cascade of a customer
deleted with SQL); it is filled here, set-based, for existing databases.

The staff report's orders and revenue of owned customers read the period's
``customer_order_fact`` rows (``ix_customer_order_fact_period``) joined to the owners'
customers (``ix_customer_owned``, which also counts the customers owned), both index-only;
the customers report's signups read ``ix_customer_created_live`` index-only.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-23 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from patron.analytics.staff_rollups import ACTIVITY_KEY, FILL_ACTIVITY, STAFF_ENTRIES

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STAFF = STAFF_ENTRIES  # the staff actors of patron.models.timeline.STAFF_ACTORS
_KEY = ACTIVITY_KEY

ACTIVITY_FUNCTION = f"""
CREATE FUNCTION patron_staff_activity_daily() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE staff_activity_daily d SET n = d.n - g.n
        FROM (SELECT {_KEY} AS day, count(*) AS n
              FROM old_rows WHERE {_STAFF} GROUP BY 1, 2, 3) g
        WHERE d.actor_id = g.actor_id AND d.kind = g.kind AND d.day = g.day;
        DELETE FROM staff_activity_daily d
        USING (SELECT DISTINCT {_KEY} AS day FROM old_rows WHERE {_STAFF}) g
        WHERE d.actor_id = g.actor_id AND d.kind = g.kind AND d.day = g.day AND d.n <= 0;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO staff_activity_daily AS d (actor_id, kind, day, n)
        SELECT {_KEY}, count(*) FROM new_rows WHERE {_STAFF}
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (actor_id, kind, day) DO UPDATE SET n = d.n + excluded.n;
    END IF;
    RETURN NULL;
END $$
"""  # noqa: S608 (constant fragments)
ACTIVITY_TRIGGERS = {
    "INSERT": "REFERENCING NEW TABLE AS new_rows",
    "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "REFERENCING OLD TABLE AS old_rows",
}


def upgrade() -> None:
    op.create_table(
        "staff_activity_daily",
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "actor_id",
            "kind",
            "day",
            name=op.f("pk_staff_activity_daily"),
            postgresql_include=["n"],
        ),
    )
    op.execute(FILL_ACTIVITY)
    op.create_index(
        "ix_customer_order_fact_period",
        "customer_order_fact",
        ["channel_key", "day"],
        postgresql_include=["customer_id", "net"],
    )
    op.create_index(
        "ix_customer_owned", "customer", ["owner_id", "id"], postgresql_include=["merged_into_id"]
    )
    op.create_index(
        "ix_customer_created_live",
        "customer",
        ["created_at"],
        postgresql_include=["owner_id"],
        postgresql_where=sa.text("merged_into_id IS NULL"),
    )
    op.execute(ACTIVITY_FUNCTION)
    for event, referencing in ACTIVITY_TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER staff_activity_daily_{event.lower()} AFTER {event} "
            f"ON timeline_entry {referencing} "
            "FOR EACH STATEMENT EXECUTE FUNCTION patron_staff_activity_daily()"
        )


def downgrade() -> None:
    for event in ACTIVITY_TRIGGERS:
        op.execute(f"DROP TRIGGER staff_activity_daily_{event.lower()} ON timeline_entry")
    op.execute("DROP FUNCTION patron_staff_activity_daily()")
    op.drop_index("ix_customer_created_live", table_name="customer")
    op.drop_index("ix_customer_owned", table_name="customer")
    op.drop_index("ix_customer_order_fact_period", table_name="customer_order_fact")
    op.drop_table("staff_activity_daily")
