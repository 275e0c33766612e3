"""order_items: unique per (order, variant, unit price), so an edit can add units at today's price

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 12:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("order_items") as batch:  # SQLite rebuilds the table
        batch.drop_constraint("uq_order_items_order_variant", type_="unique")
        batch.create_unique_constraint(
            "uq_order_items_order_variant_price", ["order_id", "variant_id", "unit_price_cents"]
        )


def downgrade() -> None:
    # Only possible while no order has two lines of one variant (split by an edit): merge them first.
    with op.batch_alter_table("order_items") as batch:
        batch.drop_constraint("uq_order_items_order_variant_price", type_="unique")
        batch.create_unique_constraint("uq_order_items_order_variant", ["order_id", "variant_id"])
