"""products.category_id may be NULL: a product may have no category

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 12:00:00

On SQLite the NOT NULL is edited out of the stored table definition, the way SQLite's own ALTER TABLE
page describes for dropping a NOT NULL (the rows on disk do not change). Alembic's batch mode would
instead copy the table and drop the old one, and with foreign keys on (db.py turns them on, and they
cannot be turned off inside the migration's transaction) that drop deletes every variant, review and
cart line through their ON DELETE CASCADE.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REQUIRED = "category_id INTEGER NOT NULL,"
OPTIONAL = "category_id INTEGER,"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rewrite_sqlite_definition(REQUIRED, OPTIONAL)
    else:
        op.alter_column("products", "category_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # Refused while a product has no category: there is no category to give it back.
    if op.get_bind().execute(sa.text("SELECT count(*) FROM products WHERE category_id IS NULL")).scalar():
        raise RuntimeError("Give every product a category before downgrading below 0006")
    if op.get_bind().dialect.name == "sqlite":
        _rewrite_sqlite_definition(OPTIONAL, REQUIRED)
    else:
        op.alter_column("products", "category_id", existing_type=sa.Integer(), nullable=False)


def _rewrite_sqlite_definition(old: str, new: str) -> None:
    bind = op.get_bind()
    definition = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'products'")
    ).scalar_one()
    if definition.count(old) != 1:
        raise RuntimeError(f"products is not defined as this migration expects: {old!r} not found once")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'products'"),
        {"sql": definition.replace(old, new)},
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")  # connections re-read the schema
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
