"""Queued emails, sent at most once each.

An email is rendered and queued as a row (`emails`) in the transaction that handles its event. A sender
then claims it and commits `sending` *before* the SMTP call, so a worker killed between handing the
message to the server and recording `sent` never sends it again: a row found still `sending` after
SENDING_LEASE is marked `interrupted`, logged and counted, never retried. We chose at most once over a
resend because SMTP cannot tell us whether the server took a message, and a customer reading "refunded"
or "paid" twice is worse than an operator seeing one `interrupted` row (docs/operations.md). An SMTP
error before the server accepted the message puts it back to `pending` with backoff: nothing is lost
while the server is down. Every try carries the same Message-ID (derived from the event), so the rare
resend after an ambiguous error is recognisable as the same message.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_string
from email.policy import default as default_policy
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from shopwright import metrics
from shopwright.db import utcnow
from shopwright.notifications.email import EmailSender
from shopwright.notifications.models import FAILED, INTERRUPTED, PENDING, SENDING, SENT, Email
from shopwright.notifications.rendering import message_id_for, render_email
from shopwright.observability import get_logger

log = get_logger(__name__)
MAX_ATTEMPTS = 10
# Longer than any SMTP conversation can last (each step times out after 10 s).
SENDING_LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class Sent:
    sent: int = 0
    failed: int = 0
    interrupted: int = 0


def queue_email(
    session: Session, event_id: int, template: str, to: str, context: dict[str, Any], *, sender: str
) -> None:
    """Render an event's email and queue it; runs inside the caller's transaction."""
    message_id = message_id_for(event_id, template, sender)
    message = render_email(template, context, sender=sender, to=to, message_id=message_id)
    session.add(
        Email(
            event_id=event_id,
            template=template,
            to_address=to,
            subject=str(message["Subject"])[:300],
            message_id=message_id,
            message=message.as_string(),
        )
    )


def send_due_emails(sessions: sessionmaker[Session], sender: EmailSender, limit: int = 100) -> Sent:
    """Send the queued emails that are due, each at most once; return the counts."""
    interrupted = _mark_interrupted(sessions)
    sent = failed = 0
    for _ in range(limit):
        claimed = _claim(sessions)
        if claimed is None:
            break
        email_id, raw = claimed
        message = message_from_string(raw, policy=default_policy)
        try:
            sender.send(message)
        except Exception as error:  # the server did not take it: try again later
            failed += 1
            _retry(sessions, email_id, error)
            continue
        sent += 1
        with sessions() as session, session.begin():
            # The body (names, addresses) is not kept once sent; subject and address stay for support.
            session.execute(
                update(Email).where(Email.id == email_id).values(status=SENT, sent_at=utcnow(), message=None)
            )
        metrics.EMAILS.labels(outcome="sent").inc()
    return Sent(sent=sent, failed=failed, interrupted=interrupted)


def _claim(sessions: sessionmaker[Session]) -> tuple[int, str] | None:
    # Committed on return: from then on a crash leaves the row `sending`, and it is never claimed again.
    with sessions() as session, session.begin():
        email = session.scalars(
            select(Email)
            .where(Email.status == PENDING, Email.next_attempt_at <= utcnow())
            .order_by(Email.id)
            .limit(1)
            .with_for_update(skip_locked=True)  # two senders never claim the same email
        ).first()
        if email is None or email.message is None:
            return None
        email.status = SENDING
        email.claimed_at = utcnow()
        email.attempts += 1
        return email.id, email.message


def _retry(sessions: sessionmaker[Session], email_id: int, error: Exception) -> None:
    with sessions() as session, session.begin():
        email = session.get(Email, email_id)
        assert email is not None
        email.last_error = f"{type(error).__name__}: {error}"[:2000]
        if email.attempts >= MAX_ATTEMPTS:
            email.status = FAILED
            metrics.EMAILS.labels(outcome="failed").inc()
        else:
            email.status = PENDING
            # Exponential with jitter, capped at an hour: 2, 4, 8 … s.
            delay = min(2**email.attempts, 3600) * random.uniform(1.0, 1.2)  # noqa: S311 (not security)
            email.next_attempt_at = utcnow() + timedelta(seconds=delay)
            metrics.EMAILS.labels(outcome="retried").inc()
        log.warning("email.send_failed", email_id=email_id, attempts=email.attempts, status=email.status)


def _mark_interrupted(sessions: sessionmaker[Session]) -> int:
    with sessions() as session, session.begin():
        ids = session.scalars(
            update(Email)
            .where(Email.status == SENDING, Email.claimed_at < utcnow() - SENDING_LEASE)
            .values(status=INTERRUPTED, last_error="the sender stopped during the send; not retried")
            .returning(Email.id)
        ).all()
    for email_id in ids:
        log.error("email.interrupted", email_id=email_id)
        metrics.EMAILS.labels(outcome="interrupted").inc()
    return len(ids)
