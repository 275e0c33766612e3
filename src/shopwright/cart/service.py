"""Cart use cases: view, add, change, remove, save for later, expire. Reservations follow every change.

Lock order (docs/architecture.md, Lock order): the customer's cart row first (`SELECT … FOR UPDATE`),
then stock rows, one conditional UPDATE per variant in ascending variant id (`inventory.reserve` /
`release`), and the cart's lines, which change only under the cart's lock. Reads take no lock (`view_cart`).
A change writes first and checks after: the reservation (whose UPDATE also checks that the variant can be
bought), the line, then one read of the lines, on which the cart's rules are checked; a broken rule raises
and the transaction rolls every write back. When several rules break, the first in `_check_rules`' order
wins, as if each had been checked before any write (tests/api/test_cart_rule_order.py).
Against hoarding (docs/security.md): at most `CartRules.max_lines` distinct lines, counted under the cart's
lock, and stock held at most `max_hold` after the cart's first reservation: a touch extends `expires_at` by
the TTL but never past `held_since + max_hold`, so the sweep and access-time expiry need no rule of their own.
The expiry sweep claims carts with SKIP LOCKED and flips `active → expired` with a conditional UPDATE,
so a cart's reservations are released exactly once, whoever gets there first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, func, select, text, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shopwright import metrics
from shopwright.cart.errors import (
    CartCurrencyMismatch,
    CartFull,
    CartItemNotFound,
    LineQuantityExceeded,
    ProductUnavailable,
)
from shopwright.cart.models import ACTIVE, ACTIVE_PREDICATE, CONVERTED, EXPIRED, Cart, CartItem
from shopwright.cart.schemas import MAX_LINE_QUANTITY, CartItemIn
from shopwright.cart.view import CartView, active_cart_with_lines, cart_lines, load_view, view_of
from shopwright.catalog.models import Product, Variant, sellable
from shopwright.config import Settings
from shopwright.db import AnyRow, conflict_insert, is_postgres, is_row_id, table_of, utcnow
from shopwright.inventory import service as inventory


@dataclass(frozen=True)
class CartRules:
    """How long a cart holds stock and how much of it may hold (docs/configuration.md, Cart)."""

    ttl: timedelta  # an untouched cart expires this long after its last change
    max_hold: timedelta | None = None  # stock held at most this long after the first reservation
    max_lines: int | None = None  # distinct lines in the cart (saved items aside)

    @classmethod
    def from_settings(cls, settings: Settings) -> CartRules:
        """Return the rules the settings give (CART_TTL_MINUTES, CART_MAX_HOLD_MINUTES, CART_MAX_LINES)."""
        return cls(
            ttl=timedelta(minutes=settings.CART_TTL_MINUTES),
            max_hold=timedelta(minutes=settings.CART_MAX_HOLD_MINUTES),
            max_lines=settings.CART_MAX_LINES,
        )


# A cart and its lines change through these statements, built once (building one costs about as much
# as running it), always with the cart locked. Reads of the lines are cart.view.cart_lines.
_CARTS, _ITEMS, _VARIANTS, _PRODUCTS = (
    table_of(Cart),
    table_of(CartItem),
    table_of(Variant),
    table_of(Product),
)
_LOCK_CART = (
    select(_CARTS.c.id, _CARTS.c.expires_at, _CARTS.c.held_since)
    .where(_CARTS.c.user_id == bindparam("user_id"), _CARTS.c.status == ACTIVE)
    .with_for_update()
)
_TOUCH = (
    update(_CARTS)
    .where(_CARTS.c.id == bindparam("cart"))
    .values(expires_at=bindparam("until"), held_since=bindparam("held"), updated_at=bindparam("now"))
)
_SET_QUANTITY = update(_ITEMS).where(_ITEMS.c.id == bindparam("item")).values(quantity=bindparam("quantity"))
_MOVE_LINE = update(_ITEMS).where(_ITEMS.c.id == bindparam("item")).values(saved_for_later=bindparam("saved"))
_DELETE_LINE = delete(_ITEMS).where(_ITEMS.c.id == bindparam("item"))
_REMOVE_LINE = (
    delete(_ITEMS)
    .where(
        _ITEMS.c.id == bindparam("item"),
        _ITEMS.c.cart_id == bindparam("cart"),
        _ITEMS.c.saved_for_later == bindparam("saved"),
    )
    .returning(_ITEMS.c.variant_id, _ITEMS.c.quantity)
)


def _grow_line_statement(insert: Callable[..., Any]) -> Any:
    # The variant's line (not a saved item) gets the units, created if missing; (id, quantity) comes back.
    statement = insert(_ITEMS).values(
        cart_id=bindparam("cart"), variant_id=bindparam("variant"), quantity=bindparam("units")
    )
    return statement.on_conflict_do_update(
        index_elements=[_ITEMS.c.cart_id, _ITEMS.c.variant_id, _ITEMS.c.saved_for_later],
        set_={"quantity": _ITEMS.c.quantity + statement.excluded.quantity},
    ).returning(_ITEMS.c.id, _ITEMS.c.quantity)


# ON CONFLICT is written per database; keyed by db.is_postgres.
_GROW_LINE = {True: _grow_line_statement(postgresql.insert), False: _grow_line_statement(sqlite.insert)}
_SELLABLE = select(_VARIANTS.c.id).join(_PRODUCTS, _VARIANTS.c.product_id == _PRODUCTS.c.id).where(sellable())
_SELLABLE_VARIANT = _SELLABLE.where(_VARIANTS.c.id == bindparam("variant_id"))
_SELLABLE_DEFAULT_VARIANT = _SELLABLE.where(
    _VARIANTS.c.product_id == bindparam("product_id"), _VARIANTS.c.is_default.is_(True)
)


class ExpiredCarts(NamedTuple):
    carts: int
    units: int


def view_cart(session: Session, user_id: int, *, rules: CartRules, reads: Session | None = None) -> CartView:
    """Return the customer's active cart, expiring a lapsed one first (its lines become saved items).

    A live cart is read in one statement without a lock, on `reads` when given (a session that sees the
    latest commit: db.get_read_session(fresh=True)), so reads never queue behind each other or behind a
    change; only a missing or lapsed cart takes the change path (the cart's lock) to open or expire it.
    """
    reads = reads or session
    with reads.begin():  # on PostgreSQL's autocommit read pool, no BEGIN or COMMIT is sent
        rows = active_cart_with_lines(reads, user_id)
    if rows and rows[0].expires_at > utcnow():
        lines = [row for row in rows if row.id is not None]
        return view_of(rows[0].cart_id, rows[0].expires_at, lines)
    with _cart_transaction(session, user_id, rules.ttl) as locked:
        return load_view(session, locked)


def add_item(
    session: Session,
    user_id: int,
    data: CartItemIn,
    *,
    rules: CartRules,
) -> CartView:
    """Add units of a variant (or a product's default variant), reserving them; an existing line grows."""
    with _cart_transaction(session, user_id, rules.ttl) as cart:
        variant_id, reserved = _reserve(
            session, data.quantity, variant_id=data.variant_id, product_id=data.product_id
        )
        line = session.execute(
            _GROW_LINE[is_postgres(session)], {"cart": cart.id, "variant": variant_id, "units": data.quantity}
        ).one()
        lines = cart_lines(session, cart.id)
        # A line that holds only the units just added is new (a line holds at least one unit).
        _check_rules(lines, variant_id, new_line=line.quantity == data.quantity, max_lines=rules.max_lines)
        if not reserved:
            raise inventory.out_of_stock(session, variant_id, data.quantity)
        return _touched(session, cart, rules, lines, reserved=True)


def set_item_quantity(
    session: Session,
    user_id: int,
    item_id: int,
    quantity: int,
    *,
    rules: CartRules,
) -> CartView:
    """Set a cart line's quantity, reserving or releasing the difference; 0 removes the line."""
    with _cart_transaction(session, user_id, rules.ttl) as cart:
        if quantity == 0:
            return _remove_line(session, cart, item_id, rules, saved=False)
        line = _get_line(cart_lines(session, cart.id), item_id, saved=False)
        if quantity > line.quantity:
            more = quantity - line.quantity
            if not _reserve(session, more, variant_id=line.variant_id)[1]:
                raise inventory.out_of_stock(session, line.variant_id, more)
        else:
            inventory.release(session, {line.variant_id: line.quantity - quantity})
        session.execute(_SET_QUANTITY, {"item": line.id, "quantity": quantity})
        return _touched(session, cart, rules, cart_lines(session, cart.id))


def remove_item(session: Session, user_id: int, item_id: int, *, rules: CartRules) -> CartView:
    """Remove a cart line and release its reservation."""
    with _cart_transaction(session, user_id, rules.ttl) as cart:
        return _remove_line(session, cart, item_id, rules, saved=False)


def remove_saved_item(session: Session, user_id: int, item_id: int, *, rules: CartRules) -> CartView:
    """Remove a saved-for-later item (it holds no reservation)."""
    with _cart_transaction(session, user_id, rules.ttl) as cart:
        return _remove_line(session, cart, item_id, rules, saved=True)


def clear_cart(session: Session, user_id: int, *, rules: CartRules) -> CartView:
    """Empty the cart's lines and release their reservations; saved-for-later items stay."""
    with _cart_transaction(session, user_id, rules.ttl) as cart:
        _release_lines(session, [cart.id])
        session.execute(
            delete(CartItem).where(CartItem.cart_id == cart.id, CartItem.saved_for_later.is_(False))
        )
        return _touched(session, cart, rules, cart_lines(session, cart.id))


def save_for_later(session: Session, user_id: int, item_id: int, *, rules: CartRules) -> CartView:
    """Move a cart line to the saved items, releasing its reservation."""
    with _cart_transaction(session, user_id, rules.ttl) as cart:
        lines = cart_lines(session, cart.id)
        line = _get_line(lines, item_id, saved=False)
        inventory.release(session, {line.variant_id: line.quantity})
        _move_line(session, lines, line, saved=True)
        return _touched(session, cart, rules, cart_lines(session, cart.id))


def move_to_cart(
    session: Session,
    user_id: int,
    item_id: int,
    *,
    rules: CartRules,
) -> CartView:
    """Move a saved item back into the cart, reserving its units again (409 if not available)."""
    with _cart_transaction(session, user_id, rules.ttl) as cart:
        before = cart_lines(session, cart.id)
        line = _get_line(before, item_id, saved=True)
        reserved = _reserve(session, line.quantity, variant_id=line.variant_id)[1]
        new_line = _find_line(before, line.variant_id, saved=False) is None
        _move_line(session, before, line, saved=False)
        lines = cart_lines(session, cart.id)
        _check_rules(lines, line.variant_id, new_line=new_line, max_lines=rules.max_lines)
        if not reserved:
            raise inventory.out_of_stock(session, line.variant_id, line.quantity)
        return _touched(session, cart, rules, lines, reserved=True)


def expire_carts(session: Session, *, now: datetime | None = None, batch_size: int = 500) -> ExpiredCarts:
    """Expire every active cart past its `expires_at`, releasing its reservations; return the totals."""
    now = now or utcnow()
    carts = units = 0
    while True:
        with session.begin():
            # SKIP LOCKED: a cart a customer is changing right now is left to that customer's request.
            ids = session.scalars(
                select(Cart.id)
                .where(Cart.status == ACTIVE, Cart.expires_at <= now)
                .order_by(Cart.id)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if not ids:
                metrics.CARTS_EXPIRED.inc(carts)
                return ExpiredCarts(carts, units)
            expired, released = _expire(session, list(ids))
        carts, units = carts + expired, units + released


# --- helpers: each runs inside the caller's transaction ---------------------------------------
@contextmanager
def _cart_transaction(session: Session, user_id: int, ttl: timedelta) -> Iterator[AnyRow]:
    """Open the use case's transaction with the customer's active cart locked."""
    # A lapsed cart is expired in a transaction of its own, so a change that then fails (out of stock,
    # unknown line) cannot roll the expiry back. The common case, a live cart, costs one transaction.
    with session.begin():
        cart = locked_active_cart(session, user_id)
        if cart is None or cart.expires_at > utcnow():
            yield cart if cart is not None else _open_cart(session, user_id, ttl)
            return
    with session.begin():
        _expire(session, [cart.id])
    with session.begin():
        yield _lock_cart(session, user_id, ttl)


def _lock_cart(session: Session, user_id: int, ttl: timedelta) -> AnyRow:
    """Lock and return the customer's active cart, expiring a lapsed one and opening a new one as needed."""
    cart = locked_active_cart(session, user_id)
    if cart is not None and cart.expires_at <= utcnow():
        _expire(session, [cart.id])
        cart = None
    if cart is None:
        cart = _open_cart(session, user_id, ttl)
    return cart


def locked_active_cart(session: Session, user_id: int) -> AnyRow | None:
    """Lock the customer's active cart and return it (id, expires_at, held_since), if any; runs inside the
    caller's transaction."""
    return session.execute(_LOCK_CART, {"user_id": user_id}).first()


def _open_cart(session: Session, user_id: int, ttl: timedelta) -> AnyRow:
    # ON CONFLICT DO NOTHING on the one-active-cart index: of two racing first requests one inserts,
    # the other waits for it to commit and then locks the same cart below.
    cart_id = session.scalar(
        conflict_insert(session, Cart)
        .values(user_id=user_id, status=ACTIVE, expires_at=utcnow() + ttl)
        .on_conflict_do_nothing(index_elements=[Cart.user_id], index_where=text(ACTIVE_PREDICATE))
        .returning(Cart.id)
    )
    if cart_id is not None:
        _carry_over_items(session, user_id, cart_id)
    cart = locked_active_cart(session, user_id)
    assert cart is not None  # inserted above, or by the request that won the race
    return cart


def _carry_over_items(session: Session, user_id: int, cart_id: int) -> None:
    """Copy the previous cart's saved items (and an expired cart's lines) into the new cart as saved."""
    previous = session.execute(
        select(Cart.id, Cart.status)
        .where(Cart.user_id == user_id, Cart.id < cart_id, Cart.status != ACTIVE)
        .order_by(Cart.id.desc())
        .limit(1)
    ).first()
    if previous is None:
        return
    kept = CartItem.saved_for_later.is_(True) if previous.status == CONVERTED else true()
    wanted: dict[int, int] = {}
    for variant_id, quantity in session.execute(
        select(CartItem.variant_id, CartItem.quantity).where(CartItem.cart_id == previous.id, kept)
    ):
        wanted[variant_id] = min(wanted.get(variant_id, 0) + quantity, MAX_LINE_QUANTITY)
    session.add_all(
        CartItem(cart_id=cart_id, variant_id=variant_id, quantity=quantity, saved_for_later=True)
        for variant_id, quantity in wanted.items()
    )


def _expire(session: Session, cart_ids: list[int]) -> tuple[int, int]:
    """Flip active carts to expired and release their lines; return (carts, units) actually expired."""
    expired = session.scalars(
        update(Cart)
        .where(Cart.id.in_(cart_ids), Cart.status == ACTIVE)
        .values(status=EXPIRED, updated_at=utcnow())
        .returning(Cart.id)
        .execution_options(synchronize_session=False)
    ).all()
    return len(expired), _release_lines(session, list(expired))


def _release_lines(session: Session, cart_ids: list[int]) -> int:
    if not cart_ids:
        return 0
    rows = session.execute(
        select(CartItem.variant_id, func.sum(CartItem.quantity))
        .where(CartItem.cart_id.in_(cart_ids), CartItem.saved_for_later.is_(False))
        .group_by(CartItem.variant_id)
    ).all()
    return inventory.release(session, {variant_id: int(units) for variant_id, units in rows})


def _reserve(
    session: Session, units: int, *, variant_id: int | None = None, product_id: int | None = None
) -> tuple[int, bool]:
    """Reserve units of a variant (or a product's default variant); return (its id, whether reserved).

    ProductUnavailable if customers cannot buy it. Short stock is not raised here: the caller raises
    inventory.out_of_stock after the cart's rules, which come first (see the module's docstring).
    """
    reserved = inventory.reserve(session, units, variant_id=variant_id, product_id=product_id)
    if reserved is not None:
        return reserved, True
    if variant_id is not None:
        variant = session.scalar(_SELLABLE_VARIANT, {"variant_id": variant_id})
    else:
        variant = session.scalar(_SELLABLE_DEFAULT_VARIANT, {"product_id": product_id})
    if variant is None:
        what = f"variant {variant_id}" if variant_id is not None else f"product {product_id}"
        raise ProductUnavailable(f"{what.capitalize()} is not available")
    return variant, False


def _remove_line(session: Session, cart: AnyRow, item_id: int, rules: CartRules, *, saved: bool) -> CartView:
    """Delete a cart line (or saved item) of the locked cart, release what it held, and return the view."""
    params = {"item": item_id, "cart": cart.id, "saved": saved}
    line = session.execute(_REMOVE_LINE, params).first() if is_row_id(item_id) else None
    if line is None:
        kind = "saved item" if saved else "cart item"
        raise CartItemNotFound(f"No {kind} {item_id} in your cart")
    if not saved:
        inventory.release(session, {line.variant_id: line.quantity})
    return _touched(session, cart, rules, cart_lines(session, cart.id))


def _find_line(lines: Sequence[AnyRow], variant_id: int, *, saved: bool) -> AnyRow | None:
    return next((row for row in lines if row.variant_id == variant_id and row.saved_for_later == saved), None)


def _get_line(lines: Sequence[AnyRow], item_id: int, *, saved: bool) -> AnyRow:
    line = next((row for row in lines if row.id == item_id and row.saved_for_later == saved), None)
    if line is None:
        kind = "saved item" if saved else "cart item"
        raise CartItemNotFound(f"No {kind} {item_id} in your cart")
    return line


def _move_line(session: Session, lines: Sequence[AnyRow], line: AnyRow, *, saved: bool) -> None:
    """Move a line between the cart and the saved items, merging into the variant's line already there.

    Saved items merge up to a line's maximum; a merged cart line is left to `_check_rules` to refuse.
    """
    target = _find_line(lines, line.variant_id, saved=saved)
    if target is None:
        session.execute(_MOVE_LINE, {"item": line.id, "saved": saved})
        return
    quantity = target.quantity + line.quantity
    if saved:
        quantity = min(quantity, MAX_LINE_QUANTITY)
    session.execute(_SET_QUANTITY, {"item": target.id, "quantity": quantity})
    session.execute(_DELETE_LINE, {"item": line.id})


def _check_rules(lines: Sequence[AnyRow], variant_id: int, *, new_line: bool, max_lines: int | None) -> None:
    """Check the cart's rules on its lines just after units of a variant went into its line, in this
    order: room for a new line, units on a line, one currency. Call with the cart locked."""
    live = [row for row in lines if not row.saved_for_later]
    if new_line and max_lines is not None and len(live) > max_lines:
        raise CartFull(
            f"A cart holds at most {max_lines} different items; remove one or save it for later first",
            max_lines=max_lines,
        )
    line = next(row for row in live if row.variant_id == variant_id)
    if line.quantity > MAX_LINE_QUANTITY:
        raise LineQuantityExceeded(
            f"A cart line holds at most {MAX_LINE_QUANTITY} units; this would make {line.quantity}",
            errors=[
                {
                    "field": "quantity",
                    "message": f"line would hold {line.quantity}; at most {MAX_LINE_QUANTITY}",
                }
            ],
        )
    other = next((row.currency for row in live if row.currency != line.currency), None)
    if other is not None:
        raise CartCurrencyMismatch(f"Your cart is in {other}; this item is priced in {line.currency}")


def _touched(
    session: Session, cart: AnyRow, rules: CartRules, lines: Sequence[AnyRow], *, reserved: bool = False
) -> CartView:
    """Extend the cart's expiry after a change, within its maximum hold, and return its view.

    `lines`: the cart's lines after the change (cart_lines). `reserved`: the change reserved stock; the
    first reservation starts the hold. A cart left holding nothing ends it (the next reservation starts
    a new one).
    """
    now = utcnow()
    held_since = cart.held_since
    if all(line.saved_for_later for line in lines):
        held_since = None
    elif reserved and held_since is None:
        held_since = now
    expires_at = now + rules.ttl
    if held_since is not None and rules.max_hold is not None:
        expires_at = min(expires_at, held_since + rules.max_hold)
    session.execute(_TOUCH, {"cart": cart.id, "until": expires_at, "held": held_since, "now": now})
    return view_of(cart.id, expires_at, lines)
