"""Inventory use cases: stocked product and variant writes, availability reads.

Stock rows change only through one conditional UPDATE (docs/architecture.md, Lock order): the WHERE clause
re-checks the rule on the locked row, so no check-then-act window exists. Every change of the quantity on
hand is recorded as a stock movement in the same transaction (inventory/movements.py).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from sqlalchemy import ColumnElement, Row, bindparam, exists, func, select, update
from sqlalchemy.orm import Session

from shopwright import outbox
from shopwright.catalog import service as catalog
from shopwright.catalog.cache import bump_catalog_version
from shopwright.catalog.errors import VariantNotFound
from shopwright.catalog.events import PRODUCT_CREATED, PRODUCT_UPDATED
from shopwright.catalog.models import Product, Variant, sellable
from shopwright.catalog.schemas import MAX_STOCK, ProductCreate, ProductUpdate, VariantCreate, VariantUpdate
from shopwright.db import AnyRow, get_by_id, id_among, is_postgres, table_of
from shopwright.errors import InvalidRequest
from shopwright.inventory.errors import OutOfStock, StockBelowReserved
from shopwright.inventory.models import (
    ADMIN_ADJUSTMENT,
    INITIAL,
    ORDER_EDIT,
    SALE,
    StockLevel,
)
from shopwright.inventory.movements import Change, record
from shopwright.pagination import KeysetPage, keyset_page

INVENTORY_LOW_STOCK = "inventory.low_stock"
# A sale that takes a variant's on-hand stock from above this to at most this tells of it (the same
# default as the admin inventory list's `threshold`).
LOW_STOCK_THRESHOLD = 5
# variant_id, product_id, sku, product_name, variant_name, quantity, reserved, available
StockRow = Row[int, int, str, str, str, int, int, int]


# Checkout and cart changes run these on every line: built once with bound parameters (building a
# statement and computing its cache key costs more than executing it), on the table, so the ORM's
# DML machinery is skipped; `updated_at` still gets its onupdate value. "units" and "variant" are
# bound names: a column's own name is reserved for its SET value.
_STOCK = table_of(StockLevel)
_AVAILABLE_UNITS = _STOCK.c.quantity - _STOCK.c.reserved >= bindparam("units")
# Only stock of a variant customers can buy is reserved: the UPDATE checks it too, so a cart change
# needs no read of the variant first. By id, or a product's default variant (one per product).
_VARIANTS, _PRODUCTS = table_of(Variant), table_of(Product)
_CAN_BE_BOUGHT = (
    select(_VARIANTS.c.id)
    .join(_PRODUCTS, _VARIANTS.c.product_id == _PRODUCTS.c.id)
    .where(_VARIANTS.c.id == _STOCK.c.variant_id, sellable())
    .exists()
)
_DEFAULT_VARIANT = (
    select(_VARIANTS.c.id)
    .where(_VARIANTS.c.product_id == bindparam("product"), _VARIANTS.c.is_default)
    .scalar_subquery()
)
_RESERVE = (
    update(_STOCK)
    .where(_STOCK.c.variant_id == bindparam("variant"), _AVAILABLE_UNITS, _CAN_BE_BOUGHT)
    .values(reserved=_STOCK.c.reserved + bindparam("units"))
    .returning(_STOCK.c.variant_id)
)
_RESERVE_DEFAULT = (
    update(_STOCK)
    .where(_STOCK.c.variant_id == _DEFAULT_VARIANT, _AVAILABLE_UNITS, _CAN_BE_BOUGHT)
    .values(reserved=_STOCK.c.reserved + bindparam("units"))
    .returning(_STOCK.c.variant_id)
)
_SELL = (
    update(_STOCK)
    .where(_STOCK.c.variant_id == bindparam("variant"), _AVAILABLE_UNITS)
    .values(quantity=_STOCK.c.quantity - bindparam("units"))
    .returning(_STOCK.c.quantity)
)
_RELEASE = (
    update(_STOCK)
    .where(_STOCK.c.variant_id == bindparam("variant"))
    .values(reserved=_STOCK.c.reserved - bindparam("units"))
)
_SELL_RESERVED = (
    update(_STOCK)
    .where(_STOCK.c.variant_id == bindparam("variant"), _STOCK.c.reserved >= bindparam("units"))
    .values(quantity=_STOCK.c.quantity - bindparam("units"), reserved=_STOCK.c.reserved - bindparam("units"))
    .returning(_STOCK.c.quantity)
)
_RESTOCK = (
    update(_STOCK)
    .where(_STOCK.c.variant_id == bindparam("variant"))
    .values(quantity=_STOCK.c.quantity + bindparam("units"))
    .returning(_STOCK.c.quantity)
)


def create_product(session: Session, data: ProductCreate, *, actor_id: int | None = None) -> Product:
    """Create a product with its variants and their starting stock."""
    with session.begin():
        product, stocked = catalog.add_product(session, data)
        session.add_all(StockLevel(variant_id=variant.id, quantity=quantity) for variant, quantity in stocked)
        record(session, INITIAL, (Change(v.id, q, q) for v, q in stocked), actor_id=actor_id)
        outbox.publish(session, PRODUCT_CREATED, {"product_id": product.id})
    return product


def update_product(
    session: Session, product_id: int, data: ProductUpdate, *, actor_id: int | None = None
) -> Product:
    """Update a product; `stock_quantity` sets the default variant's stock (never below reserved)."""
    with session.begin():
        product = catalog.apply_product_update(session, product_id, data)
        if data.stock_quantity is not None:
            variant_id = catalog.default_variant(product).id
            set_quantity(session, variant_id, data.stock_quantity, actor_id=actor_id)
        outbox.publish(session, PRODUCT_UPDATED, {"product_id": product.id})
    return product


def add_variant(
    session: Session, product_id: int, data: VariantCreate, *, actor_id: int | None = None
) -> Variant:
    """Add a variant with its starting stock."""
    with session.begin():
        variant = catalog.add_variant(session, product_id, data)
        session.add(StockLevel(variant_id=variant.id, quantity=data.stock_quantity))
        quantity = data.stock_quantity
        record(session, INITIAL, [Change(variant.id, quantity, quantity)], actor_id=actor_id)
        outbox.publish(session, PRODUCT_UPDATED, {"product_id": product_id})
    return variant


def update_variant(
    session: Session,
    product_id: int,
    variant_id: int,
    data: VariantUpdate,
    *,
    actor_id: int | None = None,
) -> Variant:
    """Update a variant; `stock_quantity` sets its stock (never below reserved)."""
    with session.begin():
        variant = catalog.apply_variant_update(session, product_id, variant_id, data)
        if data.stock_quantity is not None:
            set_quantity(session, variant.id, data.stock_quantity, actor_id=actor_id)
        outbox.publish(session, PRODUCT_UPDATED, {"product_id": product_id})
    return variant


def set_quantity(session: Session, variant_id: int, quantity: int, *, actor_id: int | None = None) -> None:
    """Set a variant's stock to `quantity` (an admin adjustment); runs inside the caller's transaction."""
    # Locked first: the movement's delta is the difference to the quantity this transaction replaces.
    level = session.execute(
        select(StockLevel.quantity, StockLevel.reserved)
        .where(StockLevel.variant_id == variant_id)
        .with_for_update()
    ).first()
    if level is None:
        session.add(StockLevel(variant_id=variant_id, quantity=quantity))
        session.flush()
        record(session, ADMIN_ADJUSTMENT, [Change(variant_id, quantity, quantity)], actor_id=actor_id)
        return
    if level.reserved > quantity:
        raise _below_reserved(level.reserved)
    session.execute(
        update(StockLevel)
        .where(StockLevel.variant_id == variant_id)
        .values(quantity=quantity)
        .execution_options(synchronize_session=False)
    )
    change = Change(variant_id, quantity - level.quantity, quantity)
    record(session, ADMIN_ADJUSTMENT, [change], actor_id=actor_id)


def reserve(
    session: Session, quantity: int, *, variant_id: int | None = None, product_id: int | None = None
) -> int | None:
    """Reserve units of a variant customers can buy (by id, or a product's default variant); return its id.

    None, reserving nothing, when it cannot be bought or lacks the units: the caller says which
    (`out_of_stock` for the latter). Runs inside the caller's transaction.
    """
    if variant_id is not None:
        reserved = session.scalar(_RESERVE, {"variant": variant_id, "units": quantity})
    else:
        reserved = session.scalar(_RESERVE_DEFAULT, {"product": product_id, "units": quantity})
    return None if reserved is None else int(reserved)


def release(session: Session, quantities: Mapping[int, int]) -> int:
    """Release reserved units per variant and return how many; runs inside the caller's transaction."""
    # Ascending variant id: two transactions releasing the same variants lock them in the same order,
    # so they queue instead of deadlocking.
    for variant_id, quantity in sorted(quantities.items()):
        if quantity > 0:
            session.execute(_RELEASE, {"variant": variant_id, "units": quantity})
    return sum(quantities.values())


def sell_reserved(
    session: Session, quantities: Mapping[int, int], *, order_id: int, actor_id: int | None
) -> None:
    """Turn reserved units into sold ones (an order's sale); runs inside the caller's transaction."""
    # One statement per line, not an executemany: each row's RETURNING says which line lacks its reservation.
    changes = []
    for variant_id, quantity in sorted(quantities.items()):  # ascending ids: see release()
        sold = session.execute(_SELL_RESERVED, {"variant": variant_id, "units": quantity}).first()
        if sold is None:  # the reservation accounting is broken: refuse rather than oversell
            raise out_of_stock(session, variant_id, quantity)
        left = int(sold[0])
        changes.append(Change(variant_id, -quantity, left))
        _tell_low_stock(session, variant_id, left, quantity)
    record(session, SALE, changes, actor_id=actor_id, order_id=order_id)


def _tell_low_stock(session: Session, variant_id: int, left: int, sold: int) -> None:
    # Only the sale that crosses the threshold tells: one event per fall, not one per later sale.
    if left <= LOW_STOCK_THRESHOLD < left + sold:
        outbox.publish(session, INVENTORY_LOW_STOCK, {"variant_id": variant_id, "quantity": left})


def sell(session: Session, variant_id: int, quantity: int, *, order_id: int, actor_id: int | None) -> None:
    """Sell available units (an order edit) or raise OutOfStock; runs inside the caller's transaction."""
    # Order edits, not the checkout path: rare enough to drop cached answers (docs/operations.md).
    bump_catalog_version(session)
    # One conditional UPDATE: the row lock it takes re-checks availability against every racing change.
    sold = session.execute(_SELL, {"variant": variant_id, "units": quantity}).first()
    if sold is None:
        raise out_of_stock(session, variant_id, quantity)
    left = int(sold[0])
    record(session, ORDER_EDIT, [Change(variant_id, -quantity, left)], actor_id=actor_id, order_id=order_id)
    _tell_low_stock(session, variant_id, left, quantity)


def restock(
    session: Session, quantities: Mapping[int, int], *, reason: str, order_id: int, actor_id: int | None
) -> None:
    """Put sold units back (cancelled or reduced orders); runs inside the caller's transaction."""
    bump_catalog_version(session)
    changes = []
    for variant_id, quantity in sorted(quantities.items()):  # ascending ids: see release()
        if quantity > 0:
            for (after,) in session.execute(_RESTOCK, {"variant": variant_id, "units": quantity}):
                changes.append(Change(variant_id, quantity, int(after)))
    record(session, reason, changes, actor_id=actor_id, order_id=order_id)


def out_of_stock(session: Session, variant_id: int, wanted: int) -> OutOfStock:
    """Return the OutOfStock error of a variant short of `wanted` units, with what is left of it."""
    row = session.execute(
        select(Variant.sku, StockLevel.quantity - StockLevel.reserved)
        .select_from(Variant)
        .outerjoin(StockLevel, StockLevel.variant_id == Variant.id)
        .where(Variant.id == variant_id)
    ).one()
    sku, available = row[0], max(int(row[1] or 0), 0)
    return OutOfStock(f"Only {available} left of SKU {sku}; {wanted} requested", available=available, sku=sku)


def adjust_stock(
    session: Session,
    variant_id: int,
    *,
    quantity: int | None = None,
    delta: int = 0,
    actor_id: int | None = None,
) -> StockRow:
    """Set a variant's stock to `quantity` or change it by `delta`, never below reserved; return its row."""
    with session.begin():
        bump_catalog_version(session)
        variant = get_by_id(session, Variant, variant_id)
        if variant is None:
            raise VariantNotFound(f"Variant {variant_id} not found")
        if session.get(StockLevel, variant_id) is None:  # variants made outside the inventory use cases
            session.add(StockLevel(variant_id=variant_id, quantity=0))
            session.flush()
        if quantity is not None:
            set_quantity(session, variant_id, quantity, actor_id=actor_id)
        else:
            _change_quantity(session, variant_id, delta, actor_id)
        return session.execute(_STOCK_ROWS.where(StockLevel.variant_id == variant_id)).one()


def find_stock_row(session: Session, variant_id: int) -> StockRow | None:
    """Return a variant's stock row as the admin inventory shows it, or None."""
    return session.execute(_STOCK_ROWS.where(StockLevel.variant_id == variant_id)).first()


def list_stock(
    session: Session, *, low_stock_threshold: int | None, limit: int, cursor: str | None
) -> KeysetPage[StockRow]:
    """Return a page of stock rows by variant id, optionally only those with few units available."""
    statement = _STOCK_ROWS
    if low_stock_threshold is not None:
        statement = statement.where(StockLevel.quantity - StockLevel.reserved <= low_stock_threshold)
    return keyset_page(session, statement, StockLevel.variant_id, limit=limit, cursor=cursor, ascending=True)


_STOCK_ROWS = (
    select(
        StockLevel.variant_id,
        Variant.product_id,
        Variant.sku,
        Product.name.label("product_name"),
        Variant.name.label("variant_name"),
        StockLevel.quantity,
        StockLevel.reserved,
        (StockLevel.quantity - StockLevel.reserved).label("available"),
    )
    .join(Variant, Variant.id == StockLevel.variant_id)
    .join(Product, Product.id == Variant.product_id)
)


def _below_reserved(reserved: int) -> StockBelowReserved:
    return StockBelowReserved(
        f"{reserved} unit(s) are reserved in carts; stock cannot go below that", reserved=reserved
    )


def _change_quantity(session: Session, variant_id: int, delta: int, actor_id: int | None) -> None:
    new_quantity = StockLevel.quantity + delta
    changed = session.execute(
        update(StockLevel)
        .where(
            StockLevel.variant_id == variant_id,
            new_quantity >= StockLevel.reserved,
            new_quantity <= MAX_STOCK,
        )
        .values(quantity=new_quantity)
        .returning(StockLevel.quantity)
        .execution_options(synchronize_session=False)
    ).first()
    if changed is not None:
        record(session, ADMIN_ADJUSTMENT, [Change(variant_id, delta, int(changed[0]))], actor_id=actor_id)
        return
    level = session.get(StockLevel, variant_id)
    assert level is not None  # adjust_stock made sure the row exists
    if level.quantity + delta > MAX_STOCK:
        raise InvalidRequest(
            f"Stock would exceed {MAX_STOCK}",
            errors=[{"field": "delta", "message": f"stock at most {MAX_STOCK}"}],
        )
    raise _below_reserved(level.reserved)


def variants_for_sale(session: Session, product_ids: Sequence[int]) -> dict[int, list[AnyRow]]:
    """Return the products' active variants (id order) with units `available`, by product id.

    One query for any number of products: the rows catalog.display.variant_json shows.
    """
    if not product_ids:
        return {}
    variants: dict[int, list[AnyRow]] = {}
    for row in session.execute(_VARIANTS_FOR_SALE[is_postgres(session)], {"product_ids": list(product_ids)}):
        variants.setdefault(row.product_id, []).append(row)
    return variants


def variant_for_sale(session: Session, variant_id: int) -> AnyRow:
    """Return one variant's row as variants_for_sale shows it, whether or not it is active."""
    return session.execute(_VARIANT_WITH_STOCK, {"variant_id": variant_id}).one()


_V = table_of(Variant)
_WITH_STOCK = select(
    _V.c.id,
    _V.c.product_id,
    _V.c.sku,
    _V.c.name,
    _V.c.price_cents,
    _V.c.currency,
    _V.c.attributes,
    _V.c.is_default,
    # A variant without a stock row has none available.
    func.coalesce(_STOCK.c.quantity - _STOCK.c.reserved, 0).label("available"),
).select_from(_V.outerjoin(_STOCK, _STOCK.c.variant_id == _V.c.id))
# Built once per dialect (True: PostgreSQL): every product answer runs one of these.
_VARIANTS_FOR_SALE = {
    postgres: _WITH_STOCK.where(id_among(_V.c.product_id, "product_ids", postgres), _V.c.is_active).order_by(
        _V.c.id
    )
    for postgres in (True, False)
}
_VARIANT_WITH_STOCK = _WITH_STOCK.where(_V.c.id == bindparam("variant_id"))


@functools.cache
def in_stock_condition() -> ColumnElement[bool]:
    """Return a condition on products: some active variant has units available (one object, built once)."""
    return exists().where(
        Variant.product_id == Product.id,
        Variant.is_active,
        StockLevel.variant_id == Variant.id,
        StockLevel.quantity > StockLevel.reserved,
    )
