"""Alembic environment: one script for PostgreSQL and SQLite (batch mode on SQLite)."""

from __future__ import annotations

import warnings

from alembic import context
from sqlalchemy import Connection

from shopwright.config import Settings
from shopwright.db import make_engine
from shopwright.models import Base

# SQLAlchemy cannot reflect expression indexes on SQLite (uq_categories_parent_name); PostgreSQL
# compares them. The index is still created on both; only the comparison is skipped on SQLite.
warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index")
warnings.filterwarnings("ignore", message="autogenerate skipping metadata-specified expression-based index")

config = context.config
target_metadata = Base.metadata


# Database objects made by hand in migrations that the models deliberately do not map.
UNMAPPED = {("column", "search_vector"), ("index", "ix_products_search")}


def _include_object(
    _object: object, name: str | None, type_: str, reflected: bool, _compare_to: object
) -> bool:
    return not (reflected and (type_, name) in UNMAPPED)


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings().DATABASE_URL


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    dialect = connection.dialect.name if connection is not None else (url or "").split(":", 1)[0]
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        render_as_batch=dialect.startswith("sqlite"),  # SQLite cannot ALTER most things in place
        compare_type=True,
        include_object=_include_object,
        literal_binds=connection is None,
    )


def run_offline() -> None:
    _configure(url=_url())
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _configure(connection=connectable)
        context.run_migrations()
        return
    engine = make_engine(_url(), pool_size=1)
    with engine.connect() as connection:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
