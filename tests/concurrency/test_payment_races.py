"""Races on payments, with real commits and threads released together.

Each test names the protection it exercises and what breaks without it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.errors import ShopError
from shopwright.payments import service as payments
from shopwright.payments.gateway import ChargeResult, GatewayEvent, RefundResult
from shopwright.payments.models import Payment, Refund
from tests.support.payments import add_order, add_user
from tests.support.races import race

T = TypeVar("T")


def _in_transaction(sessions: sessionmaker[Session], work: Callable[[Session], T]) -> T | str:
    """Run `work` in its own committed transaction; return its result, or the code of a domain error."""
    with sessions() as session:
        try:
            with session.begin():
                return work(session)
        except ShopError as error:
            return error.code


def _order(sessions: sessionmaker[Session], total_cents: int = 100) -> tuple[int, int]:
    with sessions() as session, session.begin():
        user_id = add_user(session)
        return user_id, add_order(session, user_id, total_cents)


def _paid(sessions: sessionmaker[Session], amount_cents: int) -> int:
    user_id, order_id = _order(sessions, amount_cents)
    with sessions() as session, session.begin():
        payment = payments.start_payment(
            session,
            order_id=order_id,
            user_id=user_id,
            amount_cents=amount_cents,
            currency="USD",
            provider="test",
        )
        payments.record_charge(session, payment.id, ChargeResult(True, f"test_ch_race_{uuid.uuid4().hex}"))
        return payment.id


def test_twenty_refunds_of_ten_on_a_payment_of_one_hundred_reserve_exactly_ten(
    sessions: sessionmaker[Session],
) -> None:
    # Protection: one conditional UPDATE (refunded_cents + 10 WHERE refunded_cents + 10 <= amount_cents).
    # Without it (read refunded_cents, then write it + 10) racers read the same sum: more than 10 refunds
    # are recorded and refunded_cents falls short of what they refund.
    payment_id = _paid(sessions, 100)

    results = race(
        20, lambda _: _in_transaction(sessions, lambda s: payments.start_refund(s, payment_id, 10).id)
    )

    outcomes = Counter("refund" if isinstance(r, int) else r for r in results)
    assert outcomes == {"refund": 10, "refund_exceeds_payment": 10}
    with sessions() as session:
        assert session.scalar(select(Payment.refunded_cents).where(Payment.id == payment_id)) == 100
        refunds = session.scalars(select(Refund.amount_cents).where(Refund.payment_id == payment_id)).all()
    assert sorted(refunds) == [10] * 10


def test_ten_payment_attempts_on_one_order_start_exactly_one(sessions: sessionmaker[Session]) -> None:
    # Protection: the partial unique index uq_payments_one_per_order (status processing or succeeded).
    # Without it, every racer inserts a processing payment and the order could be charged ten times.
    user_id, order_id = _order(sessions)

    def attempt(session: Session) -> int:
        return payments.start_payment(
            session, order_id=order_id, user_id=user_id, amount_cents=100, currency="USD", provider="test"
        ).id

    results = race(10, lambda _: _in_transaction(sessions, attempt))

    outcomes = Counter("started" if isinstance(r, int) else r for r in results)
    assert outcomes == {"started": 1, "payment_in_progress": 9}
    with sessions() as session:
        assert session.scalar(select(func.count()).where(Payment.order_id == order_id)) == 1


def test_the_client_and_webhooks_settle_a_payment_exactly_once(sessions: sessionmaker[Session]) -> None:
    # Protection: UPDATE … WHERE status = 'processing'. Without it every settler "wins" and the order
    # would be marked paid (and its events published) several times.
    user_id, order_id = _order(sessions)
    with sessions() as session, session.begin():
        payment_id = payments.start_payment(
            session, order_id=order_id, user_id=user_id, amount_cents=100, currency="USD", provider="test"
        ).id

    def settle(i: int) -> bool | str:
        result = ChargeResult(True, f"test_ch_{i}")
        return _in_transaction(sessions, lambda s: payments.record_charge(s, payment_id, result) is not None)

    assert Counter(race(10, settle)) == {True: 1, False: 9}


def test_a_redelivered_webhook_is_recorded_exactly_once(sessions: sessionmaker[Session]) -> None:
    # Protection: the unique (provider, event_id). Without it each delivery would be applied.
    delivered = GatewayEvent("evt_race", "payment.succeeded", 1, "test_ch_1", 100, "USD")

    results = race(
        10, lambda _: _in_transaction(sessions, lambda s: payments.record_webhook_event(s, "test", delivered))
    )

    assert Counter(results) == {True: 1, False: 9}


def test_a_failed_refund_finished_by_many_gives_its_amount_back_once(sessions: sessionmaker[Session]) -> None:
    # Protection: UPDATE refunds … WHERE status = 'pending' before the give-back. Without it every finisher
    # subtracts the amount again and refunded_cents goes below what was really refunded (or negative).
    payment_id = _paid(sessions, 100)
    with sessions() as session, session.begin():
        payments.start_refund(session, payment_id, 30)
        refund_id = payments.start_refund(session, payment_id, 50).id
    failed = RefundResult(False, None, "refused")

    results = race(
        10, lambda _: _in_transaction(sessions, lambda s: payments.finish_refund(s, refund_id, failed).status)
    )

    assert results == ["failed"] * 10
    with sessions() as session:
        assert session.scalar(select(Payment.refunded_cents).where(Payment.id == payment_id)) == 30
