"""The cart as customers see it: lines at current prices, availability and totals (read-only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopwright.cart.models import Cart, CartItem
from shopwright.catalog.models import Product, Variant

DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True)
class CartLine:
    id: int
    product_id: int
    variant_id: int
    name: str
    variant_name: str
    sku: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int
    currency: str
    available: bool


@dataclass(frozen=True)
class CartView:
    id: int
    items: list[CartLine]
    saved_items: list[CartLine]
    subtotal_cents: int
    currency: str
    item_count: int
    expires_at: datetime


def load_view(session: Session, cart: Cart) -> CartView:
    """Build the cart's view in one query; withdrawn products show as unavailable and are not totalled."""
    rows = session.execute(
        select(
            CartItem.id,
            CartItem.quantity,
            CartItem.saved_for_later,
            Variant.id,
            Variant.name,
            Variant.sku,
            Variant.price_cents,
            Variant.currency,
            Variant.is_active,
            Product.id,
            Product.name,
            Product.is_active,
            Product.deleted_at,
        )
        .join(Variant, CartItem.variant_id == Variant.id)
        .join(Product, Variant.product_id == Product.id)
        .where(CartItem.cart_id == cart.id)
        .order_by(CartItem.id)
    ).all()
    items: list[CartLine] = []
    saved: list[CartLine] = []
    for row in rows:
        (item_id, quantity, is_saved, variant_id, variant_name, sku, price, currency, variant_active,
         product_id, product_name, product_active, deleted_at) = row  # fmt: skip
        line = CartLine(
            id=item_id,
            product_id=product_id,
            variant_id=variant_id,
            name=product_name,
            variant_name=variant_name,
            sku=sku,
            quantity=quantity,
            unit_price_cents=price,
            line_total_cents=price * quantity,
            currency=currency,
            available=bool(variant_active and product_active and deleted_at is None),
        )
        (saved if is_saved else items).append(line)
    buyable = [line for line in items if line.available]
    return CartView(
        id=cart.id,
        items=items,
        saved_items=saved,
        subtotal_cents=sum(line.line_total_cents for line in buyable),
        currency=items[0].currency if items else DEFAULT_CURRENCY,
        item_count=sum(line.quantity for line in buyable),
        expires_at=cart.expires_at,
    )
