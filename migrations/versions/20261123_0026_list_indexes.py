"""every customer has a metrics row; indexes for the list's last-order and name sorts

The customer list inner-joins ``customer_metrics`` so that sorting and filtering on the
figures walk their indexes: every live customer now has a row (zeros until they order),
created by a statement-level trigger on ``customer`` whichever path inserts the customer
(the API, imports, integrations, COPY loads). Customers merged away keep having none.

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-23 20:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the expression of the list's last-order sort (patron.customers.listing.LAST_ORDER_SORT)
LAST_ORDER_SORT = "coalesce(last_order_at, '1970-01-01 00:00:00+00'::timestamp with time zone)"


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION customer_metrics_row() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO customer_metrics (customer_id)
            SELECT id FROM inserted_customers
            ON CONFLICT (customer_id) DO NOTHING;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER customer_metrics_row AFTER INSERT ON customer
        REFERENCING NEW TABLE AS inserted_customers
        FOR EACH STATEMENT EXECUTE FUNCTION customer_metrics_row()
        """
    )
    op.execute(
        """
        INSERT INTO customer_metrics (customer_id)
        SELECT c.id FROM customer c
        WHERE c.merged_into_id IS NULL
          AND NOT EXISTS (SELECT 1 FROM customer_metrics m WHERE m.customer_id = c.id)
        ON CONFLICT (customer_id) DO NOTHING
        """
    )
    op.execute(
        "CREATE INDEX ix_customer_metrics_last_order_sort ON customer_metrics "
        f"(({LAST_ORDER_SORT}), customer_id)"
    )
    op.create_index("ix_customer_search_name_sort", "customer", ["search_name", "id"])


def downgrade() -> None:
    op.drop_index("ix_customer_search_name_sort", table_name="customer")
    op.execute("DROP INDEX ix_customer_metrics_last_order_sort")
    op.execute("DROP TRIGGER customer_metrics_row ON customer")
    op.execute("DROP FUNCTION customer_metrics_row()")
