"""Inventory use cases: stocked product and variant writes, availability reads.

Stock rows change only through one conditional UPDATE (DESIGN.md, Concurrency): the WHERE clause
re-checks the rule on the locked row, so no check-then-act window exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import ColumnElement, exists, select, update
from sqlalchemy.orm import Session

from shopwright.catalog import service as catalog
from shopwright.catalog.models import Product, Variant
from shopwright.catalog.schemas import ProductCreate, ProductUpdate, VariantCreate, VariantUpdate
from shopwright.inventory.errors import OutOfStock, StockBelowReserved
from shopwright.inventory.models import StockLevel


def create_product(session: Session, data: ProductCreate) -> Product:
    """Create a product with its variants and their starting stock."""
    with session.begin():
        product, stocked = catalog.add_product(session, data)
        session.add_all(StockLevel(variant_id=variant.id, quantity=quantity) for variant, quantity in stocked)
    return product


def update_product(session: Session, product_id: int, data: ProductUpdate) -> Product:
    """Update a product; `stock_quantity` sets the default variant's stock (never below reserved)."""
    with session.begin():
        product = catalog.apply_product_update(session, product_id, data)
        if data.stock_quantity is not None:
            set_quantity(session, catalog.default_variant(product).id, data.stock_quantity)
    return product


def add_variant(session: Session, product_id: int, data: VariantCreate) -> Variant:
    """Add a variant with its starting stock."""
    with session.begin():
        variant = catalog.add_variant(session, product_id, data)
        session.add(StockLevel(variant_id=variant.id, quantity=data.stock_quantity))
    return variant


def update_variant(session: Session, product_id: int, variant_id: int, data: VariantUpdate) -> Variant:
    """Update a variant; `stock_quantity` sets its stock (never below reserved)."""
    with session.begin():
        variant = catalog.apply_variant_update(session, product_id, variant_id, data)
        if data.stock_quantity is not None:
            set_quantity(session, variant.id, data.stock_quantity)
    return variant


def set_quantity(session: Session, variant_id: int, quantity: int) -> None:
    """Set a variant's stock to `quantity`; runs inside the caller's transaction."""
    changed = session.execute(
        update(StockLevel)
        .where(StockLevel.variant_id == variant_id, StockLevel.reserved <= quantity)
        .values(quantity=quantity)
        .returning(StockLevel.variant_id)
        .execution_options(synchronize_session=False)
    ).first()
    if changed is not None:
        return
    level = session.get(StockLevel, variant_id)
    if level is None:
        session.add(StockLevel(variant_id=variant_id, quantity=quantity))
        return
    raise StockBelowReserved(
        f"{level.reserved} unit(s) are reserved in carts; stock cannot go below that", reserved=level.reserved
    )


def reserve(session: Session, variant_id: int, quantity: int) -> None:
    """Reserve `quantity` units of a variant or raise OutOfStock; runs inside the caller's transaction."""
    # One conditional UPDATE: the row lock it takes re-checks availability against every racing reservation.
    reserved = session.execute(
        update(StockLevel)
        .where(StockLevel.variant_id == variant_id, StockLevel.quantity - StockLevel.reserved >= quantity)
        .values(reserved=StockLevel.reserved + quantity)
        .returning(StockLevel.variant_id)
        .execution_options(synchronize_session=False)
    ).first()
    if reserved is None:
        raise _out_of_stock(session, variant_id, quantity)


def release(session: Session, quantities: Mapping[int, int]) -> int:
    """Release reserved units per variant and return how many; runs inside the caller's transaction."""
    # Ascending variant id: two transactions releasing the same variants lock them in the same order,
    # so they queue instead of deadlocking.
    for variant_id, quantity in sorted(quantities.items()):
        if quantity > 0:
            session.execute(
                update(StockLevel)
                .where(StockLevel.variant_id == variant_id)
                .values(reserved=StockLevel.reserved - quantity)
                .execution_options(synchronize_session=False)
            )
    return sum(quantities.values())


def _out_of_stock(session: Session, variant_id: int, wanted: int) -> OutOfStock:
    row = session.execute(
        select(Variant.sku, StockLevel.quantity - StockLevel.reserved)
        .select_from(Variant)
        .outerjoin(StockLevel, StockLevel.variant_id == Variant.id)
        .where(Variant.id == variant_id)
    ).one()
    sku, available = row[0], max(int(row[1] or 0), 0)
    return OutOfStock(f"Only {available} left of SKU {sku}; {wanted} requested", available=available, sku=sku)


def availability(session: Session, variant_ids: Iterable[int]) -> dict[int, int]:
    """Return units available (quantity - reserved) per variant; variants without stock rows have 0."""
    ids = list(variant_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(StockLevel.variant_id, StockLevel.quantity - StockLevel.reserved).where(
            StockLevel.variant_id.in_(ids)
        )
    ).all()
    return {variant_id: int(available) for variant_id, available in rows}


def in_stock_condition() -> ColumnElement[bool]:
    """Return a condition on products: some active variant has units available."""
    return exists().where(
        Variant.product_id == Product.id,
        Variant.is_active,
        StockLevel.variant_id == Variant.id,
        StockLevel.quantity > StockLevel.reserved,
    )
