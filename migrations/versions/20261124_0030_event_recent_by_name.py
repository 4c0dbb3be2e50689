"""latest events: customer_event_recent hash-partitioned by event name

``did "X" at least N times within D days`` reads the rows of one event name from
``customer_event_recent``; with every name in one heap, that was a scan of the whole table
(1 GB for 5.5 million rows at full scale, 0.36 s) to keep a sixth of it. Partitioned by a
hash of the name, a condition reads its name's partition (plus whatever names share it):
the benchmark's viewed-product rows in 62 ms. Rows, keys and the triggers that keep the
table (which name it, not its partitions) are unchanged.

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-24 07:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "customer_event_recent"
PARTITIONS = 16
COPY = "INSERT INTO customer_event_recent SELECT name, customer_id, recent FROM old"


def _create(**partitioning: str) -> None:
    op.create_table(
        TABLE,
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("recent", postgresql.ARRAY(sa.DateTime(timezone=True)), nullable=False),
        sa.PrimaryKeyConstraint("name", "customer_id", name=op.f(f"pk_{TABLE}")),
        **partitioning,
    )


def _set_aside() -> None:
    """The current table renamed ``old`` (its key too, so the new one can take the name)."""
    op.execute(f"ALTER TABLE {TABLE} RENAME TO old")
    op.execute(f"ALTER TABLE old RENAME CONSTRAINT pk_{TABLE} TO pk_old")


def upgrade() -> None:
    _set_aside()
    _create(postgresql_partition_by="HASH (name)")
    for remainder in range(PARTITIONS):
        op.execute(
            f"CREATE TABLE {TABLE}_{remainder} PARTITION OF {TABLE} "
            f"FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {remainder})"
        )
    op.execute(COPY)
    op.drop_table("old")


def downgrade() -> None:
    _set_aside()
    _create()
    op.execute(COPY)
    op.drop_table("old")  # its partitions with it
