"""Checkout: the cart becomes an order in one transaction (edits of pending orders: orders/edits.py).

Reserved units become sold units (`quantity -= q, reserved -= q`), lines snapshot name, SKU, unit price
and unit cost, the voucher's use is taken, totals are computed in integer cents, the cart is converted.
Lock order: the customer's cart row, the voucher row, then stock rows in ascending variant id.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from shopwright import idempotency, metrics, outbox
from shopwright.cart import handover
from shopwright.cart.handover import CheckoutLine
from shopwright.db import after_commit, table_of, utcnow
from shopwright.idempotency import KeyedRequest, StoredResponse
from shopwright.inventory import service as inventory
from shopwright.orders.display import order_json
from shopwright.orders.errors import UnsupportedShippingCountry
from shopwright.orders.events import ORDER_CREATED
from shopwright.orders.models import Order, OrderItem
from shopwright.orders.payment import publish_paid
from shopwright.orders.pricing import PricingRules, Totals, compute_totals
from shopwright.orders.schemas import OrderCreate, ShippingAddressIn
from shopwright.orders.status import PAID, PENDING
from shopwright.promotions import service as promotions


@dataclass(slots=True)
class PlacedOrder:
    """An order as checkout inserted it: the attributes of Order that a response shows, no ORM state."""

    id: int
    user_id: int
    status: str
    currency: str
    voucher_code: str | None
    shipping_address: str | dict[str, Any]
    shipping_country: str | None
    created_at: datetime
    updated_at: datetime
    subtotal_cents: int
    discount_cents: int
    shipping_cents: int
    tax_cents: int
    total_cents: int
    items: list[dict[str, Any]] = field(default_factory=list)  # order_items' columns
    paid_at: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None
    refunded_at: datetime | None = None


# Checkout writes through Core statements built once, not the ORM unit of work: a flush (change
# tracking, identity map, per-object bookkeeping) cost more CPU than the INSERTs themselves (see
# bench/README.md). The answer is built from what was inserted (a PlacedOrder, orders.display).
_ORDERS = table_of(Order)
_ITEMS = table_of(OrderItem)
_INSERT_ORDER = insert(_ORDERS).returning(_ORDERS.c.id)
_ITEM_COLUMNS = tuple(column.key for column in _ITEMS.c if column.key != "id")  # = _item_values' keys
# Lines per INSERT: 10 parameters a line, and PostgreSQL takes at most 65,535 in one statement.
ITEM_BATCH = 500


@functools.lru_cache(maxsize=64)
def _insert_items(lines: int) -> ReturningInsert[Any]:
    """Return one INSERT of `lines` rows (parameters `<column>_<n>`), built once per size."""
    rows: list[dict[str, Any]] = [
        {key: bindparam(f"{key}_{n}") for key in _ITEM_COLUMNS} for n in range(lines)
    ]
    # Ids come back with their variant (unique within an order): RETURNING's row order does not matter.
    return insert(_ITEMS).values(rows).returning(_ITEMS.c.id, _ITEMS.c.variant_id)


_RETOTAL = update(_ORDERS).where(_ORDERS.c.id == bindparam("order"))  # SET: the parameters' columns


def place_order(
    session: Session,
    user_id: int,
    data: OrderCreate,
    *,
    rules: PricingRules,
    keyed: KeyedRequest | None = None,
) -> StoredResponse:
    """Turn the customer's cart into a pending order; a repeated Idempotency-Key replays the first answer."""
    with session.begin():
        if keyed is not None and (stored := idempotency.claim(session, keyed)) is not None:
            return stored
        address = data.delivery_address
        country = address.country if isinstance(address, ShippingAddressIn) else None
        _check_ships_to(rules, country)
        cart_id, lines = handover.lock_for_checkout(session, user_id)
        order = _insert_order(session, user_id, data, lines, rules, country)
        if order.voucher_code:
            _redeem_voucher(session, order, order.voucher_code, rules)
        sold = {line.variant_id: line.quantity for line in lines}
        inventory.sell_reserved(session, sold, order_id=order.id, actor_id=user_id)
        handover.mark_converted(session, cart_id)
        outbox.publish(
            session, ORDER_CREATED, {"order_id": order.id, "total_cents": order.total_cents}, user_id=user_id
        )
        if order.total_cents == 0:
            _paid_at_checkout(session, order)
        after_commit(session, metrics.ORDERS_PLACED.inc)
        response = StoredResponse(201, order_json(asdict(order), order.items, []))
        if keyed is not None:
            idempotency.complete(session, keyed, response.status, response.body)
        return response


def _insert_order(
    session: Session,
    user_id: int,
    data: OrderCreate,
    lines: list[CheckoutLine],
    rules: PricingRules,
    country: str | None,
) -> PlacedOrder:
    """Insert a pending order and its lines; return them to render."""
    address = data.delivery_address
    subtotal = sum(line.unit_price_cents * line.quantity for line in lines)
    now = utcnow()
    # Final totals unless a voucher discounts: then they change once the order has an id to redeem it for.
    values: dict[str, Any] = {
        "user_id": user_id,
        "status": PENDING,
        "currency": lines[0].currency,
        "voucher_code": data.voucher_code.upper() if data.voucher_code else None,
        "shipping_address": address.model_dump(exclude_none=True)
        if isinstance(address, ShippingAddressIn)
        else address,
        "shipping_country": country,
        "created_at": now,
        "updated_at": now,
        **asdict(compute_totals(rules, subtotal, 0, country)),
    }
    order_id = session.execute(_INSERT_ORDER, values).scalar_one()
    items = [_item_values(order_id, line) for line in lines]
    ids: dict[int, int] = {}
    for start in range(0, len(items), ITEM_BATCH):
        batch = items[start : start + ITEM_BATCH]
        params = {f"{key}_{n}": value for n, item in enumerate(batch) for key, value in item.items()}
        ids.update((row.variant_id, row.id) for row in session.execute(_insert_items(len(batch)), params))
    return PlacedOrder(
        id=order_id, **values, items=[{"id": ids[item["variant_id"]], **item} for item in items]
    )


def _item_values(order_id: int, line: CheckoutLine) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "product_id": line.product_id,
        "variant_id": line.variant_id,
        "name": line.name,
        "variant_name": line.variant_name,
        "sku": line.sku,
        "unit_price_cents": line.unit_price_cents,
        "unit_cost_cents": line.unit_cost_cents,
        "quantity": line.quantity,
        "line_total_cents": line.unit_price_cents * line.quantity,
    }


def _redeem_voucher(session: Session, order: PlacedOrder, code: str, rules: PricingRules) -> None:
    discount = promotions.redeem_voucher(
        session,
        code,
        user_id=order.user_id,
        order_id=order.id,
        subtotal_cents=order.subtotal_cents,
        currency=order.currency,
    )
    totals = compute_totals(rules, order.subtotal_cents, discount, order.shipping_country)
    apply_totals(order, totals)
    order.updated_at = utcnow()
    session.execute(_RETOTAL, {"order": order.id, "updated_at": order.updated_at, **asdict(totals)})


def _paid_at_checkout(session: Session, order: PlacedOrder) -> None:
    """Mark an order that totals 0 paid: no gateway takes a charge of 0 (nor does the payments table)."""
    order.status = PAID
    order.paid_at = order.updated_at = utcnow()
    params = {"order": order.id, "status": PAID, "paid_at": order.paid_at, "updated_at": order.updated_at}
    session.execute(_RETOTAL, params)
    publish_paid(session, order.id, order.user_id, payment_id=None)


def _check_ships_to(rules: PricingRules, country: str | None) -> None:
    if rules.ships_to(country):
        return
    if country is None:
        raise UnsupportedShippingCountry(
            "This shop ships to selected countries only: give a structured address with a country",
            errors=[
                {"field": "delivery_address", "message": "a structured address with a country is required"}
            ],
        )
    raise UnsupportedShippingCountry(
        f"We do not ship to {country}",
        errors=[{"field": "delivery_address.country", "message": f"we do not ship to {country}"}],
    )


def apply_totals(order: Order | PlacedOrder, totals: Totals) -> None:
    """Copy computed totals onto an order (or a placed one)."""
    order.subtotal_cents = totals.subtotal_cents
    order.discount_cents = totals.discount_cents
    order.shipping_cents = totals.shipping_cents
    order.tax_cents = totals.tax_cents
    order.total_cents = totals.total_cents
