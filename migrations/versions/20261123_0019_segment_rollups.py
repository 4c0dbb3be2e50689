"""segment condition rollups: daily event counts per customer, order facts on order lines

``customer_event_day`` holds, per event name, UTC day and customer, how many tracking events
the customer has; ``order_line`` carries its order's customer, placing time and cancellation.
Both are kept current by triggers in the writing transaction (every path that adds, moves or
deletes events or changes an order's customer, time or cancellation goes through them), and
are filled here, set-based, for existing databases.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-23 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_DAY_FUNCTION = """
CREATE FUNCTION patron_customer_event_day() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE customer_event_day d SET n = d.n - g.n
        FROM (SELECT name, (occurred_at AT TIME ZONE 'UTC')::date AS day, customer_id,
                     count(*) AS n
              FROM old_rows WHERE customer_id IS NOT NULL GROUP BY 1, 2, 3) g
        WHERE d.name = g.name AND d.day = g.day AND d.customer_id = g.customer_id;
        DELETE FROM customer_event_day d
        USING (SELECT DISTINCT name, (occurred_at AT TIME ZONE 'UTC')::date AS day, customer_id
               FROM old_rows WHERE customer_id IS NOT NULL) g
        WHERE d.name = g.name AND d.day = g.day AND d.customer_id = g.customer_id
          AND d.n <= 0;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO customer_event_day AS d (name, day, customer_id, n)
        SELECT name, (occurred_at AT TIME ZONE 'UTC')::date, customer_id, count(*)
        FROM new_rows WHERE customer_id IS NOT NULL
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (name, day, customer_id) DO UPDATE SET n = d.n + excluded.n;
    END IF;
    RETURN NULL;
END $$
"""
EVENT_TRIGGERS = {
    "INSERT": "REFERENCING NEW TABLE AS new_rows",
    "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "REFERENCING OLD TABLE AS old_rows",
}
LINE_FUNCTION = """
CREATE FUNCTION patron_order_line_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT o.customer_id, o.placed_at, o.cancelled_at
    INTO NEW.customer_id, NEW.placed_at, NEW.cancelled_at
    FROM shop_order o WHERE o.id = NEW.order_id;
    RETURN NEW;
END $$
"""
ORDER_FUNCTION = """
CREATE FUNCTION patron_order_to_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE order_line SET customer_id = NEW.customer_id, placed_at = NEW.placed_at,
                          cancelled_at = NEW.cancelled_at
    WHERE order_id = NEW.id;
    RETURN NULL;
END $$
"""
FILL_EVENT_DAYS = """
INSERT INTO customer_event_day (name, day, customer_id, n)
SELECT name, (occurred_at AT TIME ZONE 'UTC')::date, customer_id, count(*)
FROM tracking_event WHERE customer_id IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
FILL_LINES = """
UPDATE order_line l SET customer_id = o.customer_id, placed_at = o.placed_at,
                        cancelled_at = o.cancelled_at
FROM shop_order o WHERE o.id = l.order_id
"""


def upgrade() -> None:
    op.create_table(
        "customer_event_day",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "name",
            "day",
            "customer_id",
            name=op.f("pk_customer_event_day"),
            postgresql_include=["n"],  # a window's counts by index-only scan
        ),
    )
    op.add_column("order_line", sa.Column("customer_id", sa.Uuid(), nullable=True))
    op.add_column("order_line", sa.Column("placed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "order_line", sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(FILL_EVENT_DAYS)
    op.execute(FILL_LINES)
    op.create_index(
        "ix_order_line_bought",
        "order_line",
        ["product_id", "placed_at"],
        postgresql_include=["customer_id", "order_id", "total"],
        postgresql_where=sa.text("cancelled_at IS NULL"),
    )
    op.execute(EVENT_DAY_FUNCTION)
    for event, referencing in EVENT_TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER customer_event_day_{event.lower()} AFTER {event} ON tracking_event "
            f"{referencing} FOR EACH STATEMENT EXECUTE FUNCTION patron_customer_event_day()"
        )
    op.execute(LINE_FUNCTION)
    op.execute(
        "CREATE TRIGGER order_line_order BEFORE INSERT OR UPDATE OF order_id ON order_line "
        "FOR EACH ROW EXECUTE FUNCTION patron_order_line_order()"
    )
    op.execute(ORDER_FUNCTION)
    op.execute(
        "CREATE TRIGGER order_to_lines AFTER UPDATE OF customer_id, placed_at, cancelled_at "
        "ON shop_order FOR EACH ROW WHEN ((OLD.customer_id, OLD.placed_at, OLD.cancelled_at) "
        "IS DISTINCT FROM (NEW.customer_id, NEW.placed_at, NEW.cancelled_at)) "
        "EXECUTE FUNCTION patron_order_to_lines()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER order_to_lines ON shop_order")
    op.execute("DROP FUNCTION patron_order_to_lines()")
    op.execute("DROP TRIGGER order_line_order ON order_line")
    op.execute("DROP FUNCTION patron_order_line_order()")
    for event in EVENT_TRIGGERS:
        op.execute(f"DROP TRIGGER customer_event_day_{event.lower()} ON tracking_event")
    op.execute("DROP FUNCTION patron_customer_event_day()")
    op.drop_index("ix_order_line_bought", table_name="order_line")
    op.drop_column("order_line", "cancelled_at")
    op.drop_column("order_line", "placed_at")
    op.drop_column("order_line", "customer_id")
    op.drop_table("customer_event_day")
