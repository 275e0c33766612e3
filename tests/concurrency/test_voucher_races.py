"""Races on vouchers, with real commits on PostgreSQL and threads released together.

Each racer is one checkout: its own session and transaction, rolled back when the voucher is refused.
Each test names the protection it exercises and what breaks without it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.models import User
from shopwright.orders.models import Order
from shopwright.promotions import service as promotions
from shopwright.promotions.errors import VoucherCodeTaken, VoucherExhausted
from shopwright.promotions.models import Voucher, VoucherRedemption
from shopwright.promotions.schemas import VoucherCreate
from tests.support.races import race

SUBTOTAL = 10_000


def _users(sessions: sessionmaker[Session], n: int) -> list[int]:
    with sessions() as session, session.begin():
        rows = [{"email": f"racer{i}@example.com", "password_hash": "x"} for i in range(n)]
        return list(session.scalars(insert(User).returning(User.id), rows))


def _orders(sessions: sessionmaker[Session], user_ids: list[int]) -> list[int]:
    """One minimal order row per racer (the redemption's foreign key needs it; no orders service)."""
    with sessions() as session, session.begin():
        rows = [
            {
                "user_id": user_id,
                "currency": "USD",
                "subtotal_cents": SUBTOTAL,
                "total_cents": SUBTOTAL,
                "shipping_address": {},
            }
            for user_id in user_ids
        ]
        return list(session.scalars(insert(Order).returning(Order.id, sort_by_parameter_order=True), rows))


def _voucher(sessions: sessionmaker[Session], **fields: Any) -> str:
    values = {"code": "RACE", "kind": "percent", "percent_off": 10, **fields}
    with sessions() as session:
        return promotions.create_voucher(session, VoucherCreate(**values)).code


def _checkout(sessions: sessionmaker[Session], code: str, user_id: int, order_id: int) -> int | str:
    """Redeem as a checkout would: one transaction, rolled back on refusal; return the discount or reason."""
    with sessions() as session:
        try:
            with session.begin():
                return promotions.redeem_voucher(
                    session, code, user_id=user_id, order_id=order_id, subtotal_cents=SUBTOTAL, currency="USD"
                )
        except VoucherExhausted as refused:
            return str(refused.extensions["reason"])


def _state(sessions: sessionmaker[Session], code: str) -> tuple[int, int]:
    """Return (used_count, unreleased redemptions) of a voucher."""
    with sessions() as session:
        voucher = session.scalars(select(Voucher).where(Voucher.code == code)).one()
        live = session.scalar(
            select(func.count())
            .select_from(VoucherRedemption)
            .where(VoucherRedemption.voucher_id == voucher.id, VoucherRedemption.released_at.is_(None))
        )
        return voucher.used_count, live or 0


def test_fifty_checkouts_racing_for_ten_uses_get_exactly_ten(
    sessions: sessionmaker[Session],
) -> None:
    # Protection: the use is taken by one conditional UPDATE (used_count + 1 WHERE used_count < usage_limit),
    # re-evaluated on the locked row. Without it (read used_count, then write used_count + 1) the racers all
    # see uses left: more than ten redemptions, and a used_count that lost increments.
    code = _voucher(sessions, usage_limit=10)
    users = _users(sessions, 50)
    orders = _orders(sessions, users)

    results = race(50, lambda i: _checkout(sessions, code, users[i], orders[i]))

    assert Counter(results) == {1_000: 10, "usage_limit": 40}
    assert _state(sessions, code) == (10, 10)


def test_one_customer_racing_from_ten_tabs_redeems_a_once_per_customer_voucher_once(
    sessions: sessionmaker[Session],
) -> None:
    # Protection: the customer's redemptions are counted after the conditional UPDATE has row-locked the
    # voucher, so the tabs count one after another. Counted before the lock, every tab counts zero and passes.
    code = _voucher(sessions, per_customer_limit=1)
    (user,) = _users(sessions, 1)
    orders = _orders(sessions, [user] * 10)

    results = race(10, lambda i: _checkout(sessions, code, user, orders[i]))

    assert Counter(results) == {1_000: 1, "per_customer_limit": 9}
    assert _state(sessions, code) == (1, 1), "the refused tabs' uses were rolled back"


def test_cancellations_racing_release_a_use_exactly_once(sessions: sessionmaker[Session]) -> None:
    # Protection: release flips released_at with a conditional UPDATE (WHERE released_at IS NULL) and gives
    # the use back only if that matched. Without the condition each racer decrements the count again.
    code = _voucher(sessions, usage_limit=10)
    users = _users(sessions, 5)
    orders = _orders(sessions, users)
    for user, order in zip(users, orders, strict=True):
        assert _checkout(sessions, code, user, order) == 1_000

    def cancel(_: int) -> None:
        with sessions() as session, session.begin():
            promotions.release_redemption(session, orders[0])

    race(10, cancel)

    assert _state(sessions, code) == (4, 4)


def test_admins_racing_to_create_one_code_in_any_case_create_it_once(sessions: sessionmaker[Session]) -> None:
    # Protection: the unique constraint uq_vouchers_code on the upper-cased code, mapped to a 409. A check
    # for the code before inserting would let racers through; without the mapping the losers get a 500.
    def create(i: int) -> str:
        code = "promo" if i % 2 else "PROMO"
        with sessions() as session:
            try:
                return promotions.create_voucher(
                    session, VoucherCreate(code=code, kind="percent", percent_off=5)
                ).code
            except VoucherCodeTaken:
                return "taken"

    results = race(10, create)

    assert Counter(results) == {"PROMO": 1, "taken": 9}
