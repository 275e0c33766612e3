"""Voucher rules through the promotions service, inside a rolled-back transaction, with a controllable `now`.

Each checkout helper runs inside its caller's transaction; `_in_checkout` plays that caller, so an error
rolls back everything the helper did, as a failed checkout would.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from shopwright.accounts.models import User
from shopwright.errors import InvalidRequest
from shopwright.orders.models import Order
from shopwright.promotions import service as promotions
from shopwright.promotions.errors import VoucherExhausted, VoucherNotApplicable
from shopwright.promotions.models import Voucher, VoucherRedemption
from shopwright.promotions.schemas import MAX_CENTS, VoucherCreate, VoucherUpdate

T = TypeVar("T")
START = datetime(2026, 6, 1, tzinfo=UTC)
END = datetime(2026, 9, 1, tzinfo=UTC)
DURING = datetime(2026, 7, 1, tzinfo=UTC)
_serial = itertools.count(1)


# --- arranging -----------------------------------------------------------------------------------
def _user(session: Session) -> int:
    with session.begin():
        return session.execute(
            insert(User)
            .values(email=f"voucher{next(_serial)}@example.com", password_hash="x")
            .returning(User.id)
        ).scalar_one()


def _order(session: Session, user_id: int, subtotal: int = 10_000, currency: str = "USD") -> int:
    """A minimal order row: the redemption's foreign key needs one, the orders domain is not involved."""
    with session.begin():
        return session.execute(
            insert(Order)
            .values(
                user_id=user_id,
                currency=currency,
                subtotal_cents=subtotal,
                total_cents=subtotal,
                shipping_address={},
            )
            .returning(Order.id)
        ).scalar_one()


class Ref(NamedTuple):
    """A voucher's id and code: plain values stay readable after a rollback expires the ORM object."""

    id: int
    code: str


def _voucher(session: Session, **fields: Any) -> Ref:
    values: dict[str, Any] = {"code": f"CODE{next(_serial)}", "kind": "percent", "percent_off": 10, **fields}
    voucher = promotions.create_voucher(session, VoucherCreate(**values))
    return Ref(voucher.id, voucher.code)


def _in_checkout(session: Session, action: Callable[[], T]) -> T:
    """Run a helper in a transaction of its own, as a checkout would (an error rolls it all back)."""
    with session.begin():
        return action()


def _redeem(
    session: Session,
    voucher: Ref,
    user_id: int,
    *,
    subtotal: int = 10_000,
    currency: str = "USD",
    now: datetime | None = DURING,
    code: str | None = None,
) -> int:
    order_id = _order(session, user_id, subtotal, currency)
    return _in_checkout(
        session,
        lambda: promotions.redeem_voucher(
            session,
            code if code is not None else voucher.code,
            user_id=user_id,
            order_id=order_id,
            subtotal_cents=subtotal,
            currency=currency,
            now=now,
        ),
    )


def _state(session: Session, voucher: Ref) -> tuple[int, list[tuple[int, int, bool]]]:
    """Return the voucher's used_count and its redemptions as (user, discount, released)."""
    with session.begin():
        used = session.scalar(select(Voucher.used_count).where(Voucher.id == voucher.id))
        rows = session.execute(
            select(VoucherRedemption.user_id, VoucherRedemption.discount_cents, VoucherRedemption.released_at)
            .where(VoucherRedemption.voucher_id == voucher.id)
            .order_by(VoucherRedemption.id)
        ).all()
    return used or 0, [(user, discount, released is not None) for user, discount, released in rows]


@pytest.fixture
def user(db_session: Session) -> int:
    return _user(db_session)


# --- discounts -----------------------------------------------------------------------------------
def test_a_percent_voucher_takes_the_floor_of_the_percentage(db_session: Session, user: int) -> None:
    voucher = _voucher(db_session, percent_off=15)

    assert _redeem(db_session, voucher, user, subtotal=999) == 149  # 149.85 rounds down

    assert _state(db_session, voucher) == (1, [(user, 149, False)])


def test_a_fixed_voucher_is_capped_at_the_subtotal(db_session: Session, user: int) -> None:
    voucher = _voucher(db_session, kind="fixed", percent_off=None, amount_off_cents=500, currency="USD")

    assert _redeem(db_session, voucher, user, subtotal=300) == 300
    assert _redeem(db_session, voucher, user, subtotal=1_000) == 500


def test_codes_are_found_in_any_case_and_percent_vouchers_fit_any_currency(
    db_session: Session, user: int
) -> None:
    voucher = _voucher(db_session, code="Welcome-5", percent_off=5)

    assert _redeem(db_session, voucher, user, code=" welcome-5 ", currency="JPY", subtotal=2_000) == 100


def test_a_fixed_voucher_matches_the_currency_in_any_case(db_session: Session, user: int) -> None:
    voucher = _voucher(db_session, kind="fixed", percent_off=None, amount_off_cents=200, currency="EUR")

    assert _redeem(db_session, voucher, user, currency="eur") == 200


@given(
    kind=st.sampled_from(["percent", "fixed"]),
    percent_off=st.integers(1, 100),
    amount_off=st.integers(1, MAX_CENTS),
    subtotal=st.integers(0, 100 * MAX_CENTS),
)
def test_a_discount_is_never_negative_nor_above_the_subtotal(
    kind: str, percent_off: int, amount_off: int, subtotal: int
) -> None:
    voucher = (
        Voucher(kind=kind, percent_off=percent_off)
        if kind == "percent"
        else Voucher(kind=kind, amount_off_cents=amount_off, currency="USD")
    )

    discount = promotions.discount_for(voucher, subtotal)

    assert 0 <= discount <= subtotal
    assert discount == (subtotal * percent_off // 100 if kind == "percent" else min(amount_off, subtotal))


# --- when a voucher does not apply ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "order", "reason"),
    [
        ({}, {"code": "NOPE"}, "unknown_code"),
        ({"is_active": False}, {}, "inactive"),
        ({"starts_at": START, "ends_at": END}, {"now": START - timedelta(microseconds=1)}, "not_started"),
        ({"starts_at": START, "ends_at": END}, {"now": END}, "ended"),
        ({"ends_at": END}, {"now": END + timedelta(days=30)}, "ended"),
        (
            {"kind": "fixed", "percent_off": None, "amount_off_cents": 500, "currency": "EUR"},
            {"currency": "USD"},
            "currency_mismatch",
        ),
        ({"min_subtotal_cents": 5_000}, {"subtotal": 4_999}, "min_subtotal"),
    ],
)
def test_a_voucher_that_does_not_apply_is_refused_with_its_reason_and_takes_no_use(
    db_session: Session, user: int, fields: dict[str, Any], order: dict[str, Any], reason: str
) -> None:
    voucher = _voucher(db_session, **fields)

    with pytest.raises(VoucherNotApplicable) as refused:
        _redeem(db_session, voucher, user, **order)

    assert refused.value.extensions == {"reason": reason}
    assert _state(db_session, voucher) == (0, [])


@pytest.mark.parametrize("now", [START, END - timedelta(microseconds=1)])
def test_the_window_includes_its_start_and_excludes_its_end(
    db_session: Session, user: int, now: datetime
) -> None:
    voucher = _voucher(db_session, starts_at=START, ends_at=END)

    assert _redeem(db_session, voucher, user, now=now) == 1_000


def test_a_subtotal_equal_to_the_minimum_qualifies(db_session: Session, user: int) -> None:
    voucher = _voucher(db_session, min_subtotal_cents=5_000)

    assert _redeem(db_session, voucher, user, subtotal=5_000) == 500


# --- limits --------------------------------------------------------------------------------------
def test_the_usage_limit_counts_every_customer(db_session: Session) -> None:
    voucher = _voucher(db_session, usage_limit=2)
    users = [_user(db_session) for _ in range(3)]
    _redeem(db_session, voucher, users[0])
    _redeem(db_session, voucher, users[1])

    with pytest.raises(VoucherExhausted) as refused:
        _redeem(db_session, voucher, users[2])

    assert refused.value.extensions == {"reason": "usage_limit"}
    assert _state(db_session, voucher) == (2, [(users[0], 1_000, False), (users[1], 1_000, False)])


def test_the_per_customer_limit_counts_one_customer(db_session: Session) -> None:
    voucher = _voucher(db_session, per_customer_limit=2)
    first, second = _user(db_session), _user(db_session)
    _redeem(db_session, voucher, first)
    _redeem(db_session, voucher, first)

    with pytest.raises(VoucherExhausted) as refused:
        _redeem(db_session, voucher, first)

    assert refused.value.extensions == {"reason": "per_customer_limit"}
    assert _state(db_session, voucher)[0] == 2, "the refused use was rolled back"
    assert _redeem(db_session, voucher, second) == 1_000
    assert _state(db_session, voucher)[0] == 3


def test_an_inactive_voucher_says_inactive_even_when_used_up(db_session: Session, user: int) -> None:
    voucher = _voucher(db_session, usage_limit=1)
    _redeem(db_session, voucher, user)
    promotions.update_voucher(db_session, voucher.id, VoucherUpdate(is_active=False))

    with pytest.raises(VoucherNotApplicable) as refused:
        _redeem(db_session, voucher, _user(db_session))

    assert refused.value.extensions == {"reason": "inactive"}


# --- releasing -----------------------------------------------------------------------------------
def test_releasing_gives_the_use_back_exactly_once(db_session: Session, user: int) -> None:
    voucher = _voucher(db_session, usage_limit=1, per_customer_limit=1)
    order_id = _order(db_session, user)
    _in_checkout(
        db_session,
        lambda: promotions.redeem_voucher(
            db_session, voucher.code, user_id=user, order_id=order_id, subtotal_cents=10_000, currency="USD"
        ),
    )

    _in_checkout(db_session, lambda: promotions.release_redemption(db_session, order_id))
    _in_checkout(db_session, lambda: promotions.release_redemption(db_session, order_id))

    assert _state(db_session, voucher) == (0, [(user, 1_000, True)])
    # The use is free again, for the same customer too (released redemptions do not count).
    assert _redeem(db_session, voucher, user) == 1_000
    assert _state(db_session, voucher)[0] == 1


def test_releasing_an_order_without_a_voucher_changes_nothing(db_session: Session, user: int) -> None:
    voucher = _voucher(db_session)
    _redeem(db_session, voucher, user)
    other_order = _order(db_session, user)

    _in_checkout(db_session, lambda: promotions.release_redemption(db_session, other_order))

    assert _state(db_session, voucher) == (1, [(user, 1_000, False)])


# --- rediscount ----------------------------------------------------------------------------------
def _redeemed_order(db_session: Session, user: int, voucher: Ref, subtotal: int = 10_000) -> int:
    order_id = _order(db_session, user, subtotal)
    _in_checkout(
        db_session,
        lambda: promotions.redeem_voucher(
            db_session, voucher.code, user_id=user, order_id=order_id, subtotal_cents=subtotal, currency="USD"
        ),
    )
    return order_id


def test_rediscount_recomputes_and_stores_the_discount(db_session: Session, user: int) -> None:
    percent = _voucher(db_session, percent_off=15)
    fixed = _voucher(db_session, kind="fixed", percent_off=None, amount_off_cents=2_000, currency="USD")
    percent_order = _redeemed_order(db_session, user, percent)
    fixed_order = _redeemed_order(db_session, user, fixed)

    assert _in_checkout(db_session, lambda: promotions.rediscount(db_session, percent_order, 4_999)) == 749
    assert _in_checkout(db_session, lambda: promotions.rediscount(db_session, fixed_order, 1_500)) == 1_500

    assert _state(db_session, percent) == (1, [(user, 749, False)])
    assert _state(db_session, fixed) == (1, [(user, 1_500, False)])


def test_rediscount_below_the_minimum_is_refused_and_keeps_the_discount(
    db_session: Session, user: int
) -> None:
    voucher = _voucher(db_session, min_subtotal_cents=5_000)
    order_id = _redeemed_order(db_session, user, voucher)

    with pytest.raises(VoucherNotApplicable) as refused:
        _in_checkout(db_session, lambda: promotions.rediscount(db_session, order_id, 4_999))

    assert refused.value.extensions == {"reason": "min_subtotal"}
    assert _state(db_session, voucher) == (1, [(user, 1_000, False)])


def test_rediscount_is_zero_without_a_live_redemption(db_session: Session, user: int) -> None:
    voucher = _voucher(db_session)
    released = _redeemed_order(db_session, user, voucher)
    _in_checkout(db_session, lambda: promotions.release_redemption(db_session, released))
    without_voucher = _order(db_session, user)

    assert _in_checkout(db_session, lambda: promotions.rediscount(db_session, released, 5_000)) == 0
    assert _in_checkout(db_session, lambda: promotions.rediscount(db_session, without_voucher, 5_000)) == 0
    assert _state(db_session, voucher) == (0, [(user, 1_000, True)])


# --- admin rules that need redemptions -----------------------------------------------------------
def test_the_usage_limit_cannot_be_set_below_the_uses(db_session: Session) -> None:
    voucher = _voucher(db_session)
    for _ in range(3):
        _redeem(db_session, voucher, _user(db_session))

    with pytest.raises(InvalidRequest) as refused:
        promotions.update_voucher(db_session, voucher.id, VoucherUpdate(usage_limit=2))

    assert refused.value.extensions["errors"] == [{"field": "usage_limit", "message": "must be at least 3"}]
    assert promotions.update_voucher(db_session, voucher.id, VoucherUpdate(usage_limit=3)).usage_limit == 3
