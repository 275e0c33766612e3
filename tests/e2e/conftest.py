"""Real server processes on the PostgreSQL test database: gunicorn, and a Celery worker with beat."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.conftest import Mailbox
from tests.support.servers import LiveServer, serve


@pytest.fixture
def live_server(
    postgresql_url: str, committed_db: Engine, redis_url: str, smtp_server: tuple[str, int, Mailbox]
) -> Iterator[LiveServer]:
    """Serve the app with gunicorn (2 worker processes) on a free port until the test ends."""
    with serve(postgresql_url, redis_url, smtp_server, workers=2) as server:
        yield server


@pytest.fixture
def live_server_4_workers(
    postgresql_url: str, committed_db: Engine, redis_url: str, smtp_server: tuple[str, int, Mailbox]
) -> Iterator[LiveServer]:
    """Serve the app with gunicorn (4 worker processes), for races across processes."""
    with serve(postgresql_url, redis_url, smtp_server, workers=4) as server:
        yield server
