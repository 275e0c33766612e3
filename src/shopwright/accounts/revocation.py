"""The token revocation list: Redis when configured (with a copy in a database table), else the table.

Three kinds of entries, each kept until the tokens it kills would have expired anyway:
`jti:<id>` one token, `family:<id>` every token of one login, `user:<id>` every token the user
was issued before a moment in ms (deactivation, deletion, password reset).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.models import RevokedToken
from shopwright.db import conflict_insert
from shopwright.observability import get_logger

log = get_logger(__name__)


class RevocationStore(Protocol):
    def revoke(self, session: Session, key: str, ttl: timedelta, not_before: int | None = None) -> None:
        """Add `key` to the list for `ttl`; runs inside the caller's transaction."""

    def is_revoked(self, jti: str, family: str | None, user_id: str, issued_at: int) -> bool:
        """Tell whether a token with these claims (issued at `issued_at` ms) has been revoked."""


class RedisRevocations:
    """Revocations in Redis: one MGET per request, entries expire by themselves.

    With a `copy`, every revocation is also written to the database table in the caller's transaction,
    and tokens are checked against the table while Redis does not answer: an outage of Redis does not
    stop signed-in customers. Revoking needs both: without Redis it raises, and the use case changes
    nothing (a revocation missing from Redis would let its token pass again once Redis is back).
    """

    def __init__(
        self, client: redis.Redis, prefix: str = "shopwright", copy: DatabaseRevocations | None = None
    ) -> None:
        self.client = client
        self.prefix = f"{prefix}:revoked:"
        self.copy = copy
        self._reachable = True  # only to log each outage once, not on every request

    def revoke(self, session: Session, key: str, ttl: timedelta, not_before: int | None = None) -> None:
        if self.copy is not None:
            self.copy.revoke(session, key, ttl, not_before)
        # Written before the caller commits: if the transaction then fails, a token was revoked
        # needlessly (fails closed) rather than left alive.
        self.client.set(self.prefix + key, str(not_before or 0), ex=max(int(ttl.total_seconds()), 1))

    def is_revoked(self, jti: str, family: str | None, user_id: str, issued_at: int) -> bool:
        keys = [f"{self.prefix}jti:{jti}", f"{self.prefix}user:{user_id}"]
        if family:
            keys.append(f"{self.prefix}family:{family}")
        try:
            jti_hit, user_cutoff, *family_hit = self.client.mget(keys)
        except redis.RedisError as error:
            if self.copy is None:
                raise
            if self._reachable:
                log.warning("revocations.redis_unavailable", error_type=type(error).__name__)
            self._reachable = False
            return self.copy.is_revoked(jti, family, user_id, issued_at)
        if not self._reachable:
            log.info("revocations.redis_available")
            self._reachable = True
        return _decide(
            revoked=jti_hit is not None or any(hit is not None for hit in family_hit),
            user_cutoff=None if user_cutoff is None else int(user_cutoff),
            issued_at=issued_at,
        )


class DatabaseRevocations:
    """Revocations in the `revoked_tokens` table, for the embedded default without Redis."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def revoke(self, session: Session, key: str, ttl: timedelta, not_before: int | None = None) -> None:
        expires_at = datetime.now(UTC) + ttl
        values = {"key": key, "not_before": not_before, "expires_at": expires_at}
        statement = conflict_insert(session, RevokedToken).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[RevokedToken.key],
            set_={"not_before": statement.excluded.not_before, "expires_at": statement.excluded.expires_at},
        )
        session.execute(statement)

    def is_revoked(self, jti: str, family: str | None, user_id: str, issued_at: int) -> bool:
        keys = [f"jti:{jti}", f"user:{user_id}"] + ([f"family:{family}"] if family else [])
        # A short session of its own: the request's session stays untouched for its use case.
        with self.sessions() as session:
            statement = select(RevokedToken.key, RevokedToken.not_before).where(
                RevokedToken.key.in_(keys), RevokedToken.expires_at > datetime.now(UTC)
            )
            rows = dict(session.execute(statement).all())  # a Result has keys(): dict() would misread it
        return _decide(
            revoked=f"jti:{jti}" in rows or f"family:{family}" in rows,
            user_cutoff=rows.get(f"user:{user_id}"),
            issued_at=issued_at,
        )

    def purge_expired(self, session: Session) -> int:
        """Delete entries whose tokens have expired anyway; runs inside the caller's transaction."""
        result = session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= datetime.now(UTC)))
        return int(getattr(result, "rowcount", 0) or 0)


def _decide(*, revoked: bool, user_cutoff: int | None, issued_at: int) -> bool:
    return revoked or (user_cutoff is not None and issued_at < user_cutoff)


def now_ms() -> int:
    """Return the current UNIX time in milliseconds: token issue times and user cutoffs use it.

    JWT `iat` has one-second resolution, too coarse: a login right after a password reset (in the
    same second) must survive, and a token minted just before it must not.
    """
    return time.time_ns() // 1_000_000
