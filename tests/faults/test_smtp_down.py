"""SMTP down: emails wait in the outbox (the `events` table) and go out, once each, when it returns."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.tokens import PASSWORD_RESET_ISSUED
from shopwright.outbox import Event
from tests.factories import customer
from tests.support.servers import SmtpServer

pytestmark = [pytest.mark.postgres_only]


def _events(sessions: sessionmaker[Session]) -> list[tuple[int, bool, str | None]]:
    """Return (attempts, delivered, last error's type) of every reset email's event, oldest first."""
    with sessions() as session:
        rows = session.execute(
            select(Event.attempts, Event.delivered_at, Event.last_error)
            .where(Event.name == PASSWORD_RESET_ISSUED)
            .order_by(Event.id)
        )
        return [
            (attempts, delivered is not None, error and error.split(":")[0])
            for attempts, delivered, error in rows
        ]


def test_emails_wait_in_the_outbox_while_smtp_is_down_and_go_out_once_it_returns(
    make_app: Callable[..., Flask], smtp: SmtpServer, sessions: sessionmaker[Session]
) -> None:
    # Given an app that sends email through an SMTP server that is down
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port)
    client = app.test_client()
    emails = [customer(client).email for _ in range(2)]

    # When both customers ask for a password reset
    for email in emails:
        assert client.post("/api/auth/password-reset", json={"email": email}).status_code == 202

    # Then nothing was sent: both emails wait in the outbox with the error of their first attempt
    assert _events(sessions) == [(1, False, "ConnectionRefusedError")] * 2

    # When the SMTP server is back and the periodic delivery runs (what beat or cron does)
    smtp.start()
    runner = app.test_cli_runner()
    deadline = time.monotonic() + 10  # the first retry is due 2 s after the failed attempt
    while not all(delivered for _, delivered, _ in _events(sessions)) and time.monotonic() < deadline:
        runner.invoke(args=["deliver-events"])
        time.sleep(0.5)

    # Then each customer got their email exactly once, and another run sends nothing more
    assert [len(smtp.mailbox.to(email)) for email in emails] == [1, 1]
    assert [(attempts, delivered) for attempts, delivered, _ in _events(sessions)] == [(2, True)] * 2
    assert runner.invoke(args=["deliver-events"]).output.strip() == "Delivered 0 event(s)"
    assert [len(smtp.mailbox.to(email)) for email in emails] == [1, 1]
