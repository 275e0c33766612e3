"""The email queue: each email is sent at most once, even when its sender dies mid-send."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from shopwright.db import utcnow
from shopwright.notifications import mail_queue
from shopwright.notifications.email import FileEmailSender, SmtpEmailSender
from shopwright.notifications.models import FAILED, INTERRUPTED, PENDING, SENT, Email
from tests.conftest import Mailbox, free_port, make_settings


def _queue(sessions: sessionmaker[Session], event_id: int, to: str) -> None:
    context = {"name": "Kim", "new_email": "kim.new@example.com"}
    with sessions() as session, session.begin():
        mail_queue.queue_email(
            session, event_id, "email_changed", to, context, sender="Shop <shop@example.com>"
        )


def _rows(sessions: sessionmaker[Session]) -> list[tuple[str, str, int]]:
    with sessions() as session:
        return [
            (e.to_address, e.status, e.attempts) for e in session.scalars(select(Email).order_by(Email.id))
        ]


def test_an_email_whose_sender_died_mid_send_is_never_sent_again(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    # Given two queued emails, and a sender that claimed the first and died before recording the send
    _queue(sessions, 1, "a@example.com")
    _queue(sessions, 2, "b@example.com")
    claimed = mail_queue._claim(sessions)
    assert claimed is not None
    with sessions() as session, session.begin():
        session.execute(update(Email).values(claimed_at=utcnow() - mail_queue.SENDING_LEASE - timedelta(1)))

    # When a sender runs again
    sender = FileEmailSender(str(tmp_path))
    result = mail_queue.send_due_emails(sessions, sender)

    # Then the second is sent, the first is marked interrupted and not sent (at most once)
    assert result == mail_queue.Sent(sent=1, failed=0, interrupted=1)
    assert _rows(sessions) == [("a@example.com", INTERRUPTED, 1), ("b@example.com", SENT, 1)]
    assert len(list(tmp_path.glob("*.eml"))) == 1
    # and no later run sends it either
    assert mail_queue.send_due_emails(sessions, sender) == mail_queue.Sent()


def test_an_email_being_sent_is_not_claimed_by_another_sender(sessions: sessionmaker[Session]) -> None:
    _queue(sessions, 1, "a@example.com")
    assert mail_queue._claim(sessions) is not None
    # A second sender finds nothing due: the claim committed `sending` before any SMTP call.
    assert mail_queue._claim(sessions) is None


def test_smtp_refusals_are_retried_with_backoff_and_given_up_after_the_last_try(
    sessions: sessionmaker[Session],
) -> None:
    _queue(sessions, 1, "a@example.com")
    down = SmtpEmailSender(make_settings("sqlite://", SMTP_HOST="127.0.0.1", SMTP_PORT=free_port()))

    result = mail_queue.send_due_emails(sessions, down)

    assert result.failed == 1
    with sessions() as session:
        email = session.scalars(select(Email)).one()
        assert (email.status, email.attempts) == (PENDING, 1)
        assert email.last_error is not None
        assert email.last_error.startswith("ConnectionRefusedError")
        assert timedelta(seconds=1) < email.next_attempt_at - utcnow() <= timedelta(seconds=3)
        email.attempts = mail_queue.MAX_ATTEMPTS - 1
        email.next_attempt_at = utcnow()
        session.commit()
    mail_queue.send_due_emails(sessions, down)
    assert _rows(sessions) == [("a@example.com", FAILED, mail_queue.MAX_ATTEMPTS)]


def test_a_sent_email_keeps_its_message_id_and_erases_its_body(
    sessions: sessionmaker[Session], smtp_server: tuple[str, int, Mailbox], mailbox: Mailbox
) -> None:
    host, port, _ = smtp_server
    _queue(sessions, 41, "a@example.com")
    sender = SmtpEmailSender(make_settings("sqlite://", SMTP_HOST=host, SMTP_PORT=port))

    assert mail_queue.send_due_emails(sessions, sender).sent == 1

    [message] = mailbox.to("a@example.com")
    assert isinstance(message, EmailMessage)
    assert message["Message-ID"] == "<event-41.email_changed@example.com>"
    with sessions() as session:
        email = session.scalars(select(Email)).one()
    assert (email.message_id, email.message, email.status) == (message["Message-ID"], None, SENT)
