"""Vouchers and their redemptions. `used_count` is changed only by conditional UPDATEs, and the CHECK
keeps it within `usage_limit` as the last line of defence."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, func, true
from sqlalchemy.orm import Mapped, mapped_column

from shopwright.db import Base, UTCDateTime, utcnow

PERCENT = "percent"
FIXED = "fixed"


class Voucher(Base):
    __tablename__ = "vouchers"
    __table_args__ = (
        CheckConstraint("kind IN ('percent', 'fixed')", name="kind_known"),
        CheckConstraint(
            "(kind = 'percent' AND percent_off BETWEEN 1 AND 100 AND amount_off_cents IS NULL)"
            " OR (kind = 'fixed' AND amount_off_cents > 0 AND percent_off IS NULL)",
            name="value_matches_kind",
        ),
        CheckConstraint("min_subtotal_cents >= 0", name="min_subtotal_non_negative"),
        CheckConstraint("used_count >= 0", name="used_count_non_negative"),
        CheckConstraint("usage_limit IS NULL OR used_count <= usage_limit", name="used_within_limit"),
        CheckConstraint(
            "per_customer_limit IS NULL OR per_customer_limit >= 1", name="per_customer_limit_positive"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # stored upper-case
    description: Mapped[str] = mapped_column(String(200), default="", server_default="")
    kind: Mapped[str] = mapped_column(String(10))
    percent_off: Mapped[int | None]
    amount_off_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    min_subtotal_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    usage_limit: Mapped[int | None]
    per_customer_limit: Mapped[int | None]
    used_count: Mapped[int] = mapped_column(default=0, server_default="0")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now(), onupdate=utcnow
    )


class VoucherRedemption(Base):
    __tablename__ = "voucher_redemptions"
    __table_args__ = (
        CheckConstraint("discount_cents >= 0", name="discount_non_negative"),
        Index("ix_voucher_redemptions_voucher_user", "voucher_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    discount_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())
    # Set when the order is cancelled: the use no longer counts against the limits.
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
