"""Payment primitives on PostgreSQL: one live payment per order, settling once, refunds within the amount."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from shopwright.errors import InvalidRequest
from shopwright.payments import service as payments
from shopwright.payments.errors import PaymentInProgress, PaymentNotFound, RefundExceedsPayment
from shopwright.payments.gateway import ChargeResult, GatewayEvent, RefundResult, TestGateway
from shopwright.payments.models import Payment, Refund, WebhookEvent
from tests.support.payments import add_order, add_user

_serial = itertools.count(1)  # unique provider references


def start(session: Session, order_id: int, user_id: int, amount_cents: int = 100) -> Payment:
    return payments.start_payment(
        session,
        order_id=order_id,
        user_id=user_id,
        amount_cents=amount_cents,
        currency="USD",
        provider="test",
    )


def paid(session: Session, amount_cents: int = 100) -> Payment:
    """A succeeded payment of `amount_cents` for a new order."""
    user_id = add_user(session)
    payment = start(session, add_order(session, user_id, amount_cents), user_id, amount_cents)
    settled = payments.record_charge(session, payment.id, ChargeResult(True, f"test_ch_{next(_serial)}"))
    assert settled is not None
    return settled


def stored_refunded_cents(session: Session, payment_id: int) -> int:
    return session.scalars(select(Payment.refunded_cents).where(Payment.id == payment_id)).one()


def count(session: Session, model: Any, *where: Any) -> int:
    return session.scalars(select(func.count()).select_from(model).where(*where)).one()


@pytest.fixture
def session(db_session: Session) -> Iterator[Session]:
    with db_session.begin():  # like a use case's transaction; rolled back with the outer one
        yield db_session


@pytest.fixture
def user_id(session: Session) -> int:
    return add_user(session)


@pytest.fixture
def order_id(session: Session, user_id: int) -> int:
    return add_order(session, user_id)


# --- start_payment ------------------------------------------------------------------------------
def test_a_payment_starts_processing(session: Session, order_id: int, user_id: int) -> None:
    payment = start(session, order_id, user_id)

    assert payment.id is not None
    assert (payment.status, payment.amount_cents, payment.refunded_cents) == ("processing", 100, 0)
    assert (payment.order_id, payment.user_id, payment.provider, payment.currency) == (
        order_id,
        user_id,
        "test",
        "USD",
    )


def test_a_second_attempt_while_one_is_processing_is_refused(
    session: Session, order_id: int, user_id: int
) -> None:
    first = start(session, order_id, user_id)

    with pytest.raises(PaymentInProgress) as error:
        start(session, order_id, user_id)

    assert error.value.status == 409
    # Only the savepoint was rolled back: the caller's transaction and its first payment live on.
    assert session.scalars(select(Payment.id).where(Payment.order_id == order_id)).all() == [first.id]


def test_a_second_attempt_after_success_is_refused(session: Session, order_id: int, user_id: int) -> None:
    payment = start(session, order_id, user_id)
    payments.record_charge(session, payment.id, ChargeResult(True, "test_ch_1"))

    with pytest.raises(PaymentInProgress):
        start(session, order_id, user_id)


def test_after_a_failed_attempt_a_new_one_is_allowed(session: Session, order_id: int, user_id: int) -> None:
    failed = start(session, order_id, user_id)
    payments.record_charge(session, failed.id, ChargeResult(False, None, "card_declined", "Declined"))

    again = start(session, order_id, user_id)

    assert again.id != failed.id
    assert [p.status for p in payments.payments_for_orders(session, [order_id])[order_id]] == [
        "failed",
        "processing",
    ]


def test_payments_of_other_orders_do_not_block(session: Session, order_id: int, user_id: int) -> None:
    start(session, order_id, user_id)

    other = start(session, add_order(session, user_id), user_id)

    assert other.status == "processing"


# --- record_charge ------------------------------------------------------------------------------
def test_a_charge_settles_the_payment_once(session: Session, order_id: int, user_id: int) -> None:
    payment = start(session, order_id, user_id)

    first = payments.record_charge(session, payment.id, ChargeResult(True, "test_ch_first"))
    second = payments.record_charge(session, payment.id, ChargeResult(False, None, "card_declined", "No"))
    third = payments.record_charge(session, payment.id, ChargeResult(True, "test_ch_other"))

    assert first is not None
    assert (first.status, first.provider_ref, first.failure_code) == ("succeeded", "test_ch_first", None)
    assert second is None
    assert third is None
    session.expire_all()
    stored = session.get_one(Payment, payment.id)
    assert (stored.status, stored.provider_ref, stored.failure_code) == ("succeeded", "test_ch_first", None)


def test_a_failed_charge_keeps_its_reason_cut_to_the_columns(
    session: Session, order_id: int, user_id: int
) -> None:
    payment = start(session, order_id, user_id)

    failed = payments.record_charge(session, payment.id, ChargeResult(False, "pi_1", "c" * 80, "m" * 600))

    assert failed is not None
    assert failed.status == "failed"
    assert failed.failure_code == "c" * 64
    assert failed.failure_message == "m" * 500
    assert payment.status == "failed"  # the caller's object is refreshed too


def test_settling_an_unknown_payment_does_nothing(session: Session) -> None:
    assert payments.record_charge(session, 2**31 - 2, ChargeResult(True, "x")) is None


# --- reads --------------------------------------------------------------------------------------
def test_a_customer_gets_only_their_own_payment(session: Session, order_id: int, user_id: int) -> None:
    payment = start(session, order_id, user_id)
    stranger = add_user(session)

    assert payments.get_payment(session, payment.id, user_id=user_id) is payment
    assert payments.get_payment(session, payment.id, user_id=None) is payment  # admins
    with pytest.raises(PaymentNotFound) as error:
        payments.get_payment(session, payment.id, user_id=stranger)
    assert error.value.detail == f"No payment {payment.id}"  # the same answer as a missing payment
    with pytest.raises(PaymentNotFound):
        payments.get_payment(session, 2**31 - 2, user_id=None)


@pytest.mark.parametrize("payment_id", [0, -1, 2**31, 2**63])
def test_ids_outside_the_column_find_nothing(session: Session, payment_id: int) -> None:
    assert payments.find_payment(session, payment_id) is None


def test_payments_of_many_orders_come_in_one_query(session: Session, user_id: int) -> None:
    orders = [add_order(session, user_id) for _ in range(3)]
    for order in orders[:2]:
        failed = start(session, order, user_id)
        payments.record_charge(session, failed.id, ChargeResult(False, None, "card_declined", None))
        start(session, order, user_id)
    session.expire_all()
    statements: list[str] = []
    connection = session.connection()
    event.listen(connection, "before_cursor_execute", lambda *args: statements.append(args[2]))

    found = payments.payments_for_orders(session, [*orders, orders[0]])

    assert len(statements) == 1
    assert {order: [p.status for p in found[order]] for order in orders} == {
        orders[0]: ["failed", "processing"],
        orders[1]: ["failed", "processing"],
        orders[2]: [],
    }
    assert payments.payments_for_orders(session, []) == {}


def test_the_succeeded_payment_of_an_order(session: Session, order_id: int, user_id: int) -> None:
    failed = start(session, order_id, user_id)
    payments.record_charge(session, failed.id, ChargeResult(False, None, "card_declined", None))
    assert payments.succeeded_payment(session, order_id) is None

    payment = start(session, order_id, user_id)
    payments.record_charge(session, payment.id, ChargeResult(True, "test_ch_ok"))

    assert payments.succeeded_payment(session, order_id) is payment
    assert payments.find_payment_by_provider_ref(session, "test", "test_ch_ok") is payment
    assert payments.find_payment_by_provider_ref(session, "stripe", "test_ch_ok") is None


# --- webhooks -----------------------------------------------------------------------------------
def test_a_webhook_event_is_recorded_once_per_provider(session: Session) -> None:
    delivered = GatewayEvent("evt_1", "payment.succeeded", 1, "test_ch_1", 100, "USD")

    assert payments.record_webhook_event(session, "test", delivered) is True
    assert payments.record_webhook_event(session, "test", delivered) is False
    assert payments.record_webhook_event(session, "stripe", delivered) is True
    # The duplicate only rolled back its savepoint: the caller's transaction goes on.
    assert count(session, WebhookEvent, WebhookEvent.event_id == "evt_1") == 2


# --- refunds ------------------------------------------------------------------------------------
def test_refunds_are_reserved_up_to_the_amount_then_refused(session: Session) -> None:
    payment = paid(session, 100)

    first = payments.start_refund(session, payment.id, 60, "damaged")
    with pytest.raises(RefundExceedsPayment) as error:
        payments.start_refund(session, payment.id, 41, None)
    second = payments.start_refund(session, payment.id, 40)

    assert error.value.extensions == {"refundable_cents": 40}
    assert (first.status, first.amount_cents, first.reason) == ("pending", 60, "damaged")
    assert (second.status, second.amount_cents, second.reason) == ("pending", 40, "")
    assert stored_refunded_cents(session, payment.id) == 100
    assert payment.refunded_cents == 100  # the caller's object follows the reservation
    with pytest.raises(RefundExceedsPayment) as error:
        payments.start_refund(session, payment.id, 1)
    assert error.value.extensions == {"refundable_cents": 0}
    assert count(session, Refund, Refund.payment_id == payment.id) == 2  # refused ones left no row


@pytest.mark.parametrize("outcome", [None, ChargeResult(False, None, "card_declined", None)])
def test_only_a_succeeded_payment_can_be_refunded(
    session: Session, order_id: int, user_id: int, outcome: ChargeResult | None
) -> None:
    payment = start(session, order_id, user_id)
    if outcome is not None:
        payments.record_charge(session, payment.id, outcome)

    with pytest.raises(RefundExceedsPayment) as error:
        payments.start_refund(session, payment.id, 10)

    assert error.value.extensions == {"refundable_cents": 0}
    assert stored_refunded_cents(session, payment.id) == 0


def test_refunding_an_unknown_payment_or_nothing_is_refused(session: Session) -> None:
    with pytest.raises(PaymentNotFound):
        payments.start_refund(session, 2**31 - 2, 10)
    with pytest.raises(InvalidRequest):
        payments.start_refund(session, paid(session).id, 0)


def test_a_failed_refund_gives_its_amount_back_once(session: Session) -> None:
    payment = paid(session, 100)
    kept = payments.start_refund(session, payment.id, 30)
    refused = payments.start_refund(session, payment.id, 50)

    failed = payments.finish_refund(session, refused.id, RefundResult(False, None, "Provider said no"))
    again = payments.finish_refund(session, refused.id, RefundResult(False, None, "Provider said no"))
    late_success = payments.finish_refund(session, refused.id, RefundResult(True, "test_re_late"))

    assert (failed.status, failed.failure_message) == ("failed", "Provider said no")
    assert again.status == late_success.status == "failed"
    assert stored_refunded_cents(session, payment.id) == 30  # 80 reserved, 50 given back exactly once
    assert payment.refunded_cents == 30
    assert kept.status == "pending"


def test_a_succeeded_refund_keeps_its_reservation(session: Session) -> None:
    payment = paid(session, 100)
    refund = payments.start_refund(session, payment.id, 100)

    done = payments.finish_refund(session, refund.id, RefundResult(True, "test_re_1"))
    late_failure = payments.finish_refund(session, refund.id, RefundResult(False, None, "late"))

    assert (done.status, done.provider_ref, done.failure_message) == ("succeeded", "test_re_1", None)
    assert late_failure.status == "succeeded"
    assert stored_refunded_cents(session, payment.id) == 100


def test_finishing_an_unknown_refund_is_an_error(session: Session) -> None:
    with pytest.raises(LookupError):
        payments.finish_refund(session, 2**31 - 2, RefundResult(True, "x"))


# --- talking to the gateway ----------------------------------------------------------------------
def test_charge_and_send_refund_use_stable_idempotency_keys(
    session: Session, order_id: int, user_id: int
) -> None:
    gateway = TestGateway("secret")
    payment = start(session, order_id, user_id)

    first = payments.charge(gateway, payment, "tok_visa")
    again = payments.charge(gateway, payment, "tok_visa")  # a retry after a lost answer
    settled = payments.record_charge(session, payment.id, first)
    assert settled is not None
    refund = payments.start_refund(session, payment.id, 40)
    refunded = payments.send_refund(gateway, settled, refund)

    assert first.succeeded is True
    assert again == first
    assert refunded.succeeded is True
    assert payments.send_refund(gateway, settled, refund) == refunded
