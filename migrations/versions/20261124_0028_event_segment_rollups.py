"""event segment rollups: each customer's latest events of each name

``customer_event_recent`` holds, per event name and customer, the times of the customer's
latest 10 events of that name, newest first (equal times repeated). "did X at least N times
within D days" is then ``recent[N] >= start``: one row per customer, read without grouping,
where the daily counts (``customer_event_day``, migration 0019) have about a row per event
when events are sparse. Kept current by statement triggers on ``tracking_event`` in the
writing transaction: inserted events are merged into the row; an update or delete (events
moved to another customer, erased, deleted with their customer) recomputes the pairs it
touched from the events. Filled here, set-based, for existing databases.

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-24 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECENT_FUNCTION = """
CREATE FUNCTION patron_customer_event_recent() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    names varchar[];
    customers uuid[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO customer_event_recent AS r (name, customer_id, recent)
        SELECT name, customer_id, (array_agg(occurred_at ORDER BY occurred_at DESC))[1:10]
        FROM new_rows WHERE customer_id IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (name, customer_id) DO UPDATE SET recent = CASE
            -- the usual case, new events newer than every kept one: both lists are newest
            -- first, so putting them end to end keeps the order (no sort)
            WHEN excluded.recent[cardinality(excluded.recent)] >= r.recent[1]
            THEN (excluded.recent || r.recent)[1:10]
            ELSE (SELECT array_agg(t ORDER BY t DESC)
                  FROM (SELECT t FROM unnest(r.recent || excluded.recent) t
                        ORDER BY t DESC LIMIT 10) latest)
        END;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN  -- moved events: the pairs they left and the pairs they joined
        SELECT array_agg(name), array_agg(customer_id) INTO names, customers
        FROM (SELECT name, customer_id FROM old_rows WHERE customer_id IS NOT NULL
              UNION SELECT name, customer_id FROM new_rows WHERE customer_id IS NOT NULL) p;
    ELSE
        SELECT array_agg(name), array_agg(customer_id) INTO names, customers
        FROM (SELECT DISTINCT name, customer_id FROM old_rows WHERE customer_id IS NOT NULL) p;
    END IF;
    -- the touched pairs recomputed from the events as the statement left them
    INSERT INTO customer_event_recent AS r (name, customer_id, recent)
    SELECT p.name, p.customer_id, latest.recent
    FROM unnest(names, customers) AS p(name, customer_id)
    CROSS JOIN LATERAL (
        SELECT array_agg(e.occurred_at ORDER BY e.occurred_at DESC) AS recent
        FROM (SELECT occurred_at FROM tracking_event
              WHERE customer_id = p.customer_id AND name = p.name
              ORDER BY occurred_at DESC LIMIT 10) e
    ) latest
    WHERE latest.recent IS NOT NULL
    ORDER BY 1, 2
    ON CONFLICT (name, customer_id) DO UPDATE SET recent = excluded.recent;
    DELETE FROM customer_event_recent r USING unnest(names, customers) AS p(name, customer_id)
    WHERE r.name = p.name AND r.customer_id = p.customer_id
      AND NOT EXISTS (SELECT FROM tracking_event e
                      WHERE e.customer_id = p.customer_id AND e.name = p.name);
    RETURN NULL;
END $$
"""
EVENT_TRIGGERS = {
    "INSERT": "REFERENCING NEW TABLE AS new_rows",
    "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "REFERENCING OLD TABLE AS old_rows",
}
FILL = """
INSERT INTO customer_event_recent (name, customer_id, recent)
SELECT name, customer_id, (array_agg(occurred_at ORDER BY occurred_at DESC))[1:10]
FROM tracking_event WHERE customer_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
"""


def upgrade() -> None:
    op.create_table(
        "customer_event_recent",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("recent", postgresql.ARRAY(sa.DateTime(timezone=True)), nullable=False),
        sa.PrimaryKeyConstraint("name", "customer_id", name=op.f("pk_customer_event_recent")),
    )
    op.execute(FILL)
    op.execute(RECENT_FUNCTION)
    for event, referencing in EVENT_TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER customer_event_recent_{event.lower()} AFTER {event} "
            f"ON tracking_event {referencing} "
            "FOR EACH STATEMENT EXECUTE FUNCTION patron_customer_event_recent()"
        )


def downgrade() -> None:
    for event in EVENT_TRIGGERS:
        op.execute(f"DROP TRIGGER customer_event_recent_{event.lower()} ON tracking_event")
    op.execute("DROP FUNCTION patron_customer_event_recent()")
    op.drop_table("customer_event_recent")
