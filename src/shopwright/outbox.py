"""The transactional outbox: events written with the change they report, delivered after commit.

A use case calls `publish(session, name, payload)` inside its transaction. Once it commits, the
outbox wired into the session factory delivers pending events to their handlers (in-process in the
embedded default); during an HTTP request, once the response has been sent (`defer`), so a client
never waits for an email and the time it waits does not depend on one. Failed deliveries are retried
with exponential backoff kept in the row, so a crash or an SMTP outage loses nothing: `flask
deliver-events` (or a worker) picks them up again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, delete, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from shopwright.db import Base, UTCDateTime, after_commit, table_of, utcnow
from shopwright.observability import get_logger

log = get_logger(__name__)
Handler = Callable[[dict[str, Any]], None]
# A handler that writes: it runs inside the delivery's transaction (in a savepoint), so its writes commit
# with the event's delivery, and a failure rolls them back with it, to be retried.
TransactionalHandler = Callable[[Session, dict[str, Any]], None]
# Like a TransactionalHandler, given the whole event (its id and time: webhooks and Message-IDs use them).
EventHandler = Callable[[Session, "Event"], None]
Defer = Callable[[Callable[[], object]], None]
_DISPATCH_KEY = "shopwright.outbox"
MAX_ATTEMPTS = 10
PURGE_BATCH = 10_000


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_pending", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


# created_at, attempts and next_attempt_at take their column defaults.
_INSERT_EVENT = insert(table_of(Event))


def publish(session: Session, name: str, payload: dict[str, Any], *, user_id: int | None = None) -> None:
    """Record an event in the caller's transaction; it is delivered after commit."""
    # A Core INSERT built once, sent now: every use case that publishes pays no ORM flush for its event.
    session.execute(_INSERT_EVENT, {"name": name, "payload": payload, "user_id": user_id})
    box = session.info.get(_DISPATCH_KEY)
    # Deliver in-process only what has a handler here; the rest waits for a worker (`deliver_events`).
    # A delivery needs a second connection while the request still holds its own: keep it rare.
    if isinstance(box, Outbox) and box.handles(name):
        after_commit(session, box.deliver_soon)


def deliver_after_commit(session: Session) -> None:
    """Run a delivery round once the caller's transaction commits (work queued without an event)."""
    box = session.info.get(_DISPATCH_KEY)
    if isinstance(box, Outbox):
        after_commit(session, box.deliver_soon)


class Outbox:
    """Delivers pending events to the handlers subscribed to their names."""

    def __init__(self, sessions: sessionmaker[Session], defer: Defer | None = None) -> None:
        """`defer(work)` runs in-process deliveries later (the web app: after the response), else now."""
        self.sessions = sessions
        self.handlers: dict[str, Handler] = {}
        self.transactional: dict[str, TransactionalHandler] = {}
        self.event_handlers: dict[str, EventHandler] = {}
        # Run after each delivery round: the work the handlers queued (emails, webhook deliveries).
        self.after_delivery: list[Callable[[], object]] = []
        self.defer = defer

    def subscribe(self, name: str, handler: Handler) -> None:
        """Deliver events called `name` to `handler`."""
        self.handlers[name] = handler

    def subscribe_in_transaction(self, name: str, handler: TransactionalHandler) -> None:
        """Deliver events called `name` to `handler` with the delivery's session (TransactionalHandler)."""
        self.transactional[name] = handler

    def subscribe_event(self, name: str, handler: EventHandler) -> None:
        """Deliver events called `name` to `handler` with the delivery's session and the event row."""
        self.event_handlers[name] = handler

    def handles(self, name: str) -> bool:
        """Tell whether events called `name` have a handler here."""
        return name in self.handlers or name in self.transactional or name in self.event_handlers

    def deliver_soon(self) -> None:
        """Deliver pending events now, or when `defer` runs the work."""
        if self.defer is None:
            self.deliver_pending()
        else:
            self.defer(self.deliver_pending)

    def attach(self) -> None:
        """Deliver right after each commit that published events (the embedded, eager mode)."""
        info = dict(self.sessions.kw.get("info") or {})  # keep what others put there (the catalog cache)
        self.sessions.configure(info={**info, _DISPATCH_KEY: self})

    def deliver_pending(self, limit: int = 100) -> int:
        """Deliver due events, one transaction each; return how many were delivered."""
        delivered = 0
        for _ in range(limit):
            with self.sessions() as session, session.begin():
                event = session.scalars(
                    select(Event)
                    .where(Event.delivered_at.is_(None), Event.failed_at.is_(None))
                    .where(Event.next_attempt_at <= utcnow())
                    .order_by(Event.id)
                    .limit(1)
                    # Workers racing for the same event skip it instead of delivering it twice.
                    .with_for_update(skip_locked=True)
                ).first()
                if event is None:
                    break
                delivered += self._deliver(session, event)
        for work in self.after_delivery:
            work()
        return delivered

    def _deliver(self, session: Session, event: Event) -> int:
        handler = self.handlers.get(event.name)
        writer = self.transactional.get(event.name)
        event_handler = self.event_handlers.get(event.name)
        event.attempts += 1
        try:
            if event_handler is not None:
                with session.begin_nested():
                    event_handler(session, event)
            elif writer is not None:
                with session.begin_nested():
                    writer(session, event.payload)
            elif handler is not None:
                handler(event.payload)
        except Exception as error:  # any handler failure is retried later, never lost
            event.last_error = f"{type(error).__name__}: {error}"[:2000]
            if event.attempts >= MAX_ATTEMPTS:
                event.failed_at = utcnow()
            event.next_attempt_at = utcnow() + timedelta(seconds=min(2**event.attempts, 3600))
            log.warning(
                "event.delivery_failed",
                event_id=event.id,
                name=event.name,
                attempts=event.attempts,
                error=event.last_error,
            )
            return 0
        event.delivered_at = utcnow()
        # Payloads may carry secrets (reset tokens): keep only what an audit needs.
        event.payload = {"delivered": True}
        return 1


def purge_delivered(
    sessions: sessionmaker[Session], *, older_than: timedelta, batch: int = PURGE_BATCH
) -> int:
    """Delete events delivered longer than `older_than` ago, `batch` per transaction; return how many.

    Pending and dead-lettered (failed) events stay: the first still have work to do, the second wait for
    a person. The newest event always stays too: SQLite numbers a new row one past the largest id left,
    and an event id must never come back (emails and webhook deliveries are unique per event id, and
    receivers deduplicate on it).
    """
    events = table_of(Event).c
    newest = select(func.max(events.id)).scalar_subquery()
    oldest_delivered = (
        select(events.id)
        .where(events.delivered_at < utcnow() - older_than, events.id < newest)
        .order_by(events.id)
        .limit(batch)
    )
    purge = delete(table_of(Event)).where(events.id.in_(oldest_delivered))
    purged = 0
    while True:
        with sessions() as session, session.begin():
            deleted = int(session.execute(purge).rowcount)  # type: ignore[attr-defined]
        purged += deleted
        if deleted < batch:
            return purged
