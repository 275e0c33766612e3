"""Test fixtures: real PostgreSQL, SQLite, Redis and SMTP; apps, clients and rolled-back sessions.

PostgreSQL comes from TEST_DATABASE_URL, else the local server at 127.0.0.1:5432. When none is
reachable, the PostgreSQL tests are skipped with a notice (or fail when SHOPWRIGHT_TEST_REQUIRE_SERVICES=1,
as in CI) and the API suite still runs on SQLite. Redis likewise (TEST_REDIS_URL).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from aiosmtpd.controller import Controller
from alembic import command
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from shopwright import create_app
from shopwright.cli import alembic_config
from shopwright.config import Settings
from shopwright.db import Base, make_engine, make_sessionmaker
from tests.factories import customer
from tests.factories.catalog import Shop, empty_catalog
from tests.factories.orders import Buyer

REQUIRE_SERVICES = os.environ.get("SHOPWRIGHT_TEST_REQUIRE_SERVICES") == "1"
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Every Redis key this test run writes starts with this: runs sharing one Redis never touch each other's keys.
REDIS_RUN_PREFIX = f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
_notices: list[str] = []


def _pg_reachable() -> bool:
    url = make_url(PG_ADMIN_URL)
    try:
        psycopg.connect(
            url.set(drivername="postgresql").render_as_string(hide_password=False), connect_timeout=3
        ).close()
    except psycopg.Error:
        return False
    return True


def _redis_reachable() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


PG_AVAILABLE = _pg_reachable()
REDIS_AVAILABLE = _redis_reachable()


def _unavailable(what: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (SHOPWRIGHT_TEST_REQUIRE_SERVICES=1) but not reachable")
    pytest.skip(f"{what} not reachable")


def pytest_report_header() -> list[str]:
    pg = f"PostgreSQL: {'yes' if PG_AVAILABLE else 'NOT REACHABLE - PostgreSQL tests skipped, SQLite only'}"
    rd = f"Redis: {'yes' if REDIS_AVAILABLE else 'NOT REACHABLE - Redis tests skipped'}"
    return [pg, rd]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not PG_AVAILABLE:
        terminalreporter.write_line(
            "NOTICE: no PostgreSQL was reachable (set TEST_DATABASE_URL). Only the SQLite subset ran; "
            "the service, concurrency and end-to-end suites were skipped.",
            yellow=True,
        )
    if not REDIS_AVAILABLE:
        terminalreporter.write_line(
            "NOTICE: no Redis was reachable (TEST_REDIS_URL); Redis tests skipped.", yellow=True
        )


# --- databases --------------------------------------------------------------------------------
def _migrate(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test run, dropped at the end."""
    if not PG_AVAILABLE:
        _unavailable("PostgreSQL")
    name = f"shopwright_test_{os.getpid()}"
    admin = make_url(PG_ADMIN_URL)
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    _migrate(url)
    yield url
    _dispose_engines(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database file for this test run."""
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'shopwright.db'}"
    _migrate(url)
    return url


@pytest.fixture
def backend() -> str:
    """The database under test; tests/api overrides this to run on both."""
    return "postgresql"


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{backend}_url")
    return url


_engines: dict[tuple[str, bool], Engine] = {}


def engine_for(url: str, *, autocommit: bool = False) -> Engine:
    """Return one shared engine per database URL (and one of autocommit connections for reads)."""
    if (url, autocommit) not in _engines:
        _engines[url, autocommit] = make_engine(url, pool_size=20, autocommit=autocommit)
    return _engines[url, autocommit]


def _dispose_engines(url: str) -> None:
    for autocommit in (False, True):
        engine = _engines.pop((url, autocommit), None)
        if engine is not None:
            engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Engine:
    return engine_for(database_url)


def truncate_all(engine: Engine) -> None:
    """Delete every row (tests that really commit clean up after themselves)."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            # SQLite checks RESTRICT foreign keys row by row (category trees); check once, at commit.
            conn.execute(text("PRAGMA defer_foreign_keys = ON"))
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def committed_db(engine: Engine) -> Iterator[Engine]:
    """A database whose changes really commit; emptied after the test."""
    yield engine
    truncate_all(engine)


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back after the test.

    Use cases may `session.begin()` and commit: those become savepoints of the outer transaction.
    """
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield session
    session.close()
    outer.rollback()
    connection.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database for this test, flushed afterwards."""
    if not REDIS_AVAILABLE:
        _unavailable("Redis")
    yield REDIS_URL
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{REDIS_RUN_PREFIX}*", count=1000))
    if keys:
        client.delete(*keys)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- a real SMTP server -----------------------------------------------------------------------
class Mailbox:
    """Collects the messages an aiosmtpd server receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # aiosmtpd hook
        message = BytesParser(policy=default_policy).parsebytes(envelope.content)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[str, int, Mailbox]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield "127.0.0.1", port, mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[str, int, Mailbox]) -> Iterator[Mailbox]:
    smtp_server[2].clear()
    yield smtp_server[2]
    smtp_server[2].clear()


# --- apps and clients -------------------------------------------------------------------------
def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for tests: cheap argon2, no rate limits, quiet logs."""
    values: dict[str, Any] = {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET,
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_KIB": 1024,
        "RATE_LIMIT_ENABLED": False,
        "REDIS_KEY_PREFIX": f"{REDIS_RUN_PREFIX}-{uuid.uuid4().hex}",
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": None,
        # Tests arrange data behind the app's back (stock reserved by SQL, rows written directly): their
        # reads must see it at once. tests/api/test_catalog_cache.py turns the cache on.
        "CATALOG_CACHE_ENABLED": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class ClosingClient(FlaskClient):
    """Flask's test client, closing each response before handing it back, as a WSGI server does.

    What the app runs once its answer is sent (`call_on_close`: the outbox's emails) has then run.
    """

    def open(self, *args: Any, buffered: bool = True, **kwargs: Any) -> TestResponse:  # type: ignore[override]
        return super().open(*args, buffered=buffered, **kwargs)


@pytest.fixture
def make_app(
    database_url: str,
    committed_db: Engine,
    smtp_server: tuple[str, int, Mailbox],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Callable[..., Flask]:
    """Build an app on the test database (really committing); keyword arguments override settings."""
    host, port, _ = smtp_server

    def build(**overrides: Any) -> Flask:
        # On PostgreSQL runs the revocation list lives in Redis (as in production); SQLite uses the table.
        if "REDIS_URL" not in overrides and committed_db.dialect.name == "postgresql" and REDIS_AVAILABLE:
            overrides["REDIS_URL"] = request.getfixturevalue("redis_url")
        email = {
            "EMAIL_BACKEND": "smtp",
            "SMTP_HOST": host,
            "SMTP_PORT": port,
            "EMAIL_OUTBOX_DIR": str(tmp_path),
        }
        settings = make_settings(database_url, **{**email, **overrides})
        # Catalog reads go through autocommit connections on PostgreSQL, as in production.
        postgres = committed_db.dialect.name == "postgresql"
        reads = make_sessionmaker(engine_for(database_url, autocommit=True)) if postgres else None
        app = create_app(settings, sessions=make_sessionmaker(committed_db), read_sessions=reads)
        app.test_client_class = ClosingClient
        return app

    return build


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def sessions(committed_db: Engine) -> sessionmaker[Session]:
    """A session factory on the committed test database, for arranging data and checking effects."""
    return make_sessionmaker(committed_db)


@pytest.fixture
def shop(app: Flask, client: FlaskClient, sessions: sessionmaker[Session]) -> Iterator[Shop]:
    """The catalog admin's helpers (tests/factories/catalog.py); the catalog and orders are emptied after."""
    yield Shop(app, client)
    empty_catalog(sessions)


@pytest.fixture
def buyer(client: FlaskClient) -> Buyer:
    """A freshly registered customer with their cart and orders (tests/factories/orders.py)."""
    return Buyer(client, customer(client))
