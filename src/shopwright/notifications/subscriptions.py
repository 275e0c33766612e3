"""Which outbox events the notifications handle, and the sending rounds that follow each delivery."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.service import EMAIL_CHANGED
from shopwright.accounts.tokens import PASSWORD_RESET_ISSUED
from shopwright.config import Settings
from shopwright.notifications import mail_queue, service, webhooks
from shopwright.notifications.email import EmailSender
from shopwright.outbox import Event, Outbox


def subscribe(box: Outbox, settings: Settings, sessions: sessionmaker[Session], sender: EmailSender) -> None:
    """Subscribe the notification handlers to `box`; after each delivery round, send what they queued."""
    email_from = settings.EMAIL_FROM

    def fan_out(session: Session, event: Event) -> None:
        service.fan_out(session, event, email_from=email_from)

    def notify_admins(session: Session, event: Event) -> None:
        service.notify_admins(session, event, email_from=email_from)

    for name in service.WEBHOOK_EVENTS:
        box.subscribe_event(name, fan_out)
    box.subscribe_event(webhooks.ENDPOINT_DISABLED, notify_admins)
    box.subscribe(
        PASSWORD_RESET_ISSUED, lambda payload: service.send_password_reset(sender, email_from, payload)
    )
    box.subscribe(EMAIL_CHANGED, lambda payload: service.send_email_changed(sender, email_from, payload))
    box.after_delivery.append(lambda: send_emails(sessions, sender))
    box.after_delivery.append(lambda: deliver_webhooks(sessions, settings))


def send_emails(sessions: sessionmaker[Session], sender: EmailSender) -> mail_queue.Sent:
    """Send the queued emails that are due."""
    return mail_queue.send_due_emails(sessions, sender)


def deliver_webhooks(sessions: sessionmaker[Session], settings: Settings) -> webhooks.Delivered:
    """Send the webhook deliveries that are due."""
    return webhooks.deliver_due(
        sessions, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_URLS, timeout=settings.WEBHOOK_TIMEOUT_SECONDS
    )
