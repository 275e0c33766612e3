"""Database connections across server failures: connections a server closed, and a replica that is down.

Both are pool events that db.make_engine and db.make_read_sessionmaker attach to PostgreSQL engines.
"""

from __future__ import annotations

import select
import time
from typing import Any

from sqlalchemy import Dialect, Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from shopwright.observability import get_logger

log = get_logger(__name__)


def discard_if_closed_by_server(
    dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    """Replace, at checkout, a pooled PostgreSQL connection that its server has closed (a pool event).

    A server that shut down or restarted has told every idle connection so (an error message, then
    the end of the stream): its socket is readable while no answer is awaited. Polling it costs no
    round trip, and the pool then opens a new connection instead of failing the request on this one.
    """
    if dbapi_connection.closed:
        raise DisconnectionError("the connection is closed")
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    if poller.poll(0):
        raise DisconnectionError("the server closed the connection")


class ReplicaFallback:
    """Connect a replica's pool to the primary while the replica cannot be reached, then back to it.

    A failed connection attempt sends this pool's new connections to the primary for `retry_after`
    seconds; connections to the primary older than that are closed at checkout, so the pool returns
    to the replica once it answers. Stale catalog data is allowed; an unanswered catalog is not.
    """

    def __init__(self, primary_url: str, retry_after: float) -> None:
        self.primary_url = make_url(primary_url)
        self.retry_after = retry_after
        self.failed_at: float | None = None  # monotonic time of the last failed attempt at the replica

    def attach(self, engine: Engine) -> None:
        """Route `engine`'s new connections through this fallback."""
        event.listen(engine, "do_connect", self._connect)
        event.listen(engine, "checkout", self._retire_primary_connection)

    def _replica_due(self, now: float) -> bool:
        return self.failed_at is None or now - self.failed_at >= self.retry_after

    def _connect(self, dialect: Dialect, record: ConnectionPoolEntry, cargs: Any, cparams: Any) -> Any:
        now = time.monotonic()
        if self._replica_due(now):
            try:
                connection = dialect.connect(*cargs, **cparams)
            except dialect.loaded_dbapi.OperationalError as error:
                if self.failed_at is None:
                    log.warning("replica_unavailable", error=str(error).strip()[:200])
                self.failed_at = now
            else:
                if self.failed_at is not None:
                    log.info("replica_available")
                self.failed_at = None
                return connection
        record.info[_PRIMARY_SINCE] = now
        # The replica's connection options (timeouts), the primary's address and credentials.
        _, primary = dialect.create_connect_args(self.primary_url)
        return dialect.connect(*cargs, **{**cparams, **primary})

    def _retire_primary_connection(
        self, _dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        since = record.info.get(_PRIMARY_SINCE)
        now = time.monotonic()
        if since is not None and now - since >= self.retry_after and self._replica_due(now):
            raise DisconnectionError("time to try the replica again")


_PRIMARY_SINCE = "shopwright.primary_since"
