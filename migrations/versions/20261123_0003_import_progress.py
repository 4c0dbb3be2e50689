"""import options, dry-run counts and progress

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "import_job",
        sa.Column(
            "options",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
    )
    op.add_column(
        "import_job", sa.Column("would_insert", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "import_job", sa.Column("would_update", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "import_job", sa.Column("progress", sa.SmallInteger(), server_default="0", nullable=False)
    )
    op.add_column(
        "import_job", sa.Column("validated_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("import_job", "validated_at")
    op.drop_column("import_job", "progress")
    op.drop_column("import_job", "would_update")
    op.drop_column("import_job", "would_insert")
    op.drop_column("import_job", "options")
