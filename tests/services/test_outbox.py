"""The outbox: events commit with their change, are delivered after commit, and survive failures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright import outbox
from shopwright.db import utcnow
from shopwright.outbox import MAX_ATTEMPTS, Event, Outbox


@pytest.fixture
def box(sessions: sessionmaker[Session]) -> Outbox:
    # A session factory of its own, so attaching the outbox does not leak into other fixtures.
    factory = sessionmaker(bind=sessions.kw["bind"], expire_on_commit=False)
    box = Outbox(factory)
    box.attach()
    return box


def test_an_event_is_delivered_after_commit_and_its_payload_scrubbed(box: Outbox) -> None:
    received: list[dict[str, Any]] = []
    box.subscribe("thing.happened", received.append)

    with box.sessions() as session, session.begin():
        outbox.publish(session, "thing.happened", {"secret": "s3"})
        assert received == []  # nothing leaves before the commit

    assert received == [{"secret": "s3"}]
    with box.sessions() as session:
        event = session.scalars(select(Event)).one()
    assert event.delivered_at is not None
    assert event.payload == {"delivered": True}


def test_a_rolled_back_transaction_publishes_nothing(box: Outbox) -> None:
    received: list[dict[str, Any]] = []
    box.subscribe("thing.happened", received.append)

    def failing_use_case() -> None:
        with box.sessions() as session, session.begin():
            outbox.publish(session, "thing.happened", {"n": 1})
            raise RuntimeError("use case failed")

    with pytest.raises(RuntimeError):
        failing_use_case()

    assert received == []
    with box.sessions() as session:
        assert session.scalars(select(Event)).all() == []


def test_a_failing_handler_is_retried_later_with_backoff(box: Outbox) -> None:
    attempts: list[int] = []

    def flaky(payload: dict[str, Any]) -> None:
        attempts.append(payload["n"])
        if len(attempts) == 1:
            raise ConnectionError("SMTP down")

    box.subscribe("thing.happened", flaky)
    with box.sessions() as session, session.begin():
        outbox.publish(session, "thing.happened", {"n": 7})

    # The first delivery failed: the event waits, with its error and a next attempt in the future.
    with box.sessions() as session:
        event = session.scalars(select(Event)).one()
        assert (event.attempts, event.delivered_at, event.last_error) == (
            1,
            None,
            "ConnectionError: SMTP down",
        )
    assert box.deliver_pending() == 0  # not due yet

    with box.sessions() as session, session.begin():
        session.get(Event, event.id).next_attempt_at = event.created_at  # type: ignore[union-attr]
    assert box.deliver_pending() == 1
    assert attempts == [7, 7]


def test_an_event_that_keeps_failing_is_parked(box: Outbox) -> None:
    box.subscribe("thing.happened", lambda _payload: (_ for _ in ()).throw(ValueError("bad address")))
    with box.sessions() as session, session.begin():
        outbox.publish(session, "thing.happened", {})
    for _ in range(MAX_ATTEMPTS):
        with box.sessions() as session, session.begin():
            for event in session.scalars(select(Event)):
                event.next_attempt_at = event.created_at
        box.deliver_pending()

    with box.sessions() as session:
        event = session.scalars(select(Event)).one()
    assert event.attempts == MAX_ATTEMPTS
    assert event.failed_at is not None
    assert event.delivered_at is None


def test_deliver_events_command_sends_what_smtp_refused_earlier(make_app: Any, mailbox: Any) -> None:
    # Given a reset email that could not be sent because the SMTP server was down
    app: Flask = make_app(SMTP_PORT=1)
    client = app.test_client()
    client.post("/api/auth/register", json={"email": "kim@example.com", "password": "Passw0rd-ok"})
    assert client.post("/api/auth/password-reset", json={"email": "kim@example.com"}).status_code == 202
    assert mailbox.to("kim@example.com") == []

    # When the server is back and the command runs once the retry is due
    working = make_app()
    with working.extensions["shopwright.sessions"]() as session, session.begin():
        for event in session.scalars(select(Event)):
            event.next_attempt_at = event.created_at
    result = working.test_cli_runner().invoke(args=["deliver-events"])

    # Then the email arrives
    assert result.output.strip() == "Delivered 1 event(s)"
    assert len(mailbox.to("kim@example.com")) == 1


def _events(sessions: sessionmaker[Session], *ages: tuple[str, int]) -> list[int]:
    """Add one event per (state, days ago) in order: delivered, failed or pending that long ago."""
    now = utcnow()
    with sessions() as session, session.begin():
        rows = [
            Event(
                name=state,
                payload={},
                created_at=now - timedelta(days=days),
                delivered_at=now - timedelta(days=days) if state == "delivered" else None,
                failed_at=now - timedelta(days=days) if state == "failed" else None,
            )
            for state, days in ages
        ]
        session.add_all(rows)
    return [row.id for row in rows]


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_the_purge_deletes_events_delivered_before_the_retention_only(
    sessions: sessionmaker[Session],
) -> None:
    # Given three events delivered long ago, then one that failed, one still pending and one delivered
    # lately, and the newest event also delivered long ago
    ids = _events(
        sessions,
        *[("delivered", 100)] * 3,
        ("failed", 100),
        ("pending", 100),
        ("delivered", 10),
        ("delivered", 100),
    )

    # When the purge keeps 90 days, two events per transaction
    purged = outbox.purge_delivered(sessions, older_than=timedelta(days=90), batch=2)

    # Then the three old deliveries are gone; failed and pending events wait for work, the recent one is
    # inside the retention, and the newest is kept so that its id is never handed out again
    assert purged == 3
    with sessions() as session:
        assert session.scalars(select(Event.id).order_by(Event.id)).all() == ids[3:]


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_an_event_id_is_never_handed_out_twice_after_a_purge(sessions: sessionmaker[Session]) -> None:
    # Given events that were all delivered long ago (emails and webhook deliveries are unique per event id)
    ids = _events(sessions, *[("delivered", 100)] * 3)

    # When they are purged and a new event is published
    assert outbox.purge_delivered(sessions, older_than=timedelta(days=90)) == 2
    with sessions() as session, session.begin():
        outbox.publish(session, "thing.happened", {})

    # Then the new event's id comes after every earlier one
    with sessions() as session:
        assert session.scalars(select(Event.id).order_by(Event.id)).all() == [ids[-1], ids[-1] + 1]
