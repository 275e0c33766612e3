"""Races of the notification senders: workers draining the same queues at once.

Each test names the protection it exercises and what breaks without it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.notifications import mail_queue, webhooks
from shopwright.notifications.email import FileEmailSender
from shopwright.notifications.models import SENT, SUCCEEDED, WebhookDelivery, WebhookEndpoint
from tests.support.races import race
from tests.webhook_receiver import webhook_receiver

DELIVERIES = 40
WORKERS = 4


def test_four_workers_send_each_webhook_delivery_exactly_once(sessions: sessionmaker[Session]) -> None:
    # Protection: a delivery is claimed (status `sending`, a lease) in a transaction that selects it
    # FOR UPDATE SKIP LOCKED; the POST happens after that commit. Without the row lock two workers read
    # the same pending row, both claim it and both POST it: the receiver counts it twice.
    with webhook_receiver() as receiver:
        receiver.delay = 0.02  # a receiver that takes a moment, so the workers overlap
        with sessions() as session, session.begin():
            endpoint = WebhookEndpoint(url=receiver.url, events=["order.paid"], secret="whsec_race")
            session.add(endpoint)
            session.flush()
            session.add_all(
                WebhookDelivery(endpoint_id=endpoint.id, event_id=i, type="order.paid", body=f'{{"id":{i}}}')
                for i in range(1, DELIVERIES + 1)
            )

        race(WORKERS, lambda _: webhooks.deliver_due(sessions, allow_private=True, timeout=5))

        sent = Counter(r.headers["Shopwright-Delivery"] for r in receiver.requests())
    assert len(sent) == DELIVERIES
    assert set(sent.values()) == {1}
    with sessions() as session:
        rows = session.execute(select(WebhookDelivery.status, WebhookDelivery.attempts)).all()
    assert set(rows) == {(SUCCEEDED, 1)}


def test_four_workers_send_each_email_exactly_once(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    # Protection: an email is claimed (`sending` committed before the SMTP call) by a SELECT … FOR UPDATE
    # SKIP LOCKED. Without it two workers claim the same pending row and both send it.
    with sessions() as session, session.begin():
        for i in range(1, DELIVERIES + 1):
            context = {"name": None, "new_email": f"n{i}@example.com"}
            mail_queue.queue_email(
                session, i, "email_changed", f"c{i}@example.com", context, sender="s@example.com"
            )
    sender = FileEmailSender(str(tmp_path))

    race(WORKERS, lambda _: mail_queue.send_due_emails(sessions, sender))

    files = list(tmp_path.glob("*.eml"))
    recipients = Counter(
        line for f in files for line in f.read_text().splitlines() if line.startswith("To: ")
    )
    assert len(recipients) == DELIVERIES
    assert set(recipients.values()) == {1}
    with sessions() as session:
        assert set(session.scalars(select(mail_queue.Email.status))) == {SENT}
