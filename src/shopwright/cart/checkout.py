"""Handing the cart to checkout: its lines locked and priced, then the cart marked converted.

Checkout runs these statements on every order: each is built once, with its values as bound parameters
(building a statement and walking it for SQLAlchemy's cache key costs about as much as running it), and
reads columns rather than ORM objects.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from shopwright.cart.errors import CartEmpty, CartExpired, CartItemUnavailable
from shopwright.cart.models import ACTIVE, CONVERTED, Cart, CartItem
from shopwright.catalog.models import Product, Variant
from shopwright.db import table_of, utcnow


class CheckoutLine(NamedTuple):
    variant_id: int
    product_id: int
    name: str
    variant_name: str
    sku: str
    quantity: int
    unit_price_cents: int
    unit_cost_cents: int
    currency: str


# On the tables, not the mapped classes: statements naming mapped classes take SQLAlchemy's slower ORM
# execution path (about 0.3 ms a checkout here), and checkout only needs columns.
_CARTS = table_of(Cart)
_ITEMS = table_of(CartItem)
_VARIANTS = table_of(Variant)
_PRODUCTS = table_of(Product)
# The same row lock as cart.service.locked_active_cart, reading only what checkout needs.
_LOCK_CART = (
    select(_CARTS.c.id, _CARTS.c.expires_at)
    .where(_CARTS.c.user_id == bindparam("user_id"), _CARTS.c.status == ACTIVE)
    .with_for_update()
)
_LINES = (
    select(
        _ITEMS.c.quantity,
        _VARIANTS.c.id,
        _VARIANTS.c.product_id,
        _PRODUCTS.c.name,
        _VARIANTS.c.name,
        _VARIANTS.c.sku,
        _VARIANTS.c.price_cents,
        _VARIANTS.c.cost_cents,
        _VARIANTS.c.currency,
        _VARIANTS.c.is_active,
        _PRODUCTS.c.is_active,
        _PRODUCTS.c.deleted_at,
    )
    .join(_VARIANTS, _ITEMS.c.variant_id == _VARIANTS.c.id)
    .join(_PRODUCTS, _VARIANTS.c.product_id == _PRODUCTS.c.id)
    .where(_ITEMS.c.cart_id == bindparam("cart_id"), _ITEMS.c.saved_for_later.is_(False))
    .order_by(_ITEMS.c.id)
)
_CONVERT = (
    update(_CARTS)
    .where(_CARTS.c.id == bindparam("cart_id"), _CARTS.c.status == ACTIVE)
    .values(status=CONVERTED, updated_at=bindparam("now"))
)


def lock_for_checkout(session: Session, user_id: int) -> tuple[int, list[CheckoutLine]]:
    """Lock the active cart; return its id and lines at today's prices; inside the caller's transaction."""
    cart = session.execute(_LOCK_CART, {"user_id": user_id}).first()
    if cart is not None and cart.expires_at <= utcnow():
        raise CartExpired("Your cart expired and its items are no longer reserved; add them again")
    rows = session.execute(_LINES, {"cart_id": cart.id}).all() if cart is not None else []
    if cart is None or not rows:
        raise CartEmpty("Add something to your cart before checking out")
    lines, withdrawn = [], []
    for qty, variant_id, product_id, name, variant_name, sku, price, cost, currency, *live in rows:
        variant_active, product_active, deleted_at = live
        if not (variant_active and product_active and deleted_at is None):
            withdrawn.append(sku)
        lines.append(
            CheckoutLine(variant_id, product_id, name, variant_name, sku, qty, price, cost, currency)
        )
    if withdrawn:
        raise CartItemUnavailable(
            f"No longer available: {', '.join(withdrawn)}; remove them first", skus=withdrawn
        )
    return cart.id, lines


def mark_converted(session: Session, cart_id: int) -> None:
    """Mark a locked cart as turned into an order; runs inside the caller's transaction."""
    session.execute(_CONVERT, {"cart_id": cart_id, "now": utcnow()})
