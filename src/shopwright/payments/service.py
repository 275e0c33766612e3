"""Payment primitives for the orders domain: attempts, their outcome, refunds, webhook deduplication.

Every function here runs inside the caller's transaction (none opens one) and none calls a gateway
inside a transaction: `charge` and `send_refund` talk to the provider and are called with no transaction
open, between `start_payment`/`record_charge` and `start_refund`/`finish_refund`.

Races are settled by the database, never by a read followed by a write:
- one live payment per order: the partial unique index `uq_payments_one_per_order`;
- a payment settles once: `UPDATE … WHERE status = 'processing'` (a webhook and the client's own call race);
- refunds never exceed the payment: one conditional UPDATE reserves `refunded_cents` before the provider
  is asked, and a failed refund gives its reservation back once (`UPDATE … WHERE status = 'pending'`);
- a webhook is handled once: the unique (provider, event id) row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shopwright.db import get_by_id, utcnow, violated_constraint
from shopwright.errors import InvalidRequest
from shopwright.payments.errors import PaymentInProgress, PaymentNotFound, RefundExceedsPayment
from shopwright.payments.gateway import ChargeResult, GatewayEvent, PaymentGateway, RefundResult
from shopwright.payments.models import Payment, PaymentStatus, Refund, RefundStatus, WebhookEvent

ONE_PER_ORDER = "uq_payments_one_per_order"
WEBHOOK_EVENT_UNIQUE = "uq_payment_webhook_events_provider_event"


# --- payment attempts ---------------------------------------------------------------------------
def start_payment(
    session: Session, *, order_id: int, user_id: int, amount_cents: int, currency: str, provider: str
) -> Payment:
    """Record a `processing` attempt, or raise PaymentInProgress; runs inside the caller's transaction."""
    payment = Payment(
        order_id=order_id,
        user_id=user_id,
        provider=provider,
        status=PaymentStatus.PROCESSING,
        amount_cents=amount_cents,
        currency=currency,
    )
    try:
        # A SAVEPOINT: the unique index refuses a second live attempt (a racing one waits for the first to
        # commit, then fails) without spoiling the caller's transaction.
        with session.begin_nested():
            session.add(payment)
    except IntegrityError as error:
        if violated_constraint(error) == ONE_PER_ORDER:
            raise PaymentInProgress(
                f"Order {order_id} already has a payment that is processing or succeeded"
            ) from error
        raise
    return payment


def charge(gateway: PaymentGateway, payment: Payment, payment_method: str) -> ChargeResult:
    """Ask the gateway to charge a started payment; call it with no transaction open."""
    return gateway.charge(
        payment_id=payment.id,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        payment_method=payment_method,
        idempotency_key=_idempotency_key("payment", payment.id, payment),
    )


def find_charge(gateway: PaymentGateway, payment: Payment) -> ChargeResult | None:
    """Ask the gateway how a payment's charge ended (see PaymentGateway.find_charge); no transaction open."""
    return gateway.find_charge(
        payment_id=payment.id, idempotency_key=_idempotency_key("payment", payment.id, payment)
    )


def stuck_payments(session: Session, provider: str, *, created_before: datetime, limit: int) -> list[Payment]:
    """Return `processing` payments of a provider started before a time, oldest first."""
    statement = (
        select(Payment)
        .where(
            Payment.status == PaymentStatus.PROCESSING,
            Payment.provider == provider,
            Payment.created_at < created_before,
        )
        .order_by(Payment.created_at, Payment.id)
        .limit(limit)
    )
    return list(session.scalars(statement))


def stuck_refunds(
    session: Session, provider: str, *, created_after: datetime | None, created_before: datetime, limit: int
) -> list[int]:
    """Return the ids of a provider's `pending` refunds started in a time range, oldest first."""
    statement = (
        select(Refund.id)
        .join(Payment, Payment.id == Refund.payment_id)
        .where(
            Refund.status == RefundStatus.PENDING,
            Payment.provider == provider,
            Refund.created_at < created_before,
        )
        .order_by(Refund.created_at, Refund.id)
        .limit(limit)
    )
    if created_after is not None:
        statement = statement.where(Refund.created_at > created_after)
    return list(session.scalars(statement))


def record_charge(session: Session, payment_id: int, result: ChargeResult) -> Payment | None:
    """Settle a `processing` payment; return it if this call settled it, None if it was already settled."""
    # Conditional: of the client's own call and the provider's webhook, exactly one settles the payment.
    return session.scalars(
        update(Payment)
        .where(Payment.id == payment_id, Payment.status == PaymentStatus.PROCESSING)
        .values(
            status=PaymentStatus.SUCCEEDED if result.succeeded else PaymentStatus.FAILED,
            provider_ref=result.provider_ref,
            failure_code=None if result.succeeded else _clip(result.failure_code, 64),
            failure_message=None if result.succeeded else _clip(result.failure_message, 500),
            updated_at=utcnow(),
        )
        .returning(Payment)
        .execution_options(populate_existing=True)
    ).one_or_none()


# --- reads --------------------------------------------------------------------------------------
def find_payment(session: Session, payment_id: int) -> Payment | None:
    """Return a payment by id, or None."""
    return get_by_id(session, Payment, payment_id)


def get_payment(session: Session, payment_id: int, *, user_id: int | None) -> Payment:
    """Return a payment of `user_id` (any payment when None, for admins), else raise PaymentNotFound."""
    payment = find_payment(session, payment_id)
    # Another customer's payment is "not found" too: its existence must not leak.
    if payment is None or (user_id is not None and payment.user_id != user_id):
        raise PaymentNotFound(f"No payment {payment_id}")
    return payment


def find_payment_by_provider_ref(session: Session, provider: str, provider_ref: str) -> Payment | None:
    """Return the payment a provider knows by `provider_ref` (webhooks without our payment id), or None."""
    return session.scalars(
        select(Payment).where(Payment.provider == provider, Payment.provider_ref == provider_ref)
    ).one_or_none()


def payments_for_orders(session: Session, order_ids: Iterable[int]) -> dict[int, list[Payment]]:
    """Return every order's payments, oldest first, in one query; orders without any map to []."""
    ids = sorted(set(order_ids))
    found: dict[int, list[Payment]] = {order_id: [] for order_id in ids}
    if ids:
        for payment in session.scalars(
            select(Payment).where(Payment.order_id.in_(ids)).order_by(Payment.order_id, Payment.id)
        ):
            found[payment.order_id].append(payment)
    return found


def succeeded_payment(session: Session, order_id: int) -> Payment | None:
    """Return the order's succeeded payment (there is at most one), or None."""
    return session.scalars(
        select(Payment).where(Payment.order_id == order_id, Payment.status == PaymentStatus.SUCCEEDED)
    ).one_or_none()


# --- webhooks -----------------------------------------------------------------------------------
def record_webhook_event(session: Session, provider: str, event: GatewayEvent) -> bool:
    """Mark a provider event handled; False if it already was. Runs inside the caller's transaction."""
    try:
        # A racing duplicate waits on the unique index until the first commits, then fails here.
        with session.begin_nested():
            session.add(WebhookEvent(provider=provider, event_id=event.id, type=event.type))
    except IntegrityError as error:
        if violated_constraint(error) == WEBHOOK_EVENT_UNIQUE:
            return False
        raise
    return True


# --- refunds ------------------------------------------------------------------------------------
def start_refund(session: Session, payment_id: int, amount_cents: int, reason: str | None = None) -> Refund:
    """Reserve `amount_cents` of a succeeded payment and record a `pending` refund; caller's transaction."""
    if amount_cents < 1:
        raise InvalidRequest(
            "A refund is at least 1 minor unit",
            errors=[{"field": "amount_cents", "message": "must be >= 1"}],
        )
    # One conditional UPDATE: its row lock serialises racing refunds, and its WHERE re-checks the rule
    # against every refund reserved before it.
    reserved = session.scalars(
        update(Payment)
        .where(
            Payment.id == payment_id,
            Payment.status == PaymentStatus.SUCCEEDED,
            # Not refunded + amount <= paid: near 2**63 that sum overflows BIGINT (a 500).
            Payment.amount_cents - Payment.refunded_cents >= amount_cents,
        )
        .values(refunded_cents=Payment.refunded_cents + amount_cents, updated_at=utcnow())
        .returning(Payment)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if reserved is None:
        raise _refund_refused(session, payment_id, amount_cents)
    refund = Refund(
        payment_id=payment_id,
        amount_cents=amount_cents,
        status=RefundStatus.PENDING,
        reason=(reason or "")[:200],
    )
    session.add(refund)
    session.flush()
    return refund


def send_refund(gateway: PaymentGateway, payment: Payment, refund: Refund) -> RefundResult:
    """Ask the gateway to carry out a started refund; call it with no transaction open."""
    if payment.provider_ref is None:
        return RefundResult(False, None, "The payment has no provider reference to refund")
    return gateway.refund(
        provider_ref=payment.provider_ref,
        amount_cents=refund.amount_cents,
        idempotency_key=_idempotency_key("refund", refund.id, refund),
    )


def finish_refund(session: Session, refund_id: int, result: RefundResult) -> Refund:
    """Settle a pending refund; a failed one gives its reserved amount back (once). Caller's transaction."""
    refund = session.scalars(
        update(Refund)
        .where(Refund.id == refund_id, Refund.status == RefundStatus.PENDING)
        .values(
            status=RefundStatus.SUCCEEDED if result.succeeded else RefundStatus.FAILED,
            provider_ref=result.provider_ref,
            failure_message=None if result.succeeded else _clip(result.failure_message, 500),
            updated_at=utcnow(),
        )
        .returning(Refund)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if refund is None:  # settled before (a retry or a webhook): nothing to give back again
        settled = get_by_id(session, Refund, refund_id, populate_existing=True)
        if settled is None:
            raise LookupError(f"No refund {refund_id}")
        return settled
    if not result.succeeded:
        session.execute(
            update(Payment)
            .where(Payment.id == refund.payment_id)
            .values(refunded_cents=Payment.refunded_cents - refund.amount_cents, updated_at=utcnow())
            .returning(Payment)
            .execution_options(populate_existing=True)  # a Payment the caller holds shows the new sum
        )
    return refund


# --- helpers ------------------------------------------------------------------------------------
def _refund_refused(session: Session, payment_id: int, amount_cents: int) -> Exception:
    payment = get_by_id(session, Payment, payment_id, populate_existing=True)
    if payment is None:
        return PaymentNotFound(f"No payment {payment_id}")
    refundable = (
        payment.amount_cents - payment.refunded_cents if payment.status == PaymentStatus.SUCCEEDED else 0
    )
    return RefundExceedsPayment(
        f"Cannot refund {amount_cents}: {refundable} of payment {payment_id} can still be refunded",
        refundable_cents=refundable,
    )


def _idempotency_key(kind: str, row_id: int, row: Payment | Refund) -> str:
    # The creation time keeps keys unique when a development database is reset and ids start over
    # (a provider remembers keys for a day and would replay the old answer).
    return f"shopwright-{kind}-{row_id}-{row.created_at:%Y%m%d%H%M%S%f}"


def _clip(text: str | None, length: int) -> str | None:
    return text[:length] if text else text
