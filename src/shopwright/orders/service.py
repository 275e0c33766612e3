"""Order reads (history, detail, admin lists) and the simple status moves: mark paid, ship, deliver."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from shopwright import outbox
from shopwright.db import is_row_id, utcnow
from shopwright.orders.errors import OrderNotFound
from shopwright.orders.models import Order
from shopwright.orders.status import DELIVERED, PAID, SHIPPED, check_transition
from shopwright.pagination import KeysetPage, keyset_page
from shopwright.payments import service as payments
from shopwright.payments.models import PaymentStatus

_STAMPS = {PAID: "paid_at", SHIPPED: "shipped_at", DELIVERED: "delivered_at"}


def get_order(session: Session, order_id: int, *, user_id: int | None) -> Order:
    """Return an order with its lines and payments, as stored now; a customer (`user_id`) only sees their
    own (404 otherwise)."""
    order = _find(session, order_id, user_id=user_id, lock=False)
    if order is None:
        raise OrderNotFound(f"Order {order_id} not found")
    return order


def list_orders(
    session: Session, *, user_id: int | None, status: str | None, limit: int, cursor: str | None
) -> KeysetPage[Order]:
    """Return a page of orders, newest first, with their lines (a constant number of queries)."""
    statement = select(Order).options(*_SHOWN)
    if user_id is not None:
        statement = statement.where(Order.user_id == user_id)
    if status is not None:
        statement = statement.where(Order.status == status)
    return keyset_page(session, statement, Order.id, limit=limit, cursor=cursor)


def advance_status(session: Session, order_id: int, target: str) -> Order:
    """Move an order to paid (settled outside the shop), shipped or delivered, as the machine allows."""
    with session.begin():
        order = lock_order(session, order_id, user_id=None)
        check_transition(order.status, target)
        order.status = target
        setattr(order, _STAMPS[target], utcnow())
        outbox.publish(session, f"order.{target}", {"order_id": order.id}, user_id=order.user_id)
    return order


def lock_order(session: Session, order_id: int, *, user_id: int | None) -> Order:
    """Lock an order row (and load its lines); runs inside the caller's transaction."""
    order = _find(session, order_id, user_id=user_id, lock=True)
    if order is None:
        raise OrderNotFound(f"Order {order_id} not found")
    return order


def has_live_payment(session: Session, order_id: int) -> bool:
    """Tell whether a payment for the order is processing or succeeded."""
    attempts = payments.payments_for_orders(session, [order_id]).get(order_id, [])
    live = (PaymentStatus.PROCESSING, PaymentStatus.SUCCEEDED)
    return any(payment.status in live for payment in attempts)


# What an order's answer shows besides its row (OrderOut): two more queries, whatever the page size.
_SHOWN = (selectinload(Order.items), selectinload(Order.payments))


def _find(session: Session, order_id: int, *, user_id: int | None, lock: bool) -> Order | None:
    if not is_row_id(order_id):
        return None
    statement = select(Order).where(Order.id == order_id)
    if user_id is not None:
        statement = statement.where(Order.user_id == user_id)
    if lock:
        statement = statement.options(selectinload(Order.items)).with_for_update(of=Order)
    else:
        statement = statement.options(*_SHOWN)
    # Fresh: a use case of this request may have changed the order (or its payments) since it was loaded.
    return session.scalars(statement.execution_options(populate_existing=True)).one_or_none()
