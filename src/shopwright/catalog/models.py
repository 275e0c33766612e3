"""Catalog tables: categories, products, variants and reviews."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    and_,
    false,
    func,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shopwright.db import Base, UTCDateTime, table_of, utcnow

# Rows a customer may see: not soft-deleted and active (partial indexes use the same predicate).
LISTED = "deleted_at IS NULL AND is_active"


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (
        # Sibling names are unique; roots (parent NULL) are siblings too, hence COALESCE.
        Index(
            "uq_categories_parent_name",
            func.coalesce(text("parent_id"), 0),
            func.lower(text("name")),
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("min_price_cents >= 0", name="min_price_cents_non_negative"),
        CheckConstraint("rating_count >= 0", name="rating_count_non_negative"),
        # Keyset pagination indexes for each sort, limited to listed products.
        Index("ix_products_listed_id", "id", postgresql_where=text(LISTED), sqlite_where=text(LISTED)),
        Index(
            "ix_products_listed_price",
            "min_price_cents",
            "id",
            postgresql_where=text(LISTED),
            sqlite_where=text(LISTED),
        ),
        Index(
            "ix_products_listed_rating",
            "rating_avg",
            "id",
            postgresql_where=text(LISTED),
            sqlite_where=text(LISTED),
        ),
        Index("ix_products_category_listed", "category_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(220), unique=True)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Denormalised from the variants (kept by catalog.service): list filters and sorts use them.
    min_price_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    rating_count: Mapped[int] = mapped_column(default=0, server_default="0")
    rating_sum: Mapped[int] = mapped_column(default=0, server_default="0")
    rating_avg: Mapped[Decimal] = mapped_column(Numeric(3, 2), default=Decimal(0), server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now(), onupdate=utcnow
    )
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    category: Mapped[Category | None] = relationship(lazy="raise")
    variants: Mapped[list[Variant]] = relationship(
        back_populates="product", lazy="raise", order_by="Variant.id"
    )


class Variant(Base):
    __tablename__ = "variants"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_cents_non_negative"),
        CheckConstraint("cost_cents >= 0", name="cost_cents_non_negative"),
        # At most one default variant per product.
        Index(
            "uq_variants_default_per_product",
            "product_id",
            unique=True,
            postgresql_where=text("is_default"),
            sqlite_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    price_cents: Mapped[int] = mapped_column(BigInteger)
    cost_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    is_default: Mapped[bool] = mapped_column(default=False, server_default=false())
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now(), onupdate=utcnow
    )

    product: Mapped[Product] = relationship(back_populates="variants", lazy="raise")


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("product_id", "user_id", name="uq_reviews_product_user"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        Index("ix_reviews_product_id_id", "product_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    rating: Mapped[int] = mapped_column(SmallInteger)
    title: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    verified_purchase: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())


# Both conditions are written on the tables' columns, not the mapped attributes: an UPDATE built once
# that uses them (inventory's reserve) stays a Core statement, off the ORM's bulk-update execution path.
def listed() -> ColumnElement[bool]:
    """Return the condition of a product customers see (and buy from): active and not deleted (LISTED)."""
    # Plain `is_active`, as the partial indexes have it: PostgreSQL cannot match `is_active IS true` to them.
    products = table_of(Product).c
    return and_(products.is_active, products.deleted_at.is_(None))


def sellable() -> ColumnElement[bool]:
    """Return the condition of a variant customers can buy: active, of a listed product (join products)."""
    return and_(table_of(Variant).c.is_active, listed())
