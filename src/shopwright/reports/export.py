"""The orders export for accounting: the window's paid orders and their lines as CSV, streamed.

An order is in the window when it was paid in it (by `paid_at`), whatever its status now: a cancelled or
refunded order shows with that status and its refunded amount, so the books reconcile (docs/backoffice.md).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from shopwright.orders.models import Order, OrderItem
from shopwright.reports.service import Window, refunded_per_order
from shopwright.schemas import iso_utc

COLUMNS = (
    "order_id",
    "status",
    "created_at",
    "paid_at",
    "customer_id",
    "currency",
    "subtotal_cents",
    "discount_cents",
    "shipping_cents",
    "tax_cents",
    "total_cents",
    "refunded_cents",
    "voucher_code",
    "shipping_country",
    "line_id",
    "product_id",
    "variant_id",
    "sku",
    "name",
    "variant_name",
    "quantity",
    "unit_price_cents",
    "unit_cost_cents",
    "line_total_cents",
)
BATCH = 1000
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such text cells
# get a leading apostrophe, which shows the text as written.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Return a CSV cell a spreadsheet shows as text: formulas defused, timestamps in UTC."""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def export_orders(sessions: sessionmaker[Session], window: Window) -> Iterator[str]:
    """Yield the export as CSV text, a header then one row per order line, oldest payment first.

    The rows are read in batches (keyset on paid_at, order, line), each in a short transaction of a
    session of its own: a long export holds no transaction open (nor SQLite's lock) while it streams.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    after: tuple[Any, ...] | None = None
    with sessions() as session:
        while True:
            statement = _EXPORT.where(*window.holds(Order.paid_at)).limit(BATCH)
            if after is not None:
                statement = statement.where(tuple_(Order.paid_at, Order.id, OrderItem.id) > tuple_(*after))
            rows = session.execute(statement).all()
            session.commit()
            if not rows:
                return
            buffer.seek(0)
            buffer.truncate()
            writer.writerows([safe_cell(cell) for cell in row] for row in rows)
            yield buffer.getvalue()
            last = rows[-1]
            after = (last[3], last[0], last[14])  # paid_at, order id, line id


_REFUNDED = refunded_per_order().subquery("refunded")
_EXPORT = (
    select(
        Order.id,
        Order.status,
        Order.created_at,
        Order.paid_at,
        Order.user_id,
        Order.currency,
        Order.subtotal_cents,
        Order.discount_cents,
        Order.shipping_cents,
        Order.tax_cents,
        Order.total_cents,
        func.coalesce(_REFUNDED.c.refunded_cents, 0),
        Order.voucher_code,
        Order.shipping_country,
        OrderItem.id,
        OrderItem.product_id,
        OrderItem.variant_id,
        OrderItem.sku,
        OrderItem.name,
        OrderItem.variant_name,
        OrderItem.quantity,
        OrderItem.unit_price_cents,
        OrderItem.unit_cost_cents,
        OrderItem.line_total_cents,
    )
    .join(OrderItem, OrderItem.order_id == Order.id)
    .outerjoin(_REFUNDED, _REFUNDED.c.order_id == Order.id)
    .where(Order.paid_at.is_not(None))
    .order_by(Order.paid_at, Order.id, OrderItem.id)
)
