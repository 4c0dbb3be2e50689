"""order and return number sequences; trigram search on variant SKUs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE shop_order_number_seq START WITH 1001")
    op.execute("CREATE SEQUENCE order_return_number_seq START WITH 1")
    op.create_index(
        "ix_product_variant_sku_trgm",
        "product_variant",
        ["sku"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"sku": "gin_trgm_ops"},
    )


def downgrade() -> None:
    op.drop_index(
        "ix_product_variant_sku_trgm",
        table_name="product_variant",
        postgresql_using="gin",
        postgresql_ops={"sku": "gin_trgm_ops"},
    )
    op.execute("DROP SEQUENCE order_return_number_seq")
    op.execute("DROP SEQUENCE shop_order_number_seq")
