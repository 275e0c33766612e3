"""Notification tables: queued emails, webhook endpoints and their deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from shopwright.db import Base, UTCDateTime, utcnow

# Email and delivery statuses.
PENDING = "pending"
SENDING = "sending"  # the send began (committed before the SMTP call or HTTP request)
SENT = "sent"
FAILED = "failed"  # gave up after the last try
INTERRUPTED = "interrupted"  # an email whose sender died mid-send: never sent again (at most once)
SUCCEEDED = "succeeded"


class Email(Base):
    """One email of one event, rendered when queued; its body is erased once sent."""

    __tablename__ = "emails"
    __table_args__ = (
        UniqueConstraint("event_id", "template", "to_address"),
        Index("ix_emails_due", "status", "next_attempt_at"),
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'interrupted')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int]
    template: Mapped[str] = mapped_column(String(50))
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    message_id: Mapped[str] = mapped_column(String(200))
    # The whole MIME message (multipart/alternative), exactly as it will be sent.
    message: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEndpoint(Base):
    """An admin's receiver of outgoing webhooks, subscribed to some event types."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(500))
    # HMAC key of the signatures; shown to the admin only when created or rotated.
    secret: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    # First failure of the current run of failures (cleared by a success); 3 days of it disable the endpoint.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint: its body, its tries and the last answer."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
        CheckConstraint("status IN ('pending', 'sending', 'succeeded', 'failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[int]
    type: Mapped[str] = mapped_column(String(100))
    # The JSON body {id, type, created_at, data}, rendered once: every try sends the same bytes.
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    # A try in flight holds the delivery until then; a worker that died lets it go again after it.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_code: Mapped[int | None]
    # Only a short, truncated snippet of what the receiver answered.
    response_snippet: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
