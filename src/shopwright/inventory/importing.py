"""The bulk product import use case: a CSV or XLSX file upserted by SKU, all or nothing.

Here rather than in the catalog because it stocks what it creates (inventory sits above the catalog).
The file is read and checked before the transaction starts (catalog/importing.py); then, in one
transaction: imports queue on one advisory lock, the products of known SKUs are locked in ascending id
and their stock rows in ascending variant id (the order of docs/inventory.md), the rules that need the
database are checked (stock never below reserved, a new SKU needs a name and a price), and everything is
written in batches, stock movements and the product events (one per created or changed product)
included. Any problem raises before commit: nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shopwright.catalog import bulk, events
from shopwright.catalog.bulk import Current, NewProduct
from shopwright.catalog.cache import bump_catalog_version
from shopwright.catalog.errors import ImportConflict
from shopwright.catalog.events import PRODUCT_CREATED, PRODUCT_UPDATED
from shopwright.catalog.importing import (
    ImportRow,
    Limits,
    Problems,
    category_paths,
    path_key,
    read_rows,
)
from shopwright.db import copy_rows, is_postgres, staged_update, table_of, utcnow, violated_constraint
from shopwright.inventory.models import IMPORT, StockLevel
from shopwright.inventory.movements import Change, record

# The advisory lock key of imports (any number no other lock of this database uses): "SWIM".
IMPORT_LOCK = 0x5357_494D
BATCH = 10_000
_STOCK = table_of(StockLevel)
_SET_STOCK = (
    update(_STOCK)
    .where(_STOCK.c.variant_id == bindparam("variant"))
    .values(quantity=bindparam("units"), updated_at=bindparam("now"))
)
Progress = Callable[[int], None]
_RACED_KEYS = {"uq_variants_sku", "uq_products_slug", "uq_categories_slug", "uq_categories_parent_name"}


@dataclass
class ImportResult:
    """What an import did, counted in rows of the file."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    categories_created: int = 0


@dataclass
class _Plan:
    new: list[ImportRow] = field(default_factory=list)
    products: dict[int, dict[str, Any]] = field(default_factory=dict)  # product id → its new fields
    variants: list[dict[str, Any]] = field(default_factory=list)
    repriced: set[int] = field(default_factory=set)  # products whose lowest price may change
    stock: list[tuple[int, int, int | None]] = field(
        default_factory=list
    )  # variant, units, old (None: no row)
    touched: set[int] = field(default_factory=set)  # existing products with any change: product.updated


def import_products(
    session: Session,
    data: bytes,
    *,
    actor_id: int | None = None,
    progress: Progress | None = None,
    limits: Limits | None = None,
) -> ImportResult:
    """Create or update products from a CSV or XLSX file by SKU, all or nothing; return the counts."""
    rows = read_rows(data, limits)  # 413 / 415 / 422 before any database work
    tick = progress or (lambda _n: None)
    tick(len(rows) // 2)
    try:
        with session.begin():
            return _import(session, rows, actor_id, tick)
    except IntegrityError as error:
        # A concurrent write (not an import: those queue) took a SKU, slug or category name first.
        if violated_constraint(error) not in _RACED_KEYS:
            raise
        raise ImportConflict(
            "Another change took a SKU, slug or category name of the file first; import it again"
        ) from error


def _import(session: Session, rows: list[ImportRow], actor_id: int | None, tick: Progress) -> ImportResult:
    if is_postgres(session):  # imports queue here; SQLite has one writer at a time already
        session.execute(select(func.pg_advisory_xact_lock(IMPORT_LOCK)))
    bump_catalog_version(session)  # after commit, so a refused file drops nothing
    current = bulk.lock_current(session, [row.sku for row in rows])
    stock = _lock_stock(session, sorted({c.variant_id for c in current.values()}))
    problems = Problems()
    _check(rows, current, stock, problems)
    problems.raise_if_any()
    categories, made = bulk.ensure_categories(session, category_paths(rows))
    result = ImportResult(categories_created=made)
    plan = _plan(rows, current, stock, categories, result)
    # (product id, variant id) of each new row, in file order
    created = bulk.insert_products(session, [_new_product(row, categories) for row in plan.new])
    plan.stock += [(v, row.stock_quantity or 0, None) for (_, v), row in zip(created, plan.new, strict=True)]
    bulk.update_products(
        session, [{"product": pid, **fields} for pid, fields in sorted(plan.products.items())]
    )
    bulk.update_variants(session, plan.variants)
    bulk.refresh_min_prices(session, sorted(plan.repriced))
    _write_stock(session, plan.stock, actor_id)
    _events(session, [product for product, _ in created], sorted(plan.touched))
    tick(len(rows) - len(rows) // 2)
    return result


def _events(session: Session, created: list[int], updated: list[int]) -> None:
    """One product.created per new product, one product.updated per changed one (none if unchanged)."""
    events.publish_products(session, PRODUCT_CREATED, created)
    events.publish_products(session, PRODUCT_UPDATED, updated)


def _lock_stock(session: Session, variant_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Return (quantity, reserved) per variant, the rows locked in ascending variant id."""
    rows = bulk.among(
        session,
        variant_ids,
        Integer(),
        lambda among: (
            select(StockLevel.variant_id, StockLevel.quantity, StockLevel.reserved)
            .where(among(StockLevel.variant_id))
            .order_by(StockLevel.variant_id)
            .with_for_update()
        ),
    )
    return {variant: (quantity, reserved) for variant, quantity, reserved in rows}


def _check(
    rows: list[ImportRow], current: dict[str, Current], stock: dict[int, tuple[int, int]], problems: Problems
) -> None:
    """Add the problems only the database shows: new SKUs lacking fields, stock below reserved."""
    first_of_product: dict[int, ImportRow] = {}
    for row in rows:
        found = current.get(row.sku)
        if found is None:
            if row.name is None:
                problems.add(row.row, "name", "required for a new SKU")
            if row.price_cents is None:
                problems.add(row.row, "price_cents", "required for a new SKU (price_cents or price)")
            continue
        if found.deleted:
            problems.add(row.row, "sku", f"SKU {row.sku} belongs to a deleted product")
            continue
        reserved = stock.get(found.variant_id, (0, 0))[1]
        if row.stock_quantity is not None and row.stock_quantity < reserved:
            problems.add(
                row.row,
                "stock_quantity",
                f"{reserved} unit(s) are reserved in carts; stock cannot go below that",
            )
        other = first_of_product.setdefault(found.product_id, row)
        for name in ("name", "description", "category", "is_active"):
            mine, theirs = getattr(row, name), getattr(other, name)
            if other is not row and mine is not None and theirs is not None and mine != theirs:
                problems.add(row.row, name, f"differs from row {other.row}, a SKU of the same product")


def _plan(
    rows: list[ImportRow],
    current: dict[str, Current],
    stock: dict[int, tuple[int, int]],
    categories: dict[tuple[str, ...], int],
    result: ImportResult,
) -> _Plan:
    """Sort the rows into creations and changes; count them."""
    plan = _Plan()
    for row in rows:
        found = current.get(row.sku)
        if found is None:
            plan.new.append(row)
            result.created += 1
            continue
        changed = _product_changes(plan, row, found, categories)
        price = row.price_cents if row.price_cents is not None else found.price_cents
        cost = row.cost_cents if row.cost_cents is not None else found.cost_cents
        if (price, cost) != (found.price_cents, found.cost_cents):
            plan.variants.append({"variant": found.variant_id, "price": price, "cost": cost})
            plan.repriced.add(found.product_id)
            changed = True
        level = stock.get(found.variant_id)
        if row.stock_quantity is not None and (level is None or level[0] != row.stock_quantity):
            plan.stock.append((found.variant_id, row.stock_quantity, None if level is None else level[0]))
            changed = True
        if changed:
            plan.touched.add(found.product_id)
        result.updated += changed
        result.unchanged += not changed
    return plan


def _product_changes(
    plan: _Plan, row: ImportRow, found: Current, categories: dict[tuple[str, ...], int]
) -> bool:
    fields = plan.products.get(found.product_id) or {
        "name": found.name,
        "description": found.description,
        "category": found.category_id,
        "active": found.is_active,
    }
    wanted = dict(fields)
    for key, value in (
        ("name", row.name),
        ("description", row.description),
        ("category", categories[path_key(row.category)] if row.category else None),
        ("active", row.is_active),
    ):
        if value is not None:
            wanted[key] = value
    stored = (found.name, found.description, found.category_id, found.is_active)
    if tuple(wanted.values()) == stored:
        return False
    plan.products[found.product_id] = wanted
    return True


def _new_product(row: ImportRow, categories: dict[tuple[str, ...], int]) -> NewProduct:
    # _check refused new rows without them
    assert row.name is not None
    assert row.price_cents is not None
    return NewProduct(
        sku=row.sku,
        name=row.name,
        description=row.description or "",
        category_id=categories[path_key(row.category)] if row.category else None,
        is_active=True if row.is_active is None else row.is_active,
        price_cents=row.price_cents,
        cost_cents=row.cost_cents or 0,
    )


def _write_stock(session: Session, stock: list[tuple[int, int, int | None]], actor_id: int | None) -> None:
    """Insert new stock rows, set changed ones (ascending variant id), and record their movements."""
    now = utcnow()
    stock.sort()
    if is_postgres(session):
        fresh_rows = ((v, units, 0, now) for v, units, old in stock if old is None)
        copy_rows(session, "inventory", ("variant_id", "quantity", "reserved", "updated_at"), fresh_rows)
        changed_rows = [(v, units, now) for v, units, old in stock if old is not None]
        staged_update(session, "inventory", "variant_id", ("quantity", "updated_at"), changed_rows)
    else:
        fresh = [
            {"variant_id": v, "quantity": units, "reserved": 0, "updated_at": now}
            for v, units, old in stock
            if old is None
        ]
        for part in bulk.chunks(fresh, BATCH):
            session.execute(insert(_STOCK), part)
        changed = [{"variant": v, "units": units, "now": now} for v, units, old in stock if old is not None]
        for part in bulk.chunks(changed, BATCH):
            session.execute(_SET_STOCK, part)
    record(
        session, IMPORT, [Change(v, units - (old or 0), units) for v, units, old in stock], actor_id=actor_id
    )
