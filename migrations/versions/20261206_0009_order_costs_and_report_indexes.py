"""order costs and report indexes: the back-office reports' scans (docs/backoffice.md)

Order lines already snapshot `unit_cost_cents` at checkout (since 0004, from the variant's `cost_cents`;
order edits snapshot it for the units they add), so no column is added here: lines written before a
variant had a cost carry 0, and the reports count them at cost 0.

- `ix_orders_paid_counted`: orders that count in the reports (paid, shipped, delivered) by `paid_at`,
  a partial index, so a window reads only its own orders.
- `ix_orders_created_at`: orders by creation time with their status (the dashboard's orders by status).
- `ix_order_items_order_id_report`: a counted order's lines with what the reports sum (PostgreSQL keeps
  them in the index: an index-only scan; SQLite indexes `order_id` alone).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 14:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTED = "status IN ('paid', 'shipped', 'delivered')"


def upgrade() -> None:
    op.create_index(
        "ix_orders_paid_counted",
        "orders",
        ["paid_at"],
        postgresql_where=sa.text(COUNTED),
        sqlite_where=sa.text(COUNTED),
    )
    op.create_index("ix_orders_created_at", "orders", ["created_at", "status"])
    op.create_index(
        "ix_order_items_order_id_report",
        "order_items",
        ["order_id"],
        postgresql_include=["product_id", "quantity", "line_total_cents", "unit_cost_cents"],
    )


def downgrade() -> None:
    op.drop_index("ix_order_items_order_id_report", table_name="order_items")
    op.drop_index("ix_orders_created_at", table_name="orders")
    op.drop_index("ix_orders_paid_counted", table_name="orders")
