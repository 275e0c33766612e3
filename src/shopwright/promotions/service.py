"""Promotions use cases: admin CRUD of vouchers, and the checkout helpers that redeem and release them.

Concurrency (docs/architecture.md, Lock order): `used_count` changes only through conditional UPDATEs.
Redeeming takes a use with one `UPDATE … SET used_count = used_count + 1 WHERE used_count < usage_limit`,
which also row-locks the voucher until the checkout commits. The customer's redemptions are counted only
after that, so racing checkouts of one customer queue on the lock and each sees the redemptions committed
before it. Releasing flips `released_at` with a conditional UPDATE and gives the use back only when that
UPDATE matched, so a cancelled order returns its use exactly once. Admin edits and deletes lock the voucher
row too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Update, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shopwright.db import get_by_id, utcnow, violated_constraint
from shopwright.errors import InvalidRequest
from shopwright.pagination import KeysetPage, keyset_page
from shopwright.promotions.errors import (
    VoucherCodeTaken,
    VoucherExhausted,
    VoucherInUse,
    VoucherNotApplicable,
    VoucherNotFound,
)
from shopwright.promotions.models import FIXED, PERCENT, Voucher, VoucherRedemption
from shopwright.promotions.schemas import VoucherCreate, VoucherUpdate

_VALUE_FIELDS = ("percent_off", "amount_off_cents", "currency")


# --- admin -------------------------------------------------------------------------------------
def get_voucher(session: Session, voucher_id: int) -> Voucher:
    """Return a voucher or raise VoucherNotFound."""
    return _get(session, voucher_id)


def list_vouchers(
    session: Session, *, limit: int, cursor: str | None, active: bool | None
) -> KeysetPage[Voucher]:
    """Return a page of vouchers, newest first, optionally only the active or the inactive ones."""
    statement = select(Voucher)
    if active is not None:
        statement = statement.where(Voucher.is_active.is_(active))
    return keyset_page(session, statement, Voucher.id, limit=limit, cursor=cursor)


def create_voucher(session: Session, data: VoucherCreate) -> Voucher:
    """Create a voucher; a code another voucher has, in any letter case, is refused."""
    with _unique_code(), session.begin():
        voucher = Voucher()
        _apply(voucher, data)
        session.add(voucher)
        session.flush()
    return voucher


def update_voucher(session: Session, voucher_id: int, data: VoucherUpdate) -> Voucher:
    """Change a voucher; the result is validated as a whole, as a new voucher would be."""
    with _unique_code(), session.begin():
        # Locked: checkouts change used_count on this row, and usage_limit may not go below it.
        voucher = _get(session, voucher_id, lock=True)
        merged = _merged(voucher, data)
        if merged.usage_limit is not None and merged.usage_limit < voucher.used_count:
            raise InvalidRequest(
                f"Voucher {voucher.code} has been used {voucher.used_count} times already",
                errors=[{"field": "usage_limit", "message": f"must be at least {voucher.used_count}"}],
            )
        _apply(voucher, merged)
        session.flush()
    return voucher


def delete_voucher(session: Session, voucher_id: int) -> None:
    """Delete a voucher that was never redeemed; one with redemptions stays (deactivate it instead)."""
    try:
        with session.begin():
            # Locked: a checkout takes this lock (its UPDATE) before it inserts a redemption.
            voucher = _get(session, voucher_id, lock=True)
            if session.scalar(select(exists().where(VoucherRedemption.voucher_id == voucher.id))):
                raise VoucherInUse(f"Voucher {voucher.code} has been redeemed; deactivate it instead")
            session.delete(voucher)
    except IntegrityError as error:  # the foreign key (RESTRICT) is the last line against a late redemption
        raise VoucherInUse("The voucher has been redeemed; deactivate it instead") from error


def _get(session: Session, voucher_id: int, *, lock: bool = False) -> Voucher:
    voucher = get_by_id(session, Voucher, voucher_id, with_for_update=lock)
    if voucher is None:
        raise VoucherNotFound(f"No voucher {voucher_id}")
    return voucher


def _merged(voucher: Voucher, data: VoucherUpdate) -> VoucherCreate:
    """Return the voucher as it would be after the update, validated by the creation rules."""
    current: dict[str, Any] = {name: getattr(voucher, name) for name in VoucherCreate.model_fields}
    current["currency"] = voucher.currency if voucher.kind == FIXED else None
    changes = data.model_dump(exclude_unset=True)
    if changes.get("kind", voucher.kind) != voucher.kind:
        current.update(dict.fromkeys(_VALUE_FIELDS))  # a new kind brings its own value fields
    # Invalid: a ValidationError, answered 422 with its fields like any request body's.
    return VoucherCreate.model_validate({**current, **changes})


def _apply(voucher: Voucher, data: VoucherCreate) -> None:
    for name, value in data.model_dump(exclude={"currency"}).items():
        setattr(voucher, name, value)
    if data.currency is not None:  # the column is NOT NULL; a percent voucher keeps whatever it holds
        voucher.currency = data.currency


@contextmanager
def _unique_code() -> Iterator[None]:
    """Map the unique constraint on the code to a 409 (the constraint decides racing creates)."""
    try:
        yield
    except IntegrityError as error:
        if violated_constraint(error) == "uq_vouchers_code":
            raise VoucherCodeTaken("Another voucher has that code (codes ignore letter case)") from error
        raise


# --- checkout ----------------------------------------------------------------------------------
def discount_for(voucher: Voucher, subtotal_cents: int) -> int:
    """Return the discount a voucher gives on a subtotal: never negative, never above the subtotal."""
    subtotal = max(subtotal_cents, 0)
    if voucher.kind == PERCENT:
        raw = subtotal * (voucher.percent_off or 0) // 100  # floor: a discount never rounds up
    else:
        raw = voucher.amount_off_cents or 0
    return max(0, min(raw, subtotal))


def redeem_voucher(
    session: Session,
    code: str,
    *,
    user_id: int,
    order_id: int,
    subtotal_cents: int,
    currency: str,
    now: datetime | None = None,
) -> int:
    """Redeem a voucher for an order and return its discount; runs inside the caller's transaction.

    Raises VoucherNotApplicable or VoucherExhausted. The use is taken before the per-customer check, so
    the caller must roll back on either error (its checkout fails anyway).
    """
    normalised = code.strip().upper()
    voucher = session.scalars(select(Voucher).where(Voucher.code == normalised)).first()
    if voucher is None:
        raise VoucherNotApplicable(f"No voucher {normalised}", reason="unknown_code")
    now = now or utcnow()
    _check_applicable(voucher, subtotal_cents, currency, now)
    taken = _increment(session, voucher.id, +1, within_limit=True)
    if taken is None:
        if session.scalar(select(Voucher.id).where(Voucher.id == voucher.id)) is None:
            raise VoucherNotApplicable(f"No voucher {normalised}", reason="unknown_code")  # deleted meanwhile
        raise VoucherExhausted(f"Voucher {normalised} has been used up", reason="usage_limit")
    # Checked again on the row as it is now locked: an admin may have changed it since it was read.
    _check_applicable(taken, subtotal_cents, currency, now)
    if taken.per_customer_limit is not None:
        _check_customer_limit(session, taken, user_id)
    discount = discount_for(taken, subtotal_cents)
    session.add(
        VoucherRedemption(voucher_id=taken.id, user_id=user_id, order_id=order_id, discount_cents=discount)
    )
    session.flush()
    return discount


def release_redemption(session: Session, order_id: int) -> None:
    """Give back the voucher use of a cancelled order; runs inside the caller's transaction.

    Exactly once: a second call (or an order without a voucher) changes nothing.
    """
    released = session.scalar(
        update(VoucherRedemption)
        .where(VoucherRedemption.order_id == order_id, VoucherRedemption.released_at.is_(None))
        .values(released_at=utcnow())
        .returning(VoucherRedemption.voucher_id)
    )
    if released is not None:  # only the call whose UPDATE matched gives the use back
        _increment(session, released, -1, within_limit=False)


def rediscount(session: Session, order_id: int, subtotal_cents: int, now: datetime | None = None) -> int:
    """Recompute a pending order's discount for a new subtotal; runs inside the caller's transaction.

    Returns 0 when the order has no unreleased redemption. Raises VoucherNotApplicable (min_subtotal) when
    the new subtotal is below the voucher's minimum. The active flag and the window are not checked again
    (`now` is accepted for symmetry with redeem_voucher): the voucher was valid when the order was placed.
    """
    row = session.execute(
        select(VoucherRedemption, Voucher)
        .join(Voucher, VoucherRedemption.voucher_id == Voucher.id)
        .where(VoucherRedemption.order_id == order_id, VoucherRedemption.released_at.is_(None))
    ).first()
    if row is None:
        return 0
    redemption, voucher = row
    if subtotal_cents < voucher.min_subtotal_cents:
        raise _below_minimum(voucher)
    redemption.discount_cents = discount_for(voucher, subtotal_cents)
    session.flush()
    return redemption.discount_cents


def _check_applicable(voucher: Voucher, subtotal_cents: int, currency: str, now: datetime) -> None:
    code = voucher.code
    if not voucher.is_active:
        raise VoucherNotApplicable(f"Voucher {code} is not active", reason="inactive")
    if voucher.starts_at is not None and now < voucher.starts_at:
        raise VoucherNotApplicable(
            f"Voucher {code} is valid from {voucher.starts_at.isoformat()}", reason="not_started"
        )
    if voucher.ends_at is not None and now >= voucher.ends_at:
        raise VoucherNotApplicable(f"Voucher {code} ended at {voucher.ends_at.isoformat()}", reason="ended")
    if voucher.kind == FIXED and voucher.currency != currency.upper():
        raise VoucherNotApplicable(
            f"Voucher {code} is for orders in {voucher.currency}, not {currency.upper()}",
            reason="currency_mismatch",
        )
    if subtotal_cents < voucher.min_subtotal_cents:
        raise _below_minimum(voucher)


def _below_minimum(voucher: Voucher) -> VoucherNotApplicable:
    return VoucherNotApplicable(
        f"Voucher {voucher.code} needs a subtotal of at least {voucher.min_subtotal_cents} cents",
        reason="min_subtotal",
    )


def _increment(session: Session, voucher_id: int, by: int, *, within_limit: bool) -> Voucher | None:
    """Change used_count with one UPDATE and return the voucher as updated (refreshed), or None."""
    statement: Update = (
        update(Voucher).where(Voucher.id == voucher_id).values(used_count=Voucher.used_count + by)
    )
    if within_limit:
        # The condition is evaluated on the row once it is locked: racing checkouts cannot pass the limit.
        below_limit = or_(Voucher.usage_limit.is_(None), Voucher.used_count < Voucher.usage_limit)
        statement = statement.where(below_limit)
    options = {"synchronize_session": False, "populate_existing": True}
    return session.scalars(statement.returning(Voucher), execution_options=options).first()


def _check_customer_limit(session: Session, voucher: Voucher, user_id: int) -> None:
    """Refuse a use past the per-customer limit; call only while holding the voucher's row lock."""
    # The lock (taken by _increment) makes this count serial: the same customer's racing checkouts wait
    # for it, then count the redemption this one inserts. Counted before the lock, they would all pass.
    held = session.scalar(
        select(func.count())
        .select_from(VoucherRedemption)
        .where(
            VoucherRedemption.voucher_id == voucher.id,
            VoucherRedemption.user_id == user_id,
            VoucherRedemption.released_at.is_(None),
        )
    )
    if voucher.per_customer_limit is not None and (held or 0) >= voucher.per_customer_limit:
        raise VoucherExhausted(
            f"You have used voucher {voucher.code} {held} time(s), its limit per customer",
            reason="per_customer_limit",
        )
