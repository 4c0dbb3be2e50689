"""timeline index for the staff report

The staff report counts, per staff member, the notes, calls, meetings and logged emails of a
period (``patron/analytics/staff_repository.py``). Without this index that is a scan of the
whole timeline, most of whose rows are the system's (orders, payments, shipments); with it,
an index-only scan of the staff members' own entries (EXPLAIN on 5,000 timeline rows, one in
six a staff member's: the planner picks it over the sequential scan of every row).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-23 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_timeline_entry_staff_work",
        "timeline_entry",
        ["actor_id", "kind", "occurred_at"],
        postgresql_where=sa.text("actor_type IN ('user', 'api_key')"),
    )


def downgrade() -> None:
    op.drop_index("ix_timeline_entry_staff_work", table_name="timeline_entry")
