"""Database plumbing: declarative base, engine and sessions, per-request session, after-commit hooks."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Integer,
    MetaData,
    Row,
    Table,
    UniqueConstraint,
    any_,
    bindparam,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from shopwright.config import Settings
from shopwright.failover import ReplicaFallback, discard_if_closed_by_server

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


def is_row_id(value: int) -> bool:
    """Tell whether `value` can be a primary key (1..MAX_ID): a larger number names no row."""
    return 0 < value <= MAX_ID


M = TypeVar("M")


def get_by_id(session: Session, model: type[M], row_id: int, **options: Any) -> M | None:
    """Return the `model` row with this primary key, or None (also for a number no row can have)."""
    return session.get(model, row_id, **options) if is_row_id(row_id) else None


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
        if value.tzinfo is UTC:
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    echo: bool = False,
    pre_ping: bool = False,
    autocommit: bool = False,
    connect_timeout: int | None = None,
    statement_timeout: int = 0,
) -> Engine:
    """Create the engine for `url`; SQLite gets WAL, foreign keys and a busy timeout.

    PostgreSQL: `autocommit` runs each statement on its own, for read-only sessions; `connect_timeout`
    and `statement_timeout` (seconds, 0 for none) bound how long a connection attempt and a statement
    may take, so that an outage fails requests instead of hanging them.
    """
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
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    engine = create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=pre_ping,
        pool_recycle=3600,
        connect_args={"connect_timeout": connect_timeout} if connect_timeout else {},
        **options,
    )
    event.listen(engine, "connect", functools.partial(_session_settings, statement_timeout=statement_timeout))
    event.listen(engine, "checkout", discard_if_closed_by_server)
    return engine


def _session_settings(dbapi_connection: Any, _record: ConnectionPoolEntry, *, statement_timeout: int) -> None:
    # Timestamps then arrive in UTC with psycopg's datetime.UTC, which UTCDateTime and the API's
    # formatting pass through as they are (with another zone, every value was converted twice).
    dbapi_connection.execute("SET TIME ZONE 'UTC'")
    # No JIT: compiling a plan costs tens to hundreds of ms, more than it saves on any of our statements
    # (the reports over long windows crossed jit_above_cost; docs/backoffice.md).
    dbapi_connection.execute("SET jit = off")
    if statement_timeout:
        dbapi_connection.execute(f"SET statement_timeout = {int(statement_timeout) * 1000}")
    dbapi_connection.commit()


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


# A result row of any shape, read by column name (row.id): what Core statements return.
AnyRow = Row[*tuple[Any, ...]]


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


def violated_constraint(error: IntegrityError) -> str | None:
    """Return the name of the constraint (or unique index) a statement broke, when the database tells.

    PostgreSQL names it. SQLite names CHECK constraints and unique expression indexes, and other unique
    constraints by their columns, which Base.metadata maps back to their name. Foreign keys are named
    on PostgreSQL only: ask `is_foreign_key_violation`.
    """
    name: str | None = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
    if name:
        return name
    message = str(error.orig)
    if message.startswith("CHECK constraint failed: "):
        return message.removeprefix("CHECK constraint failed: ").strip()
    if message.startswith("UNIQUE constraint failed: index "):
        return message.removeprefix("UNIQUE constraint failed: index ").strip().strip("'")
    if message.startswith("UNIQUE constraint failed: "):
        columns = [
            part.strip().split(".") for part in message.removeprefix("UNIQUE constraint failed: ").split(",")
        ]
        return _unique_named(columns[0][0], {column for _table, column in columns})
    return None


def is_foreign_key_violation(error: IntegrityError) -> bool:
    """Tell whether a statement broke a foreign key (a row it refers to, or one referring to it)."""
    return getattr(error.orig, "sqlstate", None) == "23503" or str(error.orig).startswith(
        "FOREIGN KEY constraint failed"
    )


def _unique_named(table_name: str, columns: set[str]) -> str | None:
    table = Base.metadata.tables.get(table_name)
    if table is None:
        return None
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and {c.name for c in constraint.columns} == columns:
            return str(constraint.name)
    for index in table.indexes:
        if index.unique and {c.name for c in index.columns} == columns:
            return str(index.name)
    return None


def conflict_insert(session: Session, entity: Any) -> postgresql.Insert:
    """Return an INSERT into `entity` that takes ON CONFLICT clauses on this session's database."""
    if is_postgres(session):
        return postgresql.insert(entity)
    # SQLite's Insert has the same on_conflict_do_nothing/do_update API as PostgreSQL's.
    return cast(postgresql.Insert, sqlite.insert(entity))


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory used by requests, commands and workers."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def make_read_sessionmaker(settings: Settings, sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Return the session factory of public catalog reads: a replica, or autocommit connections.

    A read that is its own statements needs no transaction: an autocommit connection saves the BEGIN
    and COMMIT round trips of every product page (each statement of a READ COMMITTED transaction sees
    its own snapshot anyway). On SQLite, reads share the sessions of writes. A replica that cannot be
    reached is replaced by the primary until it answers again (failover.ReplicaFallback).
    """
    url = settings.DATABASE_READ_URL or settings.DATABASE_URL
    if url.startswith("sqlite"):
        return sessions
    pool_size = settings.DATABASE_POOL_SIZE
    engine = make_engine(
        url,
        pool_size=pool_size,
        echo=settings.DATABASE_ECHO,
        pre_ping=settings.DATABASE_POOL_PRE_PING,
        autocommit=True,
        connect_timeout=settings.DATABASE_CONNECT_TIMEOUT_SECONDS,
        statement_timeout=settings.DATABASE_STATEMENT_TIMEOUT_SECONDS,
    )
    if settings.DATABASE_READ_URL:
        ReplicaFallback(settings.DATABASE_URL, settings.DATABASE_READ_FALLBACK_SECONDS).attach(engine)
    return make_sessionmaker(engine)


# --- after-commit hooks -------------------------------------------------------------------------
_HOOKS_KEY = "shopwright.after_commit"


def after_commit(session: Session, callback: Callable[[], Any]) -> None:
    """Run `callback` once the session's current transaction commits; drop it on rollback."""
    session.info.setdefault(_HOOKS_KEY, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit_hooks(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT was released: the transaction itself goes on
        return
    hooks = session.info.pop(_HOOKS_KEY, [])
    for hook in hooks:
        hook()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit_hooks(session: Session, _previous: Any) -> None:
    session.info.pop(_HOOKS_KEY, None)


# --- request scope (the only Flask-aware part of this module) ---------------------------------
_SESSIONS_KEY = "shopwright.sessions"
_READ_SESSIONS_KEY = "shopwright.read_sessions"
_FRESH_READ_SESSIONS_KEY = "shopwright.fresh_read_sessions"


def get_session() -> Session:
    """Return this request's session, opened on first use and closed when the request ends."""
    from flask import current_app, g

    if "db_session" not in g:
        g.db_session = current_app.extensions[_SESSIONS_KEY]()
    session: Session = g.db_session
    return session


def get_read_session(*, fresh: bool = False) -> Session:
    """Return this request's session for reads (make_read_sessionmaker); never write on it.

    `fresh`: the read must see the latest commit (a profile just changed), so never a replica: the
    autocommit pool of the primary, or the request's session when reads go to a replica.
    """
    from flask import current_app, g

    if fresh:
        if current_app.extensions[_FRESH_READ_SESSIONS_KEY] is current_app.extensions[_SESSIONS_KEY]:
            return get_session()
    elif current_app.extensions[_READ_SESSIONS_KEY] is current_app.extensions[_SESSIONS_KEY]:
        return get_session()  # SQLite: one pool
    if "db_read_session" not in g:
        g.db_read_session = current_app.extensions[_READ_SESSIONS_KEY]()
    session: Session = g.db_read_session
    return session


def get_settings() -> Settings:
    """Return the running app's settings."""
    from flask import current_app

    settings: Settings = current_app.extensions["shopwright.settings"]
    return settings


def close_session(error: BaseException | None = None) -> None:
    """Close this request's session: a clean read transaction ends with COMMIT, anything else rolls back."""
    from flask import g

    read_session: Session | None = g.pop("db_read_session", None)
    if read_session is not None:
        read_session.close()
    session: Session | None = g.pop("db_session", None)
    if session is None:
        return
    # Use cases commit their own writes. What is left is a read transaction: COMMIT ends it as well as
    # ROLLBACK does, and keeps psycopg's prepared statements (a ROLLBACK discards them).
    if error is None and session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.commit()
    session.close()


# --- bulk writes on PostgreSQL (COPY) -----------------------------------------------------------
def copy_rows(session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """COPY rows into `table` on the session's connection, inside its transaction (PostgreSQL only).

    Many times faster than an executemany of the same rows: the bulk paths' way to insert.
    """
    raw = session.connection().connection.driver_connection
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row(row)


def staged_update(
    session: Session, table: str, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Set `columns` of many rows of `table` (matched on `key`, each row `(key, *columns)`; PostgreSQL).

    The rows are COPYed into a temporary table dropped at commit, then one UPDATE … FROM joins it: one
    statement for any number of rows. Names are the caller's constants, never input.
    """
    if not rows:
        return
    staging = f"staged_{table}"
    names = ", ".join((key, *columns))
    session.execute(text(f"DROP TABLE IF EXISTS pg_temp.{staging}"))
    session.execute(
        text(f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS SELECT {names} FROM {table} WITH NO DATA")  # noqa: S608
    )
    copy_rows(session, staging, (key, *columns), rows)
    assignments = ", ".join(f"{column} = s.{column}" for column in columns)
    update = f"UPDATE {table} AS t SET {assignments} FROM {staging} AS s WHERE t.{key} = s.{key}"  # noqa: S608
    session.execute(text(update))
