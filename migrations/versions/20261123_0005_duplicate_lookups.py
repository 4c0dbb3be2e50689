"""duplicate lookups: addresses by country and postal code

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 03:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_customer_address_place",
        "customer_address",
        ["country", "postal_code"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_customer_address_place", table_name="customer_address")
