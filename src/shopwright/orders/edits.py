"""Edits of pending orders: line quantities change, and units an edit adds are priced today.

A line keeps its quantity and its snapshot (price, cost, names). Units added to a line whose price is no
longer the variant's go into the variant's line at the current price and cost: the one the order already
has at that price, else a new line (the unique key is order, variant, unit price). A line already at the
current price just grows. A product or variant no longer for sale can only be lowered or removed. Totals,
the voucher's discount, tax and shipping are computed again. See docs/orders.md.

Lock order, as checkout's: the order row, the voucher row (rediscount reads it), then stock rows in
ascending variant id (one conditional UPDATE each: inventory.sell / restock).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopwright.cart.errors import LineQuantityExceeded
from shopwright.cart.schemas import MAX_LINE_QUANTITY
from shopwright.catalog.models import Product, Variant
from shopwright.db import utcnow
from shopwright.inventory import service as inventory
from shopwright.inventory.models import ORDER_EDIT
from shopwright.orders.errors import (
    OrderItemNotFound,
    OrderNotEditable,
    OrderWouldBeEmpty,
    ProductNoLongerSold,
)
from shopwright.orders.models import Order, OrderItem
from shopwright.orders.payment import mark_paid
from shopwright.orders.pricing import PricingRules, Totals, compute_totals
from shopwright.orders.schemas import OrderUpdate
from shopwright.orders.service import has_live_payment, lock_order
from shopwright.orders.status import PENDING
from shopwright.promotions import service as promotions


@dataclass(frozen=True)
class _ForSale:
    """A variant as it is sold today: what a line of units added now snapshots."""

    product_id: int
    name: str
    variant_name: str
    sku: str
    price_cents: int
    cost_cents: int
    listed: bool  # variant and product active, product not deleted


def update_order_items(
    session: Session, user_id: int, order_id: int, data: OrderUpdate, *, rules: PricingRules
) -> Order:
    """Change line quantities of a pending order; added units at today's price, stock and totals follow."""
    with session.begin():
        order = lock_order(session, order_id, user_id=user_id)
        if order.status != PENDING or has_live_payment(session, order.id):
            raise OrderNotEditable(
                f"Order {order.id} is {order.status}; only unpaid pending orders can change"
            )
        lines = {item.id: item for item in order.items}
        wanted = {change.item_id: change.quantity for change in data.items}
        unknown = next((item_id for item_id in wanted if item_id not in lines), None)
        if unknown is not None:
            raise OrderItemNotFound(f"Order has no item {unknown}")
        variants = sorted({lines[item_id].variant_id for item_id in wanted})
        for_sale = _for_sale(session, variants)
        for variant_id in variants:  # ascending ids: stock rows lock in one order
            _edit_variant(session, order, variant_id, wanted, for_sale[variant_id])
        if not order.items:
            raise OrderWouldBeEmpty("Removing every line would empty the order; cancel it instead")
        subtotal = sum(item.line_total_cents for item in order.items)
        discount = promotions.rediscount(session, order.id, subtotal)
        _apply_totals(order, compute_totals(rules, subtotal, discount, order.shipping_country))
        order.updated_at = utcnow()
        if order.total_cents == 0:  # nothing left to charge: paid, as at checkout
            mark_paid(session, order, payment_id=None)
    return order


def _edit_variant(
    session: Session, order: Order, variant_id: int, wanted: dict[int, int], today: _ForSale
) -> None:
    """Apply the requested quantities of one variant's lines, moving added units to today's price."""
    lines = [item for item in order.items if item.variant_id == variant_id]
    target = {item: wanted.get(item.id, item.quantity) for item in lines}
    if not today.listed and any(target[item] > item.quantity for item in lines):
        raise ProductNoLongerSold(
            f"SKU {lines[0].sku} is no longer for sale: its lines can be lowered or removed, not raised",
            sku=lines[0].sku,
        )
    current = next((item for item in lines if item.unit_price_cents == today.price_cents), None)
    moved = 0  # units added to lines at an old price: they are bought at today's
    for item in lines:
        if item is not current and target[item] > item.quantity:
            moved += target[item] - item.quantity
            target[item] = item.quantity
    if moved:
        if current is None:
            current = _new_line(variant_id, today)
            target[current] = 0
        target[current] += moved
        _check_line(target[current])
    _sell_or_restock(session, order, variant_id, sum(target.values()) - sum(item.quantity for item in target))
    for item, quantity in target.items():
        _set_quantity(order, item, quantity)


def _new_line(variant_id: int, today: _ForSale) -> OrderItem:
    return OrderItem(
        product_id=today.product_id,
        variant_id=variant_id,
        name=today.name,
        variant_name=today.variant_name,
        sku=today.sku,
        unit_price_cents=today.price_cents,
        unit_cost_cents=today.cost_cents,
        quantity=0,
        line_total_cents=0,
    )


def _set_quantity(order: Order, item: OrderItem, quantity: int) -> None:
    if quantity == 0:
        if item in order.items:
            order.items.remove(item)
        return
    if item not in order.items:
        order.items.append(item)
    item.quantity = quantity
    item.line_total_cents = item.unit_price_cents * quantity


def _sell_or_restock(session: Session, order: Order, variant_id: int, delta: int) -> None:
    # Only the order's owner edits it: they are the movement's actor.
    if delta > 0:
        inventory.sell(session, variant_id, delta, order_id=order.id, actor_id=order.user_id)
    elif delta < 0:
        quantities = {variant_id: -delta}
        inventory.restock(session, quantities, reason=ORDER_EDIT, order_id=order.id, actor_id=order.user_id)


def _check_line(quantity: int) -> None:
    if quantity > MAX_LINE_QUANTITY:
        raise LineQuantityExceeded(
            f"An order line holds at most {MAX_LINE_QUANTITY} units; this would make {quantity}",
            errors=[
                {"field": "items", "message": f"line would hold {quantity}; at most {MAX_LINE_QUANTITY}"}
            ],
        )


def _for_sale(session: Session, variant_ids: list[int]) -> dict[int, _ForSale]:
    """Return the variants as sold today (one query)."""
    rows = session.execute(
        select(
            Variant.id,
            Variant.product_id,
            Product.name,
            Variant.name,
            Variant.sku,
            Variant.price_cents,
            Variant.cost_cents,
            Variant.is_active,
            Product.is_active,
            Product.deleted_at,
        )
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.id.in_(variant_ids))
    ).all()
    return {
        variant_id: _ForSale(
            product_id, name, variant_name, sku, price, cost, bool(active and listed and deleted_at is None)
        )
        for variant_id, product_id, name, variant_name, sku, price, cost, active, listed, deleted_at in rows
    }


def _apply_totals(order: Order, totals: Totals) -> None:
    """Copy computed totals onto an order."""
    order.subtotal_cents = totals.subtotal_cents
    order.discount_cents = totals.discount_cents
    order.shipping_cents = totals.shipping_cents
    order.tax_cents = totals.tax_cents
    order.total_cents = totals.total_cents
