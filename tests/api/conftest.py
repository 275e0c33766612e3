"""The HTTP contract runs on PostgreSQL and on SQLite (the embedded default)."""

import pytest


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
