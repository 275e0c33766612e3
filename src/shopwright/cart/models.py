"""Carts and their lines. A line that is not saved for later holds `quantity` units reserved in inventory
for as long as its cart is `active`; expiring or converting the cart ends that."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, false, func, text
from sqlalchemy.orm import Mapped, mapped_column

from shopwright.db import Base, UTCDateTime, utcnow

ACTIVE = "active"
CONVERTED = "converted"
EXPIRED = "expired"
# The partial index predicate, as a literal: ON CONFLICT can only match the index by the same literal
# (a bound parameter stops matching once psycopg prepares the statement).
ACTIVE_PREDICATE = "status = 'active'"


class Cart(Base):
    __tablename__ = "carts"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'converted', 'expired')", name="status_known"),
        # One active cart per customer; racing first requests collide here instead of creating two.
        Index(
            "uq_carts_active_user",
            "user_id",
            unique=True,
            postgresql_where=text(ACTIVE_PREDICATE),
            sqlite_where=text(ACTIVE_PREDICATE),
        ),
        # The expiry sweep reads active carts by expiry time.
        Index(
            "ix_carts_active_expires_at",
            "expires_at",
            postgresql_where=text(ACTIVE_PREDICATE),
            sqlite_where=text(ACTIVE_PREDICATE),
        ),
        Index("ix_carts_user_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE, server_default=ACTIVE)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the cart's current reservations began (None: it holds none). expires_at never goes past
    # held_since + the maximum hold, however often the cart is touched (cart/service.py).
    held_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now(), onupdate=utcnow
    )


class CartItem(Base):
    __tablename__ = "cart_items"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        # A variant has at most one line in the cart and one among the saved items.
        UniqueConstraint("cart_id", "variant_id", "saved_for_later", name="uq_cart_items_cart_variant_saved"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int]
    saved_for_later: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())
