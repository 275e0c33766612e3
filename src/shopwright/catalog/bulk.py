"""Catalog writes in bulk for the product import: products, default variants and categories by path.

Every function runs inside the caller's transaction (inventory/importing.py) and sends a statement per
batch, not per row: an executemany that SQLAlchemy turns into multi-row statements (insertmanyvalues),
and on PostgreSQL one array parameter where a lookup takes many keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, String, any_, bindparam, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from shopwright.catalog.errors import SlugTaken
from shopwright.catalog.importing import path_key
from shopwright.catalog.models import Category, Product, Variant
from shopwright.catalog.service import _insert_with_free_slug, _lock_tree, slugify
from shopwright.db import copy_rows, is_postgres, staged_update, table_of, utcnow

_PRODUCTS = table_of(Product)
_VARIANTS = table_of(Variant)
SQLITE_CHUNK = 10_000  # keys per IN list on SQLite (it takes at most 32,766 parameters a statement)
T = TypeVar("T")


@dataclass
class Current:
    """A variant of the file's SKU as stored, with the product-level fields of its product."""

    variant_id: int
    product_id: int
    sku: str
    price_cents: int
    cost_cents: int
    name: str
    description: str
    category_id: int | None
    is_active: bool
    deleted: bool


@dataclass
class NewProduct:
    """A product to create with one default variant."""

    sku: str
    name: str
    description: str
    category_id: int | None
    is_active: bool
    price_cents: int
    cost_cents: int


def chunks(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Yield `values` in slices of at most `size`."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def among(
    session: Session,
    values: Sequence[Any],
    type_: TypeEngine[Any],
    build: Callable[[Callable[[Any], ColumnElement[bool]]], Any],
) -> list[Any]:
    """Run `build(condition)` for all `values`: one array parameter on PostgreSQL, IN lists on SQLite."""
    if not values:
        return []
    if is_postgres(session):
        array = bindparam("values", list(values), type_=ARRAY(type_))
        return list(session.execute(build(lambda column: column == any_(array))).all())
    rows: list[Any] = []
    for part in chunks(values, SQLITE_CHUNK):
        rows += session.execute(build(lambda column, part=part: column.in_(part))).all()  # type: ignore[misc]
    return rows


def lock_current(session: Session, skus: Sequence[str]) -> dict[str, Current]:
    """Return the stored variants of these SKUs by SKU, their products locked in ascending id.

    Product rows, as every product write locks them (catalog.service.get_product with lock): a concurrent
    edit of one of these products waits for the import, or the import for it. One statement on
    PostgreSQL: its rows are sorted by product id before they are locked, so the locks are taken in that
    order (a product with two SKUs in the file is locked once, then found locked by this transaction).
    """
    rows = among(
        session,
        skus,
        String(),
        lambda among: (
            select(
                Variant.id,
                Variant.product_id,
                Variant.sku,
                Variant.price_cents,
                Variant.cost_cents,
                Product.name,
                Product.description,
                Product.category_id,
                Product.is_active,
                Product.deleted_at.is_not(None),
            )
            .join(Product, Product.id == Variant.product_id)
            .where(among(Variant.sku))
            .order_by(Product.id)
            .with_for_update(of=Product)
        ),
    )
    return {row[2]: Current(*row) for row in rows}


def ensure_categories(
    session: Session, paths: Sequence[tuple[str, ...]]
) -> tuple[dict[tuple[str, ...], int], int]:
    """Return the category id of each path (by `path_key`), creating missing ones; and how many were made.

    `paths` lists parents before children. Names match regardless of case, as the sibling-name index does.
    """
    if not paths:
        return {}, 0
    _lock_tree(session)  # no move reshapes the tree while paths are resolved and extended
    by_parent = {
        (parent_id, name.lower()): category_id
        for category_id, parent_id, name in session.execute(
            select(Category.id, Category.parent_id, Category.name)
        )
    }
    ids: dict[tuple[str, ...], int] = {}
    created = 0
    for path in paths:
        parent_id = ids[path_key(path[:-1])] if len(path) > 1 else None
        category_id = by_parent.get((parent_id, path[-1].lower()))
        if category_id is None:
            category = Category(name=path[-1], parent_id=parent_id, description="")
            _insert_with_free_slug(session, category, " ".join(path), Category.slug)
            category_id = category.id
            by_parent[(parent_id, path[-1].lower())] = category_id
            created += 1
        ids[path_key(path)] = category_id
    return ids, created


def insert_products(session: Session, products: Sequence[NewProduct]) -> list[tuple[int, int]]:
    """Insert products, each with its default variant; return (product id, variant id) in the same order."""
    if not products:
        return []
    now = utcnow()
    if not is_postgres(session) and len(products) > SQLITE_CHUNK:  # SQLite's IN lists have a limit
        return [pair for part in chunks(products, SQLITE_CHUNK) for pair in insert_products(session, part)]
    slugs = free_slugs(session, [(p.name, p.sku) for p in products])
    product_rows = [
        {
            "category_id": p.category_id,
            "name": p.name,
            "slug": slug,
            "description": p.description,
            "is_active": p.is_active,
            "min_price_cents": p.price_cents,
            "currency": "USD",
            "created_at": now,
            "updated_at": now,
        }
        for p, slug in zip(products, slugs, strict=True)
    ]
    if is_postgres(session):
        return _copy_products(session, product_rows, products, now)
    statement = insert(_PRODUCTS).returning(_PRODUCTS.c.id, sort_by_parameter_order=True)
    product_ids = [row[0] for row in session.execute(statement, product_rows)]
    variant_rows = [
        {
            "product_id": product_id,
            "sku": p.sku,
            "name": p.name,
            "attributes": {},
            "price_cents": p.price_cents,
            "cost_cents": p.cost_cents,
            "currency": "USD",
            "is_default": True,
            "is_active": True,
            "created_at": now,
            "updated_at": now,
        }
        for p, product_id in zip(products, product_ids, strict=True)
    ]
    statement = insert(_VARIANTS).returning(_VARIANTS.c.id, sort_by_parameter_order=True)
    variant_ids = [row[0] for row in session.execute(statement, variant_rows)]
    return list(zip(product_ids, variant_ids, strict=True))


VARIANT_COLUMNS = (  # the variants' columns in COPY order (seed.py writes them too)
    "id",
    "product_id",
    "sku",
    "name",
    "attributes",
    "price_cents",
    "cost_cents",
    "currency",
    "is_default",
    "is_active",
    "created_at",
    "updated_at",
)
PRODUCT_COLUMNS = (  # the products' columns in COPY order (seed.py writes them too; ratings default to 0)
    "id",
    "category_id",
    "name",
    "slug",
    "description",
    "is_active",
    "min_price_cents",
    "currency",
    "created_at",
    "updated_at",
)


def _copy_products(
    session: Session, product_rows: list[dict[str, Any]], products: Sequence[NewProduct], now: datetime
) -> list[tuple[int, int]]:
    """PostgreSQL: take ids from the tables' sequences, then COPY the products and their variants.

    COPY, not INSERT … SELECT from a staging table: COPY writes its rows to the heap in batches (measured
    a third faster here for products, whose generated search vector and seven indexes make rows dear).
    """
    product_ids = _next_ids(session, "products", len(products))
    variant_ids = _next_ids(session, "variants", len(products))
    copy_rows(
        session,
        "products",
        PRODUCT_COLUMNS,
        (
            (pid, *(row[c] for c in PRODUCT_COLUMNS[1:]))
            for pid, row in zip(product_ids, product_rows, strict=True)
        ),
    )
    copy_rows(
        session,
        "variants",
        VARIANT_COLUMNS,
        (
            (vid, pid, p.sku, p.name, "{}", p.price_cents, p.cost_cents, "USD", True, True, now, now)
            for vid, pid, p in zip(variant_ids, product_ids, products, strict=True)
        ),
    )
    return list(zip(product_ids, variant_ids, strict=True))


_NEXT_IDS = text("SELECT array_agg(nextval(CAST(:sequence AS regclass))) FROM generate_series(1, :count)")


def _next_ids(session: Session, table: str, count: int) -> list[int]:
    """Take `count` ids from a table's sequence: the sequence named once, the ids back as one array."""
    sequence = session.scalar(select(func.pg_get_serial_sequence(table, "id")))
    ids: list[int] = session.scalar(_NEXT_IDS, {"sequence": sequence, "count": count}) or []
    return ids


def free_slugs(session: Session, wanted: Sequence[tuple[str, str]]) -> list[str]:
    """Return a free product slug for each (name, sku): the name's, else with the SKU, else numbered."""
    bases = [(slugify(name), slugify(sku)) for name, sku in wanted]

    def candidate(index: int, attempt: int) -> str:
        base, sku = bases[index]
        return base if attempt == 0 else f"{base}-{sku}" if attempt == 1 else f"{base}-{sku}-{attempt}"

    slugs: list[str] = [""] * len(wanted)
    used: set[str] = set()
    pending = list(range(len(wanted)))
    for attempt in range(12):
        proposed = {index: candidate(index, attempt) for index in pending}
        taken = {
            row[0]
            for row in among(
                session,
                sorted(set(proposed.values())),
                String(),
                lambda among: select(Product.slug).where(among(Product.slug)),
            )
        }
        left = []
        for index in pending:
            slug = proposed[index]
            if slug in taken or slug in used:
                left.append(index)
            else:
                used.add(slug)
                slugs[index] = slug
        pending = left
        if not pending:
            return slugs
    raise SlugTaken("No free slug found for some products of the import")


_UPDATE_PRODUCT = (
    update(_PRODUCTS)
    .where(_PRODUCTS.c.id == bindparam("product"))
    .values(
        name=bindparam("name"),
        description=bindparam("description"),
        category_id=bindparam("category"),
        is_active=bindparam("active"),
        updated_at=bindparam("now"),
    )
)
_UPDATE_VARIANT = (
    update(_VARIANTS)
    .where(_VARIANTS.c.id == bindparam("variant"))
    .values(price_cents=bindparam("price"), cost_cents=bindparam("cost"), updated_at=bindparam("now"))
)


def update_products(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Set name, description, category and is_active of locked products (`product`, `name`, … keys)."""
    if not rows:
        return
    now = utcnow()
    if is_postgres(session):
        columns = ("name", "description", "category_id", "is_active", "updated_at")
        staged = [(r["product"], r["name"], r["description"], r["category"], r["active"], now) for r in rows]
        staged_update(session, "products", "id", columns, staged)
        return
    session.execute(_UPDATE_PRODUCT, [{**row, "now": now} for row in rows])


def update_variants(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Set the prices of variants of locked products (`variant`, `price`, `cost` keys)."""
    if not rows:
        return
    now = utcnow()
    if is_postgres(session):
        staged = [(r["variant"], r["price"], r["cost"], now) for r in rows]
        staged_update(session, "variants", "id", ("price_cents", "cost_cents", "updated_at"), staged)
        return
    session.execute(_UPDATE_VARIANT, [{**row, "now": now} for row in rows])


_REFRESH_MIN_PRICES = text(
    "UPDATE products AS p SET min_price_cents = m.lowest"
    " FROM (SELECT t.id, coalesce(min(v.price_cents), 0) AS lowest"
    " FROM unnest(CAST(:ids AS integer[])) AS t(id)"
    " LEFT JOIN variants AS v ON v.product_id = t.id AND v.is_active"
    " GROUP BY t.id) AS m"
    " WHERE p.id = m.id AND p.min_price_cents <> m.lowest"
)


def refresh_min_prices(session: Session, product_ids: Sequence[int]) -> None:
    """Recompute the denormalised lowest price of these (locked) products from their active variants."""
    lowest = (
        select(func.coalesce(func.min(Variant.price_cents), 0))
        .where(Variant.product_id == Product.id, Variant.is_active.is_(True))
        .scalar_subquery()
    )
    if is_postgres(session):
        if product_ids:
            # One join instead of a lowest-price subquery per product (twice: SET and WHERE); only rows
            # whose lowest price moves are written (rewriting a product row re-indexes its search vector).
            session.execute(_REFRESH_MIN_PRICES, {"ids": list(product_ids)})
        return
    for part in chunks(sorted(product_ids), SQLITE_CHUNK):
        session.execute(
            update(Product).where(Product.id.in_(part)).values(min_price_cents=lowest),
            execution_options={"synchronize_session": False},
        )
