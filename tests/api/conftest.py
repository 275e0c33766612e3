"""The HTTP contract runs on PostgreSQL and on SQLite (the embedded default)."""

import pytest
from flask import Flask
from sqlalchemy import Engine

from tests.support.statements import StatementLog


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def log(app: Flask, committed_db: Engine) -> StatementLog:
    """Counts what the app sends on both its pools: reads (autocommit on PostgreSQL) and writes."""
    reads: Engine = app.extensions["shopwright.read_sessions"].kw["bind"]
    return StatementLog(list({committed_db, reads}))
