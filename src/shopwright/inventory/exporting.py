"""The product export: every variant of every product not deleted, as rows of the import's columns.

Read in batches by variant id (one query per batch, never one per product), each in a short session of
its own: a large catalog streams in constant memory, and a slow download holds no transaction (nor, on
SQLite, the write lock) while it is sent. Cells are the values the import reads back unchanged
(docs/backoffice-import.md): an empty stock cell for a variant without a stock row, `true`/`false` for
the product's is_active.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.catalog.importing import CATEGORY_SEPARATOR
from shopwright.catalog.models import Category, Product, Variant
from shopwright.inventory.models import StockLevel

BATCH = 5_000


def category_paths(session: Session) -> dict[int, str]:
    """Return each category's path, like `Garden > Tools` (the tree is small: one query)."""
    parents = {
        cid: (parent, name)
        for cid, parent, name in session.execute(select(Category.id, Category.parent_id, Category.name))
    }
    paths: dict[int, str] = {}
    for category_id in parents:
        names: list[str] = []
        seen: set[int] = set()
        at: int | None = category_id
        while at is not None and at in parents and at not in seen:  # a cycle in bad data ends the walk
            seen.add(at)
            at, name = parents[at]
            names.append(name)
        paths[category_id] = f" {CATEGORY_SEPARATOR} ".join(reversed(names))
    return paths


def export_rows(sessions: sessionmaker[Session]) -> Iterator[tuple[Any, ...]]:
    """Yield one row per variant of the products not deleted, by variant id (columns: importing.COLUMNS)."""
    with sessions() as session:
        paths = category_paths(session)
    after = 0
    while True:
        with sessions() as session:
            rows = _batch(session, after)
        for _id, sku, name, description, category_id, price, cost, quantity, active in rows:
            category = paths.get(category_id, "") if category_id is not None else ""
            stock = "" if quantity is None else quantity
            yield (sku, name, description, category, price, cost, stock, "true" if active else "false")
        if len(rows) < BATCH:
            return
        after = rows[-1][0]


def _batch(session: Session, after: int) -> list[Any]:
    return list(
        session.execute(
            select(
                Variant.id,
                Variant.sku,
                Product.name,
                Product.description,
                Product.category_id,
                Variant.price_cents,
                Variant.cost_cents,
                StockLevel.quantity,
                Product.is_active,
            )
            .join(Product, Product.id == Variant.product_id)
            .outerjoin(StockLevel, StockLevel.variant_id == Variant.id)
            .where(Product.deleted_at.is_(None), Variant.id > after)
            .order_by(Variant.id)
            .limit(BATCH)
        ).all()
    )
