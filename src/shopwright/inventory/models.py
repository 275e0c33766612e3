"""Stock per variant (`available = quantity - reserved`; the CHECKs are the last line against overselling)
and the movements that changed it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from shopwright.db import Base, UTCDateTime, utcnow


class StockLevel(Base):
    __tablename__ = "inventory"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
        CheckConstraint("reserved >= 0", name="reserved_non_negative"),
        CheckConstraint("reserved <= quantity", name="reserved_within_quantity"),
    )

    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"), primary_key=True)
    quantity: Mapped[int] = mapped_column(default=0, server_default="0")
    reserved: Mapped[int] = mapped_column(default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now(), onupdate=utcnow
    )


# Why stock changed: one constant per kind of change (docs/inventory.md). Reservations are not here:
# they hold units without changing the quantity on hand.
INITIAL = "initial"  # a product or variant created with stock
ADMIN_ADJUSTMENT = "admin_adjustment"  # an admin set or changed the stock
IMPORT = "import"  # the bulk product import
SALE = "sale"  # checkout sold reserved units
ORDER_EDIT = "order_edit"  # a pending order's line grew (sold) or shrank (put back)
CANCEL_RESTOCK = "cancel_restock"  # a cancelled order's units went back on the shelf
SEED = "seed"  # generated demo data (flask seed-db --products)
REASONS = (INITIAL, ADMIN_ADJUSTMENT, IMPORT, SALE, ORDER_EDIT, CANCEL_RESTOCK, SEED)


class StockMovement(Base):
    """One change of a variant's quantity on hand: who, when, by how much, why, and what it left."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        CheckConstraint("delta <> 0", name="delta_non_zero"),
        CheckConstraint("quantity_after >= 0", name="quantity_after_non_negative"),
        CheckConstraint(f"reason IN ({', '.join(repr(r) for r in REASONS)})", name="reason_known"),
        # The movements list: one variant's, newest first.
        Index("ix_stock_movements_variant_id_id", "variant_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"))
    delta: Mapped[int]
    quantity_after: Mapped[int]
    reason: Mapped[str] = mapped_column(String(32))
    # Plain references (the users and orders domains sit elsewhere): kept when those rows go away.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())
