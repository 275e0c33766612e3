"""Reconciliation: payments left `processing` (lost answer, no webhook) settle with the provider's record."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.db import utcnow
from shopwright.orders import cancellation
from shopwright.orders import payment as order_payment
from shopwright.orders.models import Order
from shopwright.payments import service as payments
from shopwright.payments.errors import PaymentProviderError
from shopwright.payments.gateway import ChargeResult, RefundResult, TestGateway
from shopwright.payments.models import Payment, Refund
from tests.factories import customer
from tests.factories.catalog import Shop, stock_of
from tests.factories.orders import Buyer
from tests.support.payments import (
    WEBHOOK_SECRET,
    LostAnswerGateway,
    later,
    payment_state,
    stuck_order,
)


class UnreachedGateway(TestGateway):
    """The request never reaches the provider: it holds no charge for the payment."""

    def charge(self, **kwargs: Any) -> ChargeResult:
        raise PaymentProviderError("Could not connect to the payment provider.")


@pytest.fixture
def app(make_app: Any) -> Flask:
    app: Flask = make_app(PAYMENT_WEBHOOK_SECRET=WEBHOOK_SECRET)
    return app


def test_a_charge_whose_answer_was_lost_settles_the_order_as_paid(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    gateway = LostAnswerGateway(WEBHOOK_SECRET)
    order_id, variant_id = stuck_order(app, shop, gateway)
    assert payment_state(sessions, order_id) == ("pending", ["processing"], 0)

    with sessions() as session:
        early = order_payment.reconcile_payments(session, gateway, now=utcnow() + timedelta(minutes=5))
        done = order_payment.reconcile_payments(session, gateway, now=later())
        again = order_payment.reconcile_payments(session, gateway, now=later())

    assert (early.checked, done.checked, done.settled, again.checked) == (0, 1, 1, 0)
    assert payment_state(sessions, order_id) == ("paid", ["succeeded"], 1)
    assert stock_of(sessions, variant_id) == (3, 0)  # sold once, nothing restocked


def test_a_charge_the_provider_never_received_fails_after_an_hour(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    gateway = UnreachedGateway(WEBHOOK_SECRET)
    order_id, _ = stuck_order(app, shop, gateway)

    with sessions() as session:
        unknown_yet = order_payment.reconcile_payments(session, gateway, now=later())
        assert payment_state(sessions, order_id) == ("pending", ["processing"], 0)
        given_up = order_payment.reconcile_payments(session, gateway, now=utcnow() + timedelta(hours=2))

    assert (unknown_yet.checked, unknown_yet.settled) == (1, 0)
    assert (given_up.checked, given_up.settled) == (1, 1)
    assert payment_state(sessions, order_id) == (
        "pending",
        ["failed"],
        0,
    )  # payable again, or swept when unpaid
    with sessions() as session:
        failed = session.scalars(select(Payment).where(Payment.order_id == order_id)).one()
    assert failed.failure_code == "not_charged"


def test_a_declined_charge_whose_answer_was_lost_fails_the_payment(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    gateway = LostAnswerGateway(WEBHOOK_SECRET)
    order_id, variant_id = stuck_order(app, shop, gateway, token="tok_chargeDeclined")

    with sessions() as session:
        done = order_payment.reconcile_payments(session, gateway, now=later())

    assert (done.checked, done.settled) == (1, 1)
    assert payment_state(sessions, order_id) == ("pending", ["failed"], 0)
    assert stock_of(sessions, variant_id) == (3, 0)  # the order still holds its units until it expires


def test_a_provider_that_cannot_answer_leaves_the_payment_for_the_next_sweep(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    class Down(LostAnswerGateway):
        def find_charge(self, **kwargs: Any) -> ChargeResult | None:
            raise PaymentProviderError("The provider is down.")

    gateway = Down(WEBHOOK_SECRET)
    order_id, _ = stuck_order(app, shop, gateway)

    with sessions() as session:
        done = order_payment.reconcile_payments(session, gateway, now=utcnow() + timedelta(days=1))

    assert (done.checked, done.settled) == (1, 0)
    assert payment_state(sessions, order_id) == ("pending", ["processing"], 0)


def test_the_cli_reconciles(app: Flask, shop: Shop, sessions: sessionmaker[Session]) -> None:
    class Charged(LostAnswerGateway):  # the payment is aged below, which changes its idempotency key
        def find_charge(self, **kwargs: Any) -> ChargeResult | None:
            return ChargeResult(True, "test_ch_cli")

    order_id, _ = stuck_order(app, shop, Charged(WEBHOOK_SECRET))
    with sessions() as session, session.begin():
        session.execute(
            Payment.__table__.update().values(created_at=utcnow() - timedelta(minutes=30))  # type: ignore[attr-defined]
        )

    result = app.test_cli_runner().invoke(args=["reconcile-payments"])

    assert result.exit_code == 0, result.output
    assert "about 1 stuck payment(s); settled 1" in result.output
    assert payment_state(sessions, order_id)[0] == "paid"


def _paid_order(app: Flask, shop: Shop) -> tuple[int, int]:
    """A paid order; return (order id, payment id)."""
    client = app.test_client()
    product = shop.product(shop.category()["id"], stock_quantity=5)
    buyer = Buyer(client, customer(client))
    order = buyer.buy(product["id"], 2)
    assert buyer.pay(order["id"]).status_code == 200
    return order["id"], buyer.order(order["id"])["payments"][0]["id"]


def _pending_refund(sessions: sessionmaker[Session], payment_id: int, amount_cents: int) -> Refund:
    """A refund reserved and committed, whose call to the provider never happened (the process stopped)."""
    with sessions() as session, session.begin():
        return payments.start_refund(session, payment_id, amount_cents, "stopped midway")


def test_a_refund_left_pending_is_sent_again_once(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    order_id, payment_id = _paid_order(app, shop)
    with sessions() as session:
        total = session.scalars(select(Payment.amount_cents).where(Payment.id == payment_id)).one()
    refund = _pending_refund(sessions, payment_id, total)
    gateway: TestGateway = app.extensions["shopwright.gateway"]
    with sessions() as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        made = payments.send_refund(gateway, payment, refund)  # the provider had made it before the stop

    with sessions() as session:
        early = order_payment.reconcile_payments(session, gateway, now=utcnow() + timedelta(minutes=5))
        done = order_payment.reconcile_payments(session, gateway, now=later())
        again = order_payment.reconcile_payments(session, gateway, now=later())

    assert (early.refunds, done.refunds, again.refunds) == (0, 1, 0)
    with sessions() as session:
        settled = session.get(Refund, refund.id)
        assert settled is not None
        assert (settled.status, settled.provider_ref) == ("succeeded", made.provider_ref)  # not made twice
        assert session.scalars(select(Order.status).where(Order.id == order_id)).one() == "refunded"


def test_a_refund_pending_past_the_providers_key_window_is_left_for_a_person(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    _, payment_id = _paid_order(app, shop)
    refund = _pending_refund(sessions, payment_id, 100)

    with sessions() as session:
        done = order_payment.reconcile_payments(
            session, app.extensions["shopwright.gateway"], now=utcnow() + timedelta(days=2)
        )

    assert done.refunds == 0
    with sessions() as session:
        assert session.scalars(select(Refund.status).where(Refund.id == refund.id)).one() == "pending"


class RefundTimesOut(TestGateway):
    """The refund call gets no answer (it may or may not have been made)."""

    def refund(self, **kwargs: Any) -> RefundResult:
        raise PaymentProviderError("Timed out waiting for the payment provider.")


def test_an_unanswered_refund_stays_reserved_until_the_sweep_sends_it(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    order_id, payment_id = _paid_order(app, shop)

    with sessions() as session:
        answer = cancellation.refund_order(
            session, RefundTimesOut(WEBHOOK_SECRET), order_id, amount_cents=500, reason="damaged"
        )
    assert answer.status == 202  # accepted: the refund is pending

    with sessions() as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        [refund] = session.scalars(select(Refund).where(Refund.payment_id == payment_id)).all()
    # Not given back: had the provider made it, a second refund could be made against the same amount.
    assert (refund.status, payment.refunded_cents) == ("pending", 500)

    with sessions() as session:
        done = order_payment.reconcile_payments(session, app.extensions["shopwright.gateway"], now=later())

    assert done.refunds == 1
    with sessions() as session:
        assert session.scalars(select(Refund.status).where(Refund.id == refund.id)).one() == "succeeded"
        assert session.scalars(select(Payment.refunded_cents).where(Payment.id == payment_id)).one() == 500
