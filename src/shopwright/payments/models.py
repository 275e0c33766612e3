"""Payment attempts, refunds and received provider webhook events.

At most one payment per order is `processing` or `succeeded` (a partial unique index), so two tabs or a
webhook racing the client's own call cannot pay an order twice. `refunded_cents` is reserved with a
conditional UPDATE before the gateway is asked, so refunds never exceed what was paid.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from shopwright.db import Base, UTCDateTime, utcnow


class PaymentStatus:
    """A payment attempt's statuses: processing until the gateway (or its webhook) says how it ended."""

    PROCESSING: Final = "processing"
    SUCCEEDED: Final = "succeeded"
    FAILED: Final = "failed"


class RefundStatus:
    """A refund's statuses: pending until the gateway says how it ended."""

    PENDING: Final = "pending"
    SUCCEEDED: Final = "succeeded"
    FAILED: Final = "failed"


_HOLDS_ORDER = "status IN ('processing', 'succeeded')"


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("status IN ('processing', 'succeeded', 'failed')", name="status_known"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_cents >= 0 AND refunded_cents <= amount_cents", name="refunded_within_amount"
        ),
        Index(
            "uq_payments_one_per_order",
            "order_id",
            unique=True,
            postgresql_where=text(_HOLDS_ORDER),
            sqlite_where=text(_HOLDS_ORDER),
        ),
        Index("ix_payments_order_id", "order_id", "id"),
        # The reconciliation sweep's scan: only payments still waiting for an answer (a handful).
        Index(
            "ix_payments_processing",
            "created_at",
            postgresql_where=text("status = 'processing'"),
            sqlite_where=text("status = 'processing'"),
        ),
        UniqueConstraint("provider", "provider_ref", name="uq_payments_provider_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    provider: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default="processing", server_default="processing")
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    provider_ref: Mapped[str | None] = mapped_column(String(255))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now(), onupdate=utcnow
    )


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status_known"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index("ix_refunds_payment_id", "payment_id"),
        Index(  # the reconciliation sweep's scan, as ix_payments_processing
            "ix_refunds_pending",
            "created_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id", ondelete="RESTRICT"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    reason: Mapped[str] = mapped_column(String(200), default="", server_default="")
    provider_ref: Mapped[str | None] = mapped_column(String(255))
    failure_message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now(), onupdate=utcnow
    )


class WebhookEvent(Base):
    """A provider event already handled: webhooks are deduplicated by (provider, event id)."""

    __tablename__ = "payment_webhook_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="uq_payment_webhook_events_provider_event"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())
