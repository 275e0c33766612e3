"""How an order is shown: one serialiser (`order_json`) behind every answer that carries orders.

History, detail, the admin's lists, checkout and cancellation all answer what `schemas.OrderOut`
documents, built here from mappings (a row's `_mapping`, or what checkout inserted); tests/api/
test_orders_lifecycle.py holds the two together. Reads take three statements whatever the page size: the
orders, their lines, their payments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from shopwright.db import AnyRow, id_among, is_postgres, is_row_id, table_of
from shopwright.orders.errors import OrderNotFound
from shopwright.orders.models import Order, OrderItem
from shopwright.pagination import KeysetPage, keyset_page
from shopwright.payments.models import Payment
from shopwright.schemas import iso_utc

_ORDERS, _ITEMS, _PAYMENTS = table_of(Order), table_of(OrderItem), table_of(Payment)
ITEM_FIELDS = (
    "id",
    "product_id",
    "variant_id",
    "name",
    "variant_name",
    "sku",
    "unit_price_cents",
    "quantity",
    "line_total_cents",
)
PAYMENT_FIELDS = ("id", "status", "amount_cents", "refunded_cents", "currency", "provider", "created_at")
# A structured address shows the fields given at checkout, in this order.
ADDRESS_FIELDS = ("full_name", "line1", "line2", "city", "region", "postal_code", "country", "phone")
_TIMES = ("created_at", "updated_at", "paid_at", "shipped_at", "delivered_at", "cancelled_at", "refunded_at")
_TOTALS = ("subtotal_cents", "discount_cents", "shipping_cents", "tax_cents", "total_cents")

# Statements built once per dialect (True: PostgreSQL); rows are read by name.
_ORDER_COLUMNS = select(
    _ORDERS.c.id,
    _ORDERS.c.user_id,
    _ORDERS.c.status,
    _ORDERS.c.currency,
    _ORDERS.c.voucher_code,
    _ORDERS.c.shipping_address,
    *(_ORDERS.c[name] for name in _TOTALS),
    *(_ORDERS.c[name] for name in _TIMES),
)
_ORDER_BY_ID = _ORDER_COLUMNS.where(_ORDERS.c.id == bindparam("order_id"))
_LINES = {
    postgres: select(_ITEMS.c.order_id, *(_ITEMS.c[name] for name in ITEM_FIELDS))
    .where(id_among(_ITEMS.c.order_id, "ids", postgres))
    .order_by(_ITEMS.c.id)
    for postgres in (True, False)
}
_ORDER_PAYMENTS = {
    postgres: select(_PAYMENTS.c.order_id, *(_PAYMENTS.c[name] for name in PAYMENT_FIELDS))
    .where(id_among(_PAYMENTS.c.order_id, "ids", postgres))
    .order_by(_PAYMENTS.c.id)
    for postgres in (True, False)
}


def order_json(
    order: Mapping[Any, Any], items: Iterable[Mapping[Any, Any]], payments: Iterable[Mapping[Any, Any]]
) -> dict[str, Any]:
    """Return an order as the API sends it (OrderOut) from its columns, its lines and its payments."""
    address = order["shipping_address"]
    if isinstance(address, Mapping):
        address = {name: address[name] for name in ADDRESS_FIELDS if address.get(name) is not None}
    return {
        "id": order["id"],
        "user_id": order["user_id"],
        "status": order["status"],
        "items": [{name: item[name] for name in ITEM_FIELDS} for item in items],
        **{name: order[name] for name in _TOTALS},
        "currency": order["currency"],
        "voucher_code": order["voucher_code"],
        "shipping_address": address,
        **{name: _time(order[name]) for name in _TIMES},
        "payments": [
            {**{name: payment[name] for name in PAYMENT_FIELDS}, "created_at": iso_utc(payment["created_at"])}
            for payment in payments
        ],
    }


def get_order_json(session: Session, order_id: int, *, user_id: int | None) -> dict[str, Any]:
    """Return an order as the API sends it; a customer (`user_id`) only sees their own (404 otherwise)."""
    row = session.execute(_ORDER_BY_ID, {"order_id": order_id}).first() if is_row_id(order_id) else None
    if row is None or (user_id is not None and row.user_id != user_id):
        raise OrderNotFound(f"Order {order_id} not found")
    return orders_json(session, [row])[0]


def list_orders_json(
    session: Session, *, user_id: int | None, status: str | None, limit: int, cursor: str | None
) -> KeysetPage[dict[str, Any]]:
    """Return a page of orders as the API sends them, newest first (three statements)."""
    statement = _ORDER_COLUMNS
    if user_id is not None:
        statement = statement.where(_ORDERS.c.user_id == user_id)
    if status is not None:
        statement = statement.where(_ORDERS.c.status == status)
    page = keyset_page(session, statement, _ORDERS.c.id, limit=limit, cursor=cursor)
    return KeysetPage(orders_json(session, page.items), page.next_cursor)


def orders_json(session: Session, rows: Sequence[AnyRow]) -> list[dict[str, Any]]:
    """Return order rows (their columns as _ORDER_COLUMNS selects them) with lines and payments as JSON."""
    if not rows:
        return []
    params = {"ids": [row.id for row in rows]}
    postgres = is_postgres(session)
    lines: dict[int, list[Mapping[Any, Any]]] = {row.id: [] for row in rows}
    for line in session.execute(_LINES[postgres], params):
        lines[line.order_id].append(line._mapping)
    payments: dict[int, list[Mapping[Any, Any]]] = {row.id: [] for row in rows}
    for payment in session.execute(_ORDER_PAYMENTS[postgres], params):
        payments[payment.order_id].append(payment._mapping)
    return [order_json(row._mapping, lines[row.id], payments[row.id]) for row in rows]


def _time(value: Any) -> str | None:
    return iso_utc(value) if value is not None else None
