"""tracking events (partitioned by month) and anonymous visitors

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The general form of patron_ensure_audit_partitions (0001): any table partitioned by month.
EVENT_PARTITIONS = """
CREATE TABLE tracking_event_default PARTITION OF tracking_event DEFAULT;

CREATE FUNCTION patron_ensure_monthly_partitions(parent text, months_ahead integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    first_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    lower_bound date;
    partition_name text;
    created integer := 0;
BEGIN
    FOR i IN 0..months_ahead LOOP
        lower_bound := (first_month + make_interval(months => i))::date;
        partition_name := parent || '_' || to_char(lower_bound, 'YYYY_MM');
        CONTINUE WHEN to_regclass(partition_name) IS NOT NULL;
        BEGIN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                partition_name, parent,
                lower_bound::text || ' 00:00:00+00',
                (lower_bound + interval '1 month')::date::text || ' 00:00:00+00'
            );
            created := created + 1;
        EXCEPTION WHEN check_violation THEN
            -- that month's rows already sit in the default partition: they stay there
            RAISE NOTICE 'partition % skipped: the default partition holds its rows',
                partition_name;
        END;
    END LOOP;
    RETURN created;
END $$;

SELECT patron_ensure_monthly_partitions('tracking_event', 3);
"""

# storefront keys: the manager and marketing roles of an existing database get the new scope
GRANT_SCOPE = """
UPDATE role SET scopes = array_append(scopes, 'events:write')
WHERE builtin AND name IN ('manager', 'marketing') AND NOT ('events:write' = ANY(scopes))
"""
REVOKE_SCOPE = "UPDATE role SET scopes = array_remove(scopes, 'events:write')"


def _run_script(sql: str) -> None:
    # straight to psycopg: a script with several statements and literal % signs
    op.get_bind().connection.driver_connection.execute(sql)


def upgrade() -> None:
    op.create_table(
        "tracking_event",
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("customer_id", sa.UUID(), nullable=True),
        sa.Column("anonymous_id", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "properties",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_tracking_event_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("occurred_at", "id", name=op.f("pk_tracking_event")),
        postgresql_partition_by="RANGE (occurred_at)",
    )
    op.create_index(
        "ix_tracking_event_customer",
        "tracking_event",
        ["customer_id", "occurred_at", "id"],
        unique=False,
        postgresql_where=sa.text("customer_id IS NOT NULL"),
    )
    op.create_index(
        "ix_tracking_event_name", "tracking_event", ["name", "occurred_at"], unique=False
    )
    op.create_index(
        "ix_tracking_event_anonymous",
        "tracking_event",
        ["anonymous_id", "occurred_at"],
        unique=False,
        postgresql_where=sa.text("anonymous_id IS NOT NULL"),
    )
    _run_script(EVENT_PARTITIONS)
    op.create_table(
        "tracking_event_key",
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("source", "idempotency_key", name=op.f("pk_tracking_event_key")),
    )
    op.create_index(
        "ix_tracking_event_key_created", "tracking_event_key", ["created_at"], unique=False
    )
    op.create_table(
        "anonymous_visitor",
        sa.Column("anonymous_id", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column(
            "identified_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_anonymous_visitor_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("anonymous_id", name=op.f("pk_anonymous_visitor")),
    )
    op.create_index(
        op.f("ix_anonymous_visitor_customer_id"),
        "anonymous_visitor",
        ["customer_id"],
        unique=False,
    )
    op.execute(GRANT_SCOPE)


def downgrade() -> None:
    op.execute(REVOKE_SCOPE)
    op.drop_index(op.f("ix_anonymous_visitor_customer_id"), table_name="anonymous_visitor")
    op.drop_table("anonymous_visitor")
    op.drop_index("ix_tracking_event_key_created", table_name="tracking_event_key")
    op.drop_table("tracking_event_key")
    op.execute("DROP TABLE tracking_event")  # with its partitions
    op.execute("DROP FUNCTION patron_ensure_monthly_partitions(text, integer)")
