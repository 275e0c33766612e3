"""stock_movements: every change of a variant's quantity on hand, with who, when, delta and reason

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 15:00:00

Stock that exists before this migration has no history: one `initial` movement per stocked variant
records its quantity as it stands, so the movements of every variant add up to its quantity.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shopwright.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASONS = "'initial', 'admin_adjustment', 'import', 'sale', 'order_edit', 'cancel_restock', 'seed'"


def upgrade() -> None:
    op.create_table(
        "stock_movements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("quantity_after", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            shopwright.db.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.CheckConstraint("delta <> 0", name=op.f("ck_stock_movements_delta_non_zero")),
        sa.CheckConstraint(
            "quantity_after >= 0", name=op.f("ck_stock_movements_quantity_after_non_negative")
        ),
        sa.CheckConstraint(f"reason IN ({REASONS})", name=op.f("ck_stock_movements_reason_known")),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_stock_movements_actor_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_stock_movements_order_id_orders"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variants.id"],
            name=op.f("fk_stock_movements_variant_id_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_movements")),
    )
    op.create_index("ix_stock_movements_variant_id_id", "stock_movements", ["variant_id", "id"], unique=False)
    op.execute(
        "INSERT INTO stock_movements (variant_id, delta, quantity_after, reason) "
        "SELECT variant_id, quantity, quantity, 'initial' FROM inventory WHERE quantity > 0 ORDER BY variant_id"
    )


def downgrade() -> None:
    op.drop_index("ix_stock_movements_variant_id_id", table_name="stock_movements")
    op.drop_table("stock_movements")
