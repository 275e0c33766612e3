"""The cart as customers see it, and as checkout reads it: its lines at current prices, availability, totals.

One query reads a cart's lines (`cart_lines`); the view and checkout both build on it. A line is
`available` when customers can buy its variant (catalog.models.sellable); unavailable lines are shown but
not totalled, and checkout refuses them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from shopwright.cart.models import ACTIVE, Cart, CartItem
from shopwright.catalog.models import Product, Variant, sellable
from shopwright.db import AnyRow, table_of
from shopwright.schemas import iso_utc

DEFAULT_CURRENCY = "USD"

_CARTS, _ITEMS, _VARIANTS, _PRODUCTS = (
    table_of(Cart),
    table_of(CartItem),
    table_of(Variant),
    table_of(Product),
)
# Statements built once (building one costs about as much as running it); rows are read by name.
_LINE_COLUMNS = (
    _ITEMS.c.id,
    _ITEMS.c.quantity,
    _ITEMS.c.saved_for_later,
    _VARIANTS.c.id.label("variant_id"),
    _VARIANTS.c.name.label("variant_name"),
    _VARIANTS.c.sku,
    _VARIANTS.c.price_cents,
    _VARIANTS.c.cost_cents,
    _VARIANTS.c.currency,
    _PRODUCTS.c.id.label("product_id"),
    _PRODUCTS.c.name,
    sellable().label("available"),
)
_LINE_JOINS = _ITEMS.join(_VARIANTS, _ITEMS.c.variant_id == _VARIANTS.c.id).join(
    _PRODUCTS, _VARIANTS.c.product_id == _PRODUCTS.c.id
)
_LINES = (
    select(*_LINE_COLUMNS)
    .select_from(_LINE_JOINS)
    .where(_ITEMS.c.cart_id == bindparam("cart_id"))
    .order_by(_ITEMS.c.id)
)
# The customer's active cart with its lines, in one statement and without a lock: a read never queues
# behind a change, and cart and lines come from one snapshot. A cart without lines is one row whose line
# columns are null; no active cart, no row.
_ACTIVE_CART_WITH_LINES = (
    select(_CARTS.c.id.label("cart_id"), _CARTS.c.expires_at, *_LINE_COLUMNS)
    .select_from(_CARTS.outerjoin(_LINE_JOINS, _ITEMS.c.cart_id == _CARTS.c.id))
    .where(_CARTS.c.user_id == bindparam("user_id"), _CARTS.c.status == ACTIVE)
    .order_by(_ITEMS.c.id)
)


# A cart as the API sends it (schemas.CartOut documents it; tests/api/test_cart.py holds them together):
# built here once, with no model to validate on the way out.
CartView = dict[str, Any]


def cart_lines(session: Session, cart_id: int) -> Sequence[AnyRow]:
    """Return the cart's lines and saved items (in the order added) with their variant and product."""
    return session.execute(_LINES, {"cart_id": cart_id}).all()


def active_cart_with_lines(session: Session, user_id: int) -> Sequence[AnyRow]:
    """Return the customer's active cart (cart_id, expires_at) joined with its lines, without a lock.

    No row: no active cart. One row whose `id` is null: an empty cart.
    """
    return session.execute(_ACTIVE_CART_WITH_LINES, {"user_id": user_id}).all()


def load_view(session: Session, cart: Any) -> CartView:
    """Return the view of a cart (anything with its `id` and `expires_at`)."""
    return view_of(cart.id, cart.expires_at, cart_lines(session, cart.id))


def view_of(cart_id: int, expires_at: datetime, rows: Sequence[AnyRow]) -> CartView:
    """Return a cart as the API sends it from its lines (cart_lines); unavailable lines are not totalled."""
    items: list[dict[str, Any]] = []
    saved: list[dict[str, Any]] = []
    for row in rows:
        line = {
            "id": row.id,
            "product_id": row.product_id,
            "variant_id": row.variant_id,
            "name": row.name,
            "variant_name": row.variant_name,
            "sku": row.sku,
            "quantity": row.quantity,
            "unit_price_cents": row.price_cents,
            "line_total_cents": row.price_cents * row.quantity,
            "currency": row.currency,
            "available": bool(row.available),
        }
        (saved if row.saved_for_later else items).append(line)
    buyable = [line for line in items if line["available"]]
    return {
        "id": cart_id,
        "items": items,
        "saved_items": saved,
        "subtotal_cents": sum(line["line_total_cents"] for line in buyable),
        "currency": items[0]["currency"] if items else DEFAULT_CURRENCY,
        "item_count": sum(line["quantity"] for line in buyable),
        "expires_at": iso_utc(expires_at),
    }
