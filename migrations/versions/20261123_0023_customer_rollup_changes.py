"""customer rollup changes: the signed fact rows order changes append for the rollup job

Order changes no longer add to ``customer_orders_daily`` / ``customer_cohort_daily`` in their
own transaction (two first orders of one day waited on the same sum rows); they append their
fact changes here and the ``reports.rollup_queued`` job adds them up
(``patron/analytics/customer_rollups.py``). Starts empty: the sums are up to date.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-23 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_rollup_change",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("channel_key", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("prev_day", sa.Date(), nullable=True),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("month_first", sa.Boolean(), nullable=False),
        sa.Column("net", sa.Numeric(), nullable=False),
        sa.Column("sign", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("sign IN (-1, 1)", name=op.f("ck_customer_rollup_change_sign")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_rollup_change")),
    )


def downgrade() -> None:
    # the pending changes are added to the sums first, as the job would
    op.execute(
        "INSERT INTO customer_orders_daily AS t (channel_key, day, prev_day, seq, orders, net)"
        " SELECT channel_key, day, prev_day, seq, sum(sign), sum(sign * net)"
        " FROM customer_rollup_change GROUP BY channel_key, day, prev_day, seq"
        " ON CONFLICT (channel_key, day, prev_day, seq) DO UPDATE"
        " SET orders = t.orders + EXCLUDED.orders, net = t.net + EXCLUDED.net"
    )
    op.execute(
        "INSERT INTO customer_cohort_daily AS t"
        " (channel_key, first_day, day, customers, month_customers, net)"
        " SELECT channel_key, first_day, day, coalesce(sum(sign) FILTER (WHERE seq = 1), 0),"
        " coalesce(sum(sign) FILTER (WHERE month_first), 0), sum(sign * net)"
        " FROM customer_rollup_change GROUP BY channel_key, first_day, day"
        " ON CONFLICT (channel_key, first_day, day) DO UPDATE"
        " SET customers = t.customers + EXCLUDED.customers,"
        " month_customers = t.month_customers + EXCLUDED.month_customers,"
        " net = t.net + EXCLUDED.net"
    )
    op.drop_table("customer_rollup_change")
