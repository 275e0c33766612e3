"""Paying an order: a payment attempt is recorded, the gateway is charged outside any transaction, and the
answer (the client's own call or the provider's webhook, whichever comes first) settles it exactly once.

1. Lock the order, check it is payable, insert a `processing` payment (one per order: a partial unique
   index), commit. 2. Charge the gateway with the payment id as idempotency key. 3. Lock the order again
   and settle: `processing → succeeded|failed` is a conditional UPDATE, so only one settler marks the
   order paid. If the order was cancelled meanwhile, the charge is refunded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from shopwright import idempotency, metrics, outbox
from shopwright.db import after_commit, utcnow
from shopwright.errors import problem_for
from shopwright.idempotency import KeyedRequest, StoredResponse
from shopwright.observability import get_logger
from shopwright.orders import rollup
from shopwright.orders.cancellation import settle_refund
from shopwright.orders.errors import NothingToPay
from shopwright.orders.events import ORDER_PAID
from shopwright.orders.models import Order
from shopwright.orders.service import lock_order
from shopwright.orders.status import PAID, PENDING, check_transition
from shopwright.payments import service as payments
from shopwright.payments.errors import CardDeclined, PaymentProviderError
from shopwright.payments.gateway import ChargeResult, GatewayEvent, PaymentGateway
from shopwright.payments.models import Payment, PaymentStatus, Refund
from shopwright.payments.schemas import PaymentOut

log = get_logger(__name__)
# A payment still `processing` this long after it started lost its answer and its webhook: ask the provider.
RECONCILE_AFTER = timedelta(minutes=10)
# A provider that still knows no charge this long after the attempt never received it (Stripe's search
# lags by a minute at most): the attempt failed, and the order can be paid again or expire.
NOT_CHARGED_AFTER = timedelta(hours=1)
NOT_CHARGED = ChargeResult(False, None, "not_charged", "The payment provider never received this charge")
# A refund left `pending` (the process stopped between reserving it and recording the answer) is sent
# again with its idempotency key, which the provider deduplicates for 24 hours (Stripe); older ones are
# left for a person (logged), since a resend could then refund twice.
RESEND_REFUNDS_WITHIN = timedelta(hours=23)


def pay_order(
    session: Session,
    gateway: PaymentGateway,
    user_id: int,
    order_id: int,
    payment_method: str,
    *,
    keyed: KeyedRequest | None = None,
) -> StoredResponse:
    """Charge a pending order; 200 with the payment, or 402 card_declined with the order still pending."""
    with session.begin():
        if keyed is not None and (stored := idempotency.claim(session, keyed)) is not None:
            return stored
        order = lock_order(session, order_id, user_id=user_id)
        check_transition(order.status, PAID)
        if order.total_cents == 0:  # paid when it reached 0 (checkout, an edit): only older rows get here
            raise NothingToPay(f"Order {order.id} totals 0: there is nothing to charge")
        payment = payments.start_payment(
            session,
            order_id=order.id,
            user_id=user_id,
            amount_cents=order.total_cents,
            currency=order.currency,
            provider=gateway.name,
        )
    try:
        result = payments.charge(gateway, payment, payment_method)
    except PaymentProviderError as error:
        # The outcome is unknown (the charge may have gone through): the payment stays `processing`
        # for the provider's webhook to settle, and the key is released so nothing stale is replayed.
        if keyed is not None:
            with session.begin():
                idempotency.forget(session, keyed)
        raise PaymentProviderError(
            f"{error} The payment's outcome is not known yet; the provider will confirm it.",
            payment_id=payment.id,
        ) from error
    return _settle(session, gateway, payment.id, result, keyed=keyed)


def handle_gateway_event(session: Session, gateway: PaymentGateway, event: GatewayEvent) -> None:
    """Apply a verified provider webhook once: a payment's success or failure settles it if still open."""
    if event.type not in ("payment.succeeded", "payment.failed") or event.payment_id is None:
        with session.begin():
            payments.record_webhook_event(session, gateway.name, event)
        return
    result = ChargeResult(
        succeeded=event.type == "payment.succeeded",
        provider_ref=event.provider_ref,
        failure_code=None if event.type == "payment.succeeded" else "declined_by_provider",
        failure_message=None,
    )
    _settle(session, gateway, event.payment_id, result, event=event)


@dataclass(frozen=True)
class Reconciled:
    checked: int  # stuck payments the provider was asked about
    settled: int  # of which the provider's answer settled (or a webhook had, meanwhile)
    refunds: int = 0  # pending refunds sent again


def reconcile_payments(
    session: Session, gateway: PaymentGateway, *, now: datetime | None = None, limit: int = 100
) -> Reconciled:
    """Settle payments left `processing` (a lost answer and no webhook) with what the provider knows."""
    now = now or utcnow()
    with session.begin():
        stuck = payments.stuck_payments(
            session, gateway.name, created_before=now - RECONCILE_AFTER, limit=limit
        )
    settled = 0
    for payment in stuck:  # the provider is asked with no transaction open
        try:
            result = payments.find_charge(gateway, payment)
        except PaymentProviderError:
            log.warning("payment.reconcile_unavailable", payment_id=payment.id)
            continue
        if result is None and payment.created_at > now - NOT_CHARGED_AFTER:
            continue  # not known yet: ask again on the next sweep
        # Settled as the client's own call or a webhook would be: at most once, and a charge on an order
        # cancelled meanwhile is refunded.
        _settle(session, gateway, payment.id, result or NOT_CHARGED)
        settled += 1
    return Reconciled(len(stuck), settled, _resend_refunds(session, gateway, now, limit))


def _resend_refunds(session: Session, gateway: PaymentGateway, now: datetime, limit: int) -> int:
    oldest = now - RESEND_REFUNDS_WITHIN  # older: past the provider's idempotency window, left for a person
    with session.begin():
        pending = payments.stuck_refunds(
            session, gateway.name, created_after=oldest, created_before=now - RECONCILE_AFTER, limit=limit
        )
        abandoned = payments.stuck_refunds(
            session, gateway.name, created_after=None, created_before=oldest, limit=limit
        )
    if abandoned:
        log.error("refunds.need_review", refund_ids=abandoned)
    for refund_id in pending:
        settle_refund(session, gateway, refund_id)  # with its key: a refund already made is not made twice
    return len(pending)


def _settle(
    session: Session,
    gateway: PaymentGateway,
    payment_id: int,
    result: ChargeResult,
    *,
    keyed: KeyedRequest | None = None,
    event: GatewayEvent | None = None,
) -> StoredResponse:
    refund: Refund | None = None
    with session.begin():
        payment = payments.find_payment(session, payment_id)
        if payment is None or (
            event is not None and not payments.record_webhook_event(session, gateway.name, event)
        ):
            return StoredResponse(200, {})  # unknown payment, or an event already handled
        if event is not None and not _matches(event, payment):
            log.warning("payment.webhook_mismatch", payment_id=payment.id, event_id=event.id)
            return StoredResponse(200, {})  # recorded, but it does not describe this payment: ignored
        order = lock_order(session, payment.order_id, user_id=None)
        settled = payments.record_charge(session, payment.id, result)
        payment = settled or payment
        if settled is not None:  # counted once, by the call that settled it, once that commits
            outcome = settled.status
            after_commit(session, lambda: metrics.PAYMENTS.labels(outcome=outcome).inc())
        if settled is not None and settled.status == PaymentStatus.SUCCEEDED:
            refund = _mark_paid_or_refund(session, order, settled)
        response = _response(payment)
        if keyed is not None:
            idempotency.complete(session, keyed, response.status, response.body)
    if refund is not None:
        settle_refund(session, gateway, refund.id)
    return response


def _matches(event: GatewayEvent, payment: Payment) -> bool:
    """Tell whether an event states the payment's amount and currency.

    An event that omits either cannot be checked against the payment, so it settles nothing.
    """
    return event.amount_cents == payment.amount_cents and event.currency == payment.currency


def _mark_paid_or_refund(session: Session, order: Order, payment: Payment) -> Refund | None:
    if order.status != PENDING:  # cancelled (e.g. by the unpaid-order sweep) while the charge was under way
        return payments.start_refund(session, payment.id, payment.amount_cents, "order no longer payable")
    mark_paid(session, order, payment_id=payment.id)
    return None


def mark_paid(session: Session, order: Order, *, payment_id: int | None) -> None:
    """Move a locked pending order to paid and publish `order.paid`; runs inside the caller's transaction.

    `payment_id` None: nothing was charged, the order's total is 0 (see orders/checkout.py).
    """
    order.status = PAID
    order.paid_at = utcnow()
    publish_paid(session, order.id, order.user_id, payment_id=payment_id)


def publish_paid(session: Session, order_id: int, user_id: int, *, payment_id: int | None) -> None:
    """Record that an order became paid: its `order.paid` event, and its sales in the reports' rollup.
    Runs inside the caller's transaction, once the order row says paid."""
    outbox.publish(session, ORDER_PAID, {"order_id": order_id, "payment_id": payment_id}, user_id=user_id)
    rollup.sync_order(session, order_id)


def _response(payment: Payment) -> StoredResponse:
    if payment.status == PaymentStatus.FAILED:
        error = CardDeclined(
            payment.failure_message or "The card was declined",
            decline_code=payment.failure_code,
            payment_id=payment.id,
        )
        return StoredResponse(error.status, problem_for(error))
    return StoredResponse(200, PaymentOut.render(payment))
