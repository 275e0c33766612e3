"""Cancellation, refunds and the unpaid-order sweep.

Stock comes back exactly once: the order row is locked and its status moves by the status machine, so a
cancel racing an admin's "shipped" (or a second cancel) finds the order already moved and changes nothing.
The gateway is asked for a refund only after the transaction that reserved the refund amount has committed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session, selectinload

from shopwright import idempotency, metrics, outbox
from shopwright.db import utcnow
from shopwright.idempotency import KeyedRequest, StoredResponse
from shopwright.inventory import service as inventory
from shopwright.inventory.models import CANCEL_RESTOCK
from shopwright.observability import get_logger
from shopwright.orders import rollup
from shopwright.orders.display import get_order_json
from shopwright.orders.errors import NothingToRefund
from shopwright.orders.events import ORDER_CANCELLED, ORDER_REFUNDED
from shopwright.orders.models import Order
from shopwright.orders.service import lock_order
from shopwright.orders.status import CANCELLED, DELIVERED, PAID, PENDING, REFUNDED, SHIPPED, check_transition
from shopwright.payments import service as payments
from shopwright.payments.errors import PaymentProviderError
from shopwright.payments.gateway import PaymentGateway
from shopwright.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from shopwright.promotions import service as promotions

log = get_logger(__name__)


def cancel_order(
    session: Session,
    gateway: PaymentGateway,
    order_id: int,
    *,
    user_id: int | None,
    actor_id: int | None = None,
) -> Order:
    """Cancel a pending or paid order: stock and voucher use come back, a paid order is refunded.

    `user_id` limits it to that customer's orders (None: any order); `actor_id` is who cancels (the
    customer when not given).
    """
    with session.begin():
        order = lock_order(session, order_id, user_id=user_id)
        refund = _cancel_locked(session, order, actor_id if actor_id is not None else user_id)
    if refund is not None:
        settle_refund(session, gateway, refund.id)
    return order


def refund_order(
    session: Session,
    gateway: PaymentGateway,
    order_id: int,
    *,
    amount_cents: int | None,
    reason: str,
    keyed: KeyedRequest | None = None,
) -> StoredResponse:
    """Refund a paid, shipped or delivered order in full or in part; fully refunded orders become refunded.

    Answers 200 with the order, or 202 when the provider did not answer: the refund stays `pending`, its
    amount reserved, and is sent again by the reconciliation sweep (settle_refund). Either answer is kept
    under the Idempotency-Key: a retry must not reserve a second refund.
    """
    with session.begin():
        if keyed is not None and (stored := idempotency.claim(session, keyed)) is not None:
            return stored
        order = lock_order(session, order_id, user_id=None)
        check_transition(order.status, REFUNDED)
        payment = payments.succeeded_payment(session, order.id)
        refundable = payment.amount_cents - payment.refunded_cents if payment is not None else 0
        if payment is None or refundable <= 0:
            raise NothingToRefund(f"Order {order.id} has no captured payment left to refund")
        refund = payments.start_refund(session, payment.id, amount_cents or refundable, reason)
        rollup.sync_order(session, order.id)  # a reserved refund counts at once
    refund = settle_refund(session, gateway, refund.id)
    if refund.status == RefundStatus.FAILED:  # nothing was refunded: a retry with the key may try again
        if keyed is not None:
            with session.begin():
                idempotency.forget(session, keyed)
        raise PaymentProviderError(f"The payment provider refused the refund: {refund.failure_message}")
    with session.begin():
        status = 202 if refund.status == RefundStatus.PENDING else 200
        response = StoredResponse(status, get_order_json(session, order_id, user_id=None))
        if keyed is not None:
            idempotency.complete(session, keyed, response.status, response.body)
    return response


def settle_refund(session: Session, gateway: PaymentGateway, refund_id: int) -> Refund:
    """Ask the gateway for a reserved refund (outside any transaction) and record the answer.

    Without an answer the refund stays `pending`, its amount reserved: the provider may have made it, so
    giving the amount back could refund twice. The reconciliation sweep sends it again with its key.
    """
    with session.begin():
        refund, payment = _refund_and_payment(session, refund_id)
    try:
        result = payments.send_refund(gateway, payment, refund)
    except PaymentProviderError:
        log.warning("refund.unanswered", refund_id=refund.id, order_id=payment.order_id)
        return refund
    with session.begin():
        # Under the refund's row lock: only the call that settles it tells of it (a retry finds it settled).
        settling = session.scalar(select(Refund.status).where(Refund.id == refund.id).with_for_update())
        refund = payments.finish_refund(session, refund.id, result)
        payment = session.get(Payment, payment.id, populate_existing=True) or payment
        if settling == RefundStatus.PENDING and refund.status == RefundStatus.SUCCEEDED:
            _record_refund(session, payment, refund)
        if settling == RefundStatus.PENDING:  # given back if refused, or the order now refunded
            rollup.sync_order(session, payment.order_id)
    if settling == RefundStatus.PENDING:
        metrics.REFUNDS.labels(outcome=refund.status).inc()
    if refund.status == RefundStatus.FAILED:
        log.warning(
            "refund.failed", refund_id=refund.id, order_id=payment.order_id, reason=refund.failure_message
        )
    return refund


def cancel_unpaid_orders(
    session: Session,
    gateway: PaymentGateway,
    *,
    timeout: timedelta,
    now: datetime | None = None,
    batch_size: int = 200,
) -> int:
    """Cancel pending orders older than `timeout` with no payment under way; return how many."""
    cutoff = (now or utcnow()) - timeout
    cancelled = 0
    while True:
        with session.begin():
            # SKIP LOCKED: an order a customer is paying or changing right now is left alone this round.
            orders = session.scalars(
                select(Order)
                .where(Order.status == PENDING, Order.created_at <= cutoff, ~_payment_under_way())
                .options(selectinload(Order.items))
                .order_by(Order.id)
                .limit(batch_size)
                .with_for_update(skip_locked=True, of=Order)
            ).all()
            for order in orders:
                _cancel_locked(session, order, None)  # nobody: the payment timeout
        cancelled += len(orders)
        if len(orders) < batch_size:
            return cancelled


def _cancel_locked(session: Session, order: Order, actor_id: int | None) -> Refund | None:
    check_transition(order.status, CANCELLED)
    was_paid = order.status == PAID
    # Voucher row before stock rows, the lock order checkout uses too (no deadlock between the two).
    promotions.release_redemption(session, order.id)
    units = {item.variant_id: item.quantity for item in order.items}
    inventory.restock(session, units, reason=CANCEL_RESTOCK, order_id=order.id, actor_id=actor_id)
    order.status = CANCELLED
    order.cancelled_at = utcnow()
    outbox.publish(session, ORDER_CANCELLED, {"order_id": order.id}, user_id=order.user_id)
    payment = payments.succeeded_payment(session, order.id) if was_paid else None
    refund = None
    if payment is not None and payment.refunded_cents < payment.amount_cents:
        refund = payments.start_refund(
            session, payment.id, payment.amount_cents - payment.refunded_cents, "order cancelled"
        )
    rollup.sync_order(session, order.id)
    return refund


def _record_refund(session: Session, payment: Payment, refund: Refund) -> None:
    # Every refund the provider made is told (the customer's email states its amount); a full refund of
    # a paid, shipped or delivered order also moves it to refunded (a cancelled order stays cancelled).
    order = lock_order(session, payment.order_id, user_id=None)
    if payment.refunded_cents >= payment.amount_cents and order.status in (PAID, SHIPPED, DELIVERED):
        order.status = REFUNDED
        order.refunded_at = utcnow()
    payload = {"order_id": order.id, "refund_id": refund.id, "amount_cents": refund.amount_cents}
    outbox.publish(session, ORDER_REFUNDED, payload, user_id=order.user_id)


def _refund_and_payment(session: Session, refund_id: int) -> tuple[Refund, Payment]:
    refund = session.get(Refund, refund_id)
    payment = session.get(Payment, refund.payment_id) if refund is not None else None
    assert refund is not None  # created by start_refund in an earlier transaction
    assert payment is not None
    return refund, payment


def _payment_under_way() -> ColumnElement[bool]:
    return exists().where(Payment.order_id == Order.id, Payment.status == PaymentStatus.PROCESSING)
