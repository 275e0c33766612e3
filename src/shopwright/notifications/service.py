"""Notification handlers: turn outbox events into emails and webhook deliveries.

`fan_out` runs inside an event's delivery transaction: the emails and deliveries it queues commit with
the event's `delivered` mark, or not at all (retried with the event), so each is queued exactly once.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopwright.accounts.models import ADMIN, User
from shopwright.catalog.errors import ProductNotFound
from shopwright.catalog.events import PRODUCT_CREATED, PRODUCT_DELETED, PRODUCT_UPDATED
from shopwright.inventory import service as inventory
from shopwright.inventory import view as inventory_view
from shopwright.inventory.schemas import StockOut
from shopwright.notifications import webhooks
from shopwright.notifications.email import EmailSender
from shopwright.notifications.mail_queue import queue_email
from shopwright.notifications.rendering import render_email
from shopwright.orders import display as order_display
from shopwright.orders.errors import OrderNotFound
from shopwright.orders.events import (
    ORDER_CANCELLED,
    ORDER_CREATED,
    ORDER_DELIVERED,
    ORDER_PAID,
    ORDER_REFUNDED,
    ORDER_SHIPPED,
)
from shopwright.outbox import Event

# Each order event's customer email (templates/<name>.{subject.txt,txt,html}).
ORDER_EMAILS = {
    ORDER_CREATED: "order_placed",
    ORDER_PAID: "order_paid",
    ORDER_SHIPPED: "order_shipped",
    ORDER_DELIVERED: "order_delivered",
    ORDER_CANCELLED: "order_cancelled",
    ORDER_REFUNDED: "order_refunded",
}
PRODUCT_EVENTS = (PRODUCT_CREATED, PRODUCT_UPDATED, PRODUCT_DELETED)
WEBHOOK_EVENTS = (*ORDER_EMAILS, *PRODUCT_EVENTS, inventory.INVENTORY_LOW_STOCK)


def fan_out(session: Session, event: Event, *, email_from: str) -> None:
    """Queue an event's webhook deliveries and customer email; runs inside the delivery's transaction."""
    data = _resource(session, event)
    webhooks.queue_deliveries(session, event, data)
    template = ORDER_EMAILS.get(event.name)
    if template is None or data is None:
        return
    customer = session.get(User, data["user_id"])
    if customer is None or customer.deleted_at is not None:  # an erased account gets no more email
        return
    context = {
        "order": data,
        "name": customer.full_name,
        "amount_cents": event.payload.get("amount_cents", 0),
    }
    queue_email(session, event.id, template, customer.email, context, sender=email_from)


def notify_admins(session: Session, event: Event, *, email_from: str) -> None:
    """Email every active admin that a webhook endpoint was disabled; runs inside the delivery."""
    admins = session.scalars(
        select(User).where(User.role == ADMIN, User.is_active, User.deleted_at.is_(None)).order_by(User.id)
    ).all()
    for admin in admins:
        context = {**event.payload, "name": admin.full_name}
        queue_email(session, event.id, "webhook_endpoint_disabled", admin.email, context, sender=email_from)


def _resource(session: Session, event: Event) -> dict[str, Any] | None:
    """Return the event's resource as the API renders it now, or None when it is gone."""
    payload = event.payload
    if event.name in ORDER_EMAILS:
        try:
            return order_display.get_order_json(session, payload["order_id"], user_id=None)
        except OrderNotFound:
            return None
    if event.name in PRODUCT_EVENTS:
        try:  # a deleted or hidden product is rendered as it was left
            return inventory_view.product_json(session, payload["product_id"], include_hidden=True)
        except ProductNotFound:
            return None
    if event.name == inventory.INVENTORY_LOW_STOCK:
        row = inventory.find_stock_row(session, payload["variant_id"])
        return StockOut.render(row) if row is not None else None
    return None


def send_email_changed(sender: EmailSender, from_address: str, payload: dict[str, Any]) -> None:
    """Tell the old address of an account that its email changed (`accounts.email_changed`)."""
    context = {"name": payload.get("full_name"), "new_email": payload["new_email"]}
    domain = from_address.rsplit("@", 1)[-1].rstrip(">") or None
    message = render_email(
        "email_changed",
        context,
        sender=from_address,
        to=payload["old_email"],
        message_id=make_msgid(domain=domain),
    )
    sender.send(message)


def send_password_reset(sender: EmailSender, from_address: str, payload: dict[str, Any]) -> None:
    """Email the password reset link of an `accounts.password_reset_issued` event."""
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = payload["email"]
    message["Subject"] = "Reset your Shopwright password"
    greeting = f"Hello {payload['full_name']}," if payload.get("full_name") else "Hello,"
    message.set_content(
        f"{greeting}\n\n"
        "Someone (hopefully you) asked to reset the password of this account.\n"
        f"Open this link to choose a new one:\n\n  {payload['reset_url']}\n\n"
        f"Or use this token with POST /api/auth/password-reset/confirm:\n\n  {payload['token']}\n\n"
        f"The link works once and expires at {payload['expires_at']} (UTC).\n"
        "If you did not ask for this, ignore this email: your password stays as it is.\n"
    )
    sender.send(message)
