"""Public catalog reads run on their own sessions: autocommit connections, or a replica."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from shopwright import create_app
from shopwright.db import (
    close_session,
    get_read_session,
    get_session,
    make_engine,
    make_read_sessionmaker,
    make_sessionmaker,
)
from tests.conftest import make_settings


def test_postgresql_reads_use_autocommit_connections(postgresql_url: str) -> None:
    writes = make_sessionmaker(make_engine(postgresql_url, pool_size=1))
    reads = make_read_sessionmaker(make_settings(postgresql_url), writes)
    try:
        with reads() as session:
            assert session.execute(text("SELECT 1")).scalar_one() == 1
            driver = session.connection().connection.driver_connection
            assert driver is not None
            assert driver.autocommit is True  # no BEGIN / COMMIT round trips around a page
            assert session.execute(text("SELECT now() = statement_timestamp()")).scalar_one() is True
    finally:
        reads.kw["bind"].dispose()
        writes.kw["bind"].dispose()


def test_a_replica_url_is_used_for_reads(postgresql_url: str) -> None:
    replica = postgresql_url + "?application_name=shopwright-replica"
    writes = make_sessionmaker(make_engine(postgresql_url, pool_size=1))
    reads = make_read_sessionmaker(make_settings(postgresql_url, DATABASE_READ_URL=replica), writes)
    try:
        with reads() as session:
            name = session.execute(text("SHOW application_name")).scalar_one()
        assert name == "shopwright-replica"
    finally:
        reads.kw["bind"].dispose()
        writes.kw["bind"].dispose()


def test_sqlite_reads_share_the_write_sessions(sqlite_url: str) -> None:
    writes = make_sessionmaker(make_engine(sqlite_url))
    assert make_read_sessionmaker(make_settings(sqlite_url), writes) is writes


@pytest.mark.parametrize("replica", [False, True])
def test_fresh_reads_never_go_to_a_replica(postgresql_url: str, replica: bool) -> None:
    read_url = postgresql_url + "?application_name=shopwright-replica" if replica else None
    app = create_app(make_settings(postgresql_url, DATABASE_READ_URL=read_url))
    try:
        with app.test_request_context():
            catalog, fresh, request = get_read_session(), get_read_session(fresh=True), get_session()
            assert catalog is not request
            # Behind a replica a fresh read (GET /me after PUT /me) uses the request's own session;
            # without one it may use the autocommit pool of the primary like catalog reads.
            assert (fresh is request) is replica
            assert (fresh is catalog) is not replica
            close_session()
    finally:
        for key in ("shopwright.sessions", "shopwright.read_sessions"):
            app.extensions[key].kw["bind"].dispose()
