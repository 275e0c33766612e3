"""Order reads (history, detail, admin lists) and the simple status moves: mark paid, ship, deliver."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from shopwright import outbox
from shopwright.db import MAX_ID, utcnow
from shopwright.orders.errors import OrderNotFound
from shopwright.orders.models import Order
from shopwright.orders.status import DELIVERED, PAID, SHIPPED, check_transition
from shopwright.pagination import decode_id_cursor, encode_cursor
from shopwright.payments import service as payments
from shopwright.payments.models import Payment

_STAMPS = {PAID: "paid_at", SHIPPED: "shipped_at", DELIVERED: "delivered_at"}


def get_order(session: Session, order_id: int, *, user_id: int | None) -> Order:
    """Return an order with its lines; a customer (`user_id`) only sees their own (404 otherwise)."""
    order = _find(session, order_id, user_id=user_id, lock=False)
    if order is None:
        raise OrderNotFound(f"Order {order_id} not found")
    return order


def list_orders(
    session: Session, *, user_id: int | None, status: str | None, limit: int, cursor: str | None
) -> tuple[list[Order], str | None]:
    """Return a page of orders, newest first, with their lines (a constant number of queries)."""
    statement = select(Order).options(selectinload(Order.items)).order_by(Order.id.desc()).limit(limit + 1)
    if user_id is not None:
        statement = statement.where(Order.user_id == user_id)
    if status is not None:
        statement = statement.where(Order.status == status)
    if cursor:
        statement = statement.where(Order.id < decode_id_cursor(cursor))
    orders = list(session.scalars(statement))
    next_cursor = encode_cursor({"id": orders[limit - 1].id}) if len(orders) > limit else None
    return orders[:limit], next_cursor


def payments_of(session: Session, orders: list[Order]) -> dict[int, list[Payment]]:
    """Return each order's payment attempts (one query)."""
    return payments.payments_for_orders(session, [order.id for order in orders])


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
    return any(payment.status in ("processing", "succeeded") for payment in attempts)


def _find(session: Session, order_id: int, *, user_id: int | None, lock: bool) -> Order | None:
    if not 0 < order_id <= MAX_ID:
        return None
    statement = select(Order).where(Order.id == order_id).options(selectinload(Order.items))
    if user_id is not None:
        statement = statement.where(Order.user_id == user_id)
    if lock:
        statement = statement.with_for_update(of=Order).execution_options(populate_existing=True)
    return session.scalars(statement).one_or_none()
