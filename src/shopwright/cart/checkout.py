"""Handing the cart to checkout: its lines locked and priced, then the cart marked converted."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shopwright.cart.errors import CartEmpty, CartExpired, CartItemUnavailable
from shopwright.cart.models import ACTIVE, CONVERTED, Cart, CartItem
from shopwright.cart.service import locked_active_cart
from shopwright.catalog.models import Product, Variant
from shopwright.db import utcnow


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


def lock_for_checkout(session: Session, user_id: int) -> tuple[Cart, list[CheckoutLine]]:
    """Lock the active cart and return its lines at today's prices; runs inside the caller's transaction."""
    cart = locked_active_cart(session, user_id)
    if cart is not None and cart.expires_at <= utcnow():
        raise CartExpired("Your cart expired and its items are no longer reserved; add them again")
    rows = (
        session.execute(
            select(CartItem.quantity, Variant, Product)
            .join(Variant, CartItem.variant_id == Variant.id)
            .join(Product, Variant.product_id == Product.id)
            .where(CartItem.cart_id == cart.id, CartItem.saved_for_later.is_(False))
            .order_by(CartItem.id)
        ).all()
        if cart is not None
        else []
    )
    if cart is None or not rows:
        raise CartEmpty("Add something to your cart before checking out")
    withdrawn = [v.sku for _, v, p in rows if not (v.is_active and p.is_active and p.deleted_at is None)]
    if withdrawn:
        raise CartItemUnavailable(
            f"No longer available: {', '.join(withdrawn)}; remove them first", skus=withdrawn
        )
    lines = [
        CheckoutLine(v.id, p.id, p.name, v.name, v.sku, qty, v.price_cents, v.cost_cents, v.currency)
        for qty, v, p in rows
    ]
    return cart, lines


def mark_converted(session: Session, cart_id: int) -> None:
    """Mark a locked cart as turned into an order; runs inside the caller's transaction."""
    session.execute(
        update(Cart)
        .where(Cart.id == cart_id, Cart.status == ACTIVE)
        .values(status=CONVERTED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
