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
from shopwright.cart.models import ACTIVE, CONVERTED, Cart
from shopwright.cart.view import cart_lines
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


# On the table, not the mapped class: checkout only needs columns, and a statement naming mapped classes
# takes SQLAlchemy's slower ORM execution path.
_CARTS = table_of(Cart)
# The same row lock as cart.service.locked_active_cart, reading only what checkout needs.
_LOCK_CART = (
    select(_CARTS.c.id, _CARTS.c.expires_at)
    .where(_CARTS.c.user_id == bindparam("user_id"), _CARTS.c.status == ACTIVE)
    .with_for_update()
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
    rows = (
        [row for row in cart_lines(session, cart.id) if not row.saved_for_later] if cart is not None else []
    )
    if cart is None or not rows:
        raise CartEmpty("Add something to your cart before checking out")
    withdrawn = [row.sku for row in rows if not row.available]
    if withdrawn:
        raise CartItemUnavailable(
            f"No longer available: {', '.join(withdrawn)}; remove them first", skus=withdrawn
        )
    lines = [
        CheckoutLine(
            row.variant_id,
            row.product_id,
            row.name,
            row.variant_name,
            row.sku,
            row.quantity,
            row.price_cents,
            row.cost_cents,
            row.currency,
        )
        for row in rows
    ]
    return cart.id, lines


def mark_converted(session: Session, cart_id: int) -> None:
    """Mark a locked cart as turned into an order; runs inside the caller's transaction."""
    session.execute(_CONVERT, {"cart_id": cart_id, "now": utcnow()})
