"""Orders as the use cases change them (locked, with their lines) and the simple status moves: mark paid,
ship, deliver. What customers and admins read is orders/display.py."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from shopwright import outbox
from shopwright.db import is_row_id, utcnow
from shopwright.orders import rollup
from shopwright.orders.errors import OrderNotFound
from shopwright.orders.events import ORDER_DELIVERED, ORDER_PAID, ORDER_SHIPPED
from shopwright.orders.models import Order
from shopwright.orders.status import DELIVERED, PAID, SHIPPED, check_transition
from shopwright.payments import service as payments
from shopwright.payments.models import PaymentStatus

_STAMPS = {PAID: "paid_at", SHIPPED: "shipped_at", DELIVERED: "delivered_at"}
_EVENTS = {PAID: ORDER_PAID, SHIPPED: ORDER_SHIPPED, DELIVERED: ORDER_DELIVERED}


def advance_status(session: Session, order_id: int, target: str) -> Order:
    """Move an order to paid (settled outside the shop), shipped or delivered, as the machine allows."""
    with session.begin():
        order = lock_order(session, order_id, user_id=None)
        check_transition(order.status, target)
        order.status = target
        setattr(order, _STAMPS[target], utcnow())
        outbox.publish(session, _EVENTS[target], {"order_id": order.id}, user_id=order.user_id)
        rollup.sync_order(session, order.id)
    return order


def lock_order(session: Session, order_id: int, *, user_id: int | None) -> Order:
    """Lock an order row (and load its lines); a customer (`user_id`) only finds their own. Runs inside the
    caller's transaction."""
    statement = select(Order).where(Order.id == order_id)
    if user_id is not None:
        statement = statement.where(Order.user_id == user_id)
    statement = statement.options(selectinload(Order.items)).with_for_update(of=Order)
    # Fresh: a use case of this request may have changed the order since it was loaded.
    order = (
        session.scalars(statement.execution_options(populate_existing=True)).one_or_none()
        if is_row_id(order_id)
        else None
    )
    if order is None:
        raise OrderNotFound(f"Order {order_id} not found")
    return order


def has_live_payment(session: Session, order_id: int) -> bool:
    """Tell whether a payment for the order is processing or succeeded."""
    attempts = payments.payments_for_orders(session, [order_id]).get(order_id, [])
    live = (PaymentStatus.PROCESSING, PaymentStatus.SUCCEEDED)
    return any(payment.status in live for payment in attempts)
