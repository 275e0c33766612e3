"""Database plumbing: declarative base, engine and sessions, per-request session, after-commit hooks."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Integer,
    MetaData,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from shopwright.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Every primary key is an INTEGER column. A larger number (from a URL, a body or a cursor) names no
# row, and binding it would overflow the driver (a 500 for bad input): lookups answer "not found" first.
MAX_ID = 2**31 - 1


class Base(DeclarativeBase):
    """Base of every model; constraint names follow NAMING_CONVENTION so errors can be mapped by name."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp: TIMESTAMPTZ on PostgreSQL, naive UTC text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False, pre_ping: bool = False) -> Engine:
    """Create the engine for `url`; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    # Pre-ping costs a round trip on every checkout; by default a dropped connection is instead
    # detected on use (SQLAlchemy then invalidates the pool) and connections are recycled hourly.
    return create_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping, pool_recycle=3600
    )


def _configure_sqlite(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy own BEGIN (see _begin_immediate): pysqlite's implicit BEGIN breaks SAVEPOINT.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    # Take SQLite's write lock up front: a deferred transaction that reads, then writes, fails with
    # SQLITE_BUSY instead of waiting when another writer got there first. This serialises writers.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def table_of(model: type[Base]) -> Table:
    """Return a mapped class's table, for Core statements built once (they skip the ORM execution path)."""
    return cast(Table, model.__table__)


def is_postgres(session: Session) -> bool:
    """Tell whether this session talks to PostgreSQL (else the embedded SQLite)."""
    return session.get_bind().dialect.name == "postgresql"


def id_among(
    column: ColumnElement[int] | InstrumentedAttribute[int], name: str, postgres: bool
) -> ColumnElement[bool]:
    """Return `column` among the ids bound to parameter `name` (a list), fit to be built once."""
    if postgres:
        # One array parameter: the same statement for any number of ids, so psycopg prepares it once,
        # where an IN list is a new statement (parsed and planned again) for every length.
        return column == any_(bindparam(name, type_=ARRAY(Integer)))
    return column.in_(bindparam(name, expanding=True))


def conflict_insert(session: Session, entity: Any) -> postgresql.Insert:
    """Return an INSERT into `entity` that takes ON CONFLICT clauses on this session's database."""
    if is_postgres(session):
        return postgresql.insert(entity)
    # SQLite's Insert has the same on_conflict_do_nothing/do_update API as PostgreSQL's.
    return cast(postgresql.Insert, sqlite.insert(entity))


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory used by requests, commands and workers."""
    return sessionmaker(bind=engine, expire_on_commit=False)


# --- after-commit hooks -------------------------------------------------------------------------
_HOOKS_KEY = "shopwright.after_commit"


def after_commit(session: Session, callback: Callable[[], Any]) -> None:
    """Run `callback` once the session's current transaction commits; drop it on rollback."""
    session.info.setdefault(_HOOKS_KEY, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit_hooks(session: Session) -> None:
    hooks = session.info.pop(_HOOKS_KEY, [])
    for hook in hooks:
        hook()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit_hooks(session: Session, _previous: Any) -> None:
    session.info.pop(_HOOKS_KEY, None)


# --- request scope (the only Flask-aware part of this module) ---------------------------------
_SESSIONS_KEY = "shopwright.sessions"


def get_session() -> Session:
    """Return this request's session, opened on first use and closed when the request ends."""
    from flask import current_app, g

    if "db_session" not in g:
        g.db_session = current_app.extensions[_SESSIONS_KEY]()
    session: Session = g.db_session
    return session


def get_settings() -> Settings:
    """Return the running app's settings."""
    from flask import current_app

    settings: Settings = current_app.extensions["shopwright.settings"]
    return settings


def close_session(error: BaseException | None = None) -> None:
    """Close this request's session: a clean read transaction ends with COMMIT, anything else rolls back."""
    from flask import g

    session: Session | None = g.pop("db_session", None)
    if session is None:
        return
    # Use cases commit their own writes. What is left is a read transaction: COMMIT ends it as well as
    # ROLLBACK does, and keeps psycopg's prepared statements (a ROLLBACK discards them).
    if error is None and session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.commit()
    session.close()
