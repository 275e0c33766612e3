"""sales rollup: counted sales per day of payment, per product and per customer by period, per order;
orders per status by day of creation; pending orders by creation time

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 18:10:00

The back-office reports read these tables instead of summing every order line (docs/backoffice.md, "The
sales rollup"); shopwright.orders.rollup keeps them up to date. Existing orders are added here with
set-based SQL, so an upgraded shop's reports are right at once. The SQL is a frozen copy of
`rollup.rebuild_statements` (a migration must not change when the application code does).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sales_orders",
        sa.Column("order_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("created_day", sa.Date(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("paid_day", sa.Date(), nullable=True),
        sa.Column("net_cents", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cost_cents", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_sales_orders")),
    )
    op.create_index(
        "ix_sales_orders_paid_day_user",
        "sales_orders",
        ["paid_day", "user_id"],
        unique=False,
        postgresql_where=sa.text("paid_day IS NOT NULL"),
        sqlite_where=sa.text("paid_day IS NOT NULL"),
    )
    op.create_table(
        "order_statuses",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("orders", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("day", "status", name=op.f("pk_order_statuses")),
    )
    op.create_index(
        "ix_orders_pending_created",
        "orders",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "sales_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("orders", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("revenue_cents", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cost_cents", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_sales_days")),
    )
    op.create_table(
        "sales_products",
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("product_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("units", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("revenue", sa.Numeric(), server_default="0", nullable=False),
        sa.Column("cost_cents", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("grain", "period", "product_id", name=op.f("pk_sales_products")),
    )
    op.create_table(
        "sales_customers",
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("orders", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("grain", "period", "user_id", name=op.f("pk_sales_customers")),
    )
    for statement in _backfill(op.get_bind().dialect.name):
        op.execute(sa.text(statement))


def _backfill(dialect: str) -> list[str]:
    if dialect == "postgresql":
        day = "(o.paid_at AT TIME ZONE 'UTC')::date"
        created = "(o.created_at AT TIME ZONE 'UTC')::date"
        month = "date_trunc('month', s.paid_day)::date"
        quarter = "date_trunc('quarter', s.paid_day)::date"
        year = "date_trunc('year', s.paid_day)::date"
        net = "GREATEST(o.subtotal_cents - o.discount_cents - COALESCE(p.refunded_cents, 0), 0)"
    else:
        day = "date(o.paid_at)"
        created = "date(o.created_at)"
        month = "date(s.paid_day, 'start of month')"
        quarter = (
            "date(s.paid_day, 'start of month', "
            "'-' || ((CAST(strftime('%m', s.paid_day) AS INTEGER) - 1) % 3) || ' months')"
        )
        year = "date(s.paid_day, 'start of year')"
        net = "MAX(o.subtotal_cents - o.discount_cents - COALESCE(p.refunded_cents, 0), 0)"
    counted = "o.status IN ('paid', 'shipped', 'delivered') AND o.paid_at IS NOT NULL"
    statements = [
        f"""INSERT INTO sales_orders (order_id, status, created_day, user_id, paid_day, net_cents, cost_cents)
        SELECT o.id, o.status, {created},
               CASE WHEN {counted} THEN o.user_id END,
               CASE WHEN {counted} THEN {day} END,
               CASE WHEN {counted} THEN {net} ELSE 0 END,
               CASE WHEN {counted} THEN COALESCE((SELECT sum(i.unit_cost_cents * i.quantity)
                                                  FROM order_items i WHERE i.order_id = o.id), 0)
                    ELSE 0 END
        FROM orders o
        LEFT JOIN payments p ON p.order_id = o.id AND p.status = 'succeeded'
        WHERE o.status <> 'pending'""",  # noqa: S608
        """INSERT INTO order_statuses (day, status, orders)
        SELECT created_day, status, count(*) FROM sales_orders GROUP BY created_day, status""",
        """INSERT INTO sales_days (day, orders, revenue_cents, cost_cents)
        SELECT paid_day, count(*), sum(net_cents), sum(cost_cents) FROM sales_orders
        WHERE paid_day IS NOT NULL GROUP BY paid_day""",
    ]
    revenue = (
        "i.line_total_cents - CASE WHEN o.subtotal_cents - s.net_cents > 0 THEN "
        "1.0 * i.line_total_cents * (o.subtotal_cents - s.net_cents) / o.subtotal_cents ELSE 0 END"
    )
    for grain, period in (("d", "s.paid_day"), ("m", month), ("q", quarter), ("y", year)):
        statements.append(
            # Built from this module's constants only.
            f"""INSERT INTO sales_products (grain, period, product_id, units, revenue, cost_cents)
            SELECT '{grain}', {period}, i.product_id, sum(i.quantity), sum({revenue}),
                   sum(i.unit_cost_cents * i.quantity)
            FROM sales_orders s
            JOIN orders o ON o.id = s.order_id
            JOIN order_items i ON i.order_id = s.order_id
            WHERE s.paid_day IS NOT NULL
            GROUP BY {period}, i.product_id"""  # noqa: S608
        )
    for grain, period in (("m", month), ("q", quarter), ("y", year)):
        statements.append(
            f"""INSERT INTO sales_customers (grain, period, user_id, orders)
            SELECT '{grain}', {period}, s.user_id, count(*)
            FROM sales_orders s
            WHERE s.paid_day IS NOT NULL
            GROUP BY {period}, s.user_id"""  # noqa: S608
        )
    return statements


def downgrade() -> None:
    op.drop_table("sales_customers")
    op.drop_table("sales_products")
    op.drop_table("sales_days")
    op.drop_index("ix_orders_pending_created", table_name="orders")
    op.drop_table("order_statuses")
    op.drop_index("ix_sales_orders_paid_day_user", table_name="sales_orders")
    op.drop_table("sales_orders")
