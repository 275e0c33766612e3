"""Orders and their lines. Lines snapshot name, SKU, unit price and unit cost at purchase; the CHECK keeps
`total = subtotal - discount + shipping + tax`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shopwright.db import Base, UTCDateTime, utcnow
from shopwright.payments.models import Payment

# The orders the back-office reports count (docs/backoffice.md); the partial index below uses it.
COUNTED_STATUSES = ("paid", "shipped", "delivered")
_COUNTED = "status IN ('paid', 'shipped', 'delivered')"


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')",
            name="status_known",
        ),
        CheckConstraint(
            "subtotal_cents >= 0 AND discount_cents >= 0 AND shipping_cents >= 0 AND tax_cents >= 0"
            " AND discount_cents <= subtotal_cents",
            name="amounts_non_negative",
        ),
        CheckConstraint(
            "total_cents = subtotal_cents - discount_cents + shipping_cents + tax_cents", name="total_adds_up"
        ),
        Index("ix_orders_user_id", "user_id", "id"),
        Index("ix_orders_status", "status", "id"),
        # The reports' windows (migration 0009): counted orders by paid_at, all orders by created_at.
        Index(
            "ix_orders_paid_counted", "paid_at", postgresql_where=text(_COUNTED), sqlite_where=text(_COUNTED)
        ),
        Index("ix_orders_created_at", "created_at", "status"),
        # The dashboard's pending orders by day of creation (the other statuses come from the rollup).
        Index(
            "ix_orders_pending_created",
            "created_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_cents: Mapped[int] = mapped_column(BigInteger)
    discount_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    shipping_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    tax_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    total_cents: Mapped[int] = mapped_column(BigInteger)
    voucher_code: Mapped[str | None] = mapped_column(String(40))
    shipping_address: Mapped[str | dict[str, Any]] = mapped_column(JSON)  # as given: text or structured
    shipping_country: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now(), onupdate=utcnow
    )
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", lazy="raise", order_by="OrderItem.id", cascade="all, delete-orphan"
    )
    # The payments domain writes these; an order only shows them (OrderOut), oldest first.
    payments: Mapped[list[Payment]] = relationship(lazy="raise", order_by=Payment.id, viewonly=True)


class OrderItem(Base):
    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("unit_price_cents >= 0 AND unit_cost_cents >= 0", name="prices_non_negative"),
        CheckConstraint("line_total_cents = unit_price_cents * quantity", name="line_total_adds_up"),
        # One line per variant and price: units an edit adds at a new price get a line of their own
        # (orders/edits.py); checkout still makes one line per variant.
        UniqueConstraint(
            "order_id", "variant_id", "unit_price_cents", name="uq_order_items_order_variant_price"
        ),
        Index("ix_order_items_product_id", "product_id"),
        # A counted order's lines with what the reports sum: an index-only scan on PostgreSQL.
        Index(
            "ix_order_items_order_id_report",
            "order_id",
            postgresql_include=["product_id", "quantity", "line_total_cents", "unit_cost_cents"],
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200))
    variant_name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(64))
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)
    unit_cost_cents: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int]
    line_total_cents: Mapped[int] = mapped_column(BigInteger)

    order: Mapped[Order] = relationship(back_populates="items", lazy="raise")
