"""orders filtered by financial status, newest first: index (financial_status, placed_at, id)

Without it, `GET /api/v1/orders?financial_status=refunded&placed_from=…` walks
ix_shop_order_placed backwards and discards every order of another status (88 ms at 400,000
orders for a rare status; 0.1 ms with this index).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 04:22:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_shop_order_financial_placed",
        "shop_order",
        ["financial_status", "placed_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_shop_order_financial_placed", table_name="shop_order")
