"""db.Prepared: statements built once, sent on psycopg's cursor, behave as through SQLAlchemy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import (
    CheckConstraint,
    Column,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    bindparam,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, InvalidRequestError
from sqlalchemy.orm import Session

from shopwright.db import Prepared, UTCDateTime, utcnow

_metadata = MetaData()
# A temporary table (gone with the test's rolled-back transaction) with the kinds of columns that
# need SQLAlchemy's processing: UTC timestamps, numerics, Python-side defaults and onupdate.
_things = Table(
    "prepared_things",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("note", String(50), nullable=False),
    Column("price", Numeric(6, 2), nullable=False),
    Column("qty", Integer, nullable=False, default=0),
    Column("at", UTCDateTime, nullable=False),
    Column("touched", UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow),
    CheckConstraint("qty >= 0", name="qty_non_negative"),
    prefixes=["TEMPORARY"],
)
_INSERT = Prepared(insert(_things).returning(_things.c.id, _things.c.touched))
_SELECT = Prepared(select(_things).where(_things.c.id == bindparam("id")))
_SET_QTY = Prepared(
    update(_things).where(_things.c.id == bindparam("thing")).values(qty=bindparam("new_qty"))
)
AT = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


@pytest.fixture
def session(db_session: Session) -> Session:
    _metadata.create_all(db_session.connection())
    return db_session


def _insert(session: Session, **values: Any) -> int:
    row = _INSERT.first(session, {"note": "a", "price": Decimal("1.25"), "at": AT, **values})
    return int(row[0])


def test_rows_equal_what_sqlalchemy_returns(session: Session) -> None:
    # Connections run in UTC (db.make_engine); in another zone UTCDateTime's result processor converts.
    session.execute(text("SET LOCAL TIME ZONE 'Europe/Paris'"))
    thing = _insert(session, qty=3)

    fast = _SELECT.first(session, {"id": thing})
    slow = session.execute(_SELECT.statement, {"id": thing}).one()

    assert _SELECT._compiled  # the first run compiled it: this went through psycopg directly
    assert fast == tuple(slow)
    assert fast[1:5] == ("a", Decimal("1.25"), 3, AT)
    assert fast[4].tzinfo is UTC  # UTCDateTime's result processor ran (psycopg gave Europe/Paris)


def test_python_side_defaults_and_onupdate_are_applied(session: Session) -> None:
    before = utcnow()
    thing_id, touched = _INSERT.first(session, {"note": "b", "price": Decimal("2"), "at": AT})
    assert _SELECT.first(session, {"id": thing_id})[3] == 0  # default=0
    assert before <= touched <= utcnow()  # default=utcnow

    session.execute(update(_things).values(touched=touched - timedelta(days=1)))
    _SET_QTY.rows(session, {"thing": thing_id, "new_qty": 7})

    row = _SELECT.first(session, {"id": thing_id})
    assert row[3] == 7
    assert row[5] >= touched  # onupdate=utcnow


def test_a_driver_error_is_sqlalchemys_error(session: Session) -> None:
    thing = _insert(session)

    with pytest.raises(IntegrityError) as raised, session.begin_nested():
        _SET_QTY.rows(session, {"thing": thing, "new_qty": -1})

    assert isinstance(raised.value.orig, psycopg.errors.CheckViolation)
    assert _SELECT.first(session, {"id": thing})[3] == 0  # nothing changed


def test_it_runs_in_the_sessions_transaction(session: Session) -> None:
    savepoint = session.begin_nested()
    thing = _insert(session)
    assert session.execute(select(_things.c.note).where(_things.c.id == thing)).scalar_one() == "a"

    savepoint.rollback()

    assert _SELECT.first(session, {"id": thing}) is None


def test_statement_listeners_see_every_statement(session: Session) -> None:
    seen: list[str] = []
    connection = session.connection()
    event.listen(connection, "before_cursor_execute", lambda *args: seen.append(args[2]))

    thing = _insert(session)
    _SET_QTY.rows(session, {"thing": thing, "new_qty": 2})

    assert [sql.split()[0] for sql in seen] == ["INSERT", "UPDATE"]
    assert _SELECT.first(session, {"id": thing})[3] == 2


def test_a_missing_value_is_refused_not_sent_as_null(session: Session) -> None:
    with pytest.raises(InvalidRequestError, match="A value is required for bind parameter 'thing'"):
        _SET_QTY.rows(session, {"new_qty": 2})
