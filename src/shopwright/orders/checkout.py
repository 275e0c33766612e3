"""Checkout: the cart becomes an order in one transaction (edits of pending orders: orders/edits.py).

Reserved units become sold units (`quantity -= q, reserved -= q`), lines snapshot name, SKU, unit price
and unit cost, the voucher's use is taken, totals are computed in integer cents, the cart is converted.
Lock order: the customer's cart row, the voucher row, then stock rows in ascending variant id.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session

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
from shopwright.orders.pricing import PricingRules, compute_totals
from shopwright.orders.schemas import OrderCreate, ShippingAddressIn
from shopwright.orders.status import PAID, PENDING
from shopwright.promotions import service as promotions

# Checkout writes through Core statements built once, not the ORM unit of work: a flush (change
# tracking, identity map, per-object bookkeeping) cost more CPU than the INSERTs themselves (see
# bench/README.md). The answer is built from the values inserted (a dict of the order's columns).
_ORDERS = table_of(Order)
_ITEMS = table_of(OrderItem)
_INSERT_ORDER = insert(_ORDERS).returning(_ORDERS.c.id)
# Sent with one parameter set a line: SQLAlchemy's "insertmanyvalues" turns them into multi-row INSERTs
# (ITEM_BATCH rows each) from one compiled statement. Ids come back with their variant (unique within an
# order): RETURNING's row order does not matter, and asking for it costs SQLite a statement a line.
_INSERT_ITEMS = insert(_ITEMS).returning(_ITEMS.c.id, _ITEMS.c.variant_id)
# Lines per INSERT: 10 parameters a line, and PostgreSQL takes at most 65,535 in one statement.
ITEM_BATCH = 500
_RETOTAL = update(_ORDERS).where(_ORDERS.c.id == bindparam("order"))  # SET: the parameters' columns
# The columns an order has before it is paid, shipped or anything else: the answer shows them as null.
_NOT_YET = dict.fromkeys(("paid_at", "shipped_at", "delivered_at", "cancelled_at", "refunded_at"))


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
        order, items = _insert_order(session, user_id, data, lines, rules, country)
        if order["voucher_code"]:
            _redeem_voucher(session, order, order["voucher_code"], rules)
        sold = {line.variant_id: line.quantity for line in lines}
        inventory.sell_reserved(session, sold, order_id=order["id"], actor_id=user_id)
        handover.mark_converted(session, cart_id)
        created = {"order_id": order["id"], "total_cents": order["total_cents"]}
        outbox.publish(session, ORDER_CREATED, created, user_id=user_id)
        if order["total_cents"] == 0:
            _paid_at_checkout(session, order)
        after_commit(session, metrics.ORDERS_PLACED.inc)
        response = StoredResponse(201, order_json(order, items, []))
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
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Insert a pending order and its lines; return their columns (the order's, the lines') to render."""
    address = data.delivery_address
    subtotal = sum(line.unit_price_cents * line.quantity for line in lines)
    now = utcnow()
    # Final totals unless a voucher discounts: then they change once the order has an id to redeem it for.
    order: dict[str, Any] = {
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
    order["id"] = session.execute(_INSERT_ORDER, order).scalar_one()
    order.update(_NOT_YET)
    items = [_item_values(order["id"], line) for line in lines]
    batches = {"insertmanyvalues_page_size": ITEM_BATCH}
    ids = {row.variant_id: row.id for row in session.execute(_INSERT_ITEMS, items, execution_options=batches)}
    for item in items:
        item["id"] = ids[item["variant_id"]]
    return order, items


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


def _redeem_voucher(session: Session, order: dict[str, Any], code: str, rules: PricingRules) -> None:
    discount = promotions.redeem_voucher(
        session,
        code,
        user_id=order["user_id"],
        order_id=order["id"],
        subtotal_cents=order["subtotal_cents"],
        currency=order["currency"],
    )
    totals = asdict(compute_totals(rules, order["subtotal_cents"], discount, order["shipping_country"]))
    order.update(totals, updated_at=utcnow())
    session.execute(_RETOTAL, {"order": order["id"], "updated_at": order["updated_at"], **totals})


def _paid_at_checkout(session: Session, order: dict[str, Any]) -> None:
    """Mark an order that totals 0 paid: no gateway takes a charge of 0 (nor does the payments table)."""
    now = utcnow()
    order.update(status=PAID, paid_at=now, updated_at=now)
    params = {"order": order["id"], "status": PAID, "paid_at": now, "updated_at": now}
    session.execute(_RETOTAL, params)
    publish_paid(session, order["id"], order["user_id"], payment_id=None)


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
