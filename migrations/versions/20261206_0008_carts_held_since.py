"""carts.held_since: when a cart's reservations began, to bound how long it holds stock

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shopwright.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: carts open before this hold none yet; their next reservation starts the clock.
    op.add_column("carts", sa.Column("held_since", shopwright.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("carts") as batch:
        batch.drop_column("held_since")
