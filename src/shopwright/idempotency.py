"""Idempotency keys: a retried POST with the same `Idempotency-Key` gets the first response back.

A key row `(user_id, key)` is inserted first in the use case's transaction; its unique constraint
serialises racing duplicates (docs/architecture.md, Idempotency). The row stores a hash of method + path
+ body, so the same key with another body is refused, and the response once the request has finished.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint, delete, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from shopwright.db import Base, UTCDateTime, conflict_insert, utcnow
from shopwright.errors import Conflict, InvalidRequest

IN_PROGRESS = "in_progress"
COMPLETED = "completed"


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=IN_PROGRESS)
    response_status: Mapped[int | None]
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now(), index=True
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now(), onupdate=utcnow
    )


class IdempotencyKeyReused(InvalidRequest):
    code = "idempotency_key_reused"
    title = "Idempotency key already used for another request"


class IdempotencyKeyInUse(Conflict):
    code = "idempotency_key_in_use"
    title = "A request with this idempotency key is still being processed"


@dataclass(frozen=True)
class KeyedRequest:
    """A request that carries an Idempotency-Key, identified by its user, key and content."""

    user_id: int
    key: str
    fingerprint: str

    @classmethod
    def of(cls, user_id: int, key: str, method: str, path: str, body: Any) -> KeyedRequest:
        """Fingerprint method, path and body (JSON, canonicalised) of a keyed request."""
        canonical = json.dumps(
            [method.upper(), path.rstrip("/"), body], sort_keys=True, separators=(",", ":")
        )
        return cls(user_id, key, hashlib.sha256(canonical.encode()).hexdigest())


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


def claim(session: Session, request: KeyedRequest) -> StoredResponse | None:
    """Claim the key for this request, or return the response stored for it; inside the caller's transaction.

    A racing duplicate's INSERT waits on the unique key until the first transaction ends: then it sees the
    stored response (replayed), or the key is free again because the first one rolled back.
    """
    claimed = session.scalar(
        conflict_insert(session, IdempotencyKey)
        .values(
            user_id=request.user_id, key=request.key, request_hash=request.fingerprint, status=IN_PROGRESS
        )
        .on_conflict_do_nothing(index_elements=[IdempotencyKey.user_id, IdempotencyKey.key])
        .returning(IdempotencyKey.id)
    )
    if claimed is not None:
        return None
    row = session.scalars(
        select(IdempotencyKey).where(
            IdempotencyKey.user_id == request.user_id, IdempotencyKey.key == request.key
        )
    ).one()
    if row.request_hash != request.fingerprint:
        raise IdempotencyKeyReused("This Idempotency-Key was used with a different request; use a new key")
    if row.status != COMPLETED or row.response_status is None or row.response_body is None:
        raise IdempotencyKeyInUse(
            "The first request with this Idempotency-Key is still running; retry shortly"
        )
    return StoredResponse(row.response_status, row.response_body)


def complete(session: Session, request: KeyedRequest, status: int, body: dict[str, Any]) -> None:
    """Store the response of a claimed key; inside the caller's transaction."""
    session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == request.user_id, IdempotencyKey.key == request.key)
        .values(status=COMPLETED, response_status=status, response_body=body, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def forget(session: Session, request: KeyedRequest) -> None:
    """Drop a claimed key whose request changed nothing, so a retry runs again (caller's transaction)."""
    session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.user_id == request.user_id,
            IdempotencyKey.key == request.key,
            IdempotencyKey.status == IN_PROGRESS,
        )
    )


def purge_keys(session: Session, *, older_than: timedelta = timedelta(hours=48)) -> int:
    """Delete keys older than `older_than` (they are kept at least 24 h); return how many."""
    with session.begin():
        result = session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - older_than)
        )
    return int(result.rowcount)  # type: ignore[attr-defined]
